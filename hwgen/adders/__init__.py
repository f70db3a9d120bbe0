"""Parallel-prefix adders: prefix graphs, classic and size-optimal constructions, the Amaranth
``PrefixAdder`` (``asic`` and ``fpga`` styles), evaluation on hwgen's cell library, and search.

Later generators pick adders through :func:`make_adder`.
"""
from .config import AdderConfig
from .constructions import ARCHITECTURES, CLASSIC, construct, min_size
from .graph import PrefixGraph
from .rtl import STYLES, PrefixAdder


def make_adder(width: int, arch: str = "kogge-stone", style: str = "fpga", *,
               carry_in: bool = False) -> PrefixAdder:
    """A ``PrefixAdder`` component of the named architecture (``fpga`` style: the carry chain).

    Raises
    ------
    ConfigError
        For an unknown architecture, style or a width outside 1..1024.
    """
    cfg = AdderConfig(width=width, arch=arch, style=style, carry_in=carry_in)
    return PrefixAdder(construct(cfg.arch, cfg.width), style=cfg.style, carry_in=cfg.carry_in)


__all__ = ["AdderConfig", "ARCHITECTURES", "CLASSIC", "PrefixAdder", "PrefixGraph", "STYLES",
           "construct", "make_adder", "min_size"]
