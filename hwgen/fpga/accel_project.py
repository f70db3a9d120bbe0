"""``hwgen accel project``: a Vivado project and a PYNQ overlay package for the GEMM accelerator.

:func:`accel_project` writes, all or nothing, into one folder::

    rtl/hwgen_accel_<slug>.v        the accelerator (hwgen accel generate) + manifest.json
    rtl/hwgen_accel_<slug>_bd.v     its Vivado wrapper (hwgen.fpga.wrapper)
    build.tcl                       block design, wrapper, synthesis, implementation, bitstream
    Makefile                        make bitstream = vivado -mode batch -source build.tcl
    README.md                       what is needed, what was checked here and what was not
    overlay/hwgen_accel_<slug>/     the PYNQ overlay package: __init__.py (device()), config.json;
                                    build.tcl copies the .bit and .hwh here under the same name

The block design: the board's PS with its GP master, HP slave (at the config's
``axi_data_width``), fabric clock 0 at ``fclk_mhz`` and interrupt; the accelerator as a module
reference named ``hwgen_accel_0`` (:class:`hwgen.runtime.PynqDevice` picks its IP by that prefix);
one SmartConnect per AXI path; a ``proc_sys_reset``; the registers at the GP window's base and the
whole DDR for the accelerator's master. ``build.tcl`` is checked before it is written, by
:func:`hwgen.fpga.bdcheck.check_bd_tcl` (hwgen's model of Vivado, not Vivado).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..configbase import config_to_dict
from ..errors import ConfigError
from ..resources import template_env
from .bdcheck import range_text
from .boards import Board, get_board

#: Vivado releases the script is written for (not run here: no Vivado on hwgen's machines)
VIVADO_MIN, VIVADO_MAX = "2020.1", "2024.2"
ACC_CELL = "hwgen_accel_0"
BD_NAME = "hwgen_accel"
CTRL_RANGE = 4 << 10          # the accelerator decodes 256 bytes; 4K is the smallest range


def check_project(config, board: Board, fclk_mhz: float, **options) -> None:
    """Refuse a config, board and clock that cannot make this block design (one-line errors),
    among them an accelerator whose block RAMs, DSPs or LUTs do not fit the board's part
    (:func:`hwgen.accel.resources.estimate` with the generation ``options``, less
    :data:`~hwgen.accel.resources.BLOCK_DESIGN_RESERVE` for the rest of the block design).

    LUTs are a model within :data:`~hwgen.accel.resources.LUT_TOLERANCE` of synthesis, so a
    design is refused only when it cannot fit even at the low end of that band: when its LUTs
    (as logic and as memory) less the tolerance exceed the part's LUTs less the reserve."""
    if config.axi_data_width not in board.hp_widths:
        raise ConfigError(f"AccelConfig.axi_data_width must be one of the {board.name} HP port's "
                          f"widths {', '.join(map(str, board.hp_widths))}, not {config.axi_data_width}")
    if isinstance(fclk_mhz, bool) or not isinstance(fclk_mhz, (int, float)):
        raise TypeError(f"fclk_mhz must be a number, not {type(fclk_mhz).__name__}")
    if not board.fclk_min_mhz <= fclk_mhz <= board.fclk_max_mhz:
        raise ConfigError(f"--fclk-mhz must be in {board.fclk_min_mhz}..{board.fclk_max_mhz} MHz for "
                          f"{board.name}, not {fclk_mhz:g}")
    if board.ddr_base + board.ddr_bytes > 1 << config.dram_addr_width:
        raise ConfigError(f"AccelConfig.dram_addr_width must reach the {board.name}'s DDR "
                          f"({board.ddr_base:#x}+{board.ddr_bytes:#x}), not {config.dram_addr_width}")
    from ..accel.resources import BLOCK_DESIGN_RESERVE, LUT_TOLERANCE, estimate
    need = estimate(config, **options)
    for what, n, have, kept in (("BRAM36", need.bram36, board.bram36, BLOCK_DESIGN_RESERVE["bram36"]),
                                ("DSP", need.dsps, board.dsps, BLOCK_DESIGN_RESERVE["dsps"])):
        if n > have - kept:
            also = f", {kept} of them kept for the block design's SmartConnects" if kept else ""
            raise ConfigError(f"accelerator {config.slug} needs {n:g} {what} (model), "
                              f"{board.name}'s {board.part} has {have}{also}")
    kept = BLOCK_DESIGN_RESERVE["luts"]
    low = int(need.total_luts * (1 - LUT_TOLERANCE))
    if low > board.luts - kept:
        raise ConfigError(f"accelerator {config.slug} needs at least {low} LUTs (model: "
                          f"{need.total_luts} -{LUT_TOLERANCE:.0%}), {board.name}'s {board.part} "
                          f"has {board.luts}, {kept} of them kept for the block design's "
                          f"SmartConnects")


