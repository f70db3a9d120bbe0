"""A top holding three :class:`~hwgen.accel.rtl.gemm.DotArray` s with LUT products, for the
cocotb product tests (one build runs every case):

- ``a``: 1 input x 32 outputs, int8, no hard multipliers: each output is one product, so 2,048
  cycles cover all 256 x 256 int8 pairs;
- ``b``: batch 2, 5 inputs x 2 outputs, int8, 3 hard multipliers: the budget runs out inside
  input 1, so the two outputs of batch 0 use different sets of LUT inputs (two correction sums)
  and batch 1 is all LUT (corrections in a group of three and a group of two);
- ``c``: 2 inputs x 1 output, 16 x 16 bits, all LUT (eight radix-4 digits per input).
"""
from __future__ import annotations

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hwgen.accel.rtl.gemm import DotArray

ARRAYS = {
    "a": dict(batch=1, block_in=1, block_out=32, input_width=8, weight_width=8, hard_mults=0),
    "b": dict(batch=2, block_in=5, block_out=2, input_width=8, weight_width=8, hard_mults=3),
    "c": dict(batch=1, block_in=2, block_out=1, input_width=16, weight_width=16, hard_mults=0),
}


class LutProducts(wiring.Component):
    """Ports ``<name>_inp``, ``<name>_wgt``, ``<name>_dot`` of each array in :data:`ARRAYS`."""

    def __init__(self):
        self.arrays = {k: DotArray(pack=False, **kw) for k, kw in ARRAYS.items()}
        ports = {}
        for k, d in self.arrays.items():
            ports[f"{k}_inp"] = In(len(d.inp))
            ports[f"{k}_wgt"] = In(len(d.wgt))
            ports[f"{k}_dot"] = Out(len(d.dot))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        for k, d in self.arrays.items():
            m.submodules[k] = d
            m.d.comb += [d.inp.eq(getattr(self, f"{k}_inp")), d.wgt.eq(getattr(self, f"{k}_wgt")),
                         getattr(self, f"{k}_dot").eq(d.dot)]
        return m

    def params(self) -> dict:
        """What the testbench needs beyond the ports: each array's shape and latency."""
        return {k: dict(ARRAYS[k], latency=d.latency, dot_width=d.dot_width,
                        lut_products=d.lut_products) for k, d in self.arrays.items()}
