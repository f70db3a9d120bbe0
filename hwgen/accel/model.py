"""The bit-exact functional simulator of the accelerator (numpy; semantics in :mod:`hwgen.accel.isa`).

:class:`Machine` keeps the on-chip buffers between runs and executes a program held in a DRAM
image (a ``uint8`` array mapped at a physical address). It reproduces the hardware's final DRAM,
error code, ``ERR_INSN`` and operation counters exactly; its cycle figures come from a simple
overlap-aware cost model (each stage's busy time from transfer sizes and micro-op counts, tokens
and queue depths respected) and are an estimate, not the RTL's count.

GEMM and ALU are vectorized over micro-ops (chunks of :data:`CHUNK`); an ALU instruction whose
micro-ops read or rewrite an entry written earlier in the same instruction falls back to
micro-op-at-a-time order, which keeps the sequential semantics exact.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import isa
from .config import AccelConfig
from .isa import AluOp, ErrorCode, MemType, Opcode, Stage, TokenQueue
from ..errors import DeviceError

#: Micro-ops evaluated per numpy step.
CHUNK = 1 << 14

# Cost model (cycles), used only for the estimate; fitted to the RTL of 2026-11-27 (default
# preset, Verilator, no backpressure): a DMA takes DMA_LATENCY + one cycle per AXI beat (+2 in the
# compute stage) and about 3/4 cycle per padding entry; GEMM one micro-op per cycle, ALU one (a
# tensor operand in the same accumulator bank as the destination, i.e. of the same index parity,
# costs one more).
DMA_LATENCY = 9
FETCH_LATENCY = 21
GEMM_PIPELINE = 13
ALU_PIPELINE = 10
ALU_CYCLES_PER_UOP = 1


@dataclass
class RunResult:
    """What a run ended with (also what every runtime device returns).

    Attributes
    ----------
    error : ErrorCode
    err_insn : int
        Index of the instruction a fetch-time error refers to (``isa.NO_INSN`` if none).
    counters : dict
        Every counter of :data:`isa.COUNTERS` (cycle counters are estimates on the simulator).
    tokens : dict
        Token counts per queue name (``l2c c2l c2s s2c``) at the end.
    waiting : dict
        Per stage name: ``None`` when idle, else what it waits for (``"pop l2c"``, ``"push c2s"``,
        ``"halted"``) or ``"queued"``; and ``fetch`` when fetch is blocked on a full queue.
    stage_insn : dict
        Per stage name, the program index of the instruction it holds (or ``None``).
    exact_cycles : bool
        True when ``cycles`` was counted by hardware, False for the simulator's estimate.
    """
    error: ErrorCode
    err_insn: int
    counters: dict[str, int]
    tokens: dict[str, int] = field(default_factory=dict)
    waiting: dict[str, Any] = field(default_factory=dict)
    stage_insn: dict[str, Any] = field(default_factory=dict)
    exact_cycles: bool = False

    @property
    def ok(self) -> bool:
        return self.error == ErrorCode.OK

    @property
    def cycles(self) -> int:
        return self.counters["cycles"]

    def message(self) -> str:
        """One line naming the error, the instruction and, for a deadlock, the stalled stages."""
        if self.ok:
            return "ok"
        text = f"accelerator error {self.error.name} ({isa.ERROR_TEXT[self.error]})"
        if self.err_insn != isa.NO_INSN:
            text += f" at instruction {self.err_insn}"
        if self.error == ErrorCode.INDEX_RANGE and self.stage_insn.get("compute") is not None:
            text += f" at instruction {self.stage_insn['compute']}"
        if self.error == ErrorCode.DEADLOCK:
            parts = []
            for st in ("load", "compute", "store"):
                w = self.waiting.get(st)
                if w and w != "queued":
                    at = self.stage_insn.get(st)
                    what = f"waits to {w}" if w.split()[0] in ("pop", "push") else "waits for a dependency token"
                    parts.append(f"{st} {what}" + (f" (instruction {at})" if at is not None else ""))
            if self.waiting.get("fetch"):
                parts.append(f"fetch waits for room in the {self.waiting['fetch']} queue")
            if parts:
                text += ": " + "; ".join(parts)
        return text


def wrap(x: np.ndarray, width: int) -> np.ndarray:
    """Two's-complement wrap of int64 values to ``width`` bits."""
    half = np.int64(1) << np.int64(width - 1)
    return ((x + half) & ((np.int64(1) << np.int64(width)) - 1)) - half


