"""A test top holding several prefix adders side by side, so one simulator build covers many
graphs, widths, styles and carry-in variants."""
from __future__ import annotations

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hwgen.adders import PrefixAdder, construct, min_size

# (prefix, arch, width, style, carry_in)
UNITS = (
    ("u0", "ripple", 1, "asic", False),
    ("u1", "kogge-stone", 7, "asic", True),
    ("u2", "sklansky", 16, "asic", False),
    ("u3", "brent-kung", 33, "asic", True),
    ("u4", "han-carlson", 64, "asic", False),
    ("u5", "ladner-fischer", 13, "asic", False),
    ("u6", "knowles", 32, "asic", False),
    ("u7", "min-size", 64, "asic", True),
    ("u8", "kogge-stone", 64, "fpga", True),
    ("u9", "min-size-d7", 48, "asic", False),
)


def _graph(arch, width):
    if arch.startswith("min-size-d"):
        return min_size(width, int(arch.rsplit("d", 1)[1]))
    return construct(arch, width)


class AdderBank(wiring.Component):
    def __init__(self, units=UNITS):
        self.units = units
        ports = {}
        for p, _arch, w, _style, ci in units:
            ports[f"{p}_a"] = In(w)
            ports[f"{p}_b"] = In(w)
            if ci:
                ports[f"{p}_ci"] = In(1)
            ports[f"{p}_s"] = Out(w)
            ports[f"{p}_co"] = Out(1)
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        for p, arch, w, style, ci in self.units:
            add = PrefixAdder(_graph(arch, w), style=style, carry_in=ci)
            m.submodules[p] = add
            m.d.comb += [add.a.eq(getattr(self, f"{p}_a")), add.b.eq(getattr(self, f"{p}_b")),
                         getattr(self, f"{p}_s").eq(add.s), getattr(self, f"{p}_co").eq(add.co)]
            if ci:
                m.d.comb += add.ci.eq(getattr(self, f"{p}_ci"))
        return m
