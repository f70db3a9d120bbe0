"""Differential fuzzing of the accelerator RTL against the functional simulator: prints one JSON
object (programs, mismatches, fault kinds, simulated cycles, time).

Usage: python bench/fuzz_accel.py --programs N [--preset tiny] [--simulator verilator] [--seed S]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from hwgen.accel.presets import PRESETS
from hwgen.accel.rtl import generate
from hwgen.sim.accel.differential import run_differential

BATCH = 250       # programs per simulator process


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--programs", type=int, default=1000)
    ap.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    ap.add_argument("--simulator", default="verilator", choices=["verilator", "icarus"])
    ap.add_argument("--seed", type=int, default=0, help="first seed")
    args = ap.parse_args(argv)
    if args.programs < 1:
        ap.error(f"--programs must be at least 1, not {args.programs}")
    t0 = time.perf_counter()
    total = {"programs": 0, "mismatches": 0, "failures": [], "faults": {}, "simulated_cycles": 0}
    with tempfile.TemporaryDirectory(prefix="fuzz-accel-") as tmp:
        v = generate(PRESETS[args.preset], Path(tmp) / "v").verilog
        for lo in range(args.seed, args.seed + args.programs, BATCH):
            hi = min(lo + BATCH, args.seed + args.programs)
            rep = run_differential(v, args.simulator, range(lo, hi), Path(tmp) / f"b{lo}")
            total["programs"] += rep["programs"]
            total["mismatches"] += rep["mismatches"]
            total["failures"] += rep["failures"]
            total["simulated_cycles"] += rep["simulated_cycles"]
            for k, n in rep["faults"].items():
                total["faults"][k] = total["faults"].get(k, 0) + n
    total["failures"] = total["failures"][:20]
    total.update({"preset": args.preset, "simulator": args.simulator, "first_seed": args.seed,
                  "seconds": round(time.perf_counter() - t0, 1)})
    print(json.dumps(total))
    return 1 if total["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
