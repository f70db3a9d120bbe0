"""Locate the folders that ship with hwgen (templates, FPGA project files, data).

In a source checkout they sit at the repository's top level; in an installed wheel they sit inside
the ``hwgen`` package. Both layouts are looked up, in that order of preference: installed first.
"""
from __future__ import annotations

from pathlib import Path

from .errors import ToolError

_PKG = Path(__file__).resolve().parent
_NAMES = ("rtl_templates", "hls_templates", "fpga_projects", "sim")


def resource_dir(name: str) -> Path:
    """Return the folder ``name`` (one of rtl_templates, hls_templates, fpga_projects, sim)."""
    if name not in _NAMES:
        raise ValueError(f"resource folder must be one of {', '.join(_NAMES)}, not {name!r}")
    for cand in (_PKG / name, _PKG.parent / name):
        if cand.is_dir():
            return cand
    raise ToolError(f"hwgen's {name}/ folder is missing from the installation ({_PKG}); reinstall hwgen")


def data_path(*parts: str) -> Path:
    """Path of a data file inside ``hwgen/data``."""
    return _PKG.joinpath("data", *parts)
