"""``hwgen hls project``: an HLS network on a board, as a Vivado block design and a PYNQ overlay.

Writes, into one folder (staged: all or nothing)::

    hls/                     the HLS project, exactly as ``hwgen hls generate`` writes it
    bd.tcl                   Vivado: PS + AXI DMA + the exported HLS IP -> bitstream, .bit/.hwh
                             copied into the overlay package
    Makefile                 ``make ip`` (vitis-run, vitis_hls or vivado_hls), ``make bitstream`` (vivado)
    README.md                what is needed, what was checked here and what was not
    overlay/<top>/           the PYNQ overlay package: ``__init__.py`` (its LAYOUT and a
                             ``Detector``, ``Classifier`` or ``Network`` class), ``_driver.py``
                             (the shared driver)

A network ending in a head streams out its 8-word detection record (``Detector``: records and
boxes); any other network streams out its last layer's map (``Network``: the map as an int array;
``Classifier`` when that map is ``1 x 1 x classes`` logits: also the top-1 class and the
dequantized logits, with the scales of the quantized network).

Vivado and Vitis HLS cannot run where hwgen is tested: the Tcl is checked for syntax and against
the names and widths it must use, not run. The driver is tested against a recording fake ``pynq``
whose IP computes the golden model from the bytes the DMA would move.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from .. import __version__
from ..compiler.compile import output_info
from ..configbase import config_to_dict
from ..errors import ConfigError
from ..fpga.accel_project import VIVADO_MIN
from ..fpga.bdcheck import range_text
from ..fpga.boards import BOARDS as FPGA_BOARDS, Board, get_board
from ..nn.ir import HEAD_VALUES
from ..outdir import staged_output
from ..resources import resource_dir, template_env
from . import model as golden
from .config import HlsConfig
from .emit import IP_LIBRARY, IP_VENDOR, Design, build_design, generate, ip_vlnv, render

#: the HLS resource board (hwgen.hls.presets.BOARDS) each project board's part belongs to: the
#: IP is synthesized for the part of the board it goes on
HLS_BOARD = {"pynq-z2": "pynq-z2", "pynq-z1": "pynq-z2", "ultra96v2": "ultra96v2"}
#: the project board an HLS board's designs go on when no --board is given
DEFAULT_PROJECT_BOARD = {"pynq-z2": "pynq-z2", "ultra96": "ultra96v2", "ultra96v2": "ultra96v2"}

#: instance names in the block design (keys of the overlay's ``ip_dict``)
HLS_CELL = "hwgen_hls"
DMA_CELL = "dma"

#: HLS IP port names: ``in``/``out`` are VHDL keywords, which HLS renames with ``_r``
HLS_PINS = {"in": "in_r", "out": "out_r", "control": "s_axi_control", "clock": "ap_clk",
            "resetn": "ap_rst_n", "interrupt": "interrupt"}

#: TDATA widths an AXI DMA (v7.1) stream may have
DMA_STREAM_WIDTHS = (8, 16, 32, 64, 128, 256, 512, 1024)
#: the DMA's buffer-length register: c_sg_length_width bits, 8..26
DMA_LENGTH_BITS = (8, 26)
#: control-register windows on the PS's GP master: HLS IP first, then the DMA
CTRL_RANGE = 0x1_0000


_DRIVER = "_driver.py"
_DRIVER_NAME = "hwgen.hls._overlay_driver"


def driver_module() -> ModuleType:
    """The overlay driver (``fpga_projects/hls/overlay/_driver.py``) as a module: the one
    definition of the stream layout and the packing, shared by the generator and the board."""
    if _DRIVER_NAME in sys.modules:
        return sys.modules[_DRIVER_NAME]
    path = resource_dir("fpga_projects") / "hls" / "overlay" / _DRIVER
    spec = importlib.util.spec_from_file_location(_DRIVER_NAME, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[_DRIVER_NAME] = mod   # dataclasses look their module up there
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[_DRIVER_NAME]
        raise
    return mod


def project_board(cfg: HlsConfig, board: str | None) -> Board:
    """The board of the project: ``board`` if given, else the one the config's HLS board names."""
    if board is None:
        if cfg.board not in DEFAULT_PROJECT_BOARD:
            raise ConfigError(f"HLS board {cfg.board!r} has no Vivado project board yet; pass --board, one "
                              f"of {', '.join(FPGA_BOARDS)}")
        board = DEFAULT_PROJECT_BOARD[cfg.board]
    return get_board(board)


