"""Pieces shared by the accelerator's stages: the instruction FSM of a stage (queue, tokens,
retire), the 2D strided load engine (used by the load and the compute stage) and small helpers."""
from __future__ import annotations

from amaranth import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from .. import isa
from ..config import AccelConfig
from ..isa import MemType
from .decode import field_width, fields
from .dma import BurstReader

BEATS_WIDTH = 28         # beats of one DMA command


def log2(x: int) -> int:
    return x.bit_length() - 1


def lane_en(lane, n: int, all_lanes):
    """Write-enable bits for one lane of ``n`` (all of them when ``all_lanes``)."""
    if n == 1:
        return Const(1, 1)
    return Mux(all_lanes, (1 << n) - 1, (Const(1, n) << lane[:log2(n)])[:n])


def saturate(value, width: int):
    """Clamp a signed value to ``width`` signed bits."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    return Mux(value > hi, hi, Mux(value < lo, lo, value))[:width]


def read_request_signature(addr_width: int, data_width: int) -> wiring.Signature:
    """A burst reader's side of a :class:`~hwgen.accel.rtl.dma.ReadArbiter` client port."""
    return wiring.Signature({"ar_valid": Out(1), "ar_ready": In(1), "ar_addr": Out(addr_width),
                             "ar_len": Out(8), "r_valid": In(1), "r_data": In(data_width)})


def connect_reader(m: Module, rd: BurstReader, port) -> None:
    """Connect a :class:`BurstReader`'s request side to a :func:`read_request_signature` port
    of the enclosing component (flipped)."""
    m.d.comb += [port.ar_valid.eq(rd.ar_valid), rd.ar_ready.eq(port.ar_ready),
                 port.ar_addr.eq(rd.ar_addr), port.ar_len.eq(rd.ar_len),
                 rd.r_valid.eq(port.r_valid), rd.r_data.eq(port.r_data)]


class StageControl(wiring.Component):
    """Instruction FSM of one stage: take from its queue, pop tokens, execute, push tokens, retire.

    The queue (``insn_queue_depth`` instructions) is inside; fetch writes it (``w_*``). Tokens are
    counted by the top: ``<side>_avail`` (the queue to pop is not empty), ``<side>_room`` (the
    queue to push is not full) come in, ``<side>_pop`` / ``<side>_push`` go out, for the sides
    the stage has (``prev``: towards the load stage, ``next``: towards the store stage).

    Attributes
    ----------
    insn, start : the instruction and a pulse on its first EXEC cycle, to the execution unit
    done, halt : from the execution unit (``done`` may be high in the first EXEC cycle only if
        the unit ignores ``start``; ``halt`` stops the stage for the rest of the run)
    head, head_valid : the next instruction in the queue
    quiet, waiting, blocked, active, busy, retired : status and counter strobes
    """

    def __init__(self, config: AccelConfig, *, prev: bool, next: bool):
        self.config, self.has_prev, self.has_next = config, prev, next
        ports = {"w_data": In(isa.INSN_BITS), "w_en": In(1), "w_rdy": Out(1),
                 "head": Out(isa.INSN_BITS), "head_valid": Out(1),
                 "insn": Out(isa.INSN_BITS), "start": Out(1), "done": In(1), "halt": In(1),
                 "quiet": Out(1), "waiting": Out(1), "blocked": Out(1), "active": Out(1),
                 "busy": Out(1), "retired": Out(1)}
        for side, present in (("prev", prev), ("next", next)):
            if present:
                ports.update({f"{side}_avail": In(1), f"{side}_room": In(1),
                              f"{side}_pop": Out(1), f"{side}_push": Out(1)})
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        m.submodules.queue = q = SyncFIFO(width=isa.INSN_BITS, depth=self.config.insn_queue_depth)
        m.d.comb += [q.w_data.eq(self.w_data), q.w_en.eq(self.w_en), self.w_rdy.eq(q.w_rdy),
                     self.head.eq(q.r_data), self.head_valid.eq(q.r_rdy)]
        cur = self.insn
        F = fields(cur, "FINISH")
        sides = [s for s, present in (("prev", self.has_prev), ("next", self.has_next)) if present]
        pop_ok = Signal()
        push_ok = Signal()
        m.d.comb += [
            pop_ok.eq(_all([~F[f"pop_{s}"] | getattr(self, f"{s}_avail") for s in sides])),
            push_ok.eq(_all([~F[f"push_{s}"] | getattr(self, f"{s}_room") for s in sides]))]
        holding = Signal()

        def token_step(kind: str, ok: Signal, nxt: str, *done) -> None:
            """POP/PUSH state body: blocked until every token side is ready; then pop or push
            the flagged ones, assert ``done`` and go to ``nxt``."""
            m.d.comb += holding.eq(1)
            with m.If(ok):
                for s in sides:
                    m.d.comb += getattr(self, f"{s}_{kind}").eq(F[f"{kind}_{s}"])
                m.d.comb += list(done)
                m.next = nxt
            with m.Else():
                m.d.comb += [self.quiet.eq(1), self.waiting.eq(1), self.blocked.eq(1)]

        with m.FSM() as fsm:
            with m.State("IDLE"):
                m.d.comb += self.quiet.eq(~q.r_rdy)
                with m.If(q.r_rdy):
                    m.d.comb += q.r_en.eq(1)
                    m.d.sync += cur.eq(q.r_data)
                    m.next = "POP"
            with m.State("POP"):
                token_step("pop", pop_ok, "EXEC")
            with m.State("EXEC"):
                m.d.comb += [holding.eq(1), self.busy.eq(1)]
                with m.If(self.halt):
                    m.next = "HALT"
                with m.Elif(self.done):
                    m.next = "PUSH"
            with m.State("PUSH"):
                token_step("push", push_ok, "IDLE", self.retired.eq(1))
            with m.State("HALT"):
                m.d.comb += [self.quiet.eq(1), holding.eq(1)]
        # EXEC start pulse: the first cycle in EXEC
        was = Signal()
        m.d.sync += was.eq(fsm.ongoing("EXEC"))
        m.d.comb += [self.start.eq(fsm.ongoing("EXEC") & ~was),
                     self.active.eq(holding | q.r_rdy)]
        return m


