"""Measurement with open tools: Yosys resource counts (``synth_xilinx``, generic) and nextpnr-ecp5
fmax. Every generator's bench and quality figures go through these functions.
"""
from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable

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


def run_yosys(script: str, *, cwd: str | Path | None = None, timeout: float = 3600) -> str:
    """Run a Yosys script (commands separated by newlines or ';'); return its log.

    Raises :class:`ToolError` with Yosys's own error lines when it fails.
    """
    cmd = toolchain.require("yosys")
    with tempfile.TemporaryDirectory(prefix="hwgen-yosys-") as tmp:
        sfile = Path(tmp) / "run.ys"
        sfile.write_text(script)
        try:
            r = subprocess.run(cmd + ["-q", "-l", str(Path(tmp) / "log.txt"), "-s", str(sfile)],
                               capture_output=True, text=True, cwd=cwd or tmp, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ToolError(f"yosys did not finish within {timeout:.0f} s") from None
        log = (Path(tmp) / "log.txt").read_text() if (Path(tmp) / "log.txt").exists() else ""
    if r.returncode != 0:
        errs = [l for l in (r.stdout + r.stderr + log).splitlines() if "ERROR" in l or "error" in l]
        raise ToolError("yosys failed: " + (" | ".join(errs[-3:]) or r.stderr.strip()[-500:]))
    return log


def _read_cmd(paths: Iterable[str | Path]) -> str:
    return "\n".join(f"read_verilog -sv {Path(p).resolve()}" for p in paths)


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
    with tempfile.TemporaryDirectory(prefix="hwgen-synth-") as tmp:
        sj = Path(tmp) / "stat.json"
        run_yosys(f"{_read_cmd(verilog)}\nsynth_xilinx -flatten -family {family} -top {top} {extra}\n"
                  f"tee -q -o {sj} stat -json\n", cwd=tmp)
        cells = stat_cells(json.loads(sj.read_text()), top)
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
    """Place and route on ECP5 with nextpnr; return ``{"fmax_mhz": ..., "luts": ..., ...}``."""
    npr = toolchain.require("nextpnr-ecp5")
    with tempfile.TemporaryDirectory(prefix="hwgen-pnr-") as tmp:
        js = Path(tmp) / "top.json"
        run_yosys(f"{_read_cmd(verilog)}\nsynth_ecp5 -top {top} -json {js}\n", cwd=tmp)
        rep = Path(tmp) / "report.json"
        try:
            r = subprocess.run(npr + [f"--{device}", "--package", package, "--json", str(js),
                                      "--lpf-allow-unconstrained", "--freq", str(target_mhz),
                                      "--seed", str(seed), "--report", str(rep)],
                               capture_output=True, text=True, cwd=tmp, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ToolError(f"nextpnr-ecp5 did not finish within {timeout:.0f} s") from None
        if r.returncode != 0 or not rep.exists():
            errs = [l for l in (r.stdout + r.stderr).splitlines() if "ERROR" in l]
            raise ToolError("nextpnr-ecp5 failed: " + (" | ".join(errs[-3:]) or r.stderr.strip()[-300:]))
        report = json.loads(rep.read_text())
    fmax = report.get("fmax", {})
    best = min((v.get("achieved", 0.0) for v in fmax.values()), default=0.0)
    util = {k: int(v.get("used", 0)) for k, v in report.get("utilization", {}).items()}
    return {"fmax_mhz": round(float(best), 2), "device": f"LFE5U-{device.upper()}",
            "trellis_slices": util.get("TRELLIS_SLICE", 0), "trellis_ff": util.get("TRELLIS_FF", 0),
            "trellis_comb": util.get("TRELLIS_COMB", 0), "dp16kd": util.get("DP16KD", 0),
            "mult18": util.get("MULT18X18D", 0)}
