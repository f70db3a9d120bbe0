"""Directed tests of the functional simulator: each instruction and field, each ALU op with tensor
and immediate operands, each padding side, strides, zero-size transfers, every token flag, and
every error code (with the DRAM left untouched by a refused DMA)."""
from __future__ import annotations

import numpy as np
import pytest

from hwgen.accel import isa
from hwgen.accel.isa import AluOp, ErrorCode, MemType
from hwgen.accel.model import Machine, _Fault, alu_apply, wrap
from hwgen.accel.presets import PRESETS
from hwgen.errors import DeviceError

CFG = PRESETS["tiny"]            # 1x4x4, inp 128, wgt 64, acc 128, uop 256, 32-bit AXI
BASE = 0x10_0000
SIZE = 1 << 16
INSN, DATA, OUT, UOPS = 0, 0x4000, 0x8000, 0xC000   # regions of the window (byte offsets)


class Rig:
    """A window image with regions for instructions, input data, output and micro-ops."""

    def __init__(self, cfg=CFG):
        self.cfg = cfg
        self.m = Machine(cfg)
        self.mem = np.zeros(SIZE, np.uint8)
        self.uops: list = []

    def data(self, values, width, at=DATA):
        raw = np.asarray(values, dtype={8: np.int8, 16: np.int16, 32: np.int32}[width]).view(np.uint8).ravel()
        self.mem[at: at + raw.size] = raw
        return at

    def uop_load(self, uops, sram=0, **flags):
        at = UOPS // 8 + len(self.uops)
        self.uops += list(uops)
        return isa.Load(mem_type=MemType.UOP, sram_base=sram, dram_base=at, y_size=1, x_size=len(uops),
                        x_stride=len(uops), **flags)

    def run(self, insns, **regs):
        code = np.frombuffer(isa.to_bytes(insns), np.uint8)
        self.mem[INSN: INSN + code.size] = code
        u = np.frombuffer(isa.uops_to_bytes(self.uops), np.uint8)
        self.mem[UOPS: UOPS + u.size] = u
        kw = dict(insn_addr=INSN, insn_count=len(insns), dram_base=BASE, dram_limit=BASE + SIZE)
        kw.update(regs)
        return self.m.run(self.mem, BASE, **kw)

    def out(self, n_elem, at=OUT):
        return self.mem[at: at + n_elem * self.cfg.out_elem_bytes].view(np.int8).reshape(n_elem, -1)


def E(at, eb):
    return at // eb


def test_gemm_reset_init_and_accumulate_with_both_loops():
    r = Rig()
    rng = np.random.default_rng(0)
    inp = rng.integers(-128, 128, (6, 1, 4))
    wgt = rng.integers(-128, 128, (4, 4, 4))
    r.data(inp, 8, DATA)
    r.data(wgt, 8, DATA + 0x1000)
    # loops: i_out over 2 rows (dst+3, src+3), i_in over 3 (dst+1, src+1, wgt+1); one micro-op
    gemm = dict(uop_begin=0, uop_end=1, iter_out=2, iter_in=3, dst_factor_out=3, dst_factor_in=1,
                src_factor_out=3, src_factor_in=1, wgt_factor_out=0, wgt_factor_in=1)
    prog = [r.uop_load([isa.Uop(0, 0, 0)]),
            isa.Load(mem_type=MemType.INP, dram_base=E(DATA, 4), y_size=1, x_size=6, x_stride=6),
            isa.Load(mem_type=MemType.WGT, dram_base=E(DATA + 0x1000, 16), y_size=1, x_size=4, x_stride=4),
            isa.Gemm(reset=True, **gemm),
            isa.Gemm(**gemm), isa.Gemm(**gemm),
            isa.Store(dram_base=E(OUT, 4), y_size=1, x_size=6, x_stride=6, pop_prev=False),
            isa.Finish()]
    # the store reads acc written by compute: order it with a token
    prog[5] = isa.Gemm(push_next=True, **gemm)
    prog[6] = isa.Store(dram_base=E(OUT, 4), y_size=1, x_size=6, x_stride=6, pop_prev=True)
    res = r.run(prog)
    assert res.ok, res.message()
    want = np.zeros((6, 1, 4), np.int64)
    for io in range(2):
        for ii in range(3):
            d = s = io * 3 + ii
            want[d] += 2 * (inp[s] @ wgt[ii].T)
    assert np.array_equal(r.m.acc[:6], want)
    assert np.array_equal(r.out(6), np.clip(want, -128, 127).reshape(6, 4))
    assert res.counters["gemm_uops"] == 18 and res.counters["compute_insns"] == 5
    assert res.counters["dram_write_bytes"] == 24 and res.counters["dram_read_bytes"] == 8 + 24 + 64
    # init: micro-ops of the first inner iteration (i_in == 0: entries 0 and 3) overwrite, the
    # others accumulate onto what is there
    res = r.run([isa.Gemm(init=True, **gemm), isa.Finish()])
    once = want // 2
    assert res.ok
    assert np.array_equal(r.m.acc[[0, 3]], once[[0, 3]])
    assert np.array_equal(r.m.acc[[1, 2, 4, 5]], 3 * once[[1, 2, 4, 5]])


