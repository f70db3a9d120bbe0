"""``hwgen demo`` step for line buffers: generate the default line buffer and depthwise engine,
then stream frames through a small depthwise engine in RTL simulation (cocotb, random
backpressure) and compare every output with the golden model."""
from __future__ import annotations

import time
from pathlib import Path

from ..cliutil import table
from ..configbase import config_to_dict
from .config import DepthwiseConfig
from .model import frame_cycles
from .presets import DWCONV_PRESETS, LINEBUF_PRESETS


def run(out: Path, quick: bool = False) -> None:
    from ..sim import runner
    from .rtl import generate
    out = Path(out)
    rows = []
    for kind, cfg in (("linebuf", LINEBUF_PRESETS["default"]), ("dwconv", DWCONV_PRESETS["default"])):
        exp = generate(cfg, out / kind)
        cyc = frame_cycles(240, cfg.max_width, cfg.kernel, cfg.stride, cfg.padding)
        per = cfg.groups if isinstance(cfg, DepthwiseConfig) else cfg.beats_per_pixel
        rows.append([kind, cfg.slug, cfg.memory_bits, cfg.window_width,
                     f"{per * cyc['period']} (+{cyc['tail']} tail)", exp.verilog.name])
    print(table(rows, ["design", "slug", "line memory bits", "window beat bits",
                       "cycles per 320x240 frame", "verilog"]))

    cfg = DepthwiseConfig(kernel=3, stride=1, padding="same", max_width=12, max_height=10,
                          channels=4, channels_per_beat=2, channels_per_cycle=2, data_width=8,
                          weight_width=8, bias_width=24, multiplier_width=16)
    exp = generate(cfg, out / "dwconv_sim")
    frames = [[10, 12], [10, 12], [7, 5]] if not quick else [[10, 12], [7, 5]]
    cases = [{"frames": frames, "seed": 3, "activation": "relu6", "p_in": 0.2, "p_out": 0.3}]
    sim = "icarus" if quick else "verilator"
    t0 = time.monotonic()
    res = runner.run([exp.verilog], exp.verilog.stem, "hwgen.linebuf.tb_stream", sim,
                     test_dir=out / "dwconv_sim" / "sim", testcase="streams_match_model",
                     params={"kind": "dwconv", "config": config_to_dict(cfg), "cases": cases},
                     check=False)
    pixels = sum(h * w for h, w in frames)
    print(f"depthwise engine {cfg.slug} on {sim}: {len(frames)} frames ({pixels} pixels "
          f"in {cfg.beats_per_pixel} beats each, "
          f"random backpressure) vs golden model: {'0 mismatches' if res.ok else 'MISMATCH'} "
          f"[{time.monotonic() - t0:.1f} s]")
    if not res.ok:
        raise RuntimeError(f"depthwise engine simulation failed; log in {res.test_dir}")
