"""The accelerator's instruction set and register map: the one source of truth.

Everything else is built from the tables in this module: the Amaranth decoder (``hwgen.accel.rtl``),
the runtime's encoder and decoder (:func:`encode`, :func:`decode`), the functional simulator
(:mod:`hwgen.accel.model`), the C header (:func:`c_header`), the register-map JSON
(:func:`regmap_json`) and the Markdown reference (:func:`isa_markdown`). This module imports only
the standard library (no amaranth, no numpy), so it runs on a board's Python.

Machine model
=============
Four stages run concurrently: **fetch** reads ``INSN_COUNT`` 128-bit instructions from DRAM at
``DRAM_BASE + INSN_ADDR`` in order and dispatches each to one of three stage queues
(``insn_queue_depth`` entries each; fetch stalls while the target queue is full):

===========================  ==========
instruction                  stage
===========================  ==========
LOAD INP, LOAD WGT           load
LOAD UOP, LOAD ACC, GEMM,    compute
ALU, FINISH
STORE OUT                    store
===========================  ==========

Fetch stops after dispatching FINISH (later instructions are not read) or after ``INSN_COUNT``
instructions. An instruction leaves its stage queue when the stage *begins* it (before waiting on
its pops), so a stage holds at most ``insn_queue_depth`` queued instructions plus the one it works
on. Fetch checks instruction ``i`` as soon as it has dispatched ``i - 1`` (before waiting for room).
On-chip buffers are not cleared by START: their contents persist between runs (after power-up
they are zero in simulation, unspecified on a board).

**Static checks happen in fetch, in program order** (see :class:`ErrorCode`): an instruction that
fails one is not dispatched, ``ERR_INSN`` gets its index, fetch stops, the stages *drain* every
instruction dispatched before it (so the final DRAM state is exactly that of the program cut before
the faulting instruction), and then the run ends with the error code. Nothing of a faulting DMA is
ever issued, so a STORE outside the window writes nothing.

Dependency tokens
-----------------
Four token queues connect neighbouring stages; each holds a count in ``0..token_depth`` that starts
at 0 on START::

    load --l2c--> compute --c2s--> store
    load <--c2l-- compute <--s2c-- store

Each instruction has four flags. For the stage that executes it, *prev* is the stage on its left
and *next* the one on its right (load has no prev, store has no next: using those flags is
ILLEGAL_INSN). ``pop_prev``/``pop_next``: before the instruction starts, wait until the queue from
that neighbour is non-zero and decrement it (both flags: both queues). ``push_prev``/``push_next``:
after the instruction has completely finished (all its SRAM writes done, or for STORE all DRAM
writes acknowledged), wait until the queue to that neighbour is below ``token_depth`` and
increment it. A stage executes its own instructions strictly in order, one at a time.
Bits of a word outside its format's fields are ignored (encode them as 0).

End of a run
------------
The run ends when fetch has stopped and every stage is *quiescent*: idle with an empty queue, or
blocked forever on a token (no stage can make progress). Then ``DONE`` is set and ``ERR_CODE`` is:
the first error recorded (a fetch-time error stops fetch; a stage that raised a dynamic error,
INDEX_RANGE, stops where it is while fetch and the other stages go on until quiescent, so the
outcome does not depend on timing); else DEADLOCK if some stage or fetch is blocked (a token
underflow or overflow nobody resolves, or a full queue); else NO_FINISH if fetch ran out of
instructions without a FINISH; else OK.

Data semantics
==============
All values are two's-complement signed. DMA elements in DRAM are little-endian values packed in
row-major order: INP ``[batch][block_in]``, WGT ``[block_out][block_in]``, ACC and OUT
``[batch][block_out]``, UOP one 64-bit word (:data:`UOP_FIELDS`). DRAM addresses in instructions
are in *elements of the instruction's memory type*, relative to ``DRAM_BASE``: element ``e`` is at
byte ``DRAM_BASE + e * element_bytes``. SRAM addresses are buffer entries (one element each).

LOAD (2D strided, zero padding): with ``rows = y_pad0 + y_size + y_pad1`` and
``cols = x_pad0 + x_size + x_pad1``, for ``r < rows, c < cols``::

    buf[sram_base + r * cols + c] = dram[dram_base + (r - y_pad0) * x_stride + (c - x_pad0)]
                                    if the row and column fall inside the y_size x x_size
                                    part, else 0 (every value of the entry is zero)

``x_stride`` may be smaller than ``x_size`` (0 repeats one row, e.g. a bias). A transfer with
``y_size == 0`` or ``x_size == 0`` moves nothing and writes no padding (a token-only no-op).
UOP and ACC loads go through the compute stage; INP and WGT through the load stage. Padding is
legal for INP, WGT and ACC, not for UOP.

STORE (memory type OUT only, no padding, ``x_stride >= x_size`` when ``y_size > 1``)::

    dram[dram_base + y * x_stride + x] = saturate(acc[sram_base + y * x_size + x], output_width)

``saturate`` clamps each accumulator to ``-2**(output_width-1) .. 2**(output_width-1)-1``.

GEMM runs ``iter_out x iter_in`` times over the micro-ops ``uop_begin .. uop_end-1``
(loop order: ``i_out`` outer, ``i_in`` middle, micro-op inner) and for each computes::

    a = uop.acc_idx + i_out * dst_factor_out + i_in * dst_factor_in      (acc entry)
    i = uop.inp_idx + i_out * src_factor_out + i_in * src_factor_in      (inp entry)
    w = uop.wgt_idx + i_out * wgt_factor_out + i_in * wgt_factor_in      (wgt entry)
    p = sum_k inp[i][b][k] * wgt[w][o][k]
    acc[a][b][o] = 0                                          if reset
    acc[a][b][o] = wrap(p)                                    elif init and i_in == 0
    acc[a][b][o] = wrap(acc[a][b][o] + p)                     otherwise

with exact (unwrapped) index arithmetic; ``wrap`` is modulo ``2**acc_width``. Micro-ops have
sequential semantics: each sees the results of all earlier ones (the hardware forwards or stalls).
An index ``>=`` its buffer depth is INDEX_RANGE, detected when that micro-op would issue: the
earlier micro-ops have executed, it and the later ones do not. With ``reset`` only ``a`` is
computed and checked.

ALU has the same loops and index rules with ``d = a`` (dst, acc entry) and ``s`` computed from
``inp_idx`` and the ``src_factor_*`` fields, but ``s`` is an *acc* entry (not checked when
``use_imm``). Per lane, ``x = acc[d]`` and ``y = sext(imm)`` if ``use_imm`` else ``acc[s]``::

    MIN  min(x, y)            MAX  max(x, y)            ADD  wrap(x + y)
    MUL  wrap(x * sext16(y & 0xffff))        (a 32 x 16 multiplier)
    SHR  n = y & (acc_width - 1); x if n == 0 else (x + 2**(n-1)) >> n   (exact, then arithmetic
         shift: round half up; the sum never wraps)
    CLIP min(max(x, ~y), y)   (~y = -y-1, so CLIP 127 saturates to int8)
    MULSHR  m = sext16(y & 0xffff), n = (y >> 16) & 63 (y sign-extended: with ``use_imm`` or a
         16-bit accumulator n is 0 for y >= 0 and 63 for y < 0); p = x * m exact (48 bits);
         wrap(p if n == 0 else (p + 2**(n-1)) >> n)   (ISA 3: a requantization's MUL and
         round-half-up SHR in one micro-op; equals MUL then SHR whenever x * m fits acc_width)

With ``relu`` the result written is ``max(result, 0)`` (a requantization's ReLU clamp costs no
micro-op of its own).

Counters
========
:data:`COUNTERS` are read from the register map. The *operation* counters (``exact=True``) are
computed identically by the functional simulator and the hardware for race-free programs (every
cross-stage buffer reuse ordered by tokens) with at most one fault, whatever the run ends with.
The cycle counters exist only in hardware (the simulator reports an estimate). All counters are
32 bits and wrap.
"""
from __future__ import annotations

