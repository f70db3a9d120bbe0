"""What can be chosen for a line buffer and a depthwise-convolution engine.

Both configs fix everything that shapes the hardware at generation time (kernel, stride, padding
mode, maximum image size, channels, widths); the actual image width and height are set at run time
(``width`` / ``height`` ports, up to the maximums).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from ..configbase import check_choice, check_int, check_type
from ..errors import ConfigError

Padding = Union[str, tuple[int, int, int, int]]

#: Width of the run-time requantization shift field (shifts 0..63).
SHIFT_WIDTH = 6


def _check_padding(owner: str, kernel: int, padding) -> Padding:
    if isinstance(padding, str) and padding in ("none", "same"):
        return padding
    if isinstance(padding, (list, tuple)) and len(padding) == 1 and isinstance(padding[0], str):
        padding = padding[0]          # from ``--set padding=...`` over an explicit padding
    if isinstance(padding, str) and padding in ("none", "same"):
        return padding
    if isinstance(padding, str) and "," in padding:
        try:
            padding = tuple(int(p) for p in padding.split(","))
        except ValueError:
            pass
    if isinstance(padding, list):
        padding = tuple(padding)
    if (not isinstance(padding, tuple) or len(padding) != 4
            or not all(isinstance(p, int) and not isinstance(p, bool) for p in padding)):
        raise ConfigError(f"{owner}.padding must be none, same or four integers "
                          f"(top, bottom, left, right), not {padding!r}")
    t, b, l, r = padding
    if min(padding) < 0 or t + b > kernel - 1 or l + r > kernel - 1:
        raise ConfigError(f"{owner}.padding must be non-negative with top+bottom and left+right "
                          f"at most kernel-1 ({kernel - 1}), not {padding!r}")
    return padding


def _padding_slug(padding: Padding) -> str:
    if isinstance(padding, str):
        return padding
    return "p" + "".join(str(p) for p in padding)


@dataclass(frozen=True, kw_only=True)
class LineBufferConfig:
    """A streaming line buffer that turns a pixel stream into KxK windows.

    Parameters
    ----------
    kernel : int
        Window size K, 1..7.
    stride : int
        1 or 2.
    padding : str or tuple
        ``"none"``, ``"same"`` (TensorFlow's convention, see :mod:`hwgen.linebuf.model`) or
        explicit ``(top, bottom, left, right)`` with top+bottom and left+right at most K-1.
    pad_value : int
        Value of padding pixels (a ``data_width``-bit pattern; negative values are two's complement).
    max_width, max_height : int
        Largest image the hardware accepts (1..4096); the actual size is set at run time.
    channels : int
        Channels per pixel C (1..1024).
    data_width : int
        Bits per channel value (1..32).
    channels_per_beat : int or None
        Channels carried by one stream beat (a divisor of ``channels``); a pixel then takes
        ``channels / channels_per_beat`` beats, channel groups in order, and each output window
        is split the same way. ``None`` (the default) means one beat carries a whole pixel.
    """
    kernel: int = 3
    stride: int = 1
    padding: Padding = "same"
    pad_value: int = 0
    max_width: int = 320
    max_height: int = 320
    channels: int = 32
    data_width: int = 8
    channels_per_beat: Optional[int] = None

    # data_width's range, and whether channel values are signed (then pad_value must be too)
    _data_widths = (1, 32)
    _signed = False

    def __post_init__(self):
        own = type(self).__name__
        check_int(own, "kernel", self.kernel, 1, 7)
        check_type(own, "stride", self.stride, int)
        check_choice(own, "stride", self.stride, (1, 2))
        object.__setattr__(self, "padding", _check_padding(own, self.kernel, self.padding))
        check_int(own, "max_width", self.max_width, 1, 4096)
        check_int(own, "max_height", self.max_height, 1, 4096)
        check_int(own, "channels", self.channels, 1, 1024)
        check_int(own, "data_width", self.data_width, *self._data_widths)
        if self._signed:
            lo, hi = -(1 << (self.data_width - 1)), (1 << (self.data_width - 1)) - 1
            check_type(own, "pad_value", self.pad_value, int)
            if not lo <= self.pad_value <= hi:
                raise ConfigError(f"{own}.pad_value must be an integer in {lo}..{hi} (signed "
                                  f"activations), not {self.pad_value}")
        else:
            lo, hi = -(1 << (self.data_width - 1)), (1 << self.data_width) - 1
            check_int(own, "pad_value", self.pad_value, lo, hi)
        if self.channels_per_beat is not None:
            check_int(own, "channels_per_beat", self.channels_per_beat, 1, self.channels)
            if self.channels % self.channels_per_beat:
                raise ConfigError(f"{own}.channels_per_beat must divide channels ({self.channels}), "
                                  f"not {self.channels_per_beat}")

    @property
    def beat_channels(self) -> int:
        """Channels per stream beat (``channels_per_beat``, or all channels)."""
        return self.channels_per_beat or self.channels

    @property
    def beats_per_pixel(self) -> int:
        """Stream beats (and cycles at full rate) per pixel: channels / beat_channels."""
        return self.channels // self.beat_channels

    @property
    def pixel_width(self) -> int:
        """Bits of one whole pixel (all channels)."""
        return self.channels * self.data_width

    @property
    def beat_width(self) -> int:
        """Bits of one input beat (``beat_channels`` channels of one pixel)."""
        return self.beat_channels * self.data_width

    @property
    def window_width(self) -> int:
        """Bits of one output beat: a KxK window of ``beat_channels`` channels, element
        ``[ky][kx][c]`` at bit ``((ky*K + kx)*beat_channels + c) * data_width``."""
        return self.kernel * self.kernel * self.beat_width

    @property
    def memory_bits(self) -> int:
        """Line-memory bits: exactly (K-1) rows x max_width x C x data_width."""
        return (self.kernel - 1) * self.max_width * self.pixel_width

    @property
    def pad_bits(self) -> int:
        """``pad_value`` as a ``data_width``-bit pattern."""
        return self.pad_value & ((1 << self.data_width) - 1)

    @property
    def slug(self) -> str:
        split = f"x{self.beat_channels}" if self.beats_per_pixel > 1 else ""
        return (f"k{self.kernel}s{self.stride}{_padding_slug(self.padding)}"
                f"_w{self.max_width}h{self.max_height}c{self.channels}{split}b{self.data_width}")


@dataclass(frozen=True, kw_only=True)
class DepthwiseConfig(LineBufferConfig):
    """A streaming KxK depthwise convolution with per-channel requantization.

    Parameters (besides those of :class:`LineBufferConfig`)
    -------------------------------------------------------
    channels_per_cycle : int
        Channels P computed per clock (P x K x K multipliers); a power of two dividing
        ``channels`` (and ``channels_per_beat`` when set), or ``channels`` itself. One window
        takes ``channels / P`` cycles, one beat ``beat_channels / P``.
    weight_width : int
        Signed weight bits (2..16).
    bias_width : int
        Signed bias bits (2..48).
    multiplier_width : int
        Signed requantization multiplier bits (2..32).

    Activations (``data_width``) are signed, ``pad_value`` too; outputs have ``data_width`` bits.
    """
    channels_per_cycle: int = 8
    weight_width: int = 8
    bias_width: int = 32
    multiplier_width: int = 16

    _data_widths = (2, 16)
    _signed = True

    def __post_init__(self):
        super().__post_init__()
        own = type(self).__name__
        check_int(own, "weight_width", self.weight_width, 2, 16)
        check_int(own, "bias_width", self.bias_width, 2, 48)
        check_int(own, "multiplier_width", self.multiplier_width, 2, 32)
        prod = max(self.acc_width, self.bias_width) + 1 + self.multiplier_width
        if prod > 63:
            raise ConfigError(f"{own}: (acc + bias) x multiplier must fit 63 bits, the golden "
                              f"model's int64 (max(acc_width, bias_width) + 1 + multiplier_width), "
                              f"not {prod}")
        p, c, bc = self.channels_per_cycle, self.channels, self.beat_channels
        if bc == c:
            check_int(own, "channels_per_cycle", p, 1, c)
            if p != c and (c % p or p & (p - 1)):
                raise ConfigError(f"{own}.channels_per_cycle must be a power of two dividing "
                                  f"channels ({c}) or equal to it, not {p}")
        else:
            check_int(own, "channels_per_cycle", p, 1, bc)
            if bc % p or p & (p - 1):
                raise ConfigError(f"{own}.channels_per_cycle must be a power of two dividing "
                                  f"channels_per_beat ({bc}), not {p}")

    @property
    def linebuf(self) -> LineBufferConfig:
        return LineBufferConfig(kernel=self.kernel, stride=self.stride, padding=self.padding,
                                pad_value=self.pad_value, max_width=self.max_width,
                                max_height=self.max_height, channels=self.channels,
                                data_width=self.data_width, channels_per_beat=self.channels_per_beat)

    @property
    def groups(self) -> int:
        """Cycles per window (a whole pixel): channels / channels_per_cycle."""
        return self.channels // self.channels_per_cycle

    @property
    def groups_per_beat(self) -> int:
        """Cycles per beat: beat_channels / channels_per_cycle."""
        return self.beat_channels // self.channels_per_cycle

    @property
    def acc_width(self) -> int:
        """Signed accumulator bits: a full KxK sum of products never overflows."""
        return self.data_width + self.weight_width + (self.kernel * self.kernel - 1).bit_length()

    @property
    def param_width(self) -> int:
        """Bits of one parameter-port word (see :class:`hwgen.linebuf.rtl.DepthwiseConv`)."""
        per_channel = (self.kernel * self.kernel * self.weight_width + self.bias_width
                       + self.multiplier_width + SHIFT_WIDTH)
        return max(per_channel, 2 * self.data_width)

    @property
    def slug(self) -> str:
        return (super().slug + f"_p{self.channels_per_cycle}w{self.weight_width}")
