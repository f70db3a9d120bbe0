"""``hwgen linebuf generate`` and ``hwgen dwconv generate``: thin wrappers over
:func:`hwgen.linebuf.rtl.generate`."""
from __future__ import annotations

import argparse
import dataclasses

from ..cliutil import add_config_flags, add_json, add_out, emit, resolve_config, table
from ..errors import ConfigError
from .config import DepthwiseConfig, LineBufferConfig
from .presets import DWCONV_PRESETS, LINEBUF_PRESETS

# flag -> config field
_COMMON = {"kernel": "kernel", "stride": "stride", "padding": "padding", "pad_value": "pad_value",
           "max_width": "max_width", "max_height": "max_height", "channels": "channels",
           "data_width": "data_width", "channels_per_beat": "channels_per_beat"}
_DW = {"channels_per_cycle": "channels_per_cycle", "weight_width": "weight_width"}


def _padding(text: str):
    if text in ("none", "same"):
        return text
    try:
        pads = tuple(int(x) for x in text.split(","))
    except ValueError:
        pads = ()
    if len(pads) != 4:
        raise ConfigError(f"--padding must be none, same or top,bottom,left,right, not {text!r}")
    return pads


def _add_flags(p: argparse.ArgumentParser, presets, depthwise: bool) -> None:
    add_config_flags(p, list(presets), default_preset="default")
    p.add_argument("--kernel", type=int, metavar="K", help="window size K (1..7)")
    p.add_argument("--stride", type=int, metavar="S", help="stride (1 or 2)")
    p.add_argument("--padding", metavar="MODE",
                   help="none, same, or top,bottom,left,right (each pair summing to at most K-1)")
    p.add_argument("--pad-value", type=int, metavar="V", help="value of padding pixels")
    p.add_argument("--max-width", type=int, metavar="W", help="largest run-time image width")
    p.add_argument("--max-height", type=int, metavar="H", help="largest run-time image height")
    p.add_argument("--channels", type=int, metavar="C", help="channels per pixel")
    p.add_argument("--data-width", type=int, metavar="B", help="bits per channel value")
    p.add_argument("--channels-per-beat", type=int, metavar="N",
                   help="channels per stream beat, a divisor of C (default: a whole pixel per beat)")
    if depthwise:
        p.add_argument("--channels-per-cycle", type=int, metavar="P",
                       help="channels computed per cycle (power of two dividing C, or C)")
        p.add_argument("--weight-width", type=int, metavar="B", help="signed weight bits")
    add_out(p)
    add_json(p)


def _config(args, cls, presets):
    cfg = resolve_config(args, cls, presets)
    flags = dict(_COMMON, **(_DW if cls is DepthwiseConfig else {}))
    changes = {field: getattr(args, flag) for flag, field in flags.items()
               if getattr(args, flag, None) is not None}
    if "padding" in changes:
        changes["padding"] = _padding(changes["padding"])
    return dataclasses.replace(cfg, **changes) if changes else cfg


def _generate(args, cls, presets) -> int:
    from .rtl import generate
    cfg = _config(args, cls, presets)
    exp = generate(cfg, args.out)
    result = {"slug": cfg.slug, "verilog": str(exp.verilog), "manifest": str(exp.manifest),
              "memory_bits": cfg.memory_bits, "beats_per_pixel": cfg.beats_per_pixel,
              "beat_bits": cfg.beat_width, "window_beat_bits": cfg.window_width}
    if isinstance(cfg, DepthwiseConfig):
        result.update(channels_per_cycle=cfg.channels_per_cycle, cycles_per_window=cfg.groups,
                      param_word_bits=cfg.param_width)
    emit(result, args, lambda r: table([[k, v] for k, v in r.items()], ["field", "value"]))
    return 0


def register(sub) -> None:
    p = sub.add_parser("linebuf", help="streaming line buffers (KxK windows, padding, stride)")
    s = p.add_subparsers(dest="linebuf_command", metavar="COMMAND")
    s.required = True
    g = s.add_parser("generate", help="write a LineBuffer's Verilog and manifest")
    _add_flags(g, LINEBUF_PRESETS, depthwise=False)
    g.set_defaults(func=lambda a: _generate(a, LineBufferConfig, LINEBUF_PRESETS))

    p = sub.add_parser("dwconv", help="streaming depthwise-convolution engine")
    s = p.add_subparsers(dest="dwconv_command", metavar="COMMAND")
    s.required = True
    g = s.add_parser("generate", help="write a DepthwiseConv's Verilog and manifest")
    _add_flags(g, DWCONV_PRESETS, depthwise=True)
    g.set_defaults(func=lambda a: _generate(a, DepthwiseConfig, DWCONV_PRESETS))
