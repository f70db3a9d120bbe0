"""Shared pieces of the ``hwgen`` command line: flags spelled the same everywhere, tables,
progress, and resolving a config from ``--preset`` / ``--config`` / ``--set``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Callable, Mapping, Sequence, TypeVar

from .configbase import apply_overrides, load_config
from .errors import ConfigError

T = TypeVar("T")


def add_out(p: argparse.ArgumentParser, required: bool = True, default: str | None = None) -> None:
    p.add_argument("--out", required=required and default is None, default=default, metavar="DIR",
                   help="output folder (everything this command writes goes here)")


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")


def add_config_flags(p: argparse.ArgumentParser, presets: Sequence[str] | None = None,
                     default_preset: str | None = None) -> None:
    """Add ``--preset`` (when there are presets), ``--config FILE`` and ``--set KEY=VALUE``."""
    if presets is not None:
        p.add_argument("--preset", default=None, metavar="NAME",
                       help=f"named configuration: {', '.join(presets)}"
                            + (f" (default {default_preset})" if default_preset else ""))
        p.set_defaults(_default_preset=default_preset)
    p.add_argument("--config", metavar="FILE", help="configuration JSON file")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one configuration field (repeatable)")


def resolve_config(args: argparse.Namespace, cls: type[T], presets: Mapping[str, T] | None = None) -> T:
    """The config selected by ``--preset`` or ``--config`` (or the default preset, or ``cls()``),
    with ``--set`` overrides applied."""
    preset = getattr(args, "preset", None)
    if getattr(args, "config", None):
        if preset is not None:
            raise ConfigError("give either --preset or --config, not both")
        cfg = load_config(cls, args.config)
    elif presets is not None:
        preset = preset if preset is not None else getattr(args, "_default_preset", None)
        if preset is None:
            raise ConfigError(f"--preset is required; choose one of {', '.join(presets)}")
        if preset not in presets:
            raise ConfigError(f"unknown preset {preset!r}; valid presets: {', '.join(presets)}")
        cfg = presets[preset]
    else:
        cfg = cls()
    return apply_overrides(cfg, getattr(args, "set", None))


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """Format rows as an aligned plain-text table."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    # A column is right-aligned when every value in it is a number.
    right = [all(isinstance(r[i], (int, float)) and not isinstance(r[i], bool) for r in rows)
             for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if ra else c.ljust(w) for c, w, ra in zip(r, widths, right)).rstrip()
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.0f}"
    return str(v)


def _json_default(value: Any) -> Any:
    """NumPy scalars and arrays as JSON numbers and lists (``str`` made them strings: "5"),
    anything else (paths) as text."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def emit(result: Any, args: argparse.Namespace, render: Callable[[Any], str]) -> None:
    """Print ``result`` as JSON (``--json``) or through ``render``."""
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2, default=_json_default))
    else:
        print(render(result))


class Progress:
    """A one-line progress report on stderr (only when stderr is a terminal, else sparse lines)."""

    def __init__(self, label: str, total: int | None = None, every_s: float = 5.0):
        self.label, self.total, self.every_s = label, total, every_s
        self.t0 = self.last = time.monotonic()
        self.tty = sys.stderr.isatty()

    def update(self, done: int, note: str = "") -> None:
        now = time.monotonic()
        if not self.tty and now - self.last < self.every_s:
            return
        self.last = now
        tot = f"/{self.total}" if self.total else ""
        msg = f"{self.label}: {done}{tot} {note} [{now - self.t0:.0f}s]"
        if self.tty:
            sys.stderr.write("\r" + msg[:150].ljust(150))
        else:
            sys.stderr.write(msg + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")
            sys.stderr.flush()
