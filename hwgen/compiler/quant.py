"""What a quantized network must satisfy to run bit-exactly on the accelerator, and the fit that
makes it so.

The accelerator requantizes in its accumulators (``acc_width`` bits, wrapping) with its ALU: ADD
the bias, MUL by a 16-bit multiplier, SHR with round-half-up by a per-channel shift read as
``shift & (acc_width - 1)``, then MAX/MIN for the activation (see :mod:`hwgen.accel.isa`). That
equals :func:`hwgen.nn.quant.requantize` (computed in int64) exactly when, for every output
channel and every input the layer can see,

- every partial sum of the convolution, ``acc + bias`` and ``(acc + bias) * multiplier`` fit a
  signed ``acc_width``-bit integer,
- the multiplier fits 16 signed bits and the shift is at most ``acc_width - 1``.

The bounds are worst cases over the input map's value range (``lo..hi`` of the layer that made it,
or the activation range for the network input): ``max |acc| = max(sum_k max(w lo, w hi),
-sum_k min(w lo, w hi))``. Every weighted layer (:data:`hwgen.nn.ir.WEIGHTED_KINDS`) is checked:
a conv, an avgpool (unit weights over its window) and an add, whose weight row ``i`` sees input
``i``'s own range. :func:`fit_accumulator` keeps the network's real scale and drops the
multiplier's low bits (``m' = round(m / 2**d)``, ``shift' = shift - d``, the smallest ``d`` that
satisfies the bounds), so the golden model of the fitted network is what the accelerator computes.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import ModelError
from ..nn.ir import WEIGHTED_KINDS, Layer
from ..nn.quantize import QuantConv, QuantNetwork

#: the ALU multiplies by ``sext16(y & 0xffff)``
ALU_MULT_BITS = 16


def map_ranges(qnet: QuantNetwork) -> dict[str, tuple[int, int]]:
    """Value range ``(lo, hi)`` of every feature map (``"input"`` included).

    A weighted layer's map ranges over its clamp ``qc.lo..qc.hi``, from 0 when nothing it
    requantizes can be negative: ``acc + bias >= 0`` for every input in range (e.g. an add of maps
    >= 0 with weights >= 0, an avgpool of a map >= 0) and multipliers >= 0, because
    :func:`hwgen.nn.quant.requantize` maps a value >= 0 to one >= 0 (round half up, shift right).
    A padded maxpool after such a layer is then exact (its zero padding never wins the max)."""
    net = qnet.net
    out = {"input": qnet.act_range}
    for layer in net.layers:
        ins = [out[n] for n in net.inputs_of(layer)]
        if layer.kind in WEIGHTED_KINDS:
            qc = qnet.convs[layer.name]
            lo = qc.lo
            if lo < 0 and _never_negative(qc, *input_range(qnet, layer, out)):
                lo = min(0, qc.hi)
            out[layer.name] = (lo, qc.hi)
        elif layer.kind == "concat":
            out[layer.name] = (min(r[0] for r in ins), max(r[1] for r in ins))
        else:
            out[layer.name] = ins[0]
    return out


def _never_negative(qc: QuantConv, lo, hi) -> bool:
    """Whether ``requantize(acc, bias, multiplier, ...)`` is >= 0 (before the clamp) for every
    accumulator over inputs in ``lo..hi``."""
    amin, _amax, _p = acc_bounds(qc.weight, lo, hi)
    return bool((amin + np.asarray(qc.bias, np.int64) >= 0).all()
                and (np.asarray(qc.multiplier, np.int64) >= 0).all())


def acc_bounds(weight: np.ndarray, lo, hi) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per output channel: smallest and largest accumulator, and the largest ``|partial sum|``,
    for ``weight [K, K, Cin/groups, Cout]`` over inputs in ``lo..hi`` (ints, or arrays with one
    value per row of ``weight.reshape(-1, Cout)``: an add's per-input ranges)."""
    w = np.asarray(weight, dtype=np.int64).reshape(-1, weight.shape[-1])
    lo = np.asarray(lo, np.int64).reshape(-1, 1)
    hi = np.asarray(hi, np.int64).reshape(-1, 1)
    a, b = w * lo, w * hi
    amax = np.maximum(a, b).sum(axis=0)
    amin = np.minimum(a, b).sum(axis=0)
    partial = (np.abs(w) * np.maximum(np.abs(lo), np.abs(hi))).sum(axis=0)
    return amin, amax, partial


def input_range(qnet: QuantNetwork, layer: Layer, ranges: dict[str, tuple[int, int]]):
    """``(lo, hi)`` of what a weighted layer multiplies: its input map's range, or for an add one
    range per input (arrays, matching the rows of its ``[1, 1, inputs, C]`` weight)."""
    ins = qnet.net.inputs_of(layer)
    if layer.kind == "add":
        return np.array([ranges[n][0] for n in ins]), np.array([ranges[n][1] for n in ins])
    return ranges[ins[0]]


