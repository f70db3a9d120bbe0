"""Configs, ports helpers, golden stream models and the CLI of the line-buffer capability."""
from __future__ import annotations

import json
import subprocess
import sys
from itertools import product

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwgen.cli import main
from hwgen.configbase import apply_overrides, config_from_dict, config_to_dict
from hwgen.errors import ConfigError
from hwgen.linebuf.config import DepthwiseConfig, LineBufferConfig
from hwgen.linebuf.model import depthwise_reference, emission_steps, frame_cycles, pad_amounts
from hwgen.linebuf.ports import pack_values, param_writes, unpack_values

LB = "LineBufferConfig"
DW = "DepthwiseConfig"


@pytest.mark.parametrize("kwargs, message", [
    ({"kernel": 0}, rf"^{LB}.kernel must be an integer in 1..7, not 0$"),
    ({"kernel": 8}, rf"^{LB}.kernel must be an integer in 1..7, not 8$"),
    ({"stride": 3}, rf"^{LB}.stride must be one of 1, 2, not 3$"),
    ({"padding": "valid"}, rf"^{LB}.padding must be none, same or four integers \(top, bottom, left, right\), not 'valid'$"),
    ({"padding": (1, 1, 1)}, rf"^{LB}.padding must be none, same or four integers"),
    ({"kernel": 3, "padding": (2, 1, 0, 0)}, rf"^{LB}.padding must be non-negative with top\+bottom and left\+right at most kernel-1 \(2\), not \(2, 1, 0, 0\)$"),
    ({"kernel": 3, "padding": (0, 0, -1, 0)}, rf"^{LB}.padding must be non-negative"),
    ({"pad_value": 256}, rf"^{LB}.pad_value must be an integer in -128..255, not 256$"),
    ({"pad_value": -129}, rf"^{LB}.pad_value must be an integer in -128..255, not -129$"),
    ({"max_width": 0}, rf"^{LB}.max_width must be an integer in 1..4096, not 0$"),
    ({"max_width": 4097}, rf"^{LB}.max_width must be an integer in 1..4096, not 4097$"),
    ({"max_height": 0}, rf"^{LB}.max_height must be an integer in 1..4096, not 0$"),
    ({"channels": 0}, rf"^{LB}.channels must be an integer in 1..1024, not 0$"),
    ({"data_width": 33}, rf"^{LB}.data_width must be an integer in 1..32, not 33$"),
    ({"channels_per_beat": 0}, rf"^{LB}.channels_per_beat must be an integer in 1..32, not 0$"),
    ({"channels_per_beat": 33}, rf"^{LB}.channels_per_beat must be an integer in 1..32, not 33$"),
    ({"channels": 12, "channels_per_beat": 5}, rf"^{LB}.channels_per_beat must divide channels \(12\), not 5$"),
])
def test_linebuffer_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        LineBufferConfig(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"data_width": 1}, rf"^{DW}.data_width must be an integer in 2..16, not 1$"),
    ({"data_width": 99}, rf"^{DW}.data_width must be an integer in 2..16, not 99$"),
    # activations are signed: 200 would reach the hardware as the 8-bit pattern of -56
    ({"pad_value": 200}, rf"^{DW}.pad_value must be an integer in -128..127 \(signed activations\), not 200$"),
    ({"data_width": 4, "pad_value": -9}, rf"^{DW}.pad_value must be an integer in -8..7 \(signed activations\), not -9$"),
    ({"weight_width": 17}, rf"^{DW}.weight_width must be an integer in 2..16, not 17$"),
    ({"bias_width": 49}, rf"^{DW}.bias_width must be an integer in 2..48, not 49$"),
    ({"multiplier_width": 1}, rf"^{DW}.multiplier_width must be an integer in 2..32, not 1$"),
    ({"channels_per_cycle": 0}, rf"^{DW}.channels_per_cycle must be an integer in 1..32, not 0$"),
    ({"channels_per_cycle": 64}, rf"^{DW}.channels_per_cycle must be an integer in 1..32, not 64$"),
    ({"channels_per_cycle": 3}, rf"^{DW}.channels_per_cycle must be a power of two dividing channels \(32\) or equal to it, not 3$"),
    ({"channels": 24, "channels_per_cycle": 16}, rf"^{DW}.channels_per_cycle must be a power of two dividing channels \(24\)"),
    ({"bias_width": 48}, rf"^{DW}: \(acc \+ bias\) x multiplier must fit 63 bits, the golden model's int64 \(max\(acc_width, bias_width\) \+ 1 \+ multiplier_width\), not 65$"),
    ({"channels_per_beat": 4, "channels_per_cycle": 8}, rf"^{DW}.channels_per_cycle must be an integer in 1..4, not 8$"),
    ({"channels": 12, "channels_per_beat": 6, "channels_per_cycle": 4}, rf"^{DW}.channels_per_cycle must be a power of two dividing channels_per_beat \(6\), not 4$"),
    ({"channels": 12, "channels_per_beat": 6, "channels_per_cycle": 6}, rf"^{DW}.channels_per_cycle must be a power of two dividing channels_per_beat \(6\), not 6$"),
])
def test_depthwise_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        DepthwiseConfig(**kwargs)


