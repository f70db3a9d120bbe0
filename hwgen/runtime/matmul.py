"""Tiled integer matrix multiplication on the accelerator: the runtime's first user.

``C = saturate(round_shift(A @ B, shift))`` for any ``M x K`` by ``K x N`` (zero-padded to the GEMM
block), with ``A`` in ``input_width`` and ``B`` in ``weight_width`` signed integers and ``C`` in
``output_width``. The accumulators wrap at ``acc_width`` bits (as the hardware does).

Data layout in DRAM (element = one buffer entry): ``A`` as ``[Mb][Kb]`` input blocks of
``batch x block_in``, ``B`` as ``[Nb][Kb]`` weight blocks of ``block_out x block_in`` (``B``
transposed), ``C`` as ``[Mb][Nb]`` output blocks of ``batch x block_out``.

Schedule: output tiles of ``tm x tn`` blocks, the reduction in steps of ``tk`` blocks. Input and
weight buffers are split in two halves (double buffering: the load of step ``s + 1`` overlaps the
GEMM of step ``s``, tokens load->compute and compute->load), the accumulator buffer too (the store
of tile ``t`` overlaps the GEMMs of tile ``t + 1``, tokens compute->store and store->compute). The
tile sizes minimize an estimate of ``max(GEMM cycles, DMA beats)`` per step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..accel.config import AccelConfig
from ..accel.isa import AluOp, MemType, Stage
from ..accel.model import DMA_LATENCY, RunResult, wrap
from ..errors import ProgramError
from ..nn.quant import round_shift
from .network import INT_DTYPE
from .program import Program

L, C, S = Stage.LOAD, Stage.COMPUTE, Stage.STORE


@dataclass(frozen=True)
class Tiling:
    """Tile sizes in GEMM blocks (``tm`` rows of ``batch``, ``tn`` of ``block_out``, ``tk`` of
    ``block_in``) and the estimated cycles."""
    tm: int
    tn: int
    tk: int
    est_cycles: int


@dataclass
class MatmulResult:
    """Output and figures of one :func:`matmul`.

    Attributes
    ----------
    out : ndarray (M, N)
    result : RunResult
    macs : int
        Useful multiply-accumulates, ``M * K * N``.
    utilization : float
        ``macs / (macs_per_cycle * cycles)``.
    tiling : Tiling
    insns : int
        Instructions in the program.
    """
    out: np.ndarray
    result: RunResult
    macs: int
    utilization: float
    tiling: Tiling
    insns: int


def candidates(n: int) -> list[int]:
    """Tile sizes worth trying for an extent of ``n``: the powers of two below it and ``n``."""
    c = {n}
    p = 1
    while p < n:
        c.add(p)
        p *= 2
    return sorted(c)


def plan_tiling(config: AccelConfig, mb: int, kb: int, nb: int) -> Tiling:
    """Tile sizes (in blocks) for an ``mb x kb`` by ``kb x nb`` block matmul."""
    c = config
    ih, wh, ah = c.inp_depth // 2, c.wgt_depth // 2, c.acc_depth // 2
    best = None
    for tk in candidates(kb):
        if tk > min(ih, wh, 2047):
            continue
        for tn in candidates(nb):
            if tn * tk > wh or tn > min(2047, c.uop_depth // 4):
                continue
            for tm in candidates(mb):
                if tm * tk > ih or tm * tn > ah or tm > 16383:
                    continue
                steps_k = math.ceil(kb / tk)
                tiles = math.ceil(mb / tm) * math.ceil(nb / tn)
                comp = tm * tn * tk + 8
                load = (2 * DMA_LATENCY + (tm * tk * c.inp_elem_bytes + tn * tk * c.wgt_elem_bytes)
                        // c.axi_bytes)
                store = DMA_LATENCY + tm * tn * c.out_elem_bytes // c.axi_bytes
                est = tiles * steps_k * max(comp, load) + load + store
                key = (est, -(tm * tn * tk))
                if best is None or key < best[0]:
                    best = (key, Tiling(tm, tn, tk, est))
    if best is None:
        raise ProgramError(f"no tiling fits the buffers of {c.slug}")
    return best[1]


def pack_a(config: AccelConfig, a: np.ndarray) -> np.ndarray:
    """``A (M, K)`` as input blocks ``[Mb][Kb][batch][block_in]`` (zero-padded)."""
    c = config
    m, k = a.shape
    mb, kb = -(-m // c.batch), -(-k // c.block_in)
    p = np.zeros((mb * c.batch, kb * c.block_in), dtype=np.int64)
    p[:m, :k] = a
    return p.reshape(mb, c.batch, kb, c.block_in).transpose(0, 2, 1, 3)


def pack_b(config: AccelConfig, b: np.ndarray) -> np.ndarray:
    """``B (K, N)`` as weight blocks ``[Nb][Kb][block_out][block_in]`` (zero-padded)."""
    c = config
    k, n = b.shape
    kb, nb = -(-k // c.block_in), -(-n // c.block_out)
    p = np.zeros((kb * c.block_in, nb * c.block_out), dtype=np.int64)
    p[:k, :n] = b
    return p.T.reshape(nb, c.block_out, kb, c.block_in).transpose(0, 2, 1, 3)


def reference(config: AccelConfig, a: np.ndarray, b: np.ndarray, shift: int = 0) -> np.ndarray:
    """What the accelerator computes, in numpy."""
    acc = wrap(np.asarray(a, dtype=np.int64) @ np.asarray(b, dtype=np.int64), config.acc_width)
    y = round_shift(acc, shift)
    lo, hi = -(1 << (config.output_width - 1)), (1 << (config.output_width - 1)) - 1
    return np.clip(y, lo, hi)


def _check_operand(name: str, x: np.ndarray, width: int) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or x.size == 0:
        raise ProgramError(f"matmul operand {name} must be a non-empty 2-D array, not shape {x.shape}")
    if not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"matmul operand {name} must hold integers, not {x.dtype}")
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if x.min() < lo or x.max() > hi:
        raise ProgramError(f"matmul operand {name} must hold {width}-bit signed values in {lo}..{hi}, "
                           f"not {int(x.min())}..{int(x.max())}")
    return x.astype(np.int64)




def utilization(cfg: AccelConfig, macs: int, cycles: int) -> float:
    """GEMM utilization: useful MACs over peak MACs per cycle times all cycles."""
    return macs / (cfg.macs_per_cycle * max(cycles, 1))


def run_job(device, x: np.ndarray, w: np.ndarray, out_blocks: int, build, timeout_s):
    """Put packed inputs ``x`` and weights ``w`` in DRAM with room for ``out_blocks`` output
    blocks, run the program ``build(x_elem, w_elem, out_elem)`` returns, and free the buffers.

    Returns the run result, the program's instruction count and the raw output as int64.
    """
    cfg: AccelConfig = device.config
    bufs = []
    try:
        bx = device.alloc(x.size * cfg.input_width // 8)
        bufs.append(bx)
        bw = device.alloc(w.size * cfg.weight_width // 8)
        bufs.append(bw)
        by = device.alloc(out_blocks * cfg.out_elem_bytes)
        bufs.append(by)
        bx.write(x.astype(INT_DTYPE[cfg.input_width]))
        bw.write(w.astype(INT_DTYPE[cfg.weight_width]))
        prog = build(bx.elem(cfg.inp_elem_bytes), bw.elem(cfg.wgt_elem_bytes), by.elem(cfg.out_elem_bytes))
        try:
            res = device.run(prog, timeout_s=timeout_s)
        finally:
            prog.release()
        raw = by.read().view(INT_DTYPE[cfg.output_width]).astype(np.int64)
    finally:
        for buf in bufs:
            device.free(buf)
    return res, len(prog.insns), raw


def build_matmul(device, a_elem: int, b_elem: int, c_elem: int, mb: int, kb: int, nb: int,
                 shift: int, tiling: Tiling) -> Program:
    """The double-buffered program for block matrices already in DRAM at the given element bases."""
    cfg = device.config
    p = Program(device)
    ih, wh, ah = cfg.inp_depth // 2, cfg.wgt_depth // 2, cfg.acc_depth // 2
    tiles = [(m0, n0) for m0 in range(0, mb, tiling.tm) for n0 in range(0, nb, tiling.tn)]
    ksteps = list(range(0, kb, tiling.tk))
    total_steps = len(tiles) * len(ksteps)
    step = 0
    for ti, (m0, n0) in enumerate(tiles):
        tm, tn = min(tiling.tm, mb - m0), min(tiling.tn, nb - n0)
        acc_base = (ti % 2) * ah
        if ti >= 2:
            p.pop(S, C)                     # the store of tile ti-2 has freed this half
        for k0 in ksteps:
            tk = min(tiling.tk, kb - k0)
            half = step % 2
            if step >= 2:
                p.pop(C, L)                 # the GEMM of step-2 has freed this half
            p.load(MemType.INP, half * ih, a_elem + m0 * kb + k0, tm, tk, kb)
            p.load(MemType.WGT, half * wh, b_elem + n0 * kb + k0, tn, tk, kb)
            p.push(L, C)
            p.pop(L, C)
            kern = p.kernel([(acc_base + n, half * ih, half * wh + n * tk) for n in range(tn)])
            # the first reduction step overwrites the accumulators (init): no reset GEMM needed
            p.gemm(kern, iter_out=tm, iter_in=tk, init=k0 == 0, dst=(tn, 0), src=(tk, 1), wgt=(0, 1))
            if step + 2 < total_steps:
                p.push(C, L)
            step += 1
        if shift:
            rows = p.kernel([(acc_base + n, 0, 0) for n in range(tn)])
            p.alu(AluOp.SHR, rows, iter_out=tm, imm=shift, dst=(tn, 0))
        p.push(C, S)
        p.pop(C, S)
        p.store(acc_base, c_elem + m0 * nb + n0, tm, tn, nb)
        if ti + 2 < len(tiles):
            p.push(S, C)
    p.finish()
    return p


def matmul(device, a: np.ndarray, b: np.ndarray, *, shift: int = 0,
           tiling: Tiling | None = None, timeout_s: float | None = None) -> MatmulResult:
    """``saturate(round_shift(a @ b, shift))`` on ``device`` (see module doc).

    Raises
    ------
    ProgramError
        Operands of the wrong shape or range, or a shift outside ``0..acc_width-1``.
    hwgen.runtime.device.DeviceRunError
        The device reported an error code.
    """
    cfg: AccelConfig = device.config
    a = _check_operand("a", a, cfg.input_width)
    b = _check_operand("b", b, cfg.weight_width)
    if a.shape[1] != b.shape[0]:
        raise ProgramError(f"matmul shapes do not chain: a is {a.shape}, b is {b.shape}")
    if not isinstance(shift, int) or not 0 <= shift < cfg.acc_width:
        raise ProgramError(f"matmul shift must be an integer in 0..{cfg.acc_width - 1}, not {shift!r}")
    m, k = a.shape
    n = b.shape[1]
    pa, pb = pack_a(cfg, a), pack_b(cfg, b)
    mb, kb, nb = pa.shape[0], pa.shape[1], pb.shape[0]
    tiling = tiling or plan_tiling(cfg, mb, kb, nb)
    res, n_insns, raw = run_job(
        device, pa, pb, mb * nb,
        lambda ae, be, ce: build_matmul(device, ae, be, ce, mb, kb, nb, shift, tiling), timeout_s)
    out = raw.reshape(mb, nb, cfg.batch, cfg.block_out).transpose(0, 2, 1, 3)
    out = out.reshape(mb * cfg.batch, nb * cfg.block_out)[:m, :n]
    macs = m * k * n
    return MatmulResult(out, res, macs, utilization(cfg, macs, res.cycles), tiling, n_insns)
