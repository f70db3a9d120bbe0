"""Accelerator benchmark: prints one JSON object.

- ``gemm_utilization``: useful MACs (M*K*N) / (MACs per cycle * cycles from START to DONE) for a
  256x256x256 int8 matmul on the ``default`` preset, run on the generated RTL under Verilator
  (the runtime's tiled, double-buffered matmul; output checked against numpy).
- ``cycles_per_s_verilator`` / ``cycles_per_s_icarus``: simulated accelerator cycles per wall
  second from START to DONE (``default`` preset; Icarus on a 64x64x64 matmul).
- ``pynq_z2_*``: Yosys ``synth_xilinx`` (xc7) counts for the ``pynq-z2`` preset, with the
  xc7z020 budget (26,600 LUTs = half the device, 220 DSP48E1, 140 BRAM36).
- ``ecp5_fmax_mhz_tiny`` / ``ecp5_fmax_mhz``: nextpnr-ecp5 fmax of ``tiny`` (LFE5U-25F) and of
  ``default`` (LFE5U-85F, multipliers in LUTs; null with the reason when it does not fit).

Usage: python bench/accel.py [--quick] [--parts sim,synth,fmax]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hwgen.accel.presets import PRESETS
from hwgen.accel.rtl import generate
from hwgen.runtime import matmul, reference
from hwgen.runtime.rtl_device import RtlDevice

XC7Z020 = {"LUT": 26_600, "DSP": 220, "BRAM36": 140}


def ecp5_fmax_nodsp(verilog, top, *, device, package, target_mhz=100.0, nodsp=True):
    """Like :func:`hwgen.measure.ecp5_fmax`, with ``synth_ecp5 -nodsp`` (multipliers in LUTs)
    unless ``nodsp`` is false."""
    import subprocess
    from hwgen import toolchain
    from hwgen.errors import ToolError
    from hwgen.measure import run_yosys
    npr = toolchain.require("nextpnr-ecp5")
    with tempfile.TemporaryDirectory(prefix="hwgen-pnr-") as tmp:
        js, rep = Path(tmp) / "top.json", Path(tmp) / "report.json"
        run_yosys(f"read_verilog -sv {Path(verilog).resolve()}\n"
                  f"synth_ecp5 {'-nodsp ' if nodsp else ''}-top {top} -json {js}\n", cwd=tmp)
        r = subprocess.run(npr + [f"--{device}", "--package", package, "--json", str(js),
                                  "--lpf-allow-unconstrained", "--freq", str(target_mhz),
                                  "--timing-allow-fail",
                                  "--seed", "1", "--report", str(rep)],
                           capture_output=True, text=True, cwd=tmp)
        if r.returncode != 0 or not rep.exists():
            errs = [l for l in (r.stdout + r.stderr).splitlines() if "ERROR" in l]
            raise ToolError("nextpnr-ecp5 failed: " + " | ".join(errs[-3:]))
        report = json.loads(rep.read_text())
    fmax = min((v.get("achieved", 0.0) for v in report.get("fmax", {}).values()), default=0.0)
    util = {k: int(v.get("used", 0)) for k, v in report.get("utilization", {}).items()}
    return {"fmax_mhz": round(float(fmax), 2), "device": f"LFE5U-{device.upper()}",
            "multipliers": "LUTs (synth_ecp5 -nodsp)" if nodsp else "MULT18X18D",
            "trellis_comb": util.get("TRELLIS_COMB", 0), "trellis_ff": util.get("TRELLIS_FF", 0),
            "dp16kd": util.get("DP16KD", 0), "mult18": util.get("MULT18X18D", 0)}


def fmax(out: dict, cfg, tmp: Path) -> None:
    """nextpnr-ecp5 fmax: ``tiny`` on an LFE5U-25F (hard multipliers), and an attempt at
    ``default`` on the largest ECP5 (LFE5U-85F), whose 156 18x18 multipliers are fewer than
    its 256 MACs need, so its products go to LUTs; the failure reason is recorded if it does not
    fit. Both inside a 4-pin harness (the accelerator has more port bits than package pins)."""
    from hwgen.errors import ToolError
    t2 = time.perf_counter()
    v = tmp / "ecp5_tiny.v"
    v.write_text(fmax_harness_verilog(PRESETS["tiny"], dsp_packing=None))
    f = ecp5_fmax_nodsp(v, "fmax_top", device="25k", package="CABGA381", nodsp=False)
    out["ecp5_fmax_mhz_tiny"] = f["fmax_mhz"]
    out["ecp5_tiny"] = f
    v = tmp / "ecp5_default.v"
    v.write_text(fmax_harness_verilog(cfg, dsp_packing=False))
    try:
        f = ecp5_fmax_nodsp(v, "fmax_top", device="85k", package="CABGA381")
        out["ecp5_fmax_mhz"] = f["fmax_mhz"]
        out["ecp5"] = f
    except ToolError as e:
        out["ecp5_fmax_mhz"] = None
        out["ecp5_default_error"] = str(e)[:300]
    out["fmax_s"] = round(time.perf_counter() - t2, 1)


def fmax_harness_verilog(cfg, dsp_packing=False) -> str:
    """Verilog of the accelerator (unpacked products) inside a harness with 4 pins: every input
    port bit comes from a shift register fed by ``din``, every output bit feeds one registered
    XOR on ``dout``, so no logic is optimized away and the pins fit any package."""
    from amaranth import Cat, Elaboratable, Module, Signal
    from amaranth.back import verilog
    from amaranth.lib import wiring
    from hwgen.accel.rtl import Accelerator

    class Harness(Elaboratable):
        def __init__(self):
            self.din, self.dout = Signal(), Signal()

        def elaborate(self, platform):
            m = Module()
            m.submodules.accel = acc = Accelerator(cfg, dsp_packing=dsp_packing)
            ins, outs = [], []
            for _path, member, value in acc.signature.flatten(acc):
                (ins if member.flow == wiring.In else outs).append(value)
            sr = Signal(sum(len(v) for v in ins))
            m.d.sync += sr.eq(Cat(self.din, sr[:-1]))
            off = 0
            for v in ins:
                m.d.comb += v.eq(sr[off:off + len(v)])
                off += len(v)
            m.d.sync += self.dout.eq(Cat(*outs).xor())
            return m

    h = Harness()
    return verilog.convert(h, name="fmax_top", ports=[h.din, h.dout], emit_src=False)


def run_matmul(verilog, sim, m, k, n, work, preset="default", shift=8, **kw):
    cfg = PRESETS[preset]
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (m, k))
    b = rng.integers(-128, 128, (k, n))
    with RtlDevice(verilog, sim, work_dir=work, **kw) as dev:
        t0 = time.perf_counter()
        r = matmul(dev, a, b, shift=shift)
        total = time.perf_counter() - t0
        wall = dev.last_raw["wall_s"]
    ok = bool(np.array_equal(r.out, reference(cfg, a, b, shift)))
    return {"cycles": r.result.cycles, "utilization": r.utilization, "correct": ok,
            "sim_wall_s": wall, "total_s": total, "cycles_per_s": r.result.cycles / max(wall, 1e-9)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="64^3 instead of 256^3 on Verilator")
    ap.add_argument("--parts", default="sim,synth,fmax",
                    help="comma-separated subset of sim, synth, fmax (default: all)")
    args = ap.parse_args(argv)
    parts = set(args.parts.split(","))
    if not parts <= {"sim", "synth", "fmax"}:
        ap.error(f"--parts takes sim, synth, fmax, not {args.parts!r}")
    # yowasp tools cannot open files under /tmp on this project's machines: keep temp files
    # under the user's cache.
    tmp_root = Path.home() / ".cache" / "hwgen" / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    tempfile.tempdir = str(tmp_root)
    os.environ["TMPDIR"] = str(tmp_root)
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-accel-") as tmp:
        tmp = Path(tmp)
        cfg = PRESETS["default"]
        if "sim" in parts:
            simulate(out, cfg, tmp, 64 if args.quick else 256)
        if "synth" in parts:
            synthesize(out, tmp)
        if "fmax" in parts:
            fmax(out, cfg, tmp)
    print(json.dumps(out))
    return 0


def simulate(out: dict, cfg, tmp: Path, size: int) -> None:
    """GEMM utilization and simulator speed (Verilator, Icarus) on the generated RTL."""
    v_default = generate(cfg, tmp / "default").verilog
    t0 = time.perf_counter()
    rv = run_matmul(v_default, "verilator", size, size, size, tmp / "ver")
    out["matmul"] = f"{size}x{size}x{size} int8, shift 8, preset default ({cfg.slug})"
    out["gemm_utilization"] = round(rv["utilization"], 4)
    out["gemm_utilization_target"] = 0.90
    out["matmul_cycles"] = rv["cycles"]
    out["matmul_correct"] = rv["correct"]
    out["cycles_per_s_verilator"] = round(rv["cycles_per_s"])
    out["verilator_total_s"] = round(time.perf_counter() - t0, 1)
    r0 = run_matmul(v_default, "verilator", size, size, size, tmp / "ver0", shift=0)
    out["gemm_utilization_no_shift"] = round(r0["utilization"], 4)
    ri = run_matmul(v_default, "icarus", 64, 64, 64, tmp / "ica")
    out["cycles_per_s_icarus"] = round(ri["cycles_per_s"])
    out["icarus_matmul"] = "64x64x64"
    out["icarus_correct"] = ri["correct"]
    # the small preset the tests use (1x4x4, 16 MACs/cycle), for comparison
    v_tiny = generate(PRESETS["tiny"], tmp / "tiny").verilog
    for sim in ("verilator", "icarus"):
        rt = run_matmul(v_tiny, sim, 64, 64, 64, tmp / f"tiny_{sim}", preset="tiny", size=1 << 20)
        out[f"cycles_per_s_{sim}_tiny"] = round(rt["cycles_per_s"])


def synthesize(out: dict, tmp: Path) -> None:
    """Yosys synth_xilinx counts of the pynq-z2 preset against the xc7z020 budget."""
    from hwgen.measure import synth_xilinx
    p = PRESETS["pynq-z2"]
    v = generate(p, tmp / "pynq").verilog
    t1 = time.perf_counter()
    s = synth_xilinx([v], v.stem)
    for key, val in s.items():
        out[f"pynq_z2_{key.lower()}"] = val
    out["pynq_z2_luts"] = s["LUT"]
    out["pynq_z2_dsps"] = s["DSP"]
    out["pynq_z2_macs"] = p.macs_per_cycle
    out["pynq_z2_int8_macs_per_dsp"] = round(p.macs_per_cycle / max(s["DSP"], 1), 2)
    out["pynq_z2_fits_xc7z020"] = all(s[k] <= lim for k, lim in XC7Z020.items())
    out["xc7z020_budget"] = XC7Z020
    out["synth_s"] = round(time.perf_counter() - t1, 1)


if __name__ == "__main__":
    sys.exit(main())
