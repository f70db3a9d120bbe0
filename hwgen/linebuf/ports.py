"""Bit layouts of the line buffer's and the depthwise engine's ports, in plain Python (no
amaranth): what a testbench, a driver or a host program packs and unpacks.

- A pixel takes ``C / Cb`` beats of ``Cb = channels_per_beat`` channels (one beat when it is
  not set); beat ``j`` holds channel ``j*Cb + c`` in bits ``c*B .. c*B+B-1`` (two's complement
  when signed).
- A window is split the same way: beat ``j`` holds element ``[ky][kx][j*Cb + c]`` at bit
  ``((ky*K + kx)*Cb + c) * B``.
- A parameter record (address ``c < C``) holds, from bit 0: the K*K weights of channel ``c`` in
  ``[ky][kx]`` order, then bias, multiplier and shift; address ``C`` holds ``lo`` then ``hi``.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from ..errors import ConfigError
from .config import SHIFT_WIDTH, DepthwiseConfig


def _ints(name: str, values) -> np.ndarray:
    arr = np.asarray(values)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ConfigError(f"param_writes: {name} must be integers, not {arr.dtype}")
    return arr.astype(np.int64)


def _in_range(name: str, rows: np.ndarray, lo: int, hi: int, field: str) -> None:
    """``rows`` is ``[channel, values]``; every value must lie in ``lo..hi`` (what ``field``
    holds)."""
    bad = (rows < lo) | (rows > hi)
    if bad.any():
        ch, i = (int(v[0]) for v in np.nonzero(bad))
        raise ConfigError(f"param_writes: {name} must be integers in {lo}..{hi} ({field}), "
                          f"not {int(rows[ch, i])} (channel {ch})")


def _signed_field(rows: np.ndarray, name: str, cfg: DepthwiseConfig, field: str) -> None:
    """Every value of ``rows`` fits the signed ``cfg.<field>`` bits."""
    width = getattr(cfg, field)
    _in_range(name, rows, -(1 << (width - 1)), (1 << (width - 1)) - 1, f"{field} {width}")


def pack_values(values: Iterable[int], width: int) -> int:
    """Pack integers (each taken modulo ``2**width``) from the least significant end."""
    mask = (1 << width) - 1
    out = 0
    for i, v in enumerate(values):
        out |= (int(v) & mask) << (i * width)
    return out


def unpack_values(word: int, width: int, count: int, signed: bool = False) -> np.ndarray:
    """The inverse of :func:`pack_values`: ``count`` fields of ``width`` bits as int64."""
    mask = (1 << width) - 1
    vals = [(int(word) >> (i * width)) & mask for i in range(count)]
    if signed:
        vals = [v - (1 << width) if v >> (width - 1) else v for v in vals]
    return np.array(vals, dtype=np.int64)


def _split(channels: int, channels_per_beat: int | None) -> tuple[int, int]:
    cb = channels_per_beat or channels
    if cb <= 0 or channels % cb:
        raise ValueError(f"channels_per_beat must divide the channels ({channels}), not {cb}")
    return cb, channels // cb


def pack_pixels(image: np.ndarray, width: int, channels_per_beat: int | None = None
                ) -> list[list[int]]:
    """Rows of input beats of an ``[H, W, C]`` image: each pixel as ``C / channels_per_beat``
    beats (one beat of all channels when ``channels_per_beat`` is None)."""
    image = np.asarray(image)
    cb, nb = _split(image.shape[-1], channels_per_beat)
    return [[pack_values(px[j * cb:(j + 1) * cb], width) for px in row for j in range(nb)]
            for row in image]


def pack_windows(win: np.ndarray, width: int, channels_per_beat: int | None = None
                 ) -> list[list[int]]:
    """Rows of window beats of ``[OH, OW, K, K, C]`` windows (the model's :func:`windows`), each
    window as ``C / channels_per_beat`` beats."""
    win = np.asarray(win)
    cb, nb = _split(win.shape[-1], channels_per_beat)
    return [[pack_values(w[..., j * cb:(j + 1) * cb].reshape(-1), width)
             for w in row for j in range(nb)] for row in win]


def channel_record(cfg: DepthwiseConfig, weights: np.ndarray, bias: int, multiplier: int,
                   shift: int) -> int:
    """The parameter word of one channel: ``weights`` is ``[K, K]``."""
    k = cfg.kernel
    w = np.asarray(weights).reshape(k * k)
    word = pack_values(w, cfg.weight_width)
    o = k * k * cfg.weight_width
    word |= (int(bias) & ((1 << cfg.bias_width) - 1)) << o
    o += cfg.bias_width
    word |= (int(multiplier) & ((1 << cfg.multiplier_width) - 1)) << o
    o += cfg.multiplier_width
    word |= (int(shift) & ((1 << SHIFT_WIDTH) - 1)) << o
    return word


def param_writes(cfg: DepthwiseConfig, weights: np.ndarray, bias, multiplier, shift,
                 lo: int, hi: int) -> list[tuple[int, int]]:
    """``(address, data)`` writes that load a whole layer: ``weights`` ``[K, K, C]``, per-channel
    ``bias``, ``multiplier``, ``shift`` and the clamp ``lo``/``hi``."""
    k, c = cfg.kernel, cfg.channels
    weights = _ints("weights", weights)
    if weights.shape != (k, k, c):
        raise ConfigError(f"param_writes: weights must have shape {(k, k, c)} [K, K, C], not {weights.shape}")
    _signed_field(weights.transpose(2, 0, 1).reshape(c, -1), "weights", cfg, "weight_width")
    per_channel = {}
    for name, values in (("bias", bias), ("multiplier", multiplier), ("shift", shift)):
        v = _ints(name, values).reshape(-1)
        if v.size != c:
            raise ConfigError(f"param_writes: {name} must have {c} values (one per channel), not {v.size}")
        per_channel[name] = v
    _signed_field(per_channel["bias"][:, None], "bias", cfg, "bias_width")
    _signed_field(per_channel["multiplier"][:, None], "multiplier", cfg, "multiplier_width")
    sh = per_channel["shift"]
    _in_range("shift", sh[:, None], 0, (1 << SHIFT_WIDTH) - 1, f"{SHIFT_WIDTH}-bit field")
    qlo, qhi = -(1 << (cfg.data_width - 1)), (1 << (cfg.data_width - 1)) - 1
    if not (isinstance(lo, (int, np.integer)) and isinstance(hi, (int, np.integer)) and qlo <= lo <= hi <= qhi):
        raise ConfigError(f"param_writes: the clamp needs {qlo} <= lo <= hi <= {qhi}, not lo={lo}, hi={hi}")
    writes = [(ch, channel_record(cfg, weights[:, :, ch], int(per_channel["bias"][ch]),
                                  int(per_channel["multiplier"][ch]), int(sh[ch])))
              for ch in range(c)]
    writes.append((cfg.channels, pack_values([lo, hi], cfg.data_width)))
    return writes
