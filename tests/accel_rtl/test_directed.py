"""Directed programs per instruction, field, token flag and error, on Icarus and Verilator:
final DRAM (window and the guard bytes after it), error code, ERR_INSN and the exact counters
equal the functional simulator's; no access outside the window is ever issued; nothing hangs."""
from __future__ import annotations

import numpy as np
import pytest

from hwgen.accel import isa
from hwgen.accel.isa import ErrorCode
from hwgen.accel.presets import PRESETS

from .cases import directed_cases, run_cases

# one worker runs a module's shared simulation (pytest -n with --dist loadgroup)
pytestmark = pytest.mark.xdist_group("accel_rtl_directed")

CFG = PRESETS["tiny"]
CASES = directed_cases(CFG)
NAMES = [c.name for c in CASES]


@pytest.fixture(scope="module", params=["icarus", "verilator"])
def report(request, tiny_verilog, tmp_path_factory):
    sim = request.param
    work = tmp_path_factory.mktemp(f"directed_{sim}")
    # Icarus runs without backpressure, Verilator with heavy backpressure on every channel.
    rep = run_cases(tiny_verilog, sim, CFG, CASES, work, backpressure=0 if sim == "icarus" else 10)
    return {r["case"].name: r for r in rep}


@pytest.mark.parametrize("name", NAMES)
def test_directed(report, name):
    check(report[name])


# A cocotbext-axi AxiRam (pause generators on all five channels) instead of the HDL memory.
AXIRAM_CASES = [c for c in CASES if c.name in (
    "load_inp_pad_all", "load_acc_store", "store_strided", "gemm_accumulate", "alu_add_tensor",
    "alu_shr_imm", "tokens_every_flag", "err_store_outside_window", "err_token_underflow",
    "after_errors_runs_again")]


@pytest.mark.parametrize("simulator_", ["icarus", "verilator"])
def test_directed_axiram(tiny_verilog, tmp_path, simulator_):
    rep = run_cases(tiny_verilog, simulator_, CFG, AXIRAM_CASES, tmp_path, backpressure=6,
                    ext_mem=True)
    assert len(rep) == len(AXIRAM_CASES)
    for r in rep:
        check(r, ext_mem=True)


def check(r, ext_mem=False):
    case, exp, rtl = r["case"], r["expected"], r["rtl"]
    assert exp.error == case.error, f"the case itself is wrong: model says {exp.message()}"
    assert rtl is not None, "not run (an earlier case hung)"
    assert not rtl["timeout"], "the run did not finish (hang)"
    if not ext_mem:
        assert not rtl["violation"], "an AXI access outside the DRAM window was issued"
    assert ErrorCode(rtl["err_code"]) == exp.error
    assert rtl["err_insn"] == exp.err_insn
    for name_ in isa.EXACT_COUNTERS:
        if exp.error == ErrorCode.INDEX_RANGE and name_ == "insns_fetched":
            continue
        assert rtl["counters"][name_] == exp.counters[name_], name_
    bad = np.flatnonzero(r["image"] != r["expected_image"])
    assert bad.size == 0, f"{case.name}: {bad.size} bytes differ, first at offset {int(bad[0]):#x}"
    # the guard bytes after the window are never written
    assert (r["image"][case.window:] == 0xA5).all()
    if case.error == ErrorCode.OK:
        assert rtl["status"] & 0b110 == 0b010       # done, no error
    elif case.error == ErrorCode.DEADLOCK:
        waits = {b.name: b.get(rtl["status"]) for b in isa.STATUS_BITS}
        assert waits["load_wait"] or waits["compute_wait"] or waits["store_wait"]


def test_cases_cover_every_instruction_and_error():
    ops = {type(i).__name__ for c in CASES for i in c.insns}
    assert {"Load", "Store", "Gemm", "Alu", "Finish", "RawInsn"} <= ops
    errors = {c.error for c in CASES}
    assert set(ErrorCode) == errors
    flags = {f for c in CASES for i in c.insns for f in isa.FLAGS if getattr(i, f, False)}
    assert flags == set(isa.FLAGS)
