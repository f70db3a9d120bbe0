"""``Program``: builds an accelerator instruction stream.

- Micro-op *kernels* are recorded once: :meth:`Program.kernel` returns the micro-op buffer range of
  a kernel, emitting a LOAD UOP only the first time (or after the kernel was evicted because the
  micro-op buffer filled up; the compute stage runs in order, so reuse is safe).
- Dependency tokens are placed VTA-style: :meth:`Program.push` sets the push flag on the last
  instruction the producing stage has so far (or adds a no-op there), :meth:`Program.pop` puts the
  pop flag on the next instruction of the consuming stage. With two buffer halves, pushes and pops
  give load/compute/store overlap (see :mod:`hwgen.runtime.matmul`).
- DRAM addresses are element numbers relative to the device's window (``Buffer.elem``).
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

from ..accel import isa
from ..accel.isa import Alu, AluOp, Finish, Gemm, Load, MemType, Stage, Store, Uop
from ..accel.model import check_insn
from ..errors import ProgramError

_PUSH = {(Stage.LOAD, Stage.COMPUTE): "push_next", (Stage.COMPUTE, Stage.LOAD): "push_prev",
         (Stage.COMPUTE, Stage.STORE): "push_next", (Stage.STORE, Stage.COMPUTE): "push_prev"}
_POP = {(Stage.LOAD, Stage.COMPUTE): "pop_prev", (Stage.COMPUTE, Stage.LOAD): "pop_next",
        (Stage.COMPUTE, Stage.STORE): "pop_prev", (Stage.STORE, Stage.COMPUTE): "pop_next"}


def _noop(stage: Stage):
    if stage == Stage.LOAD:
        return Load(mem_type=MemType.INP, y_size=0, x_size=0, x_stride=0)
    if stage == Stage.STORE:
        return Store(y_size=0, x_size=0, x_stride=0)
    return Gemm(uop_begin=0, uop_end=0)


@dataclasses.dataclass(frozen=True)
class Kernel:
    """A micro-op kernel resident in the micro-op buffer at ``begin .. end-1``."""
    begin: int
    end: int


class Program:
    """An instruction stream for one device.

    Parameters
    ----------
    device : hwgen.runtime.device.Device
        Gives the config, the DRAM window (for checking) and the buffer for micro-op kernels.
    validate : bool
        Check each instruction as fetch will (window, ranges, flags) while building, so a bad
        program fails here with the instruction named rather than on the device.
    """

    def __init__(self, device, *, validate: bool = True):
        self.device = device
        self.config = device.config
        self.validate = validate
        self.insns: list = []
        self._pending: dict[Stage, set[str]] = {s: set() for s in Stage}
        self._uop_words: list[Uop] = []          # micro-ops to put in DRAM, in order
        self._uop_loads: list[int] = []          # indices of LOAD UOP instructions to relocate
        self._kernels: dict[tuple, Kernel] = {}  # resident kernels
        self._kernel_dram: dict[tuple, int] = {}  # kernel -> element offset in the uop blob
        self._uop_top = 0
        self._final: list | None = None
        self.uop_buffer = None

    # ------------------------------------------------------------------ emitting
    def emit(self, insn) -> int:
        """Append one instruction (pending pops of its stage attached); returns its index."""
        if self._final is not None:
            raise ProgramError("program already finalized")
        st = insn.stage
        pend = self._pending[st]
        if pend:
            insn = dataclasses.replace(insn, **{f: True for f in pend})
            pend.clear()
        if self.validate and not (insn.opcode == isa.Opcode.LOAD and insn.mem_type == MemType.UOP):
            code = check_insn(self.config, insn, self.device.base, self.device.limit)
            if code != isa.ErrorCode.OK:
                raise ProgramError(f"instruction {len(self.insns)} ({isa.describe(insn)}): "
                                   f"{isa.ERROR_TEXT[code]} ({code.name})")
        self.insns.append(insn)
        return len(self.insns) - 1

    def load(self, mem_type: int, sram_base: int, dram_base: int, y_size: int, x_size: int,
             x_stride: int | None = None, pad: Sequence[int] = (0, 0, 0, 0)) -> int:
        """LOAD ``y_size x x_size`` elements (``pad`` = top, bottom, left, right)."""
        return self.emit(Load(mem_type=mem_type, sram_base=sram_base, dram_base=dram_base,
                              y_size=y_size, x_size=x_size,
                              x_stride=x_size if x_stride is None else x_stride,
                              y_pad0=pad[0], y_pad1=pad[1], x_pad0=pad[2], x_pad1=pad[3]))

    def store(self, sram_base: int, dram_base: int, y_size: int, x_size: int,
              x_stride: int | None = None) -> int:
        return self.emit(Store(sram_base=sram_base, dram_base=dram_base, y_size=y_size,
                               x_size=x_size, x_stride=x_size if x_stride is None else x_stride))

    def gemm(self, kernel: Kernel, iter_out: int = 1, iter_in: int = 1, *, reset: bool = False,
             init: bool = False,
             dst: tuple[int, int] = (0, 0), src: tuple[int, int] = (0, 0),
             wgt: tuple[int, int] = (0, 0)) -> int:
        """GEMM over ``kernel`` with the (outer, inner) index factors of dst/src/wgt."""
        return self.emit(Gemm(reset=reset, init=init, uop_begin=kernel.begin, uop_end=kernel.end,
                              iter_out=iter_out, iter_in=iter_in,
                              dst_factor_out=dst[0], dst_factor_in=dst[1],
                              src_factor_out=src[0], src_factor_in=src[1],
                              wgt_factor_out=wgt[0], wgt_factor_in=wgt[1]))

    def alu(self, op: AluOp, kernel: Kernel, iter_out: int = 1, iter_in: int = 1, *,
            imm: int | None = None, dst: tuple[int, int] = (0, 0),
            src: tuple[int, int] = (0, 0), relu: bool = False) -> int:
        """ALU ``op`` over ``kernel``; ``imm`` given: immediate operand, else ``acc[src]``;
        ``relu``: write ``max(result, 0)``.

        With a tensor operand the hardware runs one micro-op per cycle when each micro-op's
        ``acc[dst]`` and ``acc[src]`` indices differ in parity (the accumulator's two banks) and
        two cycles when they are equal: lay two operand tensors out an odd number of entries
        apart (e.g. ``acc[i] += acc[n + 1 + i]``)."""
        return self.emit(Alu(alu_op=op, use_imm=imm is not None, imm=0 if imm is None else imm,
                             uop_begin=kernel.begin, uop_end=kernel.end, iter_out=iter_out,
                             iter_in=iter_in, dst_factor_out=dst[0], dst_factor_in=dst[1],
                             src_factor_out=src[0], src_factor_in=src[1], relu=relu))

    # ------------------------------------------------------------------ micro-op kernels
    def kernel(self, uops: Sequence[Uop | tuple[int, int, int]]) -> Kernel:
        """Make ``uops`` resident in the micro-op buffer (loading them only if not already)."""
        key = tuple(u if isinstance(u, Uop) else Uop(*u) for u in uops)
        if not key:
            raise ProgramError("a micro-op kernel needs at least one micro-op")
        if len(key) > self.config.uop_depth:
            raise ProgramError(f"kernel of {len(key)} micro-ops exceeds uop_depth {self.config.uop_depth}")
        if key in self._kernels:
            return self._kernels[key]
        if self._uop_top + len(key) > self.config.uop_depth:
            self._uop_top = 0
        k = Kernel(self._uop_top, self._uop_top + len(key))
        if key not in self._kernel_dram:
            self._kernel_dram[key] = len(self._uop_words)
            self._uop_words.extend(key)
        idx = self.emit(Load(mem_type=MemType.UOP, sram_base=k.begin, dram_base=self._kernel_dram[key],
                             y_size=1, x_size=len(key), x_stride=len(key)))
        self._uop_loads.append(idx)
        # evict kernels this one overlaps
        self._kernels = {kk: v for kk, v in self._kernels.items() if v.end <= k.begin or v.begin >= k.end}
        self._kernels[key] = k
        self._uop_top = k.end
        return k

    # ------------------------------------------------------------------ tokens
    def push(self, src: Stage, dst: Stage) -> None:
        """``src`` gives ``dst`` a token once everything ``src`` has been given so far is done."""
        flag = _PUSH.get((src, dst))
        if flag is None:
            raise ProgramError(f"no token queue from {src.name} to {dst.name} (neighbours only)")
        for i in range(len(self.insns) - 1, -1, -1):
            if self.insns[i].stage == src:
                if not getattr(self.insns[i], flag):
                    self.insns[i] = dataclasses.replace(self.insns[i], **{flag: True})
                    return
                break
        self.emit(dataclasses.replace(_noop(src), **{flag: True}))

    def pop(self, src: Stage, dst: Stage) -> None:
        """``dst`` waits for a token from ``src`` before its next instruction."""
        flag = _POP.get((src, dst))
        if flag is None:
            raise ProgramError(f"no token queue from {src.name} to {dst.name} (neighbours only)")
        if flag in self._pending[dst]:
            self.emit(_noop(dst))
        self._pending[dst].add(flag)

    def finish(self) -> int:
        """Append FINISH (pending pops of load/store get no-ops first)."""
        for st in (Stage.LOAD, Stage.STORE):
            if self._pending[st]:
                self.emit(_noop(st))
        return self.emit(Finish())

    # ------------------------------------------------------------------ linking
    def finalize(self) -> list:
        """The instruction list ready to run: FINISH appended if missing, micro-op kernels written
        to a DRAM buffer of the device and the LOAD UOP addresses relocated to it."""
        if self._final is not None:
            return self._final
        if not self.insns or self.insns[-1].opcode != isa.Opcode.FINISH:
            self.finish()
        insns = list(self.insns)
        if self._uop_words:
            buf = self.device.alloc(len(self._uop_words) * isa.UOP_BYTES)
            self.device.write(buf, isa.uops_to_bytes(self._uop_words))
            base = buf.elem(isa.UOP_BYTES)
            for i in self._uop_loads:
                insns[i] = dataclasses.replace(insns[i], dram_base=insns[i].dram_base + base)
            self.uop_buffer = buf
        self._final = insns
        return insns

    def release(self) -> None:
        """Free the micro-op DRAM buffer."""
        if self.uop_buffer is not None:
            self.device.free(self.uop_buffer)
            self.uop_buffer = None

    def listing(self) -> str:
        """One line per instruction."""
        insns = self._final or self.insns
        return "\n".join(f"{i:5d}  {isa.describe(x)}" for i, x in enumerate(insns))