def test_init_restarts_sums_with_repeated_destinations():
    r = Rig()
    r.m.inp[:4] = np.arange(16).reshape(4, 1, 4)
    r.m.wgt[0] = np.eye(4, dtype=np.int64)
    r.m.acc[0] = 1000
    # two micro-ops to the same acc entry, iter_in 2: sequence i_in=0: u0(init) u1(init), i_in=1: u0 u1
    prog = [r.uop_load([isa.Uop(0, 0, 0), isa.Uop(0, 1, 0)]),
            isa.Gemm(init=True, uop_begin=0, uop_end=2, iter_in=2, src_factor_in=2), isa.Finish()]
    assert r.run(prog).ok
    assert np.array_equal(r.m.acc[0, 0], r.m.inp[1, 0] + r.m.inp[2, 0] + r.m.inp[3, 0])


@pytest.mark.parametrize("op", list(AluOp))
@pytest.mark.parametrize("use_imm", [False, True])
def test_alu_ops(op, use_imm):
    r = Rig()
    rng = np.random.default_rng(int(op) * 2 + use_imm)
    x = rng.integers(-(1 << 31), 1 << 31, (8, 1, 4))
    x[0, 0] = [-(1 << 31), (1 << 31) - 1, 0, -1]
    y = rng.integers(-(1 << 31), 1 << 31, (8, 1, 4))
    y[0, 0] = [5, 31, 33, -1]
    r.m.acc[:8], r.m.acc[8:16] = x, y
    imm = {AluOp.SHR: 7, AluOp.CLIP: 127, AluOp.MUL: -3}.get(op, -1234)
    prog = [r.uop_load([isa.Uop(0, 8, 0)]),
            isa.Alu(alu_op=op, use_imm=use_imm, imm=imm, uop_begin=0, uop_end=1, iter_out=8,
                    dst_factor_out=1, src_factor_out=1), isa.Finish()]
    assert r.run(prog).ok
    yy = np.full_like(x, imm) if use_imm else y
    px, py = x.astype(object), yy.astype(object)
    if op == AluOp.MIN:
        want = np.minimum(x, yy)
    elif op == AluOp.MAX:
        want = np.maximum(x, yy)
    elif op == AluOp.ADD:
        want = wrap(x + yy, 32)
    elif op == AluOp.MUL:
        m = ((yy & 0xFFFF) ^ 0x8000) - 0x8000
        want = np.vectorize(lambda a, b: ((a * b + (1 << 31)) % (1 << 32)) - (1 << 31))(px, m.astype(object)).astype(np.int64)
    elif op == AluOp.SHR:
        sh = (yy & 31).astype(object)
        want = np.vectorize(lambda a, s: a if s == 0 else (a + (1 << (s - 1))) >> s)(px, sh).astype(np.int64)
    elif op == AluOp.MULSHR:
        def mulshr(a, b):
            # independent of alu_apply: Python integers, the operand's fields read one by one
            m, n = ((b & 0xFFFF) ^ 0x8000) - 0x8000, (b >> 16) & 63
            q = a * m if n == 0 else (a * m + (1 << (n - 1))) >> n
            return ((q + (1 << 31)) % (1 << 32)) - (1 << 31)
        want = np.vectorize(mulshr)(px, py).astype(np.int64)
    else:
        want = np.minimum(np.maximum(x, -yy - 1), yy)
    del py
    assert np.array_equal(r.m.acc[:8], want)
    assert r.m.acc[:8].min() >= -(1 << 31) and r.m.acc[:8].max() < (1 << 31)


