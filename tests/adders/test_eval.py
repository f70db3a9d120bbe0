"""Equivalence proofs, structure preservation and the cell library."""
from __future__ import annotations

import pytest

from hwgen.adders.constructions import ARCHITECTURES, construct, min_size
from hwgen.adders.evaluate import adder_verilog, evaluate, prove_equal, reference_verilog
from hwgen.adders.library import LIB_PATH, cell_names, liberty_text


def test_shipped_liberty_matches_its_generator():
    text = LIB_PATH.read_text()
    assert text == liberty_text()
    for base in ("INV", "BUF", "NAND2", "NOR2", "AND2", "OR2", "AOI21", "OAI21", "XOR2", "XNOR2"):
        for d in (1, 2, 4):
            assert f"cell ({base}_X{d})" in text
    assert len(cell_names()) == 30


@pytest.mark.parametrize("n", [1, 5, 16])
def test_every_architecture_is_proven_and_keeps_its_structure(tmp_path, n):
    for arch in ARCHITECTURES:
        r = evaluate(construct(arch, n), cache_dir=tmp_path)
        assert r["equivalent"] and r["structure_preserved"], (arch, r)
        assert r["gates"] == r["predicted"]["gates"] and r["levels"] == r["predicted"]["levels"]
        assert r["area"] > 0 and r["delay"] > 0


def test_64_bit_proofs_and_carry_in(tmp_path):
    for g in (construct("kogge-stone", 64), min_size(64), construct("brent-kung", 33)):
        r = evaluate(g, cache_dir=tmp_path, carry_in=True)
        assert r["equivalent"] and r["structure_preserved"]
    # the cache answers the second time without tools
    again = evaluate(construct("kogge-stone", 64), cache_dir=tmp_path, carry_in=True)
    assert again["area"] == evaluate(construct("kogge-stone", 64), cache_dir=tmp_path,
                                     carry_in=True, use_cache=True)["area"]
    assert len(list(tmp_path.glob("*.json"))) == 3


def test_prove_equal_detects_a_wrong_adder():
    g = construct("sklansky", 12)
    assert prove_equal(adder_verilog(g, "asic", False, top="dut"), "dut", 12)
    assert prove_equal(adder_verilog(g, "fpga", True, top="dut"), "dut", 12, carry_in=True)
    wrong = reference_verilog(12, top="dut").replace("a + b", "a + b + 1")
    assert not prove_equal(wrong, "dut", 12)


def test_wider_graphs_are_slower_but_smaller_than_kogge_stone(tmp_path):
    ks = evaluate(construct("kogge-stone", 32), cache_dir=tmp_path)
    bk = evaluate(construct("brent-kung", 32), cache_dir=tmp_path)
    rip = evaluate(construct("ripple", 32), cache_dir=tmp_path)
    assert ks["delay"] < bk["delay"] < rip["delay"]
    assert rip["gates"] < bk["gates"] < ks["gates"]


def test_quick_screening_gives_the_same_figures_without_proofs(tmp_path):
    g = construct("han-carlson", 24)
    quick = evaluate(g, cache_dir=tmp_path, prove=False)
    assert quick["equivalent"] is None and quick["structure_preserved"] is None
    full = evaluate(g, cache_dir=tmp_path)  # a cached quick result does not stand in for a proof
    assert full["equivalent"] and full["structure_preserved"]
    assert (quick["area"], quick["delay"], quick["gates"]) == (full["area"], full["delay"], full["gates"])
    assert quick["sizing_curve"] == full["sizing_curve"]
