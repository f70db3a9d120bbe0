"""Random small networks over every layer kind the compiler maps (for property tests)."""
from __future__ import annotations

import numpy as np

from hwgen.errors import ModelError
from hwgen.nn.ir import Layer, Network
from hwgen.nn.models import random_params
from hwgen.nn.quantize import quantize_network


def random_network(seed: int) -> Network:
    """A chain of 3..7 layers from ``seed``: convs (dense, grouped, depthwise; kernel 1/3/5, stride
    1/2, same/none/explicit padding, each activation), maxpools, reorgs and concats with earlier
    maps of the same size (the network input among them)."""
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(4, 21)), int(rng.integers(4, 21))
    c = int(rng.integers(1, 10))
    layers: list[Layer] = []
    n_layers = int(rng.integers(3, 8))
    tries = 0
    while len(layers) < n_layers and tries < 200:
        tries += 1
        i = len(layers)
        kind = rng.choice(["conv", "conv", "conv", "maxpool", "reorg", "concat"])
        name = f"l{i}"
        if kind == "conv":
            cin = _shape(rng, layers, h, w, c)[2]
            k = int(rng.choice([1, 3, 3, 5]))
            stride = int(rng.choice([1, 1, 2]))
            padding = rng.choice(["same", "none", "explicit"])
            pad = tuple(int(v) for v in rng.integers(0, k, 4)) if padding == "explicit" else str(padding)
            g = 1
            r = rng.random()
            if r < 0.3:
                g, oc = cin, cin                              # depthwise
            else:
                divs = [d for d in range(1, cin + 1) if cin % d == 0]
                g = int(rng.choice(divs)) if r < 0.5 else 1
                oc = g * int(rng.integers(1, 6))
            layer = Layer(name=name, kind="conv", out_channels=oc, kernel=k, stride=stride, padding=pad,
                          groups=g, activation=str(rng.choice(["none", "relu", "relu6"])),
                          batchnorm=bool(rng.random() < 0.5))
        elif kind == "maxpool":
            k = int(rng.choice([2, 3]))
            layer = Layer(name=name, kind="maxpool", kernel=k, stride=int(rng.choice([1, 2, k])))
        elif kind == "reorg":
            layer = Layer(name=name, kind="reorg", stride=2)
        else:
            cur = layers[-1].name if layers else "input"
            hw = _shape(rng, layers, h, w, c)[:2]
            same = [n for n in ["input"] + [l.name for l in layers[:-1]]
                    if _shape_of(layers, n, h, w, c)[:2] == hw and n != cur]
            if not same:
                continue
            ins = [cur, str(rng.choice(same))]
            if rng.random() < 0.25:                  # a third input, possibly one already there
                ins.append(str(rng.choice(same + [cur])))
            layer = Layer(name=name, kind="concat", inputs=tuple(ins))
        try:
            Network(name="rand", input_shape=(h, w, c), layers=tuple(layers + [layer]))
        except ModelError:
            continue
        layers.append(layer)
    return Network(name=f"rand{seed}", input_shape=(h, w, c), layers=tuple(layers))


def _shape_of(layers, name, h, w, c):
    if name == "input":
        return (h, w, c)
    return Network(name="p", input_shape=(h, w, c), layers=tuple(layers[:[l.name for l in layers].index(name) + 1])).shape(name)


def _shape(rng, layers, h, w, c):
    return _shape_of(layers, layers[-1].name, h, w, c) if layers else (h, w, c)


def quantized(net: Network, seed: int = 0):
    return quantize_network(net, random_params(net, seed))
