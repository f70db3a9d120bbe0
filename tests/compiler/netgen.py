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


def random_residual_network(seed: int) -> Network:
    """A chain of 4..8 layers from ``seed`` over the residual kinds: convs (stride 1 'same' most
    of the time, so shapes repeat), adds of the current map with one or two earlier maps of its
    shape (the network input among them, a map possibly twice; each activation), avgpools (kernel
    2/3, stride 1/2/kernel, padded or not, sometimes global), padded maxpools after a ReLU, and
    concats."""
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(3, 15)), int(rng.integers(3, 15))
    c = int(rng.integers(1, 9))
    layers: list[Layer] = []
    nonneg = {"input": False}
    n_layers = int(rng.integers(4, 9))
    tries = 0
    while len(layers) < n_layers and tries < 300:
        tries += 1
        i = len(layers)
        name = f"l{i}"
        cur = layers[-1].name if layers else "input"
        shape = _shape(rng, layers, h, w, c)
        earlier = [n for n in ["input"] + [l.name for l in layers[:-1]] if n != cur]
        kind = str(rng.choice(["conv", "conv", "add", "add", "add", "avgpool", "maxpool", "concat"]))
        pos = False
        if kind == "conv":
            same_hw = [_shape_of(layers, n, h, w, c)[2] for n in earlier
                       if _shape_of(layers, n, h, w, c)[:2] == shape[:2]]
            oc = int(rng.choice(same_hw)) if same_hw and rng.random() < 0.7 else int(rng.integers(1, 10))
            stride = 1 if rng.random() < 0.8 else 2
            k = int(rng.choice([1, 3]))
            act = str(rng.choice(["none", "relu", "relu6"]))
            pos = act != "none"
            layer = Layer(name=name, kind="conv", out_channels=oc, kernel=k, stride=stride, padding="same",
                          activation=act, batchnorm=bool(rng.random() < 0.5))
        elif kind == "add":
            same = [n for n in earlier if _shape_of(layers, n, h, w, c) == shape]
            if not same:                     # a conv to an earlier map's channels, then the add
                hw = [n for n in earlier if _shape_of(layers, n, h, w, c)[:2] == shape[:2]]
                if not hw:
                    continue
                same = [str(rng.choice(hw))]
                conv = Layer(name=name, kind="conv", out_channels=_shape_of(layers, same[0], h, w, c)[2],
                             kernel=int(rng.choice([1, 3])), padding="same",
                             activation=str(rng.choice(["none", "relu"])))
                layers.append(conv)
                nonneg[name] = conv.activation != "none"
                cur, name = name, f"l{i + 1}"
            ins = [cur, str(rng.choice(same))]
            if rng.random() < 0.35:
                ins.append(str(rng.choice(same + [cur])))
            rng.shuffle(ins)
            act = str(rng.choice(["none", "relu", "relu6"]))
            pos = act != "none"
            layer = Layer(name=name, kind="add", inputs=tuple(ins), activation=act)
        elif kind == "avgpool":
            if rng.random() < 0.2 and max(shape[:2]) <= 7:
                k, stride, pad = max(shape[:2]), max(shape[:2]), (0, 0, 0, 0)     # global
            else:
                k = int(rng.choice([2, 3]))
                stride = int(rng.choice([1, 2, k]))
                pad = tuple(int(v) for v in rng.integers(0, k, 4)) if rng.random() < 0.5 else (0, 0, 0, 0)
            layer = Layer(name=name, kind="avgpool", kernel=k, stride=stride, padding=pad)
        elif kind == "maxpool":
            k = int(rng.choice([2, 3]))
            padded = nonneg[cur] and rng.random() < 0.8
            pad = tuple(int(v) for v in rng.integers(0, k, 4)) if padded else (0, 0, 0, 0)
            pos = nonneg[cur]
            layer = Layer(name=name, kind="maxpool", kernel=k, stride=int(rng.choice([1, 2])), padding=pad)
        else:
            same = [n for n in earlier if _shape_of(layers, n, h, w, c)[:2] == shape[:2]]
            if not same:
                continue
            ins = (cur, str(rng.choice(same)))
            pos = all(nonneg[n] for n in ins)
            layer = Layer(name=name, kind="concat", inputs=ins)
        try:
            Network(name="rand", input_shape=(h, w, c), layers=tuple(layers + [layer]))
        except ModelError:
            continue
        layers.append(layer)
        nonneg[name] = pos
    return Network(name=f"res{seed}", input_shape=(h, w, c), layers=tuple(layers))
