"""Accelerator benchmark: prints one JSON object.

- ``gemm_utilization``: useful MACs (M*K*N) / (MACs per cycle * cycles from START to DONE) for a
  256x256x256 int8 matmul on the ``default`` preset, run on the generated RTL under Verilator
  (the runtime's tiled, double-buffered matmul; output checked against numpy).
- ``cycles_per_s_verilator`` / ``cycles_per_s_icarus``: simulated accelerator cycles per wall
  second from START to DONE (``default`` preset; Icarus on a 64x64x64 matmul).
- ``alu_tensor_ops_per_cycle``: ALU micro-ops with a tensor operand per cycle on ``default``
  (Verilator), operands in different accumulator banks (``_same_bank``: in the same bank).
- ``pynq_z2_*``: Yosys ``synth_xilinx`` (xc7) counts for the ``pynq-z2`` preset, with the
  xc7z020 budget (26,600 LUTs = half the device, 220 DSP48E1, 140 BRAM36).
- ``ecp5_fmax_mhz_tiny`` / ``ecp5_fmax_mhz``: nextpnr-ecp5 fmax of ``tiny`` (LFE5U-25F) and of
  ``default`` (LFE5U-85F, 112 products on MULT18X18D and 144 in LUTs; null with the reason when
  it does not fit); ``ecp5_nextpnr_flags`` and ``ecp5_critical_path`` (start and end cells,
  logic and routing ns) of that run.

- ``ecp5_synth_default``: Yosys ``synth_ecp5`` cells of ``default`` with the same budget (no
  place and route; ``--parts synth_ecp5``, not in the default parts).
- ``fit``: the resource model (:func:`hwgen.accel.resources.estimate`) against full Yosys
  ``synth_xilinx`` runs: per config its slug, generation options, the model's and synthesis's
  RAMB36 / RAMB18 / DSP48E1, ``equal``; ``fit_all_equal``, ``fit_s`` (``--parts fit``, not in the
  default parts: about 10 min).

- ``lut_fit``: the LUT model (``estimate(...).luts``, LUTs as logic) against full Yosys
  ``synth_xilinx`` runs (``LUT``: LUT1..LUT6 cells) of the presets and eight variants that move its
  terms (LUT products, packing off, other array shapes, 16-bit operands, 16-bit accumulators, a
  128-deep instruction queue), which calibrated it, and three held out (``calibrated_on`` false: a
  1024-deep queue, 64 LUT products, 16-bit LUT products): per config the model, synthesis, the
  error in percent, and LUTs as memory (model) against LUT-RAM primitives (synthesis);
  ``lut_fit_max_abs_err_pct``, ``lut_fit_held_out_max_abs_err_pct``, ``lut_fit_all_within``
  (``resources.LUT_TOLERANCE``), ``lut_fit_s`` (``--parts lut_fit``, not in the default parts:
  about 25 min).

Usage: python bench/accel.py [--quick] [--parts sim,synth,synth_ecp5,fmax,fmax_tiny,fmax_default,fit,lut_fit] [--keep-pnr DIR]
"""
from __future__ import annotations

import argparse
import json
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


#: GEMM multipliers of ``default`` (256 int8 MACs) left to the LFE5U-85F's 156 MULT18X18D: its
#: 16 ALU MUL lanes take 32 (32 x 16 bits: two each), the fetch checks 2; the other products are
#: LUT logic (``hard_mults``, recorded in the manifest).
ECP5_85F_HARD_MULTS = 112

#: nextpnr options for ``default`` on the 85F: the negotiated router (router2). router1 left
#: 154,745 overused wires after 65 min (older RTL). While the harness's reset reached 22,521
#: flip-flops through general routing, router2 diverged too (2,593 overused wires at iteration
#: 17, 4,516 at 29); with reset-free datapath registers (3,071 left on the reset) it converges:
#: 0 overused wires at iteration 77 (router2 7.5 min, nextpnr 25 min, one core).
ECP5_85F_NEXTPNR_FLAGS = ("--router", "router2")


