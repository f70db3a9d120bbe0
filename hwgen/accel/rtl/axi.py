"""AXI4 (master, INCR bursts) and AXI4-Lite signatures, named as cocotbext-axi binds them.

Amaranth joins nested port names with ``__``, so an ``m_axi`` port of :func:`axi4_signature`
appears in Verilog as ``m_axi__araddr`` etc. (``AxiBus.from_prefix(dut, "m_axi",
bus_separator="__")``).
"""
from __future__ import annotations

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


def axi4_signature(*, addr_width: int, data_width: int, id_width: int = 1) -> wiring.Signature:
    """An AXI4 manager (master) interface; ``Out`` is driven by the manager."""
    strb = data_width // 8
    return wiring.Signature({
        "awid": Out(id_width), "awaddr": Out(addr_width), "awlen": Out(8), "awsize": Out(3),
        "awburst": Out(2), "awcache": Out(4), "awprot": Out(3), "awvalid": Out(1), "awready": In(1),
        "wdata": Out(data_width), "wstrb": Out(strb), "wlast": Out(1), "wvalid": Out(1),
        "wready": In(1),
        "bid": In(id_width), "bresp": In(2), "bvalid": In(1), "bready": Out(1),
        "arid": Out(id_width), "araddr": Out(addr_width), "arlen": Out(8), "arsize": Out(3),
        "arburst": Out(2), "arcache": Out(4), "arprot": Out(3), "arvalid": Out(1), "arready": In(1),
        "rid": In(id_width), "rdata": In(data_width), "rresp": In(2), "rlast": In(1),
        "rvalid": In(1), "rready": Out(1),
    })


def axil_signature(*, addr_width: int, data_width: int = 32) -> wiring.Signature:
    """An AXI4-Lite subordinate (slave) interface, seen from the subordinate (``In`` from the host)."""
    return wiring.Signature({
        "awaddr": In(addr_width), "awprot": In(3), "awvalid": In(1), "awready": Out(1),
        "wdata": In(data_width), "wstrb": In(data_width // 8), "wvalid": In(1), "wready": Out(1),
        "bresp": Out(2), "bvalid": Out(1), "bready": In(1),
        "araddr": In(addr_width), "arprot": In(3), "arvalid": In(1), "arready": Out(1),
        "rdata": Out(data_width), "rresp": Out(2), "rvalid": Out(1), "rready": In(1),
    })
