"""How much of an FPGA an accelerator takes: block RAMs and DSP slices, from the config alone.

:func:`estimate` predicts what Yosys ``synth_xilinx`` (``-family xc7``, as
:func:`hwgen.measure.synth_xilinx` runs it) infers for :func:`hwgen.accel.rtl.generate`'s Verilog,
without generating or synthesizing anything (under a millisecond, no Amaranth import), so that
``hwgen accel project`` can refuse an accelerator that does not fit a board before any work. It
equals synthesis (RAMB36, RAMB18, DSP48E1) on the four presets and five variants of buffers,
array shape, widths, queues and multiplier options (``bench/accel.py --parts fit``); the
UltraScale+ flow (``-family xcup``: another LUT-RAM library, DSP48E2) gave the same counts for
``tiny`` and ``ultra96``. It models Yosys, not Vivado, whose memory mapping may differ.

Block RAM. The RTL infers these memories (:mod:`hwgen.accel.rtl.top`, :mod:`~hwgen.accel.rtl.stage`),
each with one write port (``lanes``: one write enable per AXI beat of an entry) and one read port:

=============  ========================================  ====================  ==============
memory         width (bits)                              depth                 write lanes
=============  ========================================  ====================  ==============
uop            64 (the RTL reads 48: three 16-bit         ``uop_depth``         per beat
               indices; Yosys drops units of unread
               bits after mapping)
inp            ``batch * block_in * input_width``        ``inp_depth``         per beat
wgt            ``block_out * block_in * weight_width``   ``wgt_depth``         per beat
acc0, acc1     ``batch * block_out * acc_width``         ``acc_depth / 2``     per beat
out            ``batch * block_out * output_width``      ``acc_depth``         as acc
load queue     128 (122 read: LOAD up to ``x_pad1``)     ``insn_queue_depth``  one
store queue    128 (106 read: STORE up to ``x_stride``)  ``insn_queue_depth``  one
compute queue  128, read without a register              ``insn_queue_depth``  one
=============  ========================================  ====================  ==============

All read ports but the compute queue's are registered and non-transparent (the load and store
queues' because Yosys moves the stage's instruction register into the read port; the compute
stage also looks at the queue's head, so its queue stays unregistered and can only be LUT RAM).
Each is mapped the way Yosys's ``memory_libmap`` does it: the cost of every geometry of every RAM
in the xc7 libraries (LUT RAM: ``lutrams_xc5v.txt``; block RAM: ``brams_xc4v.txt`` with
``HAS_SIZE_36 HAS_CASCADE HAS_CONFLICT_BUG HAS_MIXWIDTH_SDP``) is computed with its formula
(units, width scale, read multiplexers, write demultiplexers, port emulation) and the cheapest
wins, against flip-flops at one per bit. Block RAM rows are 9 bits a byte, so a write lane is
padded to a multiple of 9 bits (a 64-bit lane takes 72). So deep buffers are block RAM and
shallow ones LUT RAM (``tiny``'s 128-bit x 64 weights), and instruction queues of 128 entries or
more take block RAM. The other memories are FIFOs of at most 32 entries (DMA readers, burst
routing, store staging): always LUT RAM, never block RAM, so not listed.

DSP slices. One DSP48E1 (25 x 18 multiplier) per ``*`` of at most 25 x 18 bits: the GEMM array's
multipliers (``batch * block_in * block_out`` MACs, two per multiplier when packed:
``x * (w1 * 2**16 + w0)``, 8 x 25 bits), capped by ``hard_mults``; the ALU's MUL lanes (``batch *
block_out``, two 17 x 16 partial products each with 32-bit accumulators, one with 16-bit); the
fetch unit's two range-check products (16 x 16 and 17 x 17 bits).

LUTs. ``luts`` predicts synthesis's LUTs as logic (Yosys's LUT1..LUT6 cells; Vivado's "LUT as
Logic"), ``lutram_luts`` the LUTs used as memory (four per RAM32M / RAM64M, from the memory mapping
above plus the DMA and staging FIFOs), and ``total_luts`` their sum, what a part's LUT count must
hold. ``luts`` is a sum of named terms (``lut_parts``): three are counted from the RTL's structure
(``lane_adders``, ``dot_trees``, ``lutram_mux``), one scales a structural count by a calibrated
coefficient (``lut_products``), two are calibrated (``control``, ``lane_logic``); the three
coefficients are least squares on relative error over the twelve rows below:

==============  =======================================================  =====================
term            LUTs                                                     from
==============  =======================================================  =====================
control         :data:`CONTROL_LUTS` (3,470): fetch, three stage         calibrated (an
                FSMs, load engines, burst readers and writer, read       unflattened run of
                arbiter, register file, 13 counters, the micro-op        ``tiny`` has 3,035 in
                loop; nearly constant in the config (AXI width and       these units but the
                queues move it by under 100)                             compute loop)
lane_logic      :data:`LANE_LUTS_PER_BIT` (25.7) x lanes x acc_width:    calibrated (an
                forwarding selects, ALU compares, shifter and selects,   inventory of the RTL
                write-back muxes, output saturation (ISA 3's MULSHR:     gave about 23 per
                the rounding shifter moved behind the product, about     bit before ISA 3;
                3 LUTs per bit more)                                     unflattened runs 22)
lane_adders     2 x lanes x acc_width: the GEMM accumulate and ALU ADD   structure: one carry-
                adders                                                   chain LUT per bit
dot_trees       outputs x :func:`tree_adder_bits`: the dot products'     structure (the kept
                adder trees; a packed product's sign correction rides    adders' widths)
                on the first adder's carry-in, no LUTs
lut_products    :data:`LUT_PRODUCT_LUTS_PER_BIT` (0.74) x LUT products   structure x calibrated
                x :func:`lut_product_bits` (partial-product rows and     (per-input recoding
                their adders)                                            and per-output
                                                                         corrections included)
lutram_mux      read multiplexers of LUT RAM deeper than its primitive   structure
                (a 128-deep compute queue: one LUT per bit)
==============  =======================================================  =====================

Against full synth_xilinx runs (xc7, Yosys 0.70; ``bench/accel.py --parts lut_fit``), LUTs as
logic, at ISA 3 (764df23: MULSHR, the ALU's rounding shifter in its third stage); the other
coefficients were fitted on these twelve rows before ISA 3, and :data:`LANE_LUTS_PER_BIT` refitted
on them after it (22.3 -> 25.7, the smallest largest error), so the error column is in-sample:

=======================================  =========  ========  ======
config (generation options)              synthesis  model     error
=======================================  =========  ========  ======
tiny                                         7,238     7,224   -0.2%
tiny, hard_mults 0 (16 LUT products)         8,079     8,041   -0.5%
tiny, dsp_packing off                        7,108     7,224   +1.6%
tiny, acc_width 16, 128-deep queues          5,711     5,579   -2.3%
tiny, 16-bit operands and outputs            7,247     7,416   +2.3%
1x8x8                                       11,467    11,545   +0.7%
2x8x4, 64-bit AXI                           11,551    11,545   -0.1%
2x4x8, unpacked, hard_mults 40              19,382    19,709   +1.7%
default                                     21,736    21,908   +0.8%
pynq-z2                                     21,760    21,908   +0.7%
ultra96                                     39,528    40,347   +2.1%
default, hard_mults 64 (128 LUT products)   28,153    28,444   +1.0%
=======================================  =========  ========  ======

Three configs not used in the fit (same bench run, 25 min for all fifteen on two shared cores):

=======================================  =========  ========  ======
config (generation options)              synthesis  model     error
=======================================  =========  ========  ======
tiny, 1024-deep queues (compute queue        7,982     7,736   -3.1%
in LUT RAM behind 16:1 multiplexers)
1x8x8, hard_mults 0 (64 LUT products)       14,721    14,813   +0.6%
tiny 16-bit, hard_mults 0 (16-bit LUT       10,843    10,684   -1.5%
products)
=======================================  =========  ========  ======

The stated tolerance, :data:`LUT_TOLERANCE`, is 10%, what
:func:`hwgen.fpga.accel_project.check_project` allows for: wider than these rows because configs
far from them (other shapes, many more LUT products) are extrapolation. LUTs as memory: within
two primitives (eight LUTs) of four times synthesis's LUT-RAM primitives on all fifteen rows. It
is a model of Yosys, and only of the default ``fpga`` adder style (``adder_style="asic"`` builds
prefix logic, not modelled); Vivado's own synthesis maps differently (not measured: there is no
Vivado here), and it was calibrated on xc7 counts only: UltraScale+ (``-family xcup``, the
ultra96v2's xczu3eg) maps the same Verilog to more LUTs (measured before ISA 3: ``tiny`` 7,044,
model -3.6%, and ``ultra96`` 39,642, -7.0%), inside the tolerance; its LUT-RAM primitives differ too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..errors import ConfigError
from . import isa
from .config import AccelConfig

#: bits of the micro-op word that the RTL reads (acc_idx, inp_idx, wgt_idx: 3 x 16)
UOP_USED_BITS = isa.UOP_FIELDS[-1].msb + 1
#: bits of an instruction the load stage reads (up to LOAD's x_pad1) and the store stage reads
#: (up to STORE's x_stride: no padding fields)
LOAD_QUEUE_USED_BITS = isa.MEM_FIELDS[-1].msb + 1
STORE_QUEUE_USED_BITS = next(f for f in isa.MEM_FIELDS if f.name == "x_stride").msb + 1


class _Ram(NamedTuple):
    """One RAM geometry family of Yosys's xc7 memory libraries."""
    name: str          # what it maps to
    kind: str          # "block" or "distributed"
    abits: int
    dbits: tuple       # base widths
    cost: float
    widthscale: float  # 0: none
    byte: int          # 0: no byte enables
    unit_limit: int    # index of the widest base width a port takes (CASCADE: 1 bit)
    ramb36: float      # RAMB36 per unit
    ramb18: int        # RAMB18 per unit


