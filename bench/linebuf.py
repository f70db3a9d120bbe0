"""Line buffer and depthwise engine figures as one JSON object (the issue-5 acceptance bench).

For K=3, W=320, C=32, 8-bit, same padding (the ``default`` presets):

- ``linebuf.memory_bits``: memory bits in the design after Yosys infers memories (``memory
  -nomap; stat``), to compare with ``(K-1) x W x C x 8``;
- ``*.xilinx``: ``synth_xilinx`` LUT/FF/CARRY4/DSP/RAMB counts of the bare design;
- ``*.ecp5``: nextpnr-ecp5 fmax (LFE5U-85F) of the design inside ``hwgen.measure``'s three-pin
  I/O harness (``ecp5_fmax(harness=True)``), since the bare ports (2,600 pins for the line
  buffer) fit no package;
- ``*.cycles``: Verilator simulation at full rate with no backpressure: cycles between
  back-to-back frames (``H x W`` means no bubble) and the first-pixel-in to last-output-out
  latency of a single frame, next to the cycle model.

    .venv/bin/python bench/linebuf.py [--height 16] [--skip-pnr] [--only NAME ...]

``--only linebuf_x8`` / ``dwconv_x8`` measure the same designs with ``channels_per_beat=8`` (a
pixel in four beats).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hwgen.linebuf.config import DepthwiseConfig, LineBufferConfig  # noqa: E402
from hwgen.linebuf.model import emission_steps, frame_cycles  # noqa: E402
from hwgen.linebuf.model import DEPTHWISE_LATENCY, LINEBUF_LATENCY  # noqa: E402
from hwgen.linebuf.rtl import generate  # noqa: E402
from hwgen.measure import ecp5_fmax, memory_bits, synth_xilinx, work_dir  # noqa: E402
from hwgen.sim import runner  # noqa: E402


def cycles(verilog: Path, top: str, cfg, height: int, work: Path) -> dict:
    w = cfg.max_width
    n_out = emission_steps(height, w, cfg.kernel, cfg.stride, cfg.padding).size
    nb = cfg.beats_per_pixel
    groups = cfg.groups if isinstance(cfg, DepthwiseConfig) else nb
    out = work / "cycles.json"
    t0 = time.monotonic()
    runner.run([verilog], top, "hwgen.linebuf.tb_cycles", "verilator", test_dir=work / "sim",
               testcase="measure_cycles",
               params={"height": height, "width": w, "frames": 3, "outs_per_frame": n_out * nb,
                       "beats_per_pixel": nb, "cycles_per_pixel": groups, "out": str(out)})
    r = json.loads(out.read_text())
    model = frame_cycles(height, w, cfg.kernel, cfg.stride, cfg.padding)
    res = {"height": height, "width": w, "cycles_per_pixel": groups,
           "back_to_back_period": r["periods"], "groups_x_h_x_w": height * w * groups,
           "single_frame_latency": r["single_latency_last"],
           "latency_minus_groups_x_h_x_w": r["single_latency_last"] - height * w * groups,
           "model_tail_steps": model["tail"], "sim_seconds": round(time.monotonic() - t0, 1)}
    dwconv = isinstance(cfg, DepthwiseConfig)
    if not dwconv or cfg.groups_per_beat == 1:      # the engine keeps up with the line buffer
        lat = LINEBUF_LATENCY + (DEPTHWISE_LATENCY if dwconv else 0)
        res["model_latency"] = frame_cycles(height, w, cfg.kernel, cfg.stride, cfg.padding,
                                            latency=lat, beats_per_pixel=nb)["latency_last"]
    return res


def measure(name: str, cfg, args, work: Path) -> dict:
    res: dict = {"config": cfg.slug}
    exp = generate(cfg, work / name)
    top = exp.verilog.stem
    t0 = time.monotonic()
    res.update(memory_bits([exp.verilog], top))
    res["expected_memory_bits"] = cfg.memory_bits
    res["xilinx"] = synth_xilinx([exp.verilog], top)
    res["xilinx_seconds"] = round(time.monotonic() - t0, 1)
    if not args.skip_pnr:
        t0 = time.monotonic()
        res["ecp5"] = ecp5_fmax([exp.verilog], top, device="85k", package="CABGA381",
                                target_mhz=25.0, harness=True)
        res["ecp5_seconds"] = round(time.monotonic() - t0, 1)
    res["cycles"] = cycles(exp.verilog, top, cfg, args.height, work / f"{name}_cycles")
    return res


def main() -> int:
    lb = LineBufferConfig(kernel=3, stride=1, padding="same", max_width=320, max_height=320,
                          channels=32, data_width=8)
    dw = DepthwiseConfig(kernel=3, stride=1, padding="same", max_width=320, max_height=320,
                         channels=32, data_width=8, channels_per_cycle=8)
    # The acceptance designs, then the same with a pixel in four beats of 8 channels.
    designs = {"linebuf": lb, "dwconv": dw,
               "linebuf_x8": dataclasses.replace(lb, channels_per_beat=8),
               "dwconv_x8": dataclasses.replace(dw, channels_per_beat=8)}
    ap = argparse.ArgumentParser()
    ap.add_argument("--height", type=int, default=16, help="run-time frame height for the cycle runs")
    ap.add_argument("--skip-pnr", action="store_true", help="leave out nextpnr-ecp5")
    ap.add_argument("--only", choices=list(designs), action="append",
                    help="measure this design only (repeatable; default linebuf and dwconv)")
    args = ap.parse_args()
    with work_dir("bench-linebuf-") as work:
        out = {}
        for name in args.only or ["linebuf", "dwconv"]:
            cfg = designs[name]
            out[name] = measure(name, cfg, args, work)
            if name == "linebuf":
                out["memory_bits_exact"] = out["linebuf"]["memory_bits"] == lb.memory_bits
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
