"""Residual networks through the compiler on the functional simulator: ``add`` (a GEMM over
several maps' planes with diagonal weight blocks), ``avgpool`` (a unit-weight depthwise conv,
global pools included), padded maxpools on maps >= 0, and networks that end in a classifier."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from hwgen.accel.presets import PRESETS
from hwgen.cli import main
from hwgen.compiler import check_accumulator, compile_network, fit_accumulator
from hwgen.compiler.lower import lower
from hwgen.compiler.quant import map_ranges
from hwgen.errors import ModelError
from hwgen.nn.ir import Layer, Network
from hwgen.nn.models import build_model

from .netgen import quantized, random_residual_network
from .test_compile import CONFIGS, check

TINY = PRESETS["tiny"]


#: seeds with 3-input adds, a map twice in one add, the network input in an add, adds of concats,
#: of avgpools and of adds, global and padded avgpools and padded maxpools between them (96: a 6x6
#: global pool, too big for "small"'s input buffer, is left out)
SEEDS = [0, 3, 5, 7, 11, 17, 21, 28, 61, 95, 110, 116, 147, 172, 175, 183]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("cfg", ["tiny", "small", "ultra96"])
def test_random_residual_networks(seed, cfg):
    check(quantized(random_residual_network(seed), seed), CONFIGS[cfg], images=2, seed=seed)


def test_random_residual_networks_cover_the_new_kinds():
    nets = [random_residual_network(s) for s in SEEDS]
    layers = [(n, l) for n in nets for l in n.layers]
    adds = [l for _n, l in layers if l.kind == "add"]
    assert {len(l.inputs) for l in adds} == {2, 3}
    assert {l.activation for l in adds} == {"none", "relu", "relu6"}
    assert any(len(set(l.inputs)) < len(l.inputs) for l in adds)
    assert any("input" in l.inputs for l in adds)
    kinds = {n.layer(i).kind for n in nets for l in n.layers if l.kind == "add" for i in l.inputs if i != "input"}
    assert {"conv", "concat", "add", "avgpool"} <= kinds
    assert any(l.kind == "maxpool" and any(n.pads(l)) for n, l in layers)
    assert any(l.kind == "avgpool" and any(n.pads(l)) for n, l in layers)
    assert any(l.kind == "avgpool" and n.shape(l.name)[:2] == (1, 1) for n, l in layers)


def test_add_reads_its_inputs_in_place():
    """An add of the network input, a concat slice and a map with several readers: one GEMM job
    over virtual input planes, each input's channel meeting its output channel on a diagonal."""
    net = Network(name="adds", input_shape=(5, 6, 3), layers=(
        Layer(name="a", kind="conv", out_channels=2, kernel=3, padding="same", activation="relu"),
        Layer(name="b", kind="conv", inputs=("input",), out_channels=1, kernel=1),
        Layer(name="cat", kind="concat", inputs=("a", "b")),
        Layer(name="s", kind="add", inputs=("input", "cat", "cat"), activation="relu"),
        Layer(name="t", kind="add", inputs=("s", "cat")),
        Layer(name="u", kind="conv", inputs=("t",), out_channels=3, kernel=1)))
    q = quantized(net)
    maps, jobs = lower(q, TINY)
    job = {j.name: j for j in jobs}["s"]
    assert job.kind == "add" and job.inputs == (("input", 0), ("cat", 0), ("cat", 1), ("cat", 0), ("cat", 1))
    assert maps["a"].parent == "cat"
    w = q.convs["s"].weight[0, 0]
    # tiny: block 4x4, input 3 channels in plane 0, cat = a (2 channels, plane 0) + b (plane 1)
    assert [t.p for t in job.terms[0]] == [0, 1, 2, 3, 4]
    b0 = job.blocks[job.terms[0][0].blk]
    assert np.array_equal(np.diag(b0)[:3], w[0]) and np.count_nonzero(b0) == 3
    b2 = job.blocks[job.terms[0][2].blk]                     # cat plane 1 (b) -> out channel 2
    assert b2[2, 0] == w[1, 2] and np.count_nonzero(b2) == 1
    for cfg in CONFIGS.values():
        check(q, cfg)