import dataclasses
import enum
import json
import zlib
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from ..errors import ProgramError

#: Version of the instruction set and register map; bump on any incompatible change.
ISA_VERSION = 3
INSN_BITS = 128
INSN_BYTES = INSN_BITS // 8
UOP_BITS = 64
UOP_BYTES = UOP_BITS // 8
#: ``ERR_INSN`` when no single instruction is at fault.
NO_INSN = 0xFFFF_FFFF
#: ``DRAM_BASE`` must be a multiple of this (so every element is aligned to its size).
DRAM_BASE_ALIGN = 4096


# ============================================================================ enumerations
class Opcode(enum.IntEnum):
    """Instruction opcodes (bits [2:0]); 5..7 are ILLEGAL_OPCODE."""
    LOAD = 0
    STORE = 1
    GEMM = 2
    ALU = 3
    FINISH = 4


class MemType(enum.IntEnum):
    """LOAD/STORE memory types (``mem_type`` field); 5..7 are ILLEGAL_INSN."""
    UOP = 0   #: LOAD only, compute stage, 8-byte micro-ops
    INP = 1   #: LOAD only, load stage
    WGT = 2   #: LOAD only, load stage
    ACC = 3   #: LOAD only, compute stage, acc_width values
    OUT = 4   #: STORE only: accumulator entries saturated to output_width


class AluOp(enum.IntEnum):
    """ALU operations (``alu_op`` field); 7 is ILLEGAL_INSN. Semantics in the module doc."""
    MIN = 0
    MAX = 1
    ADD = 2
    MUL = 3
    SHR = 4
    CLIP = 5
    MULSHR = 6  #: ISA 3


class Stage(enum.IntEnum):
    """Execution stages (also the bit order of the per-stage STATUS bits)."""
    LOAD = 0
    COMPUTE = 1
    STORE = 2


class TokenQueue(enum.IntEnum):
    """Dependency-token queues (also the byte order of the TOKENS register)."""
    L2C = 0  #: load -> compute
    C2L = 1  #: compute -> load
    C2S = 2  #: compute -> store
    S2C = 3  #: store -> compute


