"""The GEMM datapath: ``batch x block_out`` dot products of length ``block_in`` per cycle.

Fully pipelined (one new operand set per cycle, no stalls inside): products are registered, then
an adder tree is registered; :attr:`DotArray.latency` cycles from operands to sums. No register
has a reset (a datapath: the compute stage's valid bits say which sums count), so no reset net
reaches the array's flip-flops. The accumulate-and-write step lives in the compute stage, next to
the accumulator buffer, so that back-to-back micro-ops on one accumulator entry see each other's
results.

Products beyond the hard-multiplier budget are LUT logic: each input is recoded once into radix-4
digits (:func:`radix4`) shared by every output, each product is four rows of one LUT per bit
(:func:`radix4_rows`) summed by three adders, and the rows' missing ``+1`` s, which depend on
the input only, are summed once per output. The digits are registered, since they fan out to
every LUT product of their input. Every adder is a kept wire (:func:`_kept`), so it maps to a
carry chain. Yosys ``synth_ecp5``, LUT4 + 2 x CCU2C, with 112 hard multipliers: the whole
``default`` accelerator 44,073 (47,375 with unregistered digits, 59,877 with shift-and-add
products and merged trees; ``bench/accel.py --parts synth_ecp5``).
"""
from __future__ import annotations

from typing import NamedTuple

from amaranth import Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ...adders.rtl import balanced_sum
from ..resources import multiplier_plan


def _kept(m: Module, value, name: str):
    """``value`` on a wire of its own width that synthesis keeps.

    Each adder's sum goes through such a wire so that Yosys maps every ``+`` to a carry chain
    (one LUT per bit on ECP5 and Xilinx parts): without it, ``alumacc`` merges a tree of adders
    into one multi-operand sum and builds it from full adders in LUTs (two LUTs per bit).
    """
    s = Signal(value.shape(), name=name, attrs={"keep": 1})
    m.d.comb += s.eq(value)
    return s


def _signed(v):
    """``v`` as a signed value (unsigned ones get a zero sign bit)."""
    return v if v.shape().signed else Cat(v, Const(0, 1)).as_signed()


def _add(m: Module, a, b, name: str, cin=None):
    """``a + b (+ cin)`` for terms ``(value, shift)`` (signed ``value * 2**shift``).

    The bits of the lower term below the higher term's shift pass through; the adder starts at
    the higher shift, and ``cin`` (one bit) enters there. Returns ``(sum, shift)``."""
    (va, sa), (vb, sb) = sorted(((_signed(a[0]), a[1]), (_signed(b[0]), b[1])), key=lambda t: t[1])
    k = sb - sa
    if len(va) <= k:                                      # sign-extend to reach the adder
        va = Cat(va, va[-1].replicate(k + 1 - len(va))).as_signed()
    total = va[k:].as_signed() + vb
    if cin is not None:
        total = total + cin
    s = _kept(m, total, name)
    return (Cat(va[:k], s).as_signed() if k else s), sa


def _sum(m: Module, terms: list, name: str):
    """Balanced sum of ``(value, shift)`` terms through :func:`_add`; returns ``(sum, shift)``."""
    level = 0
    while len(terms) > 1:
        terms = [_add(m, terms[i], terms[i + 1], f"{name}_l{level}_{i // 2}")
                 for i in range(0, len(terms) - 1, 2)] + ([terms[-1]] if len(terms) % 2 else [])
        level += 1
    return terms[0]


def _tree(m: Module, terms: list, name: str, stage_every: int = 2):
    """Sum ``terms`` with a balanced tree of kept adders at their natural widths, registering
    every ``stage_every`` levels (as :meth:`DotArray._tree_regs` counts).

    Returns (sum value, registered levels)."""
    level, regs = 0, 0
    while len(terms) > 1:
        nxt = [_add(m, (terms[i], 0), (terms[i + 1], 0), f"{name}_l{level}_{i // 2}")[0]
               for i in range(0, len(terms) - 1, 2)]
        if len(terms) % 2:
            nxt.append(terms[-1])
        level += 1
        if level % stage_every == 0 and len(nxt) > 1:
            staged = []
            for j, t in enumerate(nxt):
                s = Signal(t.shape(), name=f"{name}_r{level}_{j}", reset_less=True)
                m.d.sync += s.eq(t)
                staged.append(s)
            nxt, regs = staged, regs + 1
        terms = nxt
    return terms[0], regs


