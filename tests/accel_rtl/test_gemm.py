"""The GEMM datapath on its own (Amaranth simulator): packed int8 products (two MACs per DSP48)
and products built as LUT logic (beyond a hard-multiplier budget) are bit-exact, including every
extreme input and weight."""
from __future__ import annotations

import itertools
import random

import pytest
from amaranth.sim import Simulator

from hwgen.accel.rtl.gemm import DotArray


def _vectors():
    corners = (-128, -127, -1, 0, 1, 126, 127)
    vecs = [(x, 0, w0, 0, w1, 0) for x in range(-128, 128) for w0, w1 in ((-128, -128), (127, -128),
                                                                        (-128, 127), (-1, -128))]
    vecs += list(itertools.product(corners, corners[:3], corners, (-128,), corners, (127,)))
    rng = random.Random(5)
    vecs += [tuple(rng.randint(-128, 127) for _ in range(6)) for _ in range(500)]
    return vecs


@pytest.mark.parametrize("pack,hard,soft", [(True, None, 0), (False, None, 0), (True, 1, 2),
                                            (False, 2, 2), (False, 0, 4)])
def test_dot_array_exact(pack, hard, soft):
    d = DotArray(batch=1, block_in=2, block_out=2, input_width=8, weight_width=8, pack=pack,
                 hard_mults=hard)
    assert d.pack == pack
    assert d.lut_products == soft
    assert d.latency == 2 + (2 if soft else 0)
    vecs = _vectors()
    seen = []

    async def tb(ctx):
        expect = []
        for k in range(len(vecs) + d.latency):
            if k < len(vecs):
                x0, x1, w00, w01, w10, w11 = vecs[k]
                ctx.set(d.inp, (x0 & 255) | (x1 & 255) << 8)
                ctx.set(d.wgt, (w00 & 255) | (w01 & 255) << 8 | (w10 & 255) << 16 | (w11 & 255) << 24)
                expect.append((x0 * w00 + x1 * w01, x0 * w10 + x1 * w11))
            await ctx.tick()
            if k + 1 >= d.latency and len(seen) < len(vecs):
                raw = ctx.get(d.dot)
                dw = d.dot_width
                got = []
                for o in range(2):
                    v = (raw >> (o * dw)) & ((1 << dw) - 1)
                    got.append(v - (1 << dw) if v >> (dw - 1) else v)
                seen.append((tuple(got), expect[len(seen)]))

    sim = Simulator(d)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    bad = [(g, e) for g, e in seen if g != e]
    assert len(seen) == len(vecs)
    assert not bad, bad[:5]


def test_lut_product_wide_operands():
    """16-bit inputs times 8-bit weights (and the reverse) through the LUT products."""
    from amaranth import Module, Signal, signed
    from hwgen.accel.rtl.gemm import lut_product
    rng = random.Random(9)
    for xw, ww in ((16, 8), (8, 16)):
        m = Module()
        x, w = Signal(signed(xw)), Signal(signed(ww))
        lo, hi = lut_product(x, w)
        p = Signal(signed(xw + ww))
        m.d.comb += p.eq(lo + hi)
        xs = [-(1 << (xw - 1)), (1 << (xw - 1)) - 1, -1, 0]
        ws = [-(1 << (ww - 1)), (1 << (ww - 1)) - 1, -1, 0]
        pairs = [(a, b) for a in xs for b in ws]
        pairs += [(rng.randrange(-(1 << (xw - 1)), 1 << (xw - 1)),
                   rng.randrange(-(1 << (ww - 1)), 1 << (ww - 1))) for _ in range(300)]
        got = []

        async def tb(ctx):
            for a, b in pairs:
                ctx.set(x, a)
                ctx.set(w, b)
                got.append(ctx.get(p))

        sim = Simulator(m)
        sim.add_testbench(tb)
        sim.run()
        assert got == [a * b for a, b in pairs], (xw, ww)