def _all(terms):
    out = terms[0]
    for t in terms[1:]:
        out = out & t
    return out


class LoadEngine(wiring.Component):
    """2D strided DRAM -> buffer transfer with zero padding, one beat per cycle, through its own
    :class:`BurstReader` (``rd`` goes to the read arbiter).

    Attributes
    ----------
    insn : the LOAD instruction (stable from ``start`` until ``busy`` falls)
    start : begin the transfer (no effect for an empty one)
    base : DRAM_BASE of the run
    w_mem_type, w_addr, w_lane, w_pad, w_data, w_en : one buffer write per beat (``w_pad``: a
        padding element, all of its lanes at once, data zero)
    busy, quiet : transfer running; the reader has nothing in flight
    """

    def __init__(self, config: AccelConfig):
        self.config = config
        c = config
        super().__init__({
            "insn": In(isa.INSN_BITS), "start": In(1), "base": In(32),
            "rd": Out(read_request_signature(c.dram_addr_width, c.axi_data_width)),
            "w_mem_type": Out(field_width("LOAD", "mem_type")), "w_addr": Out(16),
            "w_lane": Out(13), "w_pad": Out(1), "w_data": Out(c.axi_data_width), "w_en": Out(1),
            "busy": Out(1), "quiet": Out(1),
        })

    def elaborate(self, platform):
        c = self.config
        m = Module()
        aw, LB = c.dram_addr_width, log2(c.axi_bytes)
        m.submodules.reader = rd = BurstReader(addr_width=aw, data_width=c.axi_data_width,
                                               beats_width=BEATS_WIDTH)
        connect_reader(m, rd, self.rd)
        m.d.comb += self.quiet.eq(rd.quiet)
        Lf = fields(self.insn, "LOAD")
        busy_ = self.busy
        mt_ = Lf["mem_type"]
        elog_ = Signal(4)
        with m.Switch(mt_):
            for t in MemType:
                with m.Case(t):
                    m.d.comb += elog_.eq(log2(c.element_bytes[t.name.lower()]))
        nl_log2 = Signal(4)      # log2 lanes per element
        m.d.comb += nl_log2.eq(elog_ - LB)
        row_addr = Signal(aw)
        ry = Signal(16)
        r = Signal(17)
        col = Signal(17)
        lane = Signal(13)
        n = Signal(17)
        # loop limits registered from the instruction (stable from POP on; EXEC comes later)
        rows_m1 = Signal(17)
        cols_m1 = Signal(17)
        y_end = Signal(17)
        x_end = Signal(17)
        m.d.sync += [rows_m1.eq(Lf["y_pad0"] + Lf["y_size"] + Lf["y_pad1"] - 1),
                     cols_m1.eq(Lf["x_pad0"] + Lf["x_size"] + Lf["x_pad1"] - 1),
                     y_end.eq(Lf["y_pad0"] + Lf["y_size"]), x_end.eq(Lf["x_pad0"] + Lf["x_size"])]
        # the element-size shifts and the first row's address, registered the same way
        first_addr = Signal(aw)
        stride_bytes = Signal(aw)
        row_beats = Signal(BEATS_WIDTH)
        m.d.sync += [first_addr.eq(self.base + (Lf["dram_base"] << elog_)),
                     stride_bytes.eq(Lf["x_stride"] << elog_),
                     row_beats.eq(Lf["x_size"] << nl_log2)]
        empty = (Lf["y_size"] == 0) | (Lf["x_size"] == 0)
        # read side: one command per row
        m.d.comb += [rd.cmd_valid.eq(busy_ & (ry != Lf["y_size"])),
                     rd.cmd_addr.eq(row_addr),
                     rd.cmd_beats.eq(row_beats)]
        with m.If(rd.cmd_valid & rd.cmd_ready):
            m.d.sync += [ry.eq(ry + 1), row_addr.eq(row_addr + stride_bytes)]
        # write side. The padding flags of the current row and column are registered: each is
        # computed for both possible next positions (the compares start at flip-flops) and the
        # step only picks one, so the reader's ready and the buffer write start at flip-flops.
        def y_pad(v):
            return (v < Lf["y_pad0"]) | (v >= y_end)

        def x_pad(v):
            return (v < Lf["x_pad0"]) | (v >= x_end)
        row_pad, col_pad = Signal(), Signal()
        pad = row_pad | col_pad
        lanes_m1 = Signal(13)
        m.d.sync += lanes_m1.eq((1 << nl_log2) - 1)
        last_lane = lane == lanes_m1
        step = Signal()
        w_en = self.w_en
        m.d.comb += rd.out_ready.eq(busy_ & ~pad)
        with m.If(busy_):
            with m.If(pad):
                m.d.comb += [w_en.eq(1), step.eq(1)]
            with m.Elif(rd.out_valid):
                m.d.comb += w_en.eq(1)
                m.d.sync += lane.eq(lane + 1)
                with m.If(last_lane):
                    m.d.sync += lane.eq(0)
                    m.d.comb += step.eq(1)
        row_end = col == cols_m1
        with m.If(step):
            m.d.sync += [n.eq(n + 1), col.eq(col + 1), col_pad.eq(x_pad(col + 1))]
            with m.If(row_end):
                m.d.sync += [col.eq(0), col_pad.eq(x_pad(0)), r.eq(r + 1),
                             row_pad.eq(y_pad(r + 1))]
                with m.If(r == rows_m1):
                    m.d.sync += busy_.eq(0)
        with m.If(self.start):
            m.d.sync += [busy_.eq(~empty), ry.eq(0), r.eq(0), col.eq(0), lane.eq(0), n.eq(0),
                         row_addr.eq(first_addr), row_pad.eq(y_pad(0)), col_pad.eq(x_pad(0))]
        m.d.comb += [self.w_mem_type.eq(mt_), self.w_addr.eq((Lf["sram_base"] + n)[:16]),
                     self.w_lane.eq(lane), self.w_pad.eq(pad),
                     self.w_data.eq(Mux(pad, 0, rd.out_data))]
        return m
