"""What can be chosen about the GEMM accelerator: :class:`AccelConfig`.

The accelerator computes ``acc[batch][block_out] += inp[batch][block_in] @ wgt[block_out][block_in].T``
once per GEMM micro-op. Its four on-chip buffers hold *entries* (one DMA element each):

========  ======================================  ===========================================
buffer    one entry                               bytes per entry
========  ======================================  ===========================================
uop       one 64-bit micro-op                     8
inp       ``batch x block_in`` inputs             ``batch * block_in * input_width / 8``
wgt       ``block_out x block_in`` weights        ``block_out * block_in * weight_width / 8``
acc       ``batch x block_out`` accumulators      ``batch * block_out * acc_width / 8``
(out)     ``batch x block_out`` narrowed outputs  ``batch * block_out * output_width / 8``
========  ======================================  ===========================================

There is no separate output buffer: STORE narrows accumulator entries on the way to DRAM (see
:mod:`hwgen.accel.isa`). This module imports nothing but the standard library and hwgen's config
helpers, so a board's Python can use it.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..configbase import check_choice, check_int
from ..errors import ConfigError

_OWNER = "AccelConfig"

#: Bytes of one micro-op in DRAM and in the micro-op buffer (fixed by the ISA).
UOP_BYTES = 8

#: Largest buffer depth the 16-bit SRAM-index fields of the ISA can address.
MAX_DEPTH = 1 << 16
#: Largest micro-op buffer the 13-bit ``uop_begin`` / 14-bit ``uop_end`` fields can address.
MAX_UOP_DEPTH = 1 << 13


def _log2(x: int) -> int:
    return x.bit_length() - 1


@dataclass(frozen=True, kw_only=True)
class AccelConfig:
    """Parameters of one accelerator build.

    Parameters
    ----------
    batch, block_in, block_out : int
        GEMM block shape (powers of two): ``batch`` rows of ``block_in`` inputs times a
        ``block_out x block_in`` weight block, ``batch * block_in * block_out`` MACs per cycle.
    input_width, weight_width, output_width : int
        Signed element widths in bits (8 or 16).
    acc_width : int
        Signed accumulator width in bits (16 or 32); GEMM and ALU results wrap modulo 2**acc_width.
    inp_depth, wgt_depth, acc_depth : int
        Buffer depths in entries (powers of two, 16..65536).
    uop_depth : int
        Micro-op buffer depth in micro-ops (power of two, 16..8192).
    insn_queue_depth : int
        Depth of each stage's instruction queue (power of two, 2..1024). Fetch stalls when the
        queue an instruction goes to is full; this is part of the functional semantics (a program
        whose token waits need a deeper queue deadlocks), so the functional simulator models it.
    token_depth : int
        Capacity of each of the four dependency-token queues (1..1024); a push into a full queue
        stalls the pushing stage.
    axi_data_width : int
        AXI4 master data width in bits (32 or 64). Every DMA element must be a whole number of
        beats, so that every element is beat-aligned in DRAM.
    dram_addr_width : int
        AXI4 master address width in bits (16..32).
    """

    batch: int = 1
    block_in: int = 16
    block_out: int = 16
    input_width: int = 8
    weight_width: int = 8
    acc_width: int = 32
    output_width: int = 8
    inp_depth: int = 1024
    wgt_depth: int = 256
    acc_depth: int = 1024
    uop_depth: int = 2048
    insn_queue_depth: int = 32
    token_depth: int = 32
    axi_data_width: int = 64
    dram_addr_width: int = 32

    def __post_init__(self) -> None:
        check_int(_OWNER, "batch", self.batch, 1, 16, pow2=True)
        check_int(_OWNER, "block_in", self.block_in, 2, 64, pow2=True)
        check_int(_OWNER, "block_out", self.block_out, 2, 64, pow2=True)
        check_choice(_OWNER, "input_width", self.input_width, (8, 16))
        check_choice(_OWNER, "weight_width", self.weight_width, (8, 16))
        check_choice(_OWNER, "output_width", self.output_width, (8, 16))
        check_choice(_OWNER, "acc_width", self.acc_width, (16, 32))
        for name in ("inp_depth", "wgt_depth", "acc_depth"):
            check_int(_OWNER, name, getattr(self, name), 16, MAX_DEPTH, pow2=True)
        check_int(_OWNER, "uop_depth", self.uop_depth, 16, MAX_UOP_DEPTH, pow2=True)
        check_int(_OWNER, "insn_queue_depth", self.insn_queue_depth, 2, 1024, pow2=True)
        check_int(_OWNER, "token_depth", self.token_depth, 1, 1024)
        check_choice(_OWNER, "axi_data_width", self.axi_data_width, (32, 64))
        check_int(_OWNER, "dram_addr_width", self.dram_addr_width, 16, 32)
        if self.acc_width < self.input_width + self.weight_width:
            raise ConfigError(f"{_OWNER}.acc_width must be at least input_width + weight_width = "
                              f"{self.input_width + self.weight_width}, not {self.acc_width}")
        beat = self.axi_bytes
        for name, size in self.element_bytes.items():
            if size % beat:
                raise ConfigError(f"{_OWNER}.axi_data_width must divide every DMA element: one {name} "
                                  f"element is {size} bytes, not a multiple of {beat}-byte beats "
                                  f"(axi_data_width {self.axi_data_width})")

    # ----------------------------------------------------------------- derived values
    @property
    def axi_bytes(self) -> int:
        """Bytes per AXI data beat."""
        return self.axi_data_width // 8

    @property
    def macs_per_cycle(self) -> int:
        """Peak multiply-accumulates per cycle (one GEMM micro-op)."""
        return self.batch * self.block_in * self.block_out

    @property
    def inp_elem_bytes(self) -> int:
        return self.batch * self.block_in * self.input_width // 8

    @property
    def wgt_elem_bytes(self) -> int:
        return self.block_out * self.block_in * self.weight_width // 8

    @property
    def acc_elem_bytes(self) -> int:
        return self.batch * self.block_out * self.acc_width // 8

    @property
    def out_elem_bytes(self) -> int:
        return self.batch * self.block_out * self.output_width // 8

    @property
    def uop_elem_bytes(self) -> int:
        return UOP_BYTES

    @property
    def element_bytes(self) -> dict[str, int]:
        """Bytes of one DMA element per memory type name (``uop inp wgt acc out``)."""
        return {"uop": UOP_BYTES, "inp": self.inp_elem_bytes, "wgt": self.wgt_elem_bytes,
                "acc": self.acc_elem_bytes, "out": self.out_elem_bytes}

    @property
    def buffer_bytes(self) -> dict[str, int]:
        """On-chip bytes per buffer (``uop inp wgt acc``)."""
        return {"uop": self.uop_depth * UOP_BYTES, "inp": self.inp_depth * self.inp_elem_bytes,
                "wgt": self.wgt_depth * self.wgt_elem_bytes, "acc": self.acc_depth * self.acc_elem_bytes}

    @property
    def depths(self) -> dict[str, int]:
        """Entries per buffer (``uop inp wgt acc``)."""
        return {"uop": self.uop_depth, "inp": self.inp_depth, "wgt": self.wgt_depth, "acc": self.acc_depth}

    @property
    def slug(self) -> str:
        """``<batch>x<block_in>x<block_out>_i<w>w<w>a<w>o<w>_<log2 bytes of inp>_<wgt>_<acc>_<uop>_d<axi>``
        plus ``_q<insn queue>t<token depth>`` and ``_r<addr width>`` when not the defaults, e.g.
        ``1x16x16_i8w8a32o8_15_18_17_15_d64``."""
        b = self.buffer_bytes
        s = (f"{self.batch}x{self.block_in}x{self.block_out}_i{self.input_width}w{self.weight_width}"
             f"a{self.acc_width}o{self.output_width}_{_log2(b['inp'])}_{_log2(b['wgt'])}_"
             f"{_log2(b['acc'])}_{_log2(b['uop'])}_d{self.axi_data_width}")
        if (self.insn_queue_depth, self.token_depth) != (32, 32):
            s += f"_q{self.insn_queue_depth}t{self.token_depth}"
        if self.dram_addr_width != 32:
            s += f"_r{self.dram_addr_width}"
        return s