def _reg(m: Module, value, name: str):
    """``value`` registered (no reset: a datapath register)."""
    r = Signal(value.shape(), name=name, reset_less=True)
    m.d.sync += r.eq(value)
    return r


PACK_SHIFT = 16


class Radix4(NamedTuple):
    """The signed operand ``x`` as radix-4 digits: ``x = sum_k d_k * 4**k``.

    The low digits are in {-1, 0, 1, 2} (``codes[k]``: 0, 1, 2, or 3 for -1), so a row of
    partial-product bits is a function of four signals (two code bits and two bits of the other
    operand): one LUT4 per bit. The top digit is in {-2, ..., 2} (``one``, ``two``, ``neg``, as
    in Booth's recoding). A negative digit's row is the one's complement of ``|d| * w``; the
    missing ``+1`` of every such row, ``correction = sum_k [d_k < 0] * 4**k``, depends on ``x``
    only, so an array adds it once per sum of products rather than once per product.
    """
    codes: list
    one: Value
    two: Value
    neg: Value
    correction: Value


def radix4(x) -> Radix4:
    """Recode the signed value ``x`` (see :class:`Radix4`): a carry ripples up the digits, a
    digit 3 becomes -1 and carries one, a 4 becomes 0 and carries one."""
    n = (len(x) + 1) // 2
    xe = Cat(x, x[-1]) if len(x) % 2 else x
    codes, negs, carry = [], [], Const(0, 1)
    for k in range(n - 1):
        t = xe[2 * k:2 * k + 2] + carry                   # 0 .. 4
        codes.append(t[:2])
        negs.append(t[0] & t[1])                          # 3: digit -1
        carry = xe[2 * k + 1] & (xe[2 * k] | carry)        # t >= 3; one use of the carry, so
                                                          # the expression grows linearly
    top = xe[2 * n - 2:].as_signed() + carry              # -2 .. 2
    one, neg = top[0], top[-1]
    two = ~top[0] & top[1]                               # +2 or -2
    negs.append(neg)
    corr = Cat(*(Cat(b, Const(0, 1)) for b in negs[:-1]), negs[-1])
    return Radix4(codes, one, two, neg, corr)


def radix4_rows(digits: Radix4, w) -> list:
    """Partial products ``d_k * w`` (signed, ``len(w) + 1`` bits, row ``k`` weighs ``4**k``),
    negative ones short of their ``+1`` (``digits.correction``)."""
    we = Cat(w, w[-1])                                    # w, sign-extended
    w2 = Cat(Const(0, 1), w)                              # 2 w
    rows = [Mux(c[1], Mux(c[0], ~we, w2), Mux(c[0], we, 0)).as_signed() for c in digits.codes]
    top = Mux(digits.one, we, 0) | Mux(digits.two, w2, 0)
    rows.append((top ^ digits.neg.replicate(len(we))).as_signed())
    return rows


