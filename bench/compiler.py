"""Network compiler benchmark: prints one JSON object.

- ``fsim``: SkyNet (160x320, random weights, seed 0) compiled for ``default``, ``pynq-z2`` and
  ``ultra96``, one frame on the functional simulator (cycles are its estimate): cycles per frame
  (one run), MACs, GEMM utilization (MACs / (MACs per cycle x cycles)), instructions, arena bytes,
  compile seconds, mismatches against the golden model over every layer, and per job kind the
  cycles of one run per job (``per_layer``).
- ``rtl``: skynet-tiny compiled for ``default`` on the generated RTL under Verilator (exact
  cycles) beside the functional simulator's estimate; mismatches over every layer.
- ``rtl_full`` (not in the default parts): SkyNet on ``default`` under Verilator (a larger DRAM
  window, so one more Verilator build). At 14184bb (ISA 3): 5,249,655 cycles (fsim 5,202,974),
  0 mismatches; ``fsim`` at 63cbda6: 5,202,974 / 5,107,302 / 3,985,468 on default / pynq-z2 /
  ultra96, ``rtl`` skynet-tiny 48,203 cycles.

- ``residual`` (not in the default parts): ResNet-18 and MobileNetV2 (224x224, random weights,
  seed 0, every layer on the accelerator: stem conv, padded max pool, residual adds, global
  average pool, classifier) on the functional simulator for each preset: cycles per frame, GEMM
  utilization (conv MACs only), ms per frame at the project clock (100 MHz), mismatches over every
  layer, and per job kind the cycles of one run per job. At 3f5471a: ResNet-18 8,654,199 cycles
  on ``default`` (81.9% GEMM utilization, 86.5 ms), 8,703,435 on ``pynq-z2`` (81.4%),
  5,040,226 on ``ultra96`` (70.3%); MobileNetV2 4,451,682 / 4,463,629 / 3,473,439 (26.4% /
  26.3% / 16.9%: its depthwise convs take 1.9 M cycles at 4% utilization); 0 mismatches. At
  14184bb (ISA 3, MULSHR): ResNet-18 8,487,401 / 8,534,464 / 4,952,415, MobileNetV2 4,014,294 /
  4,025,545 / 3,281,462.
- ``rtl_resnet18`` (not in the default parts): ResNet-18 under Verilator on ``--rtl-presets``
  (default ``default``; exact cycles; a larger DRAM window, so its own Verilator build). At
  0e87707 on ``default``: 8,700,373 cycles, 0 mismatches, 87.0 ms per frame at 100 MHz (about
  320 s of Verilator time on a shared core); at 3f5471a on ``ultra96``: 5,082,570 cycles, 0
  mismatches, 69.7%, 50.8 ms (about 420 s); at 63cbda6 (ISA 3) on ``default``: 8,534,034 cycles
  (fsim 8,487,401), 0 mismatches, 83.0%, 85.3 ms (190 s).
- ``arena`` (not in the default parts): feature-map memory reuse on ``--presets`` for SkyNet,
  ResNet-18 and MobileNetV2 (``--arena-models``): arena and feature-map bytes with every map kept
  (``--keep-maps``) and with maps whose lifetimes do not overlap sharing space (the default of
  ``hwgen accel compile``), the peak of live map bytes over the jobs (the least any placement
  needs), and on the functional simulator: the fused run's mismatches on the maps still in the
  arena (the output among them) and the per-layer run's mismatches on every map read right after
  its job; cycles with and without reuse. At 60a8396 (ISA 3) on ``default`` (random weights,
  seed 0): SkyNet arena 10,356,400 -> 3,897,520 bytes (maps 9,530,880 -> 3,072,000), ResNet-18
  15,698,368 -> 13,062,592 (maps 3,639,296 -> 1,003,520; its weights dominate), MobileNetV2
  12,282,304 -> 6,612,928 (maps 7,174,656 -> 1,505,280); each at its live peak; 0 mismatches,
  the same cycles as with every map kept (about 100 s). On ``pynq-z2`` / ``ultra96``: SkyNet
  10,372,048 -> 3,913,168 / 11,934,952 -> 5,258,472, ResNet-18 15,797,808 -> 13,162,032 /
  15,836,160 -> 13,200,384, MobileNetV2 12,314,928 -> 6,645,552 / 13,779,456 -> 7,841,280; 0
  mismatches.

Usage: python bench/compiler.py [--parts fsim,rtl,rtl_full,residual,rtl_resnet18,arena]
                                [--presets default,pynq-z2,ultra96] [--models resnet18,mobilenetv2]
                                [--rtl-presets default]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from hwgen.accel.presets import PRESETS
from hwgen.compiler import compile_network
from hwgen.nn import model as golden
from hwgen.nn.models import build_model, random_params
from hwgen.nn.quantize import quantize_network
from hwgen.runtime import FsimDevice
from hwgen.runtime.network import NetworkRunner


def _quant(name: str):
    net = build_model(name)
    return quantize_network(net, random_params(net, 0))


def _mismatches(fitted, img, maps) -> int:
    want = golden.forward(fitted, img)
    return int(sum((maps[n] != want[n]).sum() for n in want))


def _run(cn, fitted, dev, per_layer=False):
    img = golden.test_images(fitted, 1, 1)[0]
    r = NetworkRunner(dev, cn)
    t0 = time.monotonic()
    res = r.run(img, per_layer=per_layer)
    dt = time.monotonic() - t0
    r.close()
    return res, _mismatches(fitted, img, res.maps), dt


def arena(out: dict, presets: list[str], models: list[str]) -> None:
    from hwgen.compiler.compile import map_lifetimes
    from hwgen.compiler.lower import lower
    rows: dict = {}
    for name in models:
        q = _quant(name)
        rows[name] = {}
        for p in presets:
            cfg = PRESETS[p]
            keep, fitted = compile_network(q, cfg, keep_maps=True)
            t0 = time.monotonic()
            cn, _ = compile_network(q, cfg, keep_maps=False)
            comp = time.monotonic() - t0
            maps, jobs = lower(fitted, cfg)
            lives, _ready = map_lifetimes(maps, jobs, cn.output, cfg.out_elem_bytes)
            peak = max(sum(lv.nbytes for lv in lives.values() if lv.first <= j <= lv.last)
                       for j in range(-1, len(jobs) + 1))
            img = golden.test_images(fitted, 1, 1)[0]
            want = golden.forward(fitted, img)
            runs = {}
            for label, net, per_layer in (("fused", cn, False), ("per_layer", cn, True),
                                          ("fused_keep_maps", keep, False)):
                r = NetworkRunner(FsimDevice(cfg), net)
                res = r.run(img, per_layer=per_layer)
                r.close()
                got = [n for n in want if n in res.maps]
                runs[label] = {"cycles": res.cycles, "maps_compared": len(got), "maps": len(want),
                               "mismatches": int(sum((res.maps[n] != want[n]).sum() for n in got))}
            kb, rb = keep.info["maps_bytes"], cn.info["maps_bytes"]
            rows[name][p] = {
                "slug": cfg.slug, "arena_bytes_keep_maps": len(keep.arena), "arena_bytes": len(cn.arena),
                "arena_saving": round(1 - len(cn.arena) / len(keep.arena), 4),
                "maps_bytes_keep_maps": kb, "maps_bytes": rb, "maps_saving": round(1 - rb / kb, 4),
                "live_peak_bytes": peak, "maps_over_peak": round(rb / peak, 4),
                "buffers": len(lives), "kept_maps_after_run": sum(1 for m in cn.maps.values() if m["kept"]),
                "compile_s": round(comp, 1), "runs": runs,
                "mismatches": sum(r["mismatches"] for r in runs.values())}
    out["arena"] = rows


def _kind(seg) -> str:
    return "depthwise" if seg.kind == "conv" and seg.name.endswith("_dw") else seg.kind


def _fsim_row(q, cfg, digits: int) -> tuple[dict, object, object]:
    """One network on one preset on fsim: the figures the ``fsim`` and ``residual`` parts share
    (one fused run, one run per job for the cycles by job kind); also the compiled network and the
    per-job runs."""
    t0 = time.monotonic()
    cn, fitted = compile_network(q, cfg)
    comp = time.monotonic() - t0
    res, bad, dt = _run(cn, fitted, FsimDevice(cfg))
    layered, bad2, _ = _run(cn, fitted, FsimDevice(cfg), per_layer=True)
    kinds = {s.name: _kind(s) for s in cn.segments}
    by_kind: dict[str, int] = {}
    for (names, r) in layered.runs:
        by_kind[kinds[names[0]]] = by_kind.get(kinds[names[0]], 0) + r.cycles
    macs_kind: dict[str, int] = {}
    for s in cn.segments:
        macs_kind[kinds[s.name]] = macs_kind.get(kinds[s.name], 0) + s.macs
    row = {"slug": cfg.slug, "cycles": res.cycles, "macs": cn.macs,
           "utilization": round(cn.macs / (cfg.macs_per_cycle * res.cycles), 4),
           "insns": cn.insn_count, "arena_bytes": len(cn.arena), "compile_s": round(comp, digits),
           "run_s": round(dt, digits), "mismatches": bad + bad2,
           "per_layer_cycles": layered.cycles, "cycles_by_kind": by_kind,
           "utilization_by_kind": {k: round(macs_kind[k] / (cfg.macs_per_cycle * c), 4)
                                   for k, c in by_kind.items() if macs_kind.get(k)}}
    return row, cn, layered


def fsim(out: dict, presets: list[str]) -> None:
    q = _quant("skynet")
    rows = {}
    for p in presets:
        row, cn, _layered = _fsim_row(q, PRESETS[p], 2)
        rows[p] = dict(row, refitted_layers=len(cn.info["refitted_layers"]))
    out["fsim"] = rows


def rtl(out: dict, full: bool = False) -> None:
    from hwgen.accel.rtl import generate
    from hwgen.runtime.rtl_device import DEFAULT_SIZE, RtlDevice
    cfg = PRESETS["default"]
    name = "skynet" if full else "skynet-tiny"
    cn, fitted = compile_network(_quant(name), cfg)
    with tempfile.TemporaryDirectory(prefix="hwgen-bench-") as tmp:
        v = generate(cfg, Path(tmp) / "v").verilog
        size = max(DEFAULT_SIZE, 1 << (len(cn.arena) + (1 << 20) - 1).bit_length())
        t0 = time.monotonic()
        with RtlDevice(v, "verilator", size=size, work_dir=Path(tmp) / "w") as dev:
            res, bad, dt = _run(cn, fitted, dev)
        total = time.monotonic() - t0
    est, _bad, _ = _run(cn, fitted, FsimDevice(cfg))
    out["rtl_full" if full else "rtl"] = {
        "network": name, "slug": cfg.slug, "cycles": res.cycles, "fsim_estimate": est.cycles,
        "macs": cn.macs, "utilization": round(cn.macs / (cfg.macs_per_cycle * res.cycles), 4),
        "mismatches": bad, "run_s": round(dt, 1), "with_build_s": round(total, 1)}


#: the project's clock for ms-per-frame figures (PYNQ-Z1/Z2 fabric, VTA's published 100 MHz)
CLOCK_MHZ = 100


def residual(out: dict, presets: list[str], models: list[str]) -> None:
    rows: dict = {}
    for name in models:
        q = _quant(name)
        rows[name] = {}
        for p in presets:
            row, cn, layered = _fsim_row(q, PRESETS[p], 1)
            top = sorted(((r.cycles, names[0]) for names, r in layered.runs), reverse=True)[:5]
            rows[name][p] = dict(row, ms_per_frame=round(row["cycles"] / (CLOCK_MHZ * 1e3), 2),
                                 jobs=len(cn.segments), slowest_jobs=[[n, c] for c, n in top])
    out["residual"] = rows


def rtl_resnet18(out: dict, preset: str = "default") -> None:
    from hwgen.accel.rtl import generate
    from hwgen.runtime.rtl_device import DEFAULT_SIZE, RtlDevice
    cfg = PRESETS[preset]
    cn, fitted = compile_network(_quant("resnet18"), cfg)
    with tempfile.TemporaryDirectory(prefix="hwgen-bench-") as tmp:
        v = generate(cfg, Path(tmp) / "v").verilog
        size = max(DEFAULT_SIZE, 1 << (len(cn.arena) + (1 << 20) - 1).bit_length())
        t0 = time.monotonic()
        with RtlDevice(v, "verilator", size=size, work_dir=Path(tmp) / "w", timeout_cycles=100_000_000) as dev:
            res, bad, dt = _run(cn, fitted, dev)
        total = time.monotonic() - t0
    est, _bad, _ = _run(cn, fitted, FsimDevice(cfg))
    out["rtl_resnet18" if preset == "default" else f"rtl_resnet18_{preset}"] = {
        "network": "resnet18", "slug": cfg.slug, "cycles": res.cycles, "fsim_estimate": est.cycles,
        "macs": cn.macs, "utilization": round(cn.macs / (cfg.macs_per_cycle * res.cycles), 4),
        "ms_per_frame": round(res.cycles / (CLOCK_MHZ * 1e3), 2), "mismatches": bad,
        "run_s": round(dt, 1), "with_build_s": round(total, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="fsim,rtl")
    ap.add_argument("--presets", default="default,pynq-z2,ultra96")
    ap.add_argument("--models", default="resnet18,mobilenetv2", help="networks of the residual part")
    ap.add_argument("--rtl-presets", default="default", help="presets of the rtl_resnet18 part")
    ap.add_argument("--arena-models", default="skynet,resnet18,mobilenetv2", help="networks of the arena part")
    a = ap.parse_args(argv)
    parts = a.parts.split(",")
    out: dict = {}
    t0 = time.monotonic()
    if "fsim" in parts:
        fsim(out, a.presets.split(","))
    if "rtl" in parts:
        rtl(out)
    if "rtl_full" in parts:
        rtl(out, full=True)
    if "residual" in parts:
        residual(out, a.presets.split(","), a.models.split(","))
    if "arena" in parts:
        arena(out, a.presets.split(","), a.arena_models.split(","))
    if "rtl_resnet18" in parts:
        for p in a.rtl_presets.split(","):
            rtl_resnet18(out, p)
    out["bench_s"] = round(time.monotonic() - t0, 1)
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
