"""The GEMM datapath: ``batch x block_out`` dot products of length ``block_in`` per cycle.

Fully pipelined (one new operand set per cycle, no stalls inside): products are registered, then
an adder tree is registered; :attr:`DotArray.latency` cycles from operands to sums. The
accumulate-and-write step lives in the compute stage, next to the accumulator buffer, so that
back-to-back micro-ops on one accumulator entry see each other's results.
"""
from __future__ import annotations

from amaranth import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


def _tree(m: Module, terms: list, width: int, stage_every: int = 2):
    """Sum ``terms`` with a balanced adder tree, registering every ``stage_every`` levels.

    Returns (sum value, registered levels)."""
    level, regs = 0, 0
    while len(terms) > 1:
        nxt = []
        for i in range(0, len(terms) - 1, 2):
            nxt.append(terms[i] + terms[i + 1])
        if len(terms) % 2:
            nxt.append(terms[-1])
        level += 1
        if level % stage_every == 0 and len(nxt) > 1:
            staged = []
            for t in nxt:
                s = Signal(signed(width))
                m.d.sync += s.eq(t)
                staged.append(s)
            nxt, regs = staged, regs + 1
        terms = nxt
    return terms[0], regs


PACK_SHIFT = 16


class DotArray(wiring.Component):
    """``dot[b][o] = sum_i inp[b][i] * wgt[o][i]`` (signed), pipelined.

    With 8-bit inputs and weights, two products that share an input (outputs ``o`` and ``o+1``)
    are made by one multiplier: ``x * (w[o+1] * 2**16 + w[o])`` is an 8 x 25-bit product (one
    DSP48E1), whose low 16 bits are ``x * w[o]`` (signed) and whose upper bits, corrected by the
    sign of the low part, are ``x * w[o+1]``: two int8 MACs per DSP, bit-exact.

    Parameters
    ----------
    batch, block_in, block_out, input_width, weight_width : int
        As in :class:`~hwgen.accel.config.AccelConfig`.

    Attributes
    ----------
    inp : In(batch * block_in * input_width), element (b, i) at bit offset ``(b*block_in+i)*input_width``
    wgt : In(block_out * block_in * weight_width), element (o, i) at ``(o*block_in+i)*weight_width``
    dot : Out(batch * block_out * dot_width), element (b, o) at ``(b*block_out+o)*dot_width``
    latency : int
        Cycles from ``inp``/``wgt`` to ``dot``.
    """

    def __init__(self, *, batch: int, block_in: int, block_out: int, input_width: int,
                 weight_width: int, pack: bool | None = None):
        self.batch, self.block_in, self.block_out = batch, block_in, block_out
        self.iw, self.ww = input_width, weight_width
        can_pack = input_width == 8 and weight_width == 8 and block_out % 2 == 0
        self.pack = can_pack if pack is None else (pack and can_pack)
        self.dot_width = input_width + weight_width + max(1, (block_in - 1).bit_length())
        self.latency = 2 + self._tree_regs(block_in)
        super().__init__({
            "inp": In(batch * block_in * input_width),
            "wgt": In(block_out * block_in * weight_width),
            "dot": Out(batch * block_out * self.dot_width),
        })

    @staticmethod
    def _tree_regs(n: int, stage_every: int = 2) -> int:
        level, regs = 0, 0
        while n > 1:
            n = (n + 1) // 2
            level += 1
            if level % stage_every == 0 and n > 1:
                regs += 1
        return regs

    def elaborate(self, platform):
        m = Module()
        bi, bo, iw, ww, dw = self.block_in, self.block_out, self.iw, self.ww, self.dot_width
        for b in range(self.batch):
            x = [self.inp[(b * bi + i) * iw:(b * bi + i + 1) * iw].as_signed() for i in range(bi)]
            w = [[self.wgt[(o * bi + i) * ww:(o * bi + i + 1) * ww].as_signed() for i in range(bi)]
                 for o in range(bo)]
            prods = [[None] * bi for _ in range(bo)]
            for i in range(bi):
                if self.pack:
                    for o in range(0, bo, 2):
                        a = Signal(signed(25), name=f"pk_a_{b}_{o}_{i}")
                        m.d.comb += a.eq((w[o + 1][i] << PACK_SHIFT) + w[o][i])
                        pp = Signal(signed(33), name=f"pk_p_{b}_{o}_{i}")
                        m.d.sync += pp.eq(x[i] * a)
                        lo = Signal(signed(iw + ww), name=f"p_{b}_{o}_{i}")
                        hi = Signal(signed(iw + ww), name=f"p_{b}_{o + 1}_{i}")
                        m.d.comb += [lo.eq(pp[:PACK_SHIFT].as_signed()),
                                     hi.eq(pp[PACK_SHIFT:].as_signed() + pp[PACK_SHIFT - 1])]
                        prods[o][i], prods[o + 1][i] = lo, hi
                else:
                    for o in range(bo):
                        p = Signal(signed(iw + ww), name=f"p_{b}_{o}_{i}")
                        m.d.sync += p.eq(x[i] * w[o][i])
                        prods[o][i] = p
            for o in range(bo):
                s, _ = _tree(m, prods[o], dw)
                out = Signal(signed(dw), name=f"dot_{b}_{o}")
                m.d.sync += out.eq(s)
                k = b * bo + o
                m.d.comb += self.dot[k * dw:(k + 1) * dw].eq(out)
        return m