@pytest.mark.parametrize("op", list(AluOp))
def test_alu_relu_clamps_the_result_at_zero(op):
    """ISA 2: ``relu`` writes max(result, 0), for every op, tensor operand and immediate."""
    rng = np.random.default_rng(int(op))
    x = rng.integers(-(1 << 20), 1 << 20, (8, 1, 4))
    y = rng.integers(-(1 << 12), 1 << 12, (8, 1, 4))
    want = {}
    for relu in (False, True):
        r = Rig()
        r.m.acc[:8], r.m.acc[8:16] = x, y
        prog = [r.uop_load([isa.Uop(0, 8, 0)]),
                isa.Alu(alu_op=op, uop_begin=0, uop_end=1, iter_out=8, dst_factor_out=1, src_factor_out=1,
                        relu=relu), isa.Finish()]
        assert r.run(prog).ok
        want[relu] = r.m.acc[:8].copy()
    assert (want[False] < 0).any() and np.array_equal(want[True], np.maximum(want[False], 0))
    # the flag is bit 126 of the instruction word and survives encode/decode
    insn = isa.Alu(alu_op=op, relu=True)
    assert (isa.encode(insn) >> 126) & 1 and isa.decode(isa.encode(insn)) == insn


def test_alu_mulshr_equals_mul_then_shr_when_the_product_fits():
    """ISA 3: MULSHR with the operand ``shift << 16 | multiplier & 0xffff`` is MUL then SHR
    whenever x * m fits acc_width, and stays exact (48-bit product) where MUL would wrap."""
    rng = np.random.default_rng(3)
    for n in [0, 1, 2, 15, 16, 30, 31]:
        m = rng.integers(-(1 << 15), 1 << 15, 64)
        x = rng.integers(-(1 << 31), 1 << 31, 64) // np.maximum(np.abs(m), 1)
        y = (n << 16) | (m & 0xFFFF)
        both = alu_apply(AluOp.SHR, alu_apply(AluOp.MUL, x, m, 32), np.int64(n), 32)
        assert np.array_equal(alu_apply(AluOp.MULSHR, x, y, 32), both)
    # the product beyond 32 bits: exact, then shifted (MUL then SHR would have wrapped)
    x, y = np.int64((1 << 31) - 1), np.int64((20 << 16) | 0x7FFF)
    assert alu_apply(AluOp.MULSHR, x, y, 32) == (((1 << 31) - 1) * 0x7FFF + (1 << 19)) >> 20
    # round half up, negative halves included; shifts up to 63
    x = np.array([3, -3, 5, -5, 1 << 30, -(1 << 31)], dtype=np.int64)
    assert list(alu_apply(AluOp.MULSHR, x, np.int64((1 << 16) | 1), 32)) == [2, -1, 3, -2, 1 << 29, -(1 << 30)]
    assert list(alu_apply(AluOp.MULSHR, x, np.int64((63 << 16) | 0x7FFF), 32)) == [0] * 6
    # a sign-extended 16-bit operand (an immediate, or a 16-bit accumulator) shifts by 0 or 63
    assert list(alu_apply(AluOp.MULSHR, x[:4], np.int64(-2), 16)) == [0, 0, 0, 0]
    assert list(alu_apply(AluOp.MULSHR, np.array([300, -300]), np.int64(200), 16)) == [60000 - 65536, 65536 - 60000]
    assert isa.AluOp(6) is AluOp.MULSHR and isa.ISA_VERSION == 3


