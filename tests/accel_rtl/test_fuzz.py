"""Differential random testing: fuzz programs (valid ones and ones with one injected fault) with
random AXI backpressure per program, functional simulator vs RTL: final DRAM, error code,
ERR_INSN and exact counters identical."""
from __future__ import annotations

from hwgen.sim.accel.differential import run_differential


def test_fuzz_200_programs_verilator(tiny_verilog, tmp_path):
    rep = run_differential(tiny_verilog, "verilator", range(1000, 1200), tmp_path)
    assert rep["programs"] == 200
    assert rep["mismatches"] == 0, rep["failures"]
    assert set(rep["faults"]) >= {"ok", "DMA_WINDOW", "DEADLOCK", "INDEX_RANGE", "ILLEGAL_OPCODE"}
    assert rep["simulated_cycles"] > 0


def test_fuzz_icarus(tiny_verilog, tmp_path):
    rep = run_differential(tiny_verilog, "icarus", range(5000, 5024), tmp_path)
    assert rep["programs"] == 24
    assert rep["mismatches"] == 0, rep["failures"]