def project_config(cfg: HlsConfig, board: Board) -> HlsConfig:
    """``cfg`` retargeted to ``board``'s part (the HLS board whose resources the plan uses)."""
    return dataclasses.replace(cfg, board=HLS_BOARD[board.name])


def check_fclk(board: Board, fclk_mhz: float, hls_clock_mhz: float) -> float:
    """The fabric clock in MHz: within the board's range and not above the HLS clock target."""
    if isinstance(fclk_mhz, bool) or not isinstance(fclk_mhz, (int, float)):
        raise TypeError(f"--fclk-mhz must be a number, not {type(fclk_mhz).__name__}")
    if not (board.fclk_min_mhz <= fclk_mhz <= board.fclk_max_mhz):
        raise ConfigError(f"--fclk-mhz must be in {board.fclk_min_mhz}..{board.fclk_max_mhz} MHz on {board.name}, "
                          f"not {fclk_mhz:g}")
    if fclk_mhz > hls_clock_mhz:
        raise ConfigError(f"--fclk-mhz must be at most the HLS clock the IP is synthesized for "
                          f"({hls_clock_mhz:g} MHz), not {fclk_mhz:g}; raise clock_mhz instead")
    return float(fclk_mhz)


def _axis_width(header: str, typedef: str) -> int:
    m = re.search(rf"typedef hwgen::axis_word<(\d+)> {re.escape(typedef)};", header)
    if not m:
        raise ConfigError(f"the generated header declares no {typedef} stream type")
    return int(m.group(1))


def _header_int(header: str, name: str) -> int:
    m = re.search(rf"static const int {re.escape(name)} = (\d+);", header)
    if not m:
        raise ConfigError(f"the generated header declares no {name}")
    return int(m.group(1))


def output_kind(design: Design) -> str:
    """What the top streams out: ``"head"`` (the detection record), ``"classifier"`` (``1 x 1 x
    classes`` logits) or ``"map"`` (:func:`hwgen.compiler.compile.output_info`'s rule, so both
    back ends call the same networks classifiers)."""
    return output_info(design.qnet)["kind"]


def stream_layout(design: Design, files: dict[str, str] | None = None):
    """The driver's StreamLayout of ``design``, read from the generated ``<top>.h`` (the stream
    widths and the output's beat count the HLS top really has)."""
    files = files if files is not None else render(design)
    header = files[f"{design.top}.h"]
    drv = driver_module()
    net = design.net
    out_words = _header_int(header, f"{design.top}_out_words")
    if net.output.kind == "head":
        fields, out_shape = tuple(golden.RECORD_FIELDS), ()
    else:
        fields, out_shape = (), tuple(net.shape(net.output.name))
    want = len(fields) or out_shape[0] * out_shape[1] * out_shape[2]
    if out_words != want:
        raise ConfigError(f"the generated header streams {out_words} output words, the network's "
                          f"{net.output.name} has {want}")
    return drv.StreamLayout(
        in_shape=tuple(net.input_shape), act_width=design.config.act_width,
        in_width=_axis_width(header, f"{design.top}_in_t"), out_width=_axis_width(header, f"{design.top}_out_t"),
        out_words=out_words, record_fields=fields, hls_cell=HLS_CELL, dma_cell=DMA_CELL, out_shape=out_shape)


def map_decode(design: Design):
    """The driver's MapDecode of a design without a head: its last layer, that map's per-channel
    scales (from the quantized network) and whether it is a classifier's logits."""
    name = design.net.output.name
    scales = np.asarray(design.qnet.scales[name], np.float64).reshape(-1)
    return driver_module().MapDecode(layer=name, scales=tuple(float(v) for v in scales),
                                     classifier=output_kind(design) == "classifier")


