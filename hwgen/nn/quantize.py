"""Per-channel symmetric quantization with activation scales from calibration images.

Every feature map carries a float scale per channel (real value = integer x scale). A conv layer
folds its input scales into the float weights (``w_eff[.., ci, co] = w[.., ci, co] * s_in[ci]``),
quantizes ``w_eff`` symmetrically per output channel (``s_w[co] = max|w_eff[.., co]| / qmax``), keeps
the bias in accumulator units (``round(b / s_w)``) and requantizes to the output scale with an
integer multiplier and shift (:func:`hwgen.nn.quant.quantize_multiplier`). Output scales are one
per map, from the largest activation seen on the calibration images (6.0 at most after ReLU6).
Because input scales may differ per channel, a concat of differently scaled maps is exact.

An ``add`` is quantized like a 1x1 conv over its inputs with one weight per input and channel:
``w_i[c] = round(s_i[c] / s_w[c])`` with ``s_w[c] = max_i s_i[c] / qmax``, so the largest-scaled input
gets the full weight and the others their scale ratio; an ``avgpool`` like a depthwise conv with unit
weights and ``s_w[c] = s_in[c] / K**2``. Both have zero bias and requantize like a conv.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, ModelError
from ..linebuf.model import windows
from . import ops
from .arrays import load_arrays, numeric
from .ir import WEIGHTED_KINDS, Network
from .models import Params, fold_batchnorm
from .quant import activation_range, quantize_multiplier


@dataclass(frozen=True)
class QuantConv:
    """Integer parameters of one conv, add or avgpool layer (channels on the last axis).

    A conv's ``weight`` is ``[K, K, Cin/groups, Cout]``; an add's ``[1, 1, inputs, C]`` (input ``i``
    of channel ``c`` is multiplied by ``weight[0, 0, i, c]``); an avgpool's ``[K, K, 1, C]`` of ones
    (a depthwise conv). Their biases are zero."""
    weight: np.ndarray        # int64, see above
    bias: np.ndarray          # int64 [Cout], accumulator units
    multiplier: np.ndarray    # int64 [Cout]
    shift: np.ndarray         # int64 [Cout]
    lo: int
    hi: int


@dataclass(frozen=True)
class QuantNetwork:
    """A network with integer weights and requantization constants.

    Attributes
    ----------
    net : Network
    act_width, weight_width, multiplier_width : int
        Signed widths of activations, weights and requantization multipliers.
    convs : dict
        :class:`QuantConv` per conv, add and avgpool layer name (:data:`hwgen.nn.ir.WEIGHTED_KINDS`).
    scales : dict
        Float scale per channel of every map (``"input"`` included), for decoding results.
    """
    net: Network
    act_width: int
    weight_width: int
    multiplier_width: int
    convs: dict[str, QuantConv]
    scales: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def act_range(self) -> tuple[int, int]:
        return -(1 << (self.act_width - 1)), (1 << (self.act_width - 1)) - 1

    def quantize_input(self, image: np.ndarray) -> np.ndarray:
        """Real-valued image -> integer network input."""
        lo, hi = self.act_range
        return np.clip(np.round(np.asarray(image, np.float64) / self.scales["input"]), lo, hi).astype(np.int64)


def float_forward(net: Network, folded: Params, image: np.ndarray) -> dict[str, np.ndarray]:
    """Float reference forward pass (batch norm folded); returns every layer's map."""
    maps: dict[str, np.ndarray] = {"input": np.asarray(image, np.float64)}
    for layer in net.layers:
        ins = [maps[n] for n in net.inputs_of(layer)]
        x = ins[0]
        if layer.kind == "conv":
            p = folded[layer.name]
            w = p["weight"]
            k, g = layer.kernel, layer.groups
            win = windows(x, k, layer.stride, layer.padding, 0.0)
            oh, ow = win.shape[:2]
            cpg, opg = x.shape[2] // g, layer.out_channels // g
            y = np.einsum("hwijgc,ijcgo->hwgo", win.reshape(oh, ow, k, k, g, cpg),
                          w.reshape(k, k, cpg, g, opg), optimize=True).reshape(oh, ow, -1) + p["bias"]
            y = _activate(y, layer.activation)
        elif layer.kind == "maxpool":
            y = windows(x, layer.kernel, layer.stride, layer.padding, -np.inf).max(axis=(2, 3))
        elif layer.kind == "avgpool":
            y = windows(x, layer.kernel, layer.stride, layer.padding, 0.0).mean(axis=(2, 3))
        elif layer.kind == "add":
            y = _activate(sum(ins), layer.activation)
        elif layer.kind == "reorg":
            y = ops.reorg(x, layer.stride)
        elif layer.kind == "concat":
            y = ops.concat(*ins)
        else:  # head: the raw map is decoded by the integer model only
            y = x
        maps[layer.name] = y
    return maps


