"""hwgen.accel.resources' LUT model: its structural terms against the generated RTL, its terms'
behaviour, and ``hwgen accel project`` refusing an accelerator whose LUTs cannot fit the part."""
from __future__ import annotations

import dataclasses
import json
import re

import pytest

from hwgen.accel.presets import PRESETS
from hwgen.accel.resources import (BLOCK_DESIGN_RESERVE, LUT_PRODUCT_LUTS_PER_BIT, LUT_TOLERANCE,
                                   estimate, lut_product_bits, tree_adder_bits)
from hwgen.cli import main
from hwgen.errors import ConfigError
from hwgen.fpga.accel_project import check_project
from hwgen.fpga.boards import get_board

TINY = PRESETS["tiny"]
Z2 = get_board("pynq-z2")
U96 = get_board("ultra96v2")


def _kept_widths(iw: int, ww: int, hard_mults: int) -> dict[str, int]:
    """Bits of the DotArray's kept adder wires (one carry-chain LUT per bit), by name."""
    from amaranth.back import verilog
    from hwgen.accel.rtl.gemm import DotArray
    d = DotArray(batch=1, block_in=4, block_out=4, input_width=iw, weight_width=ww,
                 hard_mults=hard_mults)
    text = verilog.convert(d, name="dotarr")
    return {m[2]: int(m[1]) + 1
            for m in re.finditer(r"wire (?:signed )?\[(\d+):0\] \\?(\S+);", text)}


@pytest.mark.parametrize("iw, ww", [(8, 8), (16, 16), (8, 16)])
def test_adder_bits_are_the_rtl_adders(iw, ww):
    """tree_adder_bits and lut_product_bits count the adders DotArray builds (the Verilog's
    kept wires): the tree of each output and the rows' adders of each LUT product."""
    w = _kept_widths(iw, ww, hard_mults=2)
    for o in range(4):
        tree = sum(n for name, n in w.items() if re.fullmatch(rf"dot_0_{o}_l\d+_\d+", name))
        assert tree == tree_adder_bits(4, iw + ww)
    rows = (iw + 1) // 2 * (ww + 1)
    prods = {}
    for name, n in w.items():
        m = re.fullmatch(r"lp_0_(\d+)_(\d+)_(?:lo_l\d+_\d+|hi_l\d+_\d+|sum)", name)
        if m:
            prods[m.groups()] = prods.get(m.groups(), 0) + n
    assert prods and set(prods.values()) == {lut_product_bits(iw, ww) - rows}
    assert tree_adder_bits(16, 16) == 8 * 17 + 4 * 18 + 2 * 19 + 20


def test_terms_follow_the_structure():
    d = PRESETS["default"]
    p = estimate(d).lut_parts
    assert set(p) == {"control", "lane_logic", "lane_adders", "dot_trees", "lut_products",
                      "lutram_mux"}
    assert p["lane_adders"] == 2 * 16 * 32                 # GEMM accumulate + ALU ADD per lane
    assert p["dot_trees"] == 16 * tree_adder_bits(16, 16)
    assert p["lut_products"] == 0
    assert estimate(d).luts == sum(p.values())
    # LUT products replace DSPs: 64 fewer packed multipliers are 128 LUT products
    q = estimate(d, hard_mults=64).lut_parts
    assert q["lut_products"] == round(LUT_PRODUCT_LUTS_PER_BIT * 128 * lut_product_bits(8, 8))
    assert q["dot_trees"] == p["dot_trees"]
    assert estimate(d, hard_mults=0).luts > estimate(d, hard_mults=64).luts > estimate(d).luts
    # unpacked: the same adders (a packed product's correction rides on a carry-in)
    assert estimate(d, dsp_packing=False).luts == estimate(d).luts
    # 16-bit LUT products: eight rows of 17 bits and their adders
    w16 = dataclasses.replace(TINY, input_width=16, weight_width=16, output_width=16)
    assert lut_product_bits(16, 16) == 8 * 17 + 2 * (18 + 18 + 21) + 26
    assert estimate(w16, hard_mults=0).lut_parts["lut_products"] == round(
        LUT_PRODUCT_LUTS_PER_BIT * 16 * lut_product_bits(16, 16))
    # lanes and accumulator width scale the lane terms
    a16 = estimate(dataclasses.replace(TINY, acc_width=16)).lut_parts
    assert a16["lane_adders"] * 2 == estimate(TINY).lut_parts["lane_adders"]
    # a 128-deep compute queue in LUT RAM reads through a 2:1 multiplexer per bit
    assert estimate(dataclasses.replace(TINY, insn_queue_depth=128)).lut_parts["lutram_mux"] == 128
    assert estimate(TINY).lut_parts["lutram_mux"] == 0