def test_alu_shr_rounds_half_up_and_clip_saturates_int8():
    x = np.array([5, 6, 7, -5, -6, -7, (1 << 31) - 1, -(1 << 31)], dtype=np.int64)
    assert list(alu_apply(AluOp.SHR, x, np.int64(1), 32)) == [3, 3, 4, -2, -3, -3, 1 << 30, -(1 << 30)]
    assert list(alu_apply(AluOp.CLIP, x * 100, np.int64(127), 32)) == [127, 127, 127, -128, -128, -128, 127, -128]


def test_alu_sequential_semantics_when_uops_depend_on_each_other():
    r = Rig()
    r.m.acc[0] = 1
    # acc[i+1] = acc[i+1] + acc[i] for i = 0..5: a running sum needs micro-op order
    prog = [r.uop_load([isa.Uop(1, 0, 0)]),
            isa.Alu(alu_op=AluOp.ADD, uop_begin=0, uop_end=1, iter_out=6, dst_factor_out=1,
                    src_factor_out=1), isa.Finish()]
    r.m.acc[1:7] = 1
    assert r.run(prog).ok
    assert list(r.m.acc[:7, 0, 0]) == [1, 2, 3, 4, 5, 6, 7]
    # the same destination twice with an immediate: applied twice
    prog = [r.uop_load([isa.Uop(20, 0, 0), isa.Uop(20, 0, 0)]),
            isa.Alu(alu_op=AluOp.ADD, use_imm=True, imm=5, uop_begin=0, uop_end=2), isa.Finish()]
    assert r.run(prog).ok and (r.m.acc[20] == 10).all()


@pytest.mark.parametrize("pad", [(1, 0, 0, 0), (0, 2, 0, 0), (0, 0, 1, 0), (0, 0, 0, 3), (1, 2, 3, 1)])
def test_load_padding_each_side_and_stride(pad):
    r = Rig()
    vals = np.arange(1, 1 + 32 * 4).reshape(32, 1, 4) % 100
    r.data(vals, 8)
    r.m.inp[:] = 77                                     # padding must overwrite with zeros
    y, x, stride = 3, 2, 5
    prog = [isa.Load(mem_type=MemType.INP, sram_base=4, dram_base=E(DATA, 4) + 1, y_size=y, x_size=x,
                     x_stride=stride, y_pad0=pad[0], y_pad1=pad[1], x_pad0=pad[2], x_pad1=pad[3]),
            isa.Finish()]
    res = r.run(prog)
    assert res.ok
    rows, cols = pad[0] + y + pad[1], pad[2] + x + pad[3]
    want = np.zeros((rows, cols, 1, 4), np.int64)
    for yy in range(y):
        for xx in range(x):
            want[pad[0] + yy, pad[2] + xx] = vals[1 + yy * stride + xx]
    assert np.array_equal(r.m.inp[4: 4 + rows * cols], want.reshape(-1, 1, 4))
    assert (r.m.inp[:4] == 77).all() and (r.m.inp[4 + rows * cols:] == 77).all()
    assert res.counters["dram_read_bytes"] == y * x * 4


def test_load_stride_zero_repeats_a_row_and_acc_load():
    r = Rig()
    r.data([[[1, -2, 3, -(1 << 31)]]], 32)
    res = r.run([isa.Load(mem_type=MemType.ACC, sram_base=10, dram_base=E(DATA, 16), y_size=4, x_size=1,
                           x_stride=0), isa.Finish()])
    assert res.ok and (r.m.acc[10:14] == [[1, -2, 3, -(1 << 31)]]).all()