def lut_product(x, w):
    """``x * w`` (both signed) as LUT logic without a ``*`` operator, so that no synthesis tool
    can turn it into a hard multiplier: the rows of :func:`radix4_rows` for the digits of ``x``
    (:func:`radix4`) plus their correction.

    Returns two Amaranth values whose sum is the product (the lower rows with the correction and
    the upper rows), so that the caller can register between the halves. :class:`DotArray`
    builds the same rows but shares each input's recoding and correction across outputs."""
    d = radix4(x)
    rows = [r << (2 * k) for k, r in enumerate(radix4_rows(d, w))]
    half = (len(rows) + 1) // 2
    return balanced_sum(rows[:half] + [d.correction]), balanced_sum(rows[half:] or [Const(0, 1)])


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
        packed pair counts once); the other products are LUT logic (the rows of
        :func:`radix4_rows`, as in :func:`lut_product` but sharing each input's recoding and
        correction) from registered digits, registered once more halfway (two cycles more
        latency for the whole array; the hard multipliers' operands are registered then).
        None: no limit.
    lut_products : int
        How many products are LUT logic.
    latency : int
        Cycles from ``inp``/``wgt`` to ``dot``.
    """

    def __init__(self, *, batch: int, block_in: int, block_out: int, input_width: int,
                 weight_width: int, pack: bool | None = None, hard_mults: int | None = None):
        self.batch, self.block_in, self.block_out = batch, block_in, block_out
        self.iw, self.ww = input_width, weight_width
        self.pack, self.mults, self.hard_mults = multiplier_plan(
            batch=batch, block_in=block_in, block_out=block_out, input_width=input_width,
            weight_width=weight_width, pack=pack, hard_mults=hard_mults)
        self.dot_width = input_width + weight_width + max(1, (block_in - 1).bit_length())
        per_mul = 2 if self.pack else 1
        self.lut_products = (self.mults - self.hard_mults) * per_mul
        self.latency = 2 + self._tree_regs(block_in) + (2 if self.lut_products else 0)
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
        d = Signal.like(value, name=f"{name}_d", reset_less=True)
        m.d.sync += d.eq(value)
        return d

    def _hard(self, m, b, o, i, x, w):
        """Products (o, i) and, packed, (o+1, i) from one ``*``; registered. With LUT products
        in the array (two cycles more), the operands are registered too (the input shared by
        the multipliers that use it, the weight its own)."""
        iw, ww = self.iw, self.ww
        if self.lut_products:
            if (b, i) not in self._hard_inputs:
                self._hard_inputs[(b, i)] = _reg(m, x, f"xh_{b}_{i}")
            x = self._hard_inputs[(b, i)]
        if not self.pack:
            wo = _reg(m, w[o][i], f"wh_{b}_{o}_{i}") if self.lut_products else w[o][i]
            p = Signal(signed(iw + ww), name=f"p_{b}_{o}_{i}", reset_less=True)
            m.d.sync += p.eq(x * wo)
            return [self._delay(m, p, p.name)]
        a = Signal(signed(25), name=f"pk_a_{b}_{o}_{i}")
        m.d.comb += a.eq((w[o + 1][i] << PACK_SHIFT) + w[o][i])
        if self.lut_products:
            a = _reg(m, a, f"pk_ar_{b}_{o}_{i}")
        pp = Signal(signed(33), name=f"pk_p_{b}_{o}_{i}", reset_less=True)
        m.d.sync += pp.eq(x * a)
        lo = Signal(signed(iw + ww), name=f"p_{b}_{o}_{i}")
        hi = Signal(signed(iw + ww), name=f"p_{b}_{o + 1}_{i}")
        m.d.comb += [lo.eq(pp[:PACK_SHIFT].as_signed()),
                     hi.eq(pp[PACK_SHIFT:].as_signed() + pp[PACK_SHIFT - 1])]
        return [self._delay(m, lo, lo.name), self._delay(m, hi, hi.name)]

    def _digits(self, m, b, i, x):
        """The recoding of input (b, i) for every LUT product that uses it (:func:`radix4`),
        registered: its digits fan out to every LUT product of the input, so they start at
        flip-flops rather than behind the recoding logic."""
        key = (b, i)
        if key not in self._recoded:
            d = radix4(x)

            def sig(v, name):
                return _reg(m, v, f"x{name}_{b}_{i}")
            self._recoded[key] = Radix4([sig(c, f"code{k}") for k, c in enumerate(d.codes)],
                                        sig(d.one, "one"), sig(d.two, "two"), sig(d.neg, "neg"),
                                        sig(d.correction, "corr"))
        return self._recoded[key]

    def _soft(self, m, b, o, i, digits, w):
        """Product (o, i) without its correction, as LUT rows summed in two registered halves;
        returns the registered ``(value, shift)`` halves."""
        name = f"lp_{b}_{o}_{i}"
        rows = [(r, 2 * k) for k, r in enumerate(radix4_rows(digits, w))]
        half = (len(rows) + 1) // 2
        halves = []
        for part, terms in (("lo", rows[:half]), ("hi", rows[half:])):
            if not terms:
                continue
            v, shift = _sum(m, terms, f"{name}_{part}")
            r = Signal(v.shape(), name=f"{name}_{part}", reset_less=True)
            m.d.sync += r.eq(v)
            halves.append((r, shift))
        return halves

    def _correction(self, m, b, soft_inputs):
        """Registered sum of the corrections of the inputs ``soft_inputs`` (shared by every
        output whose LUT products use exactly these inputs)."""
        key = (b, soft_inputs)
        if key not in self._corrections:
            name = f"corr_{b}_{len(self._corrections)}"
            corrs = [self._recoded[(b, i)].correction for i in soft_inputs]
            # three corrections add digit by digit without carries (each digit sums to at most
            # 3 < 4): full adders in LUTs, then adders for the groups
            groups = []
            for g in range(0, len(corrs), 3):
                trio = corrs[g:g + 3] + [Const(0, len(corrs[0]))] * (3 - len(corrs[g:g + 3]))
                digits = []
                for k in range(0, len(corrs[0]), 2):
                    a, b_, c = (t[k] for t in trio)
                    digits.append(Cat(a ^ b_ ^ c, (a & b_) | (a & c) | (b_ & c)))
                groups.append((_kept(m, Cat(*digits), f"{name}_g{g // 3}"), 0))
            v, _ = _sum(m, groups, name)
            r = Signal(v.shape(), name=name, reset_less=True)
            m.d.sync += r.eq(v)
            self._corrections[key] = r
        return self._corrections[key]

    def _finish(self, m, b, o, i, halves, corr):
        """The product (o, i): its halves summed (plus ``corr`` if given), registered."""
        name = f"lp_{b}_{o}_{i}"
        t = halves[0] if len(halves) == 1 else _add(m, *halves, f"{name}_sum")
        if corr is not None:
            t = _add(m, t, (corr, 0), f"{name}_corr")
        p = Signal(signed(self.iw + self.ww), name=f"p_{b}_{o}_{i}", reset_less=True)
        m.d.sync += p.eq(t[0] << t[1] if t[1] else t[0])
        return p

    def elaborate(self, platform):
        m = Module()
        bi, bo, iw, ww, dw = self.block_in, self.block_out, self.iw, self.ww, self.dot_width
        self._recoded, self._corrections, self._hard_inputs = {}, {}, {}
        budget = self.hard_mults
        for b in range(self.batch):
            x = [self.inp[(b * bi + i) * iw:(b * bi + i + 1) * iw].as_signed() for i in range(bi)]
            w = [[self.wgt[(o * bi + i) * ww:(o * bi + i + 1) * ww].as_signed() for i in range(bi)]
                 for o in range(bo)]
            prods = [[None] * bi for _ in range(bo)]
            soft = [{} for _ in range(bo)]                # o -> {i: registered halves}
            for i in range(bi):
                step = 2 if self.pack else 1
                for o in range(0, bo, step):
                    if budget > 0:
                        budget -= 1
                        for k, p in enumerate(self._hard(m, b, o, i, x[i], w)):
                            prods[o + k][i] = p
                    else:
                        digits = self._digits(m, b, i, x[i])
                        for k in range(step):
                            wr = _reg(m, w[o + k][i], f"wl_{b}_{o + k}_{i}")   # with the digits
                            soft[o + k][i] = self._soft(m, b, o + k, i, digits, wr)
            for o in range(bo):
                if soft[o]:
                    corr = self._correction(m, b, tuple(sorted(soft[o])))
                    for n, (i, halves) in enumerate(sorted(soft[o].items())):
                        prods[o][i] = self._finish(m, b, o, i, halves, corr if n == 0 else None)
                s, _ = _tree(m, prods[o], f"dot_{b}_{o}")
                out = Signal(signed(dw), name=f"dot_{b}_{o}", reset_less=True)
                m.d.sync += out.eq(s)
                k = b * bo + o
                m.d.comb += self.dot[k * dw:(k + 1) * dw].eq(out)
        return m
