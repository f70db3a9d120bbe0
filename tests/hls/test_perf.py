"""The parallelism and resource model, and HlsConfig validation."""
from __future__ import annotations

import dataclasses

import pytest

from hwgen.errors import ConfigError
from hwgen.fpga.boards import get_board
from hwgen.hls import perf
from hwgen.hls.config import HlsConfig
from hwgen.hls.presets import BOARDS, PRESETS
from hwgen.nn.models import build_model


@pytest.fixture(scope="module")
def skynet():
    return build_model("skynet")


def test_skynet_on_ultra96_reaches_25_fps_within_the_board(skynet):
    cfg = PRESETS["skynet-ultra96"]
    p = perf.plan(skynet, cfg)
    assert p.fps >= 25.0
    assert p.dsp <= 360 and p.bram18 <= 2 * 216
    # every FIFO is far smaller than the map it carries (at most a quarter of it)
    for (src, dst), depth in p.fifo_depths.items():
        h, w, c = skynet.shape(src)
        assert depth <= h * w * c // 6, (src, dst, depth)
    # the delayed branch of the concat holds the 82 pixels it is forced to run ahead plus a row
    assert p.fifo_depths[("reorg", "cat")] == 82 * 768 + 40 * 768
    assert p.fifo_depths[("pool1", "b2_dw")] == 160 * 48          # bursty producer: one row
    assert p.fifo_depths[("b5_pw", "cat")] == 512
    d = p.to_dict()
    assert d["fps"] >= 25 and d["dsp"] == p.dsp and d["bram18"] == p.bram18 and len(d["layers"]) == 19


def test_cycles_follow_the_stated_formula(skynet):
    layer = skynet.layer("b5_pw")
    # 800 pixels read 384 words each; 800 output pixels of 512/8 * 384/4 steps, the 64 writing
    # steps taking 8 cycles each
    assert perf.conv_cycles(skynet, layer, 8, 4) == 800 * 384 + 800 * (6144 + 512 - 64)
    dw = skynet.layer("b1_dw")
    assert perf.conv_cycles(skynet, dw, 1, 1) == 162 * 322 * 3 + 160 * 320 * 3
    dsp, _, lb = perf.conv_resources(skynet, dw, 3, 1, PRESETS["skynet-ultra96"])
    assert dsp == 3 * 9 + 3 and lb == 2 * 320 * 3


def test_higher_targets_use_more_parallelism(skynet):
    slow = perf.plan(skynet, dataclasses.replace(PRESETS["skynet-ultra96"], fps=10))
    fast = perf.plan(skynet, PRESETS["skynet-ultra96"])
    assert slow.dsp < fast.dsp and slow.fps >= 10


def test_bram18_shapes():
    assert perf.bram18(64, 8) == 0                 # 512 bits: LUT RAM
    assert perf.bram18(2048, 9) == 1
    assert perf.bram18(2049, 8) == 2
    assert perf.bram18(512, 72) == 2
    assert perf.bram18(8192, 8, banks=4) == 4


def test_unreachable_frame_rate_names_the_best_reachable(skynet):
    cfg = dataclasses.replace(PRESETS["skynet-ultra96"], fps=100)
    with pytest.raises(ConfigError, match=r"frame rate 100 fps is unreachable for skynet on ultra96 at 200 MHz.*"
                                          r"the best reachable is 75\.\d fps"):
        perf.plan(skynet, cfg)


def test_a_network_too_big_for_the_board(skynet):
    cfg = dataclasses.replace(PRESETS["skynet-ultra96"], board="pynq-z2")
    with pytest.raises(ConfigError, match=r"skynet does not fit pynq-z2 at any frame rate: it needs at least "
                                          r"\d+ DSP and \d+ BRAM18 of 220 / 280"):
        perf.plan(skynet, cfg)


def test_parallelism_overrides(skynet):
    cfg = dataclasses.replace(PRESETS["skynet-ultra96"], fps=5, parallelism=("b5_pw=8x4",))
    assert perf.plan(skynet, cfg).layer("b5_pw").pe == 8
    with pytest.raises(ConfigError, match=r"layer b5_pw: output channels 512 are not divisible by PE 3"):
        perf.plan(skynet, dataclasses.replace(cfg, parallelism=("b5_pw=3x1",)))
    with pytest.raises(ConfigError, match=r"layer b5_pw: input channels per group 384 are not divisible by SIMD 5"):
        perf.plan(skynet, dataclasses.replace(cfg, parallelism=("b5_pw=1x5",)))
    with pytest.raises(ConfigError, match=r"frame rate 25 fps is unreachable for skynet on ultra96 at 200 MHz; "
                                          r"the best reachable is 1\.2 fps"):
        perf.plan(skynet, dataclasses.replace(cfg, fps=25, parallelism=("b5_pw=1x1",)))
    with pytest.raises(ConfigError, match=r"parallelism names 'pool1', which is not a conv layer of skynet"):
        perf.plan(skynet, dataclasses.replace(cfg, parallelism=("pool1=1x1",)))


@pytest.mark.parametrize("field, value, match", [
    ("act_width", 17, r"HlsConfig.act_width must be an integer in 2..16, not 17"),
    ("weight_width", 1, r"HlsConfig.weight_width must be an integer in 2..16, not 1"),
    ("board", "zedboard", r"HlsConfig.board must be one of pynq-z2, ultra96, ultra96v2, kv260, zcu104, not 'zedboard'"),
    ("fps", 0.0, r"HlsConfig.fps must be a positive number, not 0.0"),
    ("clock_mhz", -5.0, r"HlsConfig.clock_mhz must be a positive number, not -5.0"),
    ("parallelism", ("b1_pw:4",), r"parallelism entries must look like layer=PExSIMD \(e.g. b5_pw=8x4\), not 'b1_pw:4'"),
    ("multiplier_width", 7, r"^HlsConfig.multiplier_width must be an integer in 8..32, not 7$"),
    ("multiplier_width", 33, r"^HlsConfig.multiplier_width must be an integer in 8..32, not 33$"),
    ("seed", -1, r"^HlsConfig.seed must be an integer >= 0, not -1$"),
    ("clock_mhz", 1000.5, r"^HlsConfig.clock_mhz must be at most 1000, not 1000.5$"),
    ("fps", float("nan"), r"^HlsConfig.fps must be a positive number, not nan$"),
    ("fps", float("inf"), r"^HlsConfig.fps must be a positive number, not inf$"),
])
def test_config_errors(field, value, match):
    with pytest.raises(ConfigError, match=match):
        HlsConfig(**{field: value})


def test_config_type_error_and_slug():
    with pytest.raises(TypeError, match=r"HlsConfig.act_width must be int, not str '8'"):
        HlsConfig(act_width="8")
    for field, value in (("model", 3), ("weights", 1), ("calibration", None), ("fps", "25")):
        with pytest.raises(TypeError, match=rf"^HlsConfig.{field} must be "):
            HlsConfig(**{field: value})
    assert PRESETS["skynet-ultra96"].slug == "skynet_ultra96_a8w8_25fps_200mhz"
    assert HlsConfig(model="nets/my-net.json", fps=12.5).slug == "my_net_ultra96_a8w8_12p5fps_200mhz"
    assert set(BOARDS) == {"pynq-z2", "ultra96", "ultra96v2", "kv260", "zcu104"}
    assert BOARDS["ultra96v2"].part == get_board("ultra96v2").part     # the Vivado board's part
