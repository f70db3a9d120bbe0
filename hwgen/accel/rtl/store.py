"""The accelerator's store stage: STORE from the output buffer to DRAM."""
from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import ReadPort
from amaranth.lib.wiring import In, Out

from .. import isa
from ..config import AccelConfig
from ..isa import MemType
from .decode import fields
from .dma import BurstWriter
from .stage import BEATS_WIDTH, log2


def write_channel_signature(addr_width: int, data_width: int) -> wiring.Signature:
    """The AXI4 write channels (address, data, response) of a :class:`BurstWriter`."""
    return wiring.Signature({
        "awaddr": Out(addr_width), "awlen": Out(8), "awvalid": Out(1), "awready": In(1),
        "wdata": Out(data_width), "wstrb": Out(data_width // 8), "wlast": Out(1),
        "wvalid": Out(1), "wready": In(1), "bresp": In(2), "bvalid": In(1), "bready": Out(1)})


class StoreStage(wiring.Component):
    """Executes STORE: reads entries of the output buffer (the accumulators saturated to
    ``output_width``) and writes them to DRAM, one burst command per row.

    Attributes
    ----------
    insn, start, done : from / to its :class:`~hwgen.accel.rtl.stage.StageControl`
    base : DRAM_BASE of the run
    out_r : the output buffer's read port
    axi, idle : the AXI4 write channels; no command running and every response back
    """

    def __init__(self, config: AccelConfig):
        self.config = c = config
        out_w = c.batch * c.block_out * c.output_width
        super().__init__({
            "insn": In(isa.INSN_BITS), "start": In(1), "done": Out(1), "base": In(32),
            "out_r": In(ReadPort.Signature(addr_width=(c.acc_depth - 1).bit_length(),
                                           shape=out_w)),
            "axi": Out(write_channel_signature(c.dram_addr_width, c.axi_data_width)),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        c = self.config
        m = Module()
        aw, BW = c.dram_addr_width, c.axi_data_width
        out_w = c.batch * c.block_out * c.output_width
        m.submodules.writer = wr = BurstWriter(addr_width=aw, data_width=BW,
                                               beats_width=BEATS_WIDTH)
        for name in ("awaddr", "awlen", "awvalid", "wdata", "wstrb", "wlast", "wvalid", "bready"):
            m.d.comb += getattr(self.axi, name).eq(getattr(wr, name))
        for name in ("awready", "wready", "bresp", "bvalid"):
            m.d.comb += getattr(wr, name).eq(getattr(self.axi, name))
        m.d.comb += self.idle.eq(wr.idle)
        out_rp = self.out_r
        base = self.base
        start = self.start
        S = fields(self.insn, "STORE")
        elog_o = log2(c.element_bytes[MemType.OUT.name.lower()])
        nlo = c.element_bytes[MemType.OUT.name.lower()] // c.axi_bytes
        busy_ = Signal(name="st_busy")
        row_addr = Signal(aw)
        ry = Signal(16)
        rx = Signal(16)      # entry reader position in its row
        ey = Signal(16)
        n = Signal(17)
        empty = (S["y_size"] == 0) | (S["x_size"] == 0)
        reading = Signal()
        sx_m1, sy_m1 = Signal(16), Signal(16)    # registered (stable from POP on)
        m.d.sync += [sx_m1.eq(S["x_size"] - 1), sy_m1.eq(S["y_size"] - 1)]
        with m.If(start):
            m.d.sync += [busy_.eq(~empty), reading.eq(~empty), ry.eq(0), rx.eq(0), ey.eq(0),
                         n.eq(0), row_addr.eq(base + (S["dram_base"] << elog_o))]
        m.d.comb += [wr.cmd_valid.eq(busy_ & (ry != S["y_size"])), wr.cmd_addr.eq(row_addr),
                     wr.cmd_beats.eq(S["x_size"] << log2(nlo))]
        with m.If(wr.cmd_valid & wr.cmd_ready):
            m.d.sync += [ry.eq(ry + 1), row_addr.eq(row_addr + (S["x_stride"] << elog_o))]
        # shadow reads into a small FIFO of entries
        m.submodules.st_fifo = fifo = SyncFIFOBuffered(width=out_w, depth=4)
        pend = Signal()
        can = reading & (fifo.level + pend < 3)
        m.d.comb += out_rp.addr.eq((S["sram_base"] + n)[:16])
        m.d.sync += pend.eq(can)
        m.d.comb += [fifo.w_en.eq(pend), fifo.w_data.eq(out_rp.data)]
        with m.If(can):
            m.d.sync += [n.eq(n + 1), rx.eq(rx + 1)]
            with m.If(rx == sx_m1):
                m.d.sync += [rx.eq(0), ey.eq(ey + 1)]
                with m.If(ey == sy_m1):
                    m.d.sync += reading.eq(0)
        # serializer
        lane = Signal(range(max(2, nlo)))
        beat = Signal(BW)
        if nlo > 1:
            with m.Switch(lane):
                for k in range(nlo):
                    with m.Case(k):
                        m.d.comb += beat.eq(fifo.r_data[k * BW:(k + 1) * BW])
        else:
            m.d.comb += beat.eq(fifo.r_data)
        m.d.comb += [wr.in_valid.eq(fifo.r_rdy), wr.in_data.eq(beat), wr.in_strb.eq(-1)]
        with m.If(wr.in_valid & wr.in_ready):
            if nlo > 1:
                m.d.sync += lane.eq(lane + 1)
                with m.If(lane == nlo - 1):
                    m.d.sync += lane.eq(0)
                    m.d.comb += fifo.r_en.eq(1)
            else:
                m.d.comb += fifo.r_en.eq(1)
        with m.If(busy_ & ~reading & ~pend & ~fifo.r_rdy & (ry == S["y_size"]) & wr.idle):
            m.d.sync += busy_.eq(0)
        m.d.comb += self.done.eq(~start & ~busy_)
        return m