def test_config_types_and_values():
    with pytest.raises(TypeError, match=rf"^{LB}.kernel must be int, not str '3'$"):
        LineBufferConfig(kernel="3")
    with pytest.raises(TypeError, match=rf"^{LB}.stride must be int, not bool True$"):
        LineBufferConfig(stride=True)
    cfg = LineBufferConfig(kernel=3, max_width=320, channels=32, data_width=8)
    assert cfg.memory_bits == 2 * 320 * 32 * 8
    assert cfg.window_width == 9 * 32 * 8
    assert cfg.slug == "k3s1same_w320h320c32b8"
    assert LineBufferConfig(kernel=5, padding=[1, 2, 0, 3]).slug.startswith("k5s1p1203_")
    assert LineBufferConfig(pad_value=-1, data_width=4).pad_bits == 0xF
    dw = DepthwiseConfig(channels=6, channels_per_cycle=6)
    assert dw.groups == 1 and dw.acc_width == 8 + 8 + 4
    # A pixel split into beats: sizes per beat, the memory unchanged, the slug names the split.
    sp = LineBufferConfig(kernel=3, max_width=320, channels=32, channels_per_beat=8, data_width=8)
    assert (sp.beats_per_pixel, sp.beat_width, sp.window_width) == (4, 64, 9 * 64)
    assert sp.memory_bits == cfg.memory_bits and sp.slug == "k3s1same_w320h320c32x8b8"
    assert LineBufferConfig(channels=32, channels_per_beat=32).slug == cfg.slug
    dws = DepthwiseConfig(channels=32, channels_per_beat=8, channels_per_cycle=2)
    assert (dws.groups, dws.groups_per_beat, dws.linebuf.beats_per_pixel) == (16, 4, 4)
    assert config_from_dict(DepthwiseConfig, config_to_dict(dws)) == dws
    assert apply_overrides(LineBufferConfig(), ["channels_per_beat=4"]).beats_per_pixel == 8
    assert DepthwiseConfig(channels=32, channels_per_cycle=8).groups == 4
    # Round trip and --set, including padding given as text.
    assert config_from_dict(DepthwiseConfig, config_to_dict(dw)) == dw
    assert apply_overrides(LineBufferConfig(), ["padding=1,1,0,2"]).padding == (1, 1, 0, 2)
    assert apply_overrides(LineBufferConfig(padding=(1, 1, 1, 1)), ["padding=none"]).padding == "none"


def test_pack_helpers_round_trip():
    vals = [-3, 5, -128, 127]
    assert list(unpack_values(pack_values(vals, 8), 8, 4, signed=True)) == vals
    cfg = DepthwiseConfig(kernel=3, channels=2, channels_per_cycle=2, data_width=8, weight_width=4,
                          bias_width=10, multiplier_width=6)
    w = np.arange(18).reshape(3, 3, 2) % 8 - 4
    writes = param_writes(cfg, w, [3, -4], [5, -6], [7, 0], 0, 100)
    assert [a for a, _ in writes] == [0, 1, 2]
    rec = writes[1][1]
    assert list(unpack_values(rec, 4, 9, signed=True)) == list(w[:, :, 1].reshape(-1))
    assert unpack_values(rec >> 36, 10, 1, signed=True)[0] == -4
    assert unpack_values(rec >> 46, 6, 1, signed=True)[0] == -6
    assert writes[2][1] == 100 << 8


_PW = DepthwiseConfig(kernel=3, channels=2, channels_per_cycle=2, data_width=8, weight_width=4,
                      bias_width=10, multiplier_width=6)
_W = np.zeros((3, 3, 2), int)