def test_zero_size_transfers_move_nothing_but_pass_tokens():
    r = Rig()
    r.m.inp[:] = 5
    prog = [isa.Load(mem_type=MemType.INP, y_size=0, x_size=3, y_pad0=2, push_next=True),
            isa.Gemm(pop_prev=True, push_next=True),
            isa.Store(y_size=2, x_size=0, x_stride=0, dram_base=1 << 30, pop_prev=True), isa.Finish()]
    before = r.mem.copy()
    res = r.run(prog)
    assert res.ok and (r.m.inp == 5).all()
    assert np.array_equal(r.mem[OUT:], before[OUT:])
    assert res.counters["dram_read_bytes"] == 0 and res.counters["store_insns"] == 1


def test_store_saturates_and_strides():
    r = Rig()
    r.m.acc[:6] = np.array([[300, -300, 127, -128]] * 6).reshape(6, 1, 4)
    r.m.acc[3] = 7
    res = r.run([isa.Store(sram_base=2, dram_base=E(OUT, 4), y_size=2, x_size=2, x_stride=3), isa.Finish()])
    assert res.ok
    o = r.out(5)
    assert list(o[0]) == [127, -128, 127, -128] and list(o[1]) == [7] * 4
    assert (o[2] == 0).all()                            # the stride gap is not written
    assert list(o[4]) == [127, -128, 127, -128]


@pytest.mark.parametrize("flag", isa.FLAGS)
def test_every_token_flag_orders_stages(flag):
    """Each legal flag of each stage works with its partner; the one an end stage lacks is illegal."""
    r = Rig()
    routes = {(s, f): q for (s, f), q in isa.TOKEN_ROUTES.items() if f == flag}
    for (stage, _f), q in routes.items():
        producer = {isa.TokenQueue.L2C: isa.Stage.LOAD, isa.TokenQueue.C2L: isa.Stage.COMPUTE,
                    isa.TokenQueue.C2S: isa.Stage.COMPUTE, isa.TokenQueue.S2C: isa.Stage.STORE}[q]
        consumer = {isa.TokenQueue.L2C: isa.Stage.COMPUTE, isa.TokenQueue.C2L: isa.Stage.LOAD,
                    isa.TokenQueue.C2S: isa.Stage.STORE, isa.TokenQueue.S2C: isa.Stage.COMPUTE}[q]
        noop = {isa.Stage.LOAD: isa.Load(y_size=0), isa.Stage.COMPUTE: isa.Gemm(),
                isa.Stage.STORE: isa.Store(y_size=0)}
        push = [f for (s, f), qq in isa.TOKEN_ROUTES.items() if qq == q and s == producer][0]
        pop = [f for (s, f), qq in isa.TOKEN_ROUTES.items() if qq == q and s == consumer][0]
        ok = r.run([noop[producer].with_flags(**{push: True}), noop[consumer].with_flags(**{pop: True}),
                    isa.Finish()])
        assert ok.ok, ok.message()
        assert ok.tokens == {"l2c": 0, "c2l": 0, "c2s": 0, "s2c": 0}
        # without the push the pop never returns: deadlock naming the stage and queue
        dead = r.run([noop[consumer].with_flags(**{pop: True}), isa.Finish()])
        assert dead.error == ErrorCode.DEADLOCK
        assert f"{consumer.name.lower()} waits to pop {q.name.lower()}" in dead.message()
    bad_stage = {"pop_prev": isa.Load(y_size=0), "push_prev": isa.Load(y_size=0),
                 "pop_next": isa.Store(y_size=0), "push_next": isa.Store(y_size=0)}[flag]
    res = r.run([bad_stage.with_flags(**{flag: True}), isa.Finish()])
    assert res.error == ErrorCode.ILLEGAL_INSN and res.err_insn == 0


def test_token_overflow_blocks_then_deadlocks():
    r = Rig()
    n = CFG.token_depth + 1
    res = r.run([isa.Load(y_size=0, push_next=True)] * n + [isa.Finish()])
    assert res.error == ErrorCode.DEADLOCK
    assert "load waits to push l2c" in res.message()
    assert res.tokens["l2c"] == CFG.token_depth
    # the same pushes drained by compute pops: fine
    res = r.run([isa.Load(y_size=0, push_next=True)] * n + [isa.Gemm(pop_prev=True)] * n + [isa.Finish()])
    assert res.ok


