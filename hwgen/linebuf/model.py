"""The golden sliding-window model: the one definition of windows, padding and strides that the
RTL line buffer (``hwgen.linebuf``), the HLS line buffer (``hls_templates/``) and every network
golden model share.

Conventions
-----------
- Images are ``[H, W, C]`` arrays (row-major, channels last), streamed row by row, pixel by pixel.
- Padding is ``(top, bottom, left, right)`` rows/columns of ``pad_value``. ``"same"`` pads so that
  the output is ``ceil(H / stride) x ceil(W / stride)``, the extra pixel (when the total is odd) at
  the bottom/right (TensorFlow's convention); ``"none"`` pads nothing.
- Window ``(oy, ox)`` covers padded rows ``oy*stride .. oy*stride+K-1`` and columns
  ``ox*stride .. ox*stride+K-1``. Output size is ``(H + top + bottom - K) // stride + 1`` (0 when the
  padded image is smaller than the kernel).
"""
from __future__ import annotations

from typing import Union

import numpy as np

from ..errors import ConfigError

Padding = Union[str, tuple[int, int, int, int]]


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding of one axis for ``"same"``."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pad_amounts(kernel: int, stride: int, padding: Padding, height: int, width: int
                ) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` for a padding mode at a given image size."""
    if isinstance(padding, str):
        if padding == "none":
            return (0, 0, 0, 0)
        if padding == "same":
            return same_padding(height, kernel, stride) + same_padding(width, kernel, stride)
        raise ConfigError(f"padding must be one of none, same or (top, bottom, left, right), not {padding!r}")
    pads = tuple(int(p) for p in padding)
    if len(pads) != 4 or min(pads) < 0:
        raise ConfigError(f"explicit padding must be four non-negative integers (top, bottom, left, right), "
                          f"not {padding!r}")
    return pads  # type: ignore[return-value]


def output_size(height: int, width: int, kernel: int, stride: int,
                pads: tuple[int, int, int, int]) -> tuple[int, int]:
    """Output rows and columns of a KxK window with the given stride and padding."""
    t, b, l, r = pads
    ph, pw = height + t + b, width + l + r
    oh = (ph - kernel) // stride + 1 if ph >= kernel else 0
    ow = (pw - kernel) // stride + 1 if pw >= kernel else 0
    return oh, ow


def pad_image(image: np.ndarray, pads: tuple[int, int, int, int], pad_value: int = 0) -> np.ndarray:
    t, b, l, r = pads
    return np.pad(image, ((t, b), (l, r), (0, 0)), mode="constant", constant_values=pad_value)


def windows(image: np.ndarray, kernel: int, stride: int = 1, padding: Padding = "none",
            pad_value: int = 0) -> np.ndarray:
    """All KxK windows of ``image`` (``[H, W, C]``) as ``[OH, OW, K, K, C]``, in stream order.

    The array is a view-derived copy in the image's dtype; window ``[oy, ox, ky, kx, c]`` is padded
    pixel ``(oy*stride + ky, ox*stride + kx)`` of channel ``c``.
    """
    if image.ndim != 3:
        raise ValueError(f"image must be [H, W, C], not shape {image.shape}")
    h, w, c = image.shape
    pads = pad_amounts(kernel, stride, padding, h, w)
    oh, ow = output_size(h, w, kernel, stride, pads)
    if oh == 0 or ow == 0:
        return np.zeros((oh, ow, kernel, kernel, c), dtype=image.dtype)
    p = pad_image(image, pads, pad_value)
    v = np.lib.stride_tricks.sliding_window_view(p, (kernel, kernel), axis=(0, 1))  # [PH-K+1, PW-K+1, C, K, K]
    v = v[: (oh - 1) * stride + 1: stride, : (ow - 1) * stride + 1: stride]
    return np.ascontiguousarray(v.transpose(0, 1, 3, 4, 2))


# --- streaming line buffer and depthwise engine (hwgen.linebuf.rtl) ----------------------------

#: Cycles from a step (a pixel's beat accepted) to its window on the line buffer's output: the
#: input register, the line memory read, the window register.
LINEBUF_LATENCY = 3
#: Cycles the depthwise engine adds after the line buffer's window: window register, products,
#: their sum, + bias, partial products of x multiplier, their sum, shift, rounding, then the
#: clamped beat through the output FIFO (two cycles when it is empty).
DEPTHWISE_LATENCY = 10


def emission_steps(height: int, width: int, kernel: int, stride: int = 1,
                   padding: Padding = "none") -> np.ndarray:
    """Stream step (0 = a frame's first pixel, one step per pixel) at which the streaming line
    buffer completes each window, as ``[OH, OW]``: window ``(oy, ox)`` needs padded pixel
    ``(oy*s + K-1, ox*s + K-1)``, that is stream row ``oy*s - top + K-1`` and column
    ``ox*s - left + K-1`` (columns past the edge run into the next row, rows past the bottom into
    the following frame or internal idle steps)."""
    t, b, l, r = pad_amounts(kernel, stride, padding, height, width)
    oh, ow = output_size(height, width, kernel, stride, (t, b, l, r))
    oy = np.arange(oh)[:, None]
    ox = np.arange(ow)[None, :]
    return (oy * stride - t + kernel - 1) * width + (ox * stride - l + kernel - 1)


def frame_cycles(height: int, width: int, kernel: int, stride: int = 1, padding: Padding = "none",
                 latency: int = LINEBUF_LATENCY, beats_per_pixel: int = 1) -> dict[str, int]:
    """Cycle model of one frame streamed with no stalls, one beat per cycle and
    ``beats_per_pixel`` beats per pixel: ``period`` (cycles between back-to-back frames:
    beats x H x W), ``latency_last`` (first beat in to the last window's last beat out, counting
    both cycles) and ``tail`` (pixel steps after the last pixel that the frame still needs)."""
    steps = emission_steps(height, width, kernel, stride, padding)
    last = int(steps.max()) if steps.size else height * width - 1
    return {"period": beats_per_pixel * height * width,
            "tail": max(last - (height * width - 1), 0),
            "latency_last": (last + 1) * beats_per_pixel + latency}


def depthwise_reference(image: np.ndarray, weights: np.ndarray, bias: np.ndarray,
                        multiplier: np.ndarray, shift: np.ndarray, lo: int, hi: int, *,
                        stride: int = 1, padding: Padding = "same", pad_value: int = 0) -> np.ndarray:
    """The depthwise engine's output: :func:`hwgen.nn.ops.depthwise_conv2d` accumulators (int64)
    requantized by :func:`hwgen.nn.quant.requantize`; ``weights`` is ``[K, K, C]``, the per-channel
    ``bias``, ``multiplier``, ``shift`` are ``[C]``; returns int64 ``[OH, OW, C]`` in ``[lo, hi]``."""
    from ..nn.ops import depthwise_conv2d
    from ..nn.quant import requantize
    acc = depthwise_conv2d(image, weights, stride=stride, padding=padding, pad_value=pad_value)
    return requantize(acc, bias, multiplier, shift, lo, hi)