def head_decode(design: Design):
    """The driver's HeadDecode of ``design``: the head's grid and per-anchor value scales."""
    net, qnet = design.net, design.qnet
    head_in = net.inputs_of(net.output)[0]
    gh, gw, _ = net.shape(head_in)
    scales = qnet.scales[head_in].reshape(-1, HEAD_VALUES)
    return driver_module().HeadDecode(grid=(gh, gw), scales=tuple(tuple(float(v) for v in row) for row in scales))


def dma_config(layout, board: Board) -> dict[str, int]:
    """CONFIG values of the AXI DMA for ``layout`` on ``board`` (no scatter-gather)."""
    mm = 32
    for name, width in (("input", layout.in_width), ("output", layout.out_width)):
        if width not in DMA_STREAM_WIDTHS or width > max(board.hp_widths):
            allowed = [w for w in DMA_STREAM_WIDTHS if w <= max(board.hp_widths)]
            raise ConfigError(f"the HLS top's {name} stream is {width} bits wide; an AXI DMA on {board.name} "
                              f"takes streams of {', '.join(map(str, allowed))} bits")
        mm = max(mm, width)
    if mm not in board.hp_widths:
        mm = min(w for w in board.hp_widths if w >= mm)
    need = max(layout.in_bytes, layout.out_bytes).bit_length()
    lo, hi = DMA_LENGTH_BITS
    if need > hi:
        what, size = (("image", layout.in_bytes) if layout.in_bytes >= layout.out_bytes
                      else ("output map", layout.out_bytes))
        raise ConfigError(f"one {what} is {size} bytes; an AXI DMA moves at most {(1 << hi) - 1} "
                          f"bytes per transfer")
    return {"c_include_sg": 0, "c_sg_include_stscntrl_strm": 0, "c_include_mm2s": 1, "c_include_s2mm": 1,
            "c_sg_length_width": max(lo, need), "c_m_axi_mm2s_data_width": mm, "c_m_axi_s2mm_data_width": mm,
            "c_m_axis_mm2s_tdata_width": layout.in_width, "c_s_axis_s2mm_tdata_width": layout.out_width,
            "c_mm2s_burst_size": 16, "c_s2mm_burst_size": 16}


@dataclass
class Project:
    """One generated board project."""
    design: Design
    board: Board
    fclk_mhz: float
    layout: object
    dma: dict

    @property
    def top(self) -> str:
        return self.design.top

    def to_dict(self) -> dict:
        net = self.design.net
        return {"top": self.top, "output": {"kind": output_kind(self.design), "layer": net.output.name,
                                             "shape": list(net.shape(net.output.name))}, "slug": self.design.config.slug, "board": self.board.name,
                "part": self.board.part, "fclk_mhz": self.fclk_mhz,
                "hls_ip": ip_vlnv(self.top), "cells": {"hls": HLS_CELL, "dma": DMA_CELL},
                "addresses": {HLS_CELL: self.board.gp_base, DMA_CELL: self.board.gp_base + CTRL_RANGE},
                "layout": dataclasses.asdict(self.layout) | {"in_bytes": self.layout.in_bytes,
                                                              "out_bytes": self.layout.out_bytes},
                "dma": self.dma, "overlay": f"overlay/{self.top}"}


def hp_segments(board: Board) -> list[dict]:
    """The HP port's address segments a DMA master maps: offset and range (Tcl spelling)."""
    out = []
    for name, offset, size in board.hp_segments:
        out.append({"name": name, "offset": f"0x{offset:08X}", "range": range_text(size)})
    return out


def _tcl_dict(props: dict) -> str:
    return " ".join(f"CONFIG.{k} {{{v}}}" for k, v in props.items())


