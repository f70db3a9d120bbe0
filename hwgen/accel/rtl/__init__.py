"""The accelerator's Amaranth hardware.

:class:`Accelerator` is the top (AXI4-Lite control, AXI4 master, ``irq``); :func:`generate`
writes its Verilog and ``manifest.json`` through :func:`hwgen.export.export_verilog`.
"""
from __future__ import annotations

from pathlib import Path

from ...export import export_verilog
from ..config import AccelConfig
from .top import AXIL_ADDR_WIDTH, Accelerator

__all__ = ["Accelerator", "generate", "top_name", "AXIL_ADDR_WIDTH"]


def top_name(config: AccelConfig) -> str:
    """Verilog module name of the accelerator for ``config``."""
    return f"hwgen_accel_{config.slug}".replace("-", "_")


def generate(config: AccelConfig, out_dir: str | Path, *, extra_files: dict[str, str] | None = None,
             dsp_packing: bool | None = None, hard_mults: int | None = None,
             adder_arch: str = "kogge-stone", adder_style: str = "fpga"):
    """Write ``hwgen_accel_<slug>.v`` and ``manifest.json`` into ``out_dir`` (staged).

    The manifest's ``accel`` entry records what a testbench or driver needs beyond the ports
    (bus widths) and the generation options: DSP packing, the hard-multiplier budget and the
    accumulator adders (see :class:`~hwgen.accel.rtl.top.Accelerator`).
    """
    if not isinstance(config, AccelConfig):
        raise TypeError(f"generate needs an AccelConfig, not {type(config).__name__}")
    Accelerator.check_options(config, hard_mults, adder_arch, adder_style)  # before building
    top = Accelerator(config, dsp_packing=dsp_packing, hard_mults=hard_mults,
                      adder_arch=adder_arch, adder_style=adder_style)
    extra = {"accel": {"axil_addr_width": AXIL_ADDR_WIDTH, "dram_addr_width": config.dram_addr_width,
                       "axi_data_width": config.axi_data_width,
                       "dsp_packing": "auto" if dsp_packing is None else bool(dsp_packing),
                       "hard_mults": hard_mults,
                       "adder": {"arch": adder_arch, "style": adder_style}}}
    return export_verilog(
        top, out_dir, kind="accel", slug=config.slug, config=config, extra=extra,
        extra_files=extra_files)