@pytest.mark.parametrize("args, message", [
    ((np.zeros((3, 3, 3), int), [0, 0], [1, 1], [0, 0], 0, 1),
     r"^param_writes: weights must have shape \(3, 3, 2\) \[K, K, C\], not \(3, 3, 3\)$"),
    ((np.full((3, 3, 2), 8), [0, 0], [1, 1], [0, 0], 0, 1),
     r"^param_writes: weights must be integers in -8..7 \(weight_width 4\), not 8 \(channel 0\)$"),
    ((_W, [0, 512], [1, 1], [0, 0], 0, 1),
     r"^param_writes: bias must be integers in -512..511 \(bias_width 10\), not 512 \(channel 1\)$"),
    ((_W, [0, 0], [1, -33], [0, 0], 0, 1),
     r"^param_writes: multiplier must be integers in -32..31 \(multiplier_width 6\), not -33 \(channel 1\)$"),
    ((_W, [0, 0], [1, 1], [0, 64], 0, 1),
     r"^param_writes: shift must be integers in 0..63 \(6-bit field\), not 64 \(channel 1\)$"),
    ((_W, [0], [1, 1], [0, 0], 0, 1), r"^param_writes: bias must have 2 values \(one per channel\), not 1$"),
    ((_W.astype(float) + 0.5, [0, 0], [1, 1], [0, 0], 0, 1), r"^param_writes: weights must be integers, not float64$"),
    ((_W, [0, 0], [1, 1], [0, 0], 5, 4), r"^param_writes: the clamp needs -128 <= lo <= hi <= 127, not lo=5, hi=4$"),
    ((_W, [0, 0], [1, 1], [0, 0], -129, 4), r"^param_writes: the clamp needs -128 <= lo <= hi <= 127, not lo=-129, hi=4$"),
])
def test_param_writes_refuses_values_the_port_cannot_hold(args, message):
    """Out-of-range values were packed modulo their field width: the engine then computed with
    other numbers than the caller's."""
    with pytest.raises(ConfigError, match=message):
        param_writes(_PW, *args)


GEOMETRIES = [(k, s, p) for k, s, p in product(range(1, 8), (1, 2), ("none", "same"))]


@given(st.sampled_from(GEOMETRIES), st.integers(1, 9), st.integers(1, 9), st.integers(1, 9))
@settings(max_examples=300, deadline=None)
def test_emission_schedule_is_feasible(geo, h1, h2, w):
    """One window per step at most, and a frame's last window always comes before the first
    window of a next frame of the same width that follows it at once (the RTL relies on both)."""
    k, s, pad = geo
    a = emission_steps(h1, w, k, s, pad).reshape(-1)
    b = emission_steps(h2, w, k, s, pad).reshape(-1)
    assert np.all(np.diff(a) > 0)
    if a.size and b.size:
        assert a.max() < h1 * w + b.min()


@given(st.integers(1, 7), st.integers(1, 2), st.data())
@settings(max_examples=100, deadline=None)
def test_emission_schedule_explicit_padding(k, s, data):
    t = data.draw(st.integers(0, k - 1))
    b = data.draw(st.integers(0, k - 1 - t))
    l = data.draw(st.integers(0, k - 1))
    r = data.draw(st.integers(0, k - 1 - l))
    h, w = data.draw(st.integers(1, 8)), data.draw(st.integers(1, 8))
    steps = emission_steps(h, w, k, s, (t, b, l, r)).reshape(-1)
    assert np.all(np.diff(steps) > 0)
    if steps.size:
        assert steps.min() >= 0 and steps.max() < h * w + (k - 1 - t) * w + (k - 1 - l)


def test_frame_cycles_same_padding():
    c = frame_cycles(16, 320, 3, 1, "same")
    assert c == {"period": 16 * 320, "tail": 321, "latency_last": 16 * 320 + 321 + 3}
    assert frame_cycles(4, 4, 5, 1, "none")["latency_last"] == 4 * 4 + 3   # no output at all
    c2 = frame_cycles(16, 320, 3, 1, "same", beats_per_pixel=4)
    assert c2 == {"period": 4 * 16 * 320, "tail": 321, "latency_last": 4 * (16 * 320 + 321) + 3}


def test_depthwise_reference_matches_a_plain_loop():
    rng = np.random.default_rng(0)
    h, w, c, k = 5, 4, 3, 3
    x = rng.integers(-128, 128, size=(h, w, c))
    wt = rng.integers(-128, 128, size=(k, k, c))
    bias, mult, shift = rng.integers(-999, 999, c), rng.integers(1, 2000, c), rng.integers(0, 14, c)
    y = depthwise_reference(x, wt, bias, mult, shift, 0, 60, stride=2, padding="same", pad_value=-1)
    t, _, l, _ = pad_amounts(k, 2, "same", h, w)
    for oy, ox, ch in product(range(y.shape[0]), range(y.shape[1]), range(c)):
        acc = 0
        for ky, kx in product(range(k), range(k)):
            yy, xx = oy * 2 - t + ky, ox * 2 - l + kx
            v = x[yy, xx, ch] if 0 <= yy < h and 0 <= xx < w else -1
            acc += int(v) * int(wt[ky, kx, ch])
        sh = int(shift[ch])
        q = ((acc + int(bias[ch])) * int(mult[ch]) + ((1 << sh) >> 1)) >> sh
        assert y[oy, ox, ch] == min(max(q, 0), 60)


