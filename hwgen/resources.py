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


def template_env(name: str, *sub: str):
    """The Jinja environment every hwgen template is rendered with, loading from the folder
    ``name`` (see :func:`resource_dir`) or a folder below it: undefined names are errors, block
    tags leave no blank lines, nothing is escaped. jinja2 is imported here, not at import time."""
    import jinja2
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(resource_dir(name).joinpath(*sub))),
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True, autoescape=False)


def data_path(*parts: str) -> Path:
    """Path of a data file inside ``hwgen/data``."""
    return _PKG.joinpath("data", *parts)