def test_full_instruction_queue_blocks_fetch_into_deadlock():
    r = Rig()
    q = CFG.insn_queue_depth
    # compute waits for a load token, but q+1 more compute instructions come before the load:
    # fetch blocks on the full compute queue and never reaches the load.
    prog = [isa.Gemm(pop_prev=True)] + [isa.Gemm()] * (q + 1) + [isa.Load(y_size=0, push_next=True), isa.Finish()]
    res = r.run(prog)
    assert res.error == ErrorCode.DEADLOCK
    assert "fetch waits for room in the compute queue" in res.message()
    prog = [isa.Gemm(pop_prev=True)] + [isa.Gemm()] * (q - 1) + [isa.Load(y_size=0, push_next=True), isa.Finish()]
    assert r.run(prog).ok


def test_errors_dma_window_refused_nothing_written():
    r = Rig()
    r.m.acc[:] = 9
    before = r.mem.copy()
    store_out = isa.Store(dram_base=E(SIZE, 4) - 1, y_size=1, x_size=2)        # last element outside
    res = r.run([isa.Store(dram_base=E(OUT, 4), y_size=1, x_size=1), store_out, isa.Finish()])
    assert res.error == ErrorCode.DMA_WINDOW and res.err_insn == 1
    assert "DMA_WINDOW (DMA outside the DRAM window) at instruction 1" in res.message()
    changed = np.flatnonzero(r.mem[0x1000:] != before[0x1000:]) + 0x1000   # past the instructions
    assert changed.min() >= OUT and changed.max() < OUT + 4      # only the first (legal) store landed
    assert res.counters["store_insns"] == 1 and res.counters["insns_fetched"] == 1
    res = r.run([isa.Load(mem_type=MemType.WGT, dram_base=E(SIZE, 16)), isa.Finish()])
    assert res.error == ErrorCode.DMA_WINDOW
    # the window registers decide, not the memory size
    res = r.run([isa.Load(mem_type=MemType.INP, dram_base=E(0x8000, 4)), isa.Finish()],
                dram_limit=BASE + 0x8000)
    assert res.error == ErrorCode.DMA_WINDOW


@pytest.mark.parametrize("insn,code", [
    (isa.RawInsn(5), ErrorCode.ILLEGAL_OPCODE),
    (isa.RawInsn(6), ErrorCode.ILLEGAL_OPCODE),
    (isa.RawInsn(7 | 1 << 100), ErrorCode.ILLEGAL_OPCODE),
    (isa.Load(mem_type=MemType.OUT), ErrorCode.ILLEGAL_INSN),
    (isa.Load(mem_type=7), ErrorCode.ILLEGAL_INSN),
    (isa.Store(mem_type=MemType.ACC), ErrorCode.ILLEGAL_INSN),
    (isa.Load(mem_type=MemType.UOP, x_pad0=1), ErrorCode.ILLEGAL_INSN),
    (isa.Store(x_pad1=1), ErrorCode.ILLEGAL_INSN),
    (isa.Store(y_size=2, x_size=3, x_stride=2), ErrorCode.ILLEGAL_INSN),
    (isa.Alu(alu_op=7), ErrorCode.ILLEGAL_INSN),
    (isa.Load(mem_type=MemType.INP, sram_base=127, x_size=2, x_stride=2), ErrorCode.SRAM_RANGE),
    (isa.Load(mem_type=MemType.WGT, sram_base=60, y_size=1, x_size=1, y_pad1=4), ErrorCode.SRAM_RANGE),
    (isa.Load(mem_type=MemType.UOP, sram_base=256), ErrorCode.SRAM_RANGE),
    (isa.Store(sram_base=120, y_size=3, x_size=3, x_stride=3), ErrorCode.SRAM_RANGE),
    (isa.Gemm(uop_begin=0, uop_end=257), ErrorCode.UOP_RANGE),
    (isa.Alu(uop_begin=5, uop_end=4), ErrorCode.UOP_RANGE),
])
def test_fetch_time_errors(insn, code):
    r = Rig()
    res = r.run([isa.Gemm(), insn, isa.Gemm(), isa.Finish()])
    assert res.error == code and res.err_insn == 1
    assert res.counters["insns_fetched"] == 1 and res.counters["compute_insns"] == 1