#: ``(stage, flag) -> queue`` for every legal flag; a flag missing here is ILLEGAL_INSN.
TOKEN_ROUTES: dict[tuple[Stage, str], TokenQueue] = {
    (Stage.LOAD, "push_next"): TokenQueue.L2C,
    (Stage.LOAD, "pop_next"): TokenQueue.C2L,
    (Stage.COMPUTE, "pop_prev"): TokenQueue.L2C,
    (Stage.COMPUTE, "push_prev"): TokenQueue.C2L,
    (Stage.COMPUTE, "push_next"): TokenQueue.C2S,
    (Stage.COMPUTE, "pop_next"): TokenQueue.S2C,
    (Stage.STORE, "pop_prev"): TokenQueue.C2S,
    (Stage.STORE, "push_prev"): TokenQueue.S2C,
}
FLAGS = ("pop_prev", "pop_next", "push_prev", "push_next")


class ErrorCode(enum.IntEnum):
    """Values of ``ERR_CODE``. *Where* says who detects it (fetch checks run in program order
    before dispatch; ``ERR_INSN`` is then the instruction's index)."""
    OK = 0
    #: fetch: opcode 5..7.
    ILLEGAL_OPCODE = 1
    #: fetch: a mem_type not allowed for the opcode (LOAD: UOP INP WGT ACC; STORE: OUT), padding on
    #: UOP or STORE, STORE with ``y_size > 1 and x_stride < x_size``, alu_op 7, a token flag
    #: naming a neighbour the executing stage does not have.
    ILLEGAL_INSN = 2
    #: fetch: a LOAD/STORE whose DRAM byte range (for non-empty transfers:
    #: ``[base + dram_base*eb, base + (dram_base + (y_size-1)*x_stride + x_size)*eb)``) is not inside
    #: ``[DRAM_BASE, DRAM_LIMIT)``; also at START when the instruction array is outside it
    #: (``ERR_INSN = NO_INSN``). Nothing of the transfer is issued.
    DMA_WINDOW = 3
    #: fetch: a non-empty LOAD/STORE whose SRAM range ``sram_base + rows*cols`` exceeds the
    #: buffer depth (STORE: the acc depth, rows*cols = y_size*x_size).
    SRAM_RANGE = 4
    #: fetch: GEMM/ALU with ``uop_begin > uop_end`` or ``uop_end > uop_depth``.
    UOP_RANGE = 5
    #: compute (dynamic): a GEMM/ALU index >= its buffer depth (see module doc). ``ERR_INSN`` is
    #: NO_INSN; the runtime names the instruction from the COMPUTE_INSNS counter.
    INDEX_RANGE = 6
    #: end of run: some stage is blocked forever on a token pop (underflow) or push (overflow).
    DEADLOCK = 7
    #: end of run: INSN_COUNT instructions were fetched and none was FINISH.
    NO_FINISH = 8
    #: START: INSN_COUNT == 0, INSN_ADDR not a multiple of 16, DRAM_BASE not a multiple of 4096,
    #: DRAM_LIMIT <= DRAM_BASE, or DRAM_LIMIT > 2**dram_addr_width (nothing runs).
    BAD_START = 9


ERROR_TEXT: dict[ErrorCode, str] = {
    ErrorCode.OK: "ok",
    ErrorCode.ILLEGAL_OPCODE: "illegal opcode",
    ErrorCode.ILLEGAL_INSN: "illegal instruction field",
    ErrorCode.DMA_WINDOW: "DMA outside the DRAM window",
    ErrorCode.SRAM_RANGE: "DMA outside the on-chip buffer",
    ErrorCode.UOP_RANGE: "micro-op range outside the micro-op buffer",
    ErrorCode.INDEX_RANGE: "micro-op index outside its buffer",
    ErrorCode.DEADLOCK: "deadlock: a stage waits for a dependency token that never comes",
    ErrorCode.NO_FINISH: "program ended without FINISH",
    ErrorCode.BAD_START: "bad start registers",
}


def stage_of(opcode: int, mem_type: int | None = None) -> Stage:
    """The stage that executes an instruction (see module doc); only for legal opcode/mem_type."""
    if opcode == Opcode.LOAD:
        return Stage.LOAD if mem_type in (MemType.INP, MemType.WGT) else Stage.COMPUTE
    if opcode == Opcode.STORE:
        return Stage.STORE
    return Stage.COMPUTE