def saturate(x: np.ndarray, width: int) -> np.ndarray:
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    return np.clip(x, lo, hi)


def alu_apply(op: int, x: np.ndarray, y: np.ndarray, acc_width: int) -> np.ndarray:
    """One ALU operation on int64 lanes (``x`` the destination value, ``y`` the operand)."""
    if op == AluOp.MIN:
        return np.minimum(x, y)
    if op == AluOp.MAX:
        return np.maximum(x, y)
    if op == AluOp.ADD:
        return wrap(x + y, acc_width)
    if op == AluOp.MUL:
        m = ((y & 0xFFFF) ^ 0x8000) - 0x8000
        return wrap(x * m, acc_width)
    if op == AluOp.SHR:
        n = y & (acc_width - 1)
        rnd = np.where(n > 0, np.left_shift(np.int64(1), np.maximum(n - 1, 0)), 0)
        return np.right_shift(x + rnd, n)
    if op == AluOp.CLIP:
        return np.minimum(np.maximum(x, ~y), y)
    if op == AluOp.MULSHR:
        # ISA 3: |x * m| < 2**47 and n <= 63, so int64 holds the exact product and its rounding
        m = ((y & 0xFFFF) ^ 0x8000) - 0x8000
        n = np.right_shift(y, 16) & 63
        rnd = np.where(n > 0, np.left_shift(np.int64(1), np.maximum(n - 1, 0)), 0)
        return wrap(np.right_shift(x * m + rnd, n), acc_width)
    raise ValueError(f"no ALU op {op}")


def _dtype(width: int) -> str:
    return {8: "<i1", 16: "<i2", 32: "<i4"}[width]


def check_insn(c: AccelConfig, insn, base: int, limit: int) -> ErrorCode:
    """The fetch-time check of one instruction (see :class:`hwgen.accel.isa.ErrorCode`) against the
    DRAM window ``[base, limit)``: ``ErrorCode.OK`` or the error fetch raises."""
    if isinstance(insn, isa.RawInsn):
        return ErrorCode.ILLEGAL_OPCODE
    op = insn.opcode
    if op == Opcode.LOAD and insn.mem_type not in (MemType.UOP, MemType.INP, MemType.WGT, MemType.ACC):
        return ErrorCode.ILLEGAL_INSN
    if op == Opcode.STORE and insn.mem_type != MemType.OUT:
        return ErrorCode.ILLEGAL_INSN
    stage = insn.stage
    for flag in isa.FLAGS:
        if getattr(insn, flag) and (stage, flag) not in isa.TOKEN_ROUTES:
            return ErrorCode.ILLEGAL_INSN
    if op in (Opcode.LOAD, Opcode.STORE):
        pad = (insn.y_pad0, insn.y_pad1, insn.x_pad0, insn.x_pad1)
        if any(pad) and (op == Opcode.STORE or insn.mem_type == MemType.UOP):
            return ErrorCode.ILLEGAL_INSN
        if op == Opcode.STORE and insn.y_size > 1 and insn.x_stride < insn.x_size:
            return ErrorCode.ILLEGAL_INSN
        if insn.y_size == 0 or insn.x_size == 0:
            return ErrorCode.OK
        eb = c.element_bytes[MemType(insn.mem_type).name.lower()]
        start = base + insn.dram_base * eb
        end = base + (insn.dram_base + (insn.y_size - 1) * insn.x_stride + insn.x_size) * eb
        if start < base or end > limit:
            return ErrorCode.DMA_WINDOW
        entries = (insn.y_pad0 + insn.y_size + insn.y_pad1) * (insn.x_pad0 + insn.x_size + insn.x_pad1)
        depth = c.acc_depth if op == Opcode.STORE else c.depths[MemType(insn.mem_type).name.lower()]
        if insn.sram_base + entries > depth:
            return ErrorCode.SRAM_RANGE
        return ErrorCode.OK
    if op in (Opcode.GEMM, Opcode.ALU):
        if op == Opcode.ALU and insn.alu_op not in AluOp._value2member_map_:
            return ErrorCode.ILLEGAL_INSN
        if insn.uop_begin > insn.uop_end or insn.uop_end > c.uop_depth:
            return ErrorCode.UOP_RANGE
    return ErrorCode.OK