#: the RAMs an inferred memory with one write port and one separate sync read port can use on
#: xc7, in Yosys's library order (``lutrams_xc5v.txt`` then ``brams_xc4v.txt``); a single-port
#: LUT RAM is left out (its one port cannot take separate read and write addresses)
_XC7_RAMS = (
    _Ram("RAM64X1D/RAM32X2", "distributed", 5, (4,), 8, 8, 0, 0, 0, 0),   # DP, ABITS 5
    _Ram("RAM64X1D", "distributed", 6, (2,), 8, 8, 0, 0, 0, 0),           # DP, ABITS 6
    _Ram("RAM128X1D", "distributed", 7, (1,), 8, 8, 0, 0, 0, 0),          # DP, ABITS 7
    _Ram("RAM32M (QP)", "distributed", 5, (2,), 7, 7, 0, 0, 0, 0),
    _Ram("RAM64M (QP)", "distributed", 6, (1,), 7, 7, 0, 0, 0, 0),
    _Ram("RAM32M", "distributed", 5, (6,), 8, 7, 0, 0, 0, 0),              # SDP, ABITS 5
    _Ram("RAM64M", "distributed", 6, (3,), 8, 7, 0, 0, 0, 0),              # SDP, ABITS 6
    _Ram("RAMB18 TDP", "block", 14, (1, 2, 4, 9, 18), 129, 0, 9, 4, 0, 1),
    _Ram("RAMB36 TDP", "block", 15, (1, 2, 4, 9, 18, 36), 257, 0, 9, 5, 1, 0),
    _Ram("RAMB36 cascade", "block", 16, (1, 2, 4, 9), 513, 0, 9, 0, 2, 0),
    _Ram("RAMB18 SDP", "block", 14, (1, 2, 4, 9, 18, 36), 129, 0, 9, 5, 0, 1),
    _Ram("RAMB36 SDP", "block", 15, (1, 2, 4, 9, 18, 36, 72), 257, 0, 9, 6, 1, 0),
)
#: What the rest of ``hwgen accel project``'s block design may take of the fabric besides the
#: accelerator (:func:`hwgen.fpga.accel_project.check_project` keeps it free): two SmartConnects
#: (1 x 1, one clock, no width conversion: protocol conversion and register slices, LUT/FF logic
#: and LUT-RAM FIFOs) and a ``proc_sys_reset`` (LUT/FF only). None of them multiplies: 0 DSPs.
#: Block RAM: one per SmartConnect, for the case where Vivado builds a SmartConnect FIFO in block
#: RAM, which hwgen cannot check without Vivado (a reserve, not a measurement). LUTs: 910 per
#: SmartConnect, the one public figure found for a 1 x 1 SmartConnect in front of a Zynq-7000
#: HP port (Vivado 2023.1, "910 LUTs, 904 Registers", analogdevicesinc/hdl pull request 1054),
#: taken for both (the control one, all of whose endpoints are AXI4-Lite, is in PG247's
#: Low-Area Mode, without FIFOs or register slices, so smaller); the proc_sys_reset, a reset
#: sequencer of a few counters, is left inside that margin (no public figure found).
BLOCK_DESIGN_RESERVE = {"bram36": 2, "dsps": 0, "luts": 2 * 910}
_FACTOR_MUX = _FACTOR_DEMUX = 0.5
_FACTOR_EMU = 2
#: emulation score of our memories: one read port not shared with the write port
_SCORE_EMU = 1


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class MemoryUse:
    """How one inferred memory maps: ``kind`` is ``"block"``, ``"distributed"`` (LUT RAM) or
    ``"ff"``; ``ram`` the primitive family; ``units`` how many of them are kept."""
    name: str
    width: int
    depth: int
    lanes: tuple[int, ...]
    kind: str
    ram: str
    units: int
    ramb36: int
    ramb18: int

    @property
    def bram36(self) -> float:
        return self.ramb36 + self.ramb18 / 2