def test_global_average_pool_7x7():
    net = Network(name="gap", input_shape=(7, 7, 20), layers=(
        Layer(name="c", kind="conv", out_channels=24, kernel=3, padding="same", activation="relu"),
        Layer(name="gap", kind="avgpool", kernel=7, stride=7),
        Layer(name="fc", kind="conv", out_channels=10, kernel=1)))
    q = quantized(net)
    for preset in ("default", "ultra96", "pynq-z2", "tiny"):
        cfg = PRESETS[preset]
        maps, jobs = lower(q, cfg)
        gap = jobs[1]
        assert gap.kind == "avgpool" and (gap.oh, gap.ow, gap.kernel) == (1, 1, 7)
        assert maps["gap"].channels == maps["c"].channels
        # one diagonal block per input sub-block shape, shared by all 49 taps
        assert len(gap.blocks) <= 2 * cfg.block_out // cfg.block_in
        assert all(len(ts) == 49 * len({t.h for t in ts}) for ts in gap.terms)
        check(q, cfg)


def test_resnet_tiny_every_preset():
    q = quantized(build_model("resnet-tiny"))
    for preset in ("default", "tiny", "ultra96", "pynq-z2"):
        cn, res = check(q, PRESETS[preset])
        assert res[0].maps["fc"].shape == (1, 1, 10)
        assert cn.info["output"] == {"name": "fc", "kind": "classifier", "shape": [1, 1, 10]}
        assert {s.kind for s in cn.segments} == {"conv", "maxpool", "add", "avgpool"}


def test_padded_maxpool_after_relu():
    """ResNet's 3x3/2 pad-1 max pool: accepted because the stem's ReLU makes its input >= 0."""
    net = build_model("resnet-tiny")
    q = quantized(net)
    assert map_ranges(q)["conv1"][0] == 0 and net.pads(net.layer("pool1")) == (1, 1, 1, 1)
    _maps, jobs = lower(q, TINY)
    pool = {j.name: j for j in jobs}["pool1"]
    assert pool.kind == "maxpool" and pool.pads == (1, 1, 1, 1) and pool.regions == 9


def test_add_and_avgpool_accumulators():
    """add and avgpool are fitted and checked like convs: on 16-bit accumulators the add's
    requantization product overflows until its multiplier is shortened."""
    net = Network(name="acc", input_shape=(4, 4, 4), layers=(
        Layer(name="a", kind="conv", out_channels=4, kernel=1),
        Layer(name="s", kind="add", inputs=("a", "input")),
        Layer(name="p", kind="avgpool", kernel=2, stride=2)))
    from hwgen.nn.models import random_params
    from hwgen.nn.quantize import quantize_network
    q = quantize_network(net, random_params(net, 0), act_width=6, weight_width=6)
    fitted = fit_accumulator(q, 16)
    only_a = dataclasses.replace(q, convs={**q.convs, "a": fitted.convs["a"]})
    with pytest.raises(ModelError, match=r"layer s does not run bit-exactly on 16-bit accumulators: "
                                         r"channel \d+: \(acc \+ bias\) x multiplier reaches \d+, beyond "
                                         r"the 16-bit accumulator's 32767"):
        check_accumulator(only_a, 16)
    check_accumulator(fitted, 16)
    assert set(fitted.convs) == {"a", "s", "p"}
    assert (fitted.convs["s"].shift <= q.convs["s"].shift).all()
    assert fitted.convs["s"].shift.max() < q.convs["s"].shift.max()