def render_files(project: Project) -> dict[str, str]:
    """The project's own files (not the HLS project) by relative path (deterministic)."""
    b, top, lay = project.board, project.top, project.layout
    ps_props = {**b.gp_config, **b.hp_config, **b.irq_config, b.fclk_property: f"{project.fclk_mhz:g}",
                b.hp_width_property: project.dma["c_m_axi_mm2s_data_width"]}
    ctx = {
        "slug": project.design.config.slug, "top": top, "board": b, "fclk_mhz": f"{project.fclk_mhz:g}",
        "hls_cell": HLS_CELL, "hls_vlnv": ip_vlnv(top), "hls_ip_library": f"{IP_VENDOR}:{IP_LIBRARY}",
        "dma_cell": DMA_CELL, "pins": HLS_PINS, "ps_props": _tcl_dict(ps_props),
        "dma_props": _tcl_dict(project.dma), "dma": project.dma, "layout": lay,
        "in_bytes": lay.in_bytes, "out_bytes": lay.out_bytes, "in_tdata_bytes": lay.in_width // 8,
        "out_tdata_bytes": lay.out_width // 8, "hls_base": f"0x{b.gp_base:08X}",
        "dma_base": f"0x{b.gp_base + CTRL_RANGE:08X}", "ctrl_range": range_text(CTRL_RANGE),
        "model": project.design.net.name, "hls_clock_mhz": f"{project.design.config.clock_mhz:g}",
        "layout_repr": repr(lay), "hwgen_version": __version__, "hp_segments": hp_segments(b),
        "vivado_min": VIVADO_MIN,
    }
    kind = output_kind(project.design)
    ctx["kind"] = kind
    if kind == "head":
        ctx |= {"cls": "Detector", "base": "HlsDetector", "decode_repr": repr(head_decode(project.design))}
    else:
        ctx |= {"cls": "Classifier" if kind == "classifier" else "Network", "base": "HlsNetwork",
                "decode_repr": repr(map_decode(project.design)), "out_shape": lay.out_shape,
                "out_layer": project.design.net.output.name}
    env = template_env("fpga_projects", "hls")
    return {"bd.tcl": env.get_template("bd.tcl.j2").render(**ctx),
            "Makefile": env.get_template("Makefile.j2").render(**ctx),
            "README.md": env.get_template("README.md.j2").render(**ctx),
            f"overlay/{top}/__init__.py": env.get_template("overlay/__init__.py.j2").render(**ctx)}


def make_project(cfg: HlsConfig, board: str | None = None, fclk_mhz: float | None = None) -> Project:
    """Build the design for ``cfg`` on ``board`` and check the fabric clock and the DMA."""
    b = project_board(cfg, board)
    cfg = project_config(cfg, b)
    # default: the HLS clock, or the board's limit when that is lower (slower than synthesized is safe)
    fclk = check_fclk(b, min(cfg.clock_mhz, b.fclk_max_mhz) if fclk_mhz is None else fclk_mhz, cfg.clock_mhz)
    design = build_design(cfg)
    layout = stream_layout(design)
    return Project(design=design, board=b, fclk_mhz=fclk, layout=layout, dma=dma_config(layout, b))


def write_project(cfg: HlsConfig, out_dir: str | Path, board: str | None = None,
                  fclk_mhz: float | None = None, *, check: bool = True) -> Project:
    """Write the board project for ``cfg`` into ``out_dir`` (staged: all or nothing). With
    ``check``, ``bd.tcl`` must first pass hwgen's model of Vivado (:mod:`hwgen.fpga.bdcheck`;
    a failure is a bug in hwgen and raises ``BdCheckError``)."""
    project = make_project(cfg, board, fclk_mhz)
    files = render_files(project)
    with staged_output(out_dir) as stage:
        generate(project.design.config, stage / "hls", design=project.design)
        for name, text in files.items():
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            (stage / name).write_text(text)
        shutil.copyfile(resource_dir("fpga_projects") / "hls" / "overlay" / _DRIVER,
                        stage / "overlay" / project.top / _DRIVER)
        manifest = {"kind": "hls-project", "hwgen": __version__, **project.to_dict(),
                    "config": config_to_dict(project.design.config),
                    "files": sorted(["hls/", *files, f"overlay/{project.top}/{_DRIVER}"])}
        (stage / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if check:
            from .bdmodel import check_project
            check_project(stage, board_files=True)
    return project
