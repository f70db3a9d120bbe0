"""The GEMM's LUT products (radix-4 recoded inputs, shared corrections) against numpy on Icarus
and Verilator: all 256 x 256 int8 pairs, mixed hard and LUT products, batch 2, 16-bit operands;
plus the recoding itself (every 8- and 16-bit edge) in Amaranth's simulator."""
from __future__ import annotations

import pytest
from amaranth import Module, Signal, signed
from amaranth.sim import Simulator

from hwgen.accel.rtl.gemm import DotArray, radix4
from hwgen.export import export_verilog
from hwgen.sim import runner

from .lutproducts import LutProducts


@pytest.fixture(scope="module")
def lut_products_verilog(tmp_path_factory):
    top = LutProducts()
    exp = export_verilog(top, tmp_path_factory.mktemp("lutp") / "v", kind="lutp", slug="t")
    return exp.verilog, top.params()


def test_lut_products_match_numpy(tmp_path, simulator, lut_products_verilog):
    verilog, params = lut_products_verilog
    assert params["a"]["lut_products"] == 32 and params["c"]["lut_products"] == 2
    assert params["b"]["lut_products"] == 2 * 5 * 2 - 3
    res = runner.run([verilog], "hwgen_lutp_t", "tests.accel_rtl.tb_lut_products", simulator,
                     test_dir=tmp_path / "sim", params={"arrays": params})
    assert res.ok and res.tests == 1


@pytest.mark.parametrize("width", [8, 16])
def test_radix4_digits(width):
    """``x = sum d_k 4**k`` with low digits in {-1, 0, 1, 2} (code 3 is -1), the top digit in
    {-2 .. 2}, and the correction counting the negative digits, for every edge of ``width``."""
    m = Module()
    x = Signal(signed(width))
    d = radix4(x)
    lo, hi = -(1 << (width - 1)), 1 << (width - 1)
    xs = list(range(lo, hi)) if width == 8 else (
        list(range(lo, lo + 600)) + list(range(-600, 600)) + list(range(hi - 600, hi)))
    bad = []

    async def tb(ctx):
        for v in xs:
            ctx.set(x, v)
            digits = [{0: 0, 1: 1, 2: 2, 3: -1}[ctx.get(c)] for c in d.codes]
            one, two, neg = ctx.get(d.one), ctx.get(d.two), ctx.get(d.neg)
            top = (-1 if neg else 1) * (one + 2 * two)
            assert not (one and two)
            digits.append(top)
            corr = sum(4 ** k for k, dk in enumerate(digits) if dk < 0)
            if sum(dk * 4 ** k for k, dk in enumerate(digits)) != v or ctx.get(d.correction) != corr:
                bad.append(v)

    sim = Simulator(m)
    sim.add_testbench(tb)
    sim.run()
    assert len(d.codes) == width // 2 - 1
    assert not bad, bad[:5]


def _counted(**kw) -> DotArray:
    """A DotArray built only for its counts (never elaborated: no UnusedElaboratable warning)."""
    d = DotArray(**kw)
    d._MustUse__silence = True
    return d


def test_lut_products_cost_no_latency():
    """LUT products add two cycles, whatever the budget; the array counts them."""
    shape = dict(batch=1, block_in=16, block_out=16, input_width=8, weight_width=8, pack=False)
    full = _counted(**shape, hard_mults=112)
    assert full.lut_products == 256 - 112
    assert full.latency == _counted(**shape).latency + 2


def test_gemm_array_registers_have_no_reset():
    """The array's registers are datapath registers without a reset: a reset net to every one
    of them (22,521 flip-flops in ``default``) kept nextpnr's router2 from converging on the
    LFE5U-85F. With LUT products, operands, digits and products are each registered."""
    from hwgen.export import verilog_text
    d = DotArray(batch=1, block_in=4, block_out=4, input_width=8, weight_width=8, pack=False,
                 hard_mults=6)
    text = verilog_text(d, "dot")
    assert "always @(posedge clk)" in text
    assert "if (rst)" not in text
    assert d.latency == 2 + DotArray._tree_regs(4) + 2
