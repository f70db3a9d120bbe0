"""Measurement with open tools: Yosys resource counts (``synth_xilinx``, generic) and nextpnr-ecp5
fmax. Every generator's bench and quality figures go through these functions.

YoWASP tools run in a WebAssembly sandbox that mounts a private folder over ``/tmp``: a path
under the real ``/tmp`` (where pytest's ``tmp_path`` lives) is invisible to them. So every run
happens in a work folder under ``~/.cache/hwgen/work`` (``$HWGEN_WORK_DIR`` to move it), with its
input files copied in and named relatively.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from . import toolchain
from .errors import ToolError

_XILINX_GROUPS = {
    "LUT": re.compile(r"^LUT[1-6]$"),
    "FF": re.compile(r"^FD[A-Z]*E?$|^FD[CPRS]E?$"),
    "CARRY4": re.compile(r"^CARRY[48]$"),
    "DSP": re.compile(r"^DSP48E[12]$"),
    "RAMB36": re.compile(r"^RAMB36E[12]$"),
    "RAMB18": re.compile(r"^RAMB18E[12]$"),
    "LUTRAM": re.compile(r"^RAM(32|64|128|256)[MXS0-9]*$"),
    "SRL": re.compile(r"^SRL(16|C32)E?$"),
}


def work_root() -> Path:
    """Folder that holds the work folders of tool runs (outside ``/tmp``, see module doc)."""
    root = Path(os.environ.get("HWGEN_WORK_DIR") or Path.home() / ".cache" / "hwgen" / "work")
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextlib.contextmanager
def work_dir(prefix: str = "run-") -> Iterator[Path]:
    """A fresh work folder that YoWASP tools can see; removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix=prefix, dir=work_root()))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def stage_files(paths: Iterable[str | Path], dest: Path) -> list[str]:
    """Copy ``paths`` into ``dest``; return their names relative to ``dest`` (unique, in order)."""
    names = []
    for i, p in enumerate(paths):
        p = Path(p)
        name = f"src{i}_{p.name}"
        shutil.copyfile(p, dest / name)
        names.append(name)
    return names


def run_yosys(script: str, *, cwd: str | Path | None = None, timeout: float = 3600) -> str:
    """Run a Yosys script (commands separated by newlines or ';') in ``cwd`` (default: a fresh
    work folder); return its log. Paths in the script should be relative to ``cwd``, which must
    not be under ``/tmp`` (see module doc).

    Raises :class:`ToolError` with Yosys's own error lines when it fails.
    """
    cmd = toolchain.require("yosys")
    with contextlib.ExitStack() as stack:
        wd = Path(cwd) if cwd is not None else stack.enter_context(work_dir("yosys-"))
        tag = secrets.token_hex(4)
        sfile, lfile = f".hwgen-{tag}.ys", f".hwgen-{tag}.log"
        (wd / sfile).write_text(script)
        try:
            r = subprocess.run(cmd + ["-q", "-l", lfile, "-s", sfile],
                               capture_output=True, text=True, cwd=wd, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ToolError(f"yosys did not finish within {timeout:.0f} s") from None
        finally:
            (wd / sfile).unlink(missing_ok=True)
        log = (wd / lfile).read_text() if (wd / lfile).exists() else ""
        (wd / lfile).unlink(missing_ok=True)
    if r.returncode != 0:
        errs = [l for l in (r.stdout + r.stderr + log).splitlines() if "ERROR" in l or "error" in l]
        raise ToolError("yosys failed: " + (" | ".join(errs[-3:]) or r.stderr.strip()[-500:]))
    return log


def _read_cmd(names: Iterable[str]) -> str:
    return "\n".join(f"read_verilog -sv {n}" for n in names)


def stat_cells(stat_json: dict, top: str | None = None) -> dict[str, int]:
    """Cell-type counts from Yosys ``stat -json`` output (the top module, hierarchy flattened)."""
    mods = stat_json.get("modules", {})
    if top and f"\\{top}" in mods:
        mod = mods[f"\\{top}"]
    elif "design" in stat_json:
        mod = stat_json["design"]
    else:
        mod = next(iter(mods.values()))
    cells = mod.get("num_cells_by_type", {})
    return {k.lstrip("\\$"): int(v) for k, v in cells.items()}


def synth_xilinx(verilog: Iterable[str | Path], top: str, *, family: str = "xc7",
                 extra: str = "") -> dict[str, int]:
    """Synthesize for a Xilinx family with ``synth_xilinx``; return LUT/FF/CARRY4/DSP/BRAM counts.

    ``BRAM36`` counts RAMB36 plus half the RAMB18s (rounded up), as Vivado reports utilization.
    """
    with work_dir("synth-") as wd:
        names = stage_files(verilog, wd)
        run_yosys(f"{_read_cmd(names)}\nsynth_xilinx -flatten -family {family} -top {top} {extra}\n"
                  f"tee -q -o stat.json stat -json\n", cwd=wd)
        cells = stat_cells(json.loads((wd / "stat.json").read_text()), top)
    out = {g: 0 for g in _XILINX_GROUPS}
    for name, n in cells.items():
        for g, rx in _XILINX_GROUPS.items():
            if rx.match(name):
                out[g] += n
                break
    out["BRAM36"] = out["RAMB36"] + (out["RAMB18"] + 1) // 2
    out["cells"] = sum(cells.values())
    return out


def ecp5_fmax(verilog: Iterable[str | Path], top: str, *, device: str = "25k",
              package: str = "CABGA381", target_mhz: float = 100.0, seed: int = 1,
              timeout: float = 3600) -> dict[str, float]:
    """Place and route on ECP5 with nextpnr; return the achieved ``fmax_mhz`` (also when it misses
    ``target_mhz``) and the utilization."""
    npr = toolchain.require("nextpnr-ecp5")
    with work_dir("pnr-") as wd:
        names = stage_files(verilog, wd)
        run_yosys(f"{_read_cmd(names)}\nsynth_ecp5 -top {top} -json top.json\n", cwd=wd)
        rep = wd / "report.json"
        try:
            r = subprocess.run(npr + [f"--{device}", "--package", package, "--json", "top.json",
                                      "--lpf-allow-unconstrained", "--freq", str(target_mhz),
                                      "--timing-allow-fail", "--seed", str(seed),
                                      "--report", "report.json"],
                               capture_output=True, text=True, cwd=wd, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ToolError(f"nextpnr-ecp5 did not finish within {timeout:.0f} s") from None
        if r.returncode != 0 or not rep.exists():
            errs = [l for l in (r.stdout + r.stderr).splitlines() if "ERROR" in l]
            raise ToolError("nextpnr-ecp5 failed: " + (" | ".join(errs[-3:]) or r.stderr.strip()[-300:]))
        report = json.loads(rep.read_text())
    fmax = report.get("fmax", {})
    if not fmax:
        raise ToolError(f"nextpnr-ecp5 found no register-to-register path in {top}, so it has no "
                        f"fmax; register the design's inputs and outputs (a harness) to measure it")
    best = min(v.get("achieved", 0.0) for v in fmax.values())
    util = {k: int(v.get("used", 0)) for k, v in report.get("utilization", {}).items()}
    return {"fmax_mhz": round(float(best), 2), "device": f"LFE5U-{device.upper()}",
            "trellis_slices": util.get("TRELLIS_SLICE", 0), "trellis_ff": util.get("TRELLIS_FF", 0),
            "trellis_comb": util.get("TRELLIS_COMB", 0), "dp16kd": util.get("DP16KD", 0),
            "mult18": util.get("MULT18X18D", 0)}