def test_lutram_luts():
    # tiny: wgt, acc0, acc1 (44 RAM64M each), three queues (21 + 22 + 18 RAM32M) and the FIFOs
    # (3 x 6 + 6 + 2 RAM32M): 219 primitives, synth_xilinx counts 217; four LUTs each
    assert estimate(TINY).lutram_luts == 4 * 219
    # the 64-bit presets: three queues (61), three 64-bit reader FIFOs (3 x 11), the staging FIFO
    # of output entries (128 bits: 22; ultra96's 256: 43), routing and lengths (2): synth_xilinx
    # counts 118 and 139
    assert estimate(PRESETS["default"]).lutram_luts == 4 * 118
    assert estimate(PRESETS["ultra96"]).lutram_luts == 4 * 139
    r = estimate(PRESETS["pynq-z2"])
    assert r.total_luts == r.luts + r.lutram_luts
    d = r.to_dict()
    assert (d["luts"], d["lutram_luts"], d["lut_tolerance"]) == (r.luts, r.lutram_luts, LUT_TOLERANCE)
    assert d["lut_parts"] == r.lut_parts


#: 1x16x32 with small buffers and every product in LUTs (``hard_mults`` 0): block RAM and DSPs
#: fit the xc7z020 (64 + 2 DSPs for the ALU and fetch), its 512 LUT products do not fit its LUTs
WIDE = dataclasses.replace(PRESETS["ultra96"], inp_depth=1024, wgt_depth=256, acc_depth=1024,
                           uop_depth=2048)


def test_lut_refusal():
    r = estimate(WIDE, hard_mults=0)
    assert r.dsps <= Z2.dsps and r.bram36 <= Z2.bram36 - BLOCK_DESIGN_RESERVE["bram36"]
    low = int(r.total_luts * (1 - LUT_TOLERANCE))
    assert low > Z2.luts - BLOCK_DESIGN_RESERVE["luts"]
    with pytest.raises(ConfigError, match=rf"^accelerator {WIDE.slug} needs at least {low} LUTs "
                                          rf"\(model: {r.total_luts} -10%\), pynq-z2's "
                                          rf"xc7z020clg400-1 has 53200, 1820 of them kept for "
                                          rf"the block design's SmartConnects$"):
        check_project(WIDE, Z2, 100, hard_mults=0)
    # with its products in DSPs the ultra96v2's xczu3eg holds it
    check_project(WIDE, U96, 100)


def test_lut_rule_edge():
    """Refused only when the estimate less the tolerance exceeds the part's LUTs less the
    reserve: exactly at the limit it passes, one LUT fewer on the part it does not."""
    r = estimate(PRESETS["pynq-z2"])
    low = int(r.total_luts * (1 - LUT_TOLERANCE))
    limit = low + BLOCK_DESIGN_RESERVE["luts"]
    check_project(PRESETS["pynq-z2"], dataclasses.replace(Z2, luts=limit), 100)
    with pytest.raises(ConfigError, match=rf"needs at least {low} LUTs .* has {limit - 1}, 1820 of"):
        check_project(PRESETS["pynq-z2"], dataclasses.replace(Z2, luts=limit - 1), 100)
    # the estimate itself may exceed what is left: the model is not confident it does not fit
    assert r.total_luts > low
    check_project(PRESETS["pynq-z2"], dataclasses.replace(Z2, luts=limit), 100)


@pytest.mark.parametrize("preset, board", [("pynq-z2", Z2), ("ultra96", U96), ("default", Z2)])
def test_presets_leave_room(preset, board):
    """The presets pass with room: even at the top of the band they take under 80% of the part."""
    r = estimate(PRESETS[preset])
    assert r.total_luts * (1 + LUT_TOLERANCE) < 0.8 * (board.luts - BLOCK_DESIGN_RESERVE["luts"])
    check_project(PRESETS[preset], board, 100)


def test_generate_json_has_luts(tmp_path, capsys):
    assert main(["accel", "generate", "--preset", "tiny", "--hard-mults", "0", "--json",
                 "--out", str(tmp_path / "g")]) == 0
    r = json.loads(capsys.readouterr().out)["resources"]
    e = estimate(TINY, hard_mults=0)
    assert (r["luts"], r["lutram_luts"]) == (e.luts, e.lutram_luts)
    assert r["lut_parts"]["lut_products"] == e.lut_parts["lut_products"] > 0
