"""The bit-exact golden model of a quantized network: the integer forward pass of a
:class:`~hwgen.nn.quantize.QuantNetwork`, built on the shared operators (:mod:`hwgen.nn.ops`) and
requantization (:mod:`hwgen.nn.quant`). Both back ends are checked against it: the HLS C
simulation compares every layer's stream with it, the accelerator runtime every layer's map.
"""
from __future__ import annotations

import numpy as np

from ..errors import ModelError
from . import ops
from .ir import HEAD_VALUES
from .quant import requantize
from .quantize import QuantNetwork

#: fields of the decoded head record, in stream order
RECORD_FIELDS = ("confidence", "anchor", "cell_y", "cell_x", "tx", "ty", "tw", "th")


def decode(head_map: np.ndarray, anchors: int) -> np.ndarray:
    """The head decode: the (cell, anchor) with the highest confidence, first in stream order
    (row, column, anchor) on ties. Returns int64 ``[1, 1, 8]`` (see :data:`RECORD_FIELDS`)."""
    h, w, c = head_map.shape
    m = head_map.reshape(h * w * anchors, HEAD_VALUES)
    i = int(np.argmax(m[:, 4]))         # argmax returns the first maximum
    cell, a = divmod(i, anchors)
    y, x = divmod(cell, w)
    rec = [m[i, 4], a, y, x, *m[i, :4]]
    return np.array(rec, dtype=np.int64).reshape(1, 1, len(RECORD_FIELDS))


def forward(qnet: QuantNetwork, image: np.ndarray) -> dict[str, np.ndarray]:
    """Integer forward pass; returns every layer's output map (int64 ``[H, W, C]``) by name,
    plus ``"input"``."""
    net = qnet.net
    x = np.asarray(image)
    if x.shape != net.input_shape:
        raise ModelError(f"image shape {x.shape} does not match the network input {net.input_shape}")
    lo, hi = qnet.act_range
    if x.size and (x.min() < lo or x.max() > hi):
        raise ModelError(f"image values must be integers in {lo}..{hi} for {qnet.act_width}-bit activations")
    maps: dict[str, np.ndarray] = {"input": x.astype(np.int64)}
    for layer in net.layers:
        ins = [maps[n] for n in net.inputs_of(layer)]
        if layer.kind == "conv":
            qc = qnet.convs[layer.name]
            acc = ops.conv2d(ins[0], qc.weight, stride=layer.stride, padding=layer.padding,
                             groups=layer.groups)
            y = requantize(acc, qc.bias, qc.multiplier, qc.shift, qc.lo, qc.hi)
        elif layer.kind == "avgpool":
            qc = qnet.convs[layer.name]
            acc = ops.conv2d(ins[0], qc.weight, stride=layer.stride, padding=layer.padding,
                             groups=ins[0].shape[2])
            y = requantize(acc, qc.bias, qc.multiplier, qc.shift, qc.lo, qc.hi)
        elif layer.kind == "add":
            qc = qnet.convs[layer.name]
            acc = sum(x * qc.weight[0, 0, i] for i, x in enumerate(ins))
            y = requantize(acc, qc.bias, qc.multiplier, qc.shift, qc.lo, qc.hi)
        elif layer.kind == "maxpool":
            # padding never wins a max: every window holds a real pixel (padding < kernel)
            y = ops.maxpool2d(ins[0], layer.kernel, layer.stride, layer.padding)
        elif layer.kind == "reorg":
            y = ops.reorg(ins[0], layer.stride)
        elif layer.kind == "concat":
            y = ops.concat(*ins)
        else:
            y = decode(ins[0], layer.anchors)
        maps[layer.name] = y.astype(np.int64)
    return maps


def test_images(qnet: QuantNetwork, count: int, seed: int = 0) -> list[np.ndarray]:
    """Images for C simulation: alternately uniform random over the whole activation range and
    structured ones (extremes, a checkerboard, gradients, a constant)."""
    rng = np.random.default_rng(seed)
    h, w, c = qnet.net.input_shape
    lo, hi = qnet.act_range
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    structured = [
        lambda: np.where(((yy // 2 + xx // 2) % 2)[..., None] == 0, hi, lo) * np.ones(c, np.int64),
        lambda: np.broadcast_to(((xx * (hi - lo)) // max(w - 1, 1) + lo)[..., None], (h, w, c)),
        lambda: np.full((h, w, c), hi),
        lambda: np.broadcast_to(((yy * 7 + xx * 3) % (hi - lo + 1) + lo)[..., None], (h, w, c)),
        lambda: np.full((h, w, c), lo),
    ]
    out = []
    for i in range(count):
        if i % 2 == 0:
            img = rng.integers(lo, hi + 1, (h, w, c))
        else:
            img = structured[(i // 2) % len(structured)]()
        out.append(np.ascontiguousarray(img, dtype=np.int64))
    return out


def box_from_record(record: np.ndarray, qnet: QuantNetwork,
                    anchors: tuple[tuple[float, float], ...] | None = None) -> dict[str, float]:
    """Real-valued box of a decoded record: centre and size relative to the image (0..1) and the
    confidence as a probability. ``tx, ty`` go through a sigmoid inside the cell, ``tw, th`` scale
    the anchor (width, height in cells, default 1 x 1) exponentially (YOLO-style)."""
    rec = np.asarray(record).reshape(-1)
    conf, a, gy, gx, tx, ty, tw, th = (int(v) for v in rec)
    head_in = qnet.net.inputs_of(qnet.net.output)[0]
    gh, gw, _ = qnet.net.shape(head_in)
    s = qnet.scales[head_in].reshape(-1, HEAD_VALUES)[a]
    aw, ah = (anchors or ((1.0, 1.0),) * qnet.net.output.anchors)[a]

    def sig(v: float) -> float:
        return float(1.0 / (1.0 + np.exp(-v)))
    return {"cx": (gx + sig(tx * s[0])) / gw, "cy": (gy + sig(ty * s[1])) / gh,
            "w": aw * float(np.exp(tw * s[2])) / gw, "h": ah * float(np.exp(th * s[3])) / gh,
            "confidence": sig(conf * s[4]), "anchor": a}
