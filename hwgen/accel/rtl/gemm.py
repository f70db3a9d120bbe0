"""The GEMM datapath: ``batch x block_out`` dot products of length ``block_in`` per cycle.

Fully pipelined (one new operand set per cycle, no stalls inside): products are registered, then
an adder tree is registered; :attr:`DotArray.latency` cycles from operands to sums. The
accumulate-and-write step lives in the compute stage, next to the accumulator buffer, so that
back-to-back micro-ops on one accumulator entry see each other's results.
"""
from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ...adders.rtl import balanced_sum


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


def lut_product(x, w):
    """``x * w`` (both signed) as shift-and-add logic without a ``*`` operator, so that no
    synthesis tool can turn it into a hard multiplier: the bits of ``w`` select shifted copies of
    ``x`` and the sign bit's copy is subtracted (two's complement weight ``-2**(n-1)``).

    Returns two Amaranth values whose sum is the product (the lower and upper partial products),
    so that the caller can register between the halves."""
    ww = len(w)
    terms = [Mux(w[j], x, 0) << j for j in range(ww - 1)]
    half = (len(terms) + 1) // 2
    sign = -(Mux(w[ww - 1], x, 0) << (ww - 1))
    return balanced_sum(terms[:half]), balanced_sum(terms[half:] + [sign])


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
    hard_mults : int or None
        At most this many ``*`` operators (multipliers a synthesis tool may map to DSP blocks; a
        packed pair counts once); the other products are :func:`lut_product` logic, registered
        once more halfway (one cycle more latency for the whole array). None: no limit.
    latency : int
        Cycles from ``inp``/``wgt`` to ``dot``.
    """

    def __init__(self, *, batch: int, block_in: int, block_out: int, input_width: int,
                 weight_width: int, pack: bool | None = None, hard_mults: int | None = None):
        self.batch, self.block_in, self.block_out = batch, block_in, block_out
        self.iw, self.ww = input_width, weight_width
        can_pack = input_width == 8 and weight_width == 8 and block_out % 2 == 0
        self.pack = can_pack if pack is None else (pack and can_pack)
        self.dot_width = input_width + weight_width + max(1, (block_in - 1).bit_length())
        per_mul = 2 if self.pack else 1
        self.mults = batch * block_in * block_out // per_mul      # multipliers without a limit
        self.hard_mults = self.mults if hard_mults is None else min(hard_mults, self.mults)
        self.lut_products = (self.mults - self.hard_mults) * per_mul
        self.latency = 2 + self._tree_regs(block_in) + (1 if self.lut_products else 0)
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

    def _delay(self, m, value, name):
        """``value`` registered once more when the array has LUT products (equal latency)."""
        if not self.lut_products:
            return value
        d = Signal.like(value, name=f"{name}_d")
        m.d.sync += d.eq(value)
        return d

    def _hard(self, m, b, o, i, x, w):
        """Products (o, i) and, packed, (o+1, i) from one ``*``; registered."""
        iw, ww = self.iw, self.ww
        if not self.pack:
            p = Signal(signed(iw + ww), name=f"p_{b}_{o}_{i}")
            m.d.sync += p.eq(x * w[o][i])
            return [self._delay(m, p, p.name)]
        a = Signal(signed(25), name=f"pk_a_{b}_{o}_{i}")
        m.d.comb += a.eq((w[o + 1][i] << PACK_SHIFT) + w[o][i])
        pp = Signal(signed(33), name=f"pk_p_{b}_{o}_{i}")
        m.d.sync += pp.eq(x * a)
        lo = Signal(signed(iw + ww), name=f"p_{b}_{o}_{i}")
        hi = Signal(signed(iw + ww), name=f"p_{b}_{o + 1}_{i}")
        m.d.comb += [lo.eq(pp[:PACK_SHIFT].as_signed()),
                     hi.eq(pp[PACK_SHIFT:].as_signed() + pp[PACK_SHIFT - 1])]
        return [self._delay(m, lo, lo.name), self._delay(m, hi, hi.name)]

    def _soft(self, m, b, o, i, x, w):
        """Product (o, i) as LUT logic in two registered halves."""
        n = self.iw + self.ww
        lo_v, hi_v = lut_product(x, w)
        lo = Signal(signed(n), name=f"lp_lo_{b}_{o}_{i}")
        hi = Signal(signed(n), name=f"lp_hi_{b}_{o}_{i}")
        m.d.sync += [lo.eq(lo_v), hi.eq(hi_v)]
        p = Signal(signed(n), name=f"p_{b}_{o}_{i}")
        m.d.sync += p.eq(lo + hi)
        return p

    def elaborate(self, platform):
        m = Module()
        bi, bo, iw, ww, dw = self.block_in, self.block_out, self.iw, self.ww, self.dot_width
        budget = self.hard_mults
        for b in range(self.batch):
            x = [self.inp[(b * bi + i) * iw:(b * bi + i + 1) * iw].as_signed() for i in range(bi)]
            w = [[self.wgt[(o * bi + i) * ww:(o * bi + i + 1) * ww].as_signed() for i in range(bi)]
                 for o in range(bo)]
            prods = [[None] * bi for _ in range(bo)]
            for i in range(bi):
                step = 2 if self.pack else 1
                for o in range(0, bo, step):
                    if budget > 0:
                        budget -= 1
                        pairs = self._hard(m, b, o, i, x[i], w)
                    else:
                        pairs = [self._soft(m, b, o + k, i, x[i], w[o + k][i]) for k in range(step)]
                    for k, p in enumerate(pairs):
                        prods[o + k][i] = p
            for o in range(bo):
                s, _ = _tree(m, prods[o], dw)
                out = Signal(signed(dw), name=f"dot_{b}_{o}")
                m.d.sync += out.eq(s)
                k = b * bo + o
                m.d.comb += self.dot[k * dw:(k + 1) * dw].eq(out)
        return m
