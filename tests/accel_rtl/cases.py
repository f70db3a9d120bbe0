"""Directed accelerator programs: one per instruction feature and per error, with expectations
from the functional simulator, run on the RTL in one simulator process (buffers persist from case
to case on both sides, as the cases run in the same order).

Window layout (bytes from the window base): instructions at 0, input data at ``DATA``, small
accumulator values at ``ACCD``, micro-ops at ``UOPS``, the identity weight block at ``IDENT``,
stored outputs at ``OUT``. After the window come ``GUARD`` bytes of 0xA5 that no run may change.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hwgen.accel import isa
from hwgen.accel.config import AccelConfig
from hwgen.accel.isa import Alu, AluOp, ErrorCode, Finish, Gemm, Load, MemType, Store, Uop
from hwgen.accel.model import Machine
from hwgen.runtime.rtl_device import run_jobs
from hwgen.sim.accel.differential import FUZZ_BASE, FUZZ_MEM_BYTES
from hwgen.sim.accel.memimage import read_hex, write_hex

WINDOW = 64 << 10
GUARD = 4096
DATA, ACCD, UOPS, IDENT, OUT = 0x4000, 0x6000, 0x8000, 0x9000, 0xC000
ID_WGT = 63            # weight entry holding the identity block


@dataclass
class Case:
    name: str
    insns: list
    uops: list = field(default_factory=list)
    error: ErrorCode = ErrorCode.OK
    regs: dict = field(default_factory=dict)     # overrides of the START registers
    window: int = WINDOW


def _with(insn, **kw):
    return dataclasses.replace(insn, **kw)


def seq(loads=(), computes=(), stores=()):
    """Instructions of one load -> compute -> store round, ordered by tokens, plus FINISH."""
    lo = list(loads) or [Load(mem_type=MemType.INP, y_size=0, x_size=0, x_stride=0)]
    co = list(computes) or [Gemm()]
    st = list(stores) or [Store(y_size=0, x_size=0, x_stride=0)]
    lo[-1] = _with(lo[-1], push_next=True)
    co[0] = _with(co[0], pop_prev=True)
    co[-1] = _with(co[-1], push_next=True)
    st[0] = _with(st[0], pop_prev=True)
    return lo + co + st + [Finish()]


class Builder:
    """Element numbers of the layout for one config."""

    def __init__(self, c: AccelConfig):
        self.c = c
        eb = c.element_bytes
        self.inp = DATA // eb["inp"]
        self.wgt = DATA // eb["wgt"]
        self.acc = ACCD // eb["acc"]
        self.uop = UOPS // isa.UOP_BYTES
        self.ident = IDENT // eb["wgt"]
        self.out = OUT // eb["out"]

    def observe_inp(self, n: int, uop_at: int = 0):
        """Load, compute and store instructions that copy inp[0..n) to the output region through
        identity-weight GEMMs (acc = inp)."""
        loads = [Load(mem_type=MemType.WGT, sram_base=ID_WGT, dram_base=self.ident, y_size=1,
                      x_size=1, x_stride=1)]
        comp = [Load(mem_type=MemType.UOP, sram_base=uop_at, dram_base=self.uop, y_size=1, x_size=n,
                     x_stride=n),
                Gemm(init=True, uop_begin=uop_at, uop_end=uop_at + n)]
        uops = [Uop(j, j, ID_WGT) for j in range(n)]
        store = [Store(sram_base=0, dram_base=self.out, y_size=1, x_size=n, x_stride=n)]
        return loads, comp, store, uops

    def load_acc(self, n: int, sram: int = 0, **kw):
        args = {"y_size": 1, "x_size": n, "x_stride": n, **kw}
        return Load(mem_type=MemType.ACC, sram_base=sram, dram_base=self.acc, **args)

    def store(self, n: int, sram: int = 0, **kw):
        return Store(sram_base=sram, dram_base=self.out, y_size=1, x_size=n, x_stride=n, **kw)


def directed_cases(c: AccelConfig) -> list[Case]:
    b = Builder(c)
    cases: list[Case] = []

    # LOAD INP: plain, each padding side, strides (0, equal, larger), zero-size
    def inp_case(name, n_obs, **kw):
        ld = Load(mem_type=MemType.INP, sram_base=0, dram_base=b.inp, **kw)
        loads, comp, store, uops = b.observe_inp(n_obs)
        cases.append(Case(name, seq([ld] + loads, comp, store), uops))

    inp_case("load_inp_plain", 6, y_size=2, x_size=3, x_stride=3)
    inp_case("load_inp_pad_top", 8, y_size=1, x_size=4, x_stride=4, y_pad0=1)
    inp_case("load_inp_pad_bottom", 8, y_size=1, x_size=4, x_stride=4, y_pad1=1)
    inp_case("load_inp_pad_left", 8, y_size=2, x_size=3, x_stride=3, x_pad0=1)
    inp_case("load_inp_pad_right", 8, y_size=2, x_size=3, x_stride=3, x_pad1=1)
    inp_case("load_inp_pad_all", 20, y_size=2, x_size=2, x_stride=5, y_pad0=1, y_pad1=2, x_pad0=1,
             x_pad1=2)
    inp_case("load_inp_stride0", 6, y_size=3, x_size=2, x_stride=0)
    inp_case("load_inp_stride_gap", 6, y_size=2, x_size=3, x_stride=7)
    inp_case("load_inp_zero_rows", 4, y_size=0, x_size=3, x_stride=3, x_pad0=2)
    inp_case("load_inp_zero_cols", 4, y_size=2, x_size=0, x_stride=3, y_pad0=1)

    # LOAD WGT with padding (a padded weight entry is all zero)
    _loads, comp, store, uops = b.observe_inp(4)
    ldw = Load(mem_type=MemType.WGT, sram_base=0, dram_base=b.wgt, y_size=1, x_size=2, x_stride=2,
               x_pad0=1, x_pad1=1)
    ldi = Load(mem_type=MemType.INP, sram_base=0, dram_base=b.inp, y_size=1, x_size=4, x_stride=4)
    gem = [comp[0], Gemm(init=True, uop_begin=0, uop_end=4)]
    cases.append(Case("load_wgt_pad", seq([ldi, ldw], gem, store), [Uop(j, j, j) for j in range(4)]))

    # LOAD ACC with padding and strides, STORE narrowing (saturation)
    cases.append(Case("load_acc_store", seq([], [b.load_acc(3, y_size=2, x_stride=5, y_pad0=1,
                                                            x_pad1=1)], [b.store(12)])))
    cases.append(Case("store_strided", seq([], [b.load_acc(8)],
                                           [Store(sram_base=0, dram_base=b.out, y_size=2, x_size=3,
                                                  x_stride=5)])))

    # GEMM: reset, init, accumulate, both loop levels with every factor
    uops = [Uop(0, 0, 0), Uop(1, 1, 1), Uop(2, 2, 0)]
    ld = [Load(mem_type=MemType.INP, sram_base=0, dram_base=b.inp, y_size=1, x_size=16,
               x_stride=16),
          Load(mem_type=MemType.WGT, sram_base=0, dram_base=b.wgt, y_size=1, x_size=8, x_stride=8)]
    luop = Load(mem_type=MemType.UOP, sram_base=0, dram_base=b.uop, y_size=1, x_size=3, x_stride=3)
    # small inputs keep the sums visible after saturation: shift them down with ALU SHR
    shr = Alu(alu_op=AluOp.SHR, use_imm=True, imm=8, uop_begin=3, uop_end=4, iter_out=16,
              dst_factor_out=1)
    uops4 = uops + [Uop(0, 0, 0)]
    luop4 = _with(luop, x_size=4, x_stride=4)
    cases.append(Case("gemm_accumulate", seq(ld, [luop4, Gemm(reset=True, uop_begin=0, uop_end=3),
                                                  Gemm(uop_begin=0, uop_end=3, iter_out=2,
                                                       iter_in=3, dst_factor_out=3,
                                                       dst_factor_in=1, src_factor_out=2,
                                                       src_factor_in=1, wgt_factor_out=1,
                                                       wgt_factor_in=2), shr],
                                             [b.store(16)]), uops4))
    cases.append(Case("gemm_init", seq(ld, [luop4, Gemm(init=True, uop_begin=0, uop_end=3,
                                                        iter_in=3, src_factor_in=4), shr],
                                       [b.store(16)]), uops4))
    # back-to-back GEMMs on the same accumulators (a GEMM retires while its tail drains when a
    # GEMM or FINISH follows), then a GEMM right before FINISH, read by the next program
    g3 = dict(uop_begin=0, uop_end=3)
    cases.append(Case("gemm_back_to_back", seq(ld, [luop4, Gemm(init=True, **g3), Gemm(**g3),
                                                    _with(Gemm(iter_in=2, src_factor_in=3,
                                                               **g3), push_prev=False),
                                                    Gemm(**g3), shr], [b.store(16)]), uops4))
    cases.append(Case("gemm_before_finish", ld[:1] + [
        _with(ld[1], push_next=True), _with(luop4, pop_prev=True), Gemm(init=True, **g3),
        Gemm(iter_out=2, dst_factor_out=0, **g3), Finish()], uops4))
    cases.append(Case("after_gemm_before_finish", seq([], [Gemm(uop_begin=3, uop_end=4,
                                                                iter_out=16, dst_factor_out=1,
                                                                reset=False, iter_in=0), shr],
                                                      [b.store(16)])))
    cases.append(Case("gemm_reset_only", seq([], [Gemm(reset=True, uop_begin=0, uop_end=3,
                                                       iter_out=2, dst_factor_out=4)],
                                             [b.store(8)])))
    cases.append(Case("gemm_empty_loops", seq([], [b.load_acc(4), Gemm(uop_begin=0, uop_end=3,
                                                                       iter_out=0)],
                                              [b.store(4)])))

    # ALU: every op with a tensor and with an immediate operand
    alu_uops = [Uop(j, j + 4, 0) for j in range(4)]
    lu = Load(mem_type=MemType.UOP, sram_base=8, dram_base=b.uop, y_size=1, x_size=4, x_stride=4)
    imms = {AluOp.MIN: -5, AluOp.MAX: 7, AluOp.ADD: 100, AluOp.MUL: -3, AluOp.SHR: 3, AluOp.CLIP: 20,
            AluOp.MULSHR: 1234}
    for op in AluOp:
        for use_imm in (False, True):
            alu = Alu(alu_op=op, use_imm=use_imm, imm=imms[op], uop_begin=8, uop_end=12)
            cases.append(Case(f"alu_{op.name.lower()}_{'imm' if use_imm else 'tensor'}",
                              seq([], [b.load_acc(8), lu, alu], [b.store(8)]), alu_uops))
    # relu (ISA 2): each op family's result clamped at zero, as the requantization uses it
    for op in (AluOp.ADD, AluOp.MUL, AluOp.SHR, AluOp.MIN, AluOp.MULSHR):
        alu = Alu(alu_op=op, use_imm=op not in (AluOp.ADD, AluOp.MULSHR), imm=imms[op], uop_begin=8, uop_end=12, relu=True)
        cases.append(Case(f"alu_{op.name.lower()}_relu", seq([], [b.load_acc(8), lu, alu], [b.store(8)]),
                          alu_uops))
    # SHR edge amounts, MUL wrap-around, and a chain on one entry (forwarding)
    for n in (0, 1, c.acc_width - 1):
        cases.append(Case(f"alu_shr_{n}", seq([], [b.load_acc(8), lu,
                                                   Alu(alu_op=AluOp.SHR, use_imm=True, imm=n,
                                                       uop_begin=8, uop_end=12)], [b.store(8)]),
                          alu_uops))
    chain = [Uop(0, 1, 0)] * 6
    lc = Load(mem_type=MemType.UOP, sram_base=20, dram_base=b.uop, y_size=1, x_size=6, x_stride=6)
    cases.append(Case("alu_chain_forwarding", seq([], [b.load_acc(8), lc,
                                                       Alu(alu_op=AluOp.ADD, uop_begin=20,
                                                           uop_end=26),
                                                       Alu(alu_op=AluOp.MUL, use_imm=True,
                                                           imm=-32768, uop_begin=20, uop_end=26)],
                                                  [b.store(2)]), chain))
    # MULSHR (ISA 3) on one entry, each micro-op reading the last one's result (three ALU
    # stages: the deepest forwarding distance)
    cases.append(Case("alu_chain_mulshr", seq([], [b.load_acc(8), lc,
                                                   Alu(alu_op=AluOp.MULSHR, uop_begin=20,
                                                       uop_end=26, relu=True),
                                                   Alu(alu_op=AluOp.MULSHR, use_imm=True,
                                                       imm=-7, uop_begin=20, uop_end=26)],
                                              [b.store(2)]), chain))

    # read-after-write at distances 1..4 through the forwarding registers: first with operands
    # in different accumulator banks (index parity; one micro-op per cycle, dst and src read
    # 1, 2 and 3 micro-ops after their write), then in the same bank (a stall cycle each),
    # src == dst included; a shift keeps the sums inside the stored output range
    pairs = [(2, 1), (0, 3), (3, 0), (1, 2), (2, 3), (0, 1), (3, 2), (2, 1), (1, 0), (0, 1),
             (2, 0), (0, 2), (3, 3), (3, 1), (1, 3), (2, 2), (0, 0), (1, 2)]
    lh = Load(mem_type=MemType.UOP, sram_base=30, dram_base=b.uop, y_size=1, x_size=len(pairs),
              x_stride=len(pairs))
    hz = {"uop_begin": 30, "uop_end": 30 + len(pairs)}
    for op in (AluOp.ADD, AluOp.MIN, AluOp.MULSHR):
        cases.append(Case(f"alu_hazards_{op.name.lower()}",
                          seq([], [b.load_acc(8), lh, Alu(alu_op=op, **hz),
                                   Alu(alu_op=AluOp.SHR, use_imm=True, imm=6, **hz)],
                              [b.store(4)]), [Uop(d, s_, 0) for d, s_ in pairs]))

    # every token flag: load <-> compute <-> store ping-pong over two rounds
    ldi1 = Load(mem_type=MemType.INP, sram_base=0, dram_base=b.inp, y_size=1, x_size=4, x_stride=4)
    loads, comp, store, uops = b.observe_inp(4)
    tok = [loads[0], _with(ldi1, push_next=True),
           _with(comp[0], pop_prev=True), _with(comp[1], push_prev=True, push_next=True),
           _with(store[0], pop_prev=True, push_prev=True),
           _with(ldi1, pop_next=True, dram_base=b.inp + 4, push_next=True),
           _with(comp[1], pop_prev=True, pop_next=True, push_next=True),
           _with(store[0], pop_prev=True, dram_base=b.out + 4),
           Finish()]
    cases.append(Case("tokens_every_flag", tok, uops))

    # errors
    cases.append(Case("err_store_outside_window",
                      seq([], [b.load_acc(4)], [Store(sram_base=0, dram_base=WINDOW // 4 - 2,
                                                      y_size=1, x_size=4, x_stride=4)]),
                      error=ErrorCode.DMA_WINDOW))
    cases.append(Case("err_load_outside_window",
                      seq([Load(mem_type=MemType.WGT, sram_base=0, dram_base=b.wgt, y_size=3,
                                x_size=1, x_stride=WINDOW // 16)], [], [b.store(1)]),
                      error=ErrorCode.DMA_WINDOW))
    cases.append(Case("err_illegal_opcode", [Load(mem_type=MemType.INP, y_size=0, x_size=0),
                                             isa.RawInsn(6), Finish()],
                      error=ErrorCode.ILLEGAL_OPCODE))
    cases.append(Case("err_illegal_insn_store_inp", [Store(mem_type=MemType.INP), Finish()],
                      error=ErrorCode.ILLEGAL_INSN))
    cases.append(Case("err_illegal_flag", [Load(mem_type=MemType.INP, pop_prev=True), Finish()],
                      error=ErrorCode.ILLEGAL_INSN))
    cases.append(Case("err_sram_range", [Load(mem_type=MemType.INP, sram_base=c.inp_depth - 1,
                                              dram_base=b.inp, y_size=1, x_size=2, x_stride=2),
                                         Finish()], error=ErrorCode.SRAM_RANGE))
    cases.append(Case("err_uop_range", [Gemm(uop_begin=0, uop_end=c.uop_depth + 1), Finish()],
                      error=ErrorCode.UOP_RANGE))
    bad_uop = Load(mem_type=MemType.UOP, sram_base=40, dram_base=b.uop, y_size=1, x_size=2,
                   x_stride=2)
    cases.append(Case("err_index_range", [bad_uop, Gemm(uop_begin=40, uop_end=42, iter_out=3,
                                                        dst_factor_out=c.acc_depth // 2),
                                          Finish()],
                      [Uop(1, 0, 0), Uop(2, 0, 0)], error=ErrorCode.INDEX_RANGE))
    cases.append(Case("err_token_underflow", [Gemm(pop_prev=True), Finish()],
                      error=ErrorCode.DEADLOCK))
    over = [Load(mem_type=MemType.INP, y_size=0, x_size=0, push_next=True)
            for _ in range(c.token_depth + 1)]
    cases.append(Case("err_token_overflow", over + [Finish()], error=ErrorCode.DEADLOCK))
    cases.append(Case("err_no_finish", [Gemm(), Gemm()], error=ErrorCode.NO_FINISH))
    cases.append(Case("err_bad_start_count", [Finish()], regs={"INSN_COUNT": 0},
                      error=ErrorCode.BAD_START))
    cases.append(Case("err_bad_start_base", [Finish()], regs={"DRAM_BASE": FUZZ_BASE + 64},
                      error=ErrorCode.BAD_START))
    cases.append(Case("err_insns_outside_window", [Finish()], regs={"INSN_COUNT": WINDOW},
                      error=ErrorCode.DMA_WINDOW))
    cases.append(Case("after_errors_runs_again", seq([], [b.load_acc(4)], [b.store(4)])))
    return cases


def _image(c: AccelConfig, case: Case, rng: np.random.Generator) -> np.ndarray:
    img = np.zeros(case.window + GUARD, dtype=np.uint8)
    code = isa.to_bytes(case.insns)
    img[:len(code)] = np.frombuffer(code, np.uint8)
    img[DATA:ACCD] = rng.integers(0, 256, ACCD - DATA, dtype=np.uint8)
    accs = rng.integers(-300, 300, (UOPS - ACCD) // 4).astype("<i4")
    accs[::7] = rng.integers(-(1 << 31), 1 << 31, accs[::7].size)
    img[ACCD:UOPS] = accs.view(np.uint8)
    u = isa.uops_to_bytes(case.uops)
    img[UOPS:UOPS + len(u)] = np.frombuffer(u, np.uint8)
    ident = np.zeros((c.block_out, c.block_in), dtype={8: "<i1", 16: "<i2"}[c.weight_width])
    np.fill_diagonal(ident, 1)
    raw = ident.view(np.uint8).reshape(-1)
    img[IDENT:IDENT + raw.size] = raw
    img[case.window:] = 0xA5
    return img


def run_cases(verilog: str | Path, simulator: str, config: AccelConfig, cases: list[Case],
              work: str | Path, *, backpressure: int = 0, ext_mem: bool = False) -> list[dict]:
    """Run every case on the model and the RTL; return per case what both ended with."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2026)
    machine = Machine(config)
    B = config.axi_bytes
    jobs, outs = [], []
    for k, case in enumerate(cases):
        img = _image(config, case, rng)
        regs = {"DRAM_BASE": FUZZ_BASE, "DRAM_LIMIT": FUZZ_BASE + case.window, "INSN_ADDR": 0,
                "INSN_COUNT": len(case.insns), **case.regs}
        after = img.copy()
        res = machine.run(after[:case.window], FUZZ_BASE, insn_addr=regs["INSN_ADDR"],
                          insn_count=regs["INSN_COUNT"], dram_base=regs["DRAM_BASE"],
                          dram_limit=regs["DRAM_LIMIT"])
        in_hex = work / f"{case.name}_in.hex"
        write_hex(in_hex, img, B)
        jobs.append({"in_hex": str(in_hex), "out_hex": str(work / f"{case.name}_out.hex"),
                     "dump_lo": 0, "dump_hi": len(img) // B - 1, "regs": regs,
                     "bp_level": backpressure, "bp_seed": k + 1, "chk_lo": FUZZ_BASE,
                     "chk_hi": FUZZ_BASE + case.window, "timeout_cycles": 200_000,
                     "ext_mem": ext_mem})
        outs.append((case, res, after, img))
    results = run_jobs(verilog, simulator, jobs, work / "sim", mem_base=FUZZ_BASE,
                       words=FUZZ_MEM_BYTES // B)
    report = []
    for k, (case, res, after, img) in enumerate(outs):
        r = results[k] if k < len(results) else None
        got = None
        if r is not None and jobs[k]["out_hex"] and Path(jobs[k]["out_hex"]).exists():
            got = np.frombuffer(read_hex(jobs[k]["out_hex"], B, len(img) // B), dtype=np.uint8)
        report.append({"case": case, "expected": res, "expected_image": after, "initial": img,
                       "rtl": r, "image": got})
    return report
