"""Measurement with open tools: Yosys resource counts (``synth_xilinx``, generic) and nextpnr-ecp5
fmax. Every generator's bench and quality figures go through these functions.

YoWASP tools run in a WebAssembly sandbox that mounts a private folder over ``/tmp``: a path
under the real ``/tmp`` (where pytest's ``tmp_path`` lives) is invisible to them. So every run
happens in a work folder under ``~/.cache/hwgen/work`` (``$HWGEN_WORK_DIR`` to move it), with its
input files copied in and named relatively. A run removes its folder when it ends; folders that
killed runs left behind are removed a day later, when another run starts.
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
import time
from pathlib import Path
from typing import Iterable, Iterator

from . import toolchain
from .errors import ConfigError, ToolError

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


# A work folder is removed when its run ends; a killed run leaves it behind. Ones untouched for a
# day (no tool run lasts an hour: see the timeouts) are removed when the next one is made.
STALE_WORK_S = 24 * 3600
_WORK_NAME = re.compile(r"^[A-Za-z0-9_.]+-[A-Za-z0-9_]{8}$")  # what work_dir's mkdtemp names


def prune_work(root: Path, now: float | None = None) -> list[Path]:
    """Remove ``work_dir`` folders under ``root`` left by killed runs (untouched for
    :data:`STALE_WORK_S`); other entries are not touched. Returns what was removed."""
    now = time.time() if now is None else now
    removed = []
    for d in root.iterdir():
        try:
            stale = d.is_dir() and _WORK_NAME.match(d.name) and now - d.stat().st_mtime > STALE_WORK_S
        except OSError:
            continue
        if stale:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


@contextlib.contextmanager
def work_dir(prefix: str = "run-") -> Iterator[Path]:
    """A fresh work folder that YoWASP tools can see; removed afterwards."""
    root = work_root()
    prune_work(root)
    d = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
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
        # Yosys prints each error to the terminal and to the log: keep one of each.
        errs = list(dict.fromkeys(l for l in (r.stdout + r.stderr + log).splitlines()
                                  if "ERROR" in l or "error" in l))
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


def memory_bits(verilog: Iterable[str | Path], top: str) -> dict[str, int]:
    """Memory bits and memories of ``top`` after Yosys infers memories (``memory -nomap``).

    Yosys's ``stat`` counts no memory bits unless ``memory_unpack`` runs first (Yosys 0.70)."""
    with work_dir("mem-") as wd:
        names = stage_files(verilog, wd)
        run_yosys(f"{_read_cmd(names)}\nhierarchy -top {top}\nproc\nflatten\nopt -fast\n"
                  f"memory -nomap\nmemory_unpack\nopt -fast\ntee -q -o stat.json stat -json\n", cwd=wd)
        st = json.loads((wd / "stat.json").read_text())
    mod = st.get("design") or st["modules"].get(f"\\{top}") or next(iter(st["modules"].values()))
    return {"memory_bits": int(mod.get("num_memory_bits", 0)),
            "memories": int(mod.get("num_memories", 0))}


_PORT_RE = re.compile(r"^(input|output|inout)\s+\[(-?\d+):(-?\d+)\]\s+(\S+)$")


def port_list(names: list[str], top: str, cwd: Path) -> list[tuple[str, str, int]]:
    """``(direction, name, width)`` of every port of ``top``, in declaration order, from Yosys's
    ``portlist`` (``names`` are Verilog files relative to ``cwd``)."""
    run_yosys(f"{_read_cmd(names)}\nhierarchy -top {top}\ntee -q -o .ports.txt portlist {top}\n",
              cwd=cwd)
    ports = []
    for line in (cwd / ".ports.txt").read_text().splitlines():
        m = _PORT_RE.match(line.strip())
        if m:
            ports.append((m[1], m[4], abs(int(m[2]) - int(m[3])) + 1))
    (cwd / ".ports.txt").unlink()
    return ports


HARNESS_TOP = "hwgen_fmax_harness"


