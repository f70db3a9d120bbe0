"""2-D convolution on the accelerator (no im2col): the ISA's padding and two loop levels at work.

``y = saturate(round_shift(conv2d(x, w), shift))`` for ``x [H, W, C]`` and ``w [K, K, C, OC]``
with any stride and padding (``none``, ``same`` or explicit, up to 15 per side), on a ``batch = 1``
configuration, with the numeric semantics of :func:`hwgen.nn.ops.conv2d`.

DRAM layout (one element = one buffer entry): input pixels as ``[Cb][H][W]`` blocks of
``block_in`` channels, weights as ``[OCb][Cb][K][K]`` blocks of ``block_out x block_in``, outputs
as ``[OCb][OH][OW]`` blocks of ``block_out`` channels.

Schedule: the weights are loaded once; output rows are processed in tiles of ``toh`` rows. For a
tile, each input channel block's rows are loaded with one 2D LOAD whose padding fields make the
zero border (top/bottom only on the first/last tile), into half ``t % 2`` of the input buffer. One
GEMM per tile then runs micro-ops over ``(ob, cb, ky, kx)`` with the outer loop over output rows
(``src += stride * cols``, ``dst += OW``) and the inner loop over output columns (``src +=
stride``, ``dst += 1``). Tokens double-buffer the input tiles and the accumulator halves as in
:mod:`hwgen.runtime.matmul`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..accel.config import AccelConfig
from ..accel.isa import AluOp, MemType, Stage
from ..accel.model import RunResult, wrap
from ..errors import ProgramError
from ..linebuf.model import Padding, output_size, pad_amounts
from ..nn.ops import conv2d as conv2d_ops
from ..nn.quant import round_shift
from .matmul import _check_operand, run_job, utilization
from .program import Program

L, C, S = Stage.LOAD, Stage.COMPUTE, Stage.STORE


@dataclass
class ConvResult:
    """Output and figures of one :func:`conv2d`: ``out [OH, OW, OC]``, the run, useful MACs,
    ``utilization = macs / (macs_per_cycle * cycles)``, output rows per tile, instructions."""
    out: np.ndarray
    result: RunResult
    macs: int
    utilization: float
    tile_rows: int
    insns: int


def conv_reference(config: AccelConfig, x: np.ndarray, w: np.ndarray, *, stride: int = 1,
                   padding: Padding = "same", shift: int = 0) -> np.ndarray:
    """What the accelerator computes, in numpy (``hwgen.nn.ops.conv2d`` then the output stage)."""
    acc = wrap(conv2d_ops(np.asarray(x), np.asarray(w), stride=stride, padding=padding), config.acc_width)
    lo, hi = -(1 << (config.output_width - 1)), (1 << (config.output_width - 1)) - 1
    return np.clip(round_shift(acc, shift), lo, hi)


def _blocks(n: int, b: int) -> int:
    return -(-n // b)


def conv2d(device, x: np.ndarray, w: np.ndarray, *, stride: int = 1, padding: Padding = "same",
           shift: int = 0, timeout_s: float | None = None) -> ConvResult:
    """Convolution on ``device`` (see module doc).

    Raises
    ------
    ProgramError
        Bad shapes or values, ``batch != 1``, padding over 15, or a layer whose weights or one
        output row do not fit the buffers.
    """
    cfg: AccelConfig = device.config
    if cfg.batch != 1:
        raise ProgramError(f"conv2d needs a batch = 1 configuration, not batch {cfg.batch}")
    x = np.asarray(x)
    w = np.asarray(w)
    if x.ndim != 3 or w.ndim != 4 or w.shape[0] != w.shape[1] or w.shape[2] != x.shape[2]:
        raise ProgramError(f"conv2d needs x [H, W, C] and w [K, K, C, OC], not {x.shape} and {w.shape}")
    _check_operand("x", x.reshape(x.shape[0], -1), cfg.input_width)
    _check_operand("w", w.reshape(-1, w.shape[3]), cfg.weight_width)
    if not isinstance(stride, int) or stride < 1 or stride > 16:
        raise ProgramError(f"conv2d stride must be an integer in 1..16, not {stride!r}")
    if not isinstance(shift, int) or not 0 <= shift < cfg.acc_width:
        raise ProgramError(f"conv2d shift must be an integer in 0..{cfg.acc_width - 1}, not {shift!r}")
    h, wd, c = x.shape
    k, oc = w.shape[0], w.shape[3]
    pt, pb, pl, pr = pad_amounts(k, stride, padding, h, wd)
    if max(pt, pb, pl, pr) > 15:
        raise ProgramError(f"conv2d padding must be at most 15 per side (4-bit LOAD fields), not {(pt, pb, pl, pr)}")
    oh, ow = output_size(h, wd, k, stride, (pt, pb, pl, pr))
    if oh < 1 or ow < 1:
        raise ProgramError(f"conv2d kernel {k} does not fit the padded {h}x{wd} input")
    cb, ocb = _blocks(c, cfg.block_in), _blocks(oc, cfg.block_out)
    cols = pl + wd + pr
    n_w = ocb * cb * k * k
    ih, ah = cfg.inp_depth // 2, cfg.acc_depth // 2
    if n_w > cfg.wgt_depth or n_w + 1 > cfg.uop_depth // 2:
        raise ProgramError(f"conv2d weights need {n_w} weight blocks and micro-ops; the buffers hold "
                           f"{cfg.wgt_depth} and {cfg.uop_depth // 2}")
    toh = 0
    for t in range(1, oh + 1):
        rows = (t - 1) * stride + k
        if cb * rows * cols > ih or ocb * t * ow > ah:
            break
        toh = t
    if toh == 0:
        raise ProgramError(f"conv2d: one output row ({ow} wide, {ocb} output blocks, input {cols} wide x "
                           f"{cb} blocks) does not fit half of the input/accumulator buffers")
    if max(ow, stride * cols) > 2047 or ow > 16383 or toh > 16383:
        raise ProgramError("conv2d: the layer is too wide for the 11-bit loop factors")

    # pack
    xp = np.zeros((cb * cfg.block_in, h, wd), dtype=np.int64)
    xp[:c] = np.moveaxis(x, 2, 0)
    xp = xp.reshape(cb, cfg.block_in, h, wd).transpose(0, 2, 3, 1)            # [Cb][H][W][bi]
    wp = np.zeros((k, k, cb * cfg.block_in, ocb * cfg.block_out), dtype=np.int64)
    wp[:, :, :c, :oc] = w
    wp = wp.reshape(k, k, cb, cfg.block_in, ocb, cfg.block_out).transpose(4, 2, 0, 1, 5, 3)  # [OCb][Cb][K][K][bo][bi]

    def build(xe: int, we: int, ye: int) -> Program:
        p = Program(device)
        p.load(MemType.WGT, 0, we, 1, n_w, n_w)
        tiles = list(range(0, oh, toh))
        for ti, oy0 in enumerate(tiles):
            th = min(toh, oh - oy0)
            rows = (th - 1) * stride + k
            ibase, abase = (ti % 2) * ih, (ti % 2) * ah
            # padded input rows oy0*stride .. +rows; real rows are those minus the top padding
            r0 = oy0 * stride - pt
            top = max(0, -r0)
            bot = max(0, r0 + rows - h)
            real = rows - top - bot
            if real <= 0:
                raise ProgramError(f"conv2d: output rows {oy0}.. see only padding; use less padding")
            if ti >= 2:
                p.pop(C, L)
            for b in range(cb):
                p.load(MemType.INP, ibase + b * rows * cols, xe + (b * h + r0 + top) * wd, real, wd, wd,
                       pad=(top, bot, pl, pr))
            p.push(L, C)
            p.pop(L, C)
            if ti >= 2:
                p.pop(S, C)
            rst = p.kernel([(abase + ob * th * ow, 0, 0) for ob in range(ocb)])
            p.gemm(rst, th, ow, reset=True, dst=(ow, 1))
            kern = p.kernel([(abase + ob * th * ow, ibase + b * rows * cols + ky * cols + kx,
                              ((ob * cb + b) * k + ky) * k + kx)
                             for ob in range(ocb) for b in range(cb) for ky in range(k) for kx in range(k)])
            p.gemm(kern, th, ow, dst=(ow, 1), src=(stride * cols, stride))
            if shift:
                p.alu(AluOp.SHR, rst, th, ow, imm=shift, dst=(ow, 1))
            if ti + 2 < len(tiles):
                p.push(C, L)
            p.push(C, S)
            p.pop(C, S)
            for ob in range(ocb):
                p.store(abase + ob * th * ow, ye + (ob * oh + oy0) * ow, th, ow, ow)
            if ti + 2 < len(tiles):
                p.push(S, C)
        p.finish()
        return p

    res, n_insns, raw = run_job(device, xp, wp, ocb * oh * ow, build, timeout_s)
    out = raw.reshape(ocb, oh, ow, cfg.block_out).transpose(1, 2, 0, 3).reshape(oh, ow, -1)[:, :, :oc]
    macs = oh * ow * oc * c * k * k
    return ConvResult(out, res, macs, utilization(cfg, macs, res.cycles), toh, n_insns)
