"""The residual ``add`` and ``avgpool`` layers: shapes, quantization, the golden model, the built-in
ResNets, and their error messages."""
import numpy as np
import pytest

from hwgen.errors import ModelError
from hwgen.nn import (Layer, Network, build_model, calibration_images, float_forward, fold_batchnorm,
                      load_quant, quantize_network, random_params, save_quant)
from hwgen.nn.model import forward
from hwgen.nn.quant import requantize


def _two_branch(act="relu", pad="none", k=2) -> Network:
    return Network(name="res", input_shape=(6, 8, 4), layers=(
        Layer(name="a", kind="conv", inputs=("input",), out_channels=4, kernel=3, padding="same", activation="relu"),
        Layer(name="b", kind="conv", inputs=("input",), out_channels=4, kernel=1),
        Layer(name="s", kind="add", inputs=("a", "b", "input"), activation=act),
        Layer(name="p", kind="avgpool", kernel=k, stride=2, padding=pad),
    ))


@pytest.fixture(scope="module")
def qnet():
    net = _two_branch()
    return quantize_network(net, random_params(net, 3), calibration_images(net, 3, 1))


def test_add_and_avgpool_shapes():
    net = _two_branch()
    assert net.shape("s") == (6, 8, 4)
    assert net.shape("p") == (3, 4, 4)
    assert _two_branch(pad="same", k=3).shape("p") == (3, 4, 4)


def test_add_weights_bring_inputs_to_one_scale(qnet):
    qc = qnet.convs["s"]
    assert qc.weight.shape == (1, 1, 3, 4)
    assert not qc.bias.any()
    # the largest-scaled input of each channel gets the full weight, the others their scale ratio
    s_ins = np.stack([qnet.scales[n] for n in ("a", "b", "input")])
    assert (qc.weight[0, 0].max(axis=0) == 127).all()
    want = np.round(s_ins / (s_ins.max(axis=0) / 127))
    assert (qc.weight[0, 0] == want).all()
    assert qc.lo == 0                               # relu


def test_golden_model_against_its_definition(qnet):
    """The integer forward pass equals the formulas written out here, not through hwgen.nn.ops."""
    rng = np.random.default_rng(0)
    lo, hi = qnet.act_range
    img = rng.integers(lo, hi + 1, qnet.net.input_shape)
    maps = forward(qnet, img)
    qs = qnet.convs["s"]
    acc = sum(maps[n].astype(object) * qs.weight[0, 0, i].astype(object)
              for i, n in enumerate(("a", "b", "input")))
    assert (maps["s"] == requantize(acc.astype(np.int64), 0, qs.multiplier, qs.shift, qs.lo, qs.hi)).all()
    qp = qnet.convs["p"]
    x = maps["s"]
    sums = np.array([[[x[2 * y:2 * y + 2, 2 * xx:2 * xx + 2, c].sum() for c in range(4)] for xx in range(4)]
                     for y in range(3)])
    assert (maps["p"] == requantize(sums, 0, qp.multiplier, qp.shift, qp.lo, qp.hi)).all()


def test_quantized_close_to_float(qnet):
    net = qnet.net
    params = random_params(net, 3)
    img = calibration_images(net, 1, 7)[0]
    ref = float_forward(net, fold_batchnorm(net, params), img)
    got = forward(qnet, qnet.quantize_input(img))
    for name in ("s", "p"):
        err = np.abs(got[name] * qnet.scales[name] - ref[name]).max() / np.abs(ref[name]).max()
        assert err < 0.05, (name, err)


def test_quant_file_round_trip(qnet, tmp_path):
    save_quant(qnet, tmp_path / "q.npz")
    back = load_quant(tmp_path / "q.npz")
    for name in ("s", "p"):
        for f in ("weight", "bias", "multiplier", "shift"):
            assert (getattr(back.convs[name], f) == getattr(qnet.convs[name], f)).all()
    img = np.zeros(qnet.net.input_shape, np.int64) + 3
    assert all((forward(back, img)[n] == m).all() for n, m in forward(qnet, img).items())
    assert Network.from_dict(qnet.net.to_dict()) == qnet.net


def test_resnet18_structure():
    net = build_model("resnet18")
    assert sum(net.macs(l) for l in net.layers) == 1_814_073_344      # torchvision's 1.81 GMACs
    assert net.shape("conv1") == (112, 112, 64)
    assert net.shape("pool1") == (56, 56, 64)
    assert net.shape("l4_1_add") == (7, 7, 512)
    assert net.shape("avgpool") == (1, 1, 512)
    assert net.shape("fc") == (1, 1, 1000)
    assert [l.name for l in net.layers if l.kind == "add"] == [f"l{i}_{j}_add" for i in range(1, 5) for j in (0, 1)]
    assert [l.name for l in net.layers if l.name.endswith("_down")] == ["l2_0_down", "l3_0_down", "l4_0_down"]


def test_resnet_tiny_runs_and_classifies():
    net = build_model("resnet-tiny")
    q = quantize_network(net, random_params(net), calibration_images(net, 2))
    img = q.quantize_input(calibration_images(net, 1, 9)[0])
    logits = forward(q, img)["fc"]
    assert logits.shape == (1, 1, 10) and len(set(logits.reshape(-1).tolist())) > 1


@pytest.mark.parametrize("layers, message", [
    ((Layer(name="s", kind="add", inputs=("input",)),), r"layer s: add needs at least two inputs, not 1"),
    ((Layer(name="a", kind="conv", inputs=("input",), out_channels=3, kernel=3),
      Layer(name="s", kind="add", inputs=("a", "input"))),
     r"layer s: shapes do not chain: add inputs must have equal shapes, not 2x2x3 vs 4x4x3"),
    ((Layer(name="p", kind="avgpool", kernel=5),),
     r"layer p: shapes do not chain: a 5x5 window does not fit the 4x4 input"),
])
def test_bad_residual_layers(layers, message):
    with pytest.raises(ModelError, match=message):
        Network(name="bad", input_shape=(4, 4, 3), layers=layers)


def test_mobilenetv2_structure():
    from hwgen.nn.models import weight_shape
    net = build_model("mobilenetv2")
    convs = [l for l in net.layers if l.kind == "conv"]
    assert sum(net.macs(l) for l in convs) == 300_774_272                   # the published 300 M
    assert sum(int(np.prod(weight_shape(net, l))) for l in convs) == 3_469_760
    adds = [l for l in net.layers if l.kind == "add"]
    assert len(adds) == 10 and all(l.activation == "none" for l in adds)   # linear bottlenecks
    assert net.shape("conv_last") == (7, 7, 1280) and net.shape("fc") == (1, 1, 1000)
