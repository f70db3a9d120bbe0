"""The network IR, the built-in models, float parameters and quantization."""
from __future__ import annotations

import numpy as np
import pytest

from hwgen.errors import ConfigError, ModelError
from hwgen.hls import model as golden
from hwgen.nn.ir import Layer, Network
from hwgen.nn.models import build_model, fold_batchnorm, load_params, random_params, save_params
from hwgen.nn.quantize import float_forward, load_quant, quantize_network, save_quant


def test_skynet_has_the_published_structure():
    net = build_model("skynet")
    assert net.input_shape == (160, 320, 3)
    assert net.shape("b1_pw") == (160, 320, 48)
    assert net.shape("b3_pw") == (40, 80, 192)
    assert net.shape("reorg") == (20, 40, 768)
    assert net.shape("cat") == (20, 40, 1280)
    assert net.shape("b6_pw") == (20, 40, 96)
    assert net.shape("head_conv") == (20, 40, 10)
    assert net.layer("b6_dw").depthwise and net.layer("b6_dw").activation == "relu6"
    assert [l.name for l in net.consumers("b3_pw")] == ["pool3", "reorg"]
    assert sum(net.macs(l) for l in net.layers) == 463_718_400


def test_tiny_keeps_the_shape_of_skynet():
    big, tiny = build_model("skynet"), build_model("skynet-tiny")
    assert [(l.name, l.kind) for l in big.layers] == [(l.name, l.kind) for l in tiny.layers]
    assert tiny.input_shape == (32, 64, 3) and tiny.shape("head_conv") == (4, 8, 10)


def test_network_round_trips_through_a_dict():
    net = build_model("skynet-tiny")
    again = Network.from_dict(net.to_dict())
    assert again.layers == net.layers and again.input_shape == net.input_shape


def _net(*layers, shape=(8, 8, 4)):
    return Network(name="t", input_shape=shape, layers=layers)


@pytest.mark.parametrize("build, match", [
    (lambda: Layer(name="x", kind="dense"), r"layer x: unknown layer kind 'dense'; valid kinds: conv, maxpool"),
    (lambda: Layer(name="x", kind="conv", activation="gelu"), r"layer x: activation must be one of none, relu, relu6, not 'gelu'"),
    (lambda: _net(Layer(name="a", kind="conv", out_channels=4, inputs=("nope",))),
     r"layer a: input 'nope' is not an earlier layer"),
    (lambda: _net(Layer(name="a", kind="conv", out_channels=6, groups=4)),
     r"layer a: shapes do not chain: groups=4 must divide input channels 4 and output channels 6"),
    (lambda: _net(Layer(name="a", kind="reorg", stride=3)),
     r"layer a: shapes do not chain: reorg by 3 needs H and W divisible by 3, not 8x8"),
    (lambda: _net(Layer(name="a", kind="maxpool", kernel=2, stride=2),
                  Layer(name="b", kind="concat", inputs=("input", "a"))),
     r"layer b: shapes do not chain: concat inputs have different sizes 8x8 vs 4x4"),
    (lambda: _net(Layer(name="a", kind="conv", out_channels=4, kernel=9)),
     r"layer a: shapes do not chain: a 9x9 window does not fit the 8x8 input"),
    (lambda: _net(Layer(name="a", kind="head", anchors=2)),
     r"layer a: shapes do not chain: a head with 2 anchors needs 10 input channels, not 4"),
    (lambda: _net(Layer(name="a", kind="conv", out_channels=4), Layer(name="a", kind="conv", out_channels=4)),
     r"network t: layer name 'a' is used twice"),
    (lambda: build_model("yolo"), r"unknown model 'yolo'; built-in models: skynet, skynet-tiny"),
    (lambda: Network.from_dict({"name": "n", "input_shape": [4, 4, 1], "layers": [{"name": "a", "kind": "conv", "size": 3}]}),
     r"layer a: no field 'size'; valid fields: name, kind"),
    (lambda: Network.from_dict({"name": "n", "input_shape": [4, 4, 1], "layers": {"a": 1}}),
     r"^network n: layers must be a list of layer mappings, not dict$"),
    (lambda: Network.from_dict({"name": "n", "input_shape": [4, 4, 1], "layers": [1]}),
     r"^network n: layer 0 must be a mapping of its fields, not int$"),
    (lambda: Network.from_dict({"name": "n", "input_shape": [4, 4, 1], "layers": [{"kind": "conv"}]}),
     r"^layer 0: missing field 'name'$"),
    (lambda: Network.from_dict({"name": "n", "input_shape": [4.5, 4, 1], "layers": [{"name": "a", "kind": "reorg"}]}),
     r"^network n: input shape must be three positive integers \(H, W, C\), not \[4.5, 4, 1\]$"),
    (lambda: Network.from_dict({"name": "n", "input_shape": "44", "layers": [{"name": "a", "kind": "reorg"}]}),
     r"^network n: input shape must be three positive integers \(H, W, C\), not '44'$"),
    # a size the golden model cannot hold (this one was killed for memory in generate)
    (lambda: Network.from_dict({"name": "n", "input_shape": [100000, 100000, 3], "layers": [{"name": "a", "kind": "reorg"}]}),
     r"^network n: input H and W must be at most 4096, not 100000x100000$"),
    (lambda: _net(Layer(name="a", kind="conv", out_channels=5000)),
     r"^layer a: out_channels must be at most 4096, not 5000$"),
    (lambda: Network(name="n", input_shape=(4096, 4096, 8), layers=(Layer(name="a", kind="reorg"),)),
     r"^network n: feature map input is 4096x4096x8 = 134217728 words; at most 67108864 \(2\*\*26\) are allowed$"),
])
def test_bad_networks_are_refused(build, match):
    with pytest.raises(ModelError, match=match):
        build()