def harness_verilog(top: str, ports: list[tuple[str, str, int]], clock: str = "clk") -> str:
    """A wrapper with three pins (``clk``, ``din``, ``dout``) around ``top`` for fmax runs: every
    input bit of ``top`` comes from a shift register fed by ``din`` and every output bit enters a
    registered XOR chain that ends in ``dout``. Nothing can be optimized away, every path into and
    out of ``top`` starts and ends at a register one LUT away, and the pins fit any package."""
    if clock not in {name for d, name, _ in ports if d == "input"}:
        raise ToolError(f"fmax harness: {top} has no input port {clock!r} to use as the clock; "
                        f"its ports are: {', '.join(name for _, name, _ in ports)}")
    bad = [name for d, name, _ in ports if d == "inout"]
    if bad:
        raise ToolError(f"fmax harness: {top} has inout ports ({', '.join(bad)}); only input and "
                        f"output ports can be driven by the harness")
    ins = [(n, w) for d, n, w in ports if d == "input" and n != clock]
    outs = [(n, w) for d, n, w in ports if d == "output"]
    if not outs:
        raise ToolError(f"fmax harness: {top} has no output ports, so synthesis would remove it")
    ni, no = sum(w for _, w in ins), sum(w for _, w in outs)
    conns = [f"    .{clock}(clk)"]
    off = 0
    for n, w in ins:
        conns.append(f"    .{n}(isr[{off + w - 1}:{off}])")
        off += w
    off = 0
    for n, w in outs:
        conns.append(f"    .{n}(o[{off + w - 1}:{off}])")
        off += w
    lines = [f"module {HARNESS_TOP}(input wire clk, input wire din, output wire dout);",
             f"  reg [{max(ni, 1) - 1}:0] isr = 0;",
             "  always @(posedge clk) isr <= " +
             (f"{{isr[{ni - 2}:0], din}};" if ni > 1 else "din;"),
             f"  wire [{no - 1}:0] o;",
             f"  reg [{no - 1}:0] osr = 0;",
             "  always @(posedge clk) osr <= o ^ " +
             (f"{{1'b0, osr[{no - 1}:1]}};" if no > 1 else "1'b0;"),
             "  assign dout = osr[0];",
             f"  {top} u_top (", ",\n".join(conns), "  );", "endmodule", ""]
    return "\n".join(lines)


def _synth_ecp5_in(wd: Path, verilog: Iterable[str | Path], top: str, *, harness: bool,
                   clock: str, synth_flags: str, timeout: float, extra: str = "") -> str:
    """Stage ``verilog`` in ``wd``, wrap ``top`` in the harness if asked, run ``synth_ecp5`` to
    ``top.json`` (plus ``extra`` Yosys commands); return the synthesized top's name."""
    names = stage_files(verilog, wd)
    if harness:
        (wd / "fmax_harness.v").write_text(harness_verilog(top, port_list(names, top, wd), clock))
        names.append("fmax_harness.v")
        top = HARNESS_TOP
    run_yosys(f"{_read_cmd(names)}\nsynth_ecp5 {synth_flags} -top {top} -json top.json\n{extra}",
              cwd=wd, timeout=timeout)
    return top


def synth_ecp5(verilog: Iterable[str | Path], top: str, *, harness: bool = False,
               clock: str = "clk", synth_flags: str = "", timeout: float = 7200) -> dict[str, int]:
    """Yosys ``synth_ecp5`` cell counts of ``top`` (hierarchy flattened), synthesized exactly as
    :func:`ecp5_fmax` does before place and route (same harness and flags)."""
    with work_dir("synth-ecp5-") as wd:
        top = _synth_ecp5_in(wd, verilog, top, harness=harness, clock=clock,
                             synth_flags=synth_flags, timeout=timeout,
                             extra="tee -q -o stat.json stat -json\n")
        return stat_cells(json.loads((wd / "stat.json").read_text()), top)