def _swizzle(lanes: tuple[int, ...], eb: int) -> list[int]:
    """Bit positions of a memory word as a RAM unit row holds them: each write lane padded to a
    multiple of ``eb`` bits (-1: padding), as memory_libmap lays them out."""
    out, pos = [], 0
    for w in lanes:
        out += list(range(pos, pos + w))
        out += [-1] * (-w % eb)
        pos += w
    return out


def _kept_units(lanes: tuple[int, ...], eb: int, unit: int, mult_a: int, repl: int,
                used: int) -> int:
    """Units of a geometry that hold at least one read bit. Unit ``r`` holds bits ``r * unit ..
    (r + 1) * unit - 1`` of ``mult_a`` copies of the swizzled word laid end to end (one per
    address range); Yosys removes the units whose outputs are all unread."""
    swz = _swizzle(lanes, eb)
    n = len(swz)
    prefix = [0]
    for b in swz:
        prefix.append(prefix[-1] + (0 <= b < used))

    def count(a: int) -> int:              # read bits among the first ``a`` bits of the copies
        return (a // n) * prefix[n] + prefix[a % n]
    total = mult_a * n
    return sum(count(min((r + 1) * unit, total)) > count(r * unit) for r in range(repl))


def map_memory(name: str, width: int, depth: int, lanes: tuple[int, ...] | None = None, *,
               used: int | None = None, sync_read: bool = True) -> MemoryUse:
    """Map a ``width x depth`` memory with one write port and one read port as Yosys
    ``memory_libmap`` does on xc7 (see the module doc).

    ``lanes``: bit widths of the write-enable groups (summing to ``width``; default one);
    ``used``: only the low ``used`` bits are ever read (the geometry is chosen for the whole
    width, as Yosys does; units holding only unread bits are removed afterwards);
    ``sync_read``: False for a read port without a register (block RAM cannot take it)."""
    lanes = (width,) if lanes is None else tuple(lanes)
    if sum(lanes) != width or min(lanes) < 1:
        raise ConfigError(f"map_memory lanes must be positive and sum to the width {width}, "
                          f"not {lanes}")
    used = width if used is None else used
    best_by_kind: dict[str, tuple] = {}
    for ram in _XC7_RAMS:
        if ram.kind == "block" and not sync_read:
            continue
        got, best_int = None, 0
        for i, unit in enumerate(ram.dbits):
            if i > ram.unit_limit:
                break
            eb = unit if ram.byte == 0 or ram.byte > unit else ram.byte
            swizzle = sum(-(-w // eb) * eb for w in lanes)
            mult_a = _ceil_div(depth, 1 << (ram.abits - i))
            repl = _ceil_div(mult_a * swizzle, unit)
            demux = mult_a * len(lanes) if mult_a != 1 else 0
            mux = (mult_a - 1) * width
            cost = (ram.cost - ram.widthscale) * repl
            cost += ram.widthscale * mult_a * width / unit
            cost += mux * _FACTOR_MUX + demux * _FACTOR_DEMUX + _SCORE_EMU * _FACTOR_EMU
            if got is None or cost < best_int:     # memory_libmap keeps the best cost as an int
                got, best_int = (cost, ram, (eb, unit, mult_a, repl)), int(cost)
        prev = best_by_kind.get(ram.kind)
        if prev is None or got[0] < prev[0]:
            best_by_kind[ram.kind] = got
    best, choice = int(width * depth), None           # flip-flops: one per bit (int, as Yosys)
    for kind in ("distributed", "block"):
        if kind in best_by_kind and best_by_kind[kind][0] < best:
            best, choice = best_by_kind[kind][0], best_by_kind[kind][1:]
    if choice is None:
        return MemoryUse(name, width, depth, lanes, "ff", "FF", used * depth, 0, 0)
    ram, (eb, unit, mult_a, repl) = choice
    kept = repl if used == width else _kept_units(lanes, eb, unit, mult_a, repl, used)
    return MemoryUse(name, width, depth, lanes, ram.kind, ram.name, kept,
                     int(ram.ramb36 * kept), ram.ramb18 * kept)


def memories(config: AccelConfig) -> list[tuple[str, int, int, tuple[int, ...], dict]]:
    """The accelerator's memories that block RAM could hold: ``(name, width, depth, write lanes,
    options of map_memory)``."""
    c = config
    beat = c.axi_data_width

    def lanes(width: int, n: int) -> tuple[int, ...]:
        return (width // n,) * n

    acc_n = c.acc_elem_bytes // c.axi_bytes
    acc_w = c.batch * c.block_out * c.acc_width
    out_w = c.batch * c.block_out * c.output_width
    inp_w = c.batch * c.block_in * c.input_width
    wgt_w = c.block_out * c.block_in * c.weight_width
    q, qd = isa.INSN_BITS, c.insn_queue_depth
    return [
        ("uop", isa.UOP_BITS, c.uop_depth, lanes(isa.UOP_BITS, isa.UOP_BITS // beat),
         {"used": UOP_USED_BITS}),
        ("inp", inp_w, c.inp_depth, lanes(inp_w, c.inp_elem_bytes // c.axi_bytes), {}),
        ("wgt", wgt_w, c.wgt_depth, lanes(wgt_w, c.wgt_elem_bytes // c.axi_bytes), {}),
        ("acc0", acc_w, c.acc_depth // 2, lanes(acc_w, acc_n), {}),
        ("acc1", acc_w, c.acc_depth // 2, lanes(acc_w, acc_n), {}),
        ("out", out_w, c.acc_depth, lanes(out_w, acc_n), {}),
        ("load_queue", q, qd, (q,), {"used": LOAD_QUEUE_USED_BITS}),
        ("compute_queue", q, qd, (q,), {"sync_read": False}),
        ("store_queue", q, qd, (q,), {"used": STORE_QUEUE_USED_BITS}),
    ]


class MultiplierPlan(NamedTuple):
    """How the GEMM array multiplies: the one definition that
    :class:`hwgen.accel.rtl.gemm.DotArray` builds and :func:`estimate` counts."""
    #: two int8 products per multiplier (one DSP48)
    pack: bool
    #: multipliers the array needs (MACs per cycle, halved when packed)
    mults: int
    #: of them, written as ``*`` (DSPs); the rest are LUT products
    hard: int


def multiplier_plan(*, batch: int, block_in: int, block_out: int, input_width: int,
                    weight_width: int, pack: bool | None = None,
                    hard_mults: int | None = None) -> MultiplierPlan:
    """Packing is possible for 8-bit inputs and weights and an even ``block_out``; ``pack`` None
    packs when possible, False never. ``hard_mults`` caps the multipliers written as ``*``."""
    can_pack = input_width == 8 and weight_width == 8 and block_out % 2 == 0
    packed = can_pack if pack is None else (bool(pack) and can_pack)
    mults = batch * block_in * block_out // (2 if packed else 1)
    return MultiplierPlan(packed, mults, mults if hard_mults is None else min(hard_mults, mults))


# ------------------------------------------------------------------------------------ LUTs
#: Of the LUT model (see the module doc): LUTs per bit per accumulator lane of the compute
#: stage's lane logic (forwarding selects, the ALU's compares, shifter and selects, write-back
#: and output saturation), calibrated against synth_xilinx
LANE_LUTS_PER_BIT = 25.7
#: LUTs of the control and DMA part, whatever the config (fetch, three stage FSMs, load engines,
#: burst readers and writer, read arbiter, register file and counters), calibrated
CONTROL_LUTS = 3470
#: LUTs per partial-product or adder bit of a LUT product (:func:`lut_product_bits`), calibrated:
#: some row bits merge into the adders' LUTs
LUT_PRODUCT_LUTS_PER_BIT = 0.74
#: The model's stated tolerance against synth_xilinx: every measured row lies within it
#: (``bench/accel.py --parts lut_fit``)
LUT_TOLERANCE = 0.10
#: LUTs per LUT-RAM primitive: RAM32M / RAM64M take a SLICEM's four LUTs, the dual-port
#: single-bit ones two (RAM64X1D, RAM32X2) or four (RAM128X1D); UG474
_LUTRAM_LUTS = {"RAM64X1D/RAM32X2": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM32M (QP)": 4,
                "RAM64M (QP)": 4, "RAM32M": 4, "RAM64M": 4}


def _fifo_lutram_cells(config: AccelConfig) -> int:
    """LUT-RAM primitives of the FIFOs outside the buffers, as synth_xilinx maps them (RAM32M: six
    bits of up to 32 entries): the three DMA readers' beat FIFOs (``axi_data_width`` bits), the
    store stage's staging FIFO of output entries (``batch * block_out * output_width`` bits), the
    burst routing and burst length FIFOs (one each)."""
    out_w = config.batch * config.block_out * config.output_width
    return 3 * _ceil_div(config.axi_data_width, 6) + _ceil_div(out_w, 6) + 2


def _add_width(a: tuple[int, int], b: tuple[int, int]) -> tuple[tuple[int, int], int]:
    """Widths of :func:`hwgen.accel.rtl.gemm._add`: terms ``(width, shift)`` (signed); returns
    the sum's ``(width, shift)`` and the adder's width (its LUTs, one per bit)."""
    (wa, sa), (wb, sb) = sorted((a, b), key=lambda t: t[1])
    k = sb - sa
    hi = max(wa - k, 1)
    adder = max(hi, wb) + 1
    return (k + adder, sa), adder


def _sum_widths(terms: list[tuple[int, int]]) -> tuple[tuple[int, int], int]:
    """A balanced sum as :func:`hwgen.accel.rtl.gemm._sum` / ``_tree`` build it: the result's
    ``(width, shift)`` and the adders' total width."""
    bits = 0
    while len(terms) > 1:
        nxt = []
        for i in range(0, len(terms) - 1, 2):
            t, b = _add_width(terms[i], terms[i + 1])
            nxt.append(t)
            bits += b
        terms = nxt + ([terms[-1]] if len(terms) % 2 else [])
    return terms[0], bits


def tree_adder_bits(n: int, width: int) -> int:
    """Adder bits of one dot product's tree: ``n`` products of ``width`` bits summed pairwise
    (one carry-chain LUT per bit; every adder is kept, see :func:`hwgen.accel.rtl.gemm._kept`)."""
    return _sum_widths([(width, 0)] * n)[1]


def lut_product_bits(input_width: int, weight_width: int) -> int:
    """Bits of one LUT product (:func:`hwgen.accel.rtl.gemm.radix4_rows`): ``(input_width + 1) // 2``
    rows of ``weight_width + 1`` partial-product bits (one LUT each, a function of two digit
    code bits and two weight bits) plus the adders that sum them in two halves and join the
    halves."""
    n = (input_width + 1) // 2
    rows = [(weight_width + 1, 2 * k) for k in range(n)]
    half = (n + 1) // 2
    halves = [_sum_widths(part) for part in (rows[:half], rows[half:]) if part]
    bits = n * (weight_width + 1) + sum(b for _t, b in halves)
    if len(halves) == 2:
        bits += _add_width(halves[0][0], halves[1][0])[1]
    return bits


def lut_terms(config: AccelConfig, plan: MultiplierPlan, mems: tuple) -> dict[str, int]:
    """The LUT model's terms (see the module doc), each a LUT count."""
    c = config
    lanes = c.batch * c.block_out
    outputs = c.batch * c.block_out
    prod_width = c.input_width + c.weight_width
    lut_products = (plan.mults - plan.hard) * (2 if plan.pack else 1)
    mux = 0
    for m in mems:
        if m.kind == "distributed":
            # LUT RAM deeper than its primitive: a read multiplexer per read bit (one LUT6 is a
            # 4:1 multiplexer; F7/F8 multiplexers join four of them)
            abits = next(r.abits for r in _XC7_RAMS if r.name == m.ram)
            mux += _mux_luts(_ceil_div(m.depth, 1 << abits)) * m.width
        elif m.kind == "ff":
            mux += _mux_luts(m.depth) * m.width
    return {
        "control": CONTROL_LUTS,
        "lane_logic": round(LANE_LUTS_PER_BIT * lanes * c.acc_width),
        "lane_adders": 2 * lanes * c.acc_width,
        "dot_trees": outputs * tree_adder_bits(c.block_in, prod_width),
        "lut_products": round(LUT_PRODUCT_LUTS_PER_BIT * lut_products
                              * lut_product_bits(c.input_width, c.weight_width)),
        "lutram_mux": mux,
    }


def _mux_luts(ways: int) -> int:
    """LUT6s of a ``ways``:1 multiplexer of one bit: 4:1 per LUT, F7/F8 multiplexers join up to
    four LUTs for free, another LUT level beyond 16."""
    if ways <= 1:
        return 0
    if ways <= 4:
        return 1
    luts = _ceil_div(ways, 4)
    return luts + (_ceil_div(luts, 4) if luts > 4 else 0)


def lutram_luts(config: AccelConfig, mems: tuple) -> int:
    """LUTs used as memory: the buffers and queues in LUT RAM plus the FIFOs'."""
    cells = sum(m.units * _LUTRAM_LUTS[m.ram] for m in mems if m.kind == "distributed")
    return cells + 4 * _fifo_lutram_cells(config)


@dataclass(frozen=True, kw_only=True)
class Resources:
    """What an accelerator takes of an xc7 / UltraScale+ fabric (model, see the module doc).

    Attributes
    ----------
    bram36 : float
        36-kbit block RAMs, a RAMB18 counted as half.
    ramb36, ramb18 : int
        The primitives.
    dsps : int
        DSP48 slices (GEMM + ALU + fetch).
    dsp_parts : dict
        ``gemm``, ``alu``, ``fetch`` DSPs.
    macs_per_dsp : float
        GEMM MACs per cycle per GEMM DSP (2.0 packed).
    memories : tuple of MemoryUse
        How each buffer maps.
    luts : int
        LUTs as logic (Yosys's LUT1..LUT6 cells), within :data:`LUT_TOLERANCE` of synthesis.
    lut_parts : dict
        The terms of ``luts`` (see the module doc).
    lutram_luts : int
        LUTs used as memory (LUT RAM: buffers, queues, FIFOs), from the memory mapping.
    """
    bram36: float
    ramb36: int
    ramb18: int
    dsps: int
    dsp_parts: dict = field(default_factory=dict)
    macs_per_dsp: float = 0.0
    memories: tuple = ()
    luts: int = 0
    lut_parts: dict = field(default_factory=dict)
    lutram_luts: int = 0

    @property
    def total_luts(self) -> int:
        """LUTs as logic and as memory: what a part's LUT count must hold."""
        return self.luts + self.lutram_luts

    def to_dict(self) -> dict[str, Any]:
        return {"bram36": self.bram36, "ramb36": self.ramb36, "ramb18": self.ramb18,
                "dsps": self.dsps, "dsp_parts": dict(self.dsp_parts),
                "macs_per_dsp": self.macs_per_dsp,
                "luts": self.luts, "lut_parts": dict(self.lut_parts),
                "lutram_luts": self.lutram_luts, "lut_tolerance": LUT_TOLERANCE,
                "memories": [{"name": m.name, "width": m.width, "depth": m.depth,
                              "kind": m.kind, "ram": m.ram, "units": m.units,
                              "bram36": m.bram36} for m in self.memories]}


def estimate(config: AccelConfig, *, dsp_packing: bool | None = None,
             hard_mults: int | None = None, **_rtl_options) -> Resources:
    """Block RAMs and DSPs that ``config`` generated with these options takes on xc7 (the model of
    the module doc). ``dsp_packing`` and ``hard_mults`` are :func:`hwgen.accel.rtl.generate`'s;
    its other options (the adders) change no RAM or DSP.

    Raises
    ------
    TypeError
        ``config`` is not an AccelConfig, or ``hard_mults`` not an int.
    ConfigError
        ``hard_mults`` below 0.
    """
    if not isinstance(config, AccelConfig):
        raise TypeError(f"estimate needs an AccelConfig, not {type(config).__name__}")
    if hard_mults is not None:
        if not isinstance(hard_mults, int) or isinstance(hard_mults, bool):
            raise TypeError(f"estimate hard_mults must be an int or None, not "
                            f"{type(hard_mults).__name__}")
        if hard_mults < 0:
            raise ConfigError(f"estimate hard_mults must be at least 0, not {hard_mults}")
    mems = tuple(map_memory(n, w, d, l, **o) for n, w, d, l, o in memories(config))
    ramb36 = sum(m.ramb36 for m in mems)
    ramb18 = sum(m.ramb18 for m in mems)
    c = config
    plan = multiplier_plan(batch=c.batch, block_in=c.block_in, block_out=c.block_out,
                           input_width=c.input_width, weight_width=c.weight_width,
                           pack=dsp_packing, hard_mults=hard_mults)
    gemm = plan.hard
    lut_parts = lut_terms(config, plan, mems)
    lanes = config.batch * config.block_out
    alu = lanes * (2 if config.acc_width > 16 else 1)
    parts = {"gemm": gemm, "alu": alu, "fetch": 2}
    return Resources(bram36=ramb36 + ramb18 / 2, ramb36=ramb36, ramb18=ramb18,
                     dsps=sum(parts.values()), dsp_parts=parts,
                     macs_per_dsp=round(config.macs_per_cycle / gemm, 2) if gemm else 0.0,
                     memories=mems, luts=sum(lut_parts.values()), lut_parts=lut_parts,
                     lutram_luts=lutram_luts(config, mems))
