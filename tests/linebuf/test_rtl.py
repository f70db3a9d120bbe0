"""cocotb tests of the generated LineBuffer and DepthwiseConv on Icarus and Verilator: each design
is built once per simulator and runs many cases through run-time sizes (widths down to 1, kernels
larger than the image, odd sizes with stride 2, frames back to back and with new sizes, random
backpressure on both sides), compared bit for bit with the golden models."""
from __future__ import annotations

import json

import pytest

from hwgen.configbase import config_to_dict
from hwgen.linebuf.config import DepthwiseConfig, LineBufferConfig
from hwgen.linebuf.model import emission_steps, frame_cycles
from hwgen.linebuf.rtl import DEPTHWISE_LATENCY, LINEBUF_LATENCY, generate
from hwgen.sim import runner

LB = LineBufferConfig
DW = DepthwiseConfig

# Designs (generation-time choices) and the run-time cases each runs.
DESIGNS = {
    # K=3 same: widths 1 and 2, height 1, full size, back to back and resized frames.
    "k3_same": (LB(kernel=3, stride=1, padding="same", max_width=9, max_height=8, channels=2,
                   data_width=8), [
        {"frames": [[8, 9], [8, 9], [8, 9]], "seed": 1},
        {"frames": [[5, 1], [5, 1], [1, 1], [1, 6], [2, 2], [3, 9]], "seed": 2, "p_in": 0.3, "p_out": 0.4},
        {"frames": [[4, 7], [4, 7], [6, 3], [6, 3]], "seed": 3, "p_in": 0.5, "p_out": 0.0},
        {"frames": [[7, 8], [7, 8]], "seed": 4, "p_in": 0.0, "p_out": 0.6},
    ]),
    # Stride 2, same padding with odd and even sizes; a non-zero pad value.
    "k3_s2_same": (LB(kernel=3, stride=2, padding="same", pad_value=-3, max_width=9, max_height=9,
                      channels=2, data_width=8), [
        {"frames": [[7, 5], [7, 5], [6, 8], [9, 9], [1, 1], [2, 3]], "seed": 5, "p_in": 0.2, "p_out": 0.3},
        {"frames": [[5, 7], [5, 7], [5, 7]], "seed": 6},
    ]),
    # No padding, K=5 larger than some images (no output at all), exactly K, non-square.
    "k5_none": (LB(kernel=5, stride=1, padding="none", max_width=8, max_height=8, channels=1,
                   data_width=6), [
        {"frames": [[3, 3], [5, 5], [4, 8], [8, 7], [8, 7], [6, 5]], "seed": 7, "p_in": 0.3, "p_out": 0.3},
    ]),
    # Explicit asymmetric padding, K=7 larger than the image, stride 2; a pixel in two beats.
    "k7_s2_explicit_x1": (LB(kernel=7, stride=2, padding=(3, 2, 1, 4), pad_value=9, max_width=6,
                             max_height=6, channels=2, channels_per_beat=1, data_width=4), [
        {"frames": [[4, 5], [4, 5], [1, 1], [6, 6], [3, 2]], "seed": 8, "p_in": 0.25, "p_out": 0.25},
    ]),
    # K=1: pass-through windows, a pixel in three beats.
    "k1_x1": (LB(kernel=1, stride=1, padding="none", max_width=5, max_height=5, channels=3,
                 channels_per_beat=1, data_width=3), [
        {"frames": [[5, 5], [1, 5], [5, 1], [5, 1]], "seed": 9, "p_in": 0.3, "p_out": 0.5},
    ]),
    # Depthwise engine: 4 channels, 2 per cycle, every activation clamp, backpressure.
    "dw_k3_same_p2": (DW(kernel=3, stride=1, padding="same", max_width=8, max_height=8, channels=4,
                         channels_per_cycle=2, data_width=8, weight_width=8, bias_width=24,
                         multiplier_width=16), [
        {"frames": [[8, 8], [8, 8]], "seed": 10, "activation": "none"},
        {"frames": [[5, 3], [1, 1], [3, 8]], "seed": 11, "activation": "relu6", "p_in": 0.3, "p_out": 0.4},
        {"frames": [[6, 7]], "seed": 12, "activation": "relu", "p_in": 0.0, "p_out": 0.5},
    ]),
    # Depthwise engine on pixels of 4 channels in two beats of 2, one beat per cycle.
    "dw_k3_same_x2p2": (DW(kernel=3, stride=1, padding="same", max_width=6, max_height=5,
                           channels=4, channels_per_beat=2, channels_per_cycle=2, data_width=8,
                           weight_width=8, bias_width=32, multiplier_width=16), [
        {"frames": [[5, 6], [5, 6], [1, 1], [2, 6]], "seed": 16, "activation": "relu", "p_in": 0.3, "p_out": 0.3},
    ]),
    # K=3 same, a pixel of 6 channels in three beats of 2: widths 1 and 2, back to back, resized.
    "k3_same_x2": (LB(kernel=3, stride=1, padding="same", max_width=7, max_height=6, channels=6,
                      channels_per_beat=2, data_width=5), [
        {"frames": [[6, 7], [6, 7], [6, 7]], "seed": 14},
        {"frames": [[4, 1], [4, 1], [1, 1], [2, 2], [5, 7]], "seed": 15, "p_in": 0.3, "p_out": 0.4},
    ]),
    # Depthwise engine with stride 2, no padding: pixels of 8 channels in two beats of 4, each
    # beat in two cycles of 2 channels.
    "dw_k3_s2_none_x4p2": (DW(kernel=3, stride=2, padding="none", max_width=9, max_height=7,
                              channels=8, channels_per_beat=4, channels_per_cycle=2, data_width=8,
                              weight_width=6, bias_width=20, multiplier_width=12), [
        {"frames": [[7, 9], [7, 9], [3, 3], [2, 5]], "seed": 13, "activation": "relu", "p_in": 0.2, "p_out": 0.2},
    ]),
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each design's Verilog, generated once for the module."""
    out = {}
    root = tmp_path_factory.mktemp("linebuf_rtl")
    for name, (cfg, _cases) in DESIGNS.items():
        exp = generate(cfg, root / name)
        out[name] = (cfg, exp.verilog)
    return out


def _kind(cfg) -> str:
    return "dwconv" if isinstance(cfg, DepthwiseConfig) else "linebuf"


@pytest.mark.parametrize("name", list(DESIGNS))
def test_stream_matches_model(exported, simulator, name, tmp_path):
    cfg, verilog = exported[name]
    cases = DESIGNS[name][1]
    res = runner.run([verilog], verilog.stem, "hwgen.linebuf.tb_stream", simulator,
                     test_dir=tmp_path, params={"kind": _kind(cfg), "config": config_to_dict(cfg),
                                                "cases": cases})
    assert res.ok and res.tests == 2


@pytest.mark.parametrize("name", ["k3_same", "k3_same_x2", "dw_k3_same_p2", "dw_k3_same_x2p2"])
def test_full_rate_cycles(exported, simulator, name, tmp_path):
    """No bubbles: back-to-back frames come out exactly H x W pixels (beats per pixel x H x W
    cycles) apart, and a single frame's last window leaves at the cycle the model predicts."""
    cfg, verilog = exported[name]
    h, w = cfg.max_height, cfg.max_width
    nb = cfg.beats_per_pixel
    out = tmp_path / "cycles.json"
    geo = frame_cycles(h, w, cfg.kernel, cfg.stride, cfg.padding)
    exact = frame_cycles(h, w, cfg.kernel, cfg.stride, cfg.padding,
                         beats_per_pixel=nb)["latency_last"]
    n_out = emission_steps(h, w, cfg.kernel, cfg.stride, cfg.padding).size
    groups = cfg.groups if isinstance(cfg, DepthwiseConfig) else nb
    runner.run([verilog], verilog.stem, "hwgen.linebuf.tb_cycles", simulator, test_dir=tmp_path,
               testcase="measure_cycles",
               params={"height": h, "width": w, "frames": 3, "outs_per_frame": n_out * nb,
                       "beats_per_pixel": nb, "cycles_per_pixel": groups, "out": str(out)})
    r = json.loads(out.read_text())
    assert r["errors"] == [0, 0, 0]
    # Same padding, stride 1: one window per pixel, each taking `groups` cycles.
    assert r["periods"] == [groups * h * w] * 2
    # The last window's step ends nb - 1 beats after it starts (the model counts steps).
    if not isinstance(cfg, DepthwiseConfig):
        assert r["single_latency_last"] == exact
    elif cfg.groups_per_beat == 1:     # the engine keeps up with the line buffer
        assert r["single_latency_last"] == exact + DEPTHWISE_LATENCY
    else:
        assert r["single_latency_last"] <= (groups * h * w + geo["tail"] + LINEBUF_LATENCY
                                            + DEPTHWISE_LATENCY + groups)
