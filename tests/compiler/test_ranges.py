"""``map_ranges`` keeps non-negativity through an add or an avgpool without activation, so a
padded maxpool after them is accepted (its zero padding never wins the max) and exact."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hwgen.accel.presets import PRESETS
from hwgen.compiler import compile_network
from hwgen.compiler.quant import map_ranges
from hwgen.errors import ModelError
from hwgen.nn import model as golden
from hwgen.nn.ir import Layer, Network
from hwgen.runtime import FsimDevice
from hwgen.runtime.network import NetworkRunner

from .netgen import quantized

TINY = PRESETS["tiny"]
POOL = Layer(name="mp", kind="maxpool", kernel=3, stride=2, padding="same")


def _net(*layers, act_a="relu", act_b="relu6"):
    """conv ``a`` (and conv ``b`` beside it when a layer reads it), then ``layers``."""
    b = Layer(name="b", kind="conv", out_channels=6, kernel=1, inputs=("input",), activation=act_b)
    reads_b = any("b" in l.inputs for l in layers)
    return Network(name="r", input_shape=(7, 9, 5), layers=(
        Layer(name="a", kind="conv", out_channels=6, kernel=3, padding="same", activation=act_a),
        *((b,) if reads_b else ()), *layers))


ADD = Layer(name="s", kind="add", inputs=("a", "b"), activation="none")
AVG = Layer(name="s", kind="avgpool", inputs=("a",), kernel=3, stride=1, padding="same")


def _exact(q):
    for keep in (True, False):
        cn, fitted = compile_network(q, TINY, keep_maps=keep)
        img = golden.test_images(fitted, 1, 4)[0]
        res = NetworkRunner(FsimDevice(TINY), cn).run(img, per_layer=True)
        for name, want in golden.forward(fitted, img).items():
            assert np.array_equal(res.maps[name], want), name
    return cn


@pytest.mark.parametrize("layer", [ADD, AVG], ids=["add", "avgpool"])
def test_padded_maxpool_after_a_non_negative_sum(layer):
    q = quantized(_net(layer, dataclasses.replace(POOL, inputs=("s",))))
    assert q.convs["s"].lo < 0 and map_ranges(q)["s"] == (0, q.convs["s"].hi)
    cn = _exact(q)
    assert "mp" in {s.name for s in cn.segments}


def test_add_of_a_signed_map_stays_signed():
    q = quantized(_net(ADD, dataclasses.replace(POOL, inputs=("s",)), act_b="none"))
    assert map_ranges(q)["s"][0] < 0
    with pytest.raises(ModelError, match=r"layer mp: a padded maxpool needs an input whose values are all "
                                         r">= 0 .* but s ranges over -128\.\.127"):
        compile_network(q, TINY)


def test_add_with_a_negative_weight_stays_signed():
    q = quantized(_net(ADD, dataclasses.replace(POOL, inputs=("s",))))
    w = np.array(q.convs["s"].weight)
    w[0, 0, 1, 2] = -w[0, 0, 1, 2] or -1
    q = dataclasses.replace(q, convs={**q.convs, "s": dataclasses.replace(q.convs["s"], weight=w)})
    assert map_ranges(q)["s"][0] < 0
    with pytest.raises(ModelError, match=r"layer mp: a padded maxpool needs .* but s ranges over -128"):
        compile_network(q, TINY)


def test_avgpool_of_a_signed_map_stays_signed():
    q = quantized(_net(AVG, dataclasses.replace(POOL, inputs=("s",)), act_a="none"))
    assert map_ranges(q)["s"][0] < 0
    with pytest.raises(ModelError, match=r"layer mp: a padded maxpool needs .* but s ranges over -128"):
        compile_network(q, TINY)