def _activate(y: np.ndarray, activation: str) -> np.ndarray:
    if activation == "relu":
        return np.maximum(y, 0)
    if activation == "relu6":
        return np.clip(y, 0, 6)
    return y


def calibration_images(net: Network, count: int = 4, seed: int = 0) -> list[np.ndarray]:
    """Synthetic calibration images in [0, 1): smooth gradients plus noise."""
    rng = np.random.default_rng(seed)
    h, w, c = net.input_shape
    yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    out = []
    for _ in range(count):
        a, b = rng.uniform(-1, 1, 2)
        base = (a * yy + b * xx)[..., None] % 1.0
        out.append(np.clip(0.5 * base + 0.5 * rng.uniform(0, 1, (h, w, c)), 0, 0.999))
    return out


def quantize_network(net: Network, params: Params, calibration: list[np.ndarray] | None = None, *,
                     act_width: int = 8, weight_width: int = 8, multiplier_width: int = 16,
                     input_scale: float | None = None) -> QuantNetwork:
    """Quantize float ``params`` (batch norm not yet folded) of ``net``.

    Parameters
    ----------
    calibration : list of float ``[H, W, C]`` images, optional
        Images in real units; :func:`calibration_images` when omitted.
    input_scale : float, optional
        Real value of one input step; default ``1 / (2**(act_width-1) - 1)`` (images in [-1, 1]).

    Raises
    ------
    ModelError
        A bias or an intermediate product does not fit the integer ranges.
    """
    for name, v in (("act_width", act_width), ("weight_width", weight_width)):
        if not isinstance(v, int) or not 2 <= v <= 16:
            raise ConfigError(f"{name} must be an integer in 2..16, not {v}")
    folded = fold_batchnorm(net, params)
    calibration = calibration if calibration is not None else calibration_images(net)
    amax: dict[str, float] = {}
    for img in calibration:
        if tuple(np.shape(img)) != net.input_shape:
            raise ModelError(f"calibration image shape {np.shape(img)} does not match the network input "
                             f"{net.input_shape}")
        for name, m in float_forward(net, folded, img).items():
            amax[name] = max(amax.get(name, 0.0), float(np.max(np.abs(m))) if m.size else 0.0)
    aq = (1 << (act_width - 1)) - 1
    wq = (1 << (weight_width - 1)) - 1
    scales: dict[str, np.ndarray] = {"input": np.full(net.input_shape[2], input_scale or 1.0 / aq)}
    convs: dict[str, QuantConv] = {}
    for layer in net.layers:
        srcs = net.inputs_of(layer)
        s_in = scales[srcs[0]]
        if layer.kind == "conv":
            w, b = folded[layer.name]["weight"], folded[layer.name]["bias"]
            k, g, cout = layer.kernel, layer.groups, layer.out_channels
            cpg, opg = w.shape[2], cout // g
            s_in_g = s_in.reshape(g, cpg)                       # [g, cpg]
            w_eff = w * s_in_g[np.arange(cout) // opg].T[None, None]  # [K, K, cpg, Cout]
            s_w = np.max(np.abs(w_eff), axis=(0, 1, 2)) / wq
            s_w = np.where(s_w > 0, s_w, 1.0)
            wq_arr = np.clip(np.round(w_eff / s_w), -wq, wq).astype(np.int64)
            bias = np.round(b / s_w).astype(np.int64)
            taps = k * k * cpg
        elif layer.kind == "add":
            s_ins = np.stack([scales[n] for n in srcs])         # [inputs, C]
            s_w = np.max(s_ins, axis=0) / wq
            wq_arr = np.clip(np.round(s_ins / s_w), 0, wq).astype(np.int64)[None, None]
            bias = np.zeros(s_w.shape, np.int64)
            taps = len(srcs)
        elif layer.kind == "avgpool":
            k = layer.kernel
            s_w = s_in / (k * k)
            wq_arr = np.ones((k, k, 1, s_in.size), np.int64)
            bias = np.zeros(s_w.shape, np.int64)
            taps = k * k
        if layer.kind in WEIGHTED_KINDS:
            top = amax.get(layer.name, 0.0)
            if layer.activation == "relu6":
                top = min(top, 6.0)
            s_out = (top if top > 0 else 1.0) / aq
            mult, shift = zip(*(quantize_multiplier(float(s) / s_out, multiplier_width) for s in s_w))
            six = int(round(6.0 / s_out)) if layer.activation == "relu6" else None
            lo, hi = activation_range(layer.activation, act_width, six)
            qc = QuantConv(weight=wq_arr, bias=bias, multiplier=np.array(mult, np.int64),
                           shift=np.array(shift, np.int64), lo=lo, hi=hi)
            _check_ranges(net, layer.name, qc, act_width, taps)
            convs[layer.name] = qc
            scales[layer.name] = np.full(s_w.size, s_out)
        elif layer.kind == "maxpool":
            scales[layer.name] = s_in
        elif layer.kind == "reorg":
            scales[layer.name] = np.tile(s_in, layer.stride * layer.stride)
        elif layer.kind == "concat":
            scales[layer.name] = np.concatenate([scales[s] for s in srcs])
        else:
            scales[layer.name] = s_in
    return QuantNetwork(net=net, act_width=act_width, weight_width=weight_width,
                        multiplier_width=multiplier_width, convs=convs, scales=scales)


def _check_ranges(net: Network, name: str, qc: QuantConv, act_width: int, taps: int) -> None:
    if np.any(np.abs(qc.bias) >= 1 << 31):
        raise ModelError(f"layer {name}: quantized bias {int(np.max(np.abs(qc.bias)))} does not fit 32 bits")
    acc_max = taps * (1 << (act_width - 1)) * int(np.max(np.abs(qc.weight))) + int(np.max(np.abs(qc.bias)))
    if acc_max * int(np.max(qc.multiplier)) >= 1 << 62:
        raise ModelError(f"layer {name}: requantization product exceeds 63 bits; lower the widths")


def load_calibration(path: str, net: Network) -> list[np.ndarray]:
    """Calibration images ``[N, H, W, C]`` from an ``.npy`` or ``.npz`` (its first array)."""
    data = load_arrays(path, "calibration")
    if not data:
        raise ModelError(f"calibration file {path} holds no arrays; give images [N, H, W, C]")
    arr = numeric(next(iter(data.values())), f"calibration file {path}: images")
    if arr.ndim != 4 or tuple(arr.shape[1:]) != net.input_shape or arr.shape[0] < 1:
        raise ModelError(f"calibration images must be [N, {', '.join(map(str, net.input_shape))}] for "
                         f"{net.name}, not {list(arr.shape)}")
    return [np.asarray(a, np.float64) for a in arr]


def save_quant(qnet: QuantNetwork, path) -> None:
    """Write a quantized network (description, integer parameters, scales) to one ``.npz``."""
    import json
    arrays: dict[str, np.ndarray] = {
        "network_json": np.array(json.dumps(qnet.net.to_dict())),
        "widths": np.array([qnet.act_width, qnet.weight_width, qnet.multiplier_width]),
    }
    for name, qc in qnet.convs.items():
        for f in ("weight", "bias", "multiplier", "shift"):
            arrays[f"{name}.{f}"] = getattr(qc, f)
        arrays[f"{name}.range"] = np.array([qc.lo, qc.hi])
    for name, s in qnet.scales.items():
        arrays[f"scale.{name}"] = s
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def load_quant(path) -> QuantNetwork:
    """Read a quantized network written by :func:`save_quant`."""
    import json
    data = load_arrays(path, "quantized network")

    def get(name: str) -> np.ndarray:
        if name not in data:
            raise ModelError(f"quantized network file {path} has no array {name!r}; write it with "
                             f"hwgen hls generate")
        return data[name]
    net = Network.from_dict(json.loads(str(get("network_json"))))
    aw, ww, mw = (int(v) for v in get("widths"))
    convs = {}
    for layer in net.layers:
        if layer.kind in WEIGHTED_KINDS:
            n = layer.name
            lo, hi = (int(v) for v in get(f"{n}.range"))
            convs[n] = QuantConv(weight=get(f"{n}.weight"), bias=get(f"{n}.bias"),
                                 multiplier=get(f"{n}.multiplier"), shift=get(f"{n}.shift"), lo=lo, hi=hi)
    scales = {k[len("scale."):]: v for k, v in data.items() if k.startswith("scale.")}
    return QuantNetwork(net=net, act_width=aw, weight_width=ww, multiplier_width=mw, convs=convs, scales=scales)
