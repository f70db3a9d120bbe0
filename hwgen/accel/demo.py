"""``make demo`` step for the accelerator: generate ``default``, run a matmul, a 3x3 convolution
and the compiled skynet-tiny and resnet-tiny networks on the functional simulator and on
Verilator (SkyNet and ResNet-18 on the functional simulator), print the cycle tables, and write a
Vivado project."""
from __future__ import annotations

import time
from pathlib import Path

from ..cliutil import table
from ..errors import ToolError
from .cli import generate, make_device, matmul_table, run_matmul
from .presets import PRESETS


def _conv_rows(cfg, verilog: Path, out: Path, quick: bool) -> list[list]:
    import numpy as np
    from ..runtime.conv import conv2d, conv_reference
    h, c = (16, 32) if quick else (32, 64)
    rng = np.random.default_rng(0)
    x, w = rng.integers(-128, 128, (h, h, c)), rng.integers(-128, 128, (3, 3, c, c))
    want = conv_reference(cfg, x, w, padding="same", shift=10)
    rows = []
    for backend in ("fsim", "verilator"):
        try:
            dev = make_device(cfg, backend, out / "conv", verilog=verilog)
            t0 = time.monotonic()
            r = conv2d(dev, x, w, padding="same", shift=10)
        except ToolError as e:  # a missing simulator must not hide the fsim figures; a failure must
            print(f"conv on {backend} skipped: {e}")
            continue
        c_ = r.result.cycles
        rows.append([backend, f"{h}x{h}x{c} 3x3 -> {c}", c_ if r.result.exact_cycles else f"~{c_}",
                     f"{100 * r.utilization:.1f}%", int((r.out != want).sum()), f"{time.monotonic() - t0:.2f}"])
    return rows


def _network_rows(cfg, verilog: Path, out: Path, quick: bool) -> list[list]:
    """skynet-tiny and resnet-tiny compiled for ``cfg`` and run on fsim and Verilator, and (unless
    ``quick``) the full SkyNet and ResNet-18 on fsim; every layer checked."""
    from ..compiler.frontend import compile_to, infer, quantized
    runs = [("skynet-tiny", ("fsim", "verilator")), ("resnet-tiny", ("fsim", "verilator"))]
    runs += [] if quick else [("skynet", ("fsim",)), ("resnet18", ("fsim",))]
    rows = []
    for model, backends in runs:
        rows += _network(cfg, verilog, out, model, backends, compile_to, infer, quantized)
    return rows


def _network(cfg, verilog, out, model, backends, compile_to, infer, quantized) -> list[list]:
    s = compile_to(quantized(cfg, model=model), cfg, out / model)
    print(f"compiled {s['network']} for {s['slug']}: {len(s['segments'])} jobs, {s['insns']} "
          f"instructions, arena {s['arena_bytes']} bytes -> {s['out']}")
    rows = []
    for backend in backends:
        try:
            dev = make_device(cfg, backend, out / "net", verilog=verilog)
            t0 = time.monotonic()
            r = infer(s["out"], dev)
        except ToolError as e:  # a missing simulator must not hide the fsim figures; a failure must
            print(f"network on {backend} skipped: {e}")
            continue
        cyc = r["cycles"] if r["cycles_exact"] else f"~{r['cycles']}"
        rows.append([backend, r["network"], len(r["layers"]) - 1, cyc, f"{100 * r['utilization']:.1f}%",
                     r["mismatches"], f"{time.monotonic() - t0:.2f}"])
    return rows


def run(out: Path, quick: bool = False) -> None:
    cfg = PRESETS["default"]
    s = generate(cfg, out / "default")
    verilog = Path(s["out"]) / s["verilog"]
    print(f"generated accelerator {s['slug']} ({s['macs_per_cycle']} MACs/cycle): "
          f"{s['verilog']}, {', '.join(s['files'])} in {s['out']}")
    m = k = n = 64 if quick else 256
    results = [run_matmul(cfg, "fsim", m, k, n)]
    try:
        results.append(run_matmul(cfg, "verilator", m, k, n, work=out / "verilator", verilog=verilog))
    except ToolError as e:  # a missing simulator must not hide the fsim figures; a failure must fail
        print(f"verilator run skipped: {e}")
    print("matmul (int8, random operands, checked against numpy):")
    print(matmul_table(results))
    conv = _conv_rows(cfg, verilog, out, quick)
    print("convolution (int8, same padding, checked against hwgen.nn.ops.conv2d):")
    print(table(conv, ["backend", "layer", "cycles", "GEMM util", "mismatches", "run s"]))
    print("(~: the functional simulator's estimate; GEMM util = useful MACs / (MACs per cycle x cycles))")
    net = _network_rows(cfg, verilog, out, quick)
    print("networks (int8, random weights; every layer checked against hwgen.nn.model):")
    print(table(net, ["backend", "network", "layers", "cycles/frame", "GEMM util", "mismatches", "run s"]))
    from ..fpga.accel_project import accel_project
    p = accel_project(PRESETS["pynq-z2"], "pynq-z2", out / "pynq-z2-project")
    print(f"Vivado project and PYNQ overlay for {p['slug']} on {p['board']} ({p['part']}) in "
          f"{p['out']}: build.tcl passes hwgen's model of Vivado ({len(p['cells'])} cells; "
          f"Vivado itself not run)")
    bad = sum(r["mismatches"] for r in results) + sum(r[4] for r in conv) + sum(r[5] for r in net)
    if bad:
        raise RuntimeError(f"accelerator demo: {bad} output mismatches against numpy")