def fmax(out: dict, cfg, tmp: Path, which=("tiny", "default"), keep: Path | None = None) -> None:
    """nextpnr-ecp5 fmax: ``tiny`` on an LFE5U-25F and ``default`` on the largest ECP5
    (LFE5U-85F), both with unpacked products (ECP5 multipliers are 18 x 18) inside the three-pin
    harness of :func:`hwgen.measure.ecp5_fmax` (the accelerator has more port bits than package
    pins). ``default`` needs more multipliers than the 85F has, so it is generated with a
    hard-multiplier budget (:data:`ECP5_85F_HARD_MULTS`); the failure reason is recorded if it
    does not fit. ``keep`` receives each run's nextpnr log and report (``keep/tiny``,
    ``keep/default``)."""
    from hwgen.errors import ToolError
    from hwgen.measure import ecp5_fmax
    t2 = time.perf_counter()
    if "tiny" in which:
        v = generate(PRESETS["tiny"], tmp / "ecp5_tiny", dsp_packing=False).verilog
        f = ecp5_fmax([v], v.stem, device="25k", package="CABGA381", harness=True,
                      keep_dir=keep / "tiny" if keep else None)
        out["ecp5_fmax_mhz_tiny"] = f["fmax_mhz"]
        out["ecp5_tiny"] = f
        out["ecp5_tiny_s"] = round(time.perf_counter() - t2, 1)
    if "default" not in which:
        return
    v = generate(cfg, tmp / "ecp5_default", dsp_packing=False,
                 hard_mults=ECP5_85F_HARD_MULTS).verilog
    try:
        f = ecp5_fmax([v], v.stem, device="85k", package="CABGA381", harness=True,
                      timeout=6 * 3600, nextpnr_flags=ECP5_85F_NEXTPNR_FLAGS,
                      keep_dir=keep / "default" if keep else None)
        out["ecp5_fmax_mhz"] = f["fmax_mhz"]
        out["ecp5"] = dict(f, hard_mults=ECP5_85F_HARD_MULTS,
                           lut_products=cfg.macs_per_cycle - ECP5_85F_HARD_MULTS)
        out["ecp5_nextpnr_flags"] = f["nextpnr_flags"]
        out["ecp5_critical_path"] = f["critical_path"]
    except ToolError as e:
        out["ecp5_fmax_mhz"] = None
        out["ecp5_default_error"] = str(e)[:300]
    out["fmax_s"] = round(time.perf_counter() - t2, 1)


def synth_ecp5_default(out: dict, cfg, tmp: Path) -> None:
    """Yosys ``synth_ecp5`` cell counts of ``default`` with the 85F's hard-multiplier budget, as
    the fmax flow synthesizes it (inside the three-pin harness; no place and route): how much
    logic the LUT products and the rest take. ``lut4_plus_2ccu2c`` counts a carry cell as its two
    LUTs, as nextpnr's TRELLIS_COMB does."""
    from hwgen.measure import synth_ecp5
    t = time.perf_counter()
    v = generate(cfg, tmp / "ecp5_synth", dsp_packing=False,
                 hard_mults=ECP5_85F_HARD_MULTS).verilog
    cells = synth_ecp5([v], v.stem, harness=True)
    keep = ("LUT4", "CCU2C", "PFUMX", "L6MUX21", "TRELLIS_DPR16X4", "TRELLIS_FF", "MULT18X18D",
            "DP16KD")
    out["ecp5_synth_default"] = {k: cells.get(k, 0) for k in keep}
    out["ecp5_synth_default_lut4_plus_2ccu2c"] = cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0)
    out["ecp5_synth_default_s"] = round(time.perf_counter() - t, 1)


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


