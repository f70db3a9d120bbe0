"""Bit-exact integer operators on ``[H, W, C]`` int arrays, built on the shared window model
(:mod:`hwgen.linebuf.model`) and requantization (:mod:`hwgen.nn.quant`). Accumulators are int64.
"""
from __future__ import annotations

import numpy as np

from ..linebuf.model import Padding, windows


def conv2d(x: np.ndarray, w: np.ndarray, *, stride: int = 1, padding: Padding = "none",
           groups: int = 1, pad_value: int = 0) -> np.ndarray:
    """Grouped 2-D convolution, accumulators only.

    ``x`` is ``[H, W, Cin]``; ``w`` is ``[K, K, Cin // groups, Cout]`` with output channel ``o``
    belonging to group ``o // (Cout // groups)`` (depthwise: ``groups == Cin``).
    Returns int64 ``[OH, OW, Cout]``.
    """
    k = w.shape[0]
    cin = x.shape[2]
    cout = w.shape[3]
    if w.shape[0] != w.shape[1] or w.shape[2] * groups != cin or cout % groups:
        raise ValueError(f"weights {w.shape} do not fit input channels {cin} with groups={groups}")
    win = windows(x, k, stride, padding, pad_value).astype(np.int64)    # [OH, OW, K, K, Cin]
    oh, ow = win.shape[:2]
    g, cpg, opg = groups, cin // groups, cout // groups
    win = win.reshape(oh, ow, k, k, g, cpg)
    wr = w.astype(np.int64).reshape(k, k, cpg, g, opg)
    acc = np.einsum("hwijgc,ijcgo->hwgo", win, wr, optimize=True)
    return acc.reshape(oh, ow, cout)


def depthwise_conv2d(x: np.ndarray, w: np.ndarray, *, stride: int = 1, padding: Padding = "same",
                     pad_value: int = 0) -> np.ndarray:
    """Depthwise KxK convolution with multiplier 1: ``w`` is ``[K, K, C]``; int64 ``[OH, OW, C]``."""
    k, _, c = w.shape
    win = windows(x, k, stride, padding, pad_value).astype(np.int64)
    return np.einsum("hwijc,ijc->hwc", win, w.astype(np.int64), optimize=True)


def maxpool2d(x: np.ndarray, kernel: int = 2, stride: int | None = None,
              padding: Padding = "none") -> np.ndarray:
    """Max pooling (pads with the dtype's minimum so padding never wins)."""
    stride = stride or kernel
    lo = np.iinfo(x.dtype).min if np.issubdtype(x.dtype, np.integer) else -np.inf
    win = windows(x, kernel, stride, padding, lo)
    return win.max(axis=(2, 3))


def reorg(x: np.ndarray, stride: int = 2) -> np.ndarray:
    """Space-to-depth: ``[H, W, C]`` -> ``[H/s, W/s, C*s*s]``; output channel
    ``(dy * s + dx) * C + c`` holds pixel ``(y*s + dy, x*s + dx)`` of channel ``c``."""
    h, w, c = x.shape
    if h % stride or w % stride:
        raise ValueError(f"reorg needs H and W divisible by {stride}, not {h}x{w}")
    y = x.reshape(h // stride, stride, w // stride, stride, c).transpose(0, 2, 1, 3, 4)
    return y.reshape(h // stride, w // stride, stride * stride * c)


def concat(*xs: np.ndarray) -> np.ndarray:
    """Channel concatenation."""
    return np.concatenate(xs, axis=2)
