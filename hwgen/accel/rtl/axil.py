"""A small AXI4-Lite subordinate: one write and one read at a time, 32-bit registers.

The register file itself lives in the accelerator top: this block turns AXI4-Lite transactions
into ``wr_en/wr_addr/wr_data`` strobes and ``rd_addr -> rd_data`` lookups (combinational data,
registered onto ``rdata``).
"""
from __future__ import annotations

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .axi import axil_signature


class AxiLiteSlave(wiring.Component):
    def __init__(self, *, addr_width: int):
        self.addr_width = addr_width
        super().__init__({
            "bus": Out(axil_signature(addr_width=addr_width)),
            "wr_en": Out(1), "wr_addr": Out(addr_width), "wr_data": Out(32),
            "rd_en": Out(1), "rd_addr": Out(addr_width), "rd_data": In(32),
        })

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        # Write: take address and data together, answer OKAY.
        take_w = bus.awvalid & bus.wvalid & ~bus.bvalid
        m.d.comb += [bus.awready.eq(take_w), bus.wready.eq(take_w),
                     self.wr_en.eq(take_w), self.wr_addr.eq(bus.awaddr), self.wr_data.eq(bus.wdata)]
        with m.If(take_w):
            m.d.sync += [bus.bvalid.eq(1), bus.bresp.eq(0)]
        with m.Elif(bus.bready):
            m.d.sync += bus.bvalid.eq(0)
        # Read: registered data.
        take_r = bus.arvalid & ~bus.rvalid
        m.d.comb += [bus.arready.eq(take_r), self.rd_en.eq(take_r), self.rd_addr.eq(bus.araddr)]
        with m.If(take_r):
            m.d.sync += [bus.rvalid.eq(1), bus.rdata.eq(self.rd_data), bus.rresp.eq(0)]
        with m.Elif(bus.rready):
            m.d.sync += bus.rvalid.eq(0)
        return m
