"""HLS emitter figures as one JSON object: the parallelism model for skynet on Ultra96 at 200 MHz
(frame rate by the cycle model and by the timed dataflow simulation, DSPs, BRAMs, FIFO depths vs
feature maps) and the C simulation of the full skynet (mismatches against the golden model,
counted cycles, seconds per frame).

    .venv/bin/python bench/hls.py [--images N]
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=2)
    args = ap.parse_args()
    cfg = PRESETS["skynet-ultra96"]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        design = generate(cfg, Path(tmp) / "skynet")
        gen_s = time.monotonic() - t0
        r = run_csim(Path(tmp) / "skynet", images=args.images)
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
    print(json.dumps(out))
    return 0 if r.mismatches == 0 and rt.mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
