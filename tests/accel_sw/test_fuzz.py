"""The random program generator: valid programs whose outcome does not depend on timing (the
property the RTL differential tests rely on), and each injectable fault."""
from __future__ import annotations

import numpy as np
import pytest

from hwgen.accel import isa
from hwgen.accel.fuzz import FAULTS, random_case
from hwgen.accel.isa import ErrorCode
from hwgen.accel.model import Machine
from hwgen.accel.presets import PRESETS

from .configs import ODD_CONFIGS


def _rerun(case, schedule_seed):
    img = case.image.copy()
    r = Machine(case.config).run(img, case.base, insn_addr=case.insn_offset, insn_count=case.insn_count,
                                 dram_base=case.base, dram_limit=case.limit, schedule_seed=schedule_seed)
    return r, img


@pytest.mark.parametrize("preset", ["tiny", "default"])
def test_random_programs_are_valid_and_timing_independent(preset):
    cfg = PRESETS[preset]
    kinds = set()
    for seed in range(40):
        fault = None if seed % 4 else FAULTS[(seed // 4) % len(FAULTS)]
        case = random_case(cfg, seed, fault=fault)
        assert case.expected.error == (fault or ErrorCode.OK)
        assert isinstance(case.insns[-1], isa.Finish) or fault is not None
        kinds |= {type(i).__name__ for i in case.insns}
        for sched in (1, 2):
            r, img = _rerun(case, sched)
            assert case.compare(r.error, r.err_insn, r.counters, img) == [], case.listing()
    assert {"Load", "Store", "Gemm", "Alu", "Finish"} <= kinds


def test_programs_exercise_the_isa():
    cfg = PRESETS["tiny"]
    seen = set()
    for seed in range(60):
        for i in random_case(cfg, seed).insns:
            if isinstance(i, isa.Load):
                seen.add(f"load-{isa.MemType(i.mem_type).name}")
                if i.y_size == 0 or i.x_size == 0:
                    seen.add("zero-size")
                seen |= {f"pad-{n}" for n in ("y_pad0", "y_pad1", "x_pad0", "x_pad1") if getattr(i, n)}
                if i.x_stride == 0 and i.y_size > 1:
                    seen.add("stride-0")
            elif isinstance(i, isa.Alu):
                seen.add(f"alu-{isa.AluOp(i.alu_op).name}-{'imm' if i.use_imm else 'tensor'}")
            elif isinstance(i, isa.Gemm):
                seen.add("gemm-reset" if i.reset else ("gemm-init" if i.init else "gemm"))
            seen |= {f for f in isa.FLAGS if getattr(i, f)}
    expected = {f"alu-{op.name}-{k}" for op in isa.AluOp for k in ("imm", "tensor")}
    expected |= {"load-UOP", "load-INP", "load-WGT", "load-ACC", "zero-size", "stride-0",
                 "gemm", "gemm-reset", "gemm-init", *isa.FLAGS,
                 "pad-y_pad0", "pad-y_pad1", "pad-x_pad0", "pad-x_pad1"}
    assert expected <= seen, expected - seen


def test_compare_reports_differences():
    case = random_case(PRESETS["tiny"], 5)
    img = case.expected_image.copy()
    img[-1] ^= 1
    counters = dict(case.expected.counters, gemm_uops=case.expected.counters["gemm_uops"] + 1)
    diffs = case.compare(3, 7, counters, img)
    assert diffs[0] == "error DMA_WINDOW != expected OK"
    assert diffs[1] == f"err_insn 7 != expected {isa.NO_INSN}"
    assert diffs[2].startswith("counter gemm_uops")
    assert diffs[3].startswith("1 DRAM bytes differ")
    with pytest.raises(ValueError, match="fault must be one of"):
        random_case(PRESETS["tiny"], 0, fault=ErrorCode.NO_FINISH)


def test_case_registers():
    case = random_case(PRESETS["tiny"], 1)
    regs = case.regs()
    assert regs["DRAM_LIMIT"] - regs["DRAM_BASE"] == case.image.size
    assert regs["INSN_COUNT"] == len(case.insns)
    assert np.array_equal(case.image[:16 * len(case.insns)],
                          np.frombuffer(isa.to_bytes(case.insns), np.uint8))


@pytest.mark.parametrize("cfg", ODD_CONFIGS, ids=lambda c: c.slug)
def test_timing_independence_on_small_queues_and_wide_elements(cfg):
    for seed in range(30):
        fault = None if seed % 3 else FAULTS[(seed // 3) % len(FAULTS)]
        case = random_case(cfg, seed, fault=fault)
        for sched in (1, 2):
            r, img = _rerun(case, sched)
            assert case.compare(r.error, r.err_insn, r.counters, img) == [], case.listing()