def test_index_range_executes_earlier_uops_then_halts():
    r = Rig()
    r.m.acc[:] = 0
    # micro-op dst = 125 + 2*i_out: i_out = 0, 1 fine (125, 127), 2 -> 129 out of range
    prog = [r.uop_load([isa.Uop(125, 0, 0)]),
            isa.Alu(alu_op=AluOp.ADD, use_imm=True, imm=1, uop_begin=0, uop_end=1, iter_out=4, dst_factor_out=2),
            isa.Store(y_size=0), isa.Finish()]
    res = r.run(prog)
    assert res.error == ErrorCode.INDEX_RANGE and res.err_insn == isa.NO_INSN
    assert res.counters["alu_uops"] == 2 and r.m.acc[125, 0, 0] == 1 and r.m.acc[127, 0, 0] == 1
    assert res.stage_insn["compute"] == 1
    assert "INDEX_RANGE" in res.message() and "at instruction 1" in res.message()
    assert res.counters["store_insns"] == 1           # the other stages drain
    # GEMM: an input index out of range (reset GEMMs check only the destination)
    res = r.run([r.uop_load([isa.Uop(0, 200, 0)]), isa.Gemm(uop_begin=0, uop_end=1), isa.Finish()])
    assert res.error == ErrorCode.INDEX_RANGE and res.counters["gemm_uops"] == 0
    assert r.run([isa.Gemm(reset=True, uop_begin=0, uop_end=1), isa.Finish()]).ok


def test_no_finish_and_bad_start():
    r = Rig()
    assert r.run([isa.Gemm(), isa.Gemm()]).error == ErrorCode.NO_FINISH
    # instructions after FINISH are not fetched
    res = r.run([isa.Finish(), isa.RawInsn(5)])
    assert res.ok and res.counters["insns_fetched"] == 1
    prog = [isa.Finish()]
    assert r.run(prog, insn_count=0).error == ErrorCode.BAD_START
    assert r.run(prog, insn_addr=8).error == ErrorCode.BAD_START
    assert r.run(prog, dram_limit=BASE).error == ErrorCode.BAD_START
    m = Machine(CFG)
    res = m.run(np.zeros(SIZE, np.uint8), BASE - 0x800, insn_addr=0, insn_count=1,
                dram_base=BASE - 0x800, dram_limit=BASE)
    assert res.error == ErrorCode.BAD_START             # base not 4 KiB aligned
    assert r.run(prog, insn_addr=SIZE - 16, insn_count=2).error == ErrorCode.DMA_WINDOW
    with pytest.raises(DeviceError, match="outside the simulated memory"):
        r.m.run(r.mem, BASE, insn_addr=0, insn_count=1, dram_base=BASE, dram_limit=BASE + 2 * SIZE)
    with pytest.raises(TypeError, match="Machine needs an AccelConfig"):
        Machine("tiny")


def test_buffers_persist_between_runs_and_16_bit_config():
    from hwgen.accel.config import AccelConfig
    cfg = AccelConfig(batch=2, block_in=4, block_out=2, input_width=16, weight_width=16, acc_width=32,
                      output_width=16, inp_depth=16, wgt_depth=16, acc_depth=16, uop_depth=16,
                      axi_data_width=32)
    r = Rig(cfg)
    a = np.array([[[30000, -30000, 5, 1], [1, 2, 3, 4]]])
    w = np.array([[[2, 2, 0, 0], [1, 0, 0, 1]]])
    r.data(a, 16)
    r.data(w, 16, DATA + 0x100)
    prog = [r.uop_load([isa.Uop(0, 0, 0)]),
            isa.Load(mem_type=MemType.INP, dram_base=E(DATA, 16)),
            isa.Load(mem_type=MemType.WGT, dram_base=E(DATA + 0x100, 16)), isa.Finish()]
    assert r.run(prog).ok
    res = r.run([isa.Gemm(reset=True, uop_begin=0, uop_end=1), isa.Gemm(uop_begin=0, uop_end=1, push_next=True),
                 isa.Store(dram_base=E(OUT, 8), pop_prev=True), isa.Finish()])
    assert res.ok
    want = np.clip(a[0] @ w[0].T, -32768, 32767)
    assert np.array_equal(r.mem[OUT: OUT + 8].view(np.int16).reshape(2, 2), want)