# ============================================================================ field tables
@dataclass(frozen=True)
class Field:
    """One bit field: bits ``[lsb + width - 1 : lsb]`` of the word.

    Attributes
    ----------
    name : str
    lsb, width : int
    signed : bool
        Two's complement (only ``imm``).
    doc : str
        Semantics and units.
    """
    name: str
    lsb: int
    width: int
    signed: bool = False
    doc: str = ""

    @property
    def msb(self) -> int:
        return self.lsb + self.width - 1

    @property
    def mask(self) -> int:
        return (1 << self.width) - 1

    @property
    def lo(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def hi(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else self.mask

    def get(self, word: int) -> int:
        v = (word >> self.lsb) & self.mask
        if self.signed and v >> (self.width - 1):
            v -= 1 << self.width
        return v

    def put(self, value: int) -> int:
        return (value & self.mask) << self.lsb


def _layout(start: int, specs: Sequence[tuple]) -> tuple[Field, ...]:
    out, pos = [], start
    for spec in specs:
        name, width, doc = spec[0], spec[1], spec[2]
        signed = spec[3] if len(spec) > 3 else False
        out.append(Field(name, pos, width, signed, doc))
        pos += width
    return tuple(out)


COMMON_FIELDS = _layout(0, [
    ("opcode", 3, "Opcode: 0 LOAD, 1 STORE, 2 GEMM, 3 ALU, 4 FINISH"),
    ("pop_prev", 1, "wait for and take a token from the previous stage before starting"),
    ("pop_next", 1, "wait for and take a token from the next stage before starting"),
    ("push_prev", 1, "give a token to the previous stage after finishing"),
    ("push_next", 1, "give a token to the next stage after finishing"),
])
_C = len(COMMON_FIELDS) and COMMON_FIELDS[-1].msb + 1  # first bit after the common header (7)

MEM_FIELDS = COMMON_FIELDS + _layout(_C, [
    ("mem_type", 3, "MemType: 0 UOP, 1 INP, 2 WGT, 3 ACC (LOAD); 4 OUT (STORE)"),
    ("sram_base", 16, "first buffer entry (entries; STORE: acc entries)"),
    ("dram_base", 32, "first DRAM element, in elements of mem_type, relative to DRAM_BASE"),
    ("y_size", 16, "rows to transfer (0: nothing moves)"),
    ("x_size", 16, "elements per row (0: nothing moves)"),
    ("x_stride", 16, "DRAM distance between row starts, in elements"),
    ("y_pad0", 4, "LOAD: zero rows above (top)"),
    ("y_pad1", 4, "LOAD: zero rows below (bottom)"),
    ("x_pad0", 4, "LOAD: zero elements before each row (left)"),
    ("x_pad1", 4, "LOAD: zero elements after each row (right)"),
])

_LOOP = [
    ("uop_begin", 13, "first micro-op (index into the micro-op buffer)"),
    ("uop_end", 14, "one past the last micro-op (uop_begin == uop_end: no micro-ops)"),
    ("iter_out", 14, "outer loop count (0: nothing runs)"),
    ("iter_in", 14, "inner loop count (0: nothing runs)"),
    ("dst_factor_out", 11, "acc index added per outer iteration"),
    ("dst_factor_in", 11, "acc index added per inner iteration"),
    ("src_factor_out", 11, "GEMM: inp index, ALU: source acc index, added per outer iteration"),
    ("src_factor_in", 11, "GEMM: inp index, ALU: source acc index, added per inner iteration"),
]
GEMM_FIELDS = COMMON_FIELDS + _layout(_C, [
    ("reset", 1, "write zeros to the addressed acc entries instead of accumulating"),
    *_LOOP,
    ("wgt_factor_out", 10, "wgt index added per outer iteration"),
    ("wgt_factor_in", 10, "wgt index added per inner iteration"),
    ("init", 1, "micro-ops of the first inner iteration (i_in == 0) write the product instead of "
                "adding it (no reset GEMM needed before a reduction); ignored with reset"),
])
ALU_FIELDS = COMMON_FIELDS + _layout(_C, [
    ("use_imm", 1, "second operand is imm (sign-extended) instead of acc[src]"),
    *_LOOP,
    ("alu_op", 3, "AluOp: 0 MIN, 1 MAX, 2 ADD, 3 MUL, 4 SHR, 5 CLIP, 6 MULSHR (ISA 3)"),
    ("imm", 16, "immediate operand, signed", True),
    ("relu", 1, "write max(result, 0): a ReLU fused into the operation (ISA 2)"),
])
FINISH_FIELDS = COMMON_FIELDS

UOP_FIELDS = _layout(0, [
    ("acc_idx", 16, "accumulator entry (GEMM and ALU destination)"),
    ("inp_idx", 16, "GEMM: input entry; ALU: source accumulator entry"),
    ("wgt_idx", 16, "GEMM: weight entry; ALU: unused"),
])

FORMATS: dict[str, tuple[Field, ...]] = {
    "LOAD": MEM_FIELDS, "STORE": MEM_FIELDS, "GEMM": GEMM_FIELDS, "ALU": ALU_FIELDS,
    "FINISH": FINISH_FIELDS, "UOP": UOP_FIELDS,
}


def _check_tables() -> None:
    for name, fields in FORMATS.items():
        limit = UOP_BITS if name == "UOP" else INSN_BITS
        used = 0
        for f in fields:
            m = f.mask << f.lsb
            if used & m or f.msb >= limit:
                raise RuntimeError(f"ISA table {name}: field {f.name} overlaps or overflows")
            used |= m


_check_tables()


def field(fmt: str, name: str) -> Field:
    """The :class:`Field` ``name`` of format ``fmt`` (``LOAD STORE GEMM ALU FINISH UOP``)."""
    for f in FORMATS[fmt]:
        if f.name == name:
            return f
    raise KeyError(f"{fmt} has no field {name!r}")


# ============================================================================ instructions
@dataclass(frozen=True, kw_only=True)
class _Insn:
    pop_prev: bool = False
    pop_next: bool = False
    push_prev: bool = False
    push_next: bool = False

    def with_flags(self, **flags: bool) -> "_Insn":
        return dataclasses.replace(self, **flags)

    @property
    def stage(self) -> Stage:
        return stage_of(self.opcode, getattr(self, "mem_type", None))


@dataclass(frozen=True, kw_only=True)
class _Dma(_Insn):
    """The fields LOAD and STORE share (one DMA format, see module doc)."""
    mem_type: int = MemType.INP
    sram_base: int = 0
    dram_base: int = 0
    y_size: int = 1
    x_size: int = 1
    x_stride: int = 1
    y_pad0: int = 0
    y_pad1: int = 0
    x_pad0: int = 0
    x_pad1: int = 0


@dataclass(frozen=True, kw_only=True)
class Load(_Dma):
    """2D strided DMA from DRAM into a buffer, with zero padding (see module doc)."""
    opcode = Opcode.LOAD


@dataclass(frozen=True, kw_only=True)
class Store(_Dma):
    """2D strided DMA of saturated accumulator entries to DRAM (see module doc)."""
    opcode = Opcode.STORE
    mem_type: int = MemType.OUT


@dataclass(frozen=True, kw_only=True)
class Gemm(_Insn):
    """Matrix-vector products over a micro-op range in two nested loops (see module doc)."""
    opcode = Opcode.GEMM
    reset: bool = False
    init: bool = False
    uop_begin: int = 0
    uop_end: int = 0
    iter_out: int = 1
    iter_in: int = 1
    dst_factor_out: int = 0
    dst_factor_in: int = 0
    src_factor_out: int = 0
    src_factor_in: int = 0
    wgt_factor_out: int = 0
    wgt_factor_in: int = 0


@dataclass(frozen=True, kw_only=True)
class Alu(_Insn):
    """Element-wise accumulator operation over a micro-op range (see module doc)."""
    opcode = Opcode.ALU
    alu_op: int = AluOp.ADD
    use_imm: bool = False
    imm: int = 0
    uop_begin: int = 0
    uop_end: int = 0
    iter_out: int = 1
    iter_in: int = 1
    dst_factor_out: int = 0
    dst_factor_in: int = 0
    src_factor_out: int = 0
    src_factor_in: int = 0
    relu: bool = False


@dataclass(frozen=True, kw_only=True)
class Finish(_Insn):
    """End of program: fetch stops after it; the run ends when every stage has drained."""
    opcode = Opcode.FINISH


@dataclass(frozen=True)
class RawInsn:
    """An undecodable word (illegal opcode), kept as is."""
    word: int
    opcode = None

    @property
    def stage(self):
        return None


Insn = Load | Store | Gemm | Alu | Finish | RawInsn
_CLASSES = {Opcode.LOAD: (Load, MEM_FIELDS), Opcode.STORE: (Store, MEM_FIELDS),
            Opcode.GEMM: (Gemm, GEMM_FIELDS), Opcode.ALU: (Alu, ALU_FIELDS),
            Opcode.FINISH: (Finish, FINISH_FIELDS)}


def encode(insn: Insn) -> int:
    """128-bit instruction word of ``insn``; a value that does not fit its field is a ProgramError.

    Encoding checks only field widths; the semantic checks (:class:`ErrorCode`) are the device's.
    """
    if isinstance(insn, RawInsn):
        if not 0 <= insn.word < (1 << INSN_BITS):
            raise ProgramError(f"raw instruction word must fit in 128 bits, not {insn.word:#x}")
        return insn.word
    cls_fields = _CLASSES.get(getattr(insn, "opcode", None))
    if cls_fields is None:
        raise TypeError(f"cannot encode {type(insn).__name__}")
    word = 0
    for f in cls_fields[1]:
        v = int(insn.opcode) if f.name == "opcode" else int(getattr(insn, f.name))
        if not f.lo <= v <= f.hi:
            raise ProgramError(f"{insn.opcode.name}.{f.name} must be in {f.lo}..{f.hi} "
                               f"({f.width} bits), not {v}")
        word |= f.put(v)
    return word


def decode(word: int) -> Insn:
    """The instruction a 128-bit word encodes (:class:`RawInsn` for opcodes 5..7)."""
    op = word & 0x7
    if op not in _CLASSES:
        return RawInsn(word)
    cls, fields = _CLASSES[Opcode(op)]
    kw = {}
    for f in fields:
        if f.name == "opcode":
            continue
        v = f.get(word)
        kw[f.name] = bool(v) if f.width == 1 and f.name in _BOOL_FIELDS else v
    return cls(**kw)


_BOOL_FIELDS = set(FLAGS) | {"reset", "init", "use_imm", "relu"}


def to_bytes(insns: Iterable[Insn]) -> bytes:
    """Little-endian 16-byte words, as fetch reads them from DRAM."""
    return b"".join(encode(i).to_bytes(INSN_BYTES, "little") for i in insns)


def from_bytes(data: bytes) -> list[Insn]:
    if len(data) % INSN_BYTES:
        raise ProgramError(f"instruction bytes must be a multiple of {INSN_BYTES}, not {len(data)}")
    return [decode(int.from_bytes(data[i:i + INSN_BYTES], "little"))
            for i in range(0, len(data), INSN_BYTES)]


@dataclass(frozen=True)
class Uop:
    """One micro-op (64 bits, :data:`UOP_FIELDS`)."""
    acc_idx: int = 0
    inp_idx: int = 0
    wgt_idx: int = 0


def encode_uop(uop: Uop) -> int:
    word = 0
    for f in UOP_FIELDS:
        v = int(getattr(uop, f.name))
        if not f.lo <= v <= f.hi:
            raise ProgramError(f"UOP.{f.name} must be in {f.lo}..{f.hi}, not {v}")
        word |= f.put(v)
    return word


def decode_uop(word: int) -> Uop:
    return Uop(*(f.get(word) for f in UOP_FIELDS))


def uops_to_bytes(uops: Iterable[Uop]) -> bytes:
    return b"".join(encode_uop(u).to_bytes(UOP_BYTES, "little") for u in uops)


def describe(insn: Insn) -> str:
    """One-line human-readable form, e.g. ``LOAD INP sram=0 dram=64 2x16/16 pad=0,0,1,1 +next``."""
    if isinstance(insn, RawInsn):
        return f"ILLEGAL opcode {insn.word & 7} ({insn.word:#034x})"
    flags = " ".join(("-" if f.startswith("pop") else "+") + f.split("_")[1]
                     for f in FLAGS if getattr(insn, f))
    op = insn.opcode.name
    if isinstance(insn, (Load, Store)):
        mt = MemType(insn.mem_type).name if insn.mem_type in MemType._value2member_map_ else str(insn.mem_type)
        s = (f"{op} {mt} sram={insn.sram_base} dram={insn.dram_base} "
             f"{insn.y_size}x{insn.x_size}/{insn.x_stride}")
        if any((insn.y_pad0, insn.y_pad1, insn.x_pad0, insn.x_pad1)):
            s += f" pad={insn.y_pad0},{insn.y_pad1},{insn.x_pad0},{insn.x_pad1}"
    elif isinstance(insn, (Gemm, Alu)):
        head = op
        if isinstance(insn, Gemm) and insn.reset:
            head += " RESET"
        elif isinstance(insn, Gemm) and insn.init:
            head += " INIT"
        if isinstance(insn, Alu):
            name = AluOp(insn.alu_op).name if insn.alu_op in AluOp._value2member_map_ else str(insn.alu_op)
            head += f" {name}" + (f" imm={insn.imm}" if insn.use_imm else "")
        s = (f"{head} uop={insn.uop_begin}..{insn.uop_end} loops={insn.iter_out}x{insn.iter_in} "
             f"dst=({insn.dst_factor_out},{insn.dst_factor_in}) src=({insn.src_factor_out},{insn.src_factor_in})")
        if isinstance(insn, Gemm):
            s += f" wgt=({insn.wgt_factor_out},{insn.wgt_factor_in})"
    else:
        s = op
    return f"{s} {flags}".rstrip()


# ============================================================================ register map
@dataclass(frozen=True)
class Register:
    """One 32-bit AXI4-Lite register at byte ``offset``; ``access`` is ``R``, ``W`` or ``RW``."""
    name: str
    offset: int
    access: str
    doc: str
    bits: tuple[Field, ...] = ()


STATUS_BITS = (
    Field("busy", 0, 1, doc="a run is in progress"),
    Field("done", 1, 1, doc="the last run ended (cleared by START)"),
    Field("error", 2, 1, doc="the last run ended with ERR_CODE != 0"),
    Field("fetch_blocked", 4, 1, doc="fetch waits for room in a full stage queue"),
    Field("load_wait", 8, 1, doc="load stage blocked on a token pop or push"),
    Field("compute_wait", 9, 1, doc="compute stage blocked on a token pop or push"),
    Field("store_wait", 10, 1, doc="store stage blocked on a token pop or push"),
    Field("load_active", 12, 1, doc="load stage holds an instruction (queued or executing)"),
    Field("compute_active", 13, 1, doc="compute stage holds an instruction"),
    Field("store_active", 14, 1, doc="store stage holds an instruction"),
)

#: Counters: (name, exact, doc). ``exact`` ones are identical in the functional simulator.
COUNTERS: tuple[tuple[str, bool, str], ...] = (
    ("cycles", False, "clock cycles from START to DONE"),
    ("fetch_stall", False, "cycles fetch waited for room in a stage queue"),
    ("load_busy", False, "cycles the load stage executed an instruction (after its pops)"),
    ("load_stall", False, "cycles the load stage waited on a token pop or push"),
    ("compute_busy", False, "cycles the compute stage executed an instruction"),
    ("compute_stall", False, "cycles the compute stage waited on a token pop or push"),
    ("store_busy", False, "cycles the store stage executed an instruction"),
    ("store_stall", False, "cycles the store stage waited on a token pop or push"),
    ("insns_fetched", True, "instructions dispatched by fetch (FINISH included, a faulting one not)"),
    ("load_insns", True, "instructions retired by the load stage"),
    ("compute_insns", True, "instructions retired by the compute stage (LOAD UOP/ACC, GEMM, ALU, FINISH)"),
    ("store_insns", True, "instructions retired by the store stage"),
    ("gemm_uops", True, "GEMM micro-ops executed (reset ones included)"),
    ("alu_uops", True, "ALU micro-ops executed"),
    ("dram_read_bytes", True, "element bytes read by LOADs (instruction fetch and padding excluded)"),
    ("dram_write_bytes", True, "element bytes written by STOREs"),
)
COUNTER_BASE = 0x40
EXACT_COUNTERS = tuple(n for n, exact, _ in COUNTERS if exact)

REGISTERS: tuple[Register, ...] = (
    Register("CTRL", 0x00, "W", "bit 0 START: write 1 to start a run (ignored while busy); "
             "clears DONE, ERR_CODE, ERR_INSN, the counters and the token queues",
             (Field("start", 0, 1, doc="start a run"),)),
    Register("STATUS", 0x04, "R", "run state and per-stage state (live while busy, frozen at DONE)",
             STATUS_BITS),
    Register("ERR_CODE", 0x08, "R", "ErrorCode of the last run (0 OK)"),
    Register("ERR_INSN", 0x0C, "R", "index of the instruction a fetch-time error refers to, "
             "0xFFFFFFFF if none"),
    Register("INSN_ADDR", 0x10, "RW", "byte offset of the first instruction from DRAM_BASE "
             "(multiple of 16)"),
    Register("INSN_COUNT", 0x14, "RW", "number of instructions (>= 1)"),
    Register("DRAM_BASE", 0x18, "RW", "physical byte address of the DRAM window (multiple of 4096); "
             "all instruction DRAM addresses are relative to it"),
    Register("DRAM_LIMIT", 0x1C, "RW", "physical byte address one past the DRAM window"),
    Register("HW_ID", 0x20, "R", "0x4857 << 16 | ISA_VERSION ('HW' + version)"),
    Register("CFG_ID", 0x24, "R", "CRC-32 of the configuration slug (checks the bitstream matches)"),
    Register("TOKENS", 0x28, "R", "token counts (saturated to 255): bits 7:0 l2c, 15:8 c2l, "
             "23:16 c2s, 31:24 s2c"),
) + tuple(Register(name.upper(), COUNTER_BASE + 4 * i, "R", doc)
          for i, (name, _exact, doc) in enumerate(COUNTERS))
REG = {r.name: r.offset for r in REGISTERS}
REGMAP_BYTES = 0x100
HW_ID = (0x4857 << 16) | ISA_VERSION


def cfg_id(config) -> int:
    """The CFG_ID register value of a configuration."""
    return zlib.crc32(config.slug.encode())


# ============================================================================ generators
def _config_constants(config) -> list[tuple[str, int, str]]:
    c = config
    return [
        ("BATCH", c.batch, "rows per GEMM block"),
        ("BLOCK_IN", c.block_in, "inputs per row"),
        ("BLOCK_OUT", c.block_out, "outputs per row"),
        ("INPUT_WIDTH", c.input_width, "bits"), ("WEIGHT_WIDTH", c.weight_width, "bits"),
        ("ACC_WIDTH", c.acc_width, "bits"), ("OUTPUT_WIDTH", c.output_width, "bits"),
        ("INP_DEPTH", c.inp_depth, "entries"), ("WGT_DEPTH", c.wgt_depth, "entries"),
        ("ACC_DEPTH", c.acc_depth, "entries"), ("UOP_DEPTH", c.uop_depth, "micro-ops"),
        ("INSN_QUEUE_DEPTH", c.insn_queue_depth, "entries"), ("TOKEN_DEPTH", c.token_depth, "tokens"),
        ("AXI_DATA_WIDTH", c.axi_data_width, "bits"), ("DRAM_ADDR_WIDTH", c.dram_addr_width, "bits"),
        ("UOP_ELEM_BYTES", UOP_BYTES, "bytes"), ("INP_ELEM_BYTES", c.inp_elem_bytes, "bytes"),
        ("WGT_ELEM_BYTES", c.wgt_elem_bytes, "bytes"), ("ACC_ELEM_BYTES", c.acc_elem_bytes, "bytes"),
        ("OUT_ELEM_BYTES", c.out_elem_bytes, "bytes"),
        ("CFG_ID", cfg_id(c), "CRC-32 of the slug"),
    ]


def c_header(config=None) -> str:
    """C header with the field positions, enums, register offsets and (given a config) its sizes."""
    P = "HWGEN_ACCEL"
    lines = ["/* generated by hwgen, do not edit */",
             f"/* hwgen accelerator ISA version {ISA_VERSION}"
             + (f", config {config.slug}" if config is not None else "") + " */",
             f"#ifndef {P}_H", f"#define {P}_H", "", "#include <stdint.h>", "",
             f"#define {P}_ISA_VERSION {ISA_VERSION}u", f"#define {P}_INSN_BYTES {INSN_BYTES}u",
             f"#define {P}_UOP_BYTES {UOP_BYTES}u", f"#define {P}_NO_INSN 0x{NO_INSN:08X}u",
             f"#define {P}_DRAM_BASE_ALIGN {DRAM_BASE_ALIGN}u", f"#define {P}_HW_ID 0x{HW_ID:08X}u", ""]
    if config is not None:
        lines.append(f"/* configuration {config.slug} */")
        for name, v, unit in _config_constants(config):
            lines.append(f"#define {P}_{name} {v}u /* {unit} */")
        lines.append("")
    for enum_cls in (Opcode, MemType, AluOp, Stage, TokenQueue, ErrorCode):
        lines.append(f"/* {enum_cls.__name__} */")
        for m in enum_cls:
            lines.append(f"#define {P}_{enum_cls.__name__.upper()}_{m.name} {int(m)}u")
        lines.append("")
    lines.append("/* instruction fields: word bits [LSB + WIDTH - 1 : LSB] of the 128-bit little-endian word */")
    for fmt, fields in FORMATS.items():
        for f in fields:
            if fmt != "LOAD" and fmt != "UOP" and f in COMMON_FIELDS:
                continue
            if fmt == "STORE":
                continue
            key = "INSN" if f in COMMON_FIELDS else ("MEM" if fmt == "LOAD" else fmt)
            lines.append(f"#define {P}_{key}_{f.name.upper()}_LSB {f.lsb}u")
            lines.append(f"#define {P}_{key}_{f.name.upper()}_WIDTH {f.width}u"
                         + (" /* signed */" if f.signed else ""))
    lines.append("")
    lines.append("/* AXI4-Lite registers (byte offsets) */")
    for r in REGISTERS:
        lines.append(f"#define {P}_REG_{r.name} 0x{r.offset:02X}u")
        for b in r.bits:
            if r.name == "STATUS":
                lines.append(f"#define {P}_STATUS_{b.name.upper()} (1u << {b.lsb})")
    lines += ["", f"#endif /* {P}_H */", ""]
    return "\n".join(lines)


def regmap_json(config=None) -> str:
    """Register map and instruction formats as JSON (deterministic)."""
    data: dict[str, Any] = {
        "generator": "hwgen", "isa_version": ISA_VERSION, "hw_id": HW_ID,
        "config": config.slug if config is not None else None,
        "cfg_id": cfg_id(config) if config is not None else None,
        "registers": [{"name": r.name, "offset": r.offset, "access": r.access, "doc": r.doc,
                       "exact": (dict((n.upper(), e) for n, e, _ in COUNTERS).get(r.name)),
                       "bits": [{"name": b.name, "lsb": b.lsb, "width": b.width, "doc": b.doc}
                                for b in r.bits]} for r in REGISTERS],
        "formats": {fmt: [{"name": f.name, "lsb": f.lsb, "width": f.width, "signed": f.signed,
                           "doc": f.doc} for f in fields] for fmt, fields in FORMATS.items()},
        "enums": {e.__name__: {m.name: int(m) for m in e}
                  for e in (Opcode, MemType, AluOp, Stage, TokenQueue, ErrorCode)},
    }
    if config is not None:
        data["constants"] = {n: v for n, v, _ in _config_constants(config)}
    for r in data["registers"]:
        if r["exact"] is None:
            del r["exact"]
    return json.dumps(data, indent=2) + "\n"


def isa_markdown(config=None) -> str:
    """The Markdown ISA reference (module semantics, field tables, register map)."""
    out = ["<!-- generated by hwgen, do not edit -->",
           f"# hwgen accelerator ISA, version {ISA_VERSION}"
           + (f" (config `{config.slug}`)" if config is not None else ""), ""]
    if config is not None:
        out += ["## Configuration", "", "| constant | value | unit |", "|---|---:|---|"]
        out += [f"| {n} | {v} | {u} |" for n, v, u in _config_constants(config)]
        out.append("")
    out += ["## Semantics", "", "```text", __doc__.strip(), "```", ""]
    for fmt, fields in FORMATS.items():
        bits = UOP_BITS if fmt == "UOP" else INSN_BITS
        out += [f"## {fmt} ({bits} bits)", "", "| bits | field | semantics |", "|---|---|---|"]
        for f in fields:
            rng = f"{f.msb}:{f.lsb}" if f.width > 1 else f"{f.lsb}"
            out.append(f"| {rng} | `{f.name}`{' (signed)' if f.signed else ''} | {f.doc} |")
        out.append("")
    for enum_cls in (Opcode, MemType, AluOp, ErrorCode):
        out += [f"## {enum_cls.__name__}", "", "| value | name | meaning |", "|---:|---|---|"]
        for m in enum_cls:
            doc = ERROR_TEXT.get(m, "") if enum_cls is ErrorCode else ""
            out.append(f"| {int(m)} | {m.name} | {doc} |")
        out.append("")
    out += ["## Registers (AXI4-Lite, 32-bit)", "", "| offset | name | access | meaning |",
            "|---:|---|---|---|"]
    for r in REGISTERS:
        out.append(f"| 0x{r.offset:02X} | {r.name} | {r.access} | {r.doc} |")
    out += ["", "STATUS bits: " + ", ".join(f"{b.lsb} `{b.name}`" for b in STATUS_BITS), ""]
    return "\n".join(out)