def test_params_round_trip_and_bad_files(tmp_path):
    net = build_model("skynet-tiny")
    p = random_params(net, 3)
    save_params(p, tmp_path / "w.npz")
    q = load_params(net, tmp_path / "w.npz")
    assert np.array_equal(q["b2_pw"]["weight"], p["b2_pw"]["weight"])
    del p["b2_pw"]["bn_var"]
    save_params(p, tmp_path / "bad.npz")
    with pytest.raises(ModelError, match=r"has no array 'b2_pw.bn_var' \(shape \(16,\)\)"):
        load_params(net, tmp_path / "bad.npz")
    p = random_params(net, 3)
    p["b1_dw"]["weight"] = np.zeros((3, 3, 1, 4))
    save_params(p, tmp_path / "bad2.npz")
    with pytest.raises(ModelError, match=r"b1_dw.weight must have shape \(3, 3, 1, 3\), not \(3, 3, 1, 4\)"):
        load_params(net, tmp_path / "bad2.npz")
    with pytest.raises(ModelError, match=r"weights file .*nope.npz does not exist"):
        load_params(net, tmp_path / "nope.npz")


def test_batchnorm_folding_matches_unfolded_math():
    net = build_model("skynet-tiny")
    p = random_params(net, 0)
    f = fold_batchnorm(net, p)["b1_pw"]
    b = p["b1_pw"]
    x = np.random.default_rng(0).normal(size=3)
    y = x @ b["weight"][0, 0] + b["bias"]
    want = (y - b["bn_mean"]) / np.sqrt(b["bn_var"] + 1e-5) * b["bn_gamma"] + b["bn_beta"]
    assert np.allclose(x @ f["weight"][0, 0] + f["bias"], want)


def test_quantization_is_per_channel_symmetric_and_tracks_the_float_model(tmp_path):
    net = build_model("skynet-tiny")
    params = random_params(net, 0)
    q = quantize_network(net, params)
    for name, qc in q.convs.items():
        # every output channel uses the full symmetric weight range
        assert np.all(np.max(np.abs(qc.weight), axis=(0, 1, 2)) == 127), name
        assert qc.weight.min() >= -127
    # the concat keeps one scale per channel (reorg's and b5_pw's)
    assert len(q.scales["cat"]) == 96 and len(set(q.scales["cat"].round(12))) == 2
    img = np.random.default_rng(5).uniform(0, 1, net.input_shape)
    fl = float_forward(net, fold_batchnorm(net, params), img)
    ints = golden.forward(q, q.quantize_input(img))
    for name in ("b1_pw", "b3_pw", "b6_pw", "head_conv"):
        deq = ints[name] * q.scales[name]
        corr = np.corrcoef(deq.reshape(-1), fl[name].reshape(-1))[0, 1]
        assert corr > 0.95, (name, corr)
    save_quant(q, tmp_path / "q.npz")
    again = load_quant(tmp_path / "q.npz")
    assert np.array_equal(again.convs["b4_pw"].multiplier, q.convs["b4_pw"].multiplier)
    assert np.array_equal(golden.forward(again, q.quantize_input(img))["head"], ints["head"])


def test_quantization_refuses_bad_widths():
    net = build_model("skynet-tiny")
    with pytest.raises(ConfigError, match=r"act_width must be an integer in 2..16, not 17"):
        quantize_network(net, random_params(net), act_width=17)


def test_head_decode_picks_the_first_highest_confidence():
    m = np.zeros((2, 3, 10), np.int64)
    m[1, 2, 9] = 7           # cell (1, 2), anchor 1
    m[0, 1, 4] = 7           # cell (0, 1), anchor 0: same confidence, earlier in stream order
    m[0, 1, :4] = [1, 2, 3, 4]
    assert golden.decode(m, 2).reshape(-1).tolist() == [7, 0, 0, 1, 1, 2, 3, 4]
    m[1, 2, 9] = 8
    m[1, 2, 5:9] = [-1, -2, -3, -4]
    assert golden.decode(m, 2).reshape(-1).tolist() == [8, 1, 1, 2, -1, -2, -3, -4]


def test_golden_model_refuses_out_of_range_images():
    q = quantize_network(build_model("skynet-tiny"), random_params(build_model("skynet-tiny")))
    with pytest.raises(ModelError, match=r"image values must be integers in -128..127 for 8-bit activations"):
        golden.forward(q, np.full((32, 64, 3), 200))
    with pytest.raises(ModelError, match=r"image shape \(4, 4, 3\) does not match the network input \(32, 64, 3\)"):
        golden.forward(q, np.zeros((4, 4, 3), np.int64))


def test_box_from_record_is_inside_the_cell():
    net = build_model("skynet-tiny")
    q = quantize_network(net, random_params(net))
    rec = golden.forward(q, q.quantize_input(np.full(net.input_shape, 0.5)))["head"]
    box = golden.box_from_record(rec, q)
    conf, a, gy, gx = rec.reshape(-1)[:4]
    assert gx / 8 <= box["cx"] <= (gx + 1) / 8 and gy / 4 <= box["cy"] <= (gy + 1) / 4
    assert box["w"] > 0 and box["h"] > 0 and 0 < box["confidence"] < 1 and box["anchor"] == a