def test_classifier_through_the_cli(tmp_path, capsys):
    out = tmp_path / "c"
    assert main(["accel", "compile", "--preset", "tiny", "--model", "resnet-tiny", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "output: fc: 10 class logits (1x1x10); the top-1 class is their argmax" in text
    assert (out / "listing.txt").read_text().splitlines()[0] == \
        "# output: fc: 10 class logits (1x1x10); the top-1 class is their argmax (first on ties)"
    man = json.loads((out / "network.json").read_text())
    assert man["info"]["output"] == {"name": "fc", "kind": "classifier", "shape": [1, 1, 10]}
    assert main(["accel", "infer", str(out), "--images", "2"]) == 0
    text = capsys.readouterr().out
    lines = [x for x in text.splitlines() if x.startswith("image ")]
    assert len(lines) == 2 and "0 mismatches against hwgen.nn.model" in text
    assert all(x.startswith("image") and "top-1 class" in x and "golden model: class" in x for x in lines)
    assert main(["accel", "infer", str(out), "--images", "2", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["output"]["kind"] == "classifier"
    for f in r["frames"]:
        assert f["top1"] == f["golden_top1"] and 0 <= f["top1"]["class"] < 10
        assert -128 <= f["top1"]["logit"] <= 127 and isinstance(f["top1"]["logit_real"], float)


def test_map_output_is_named(tmp_path, capsys):
    net = Network(name="m", input_shape=(4, 4, 2), layers=(Layer(name="c", kind="conv", out_channels=3, kernel=1),))
    cn, _ = compile_network(quantized(net), TINY)
    assert cn.info["output"] == {"name": "c", "kind": "map", "shape": [4, 4, 3]}
    cn, _ = compile_network(quantized(build_model("skynet-tiny")), TINY)
    assert cn.info["output"]["kind"] == "head"


def _stem(c, k, s, pad, w=24, h=7):
    return Network(name=f"stem{c}_{k}_{s}", input_shape=(h, w, c), layers=(
        Layer(name="conv1", kind="conv", out_channels=5, kernel=k, stride=s, padding=pad, activation="relu",
              batchnorm=True),
        Layer(name="c2", kind="conv", out_channels=3, kernel=1)))


STEMS = [(3, 7, 2, (3, 3, 3, 3)), (3, 3, 2, "same"), (1, 3, 2, "none"), (2, 5, 1, (1, 2, 3, 0)),
         (1, 7, 3, "same"), (3, 1, 2, "none")]


#: "small" holds no 7-row window of 24 elements (unpacked or packed), so its 7x7 stems are left out
@pytest.mark.parametrize("c, k, s, pad, cfg", [(*st, cfg) for cfg in ("tiny", "small", "ultra96", "default")
                                               for st in STEMS if not (cfg == "small" and st[1] == 7)])
def test_thin_stem_is_packed(c, k, s, pad, cfg):
    """A thin input read only by a dense strided conv (ResNet's 7x7/2 stem) is stored several
    pixels per element; the conv runs one Toeplitz block per (output phase, row tap, element tap)
    and stays bit-exact."""
    from hwgen.compiler.lower import thin_stem
    config = CONFIGS.get(cfg) or PRESETS[cfg]
    net = _stem(c, k, s, pad)
    st = thin_stem(net, config)
    ow = net.shape("conv1")[1]
    want = max((p for p in range(2 * s, config.block_out // c + 1)
                if 24 % p == 0 and p % s == 0 and ow % (p // s) == 0), default=None)
    assert (st[1] if st else None) == want
    q = quantized(net, k)
    maps, jobs = lower(q, config)
    if st:
        assert maps["input"].pack == want and jobs[0].unpack == want // s
    check(q, config, images=1)


def test_thin_stem_needs_the_pattern():
    from hwgen.compiler.lower import thin_stem
    cfg = PRESETS["default"]
    assert thin_stem(build_model("resnet18"), cfg) == ("conv1", 4)
    assert thin_stem(build_model("mobilenetv2"), cfg) == ("conv1", 4)
    assert thin_stem(build_model("resnet18"), PRESETS["ultra96"]) == ("conv1", 8)
    assert thin_stem(_stem(3, 3, 2, "same", w=22), cfg) is None          # no even pack divides 22
    assert thin_stem(_stem(9, 3, 1, "same"), cfg) is None                 # 2 x 9 channels > 16
    two = Network(name="two", input_shape=(8, 8, 3), layers=(
        Layer(name="a", kind="conv", out_channels=4, kernel=3, stride=2, padding="same"),
        Layer(name="b", kind="conv", inputs=("input",), out_channels=4, kernel=3, stride=2, padding="same"),
        Layer(name="s", kind="add", inputs=("a", "b"))))
    assert thin_stem(two, cfg) is None                                    # the input has two readers


@pytest.mark.parametrize("seed", range(4))
def test_residual_sixteen_bit_datapath(seed):
    """10-bit residual networks on a 16-bit datapath (adds and pools fitted to its accumulators)."""
    from hwgen.nn.models import random_params
    from hwgen.nn.quantize import quantize_network

    from .test_compile import WIDE
    net = random_residual_network(seed)
    check(quantize_network(net, random_params(net, seed), act_width=10, weight_width=10), WIDE, seed=seed)


def test_split_planes_are_cut_evenly():
    """A plane whose terms need more weight blocks than half the buffer is cut into even pieces
    (ResNet-18's last stage on ultra96: 288 blocks per plane -> 144 + 144, not 256 + 32, so that
    loads and GEMMs of consecutive steps overlap)."""
    from hwgen.compiler.schedule import plan_job
    net = Network(name="wide", input_shape=(7, 7, 512), layers=(
        Layer(name="c", kind="conv", out_channels=512, kernel=3, padding="same"),))
    cfg = PRESETS["ultra96"]
    _maps, jobs = lower(quantized(net), cfg)
    plan = plan_job(jobs[0], cfg)
    sizes = {len(ch.blks) for chs in plan.chunks for ch in chs}
    assert sizes == {144} and cfg.wgt_depth // 2 == 256
