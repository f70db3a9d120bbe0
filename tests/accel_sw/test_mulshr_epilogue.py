"""ISA 3: the compiler's requantization epilogue uses MULSHR where MUL and SHR are both needed."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np

from hwgen.accel import isa
from hwgen.accel.isa import AluOp, Opcode
from hwgen.accel.presets import PRESETS
from hwgen.accel.model import alu_apply
from hwgen.compiler import compile_network
from hwgen.compiler.schedule import alu_ops, consts_array
from hwgen.nn import model as golden
from hwgen.nn.models import build_model
from hwgen.runtime import FsimDevice
from hwgen.runtime.network import NetworkRunner

from tests.compiler.netgen import quantized


def _alu_ops(cn) -> dict[AluOp, int]:
    ops: dict[AluOp, int] = {}
    for seg in cn.segments:
        for insn in seg.insns:
            if insn.opcode == Opcode.ALU:
                ops[AluOp(insn.alu_op)] = ops.get(AluOp(insn.alu_op), 0) + 1
    return ops


def test_epilogue_fuses_mul_and_shr_and_stays_bit_exact():
    q = quantized(build_model("skynet-tiny"))
    cfg = PRESETS["tiny"]
    cn, fitted = compile_network(q, cfg)
    ops = _alu_ops(cn)
    assert ops.get(AluOp.MULSHR, 0) > 0 and AluOp.MUL not in ops and AluOp.SHR not in ops
    # every MULSHR reads its plane's packed constant (a tensor operand), none an immediate
    assert all(not i.use_imm for s in cn.segments for i in s.insns
               if i.opcode == Opcode.ALU and i.alu_op == AluOp.MULSHR)
    dev = FsimDevice(cfg)
    runner = NetworkRunner(dev, cn)
    img = golden.test_images(fitted, 1, 0)[0]
    got = runner.run(img).maps
    for name, ref in golden.forward(fitted, img).items():
        assert np.array_equal(got[name], ref), name
    runner.close()


def _job(multiplier, shift, lo=0):
    bo = 4
    return SimpleNamespace(bias=np.arange(bo), multiplier=np.asarray(multiplier),
                           shift=np.asarray(shift), lo=lo, hi=127)


def test_alu_ops_and_the_packed_constant():
    cfg = dataclasses.replace(PRESETS["tiny"], block_out=4, block_in=4)
    job = _job([300, 1, -5, 32767], [20, 0, 31, 7])
    assert [(a.op, a.const, a.relu) for a in alu_ops(job, cfg)] == \
        [(AluOp.ADD, 0, False), (AluOp.MULSHR, 1, True)]              # ReLU rides on MULSHR
    packed = consts_array(job, cfg)[0, 1, 0]
    assert list(packed) == [20 << 16 | 300, 1, 31 << 16 | 0xFFFB, 7 << 16 | 32767]
    # what the ALU makes of it is MUL then SHR (values whose product fits 32 bits)
    x = np.array([123456, -98765, 4095, -1])
    assert np.array_equal(alu_apply(AluOp.MULSHR, x, packed, 32),
                          alu_apply(AluOp.SHR, alu_apply(AluOp.MUL, x, job.multiplier, 32), job.shift, 32))
    # only one of the two needed: no fusion
    assert [a.op for a in alu_ops(_job([3] * 4, [0] * 4, lo=-128), cfg)] == [AluOp.ADD, AluOp.MUL]
    assert [a.op for a in alu_ops(_job([1] * 4, [2] * 4, lo=-128), cfg)] == [AluOp.ADD, AluOp.SHR]


def test_sixteen_bit_accumulators_keep_mul_then_shr():
    """A 16-bit accumulator has no operand bits 16..21 for the shift: MUL and SHR stay."""
    cfg = dataclasses.replace(PRESETS["tiny"], block_out=4, block_in=4, acc_width=16)
    job = _job([300, 1, -5, 3], [20, 0, 3, 7])
    assert [a.op for a in alu_ops(job, cfg)] == [AluOp.ADD, AluOp.MUL, AluOp.SHR]
    assert list(consts_array(job, cfg)[0, 1, 0]) == [300, 1, -5, 3]
    assert isa.ISA_VERSION == 3
