"""Edge parameters on Icarus: batch 2, a non-square block, 16-bit inputs (no DSP packing),
16-bit outputs, the smallest queue and token depths, a 24-bit DRAM address, a hard-multiplier
budget (some products in LUT logic) and explicit prefix-logic accumulator adders: the directed
programs and a batch of fuzz programs match the
functional simulator."""
from __future__ import annotations

import pytest

from hwgen.accel.config import AccelConfig
from hwgen.sim.accel.differential import run_differential

from .cases import directed_cases, run_cases
from .test_directed import check

# one worker runs the module's shared simulation (pytest -n with --dist loadgroup)
pytestmark = pytest.mark.xdist_group("accel_rtl_variant")

VARIANT = AccelConfig(batch=2, block_in=4, block_out=2, input_width=16, weight_width=8,
                      acc_width=32, output_width=16, inp_depth=64, wgt_depth=64, acc_depth=64,
                      uop_depth=128, insn_queue_depth=2, token_depth=2, axi_data_width=32,
                      dram_addr_width=24)


@pytest.fixture(scope="module")
def variant_verilog(tmp_path_factory):
    # 3 of the 16 products on multipliers, 13 in LUT logic
    from hwgen.accel.rtl import generate
    # accumulator adders as explicit Sklansky prefix logic (hwgen.adders, asic style)
    return generate(VARIANT, tmp_path_factory.mktemp("variant") / "v", hard_mults=3,
                    adder_arch="sklansky", adder_style="asic").verilog


def test_variant_directed(variant_verilog, tmp_path):
    cases = directed_cases(VARIANT)
    rep = run_cases(variant_verilog, "icarus", VARIANT, cases, tmp_path, backpressure=5)
    assert len(rep) == len(cases)
    for r in rep:
        check(r)


def test_variant_fuzz(variant_verilog, tmp_path):
    rep = run_differential(variant_verilog, "icarus", range(300, 340), tmp_path)
    assert rep["programs"] == 40
    assert rep["mismatches"] == 0, rep["failures"]
