"""``make demo`` step for the accelerator: generate ``default``, run a matmul on the functional
simulator and on Verilator, print the cycle table."""
from __future__ import annotations

from pathlib import Path

from .cli import generate, matmul_table, run_matmul
from .presets import PRESETS


def run(out: Path, quick: bool = False) -> None:
    cfg = PRESETS["default"]
    s = generate(cfg, out / "default")
    print(f"generated accelerator {s['slug']} ({s['macs_per_cycle']} MACs/cycle): "
          f"{s['verilog']}, {', '.join(s['files'])} in {s['out']}")
    m = k = n = 64 if quick else 256
    results = [run_matmul(cfg, "fsim", m, k, n)]
    try:
        results.append(run_matmul(cfg, "verilator", m, k, n, work=out / "verilator",
                                  verilog=Path(s["out"]) / s["verilog"]))
    except Exception as e:  # a missing simulator or RTL must not hide the fsim figures
        print(f"verilator run skipped: {e}")
    print(matmul_table(results))
    print("(~: the functional simulator's estimate; GEMM util = M*K*N / (MACs per cycle x cycles))")
    bad = sum(r["mismatches"] for r in results)
    if bad:
        raise RuntimeError(f"accelerator demo: {bad} output mismatches against numpy")
