"""Random valid accelerator programs for differential testing (functional simulator vs RTL).

:func:`random_case` returns a :class:`FuzzCase`: a DRAM window image (instructions, micro-ops and
random data), the register values to start it with, and what the functional simulator says the
run ends with (error code, ``ERR_INSN``, exact counters, final DRAM). A device that implements the
ISA must end with the same, whatever its timing and AXI backpressure.

Programs are race-free by construction, so every correct implementation gives the same result:

- LOADs read only the *input* region, STOREs write only the *output* region of the window.
- The program is a sequence of rounds. In round ``r`` the load stage fills half ``r % 2`` of the
  input and weight buffers, the compute stage runs LOAD UOP / LOAD ACC / GEMM / ALU on that half
  and on accumulator half ``r % 2``, and the store stage writes parts of accumulator half ``r % 2``
  to DRAM. Tokens: load ``r`` waits for compute ``r - 2`` (c2l), compute ``r`` for load ``r``
  (l2c) and store ``r - 2`` (s2c), store ``r`` for compute ``r`` (c2s): rounds overlap as in a
  double-buffered kernel.
- Every transfer, micro-op range and index is inside its buffer half; sizes include zero-size
  transfers, padding on each side, strides (0, equal, larger) and both loop levels.

With ``fault=`` one instruction is replaced by a faulty one (or a token push dropped for
DEADLOCK); the expected outcome then carries that error code. Only static (fetch-time) faults,
DEADLOCK and INDEX_RANGE are injected: their outcome does not depend on timing.

On-chip buffers persist between runs: run the cases of one :class:`~hwgen.accel.model.Machine`
in the same order on one RTL instance (or reset both).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from . import isa
from .config import AccelConfig
from .isa import Alu, AluOp, ErrorCode, Finish, Gemm, Load, MemType, Stage, Store, Uop
from .model import Machine, RunResult

#: Faults :func:`random_case` can inject.
FAULTS = (ErrorCode.ILLEGAL_OPCODE, ErrorCode.ILLEGAL_INSN, ErrorCode.DMA_WINDOW,
          ErrorCode.SRAM_RANGE, ErrorCode.UOP_RANGE, ErrorCode.INDEX_RANGE, ErrorCode.DEADLOCK)

INSN_REGION = 16 << 10


@dataclass
class FuzzCase:
    """One random program and its expected outcome.

    Attributes
    ----------
    image : ndarray of uint8
        The DRAM window's initial contents (instructions at ``insn_offset``).
    base : int
        Physical address the window is meant for (``DRAM_BASE``; ``DRAM_LIMIT = base + len(image)``).
    insn_offset, insn_count : int
        ``INSN_ADDR`` and ``INSN_COUNT``.
    insns : list
        The instructions (for messages).
    expected : RunResult
        The functional simulator's outcome.
    expected_image : ndarray of uint8
        The window after the run.
    """
    config: AccelConfig
    seed: int
    image: np.ndarray
    base: int
    insn_offset: int
    insn_count: int
    insns: list
    expected: RunResult
    expected_image: np.ndarray

    @property
    def limit(self) -> int:
        return self.base + len(self.image)

    def regs(self) -> dict[str, int]:
        """Register values to write before START."""
        return {"DRAM_BASE": self.base, "DRAM_LIMIT": self.limit, "INSN_ADDR": self.insn_offset,
                "INSN_COUNT": self.insn_count}

    def compare(self, error: int, err_insn: int, counters: dict[str, int], image: np.ndarray) -> list[str]:
        """Differences between a device's outcome and the expected one (empty when equal)."""
        diffs = []
        if int(error) != int(self.expected.error):
            diffs.append(f"error {ErrorCode(error).name if error in ErrorCode._value2member_map_ else error}"
                         f" != expected {self.expected.error.name}")
        if int(err_insn) != self.expected.err_insn:
            diffs.append(f"err_insn {err_insn} != expected {self.expected.err_insn}")
        for name in isa.EXACT_COUNTERS:
            if name in counters and int(counters[name]) != self.expected.counters[name]:
                diffs.append(f"counter {name} {counters[name]} != expected {self.expected.counters[name]}")
        image = np.asarray(image, dtype=np.uint8)
        if image.shape != self.expected_image.shape:
            diffs.append(f"image size {image.size} != {self.expected_image.size}")
        else:
            bad = np.flatnonzero(image != self.expected_image)
            if bad.size:
                diffs.append(f"{bad.size} DRAM bytes differ, first at window offset {int(bad[0]):#x}")
        return diffs

    def listing(self) -> str:
        return "\n".join(f"{i:4d} {isa.describe(x)}" for i, x in enumerate(self.insns))


