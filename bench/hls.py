"""HLS emitter figures as one JSON object: the parallelism model for skynet on Ultra96 at 200 MHz
(frame rate by the cycle model and by the timed dataflow simulation, DSPs, BRAMs, FIFO depths vs
feature maps) and the C simulation of the full skynet (mismatches against the golden model,
counted cycles, seconds per frame).

Part ``residual`` (keys ``mbv2_det``, ``resnet_tiny``): the MobileNetV2-style detector (preset
mbv2det-ultra96) by the same model and simulations, each residual add's skip FIFO against the lag
of its branches and the smallest deadlock-free depth, the frame interval with 1 pixel, 4 pixels
(ours) and a row of slack, its C simulation; resnet-tiny's C simulation (a classifier: the output
map is streamed out).

    .venv/bin/python bench/hls.py [--images N] [--parts skynet,residual]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hwgen.hls.csim import run_csim  # noqa: E402
from hwgen.hls.dataflow import run_dataflow  # noqa: E402
from hwgen.hls.emit import generate  # noqa: E402
from hwgen.hls.perf import best_fps  # noqa: E402
from hwgen.hls.presets import PRESETS  # noqa: E402

PARTS = ("skynet", "residual")


def _min_deadlock_free(net, depths: dict, edge: tuple[str, str]) -> int:
    """Smallest depth of ``edge`` (the others as given) with which the bounded-FIFO execution finishes."""
    lo, hi = 1, depths[edge]
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if run_dataflow(net, {**depths, edge: mid}).deadlock else (lo, mid)
    return lo


def residual(images: int) -> dict:
    """The ``mbv2_det`` and ``resnet_tiny`` keys (see the module notes)."""
    import dataclasses

    from hwgen.hls.config import HlsConfig
    from hwgen.hls.dataflow import simulate_plan
    cfg = PRESETS["mbv2det-ultra96"]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        design = generate(cfg, Path(tmp) / "mbv2")
        gen_s = time.monotonic() - t0
        r = run_csim(Path(tmp) / "mbv2", images=images)
    p, net = design.plan, design.net
    skips = []
    for s in p.skips:
        if s["lag_pixels"] == 0:
            continue
        skips.append({**s, "min_deadlock_free_words": _min_deadlock_free(net, p.fifo_depths, (s["input"], s["add"]))})

    def interval(pixels: int | None) -> float:
        d = dict(p.fifo_depths)
        for s in skips:
            w, c = net.shape(s["input"])[1:]
            d[(s["input"], s["add"])] = s["lag_words"] + (w if pixels is None else pixels) * c
        return simulate_plan(net, dataclasses.replace(p, fifo_depths=d), frames=2).interval

    mbv2 = {
        "model": net.name, "board": p.board.name, "clock_mhz": p.clock_mhz, "target_fps": p.target_fps,
        "fps": round(p.fps, 2), "fps_simulated": round(p.fps_simulated, 2), "model_frame_cycles": p.frame_cycles,
        "simulated_frame_cycles": p.simulated_cycles, "best_reachable_fps_model": round(best_fps(net, cfg), 2),
        "dsp": p.dsp, "dsp_budget": p.board.dsp, "bram18": p.bram18, "bram18_budget": p.board.bram18,
        "macs_per_frame": sum(net.macs(l) for l in net.layers), "layers": len(net.layers),
        "adds": sum(1 for l in net.layers if l.kind == "add"),
        "max_fifo_depth": max(p.fifo_depths.values()), "largest_map_words": max(l.map_words for l in p.layers),
        "skip_fifo_words": sum(s["fifo_words"] for s in skips),
        "skip_map_words": sum(s["map_words"] for s in skips), "skips": skips,
        "interval_slack_1px": interval(1), "interval_slack_ours": simulate_plan(net, p, frames=2).interval,
        "interval_slack_row": interval(None), "generate_s": round(gen_s, 2),
        "csim_images": r.images, "csim_mismatches": r.mismatches, "csim_compile_s": round(r.compile_s, 2),
        "csim_s_per_frame": round(r.seconds_per_frame, 3),
        "model_cycles_equal_counted": r.cycles == {l.name: l.cycles for l in p.layers},
        "records": r.records,
    }
    rcfg = HlsConfig(model="resnet-tiny", board="ultra96", fps=1000, clock_mhz=200, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        rd = generate(rcfg, Path(tmp) / "resnet")
        rr = run_csim(Path(tmp) / "resnet", images=max(images, 4))
    resnet = {"fps": round(rd.plan.fps, 1), "fps_simulated": round(rd.plan.fps_simulated, 1), "dsp": rd.plan.dsp,
              "bram18": rd.plan.bram18, "csim_images": rr.images, "csim_mismatches": rr.mismatches,
              "model_cycles_equal_counted": rr.cycles == {l.name: l.cycles for l in rd.plan.layers},
              "skips": [s for s in rd.plan.skips if s["lag_pixels"] > 0]}
    return {"mbv2_det": mbv2, "resnet_tiny": resnet}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    args = ap.parse_args()
    parts = args.parts.split(",")
    bad = sorted(set(parts) - set(PARTS))
    if bad:
        ap.error(f"--parts: unknown part {bad[0]!r}; parts: {', '.join(PARTS)}")
    out = {}
    ok = True
    if "skynet" in parts:
        sky, ok = skynet(args.images)
        out.update(sky)
    if "residual" in parts:
        res = residual(args.images)
        out.update(res)
        ok = ok and res["mbv2_det"]["csim_mismatches"] == 0 and res["resnet_tiny"]["csim_mismatches"] == 0
    print(json.dumps(out))
    return 0 if ok else 1


def skynet(images: int) -> tuple[dict, bool]:
    """The skynet keys (see the module notes) and whether both C simulations matched."""
    cfg = PRESETS["skynet-ultra96"]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        design = generate(cfg, Path(tmp) / "skynet")
        gen_s = time.monotonic() - t0
        r = run_csim(Path(tmp) / "skynet", images=images)
    p = design.plan
    net = design.net
    fifo_ratio = max(d / (net.shape(src)[0] * net.shape(src)[1] * net.shape(src)[2])
                     for (src, _), d in p.fifo_depths.items())
    # smallest deadlock-free depth of the delayed concat input, by bounded-FIFO execution
    edge = ("reorg", "cat")
    lo, hi = 1, p.fifo_depths[edge]
    deadlock_free = not run_dataflow(net, p.fifo_depths).deadlock
    while lo < hi:
        mid = (lo + hi) // 2
        trial = dict(p.fifo_depths)
        trial[edge] = mid
        lo, hi = (mid + 1, hi) if run_dataflow(net, trial).deadlock else (lo, mid)
    rh, rw, rc = net.shape("reorg")
    tiny_dir = None
    with tempfile.TemporaryDirectory() as tmp:
        tiny = generate(PRESETS["skynet-tiny"], Path(tmp) / "tiny")
        rt = run_csim(Path(tmp) / "tiny", images=8)
        tiny_dir = {"mismatches": rt.mismatches, "images": rt.images,
                    "csim_s_per_frame": round(rt.seconds_per_frame, 4), "fps_model": round(tiny.plan.fps, 1)}
    out = {
        "model": "skynet", "board": p.board.name, "clock_mhz": p.clock_mhz, "target_fps": p.target_fps,
        "fps": round(p.fps, 2), "fps_simulated": round(p.fps_simulated, 2),
        "simulated_frame_cycles": p.simulated_cycles, "model_frame_cycles": p.frame_cycles,
        "fps_target_met": p.fps_simulated >= 25.0 and p.fps >= 25.0,
        "best_reachable_fps_model": round(best_fps(net, cfg), 2),
        "dsp": p.dsp, "dsp_budget": p.board.dsp, "bram18": p.bram18, "bram36_equiv": p.bram18 / 2,
        "bram36_budget": p.board.bram36,
        "max_fifo_depth": max(p.fifo_depths.values()),
        "max_fifo_over_its_map": round(fifo_ratio, 4),
        "reorg_fifo_depth": p.fifo_depths[edge], "reorg_fifo_min_deadlock_free": lo,
        "reorg_map_words": rh * rw * rc, "fifos_deadlock_free": deadlock_free,
        "largest_map_words": max(l.map_words for l in p.layers),
        "linebuf_words": sum(l.linebuf_words for l in p.layers),
        "macs_per_frame": sum(net.macs(l) for l in net.layers),
        "generate_s": round(gen_s, 2),
        "csim_counted_frame_cycles": max(r.cycles.values()),
        "csim_counted_fps": round(p.clock_mhz * 1e6 / max(r.cycles.values()), 2),
        "model_cycles_equal_counted": r.cycles == {l.name: l.cycles for l in p.layers},
        "csim_images": r.images, "csim_mismatches": r.mismatches,
        "csim_compile_s": round(r.compile_s, 2), "csim_s_per_frame": round(r.seconds_per_frame, 3),
        "skynet_tiny": tiny_dir,
    }
    return out, r.mismatches == 0 and rt.mismatches == 0


if __name__ == "__main__":
    sys.exit(main())