def alu_rate(verilog, sim, cfg, work, n=128) -> dict:
    """ALU micro-ops per cycle with a tensor operand: ``acc[i] += acc[off + i]`` for ``n``
    entries, ``off`` odd (operands in different accumulator banks) and even (same bank). The rate
    is ``n / (compute_busy(2n ops) - compute_busy(n ops))``, so LOADs and pipeline fill cancel.
    The narrowed sums are checked against numpy."""
    from hwgen.accel.isa import AluOp, MemType, Stage, Uop
    from hwgen.runtime.program import Program
    rng = np.random.default_rng(1)
    lanes = cfg.batch * cfg.block_out
    eb, ob = cfg.acc_elem_bytes, cfg.out_elem_bytes
    lo, hi = -(1 << (cfg.output_width - 1)), (1 << (cfg.output_width - 1)) - 1
    res = {}
    with RtlDevice(verilog, sim, work_dir=work) as dev:
        a = rng.integers(-1000, 1000, (4 * n + 1, lanes)).astype("<i4")
        abuf, obuf = dev.alloc(a.nbytes), dev.alloc(2 * n * ob)
        dev.write(abuf, a)
        for name, off in (("different_banks", 2 * n + 1), ("same_bank", 2 * n)):
            busy, ok = [], True
            for reps in (n, 2 * n):
                p = Program(dev)
                p.load(MemType.ACC, 0, abuf.elem(eb), 1, 4 * n + 1)
                k = p.kernel([Uop(0, off, 0)])
                p.alu(AluOp.ADD, k, iter_in=reps, dst=(0, 1), src=(0, 1))
                p.push(Stage.COMPUTE, Stage.STORE)
                p.pop(Stage.COMPUTE, Stage.STORE)
                p.store(0, obuf.elem(ob), 1, reps)
                r = dev.run(p)
                p.release()
                busy.append(r.counters["compute_busy"])
                got = dev.read(obuf, reps * ob).view({8: np.int8, 16: "<i2"}[cfg.output_width])
                want = np.clip(a[:reps] + a[off:off + reps], lo, hi)
                ok &= bool(np.array_equal(got.reshape(reps, lanes), want))
            res[name] = {"ops_per_cycle": round(n / (busy[1] - busy[0]), 4), "correct": ok}
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="64^3 instead of 256^3 on Verilator")
    ap.add_argument("--parts", default="sim,synth,fmax",
                    help="comma-separated subset of sim, synth, synth_ecp5, fit, fmax "
                         "(= fmax_tiny,fmax_default), fmax_tiny, fmax_default "
                         "(default: sim,synth,fmax)")
    ap.add_argument("--keep-pnr", type=Path, default=None, metavar="DIR",
                    help="keep nextpnr's log and report of the fmax parts in DIR")
    args = ap.parse_args(argv)
    parts = set(args.parts.split(","))
    if not parts <= {"sim", "synth", "synth_ecp5", "fmax", "fmax_tiny", "fmax_default", "fit",
                     "lut_fit"}:
        ap.error(f"--parts takes sim, synth, synth_ecp5, fit, lut_fit, fmax, fmax_tiny, "
                 f"fmax_default, not {args.parts!r}")
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-accel-") as tmp:
        tmp = Path(tmp)
        cfg = PRESETS["default"]
        if "sim" in parts:
            simulate(out, cfg, tmp, 64 if args.quick else 256)
        if "synth" in parts:
            synthesize(out, tmp)
        if "synth_ecp5" in parts:
            synth_ecp5_default(out, cfg, tmp)
        if "fit" in parts:
            fit(out, tmp)
        if "lut_fit" in parts:
            lut_fit(out, tmp)
        which = [w for w in ("tiny", "default") if {"fmax", f"fmax_{w}"} & parts]
        if which:
            fmax(out, cfg, tmp, which, keep=args.keep_pnr)
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
    alu = alu_rate(v_default, "verilator", cfg, tmp / "alu")
    out["alu_tensor_ops_per_cycle"] = alu["different_banks"]["ops_per_cycle"]
    out["alu_tensor_ops_per_cycle_same_bank"] = alu["same_bank"]["ops_per_cycle"]
    out["alu_correct"] = alu["different_banks"]["correct"] and alu["same_bank"]["correct"]
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


def fit_cases():
    """(name, config, generation options) the resource model is checked on: the presets and
    variants of buffers, array shape, widths, queues and multiplier options."""
    from dataclasses import replace
    t = PRESETS["tiny"]
    return [(n, PRESETS[n], {}) for n in ("tiny", "default", "pynq-z2", "ultra96")] + [
        ("tiny q1024", replace(t, insn_queue_depth=1024), {}),
        ("2x8x4 d64", replace(t, batch=2, block_in=8, block_out=4, inp_depth=2048, wgt_depth=16,
                              acc_depth=512, uop_depth=16, axi_data_width=64), {}),
        ("tiny 16-bit", replace(t, input_width=16, weight_width=16, output_width=16,
                                inp_depth=4096, wgt_depth=1024, acc_depth=16, uop_depth=8192), {}),
        ("tiny q128 a16", replace(t, insn_queue_depth=128, acc_width=16), {}),
        ("2x4x8 unpacked", replace(t, axi_data_width=64, batch=2, block_out=8, wgt_depth=512,
                                   uop_depth=16, acc_depth=256),
         {"dsp_packing": False, "hard_mults": 40}),
    ]


