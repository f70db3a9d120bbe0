"""What can be chosen for a generated adder."""
from __future__ import annotations

from dataclasses import dataclass

from ..configbase import check_choice, check_int, check_type

ARCH_NAMES = ("ripple", "sklansky", "kogge-stone", "brent-kung", "han-carlson", "ladner-fischer",
              "knowles", "min-size")


@dataclass(frozen=True, kw_only=True)
class AdderConfig:
    """A prefix adder.

    Attributes
    ----------
    width : int
        Bits, 1..1024.
    arch : str
        Construction name (one of ``ARCH_NAMES``); ``graph`` for a graph loaded from a file.
    style : str
        ``asic`` (explicit prefix gates) or ``fpga`` (``+``, carry chain).
    carry_in : bool
        Add a carry input ``ci``.
    """
    width: int = 32
    arch: str = "kogge-stone"
    style: str = "asic"
    carry_in: bool = False

    def __post_init__(self):
        check_int("AdderConfig", "width", self.width, 1, 1024)
        check_choice("AdderConfig", "arch", self.arch, ARCH_NAMES + ("graph",))
        check_choice("AdderConfig", "style", self.style, ("asic", "fpga"))
        check_type("AdderConfig", "carry_in", self.carry_in, bool)

    @property
    def slug(self) -> str:
        return f"{self.arch}_{self.width}_{self.style}{'_ci' if self.carry_in else ''}"
