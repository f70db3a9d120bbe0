"""Instruction and micro-op field slices, generated from the ISA table in :mod:`hwgen.accel.isa`.

No bit position is written here: every slice comes from ``isa.FORMATS``.
"""
from __future__ import annotations

from amaranth import Value

from .. import isa


def fields(word: Value, fmt: str) -> dict[str, Value]:
    """``{field name: slice of word}`` for format ``fmt`` (``LOAD STORE GEMM ALU FINISH UOP``);
    signed fields (``imm``) come out signed."""
    out = {}
    for f in isa.FORMATS[fmt]:
        v = word[f.lsb:f.lsb + f.width]
        out[f.name] = v.as_signed() if f.signed else v
    return out


def field_width(fmt: str, name: str) -> int:
    return isa.field(fmt, name).width