def fit(out: dict, tmp: Path) -> None:
    """The resource model against full synth_xilinx runs (:func:`fit_cases`)."""
    from hwgen.accel.resources import estimate
    from hwgen.measure import synth_xilinx
    t = time.perf_counter()
    rows = []
    for name, cfg, opts in fit_cases():
        v = generate(cfg, tmp / f"fit_{len(rows)}", **opts).verilog
        s = synth_xilinx([v], v.stem)
        e = estimate(cfg, **opts)
        model = {"ramb36": e.ramb36, "ramb18": e.ramb18, "dsp": e.dsps}
        synth = {"ramb36": s["RAMB36"], "ramb18": s["RAMB18"], "dsp": s["DSP"]}
        rows.append({"name": name, "slug": cfg.slug, "options": opts, "model": model,
                     "synth": synth, "synth_luts": s["LUT"], "equal": model == synth})
    out["fit"] = rows
    out["fit_all_equal"] = all(r["equal"] for r in rows)
    out["fit_s"] = round(time.perf_counter() - t, 1)


def lut_fit_cases():
    """(name, config, generation options) the LUT model is checked on: the presets and variants
    that move its terms."""
    from dataclasses import replace
    t, d = PRESETS["tiny"], PRESETS["default"]
    return [(n, PRESETS[n], {}) for n in ("tiny", "default", "pynq-z2", "ultra96")] + [
        ("tiny hm0", t, {"hard_mults": 0}),
        ("tiny unpacked", t, {"dsp_packing": False}),
        ("tiny q128 a16", replace(t, insn_queue_depth=128, acc_width=16), {}),
        ("tiny 16-bit", replace(t, input_width=16, weight_width=16, output_width=16,
                                inp_depth=4096, wgt_depth=1024, acc_depth=16, uop_depth=8192), {}),
        ("1x8x8", replace(t, block_in=8, block_out=8), {}),
        ("2x8x4 d64", replace(t, batch=2, block_in=8, block_out=4, inp_depth=2048, wgt_depth=16,
                              acc_depth=512, uop_depth=16, axi_data_width=64), {}),
        ("2x4x8 unpacked hm40", replace(t, axi_data_width=64, batch=2, block_out=8, wgt_depth=512,
                                        uop_depth=16, acc_depth=256),
         {"dsp_packing": False, "hard_mults": 40}),
        ("default hm64", d, {"hard_mults": 64}),
    ]


#: configs of :func:`lut_fit_cases` not used to calibrate the LUT model (held out)
LUT_HELD_OUT = ("tiny q1024", "1x8x8 hm0", "tiny 16-bit hm0")


def lut_held_out_cases():
    """Configs the LUT model was not calibrated on: a 1024-deep compute queue in LUT RAM, 64
    LUT products, 16-bit LUT products."""
    from dataclasses import replace
    t = PRESETS["tiny"]
    return [("tiny q1024", replace(t, insn_queue_depth=1024), {}),
            ("1x8x8 hm0", replace(t, block_in=8, block_out=8), {"hard_mults": 0}),
            ("tiny 16-bit hm0", replace(t, input_width=16, weight_width=16, output_width=16,
                                        inp_depth=4096, wgt_depth=1024, acc_depth=16,
                                        uop_depth=8192), {"hard_mults": 0})]


def lut_fit(out: dict, tmp: Path) -> None:
    """The LUT model against full synth_xilinx runs (:func:`lut_fit_cases`)."""
    from hwgen.accel.resources import LUT_TOLERANCE, estimate
    from hwgen.measure import synth_xilinx
    t = time.perf_counter()
    rows = []
    for name, cfg, opts in lut_fit_cases() + lut_held_out_cases():
        v = generate(cfg, tmp / f"lut_fit_{len(rows)}", **opts).verilog
        s = synth_xilinx([v], v.stem)
        e = estimate(cfg, **opts)
        err = 100 * (e.luts - s["LUT"]) / s["LUT"]
        rows.append({"name": name, "slug": cfg.slug, "options": opts,
                     "calibrated_on": name not in LUT_HELD_OUT, "model_luts": e.luts,
                     "synth_luts": s["LUT"], "err_pct": round(err, 1),
                     "within": abs(err) <= 100 * LUT_TOLERANCE, "lut_parts": e.lut_parts,
                     "model_lutram_luts": e.lutram_luts, "synth_lutram_cells": s["LUTRAM"]})
    out["lut_fit"] = rows
    out["lut_fit_tolerance"] = LUT_TOLERANCE
    out["lut_fit_max_abs_err_pct"] = max(abs(r["err_pct"]) for r in rows)
    out["lut_fit_all_within"] = all(r["within"] for r in rows)
    out["lut_fit_held_out_max_abs_err_pct"] = max(abs(r["err_pct"]) for r in rows
                                                  if not r["calibrated_on"])
    out["lut_fit_s"] = round(time.perf_counter() - t, 1)


if __name__ == "__main__":
    sys.exit(main())