def render_files(config, board: Board, fclk_mhz: float, manifest: dict[str, Any]) -> dict[str, str]:
    """The project's text files (relative path -> text) but the Verilog, for ``manifest``'s top
    (``config``, ``board`` and ``fclk_mhz`` as :func:`check_project` accepted them)."""
    from .wrapper import bd_wrapper
    top = manifest["top"]
    wrapper, wrapper_text = bd_wrapper(manifest)
    ps_cell, ddr_segment = board.ps_cell, board.hp_segments[0][0]
    excluded = tuple(name for name, _o, _s in board.hp_segments[1:])
    fclk = f"{fclk_mhz:g}"
    ps_config = sorted({**board.gp_config, **board.hp_config, **board.irq_config,
                        board.hp_width_property: str(config.axi_data_width),
                        board.fclk_property: fclk}.items())
    ctx = dict(slug=config.slug, top=top, board=board, fclk_mhz=fclk, vivado_min=VIVADO_MIN,
               vivado_max=VIVADO_MAX, project=BD_NAME, bd=BD_NAME, overlay=top,
               board_pattern=board.board_pattern,
               verilog=f"{top}.v", wrapper=wrapper, ps_cell=ps_cell, acc_cell=ACC_CELL,
               ps_config=ps_config, ctrl_base=board.gp_base, ctrl_range=range_text(CTRL_RANGE),
               ddr_range=range_text(board.ddr_bytes), ddr_segment=ddr_segment,
               excluded_segments=excluded, config_json="config.json",
               macs=config.macs_per_cycle, buffers=config.buffer_bytes,
               config_axi=config.axi_data_width)
    env = template_env("fpga_projects", "accel")
    pkg = f"overlay/{top}"
    return {
        f"rtl/{wrapper}.v": wrapper_text,
        "build.tcl": env.get_template("build.tcl.j2").render(**ctx),
        "Makefile": env.get_template("Makefile.j2").render(**ctx),
        "README.md": env.get_template("README.md.j2").render(**ctx),
        f"{pkg}/__init__.py": env.get_template("overlay_init.py.j2").render(**ctx),
        f"{pkg}/config.json": json.dumps(config_to_dict(config), indent=2, sort_keys=True) + "\n",
    }


def accel_project(config, board_name: str, out_dir: str | Path, *, fclk_mhz: float = 100.0,
                  check: bool = True, **options) -> dict[str, Any]:
    """Write the Vivado project and overlay package for ``config`` on board ``board_name`` into
    ``out_dir`` (staged: all or nothing). ``options`` go to :func:`hwgen.accel.rtl.generate`.

    Raises
    ------
    ConfigError
        An unknown board (the valid ones are listed), an ``axi_data_width`` the board's HP port
        cannot take, a fabric clock out of the board's range.
    BdCheckError
        ``build.tcl`` fails hwgen's model of Vivado (a bug in hwgen: please report it).
    """
    from ..accel.config import AccelConfig
    from ..accel.rtl import generate
    from ..outdir import staged_output
    if not isinstance(config, AccelConfig):
        raise TypeError(f"accel_project needs an AccelConfig, not {type(config).__name__}")
    board = get_board(board_name)
    check_project(config, board, fclk_mhz, **options)
    with staged_output(out_dir) as stage:
        exp = generate(config, stage / "rtl", **options)
        manifest = json.loads(exp.manifest.read_text())
        files = render_files(config, board, fclk_mhz, manifest)
        for rel, text in files.items():
            path = stage / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        design = None
        if check:
            from .bdcheck import check_bd_tcl
            design = check_bd_tcl(stage / "build.tcl", board_files=True)
    top = manifest["top"]
    return {"slug": config.slug, "board": board.name, "part": board.part, "fclk_mhz": fclk_mhz,
            "out": str(out_dir), "top": top, "overlay": f"overlay/{top}",
            "files": sorted([f"rtl/{exp.verilog.name}", "rtl/manifest.json", *files]),
            "checked": design is not None,
            "cells": sorted(design.cells) if design else [],
            "address_map": design.address_map if design else []}
