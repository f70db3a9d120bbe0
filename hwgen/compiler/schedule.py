"""Tiling and instruction emission for one :class:`~hwgen.compiler.lower.Job`.

A job is cut into output-plane *groups* (``G`` planes whose weights and accumulators are on chip
together), 2-D output *tiles* (``th x tw`` pixels) and, per group, *chunks* (``Q`` input planes
loaded at once, cut further where their terms need more weight blocks than half the weight
buffer). One *step* loads a chunk's input rows (the LOAD's padding fields make the zero border)
and, when its half of the weight buffer does not already hold them, the chunk's weight blocks;
then a GEMM runs every term of the chunk, its outer loop over the tile's rows and its inner loop
over its columns. On a tile's first chunk the first term of every accumulator entry runs as a
GEMM with ``init`` and one inner iteration (its micro-ops walk the columns or the rows), which
writes the entry: no reset pass. Input and weight buffers are used in halves step by step, the
accumulator in halves tile by tile, with VTA-style dependency tokens, so loads, GEMMs and stores
overlap as in :mod:`hwgen.runtime.matmul`. After a tile's last chunk the epilogue runs on the ALU
(maxpool MAX, requantization; every tensor operand in the other accumulator bank than its
destination, so each micro-op takes one cycle) and STOREs write the group's tile.

The sizes ``(G, Q, th, tw)`` minimize an estimate of the job's cycles over power-of-two and
whole-extent candidates.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..accel.config import AccelConfig
from ..accel.isa import AluOp, MemType, Stage
from ..accel.model import DMA_LATENCY
from ..errors import ProgramError
from ..runtime.matmul import candidates
from .lower import Job

L, C, S = Stage.LOAD, Stage.COMPUTE, Stage.STORE
#: largest value of an 11-bit loop factor, a 14-bit loop count and a 16-bit DMA size
FACTOR_MAX, ITER_MAX, DMA_MAX, PAD_MAX = 2047, 16383, 65535, 15


@dataclass(frozen=True)
class Chunk:
    """What one step loads and runs: input ``planes``, the ``terms`` ``(group position, Term)`` it
    applies, and the weight blocks ``blks`` they use (in buffer order)."""
    planes: tuple[int, ...]
    terms: tuple
    blks: tuple[int, ...]


@dataclass
class Plan:
    """A job's tiling: ``groups`` (lists of output planes), per group its :class:`Chunk` list,
    tiles of ``th x tw`` output pixels, the buffer split (``ih``/``wh``/``ah`` entries per half,
    constants at ``const_base``), the epilogue, and ``init`` (no reset pass: every entry's first
    term is in its group's first chunk). ``est_cycles`` is the estimate that chose it."""
    job: Job
    th: int
    tw: int
    groups: list[list[int]]
    chunks: list[list[Chunk]]
    rows: int
    pitch: int
    ih: int
    wh: int
    ah: int
    const_base: int
    alu_ops: list[AluStep]
    est_cycles: int
    q: int
    init: bool = False

    @property
    def g(self) -> int:
        return max(len(x) for x in self.groups)

    @property
    def tiles(self) -> list[tuple[int, int, int, int]]:
        """``(oy0, rows, ox0, columns)`` of each output tile, row-major."""
        job = self.job
        return [(oy0, min(self.th, job.oh - oy0), ox0, min(self.tw, job.ow - ox0))
                for oy0 in range(0, job.oh, self.th) for ox0 in range(0, job.ow, self.tw)]


class AluStep(NamedTuple):
    """One epilogue operation: ``imm`` or else the plane's constant ``const`` as the operand;
    ``relu`` clamps its result at zero (ISA 2)."""
    op: AluOp
    imm: int | None
    const: int
    relu: bool = False


def fuses_mulshr(job: Job, config: AccelConfig) -> bool:
    """Whether the epilogue's MUL and SHR run as one MULSHR (ISA 3): both are needed, the
    accumulator has the operand bits 16..21 for the shift (32 bits) and every shift fits them.
    The result is MUL's then SHR's because the fitted multipliers keep ``x * m`` inside the
    accumulator (:func:`hwgen.compiler.quant.fit_accumulator`)."""
    return (config.acc_width >= 32 and bool(np.any(job.multiplier != 1))
            and bool(np.any(job.shift != 0)) and int(job.shift.min()) >= 0
            and int(job.shift.max()) <= 63)


def alu_ops(job: Job, config: AccelConfig) -> list[AluStep]:
    """The requantization epilogue in order. A ReLU's ``MAX 0`` rides on the operation before it
    as its ``relu`` flag (no micro-op of its own); MUL and SHR are one MULSHR where
    :func:`fuses_mulshr` (its constant, entry 1, packs the multiplier and the shift)."""
    if job.bias is None:
        return []
    ops: list[AluStep] = []
    if np.any(job.bias != 0):
        ops.append(AluStep(AluOp.ADD, None, 0))
    if fuses_mulshr(job, config):
        ops.append(AluStep(AluOp.MULSHR, None, 1))
    else:
        if np.any(job.multiplier != 1):
            ops.append(AluStep(AluOp.MUL, None, 1))
        if np.any(job.shift != 0):
            ops.append(AluStep(AluOp.SHR, None, 2))
    lo, hi = -(1 << (config.output_width - 1)), (1 << (config.output_width - 1)) - 1
    if job.lo == 0 and ops:
        ops[-1] = ops[-1]._replace(relu=True)
    elif job.lo > lo:
        ops.append(AluStep(AluOp.MAX, job.lo, 0))
    if job.hi < hi:
        ops.append(AluStep(AluOp.MIN, job.hi, 0))
    return ops


#: accumulator entries of constants per output plane: bias, multiplier, shift, each twice (at an
#: even and an odd entry, so the ALU reads the copy in the other bank than its destination)
CONSTS = 6


def region_stride(regions: int, entries: int) -> int:
    """Distance between the accumulator regions of a maxpool (``entries`` each): even, so that
    region ``t >= 1``, placed at ``t * stride + 1``, is in the other bank than region 0 entry for
    entry (its ALU MAX reads both in one cycle)."""
    return entries + (entries % 2) if regions > 1 else entries


def region_base(regions: int, entries: int, t: int) -> int:
    return t * region_stride(regions, entries) + (1 if t else 0)


def _acc_entries(regions: int, entries: int) -> int:
    return region_base(regions, entries, regions - 1) + entries


def _split(items: list[int], n: int) -> list[list[int]]:
    return [items[i:i + n] for i in range(0, len(items), n)] or [[]]


def make_plan(job: Job, config: AccelConfig, g: int, q: int, th: int, tw: int) -> Plan | None:
    """The plan for sizes ``(g, q, th, tw)``, or None when it does not fit the buffers or fields."""
    c = config
    r = c.block_out // c.block_in
    if tw % job.unpack:
        return None
    rows = (th - 1) * job.stride + job.kernel
    pitch = _tile_cols(job, tw) * r
    ops = alu_ops(job, c)
    consts = CONSTS * g if any(a.imm is None for a in ops) else 0
    ih, wh = c.inp_depth // 2, c.wgt_depth // 2
    ah = (c.acc_depth - consts) // 2
    if q * rows * pitch > ih or _acc_entries(job.regions, g * th * tw) > ah:
        return None
    if max(tw, job.stride * pitch, job.stride * r) > FACTOR_MAX or job.w * r > DMA_MAX:
        return None
    groups = _split(list(range(job.out_planes)), g)
    chunks = [_chunks(job, grp, q, min(wh, c.uop_depth // 2)) for grp in groups]
    plan = Plan(job, th, tw, groups, chunks, rows, pitch, ih, wh, ah, c.acc_depth - consts, ops, 0, q)
    # an unpacking job's first terms are per pixel phase, and its init micro-ops walk the columns
    walk = tw if job.unpack > 1 else min(th, tw)
    plan.init = all(
        len(first) == len(grp) * job.regions * job.unpack
        and len(first) // job.unpack * walk <= c.uop_depth // 2
        for grp, chs in zip(groups, chunks) for first in [_first_terms(chs[0])])
    plan.est_cycles = estimate(plan, config)
    return plan


def _tile_cols(job: Job, tw: int) -> int:
    """Input elements per row that a tile ``tw`` output pixels wide reads."""
    return tw // job.unpack + job.taps_x - 1 if job.unpack > 1 else (tw - 1) * job.stride + job.kernel


def _chunks(job: Job, grp: list[int], q: int, limit: int) -> list[Chunk]:
    """The steps of one group: its input planes ``q`` at a time, each cut further where its terms
    need more than ``limit`` weight blocks or micro-ops (a depthwise plane with many taps), into
    pieces of even size: consecutive steps use the two buffer halves in turn, so a large piece
    after a small one would wait for the large one before it (ResNet-18's 512-channel layers on
    ultra96: 256 + 32 blocks per plane ran load-then-compute, 144 + 144 overlap)."""
    need = sorted({t.p for ob in grp for t in job.terms[ob]})
    out = []
    for planes in _split(need, q):
        pset = set(planes)
        terms = [(oi, t) for oi, ob in enumerate(grp) for t in job.terms[ob] if t.p in pset]
        nb, nt = len({t.blk for _oi, t in terms}), len(terms)
        n = max(1, -(-nb // limit), -(-nt // limit))
        cap = max(-(-nb // n), -(-nt // n))
        piece: list = []
        blks: dict[int, None] = {}
        for oi, t in terms:
            if piece and (len(piece) >= cap or (t.blk not in blks and len(blks) >= cap)):
                out.append(_chunk(piece, blks))
                piece, blks = [], {}
            piece.append((oi, t))
            blks.setdefault(t.blk)
        out.append(_chunk(piece, blks))
    return out


def _first_terms(ch: Chunk) -> dict:
    """The first term of each (group position, region, pixel phase) in ``ch``, by that key."""
    first: dict = {}
    for oi, t in ch.terms:
        first.setdefault((oi, t.region, t.dx), t)
    return first


def _chunk(piece: list, blks: dict) -> Chunk:
    return Chunk(tuple(sorted({t.p for _oi, t in piece})), tuple(piece), tuple(sorted(blks)))


def plan_job(job: Job, config: AccelConfig) -> Plan:
    """The cheapest plan for ``job`` (see module doc)."""
    c = config
    r = c.block_out // c.block_in
    pt, pb, pl, pr = job.pads
    if max(pt, pb, pl * r, pr * r) > PAD_MAX:
        raise ProgramError(f"layer {job.name}: padding {job.pads} needs LOAD pad fields over "
                           f"{PAD_MAX} (x padding counts {r} elements per pixel)")
    max_q = max(1, max((len({t.p for t in ts}) for ts in job.terms), default=1))
    # a packed conv's tiles are whole elements wide: multiples of unpack too (SkyNet's 1x1
    # unpacking job keeps its widths, so its program and measured cycles stay as published)
    more = job.unpack > 1 and (job.kernel > 1 or job.stride > 1)
    widths = sorted(set(candidates(job.ow)) | ({job.unpack * t for t in candidates(job.ow // job.unpack)}
                                               if more else set()))
    best = None
    for g in candidates(job.out_planes):
        for q in candidates(job.in_planes if max_q > 1 else 1):
            for th in candidates(min(job.oh, ITER_MAX)):
                for tw in widths:
                    plan = make_plan(job, config, g, q, th, tw)
                    if plan is None:
                        continue
                    key = (plan.est_cycles, -g * q * th * tw)
                    if best is None or key < best[0]:
                        best = (key, plan)
    if best is None:
        raise ProgramError(f"layer {job.name}: no tiling fits {c.slug}: one output pixel of one "
                           f"output plane with one input plane ({job.kernel}x{job.kernel} window) needs "
                           f"more than the buffer halves (input {c.inp_depth // 2}, weight "
                           f"{c.wgt_depth // 2}, accumulator {c.acc_depth // 2} entries) or the loop "
                           f"fields allow")
    return best[1]


def _steps(plan: Plan):
    """``(step, gi, tile index, tile, ci, first chunk, last chunk)`` in order."""
    s = 0
    tiles = plan.tiles
    for gi in range(len(plan.groups)):
        n = len(plan.chunks[gi])
        for ti, tile in enumerate(tiles):
            for ci in range(n):
                yield s, gi, ti, tile, ci, ci == 0, ci == n - 1
                s += 1


def estimate(plan: Plan, config: AccelConfig) -> int:
    """Estimated cycles: per step the slower of its loads and its GEMM, plus the epilogues (full
    tiles assumed; weights reloaded each step unless a group has at most two chunks, whose
    weights then stay in their buffer halves)."""
    c = config
    job = plan.job
    beats = lambda n: -(-n // c.axi_bytes)  # noqa: E731
    n_tiles = -(-job.oh // plan.th) * -(-job.ow // plan.tw)
    pix = plan.th * plan.tw
    total = 0
    for gi, grp in enumerate(plan.groups):
        n = len(plan.chunks[gi])
        per_tile = 0
        wmax = 0
        for ci, ch in enumerate(plan.chunks[gi]):
            uops, planes = len(ch.terms), ch.planes
            comp = uops * pix // job.unpack + 8 + (job.regions * len(grp) * pix + 8 if ci == 0 and not plan.init else 0)
            load = len(planes) * (DMA_LATENCY + beats(plan.rows * plan.pitch * c.inp_elem_bytes))
            wload = DMA_LATENCY + beats(len(ch.blks) * c.wgt_elem_bytes)
            wmax = max(wmax, wload)
            per_tile += max(comp, load + (0 if n <= 2 else wload))
        tensor = sum(1 for a in plan.alu_ops if a.imm is None)
        per_entry = (len(plan.alu_ops) - tensor) + job.regions - 1 + tensor * (1 if plan.tw % 2 == 0 else 1.5)
        per_tile += int(per_entry * len(grp) * pix) + 8 * (len(plan.alu_ops) + job.regions - 1)
        total += n_tiles * per_tile + (2 * wmax if n <= 2 else 0)
    return total + DMA_LATENCY


def _reset(p, base: int, n: int) -> None:
    inner = min(n, FACTOR_MAX)
    outer = n // inner
    p.gemm(p.kernel([(base, 0, 0)]), outer, inner, reset=True, dst=(inner, 1))
    if n - outer * inner:
        p.gemm(p.kernel([(base + outer * inner, 0, 0)]), 1, n - outer * inner, reset=True, dst=(0, 1))


def emit(plan: Plan, p, config: AccelConfig, *, src_elem: int, dst_elem: int, wgt_elem: dict,
         const_elem: int | None, plane_elem: list[int] | None = None) -> None:
    """Append the job's instructions to Program ``p``.

    ``src_elem`` is the input map's first INP element (``plane_elem[p]``, when given, input plane
    ``p``'s first INP element: a job reading several maps), ``dst_elem`` the output map's (slice's) first
    OUT element, ``wgt_elem[(gi, ci)]`` the first WGT element of that pack, ``const_elem`` the first
    ACC element of the :func:`consts_array` entries (when the epilogue needs them)."""
    c = config
    job = plan.job
    r = c.block_out // c.block_in
    pt, _pb, pl, _pr = job.pads
    slot = plan.rows * plan.pitch                     # entries per input plane in a buffer half
    region = plan.th * plan.tw                        # accumulator entries per output plane
    steps = list(_steps(plan))
    n_steps = len(steps)
    n_tiles = sum(1 for st in steps if st[-1])
    plane_words = job.oh * job.ow
    held = [None, None]
    tc = -1
    cur_consts = None
    for s, gi, _ti, (oy0, th, ox0, tw), ci, first, last in steps:
        grp, ch = plan.groups[gi], plan.chunks[gi][ci]
        planes = ch.planes
        half = s % 2
        ibase, wbase = half * plan.ih, half * plan.wh
        if s >= 2:
            p.pop(C, L)
        rows = (th - 1) * job.stride + job.kernel
        cols = _tile_cols(job, tw)                        # input elements per row of this tile
        pitch = cols * r                                  # entries per loaded row
        y0 = oy0 * job.stride - pt
        x0 = ox0 // job.unpack - pl if job.unpack > 1 else ox0 * job.stride - pl
        top, bot = max(0, -y0), max(0, y0 + rows - job.h)
        left, right = max(0, -x0), max(0, x0 + cols - job.w)
        ny, nx = rows - top - bot, cols - left - right
        if ny <= 0 or nx <= 0:
            raise ProgramError(f"layer {job.name}: output tile at ({oy0}, {ox0}) sees only padding")
        for j, pl_ in enumerate(planes):
            base = plane_elem[pl_] if plane_elem is not None else src_elem + pl_ * job.h * job.w * r
            p.load(MemType.INP, ibase + j * slot, base + ((y0 + top) * job.w + x0 + left) * r,
                   ny, nx * r, job.w * r, pad=(top, bot, left * r, right * r))
        pack = ch.blks
        if held[half] != (gi, ci):
            p.load(MemType.WGT, wbase, wgt_elem[(gi, ci)], 1, len(pack), len(pack))
            held[half] = (gi, ci)
        p.push(L, C)
        p.pop(L, C)
        if first:
            tc += 1
            abase = (tc % 2) * plan.ah
            if tc >= 2:
                p.pop(S, C)
            if const_elem is not None and cur_consts != gi:
                p.load(MemType.ACC, plan.const_base, const_elem + CONSTS * grp[0], 1, CONSTS * len(grp))
                cur_consts = gi
            if not plan.init:
                _reset(p, abase, _acc_entries(job.regions, len(grp) * region))
        local = {b: i for i, b in enumerate(pack)}
        slot_of = {pl_: j for j, pl_ in enumerate(planes)}

        def uop(oi, t):
            return (abase + region_base(job.regions, len(grp) * region, t.region) + oi * region + t.dx,
                    ibase + slot_of[t.p] * slot + t.ky * pitch + t.kx * r + t.h, wbase + local[t.blk])
        terms = list(ch.terms)
        if first and plan.init:
            # the first term of every accumulator entry writes it (GEMM init: with one inner
            # iteration every micro-op is in the first), so no reset pass is needed
            head = _first_terms(ch)
            terms = [(oi, t) for oi, t in terms if head[(oi, t.region, t.dx)] is not t]
            base = [uop(oi, t) for (oi, _reg, _dx), t in head.items()]
            sy, sx = job.stride * pitch, job.stride * r
            if job.unpack > 1:          # pixel x: its phase's first term on element x // unpack
                k = p.kernel([(d - t.dx + x, i + (x // job.unpack) * r, w)
                              for ((oi, reg, dx), t), (d, i, w) in zip(head.items(), base)
                              for x in range(dx, tw, job.unpack)])
                p.gemm(k, th, 1, init=True, dst=(tw, 0), src=(job.stride * pitch, 0))
            elif tw <= th:
                k = p.kernel([(d + x, i + x * sx, w) for d, i, w in base for x in range(tw)])
                p.gemm(k, th, 1, init=True, dst=(tw, 0), src=(sy, 0))
            else:
                k = p.kernel([(d + y * tw, i + y * sy, w) for d, i, w in base for y in range(th)])
                p.gemm(k, tw, 1, init=True, dst=(1, 0), src=(sx, 0))
        if terms and job.unpack > 1:    # pixel phases: micro-op j writes columns j, j + unpack, ..
            p.gemm(p.kernel([uop(oi, t) for oi, t in terms]), th, tw // job.unpack,
                   dst=(tw, job.unpack), src=(job.stride * pitch, r))
        elif terms:
            p.gemm(p.kernel([uop(oi, t) for oi, t in terms]), th, tw, dst=(tw, 1),
                   src=(job.stride * pitch, job.stride * r))
        if s + 2 < n_steps:
            p.push(C, L)
        if not last:
            continue
        # epilogue on the ALU, then the store
        n = len(grp)
        for t in range(1, job.regions):
            rb = region_base(job.regions, n * region, t)
            k = p.kernel([(abase + oi * region, abase + rb + oi * region, 0) for oi in range(n)])
            p.alu(AluOp.MAX, k, th, tw, dst=(tw, 1), src=(tw, 1))
        cb = plan.const_base

        def const(oi: int, j: int, d: int) -> int:
            """The copy of constant ``j`` of plane ``oi`` in the other bank than entry ``d``."""
            return cb + CONSTS * oi + 2 * j + (d + cb + 1) % 2
        for op, imm, j, relu in plan.alu_ops:
            if imm is not None:
                k = p.kernel([(abase + oi * region, 0, 0) for oi in range(n)])
                p.alu(op, k, th, tw, imm=imm, dst=(tw, 1), relu=relu)
            elif tw % 2 == 0:            # pairs of columns: even and odd entries read their copies
                d = [abase + oi * region + e for oi in range(n) for e in (0, 1)]
                k = p.kernel([(x, const(i // 2, j, x), 0) for i, x in enumerate(d)])
                p.alu(op, k, th, tw // 2, dst=(tw, 2), relu=relu)
            else:
                k = p.kernel([(abase + oi * region, const(oi, j, abase + oi * region), 0) for oi in range(n)])
                p.alu(op, k, th, tw, dst=(tw, 1), relu=relu)
        p.push(C, S)
        p.pop(C, S)
        if tw == job.ow and th * tw == region and plane_words <= DMA_MAX:
            # whole rows of every plane of the group: one 2-D store
            p.store(abase, dst_elem + grp[0] * plane_words + oy0 * job.ow, n, th * tw, plane_words)
        else:
            for oi, ob in enumerate(grp):
                p.store(abase + oi * region, dst_elem + ob * plane_words + oy0 * job.ow + ox0, th, tw,
                        job.ow)
        if tc + 2 < n_tiles:
            p.push(S, C)


def consts_array(job: Job, config: AccelConfig) -> np.ndarray:
    """``[out_planes][3][2][block_out]`` accumulator values: bias, multiplier, shift, each twice
    (see :data:`CONSTS`); with :func:`fuses_mulshr` the multiplier entry is MULSHR's operand
    ``shift << 16 | multiplier & 0xffff``."""
    bo = config.block_out
    mult = np.asarray(job.multiplier, dtype=np.int64)
    if fuses_mulshr(job, config):
        mult = (np.asarray(job.shift, dtype=np.int64) << 16) | (mult & 0xFFFF)
    one = np.stack([job.bias.reshape(-1, bo), mult.reshape(-1, bo),
                    job.shift.reshape(-1, bo)], axis=1)
    return np.repeat(one[:, :, None, :], 2, axis=2)


def packed_weights(plan: Plan) -> dict[tuple[int, int], np.ndarray]:
    """The weight blocks of each (group, chunk), in buffer order ``[n][block_out][block_in]``."""
    return {(gi, ci): plan.job.blocks[list(ch.blks)]
            for gi, chs in enumerate(plan.chunks) for ci, ch in enumerate(chs)}