class _Gen:
    def __init__(self, cfg: AccelConfig, rng: np.random.Generator, in_bytes: int, out_bytes: int):
        self.c, self.rng = cfg, rng
        self.in_off = INSN_REGION
        self.in_bytes = in_bytes
        self.out_off = self.in_off + in_bytes
        self.out_bytes = out_bytes
        self.uop_blob: list[Uop] = []
        self.uop_blob_off = self.out_off + out_bytes     # uop region after output

    def r(self, lo: int, hi: int) -> int:
        """Random int in lo..hi inclusive."""
        return int(self.rng.integers(lo, hi + 1))

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    # ------------------------------------------------------------ DMA
    def _dims(self, half: int, allow_pad: bool):
        """y, x, stride, padding with rows*cols <= half."""
        for _ in range(20):
            if self.chance(0.06):
                return 0 if self.chance(0.5) else self.r(1, 3), 0, self.r(0, 3), (0, 0, 0, 0)
            y = self.r(1, 4)
            x = self.r(1, 6)
            pad = tuple(self.r(0, 2) if allow_pad and self.chance(0.3) else 0 for _ in range(4))
            if (pad[0] + y + pad[1]) * (pad[2] + x + pad[3]) <= half:
                choice = self.r(0, 3)
                stride = x if choice < 2 else (0 if choice == 2 else x + self.r(1, 5))
                return y, x, stride, pad
        return 1, 1, 1, (0, 0, 0, 0)

    def load(self, mt: MemType, half_base: int, half: int) -> Load:
        eb = self.c.element_bytes[mt.name.lower()]
        y, x, stride, pad = self._dims(half, mt != MemType.UOP)
        n_elem_region = self.in_bytes // eb
        span = (y - 1) * stride + x if y and x else 0
        dram = (self.in_off // eb) + self.r(0, max(0, n_elem_region - span))
        entries = (pad[0] + y + pad[1]) * (pad[2] + x + pad[3]) if y and x else 0
        sram = half_base + self.r(0, half - entries)
        return Load(mem_type=mt, sram_base=sram, dram_base=dram, y_size=y, x_size=x, x_stride=stride,
                    y_pad0=pad[0], y_pad1=pad[1], x_pad0=pad[2], x_pad1=pad[3])

    def store(self, half_base: int, half: int) -> Store:
        eb = self.c.out_elem_bytes
        y, x, stride, _ = self._dims(half, False)
        if y > 1 and stride < x:
            stride = x
        span = (y - 1) * stride + x if y and x else 0
        dram = self.out_off // eb + self.r(0, max(0, self.out_bytes // eb - span))
        sram = half_base + self.r(0, half - (y * x if y and x else 0))
        return Store(sram_base=sram, dram_base=dram, y_size=y, x_size=x, x_stride=stride)

    # ------------------------------------------------------------ compute
    def kernel(self, n: int, spans: list[tuple[int, int, int]]) -> tuple[Load, int, int]:
        """A LOAD UOP of ``n`` random micro-ops; spans = (base, size, max loop offset) per index."""
        uops = []
        for _ in range(n):
            idx = [base + self.r(0, size - 1 - off) for base, size, off in spans]
            uops.append(Uop(*idx))
        begin = self.r(0, self.c.uop_depth - n)
        blob_at = len(self.uop_blob)
        self.uop_blob.extend(uops)
        ld = Load(mem_type=MemType.UOP, sram_base=begin, dram_base=self.uop_blob_off // isa.UOP_BYTES + blob_at,
                  y_size=1, x_size=n, x_stride=n)
        return ld, begin, begin + n

    def loops(self, sizes: list[int]):
        """iter_out, iter_in and per-index (f_out, f_in) whose largest offset is <= size // 2."""
        io, ii = self.r(1, 3), self.r(1, 3)
        if self.chance(0.05):
            io = 0
        facs = []
        for i, size in enumerate(sizes):
            cap = 1023 if i == 2 else 2047
            budget = size // 2
            fo = min(cap, self.r(0, budget // max(1, io - 1)))
            fi = min(cap, self.r(0, (budget - max(0, io - 1) * fo) // max(1, ii - 1)))
            facs.append((fo, fi))
        return io, ii, facs

    def compute_ops(self, acc_h, inp_h, wgt_h) -> list:
        """Random compute instructions on the given halves (base, size)."""
        out = []
        if self.chance(0.3):
            out.append(self.load(MemType.ACC, *acc_h))
        for _ in range(self.r(1, 3)):
            gemm = self.chance(0.6)
            sizes = [acc_h[1], inp_h[1] if gemm else acc_h[1]] + ([wgt_h[1]] if gemm else [])
            io, ii, facs = self.loops(sizes)
            offs = [max(0, io - 1) * fo + (ii - 1) * fi for fo, fi in facs]
            n = self.r(1, 5)
            spans = [(acc_h[0], acc_h[1], offs[0]),
                     (inp_h[0] if gemm else acc_h[0], sizes[1], offs[1])]
            spans.append((wgt_h[0], wgt_h[1], offs[2]) if gemm else (0, 1, 0))
            ld, b, e = self.kernel(n, spans)
            out.append(ld)
            common = dict(uop_begin=b, uop_end=e, iter_out=io, iter_in=ii,
                          dst_factor_out=facs[0][0], dst_factor_in=facs[0][1],
                          src_factor_out=facs[1][0], src_factor_in=facs[1][1])
            if gemm:
                out.append(Gemm(reset=self.chance(0.1), init=self.chance(0.25),
                                wgt_factor_out=min(facs[2][0], 1023), wgt_factor_in=min(facs[2][1], 1023),
                                **common))
            else:
                op = AluOp(self.r(0, len(AluOp) - 1))
                use_imm = self.chance(0.5)
                imm = self.r(0, self.c.acc_width - 1) if op == AluOp.SHR and self.chance(0.7) else self.r(-32768, 32767)
                out.append(Alu(alu_op=op, use_imm=use_imm, imm=imm, relu=self.chance(0.3), **common))
        return out


def _with(insn, **flags):
    return dataclasses.replace(insn, **flags)


def random_case(config: AccelConfig, seed: int, *, rounds: int | None = None,
                fault: ErrorCode | None = None, base: int = 0x0010_0000,
                machine: Machine | None = None) -> FuzzCase:
    """A random valid program (see module doc) and its expected outcome.

    Parameters
    ----------
    config : AccelConfig
    seed : int
    rounds : int, optional
        Load/compute/store rounds (default random 1..5).
    fault : ErrorCode, optional
        Inject one fault of this kind (see :data:`FAULTS`).
    base : int
        Physical window base (multiple of 4096).
    machine : Machine, optional
        The functional simulator to run on (its buffers carry over between cases); a fresh one
        by default.
    """
    if fault is not None and fault not in FAULTS:
        raise ValueError(f"fault must be one of {', '.join(f.name for f in FAULTS)}, not {fault!r}")
    c = config
    rng = np.random.default_rng(seed)
    big = max(c.element_bytes.values())
    in_bytes = max(8192, 24 * big)
    out_bytes = max(4096, 8 * c.out_elem_bytes * 8)
    g = _Gen(c, rng, -(-in_bytes // 4096) * 4096, -(-out_bytes // 4096) * 4096)
    rounds = g.r(1, 5) if rounds is None else rounds
    halves = {m: (c.depths[m] // 2) for m in ("inp", "wgt", "acc")}

    L, C, S = [], [], []   # per round: lists of instructions per stage
    for r in range(rounds):
        h = r % 2
        ih = (h * halves["inp"], halves["inp"])
        wh = (h * halves["wgt"], halves["wgt"])
        ah = (h * halves["acc"], halves["acc"])
        lo = [g.load(MemType.INP, *ih) if g.chance(0.5) else g.load(MemType.WGT, *wh)
              for _ in range(g.r(0, 3))]
        co = g.compute_ops(ah, ih, wh)
        st = [g.store(*ah) for _ in range(g.r(0, 3))]
        L.append(lo)
        C.append(co)
        S.append(st)

    # token placement (see module doc) and interleaving in program order
    noop = {Stage.LOAD: Load(mem_type=MemType.INP, y_size=0, x_size=0, x_stride=0),
            Stage.COMPUTE: Gemm(), Stage.STORE: Store(y_size=0, x_size=0, x_stride=0)}
    insns: list = []
    for r in range(rounds):
        lo = L[r] or [noop[Stage.LOAD]]
        if r >= 2:
            lo[0] = _with(lo[0], pop_next=True)
        lo[-1] = _with(lo[-1], push_next=True)
        co = C[r] or [noop[Stage.COMPUTE]]
        co[0] = _with(co[0], pop_prev=True, pop_next=r >= 2)
        co[-1] = _with(co[-1], push_prev=r + 2 < rounds, push_next=True)
        st = S[r] or [noop[Stage.STORE]]
        st[0] = _with(st[0], pop_prev=True)
        st[-1] = _with(st[-1], push_prev=r + 2 < rounds)
        insns += lo + co + st
    insns.append(Finish())

    if fault is not None:
        insns = _inject(g, insns, fault, c)

    # the image: instructions, input data, output zeros, micro-ops
    uop_bytes = isa.uops_to_bytes(g.uop_blob)
    size = g.uop_blob_off + -(-max(len(uop_bytes), 1) // 4096) * 4096
    image = np.zeros(size, dtype=np.uint8)
    code = isa.to_bytes(insns)
    if len(code) > INSN_REGION:
        raise ValueError("program too long for the fuzz instruction region")
    image[:len(code)] = np.frombuffer(code, np.uint8)
    image[g.in_off: g.in_off + g.in_bytes] = rng.integers(0, 256, g.in_bytes, dtype=np.uint8)
    image[g.uop_blob_off: g.uop_blob_off + len(uop_bytes)] = np.frombuffer(uop_bytes, np.uint8)
    m = machine or Machine(c)
    after = image.copy()
    res = m.run(after, base, insn_addr=0, insn_count=len(insns), dram_base=base, dram_limit=base + size)
    want = ErrorCode.OK if fault is None else fault
    if res.error != want:
        raise RuntimeError(f"fuzz generator bug: seed {seed} fault {fault} ended with {res.message()}")
    return FuzzCase(c, seed, image, base, 0, len(insns), insns, res, after)


def _inject(g: _Gen, insns: list, fault: ErrorCode, c: AccelConfig) -> list:
    """Replace or alter one instruction so the run ends with ``fault``."""
    body = [i for i, x in enumerate(insns) if not isinstance(x, Finish)]
    k = body[g.r(0, len(body) - 1)]
    x = insns[k]
    flags = {f: getattr(x, f) for f in isa.FLAGS}
    if fault == ErrorCode.ILLEGAL_OPCODE:
        insns[k] = isa.RawInsn(isa.encode(x) & ~0x7 | g.r(5, 7))
    elif fault == ErrorCode.ILLEGAL_INSN:
        choice = g.r(0, 2)
        if choice == 0:
            insns[k] = Store(mem_type=MemType.INP, **flags)
        elif choice == 1:
            insns[k] = Load(mem_type=MemType.UOP, y_pad0=1, **flags)
        else:
            insns[k] = Store(pop_next=True, **{f: v for f, v in flags.items() if f != "pop_next"})
    elif fault in (ErrorCode.DMA_WINDOW, ErrorCode.SRAM_RANGE):
        st = x.stage
        far = (g.uop_blob_off + (64 << 12))
        if fault == ErrorCode.DMA_WINDOW:
            sram, x_size = 0, 1
            elem = lambda eb: far // eb + g.r(0, 1000)  # noqa: E731
        else:
            sram, x_size = None, 2
            elem = lambda eb: g.in_off // eb  # noqa: E731
        if st == Stage.LOAD:
            mt = MemType.INP if g.chance(0.5) else MemType.WGT
            eb = c.element_bytes[mt.name.lower()]
            depth = c.depths[mt.name.lower()]
        elif st == Stage.COMPUTE:
            mt = MemType.ACC if g.chance(0.5) else MemType.UOP
            eb = c.element_bytes[mt.name.lower()]
            depth = c.depths[mt.name.lower()]
        else:
            mt, eb, depth = MemType.OUT, c.out_elem_bytes, c.acc_depth
        sram = depth - 1 if sram is None else sram
        cls = Store if st == Stage.STORE else Load
        dram = elem(eb) if fault == ErrorCode.DMA_WINDOW or st != Stage.STORE else g.out_off // eb
        insns[k] = cls(mem_type=mt, sram_base=sram, dram_base=dram, y_size=1, x_size=x_size,
                       x_stride=x_size, **flags)
    elif fault == ErrorCode.UOP_RANGE:
        comp = [i for i in body if insns[i].stage == Stage.COMPUTE]
        k = comp[g.r(0, len(comp) - 1)]
        flags = {f: getattr(insns[k], f) for f in isa.FLAGS}
        insns[k] = Gemm(uop_begin=c.uop_depth - 1, uop_end=c.uop_depth + 1, **flags) if g.chance(0.5) \
            else Alu(uop_begin=3, uop_end=2, **flags)
    elif fault == ErrorCode.INDEX_RANGE:
        # the first micro-op is already out of range: nothing executes (no race on acc)
        b = g.r(0, c.uop_depth - 1)
        ld = Load(mem_type=MemType.UOP, sram_base=b, y_size=1, x_size=1, x_stride=1,
                  dram_base=g.uop_blob_off // isa.UOP_BYTES + len(g.uop_blob))
        g.uop_blob.append(Uop(c.acc_depth + g.r(0, 5), 0, 0))
        comp = [i for i in body if isinstance(insns[i], (Gemm, Alu))]
        k = comp[g.r(0, len(comp) - 1)]
        flags = {f: getattr(insns[k], f) for f in isa.FLAGS}
        insns[k] = Gemm(uop_begin=b, uop_end=b + 1, iter_out=2, **flags)
        insns.insert(k, ld)
    elif fault == ErrorCode.DEADLOCK:
        pushes = [i for i in body if insns[i].push_next and insns[i].stage == Stage.LOAD]
        k = pushes[g.r(0, len(pushes) - 1)]
        insns[k] = dataclasses.replace(insns[k], push_next=False)
    return insns
