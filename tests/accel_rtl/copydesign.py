"""A DMA copy engine with the accelerator's top-level ports, to test the AXI blocks and the
testbench memory model on their own: registers 0x00 start, 0x04 src, 0x08 dst, 0x0c beats,
0x10 done (read)."""
from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from hwgen.accel.rtl.axi import axi4_signature, axil_signature
from hwgen.accel.rtl.axil import AxiLiteSlave
from hwgen.accel.rtl.dma import BurstReader, BurstWriter, ReadArbiter


class CopyEngine(wiring.Component):
    def __init__(self, data_width=32):
        self.dw = data_width
        super().__init__({"s_axil": Out(axil_signature(addr_width=8)),
                          "m_axi": Out(axi4_signature(addr_width=32, data_width=data_width)),
                          "irq": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.axil = sl = AxiLiteSlave(addr_width=8)
        wiring.connect(m, wiring.flipped(self.s_axil), sl.bus)
        m.submodules.rd = rd = BurstReader(addr_width=32, data_width=self.dw)
        m.submodules.arb = arb = ReadArbiter(1, addr_width=32, data_width=self.dw)
        m.submodules.wr = wr = BurstWriter(addr_width=32, data_width=self.dw)
        src, dst, beats, go, done = Signal(32), Signal(32), Signal(20), Signal(), Signal()
        with m.If(sl.wr_en):
            with m.Switch(sl.wr_addr):
                with m.Case(0):
                    m.d.sync += [go.eq(1), done.eq(0)]
                with m.Case(4):
                    m.d.sync += src.eq(sl.wr_data)
                with m.Case(8):
                    m.d.sync += dst.eq(sl.wr_data)
                with m.Case(12):
                    m.d.sync += beats.eq(sl.wr_data)
        with m.Switch(sl.rd_addr):
            with m.Case(0x10):
                m.d.comb += sl.rd_data.eq(done)
        a = self.m_axi
        m.d.comb += [
            rd.cmd_valid.eq(go), rd.cmd_addr.eq(src), rd.cmd_beats.eq(beats),
            wr.cmd_valid.eq(go), wr.cmd_addr.eq(dst), wr.cmd_beats.eq(beats),
            arb.ar0_valid.eq(rd.ar_valid), rd.ar_ready.eq(arb.ar0_ready),
            arb.ar0_addr.eq(rd.ar_addr), arb.ar0_len.eq(rd.ar_len),
            rd.r_valid.eq(arb.r0_valid), rd.r_data.eq(arb.r0_data),
            a.araddr.eq(arb.araddr), a.arlen.eq(arb.arlen), a.arvalid.eq(arb.arvalid),
            arb.arready.eq(a.arready), arb.rdata.eq(a.rdata), arb.rresp.eq(a.rresp),
            arb.rlast.eq(a.rlast), arb.rvalid.eq(a.rvalid), a.rready.eq(arb.rready),
            a.arsize.eq((self.dw // 8).bit_length() - 1), a.arburst.eq(1),
            a.awsize.eq((self.dw // 8).bit_length() - 1), a.awburst.eq(1),
            wr.in_valid.eq(rd.out_valid), rd.out_ready.eq(wr.in_ready), wr.in_data.eq(rd.out_data),
            wr.in_strb.eq(-1),
            a.awaddr.eq(wr.awaddr), a.awlen.eq(wr.awlen), a.awvalid.eq(wr.awvalid),
            wr.awready.eq(a.awready), a.wdata.eq(wr.wdata), a.wstrb.eq(wr.wstrb),
            a.wlast.eq(wr.wlast), a.wvalid.eq(wr.wvalid), wr.wready.eq(a.wready),
            wr.bresp.eq(a.bresp), wr.bvalid.eq(a.bvalid), a.bready.eq(wr.bready),
            self.irq.eq(done),
        ]
        started = Signal()
        with m.If(go & rd.cmd_ready & wr.cmd_ready):
            m.d.sync += [go.eq(0), started.eq(1)]
        with m.If(started & ~go & rd.idle & wr.idle):
            m.d.sync += [done.eq(1), started.eq(0)]
        return m
