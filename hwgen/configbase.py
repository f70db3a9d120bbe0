"""Helpers every ``<Thing>Config`` dataclass uses: range checks with uniform messages, loading from
dicts and files (unknown keys rejected), ``--set key=value`` overrides.

Configs are ``@dataclass(frozen=True, kw_only=True)``, validate in ``__post_init__`` with the
``check_*`` functions below, and expose a ``slug`` property.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Iterable, Sequence, TypeVar

from .errors import ConfigError

T = TypeVar("T")


def check_type(owner: str, name: str, value: Any, types: type | tuple[type, ...]) -> None:
    """Raise ``TypeError`` unless ``value`` is an instance of ``types`` (bool is not an int)."""
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        ok = False
    else:
        ok = isinstance(value, types)
    if not ok:
        tn = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
        raise TypeError(f"{owner}.{name} must be {tn}, not {type(value).__name__} {value!r}")


def check_int(owner: str, name: str, value: Any, lo: int | None = None, hi: int | None = None,
              *, pow2: bool = False) -> int:
    """Check that ``value`` is an int in ``lo..hi`` (and a power of two if ``pow2``)."""
    check_type(owner, name, value, int)
    bad = (lo is not None and value < lo) or (hi is not None and value > hi)
    bad = bad or (pow2 and (value <= 0 or value & (value - 1)))
    if bad:
        what = "a power of two" if pow2 else "an integer"
        if lo is not None and hi is not None:
            rng = f" in {lo}..{hi}"
        elif lo is not None:
            rng = f" >= {lo}"
        elif hi is not None:
            rng = f" <= {hi}"
        else:
            rng = ""
        raise ConfigError(f"{owner}.{name} must be {what}{rng}, not {value}")
    return value


def check_choice(owner: str, name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Check that ``value`` is one of ``choices``; the message lists them."""
    choices = list(choices)
    if value not in choices:
        raise ConfigError(f"{owner}.{name} must be one of {', '.join(map(str, choices))}, "
                          f"not {value!r}")
    return value


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain dict of a config dataclass (nested dataclasses and tuples become dicts and lists)."""
    def conv(v):
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (tuple, list)):
            return [conv(x) for x in v]
        return v
    return conv(cfg)


def config_from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build ``cls`` from a dict, rejecting unknown keys with the list of known ones."""
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__} must be loaded from a mapping, not {type(data).__name__}")
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"{cls.__name__} has no field {unknown[0]!r}; "
                          f"valid fields: {', '.join(names)}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            v = data[f.name]
            kwargs[f.name] = tuple(v) if isinstance(v, list) else v
    return cls(**kwargs)


def load_config(cls: type[T], path: str | Path) -> T:
    """Load a config from a JSON file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory, not a JSON file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text (a JSON file is)") from None
    except OSError as e:
        raise ConfigError(f"config file {path} cannot be read: {e.strerror or e}") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"config file {path} is not valid JSON: {e.msg} at line {e.lineno}") from None
    return config_from_dict(cls, data)


def _parse_value(text: str, current: Any) -> Any:
    if isinstance(current, bool):
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"expected a boolean (true/false), not {text!r}")
    if isinstance(current, int):
        try:
            return int(text, 0)
        except ValueError:
            raise ConfigError(f"expected an integer, not {text!r}") from None
    if isinstance(current, float):
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"expected a number, not {text!r}") from None
    if isinstance(current, tuple):
        try:
            v = json.loads(text)
        except json.JSONDecodeError:
            v = [x for x in text.split(",") if x]
        return tuple(v) if isinstance(v, list) else (v,)
    if current is None:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text


def apply_overrides(cfg: T, items: Sequence[str] | None) -> T:
    """Apply ``key=value`` strings (the CLI's ``--set``) to a config, checking each key."""
    if not items:
        return cfg
    names = [f.name for f in dataclasses.fields(cfg) if f.init]
    # fields whose default is None (an optional setting) go back to it with none/null
    optional = {f.name for f in dataclasses.fields(cfg) if f.init and f.default is None}
    changes: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set takes key=value, not {item!r}")
        key, text = item.split("=", 1)
        key = key.strip()
        if key not in names:
            raise ConfigError(f"{type(cfg).__name__} has no field {key!r}; valid fields: {', '.join(names)}")
        if key in optional and text.strip().lower() in ("none", "null"):
            changes[key] = None
            continue
        try:
            changes[key] = _parse_value(text.strip(), getattr(cfg, key))
        except ConfigError as e:
            raise ConfigError(f"--set {key}: {e}") from None
    return dataclasses.replace(cfg, **changes)