def layer_violation(qc: QuantConv, lo, hi, acc_width: int) -> str | None:
    """Why ``qc`` does not run bit-exactly on ``acc_width``-bit accumulators, or None."""
    top = (1 << (acc_width - 1)) - 1
    amin, amax, partial = acc_bounds(qc.weight, lo, hi)
    bias = np.asarray(qc.bias, np.int64)
    mult = np.asarray(qc.multiplier, np.int64)
    shift = np.asarray(qc.shift, np.int64)
    smax = np.maximum(np.abs(amin + bias), np.abs(amax + bias))
    checks = (
        (partial > top, "a partial sum", partial),
        (np.abs(bias) > top, "the bias", np.abs(bias)),
        (smax > top, "acc + bias", smax),
        (smax * np.abs(mult) > top, "(acc + bias) x multiplier", smax * np.abs(mult)),
    )
    for bad, what, value in checks:
        if bad.any():
            c = int(np.argmax(bad))
            return (f"channel {c}: {what} reaches {int(value[c])}, beyond the {acc_width}-bit "
                    f"accumulator's {top}")
    lim = 1 << (ALU_MULT_BITS - 1)
    if (mult >= lim).any() or (mult < -lim).any():
        c = int(np.argmax((mult >= lim) | (mult < -lim)))
        return f"channel {c}: multiplier {int(mult[c])} does not fit the ALU's 16 signed bits"
    if (shift >= acc_width).any() or (shift < 0).any():
        c = int(np.argmax((shift >= acc_width) | (shift < 0)))
        return f"channel {c}: shift {int(shift[c])} is outside 0..{acc_width - 1}"
    return None


def check_accumulator(qnet: QuantNetwork, acc_width: int) -> None:
    """Raise :class:`ModelError` naming the first layer that would not be bit-exact."""
    ranges = map_ranges(qnet)
    for layer in qnet.net.layers:
        if layer.kind not in WEIGHTED_KINDS:
            continue
        lo, hi = input_range(qnet, layer, ranges)
        why = layer_violation(qnet.convs[layer.name], lo, hi, acc_width)
        if why:
            raise ModelError(f"layer {layer.name} does not run bit-exactly on {acc_width}-bit "
                             f"accumulators: {why}; quantize it with hwgen.compiler.fit_accumulator")


def _fit_conv(name: str, qc: QuantConv, lo, hi, acc_width: int) -> QuantConv:
    top = (1 << (acc_width - 1)) - 1
    amin, amax, partial = acc_bounds(qc.weight, lo, hi)
    bias = np.asarray(qc.bias, np.int64)
    smax = np.maximum(np.abs(amin + bias), np.abs(amax + bias))
    if partial.max(initial=0) > top or smax.max(initial=0) > top:
        c = int(np.argmax(np.maximum(partial, smax)))
        raise ModelError(f"layer {name}: channel {c}'s accumulator reaches "
                         f"{int(max(partial[c], smax[c]))}, beyond what {acc_width}-bit accumulators "
                         f"hold ({top}); use fewer input channels or narrower weights")
    mult = np.asarray(qc.multiplier, np.int64).copy()
    shift = np.asarray(qc.shift, np.int64).copy()
    lim = (1 << (ALU_MULT_BITS - 1)) - 1
    for c in range(mult.size):
        m, s = int(mult[c]), int(shift[c])
        d = max(0, s - (acc_width - 1))
        while True:
            md = (abs(m) + ((1 << d) >> 1)) >> d
            md = -md if m < 0 else md
            if (abs(md) <= lim and int(smax[c]) * abs(md) <= top) or md == 0:
                break
            d += 1
        if md == 0 or s - d < 0:
            raise ModelError(f"layer {name}: channel {c}'s requantization scale {m}/2**{s} cannot be "
                             f"kept on {acc_width}-bit accumulators (|acc + bias| up to {int(smax[c])})")
        mult[c], shift[c] = md, s - d
    return dataclasses.replace(qc, multiplier=mult, shift=shift)


def fit_accumulator(qnet: QuantNetwork, acc_width: int) -> QuantNetwork:
    """``qnet`` with each weighted layer's multipliers shortened just enough to be bit-exact on
    ``acc_width``-bit accumulators (see module doc). Layers that already fit are unchanged.

    Raises :class:`ModelError` when a layer's accumulator itself cannot fit.
    """
    ranges = map_ranges(qnet)
    convs = {}
    for layer in qnet.net.layers:
        if layer.kind not in WEIGHTED_KINDS:
            continue
        lo, hi = input_range(qnet, layer, ranges)
        qc = qnet.convs[layer.name]
        convs[layer.name] = qc if layer_violation(qc, lo, hi, acc_width) is None else \
            _fit_conv(layer.name, qc, lo, hi, acc_width)
    fitted = dataclasses.replace(qnet, convs=convs)
    check_accumulator(fitted, acc_width)
    return fitted