def _naive(m: Machine, insn, cfg):
    """Micro-op-at-a-time reference of the GEMM/ALU semantics in the isa module doc."""
    acc = m.acc.copy()
    done = 0
    for io in range(insn.iter_out):
        for ii in range(insn.iter_in):
            for u in range(insn.uop_begin, insn.uop_end):
                a0, i0, w0 = (int(v) for v in m.uop[u])
                d = a0 + io * insn.dst_factor_out + ii * insn.dst_factor_in
                s = i0 + io * insn.src_factor_out + ii * insn.src_factor_in
                if isinstance(insn, isa.Gemm):
                    w = w0 + io * insn.wgt_factor_out + ii * insn.wgt_factor_in
                    if d >= cfg.acc_depth or (not insn.reset and (s >= cfg.inp_depth or w >= cfg.wgt_depth)):
                        return acc, done, True
                    if insn.reset:
                        acc[d] = 0
                    else:
                        p = m.inp[s] @ m.wgt[w].T
                        acc[d] = wrap(p if (insn.init and ii == 0) else acc[d] + p, cfg.acc_width)
                else:
                    if d >= cfg.acc_depth or (not insn.use_imm and s >= cfg.acc_depth):
                        return acc, done, True
                    y = np.int64(insn.imm) if insn.use_imm else acc[s]
                    acc[d] = alu_apply(insn.alu_op, acc[d], y, cfg.acc_width)
                done += 1
    return acc, done, False


def test_vectorized_compute_equals_micro_op_at_a_time_reference():
    cfg = PRESETS["tiny"]
    rng = np.random.default_rng(11)
    for trial in range(150):
        m = Machine(cfg)
        m.inp[:] = rng.integers(-128, 128, m.inp.shape)
        m.wgt[:] = rng.integers(-128, 128, m.wgt.shape)
        m.acc[:] = rng.integers(-(1 << 31), 1 << 31, m.acc.shape)
        nu = int(rng.integers(1, 6))
        hi = 12 if trial % 2 else 140        # small ranges: many repeated and dependent entries
        m.uop[:nu] = rng.integers(0, hi, (nu, 3))
        kw = dict(uop_begin=0, uop_end=nu, iter_out=int(rng.integers(0, 4)), iter_in=int(rng.integers(1, 4)),
                  dst_factor_out=int(rng.integers(0, 5)), dst_factor_in=int(rng.integers(0, 5)),
                  src_factor_out=int(rng.integers(0, 5)), src_factor_in=int(rng.integers(0, 5)))
        if trial % 3:
            insn = isa.Gemm(reset=bool(rng.random() < 0.15), init=bool(rng.random() < 0.5),
                            wgt_factor_out=int(rng.integers(0, 5)), wgt_factor_in=int(rng.integers(0, 5)), **kw)
        else:
            op = AluOp(int(rng.integers(0, 6)))
            insn = isa.Alu(alu_op=op, use_imm=bool(rng.random() < 0.5), imm=int(rng.integers(-32768, 32768)), **kw)
        want, n_done, faulted = _naive(m, insn, cfg)
        counters = {"gemm_uops": 0, "alu_uops": 0}
        try:
            m._compute(insn, counters)
            got_fault = False
        except _Fault as e:
            assert e.code == ErrorCode.INDEX_RANGE, isa.describe(insn)
            got_fault = True
        assert got_fault == faulted, isa.describe(insn)
        assert counters["gemm_uops"] + counters["alu_uops"] == n_done
        assert np.array_equal(m.acc, want), isa.describe(insn)