def _keep_results(wd: Path, dest: Path) -> None:
    """Copy a place-and-route work folder's results (not its staged sources) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted(wd.iterdir()):
        if f.is_file() and (f.suffix in (".json", ".log", ".csv") or f.name == "fmax_harness.v"):
            shutil.copyfile(f, dest / f.name)


# nextpnr-ecp5's device flags (``--25k`` ...), as its --help lists them.
ECP5_DEVICES = ("12k", "25k", "45k", "85k", "um-25k", "um-45k", "um-85k", "um5g-25k", "um5g-45k",
                "um5g-85k")


def ecp5_fmax(verilog: Iterable[str | Path], top: str, *, device: str = "25k",
              package: str = "CABGA381", target_mhz: float = 100.0, seed: int = 1,
              timeout: float = 3600, harness: bool = False, clock: str = "clk",
              synth_flags: str = "", nextpnr_flags: tuple[str, ...] = (),
              keep_dir: str | Path | None = None) -> dict[str, float]:
    """Place and route on ECP5 with nextpnr; return the achieved ``fmax_mhz`` (also when it misses
    ``target_mhz``) and the utilization.

    ``harness=True`` wraps ``top`` in :func:`harness_verilog` (three pins; for designs with more
    port bits than the package has pins); ``clock`` names its clock input. ``synth_flags`` go to
    ``synth_ecp5`` (e.g. ``-nodsp`` for multipliers in LUTs); ``nextpnr_flags`` go to nextpnr
    (e.g. ``("--router", "router2")``, whose negotiated routing copes with congested designs).
    ``keep_dir`` receives the work folder's results (``top.json``, ``nextpnr.log``,
    ``report.json``, router2 heat maps if asked for), also when nextpnr fails or times out."""
    if device not in ECP5_DEVICES:
        raise ConfigError(f"ECP5 device must be one of {', '.join(ECP5_DEVICES)}, not {device!r}")
    npr = toolchain.require("nextpnr-ecp5")
    with work_dir("pnr-") as wd:
        top = _synth_ecp5_in(wd, verilog, top, harness=harness, clock=clock,
                             synth_flags=synth_flags, timeout=timeout)
        rep = wd / "report.json"
        with contextlib.ExitStack() as stack:
            if keep_dir is not None:
                stack.callback(_keep_results, wd, Path(keep_dir))
            try:
                r = subprocess.run(npr + [f"--{device}", "--package", package, "--json", "top.json",
                                          "--lpf-allow-unconstrained", "--freq", str(target_mhz),
                                          "--timing-allow-fail", "--seed", str(seed),
                                          "--report", "report.json", "--log", "nextpnr.log",
                                          *nextpnr_flags],
                                   capture_output=True, text=True, cwd=wd, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise ToolError(f"nextpnr-ecp5 did not finish within {timeout:.0f} s") from None
        if r.returncode != 0 or not rep.exists():
            log = (wd / "nextpnr.log").read_text() if (wd / "nextpnr.log").exists() else ""
            errs = list(dict.fromkeys(l for l in (r.stdout + r.stderr + log).splitlines() if "ERROR" in l))
            # nextpnr prints a bad option on stdout, without "ERROR"
            raise ToolError("nextpnr-ecp5 failed: " + (" | ".join(errs[-3:])
                                                        or (r.stdout + r.stderr).strip()[-300:]))
        report = json.loads(rep.read_text())
    fmax = report.get("fmax", {})
    if not fmax:
        raise ToolError(f"nextpnr-ecp5 found no register-to-register path in {top}, so it has no "
                        f"fmax; register the design's inputs and outputs (a harness) to measure it")
    best = min(v.get("achieved", 0.0) for v in fmax.values())
    util = {k: int(v.get("used", 0)) for k, v in report.get("utilization", {}).items()}
    return {"fmax_mhz": round(float(best), 2), "device": ecp5_part(device),
            "trellis_ff": util.get("TRELLIS_FF", 0),
            "trellis_comb": util.get("TRELLIS_COMB", 0), "dp16kd": util.get("DP16KD", 0),
            "mult18": util.get("MULT18X18D", 0), "harness": bool(harness),
            "synth_flags": synth_flags.strip(), "nextpnr_flags": " ".join(nextpnr_flags),
            "critical_path": critical_path(report)}


def ecp5_part(device: str) -> str:
    """Lattice's part name for a nextpnr-ecp5 device flag: ``25k`` -> ``LFE5U-25F``,
    ``um-85k`` -> ``LFE5UM-85F``, ``um5g-45k`` -> ``LFE5UM5G-45F``."""
    family, _, size = device.rpartition("-")
    return f"LFE5{family.upper() or 'U'}-{size.upper().removesuffix('K')}F"


def critical_path(report: dict) -> dict:
    """The longest register-to-register path of a nextpnr ``--report``: its start and end cells
    and how much of its delay is logic and how much routing (ns)."""
    paths = [p for p in report.get("critical_paths", []) if p.get("path")]
    if not paths:
        return {}
    steps = max(paths, key=lambda p: sum(s.get("delay", 0.0) for s in p["path"]))["path"]

    def total(kind: str) -> float:
        return round(sum(s.get("delay", 0.0) for s in steps if s.get("type") == kind), 3)
    return {"from": steps[0]["from"]["cell"], "to": steps[-1]["to"]["cell"],
            "logic_ns": total("logic"), "routing_ns": total("routing"),
            "clk_to_q_ns": total("clk-to-q"), "setup_ns": total("setup"), "steps": len(steps)}