# --- CLI ---------------------------------------------------------------------------------------

def test_cli_linebuf_generate_is_deterministic(tmp_path, capsys):
    args = ["linebuf", "generate", "--kernel", "3", "--stride", "2", "--padding", "1,1,0,2",
            "--max-width", "12", "--max-height", "6", "--channels", "4", "--data-width", "8"]
    assert main(args + ["--out", str(tmp_path / "a"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["memory_bits"] == 2 * 12 * 4 * 8 and res["window_beat_bits"] == 9 * 32
    assert main(args + ["--out", str(tmp_path / "b")]) == 0
    name = "hwgen_linebuf_k3s2p1102_w12h6c4b8.v"
    a, b = (tmp_path / "a" / name).read_bytes(), (tmp_path / "b" / name).read_bytes()
    assert a == b and b"module hwgen_linebuf_k3s2p1102_w12h6c4b8" in a
    man = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert man["config"]["padding"] == [1, 1, 0, 2] and man["memory_bits"] == 768
    assert {p["name"] for p in man["ports"]} >= {"s_axis__tdata", "m_axis__tuser", "width",
                                                 "err_short_row"}
    assert man["beats_per_pixel"] == 1 and man["channels_per_beat"] == 4


def test_cli_channels_per_beat(tmp_path, capsys):
    args = ["--max-width", "12", "--max-height", "6", "--channels", "6", "--channels-per-beat", "2"]
    assert main(["linebuf", "generate", *args, "--out", str(tmp_path / "l"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert (res["beats_per_pixel"], res["beat_bits"], res["window_beat_bits"]) == (3, 16, 9 * 16)
    assert res["memory_bits"] == 2 * 12 * 6 * 8
    man = json.loads((tmp_path / "l" / "manifest.json").read_text())
    assert man["config"]["channels_per_beat"] == 2 and man["beats_per_pixel"] == 3
    ports = {p["name"]: p["width"] for p in man["ports"]}
    assert ports["s_axis__tdata"] == 16 and ports["m_axis__tdata"] == 9 * 16
    assert main(["dwconv", "generate", *args, "--channels-per-cycle", "1", "--out",
                 str(tmp_path / "d"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["slug"] == "k3s1same_w12h6c6x2b8_p1w8" and res["cycles_per_window"] == 6
    man = json.loads((tmp_path / "d" / "manifest.json").read_text())
    ports = {p["name"]: p["width"] for p in man["ports"]}
    assert ports["s_axis__tdata"] == 16 and ports["m_axis__tdata"] == 16


def test_cli_dwconv_generate(tmp_path, capsys):
    cfgfile = tmp_path / "dw.json"
    cfgfile.write_text(json.dumps({"kernel": 5, "channels": 8, "channels_per_cycle": 4,
                                   "max_width": 10, "max_height": 10}))
    rc = main(["dwconv", "generate", "--config", str(cfgfile), "--set", "bias_width=20",
               "--padding", "none", "--out", str(tmp_path / "o"), "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res["slug"] == "k5s1none_w10h10c8b8_p4w8" and res["cycles_per_window"] == 2
    man = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert man["param_port"]["channel_record"]["bias"] == [25 * 8, 20]
    assert man["param_port"]["clamp_address"] == 8


@pytest.mark.parametrize("args, message", [
    (["linebuf", "generate", "--kernel", "0"], "LineBufferConfig.kernel must be an integer in 1..7, not 0"),
    (["linebuf", "generate", "--padding", "1,2"], "--padding must be none, same or top,bottom,left,right, not '1,2'"),
    (["dwconv", "generate", "--channels-per-cycle", "5"], "DepthwiseConfig.channels_per_cycle must be a power of two"),
    (["linebuf", "generate", "--preset", "huge"], "unknown preset 'huge'; valid presets: default, tiny"),
    (["linebuf", "generate", "--channels-per-beat", "5"], "LineBufferConfig.channels_per_beat must divide channels (32), not 5"),
])
def test_cli_errors_are_one_line_and_write_nothing(tmp_path, args, message):
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "hwgen", *args, "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hwgen: error: ") and message in lines[0]
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_generators_reject_wrong_config_types():
    from hwgen.linebuf.rtl import DepthwiseConv, LineBuffer, generate
    with pytest.raises(TypeError, match="^LineBuffer needs a LineBufferConfig, not dict$"):
        LineBuffer({})
    with pytest.raises(TypeError, match="^DepthwiseConv needs a DepthwiseConfig, not LineBufferConfig$"):
        DepthwiseConv(LineBufferConfig())
    with pytest.raises(TypeError, match="^generate needs a LineBufferConfig or DepthwiseConfig, not int$"):
        generate(3, "/nonexistent")
