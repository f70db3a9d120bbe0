"""Integer requantization: the one definition of hwgen's fixed-point semantics, shared by the HLS
templates, the RTL depthwise engine, the accelerator compiler and every golden model.

An output is computed from a wide accumulator ``acc`` (per output channel ``c``) as::

    y = clamp(((acc + bias[c]) * multiplier[c] + round) >> shift[c], lo, hi)
    round = 1 << (shift[c] - 1) if shift[c] > 0 else 0

``>>`` is an arithmetic shift (floor), so the rounding is round-half-up (towards +inf on ties).
``lo``/``hi`` implement the activation: the full output range for none, ``0`` for ReLU, and a
quantized 6.0 as ``hi`` for ReLU6. Multipliers are signed integers of ``multiplier_width`` bits.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError, ModelError


def round_shift(x: np.ndarray, shift: np.ndarray | int) -> np.ndarray:
    """Arithmetic shift right with round-half-up; ``shift`` may be 0 (no rounding)."""
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    rnd = np.where(shift > 0, np.left_shift(np.int64(1), np.maximum(shift - 1, 0)), 0)
    return np.right_shift(x + rnd, shift)


def requantize(acc: np.ndarray, bias: np.ndarray | int, multiplier: np.ndarray | int,
               shift: np.ndarray | int, lo: int, hi: int) -> np.ndarray:
    """Requantize accumulators (channels on the last axis) to ``[lo, hi]`` (see module doc)."""
    acc = np.asarray(acc, dtype=np.int64)
    s = acc + np.asarray(bias, dtype=np.int64)
    m = np.asarray(multiplier, dtype=np.int64)
    sh = np.asarray(shift, dtype=np.int64)
    if s.size and m.size:
        # int64 would wrap silently: refuse instead (Python ints do not overflow).
        smax = max(abs(int(s.max())), abs(int(s.min())))
        mmax = max(abs(int(m.max())), abs(int(m.min())))
        need = smax * mmax + (1 << max(int(sh.max()) - 1, 0) if sh.size else 0)
        if need >= 1 << 63:
            raise ModelError(f"requantize: (acc + bias) x multiplier + rounding must fit int64, "
                             f"not {need.bit_length() + 1} bits (|acc + bias| up to {smax}, "
                             f"|multiplier| up to {mmax})")
    return np.clip(round_shift(s * m, shift), lo, hi)


def activation_range(activation: str, width: int, six: int | None = None) -> tuple[int, int]:
    """``(lo, hi)`` clamp for an activation on a signed ``width``-bit output.

    ``six`` is the quantized value of 6.0 (needed for ``relu6``; clipped to the output range).
    """
    qmin, qmax = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if activation == "none":
        return qmin, qmax
    if activation == "relu":
        return 0, qmax
    if activation == "relu6":
        if six is None:
            raise ConfigError("relu6 needs the quantized value of 6.0")
        return 0, int(min(max(six, 0), qmax))
    raise ConfigError(f"activation must be one of none, relu, relu6, not {activation!r}")


def quantize_multiplier(scale: float, multiplier_width: int = 16, max_shift: int = 63) -> tuple[int, int]:
    """Integer ``(multiplier, shift)`` with ``multiplier / 2**shift ~= scale`` (scale > 0), the
    multiplier using as many of ``multiplier_width - 1`` magnitude bits as possible."""
    if not scale > 0 or not math.isfinite(scale):
        raise ConfigError(f"requantization scale must be a positive finite number, not {scale}")
    mant_bits = multiplier_width - 1
    m, e = math.frexp(scale)          # scale = m * 2**e, 0.5 <= m < 1
    shift = mant_bits - e
    mult = round(m * (1 << mant_bits))
    if mult == (1 << mant_bits):      # rounding overflowed the mantissa
        mult //= 2
        shift -= 1
    while shift < 0:                  # scale too large for the width: give up precision bits
        raise ConfigError(f"requantization scale {scale} needs a multiplier wider than {multiplier_width} bits")
    while shift > max_shift:
        mult = (mult + 1) >> 1 if shift - 1 >= max_shift else mult >> 1
        shift -= 1
    return int(mult), int(shift)