class _Fault(Exception):
    def __init__(self, code: ErrorCode):
        self.code = code


_STAGE_NAMES = {Stage.LOAD: "load", Stage.COMPUTE: "compute", Stage.STORE: "store"}


class Machine:
    """Functional model of one accelerator instance.

    Parameters
    ----------
    config : AccelConfig

    Attributes
    ----------
    uop : ndarray, shape (uop_depth, 3)
        Micro-op buffer as (acc_idx, inp_idx, wgt_idx).
    inp, wgt, acc : ndarray
        Buffers as int64 values: ``(inp_depth, batch, block_in)``, ``(wgt_depth, block_out,
        block_in)``, ``(acc_depth, batch, block_out)``.
    """

    def __init__(self, config: AccelConfig):
        if not isinstance(config, AccelConfig):
            raise TypeError(f"Machine needs an AccelConfig, not {type(config).__name__}")
        c = self.config = config
        self.uop = np.zeros((c.uop_depth, 3), dtype=np.int64)
        self.inp = np.zeros((c.inp_depth, c.batch, c.block_in), dtype=np.int64)
        self.wgt = np.zeros((c.wgt_depth, c.block_out, c.block_in), dtype=np.int64)
        self.acc = np.zeros((c.acc_depth, c.batch, c.block_out), dtype=np.int64)
        self._same_bank = 0          # ALU micro-ops of the last instruction with a same-bank operand

    def check(self, insn, base: int, limit: int) -> ErrorCode:
        """The fetch-time check of one instruction against the window ``[base, limit)``."""
        return check_insn(self.config, insn, base, limit)

    # ------------------------------------------------------------------ memory helpers
    def _elems(self, mem: np.ndarray, off: int, insn, eb: int) -> np.ndarray:
        """DRAM elements of a transfer as a (y_size, x_size, eb) uint8 array (offsets in bytes
        from the start of ``mem``)."""
        y = np.arange(insn.y_size, dtype=np.int64)[:, None]
        x = np.arange(insn.x_size, dtype=np.int64)[None, :]
        idx = insn.dram_base + y * insn.x_stride + x
        nelem = int(idx.max()) + 1
        view = mem[off: off + nelem * eb].reshape(nelem, eb)
        return view[idx]

    def _load(self, insn, mem: np.ndarray, off: int, counters: dict) -> None:
        c = self.config
        if insn.y_size == 0 or insn.x_size == 0:
            return
        mt = MemType(insn.mem_type)
        eb = c.element_bytes[mt.name.lower()]
        raw = self._elems(mem, off, insn, eb)                      # (Y, X, eb)
        counters["dram_read_bytes"] += insn.y_size * insn.x_size * eb
        rows = insn.y_pad0 + insn.y_size + insn.y_pad1
        cols = insn.x_pad0 + insn.x_size + insn.x_pad1
        if mt == MemType.UOP:
            words = raw.reshape(insn.y_size, insn.x_size, 8).copy().view("<u8")[..., 0].astype(np.uint64)
            vals = np.stack([((words >> np.uint64(f.lsb)) & np.uint64(f.mask)).astype(np.int64)
                             for f in isa.UOP_FIELDS], axis=-1)                       # (Y, X, 3)
            self.uop[insn.sram_base: insn.sram_base + rows * cols] = vals.reshape(-1, 3)
            return
        if mt == MemType.INP:
            buf, shape, width = self.inp, (c.batch, c.block_in), c.input_width
        elif mt == MemType.WGT:
            buf, shape, width = self.wgt, (c.block_out, c.block_in), c.weight_width
        else:
            buf, shape, width = self.acc, (c.batch, c.block_out), c.acc_width
        vals = np.ascontiguousarray(raw).view(_dtype(width)).astype(np.int64)
        vals = vals.reshape(insn.y_size, insn.x_size, *shape)
        full = np.zeros((rows, cols, *shape), dtype=np.int64)
        full[insn.y_pad0: insn.y_pad0 + insn.y_size, insn.x_pad0: insn.x_pad0 + insn.x_size] = vals
        buf[insn.sram_base: insn.sram_base + rows * cols] = full.reshape(rows * cols, *shape)

    def _store(self, insn, mem: np.ndarray, off: int, counters: dict) -> None:
        c = self.config
        if insn.y_size == 0 or insn.x_size == 0:
            return
        n = insn.y_size * insn.x_size
        vals = saturate(self.acc[insn.sram_base: insn.sram_base + n], c.output_width)
        data = vals.astype(_dtype(c.output_width)).reshape(insn.y_size, insn.x_size, -1)
        raw = np.ascontiguousarray(data).view(np.uint8).reshape(insn.y_size, insn.x_size, c.out_elem_bytes)
        eb = c.out_elem_bytes
        for y in range(insn.y_size):
            start = off + (insn.dram_base + y * insn.x_stride) * eb
            mem[start: start + insn.x_size * eb] = raw[y].reshape(-1)
        counters["dram_write_bytes"] += n * eb

    # ------------------------------------------------------------------ GEMM / ALU
    def _indices(self, insn, lo: int, hi: int):
        """Flat micro-op positions ``lo..hi-1`` -> (dst, src, wgt) index arrays."""
        nu = insn.uop_end - insn.uop_begin
        k = np.arange(lo, hi, dtype=np.int64)
        u = insn.uop_begin + k % nu
        rest = k // nu
        i_in = rest % insn.iter_in
        i_out = rest // insn.iter_in
        uo = self.uop[u]
        dst = uo[:, 0] + i_out * insn.dst_factor_out + i_in * insn.dst_factor_in
        src = uo[:, 1] + i_out * insn.src_factor_out + i_in * insn.src_factor_in
        wgt = uo[:, 2] + i_out * getattr(insn, "wgt_factor_out", 0) + i_in * getattr(insn, "wgt_factor_in", 0)
        return dst, src, wgt

    def _compute(self, insn, counters: dict) -> None:
        """Run a GEMM or ALU; raises _Fault(INDEX_RANGE) after executing the micro-ops before the
        first out-of-range one."""
        c = self.config
        total = insn.iter_out * insn.iter_in * (insn.uop_end - insn.uop_begin)
        is_gemm = insn.opcode == Opcode.GEMM
        self._same_bank = 0
        key = "gemm_uops" if is_gemm else "alu_uops"
        for lo in range(0, total, CHUNK):
            hi = min(total, lo + CHUNK)
            dst, src, wgt = self._indices(insn, lo, hi)
            bad = dst >= c.acc_depth
            if is_gemm and not insn.reset:
                bad |= (src >= c.inp_depth) | (wgt >= c.wgt_depth)
            elif not is_gemm and not insn.use_imm:
                bad |= src >= c.acc_depth
            first_bad = int(np.argmax(bad)) if bad.any() else None
            if first_bad is not None:
                dst, src, wgt = dst[:first_bad], src[:first_bad], wgt[:first_bad]
            if is_gemm:
                first = None
                if insn.init and not insn.reset:
                    nu = insn.uop_end - insn.uop_begin
                    first = ((np.arange(lo, lo + len(dst)) // nu) % insn.iter_in) == 0
                self._gemm(insn, dst, src, wgt, first)
            else:
                self._alu(insn, dst, src)
                if not insn.use_imm:
                    self._same_bank += int(np.count_nonzero(((dst ^ src) & 1) == 0))
            counters[key] += len(dst)
            if first_bad is not None:
                raise _Fault(ErrorCode.INDEX_RANGE)

    def _gemm(self, insn, dst, src, wgt, first=None) -> None:
        if len(dst) == 0:
            return
        if insn.reset:
            self.acc[dst] = 0
            return
        prod = np.matmul(self.inp[src], self.wgt[wgt].transpose(0, 2, 1))   # (n, batch, block_out)
        if first is not None and first.any():
            # An init micro-op overwrites: the sum over a destination restarts at its last init
            # micro-op (sequential semantics), so drop what came before it.
            last_init = np.full(self.config.acc_depth, -1, dtype=np.int64)
            pos = np.arange(len(dst))
            np.maximum.at(last_init, dst[first], pos[first])
            keep = pos >= last_init[dst]
            self.acc[np.unique(dst[first])] = 0
            dst, prod = dst[keep], prod[keep]
        np.add.at(self.acc, dst, prod)
        u = np.unique(dst)
        self.acc[u] = wrap(self.acc[u], self.config.acc_width)

    def _alu(self, insn, dst, src) -> None:
        n = len(dst)
        if n == 0:
            return
        aw, op = self.config.acc_width, insn.alu_op
        pos = np.full(self.config.acc_depth, n, dtype=np.int64)
        pos[dst[::-1]] = np.arange(n - 1, -1, -1)      # first writer of each entry
        seq = np.arange(n)
        conflict = len(np.unique(dst)) != n
        if not insn.use_imm:
            conflict = conflict or bool((pos[src] < seq).any())
        if not conflict:
            x = self.acc[dst]
            y = np.int64(insn.imm) if insn.use_imm else self.acc[src]
            r = alu_apply(op, x, y, aw)
            self.acc[dst] = np.maximum(r, 0) if insn.relu else r
            return
        for d, s in zip(dst.tolist(), src.tolist()):
            y = np.int64(insn.imm) if insn.use_imm else self.acc[s]
            r = alu_apply(op, self.acc[d], y, aw)
            self.acc[d] = np.maximum(r, 0) if insn.relu else r

    # ------------------------------------------------------------------ cost model
    def _cost(self, insn) -> int:
        c = self.config
        beats = lambda nbytes: -(-nbytes // c.axi_bytes)  # noqa: E731
        op = insn.opcode
        if op in (Opcode.LOAD, Opcode.STORE):
            if insn.y_size == 0 or insn.x_size == 0:
                return 1
            eb = c.element_bytes[MemType(insn.mem_type).name.lower()]
            data = beats(insn.y_size * insn.x_size * eb)
            pads = ((insn.y_pad0 + insn.y_size + insn.y_pad1) * (insn.x_pad0 + insn.x_size + insn.x_pad1)
                    - insn.y_size * insn.x_size)
            extra = 2 if insn.stage == Stage.COMPUTE else 0
            return DMA_LATENCY + extra + data + (3 * pads) // 4
        if op == Opcode.GEMM:
            return insn.iter_out * insn.iter_in * (insn.uop_end - insn.uop_begin) + GEMM_PIPELINE
        if op == Opcode.ALU:
            return (ALU_CYCLES_PER_UOP * insn.iter_out * insn.iter_in * (insn.uop_end - insn.uop_begin)
                    + self._same_bank + ALU_PIPELINE)
        return 2

    # ------------------------------------------------------------------ run
    def run(self, mem: np.ndarray, mem_base: int, *, insn_addr: int, insn_count: int,
            dram_base: int, dram_limit: int, schedule_seed: int | None = None) -> RunResult:
        """Run the program at ``dram_base + insn_addr`` on the DRAM image ``mem`` (a writable
        ``uint8`` array holding physical addresses ``mem_base ..``). The window
        ``[dram_base, dram_limit)`` must lie inside ``mem``.

        ``schedule_seed`` interleaves the stages in a random legal order instead of the default
        one (tests use it to show a program's outcome does not depend on timing)."""
        c = self.config
        counters = {name: 0 for name, _e, _d in isa.COUNTERS}
        tokens = {q: 0 for q in TokenQueue}
        names = {q: q.name.lower() for q in TokenQueue}

        def result(code, err_insn=isa.NO_INSN, waiting=None, stage_insn=None):
            return RunResult(ErrorCode(code), err_insn, counters,
                             {names[q]: v for q, v in tokens.items()}, waiting or {}, stage_insn or {})

        if (insn_count == 0 or insn_addr % isa.INSN_BYTES or dram_base % isa.DRAM_BASE_ALIGN
                or dram_limit <= dram_base or dram_limit > (1 << c.dram_addr_width)):
            return result(ErrorCode.BAD_START)
        if dram_base < mem_base or dram_limit > mem_base + len(mem):
            raise DeviceError(f"DRAM window {dram_base:#x}..{dram_limit:#x} is outside the simulated "
                              f"memory {mem_base:#x}..{mem_base + len(mem):#x}")
        ibeg = dram_base + insn_addr
        if ibeg + insn_count * isa.INSN_BYTES > dram_limit:
            return result(ErrorCode.DMA_WINDOW)
        off = dram_base - mem_base          # byte offset of the window in mem
        ioff = ibeg - mem_base
        raw = mem[ioff: ioff + insn_count * isa.INSN_BYTES]

        # stage state
        queues = {s: deque() for s in Stage}     # (index, insn, dispatch time)
        cur: dict[Stage, Any] = {s: None for s in Stage}   # [index, insn, phase, t_begin, t_ready]
        t_free = {s: 0 for s in Stage}
        taken = {s: [] for s in Stage}           # begin times of the stage's instructions, in order
        push_times = {q: [] for q in TokenQueue}
        pop_times = {q: [] for q in TokenQueue}
        busy = {s: 0 for s in Stage}
        stall = {s: 0 for s in Stage}
        error = None
        err_insn = isa.NO_INSN
        halted: Stage | None = None
        fetch_i, fetch_stopped, finish_seen = 0, False, False
        t_fetch = FETCH_LATENCY
        fetch_beats = max(1, isa.INSN_BYTES // c.axi_bytes)
        fetch_stall = 0
        fetch_blocked_on: Stage | None = None
        qd = c.insn_queue_depth

        def fetch_step() -> bool:
            nonlocal fetch_i, fetch_stopped, finish_seen, t_fetch, error, err_insn, fetch_stall
            nonlocal fetch_blocked_on
            if fetch_stopped:
                return False
            if fetch_i >= insn_count:
                fetch_stopped = True
                return True
            word = int.from_bytes(raw[fetch_i * 16: fetch_i * 16 + 16].tobytes(), "little")
            insn = isa.decode(word)
            code = self.check(insn, dram_base, dram_limit)
            if code != ErrorCode.OK:
                if error is None:
                    error, err_insn = code, fetch_i
                fetch_stopped = True
                return True
            st = insn.stage
            if len(queues[st]) >= qd:
                fetch_blocked_on = st
                return False
            fetch_blocked_on = None
            # the slot became free when the stage began its instruction (len(taken) - ...)
            n_prev = len(taken[st]) + len(queues[st])   # this stage's instructions dispatched so far
            t = t_fetch
            j = n_prev - qd   # the stage instruction whose start freed this slot
            if j >= 0:
                free_t = taken[st][j] if j < len(taken[st]) else t
                if free_t > t:
                    fetch_stall += free_t - t
                    t = free_t
            queues[st].append((fetch_i, insn, t))
            t_fetch = t + fetch_beats
            counters["insns_fetched"] += 1
            fetch_i += 1
            if insn.opcode == Opcode.FINISH:
                finish_seen = True
                fetch_stopped = True
            return True

        def stage_step(st: Stage) -> bool:
            nonlocal error, halted
            if halted == st:
                return False
            if cur[st] is None:
                if not queues[st]:
                    return False
                idx, insn, t_disp = queues[st].popleft()
                t_begin = max(t_free[st], t_disp)
                taken[st].append(t_begin)
                cur[st] = [idx, insn, "pop", t_begin, t_begin]
                return True
            idx, insn, phase, t_begin, t_ready = cur[st]
            if phase == "pop":
                need = [isa.TOKEN_ROUTES[(st, f)] for f in ("pop_prev", "pop_next") if getattr(insn, f)]
                if any(tokens[q] == 0 for q in need):
                    return False
                t = t_begin
                for q in need:
                    tokens[q] -= 1
                    t = max(t, push_times[q][len(pop_times[q])])
                    pop_times[q].append(t)
                stall[st] += t - t_begin
                try:
                    self._execute(insn, mem, off, counters)
                except _Fault as f:
                    if error is None:
                        error = f.code
                    halted = st          # the stage stops; fetch and the other stages go on
                    return True
                cost = self._cost(insn)
                busy[st] += cost
                cur[st] = [idx, insn, "push", t_begin, t + cost]
                return True
            # phase == "push"
            need = [isa.TOKEN_ROUTES[(st, f)] for f in ("push_prev", "push_next") if getattr(insn, f)]
            if any(tokens[q] >= c.token_depth for q in need):
                return False
            t = t_ready
            for q in need:
                k = len(push_times[q])
                if k - c.token_depth >= 0:
                    t = max(t, pop_times[q][k - c.token_depth])
            for q in need:
                tokens[q] += 1
                push_times[q].append(t)
            stall[st] += t - t_ready
            t_free[st] = t
            counters[{Stage.LOAD: "load_insns", Stage.COMPUTE: "compute_insns",
                      Stage.STORE: "store_insns"}[st]] += 1
            cur[st] = None
            return True

        if schedule_seed is None:
            progress = True
            while progress:
                progress = False
                while fetch_step():
                    progress = True
                for st in Stage:
                    while stage_step(st):
                        progress = True
                        # let fetch refill as queue slots free up
                        while fetch_step():
                            pass
        else:
            # one random actor step at a time: another legal interleaving of the same program
            rng = np.random.default_rng(schedule_seed)
            actors = [None, *Stage]
            while True:
                for a in rng.permutation(len(actors)):
                    act = actors[a]
                    if fetch_step() if act is None else stage_step(act):
                        break
                else:
                    break

        waiting: dict[str, Any] = {}
        stage_insn: dict[str, Any] = {}
        blocked = False
        for st in Stage:
            nm = _STAGE_NAMES[st]
            if cur[st] is None:
                waiting[nm] = "queued" if queues[st] else None
                stage_insn[nm] = queues[st][0][0] if queues[st] else None
                blocked = blocked or bool(queues[st]) and halted != st
                continue
            idx, insn, phase = cur[st][:3]
            stage_insn[nm] = idx
            if halted == st:
                waiting[nm] = "halted"
                continue
            blocked = True
            flags = ("pop_prev", "pop_next") if phase == "pop" else ("push_prev", "push_next")
            qs = [isa.TOKEN_ROUTES[(st, f)] for f in flags if getattr(insn, f)
                  and (tokens[isa.TOKEN_ROUTES[(st, f)]] == 0 if phase == "pop"
                       else tokens[isa.TOKEN_ROUTES[(st, f)]] >= c.token_depth)]
            waiting[nm] = " and ".join(f"{phase} {q.name.lower()}" for q in qs)
        if not fetch_stopped:
            blocked = True
            waiting["fetch"] = _STAGE_NAMES[fetch_blocked_on] if fetch_blocked_on is not None else None

        end = max([t_fetch] + list(t_free.values()))
        counters["cycles"] = int(end) + 1
        counters["fetch_stall"] = int(fetch_stall)
        for st in Stage:
            nm = _STAGE_NAMES[st]
            counters[f"{nm}_busy"] = int(busy[st])
            counters[f"{nm}_stall"] = int(stall[st])
        for k in counters:
            counters[k] &= 0xFFFF_FFFF
        if error is not None:
            code = error
        elif blocked:
            code = ErrorCode.DEADLOCK
        elif not finish_seen:
            code = ErrorCode.NO_FINISH
        else:
            code = ErrorCode.OK
        return result(code, err_insn, waiting, stage_insn)

    def _execute(self, insn, mem, off, counters) -> None:
        op = insn.opcode
        if op == Opcode.LOAD:
            self._load(insn, mem, off, counters)
        elif op == Opcode.STORE:
            self._store(insn, mem, off, counters)
        elif op in (Opcode.GEMM, Opcode.ALU):
            self._compute(insn, counters)
