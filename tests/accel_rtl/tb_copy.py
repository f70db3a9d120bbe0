"""cocotb: the copy engine moves data through the HDL memory model (with backpressure) and through
a cocotbext-axi AxiRam."""
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, FallingEdge
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam

from hwgen.sim.runner import tb_param


async def _reset(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns", impl="gpi").start())
    for s in ("ext_mem", "mem_load", "mem_dump", "mem_base", "bp_level", "bp_seed", "chk_lo"):
        getattr(dut, s).value = 0
    dut.chk_hi.value = 0xFFFFFFFF
    dut.dump_lo.value = 0
    dut.dump_hi.value = 1023
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0


@cocotb.test()
async def copy_hdl_mem(dut):
    words = tb_param("words")
    await _reset(dut)
    dut.bp_level.value = tb_param("bp")
    dut.bp_seed.value = 7
    dut.mem_load.value = 1
    await RisingEdge(dut.clk)
    dut.mem_load.value = 0
    axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil", bus_separator="__"), dut.clk, dut.rst)
    await axil.write_dword(4, 0x40)
    await axil.write_dword(8, 0x40 + 4 * words)
    await axil.write_dword(12, words)
    await axil.write_dword(0, 1)
    await RisingEdge(dut.irq)
    await FallingEdge(dut.clk)
    dut.mem_dump.value = 1
    await RisingEdge(dut.clk)
    dut.mem_dump.value = 0
    await RisingEdge(dut.clk)
    assert int(dut.violation.value) == 0


@cocotb.test()
async def copy_axiram(dut):
    await _reset(dut)
    dut.ext_mem.value = 1
    ram = AxiRam(AxiBus.from_prefix(dut, "m_axi", bus_separator="__"), dut.clk, dut.rst, size=1 << 16)
    rng = random.Random(3)
    for ch in (ram.write_if.aw_channel, ram.write_if.w_channel, ram.write_if.b_channel,
               ram.read_if.ar_channel, ram.read_if.r_channel):
        ch.set_pause_generator(iter(lambda: rng.random() < 0.3, None))
    data = bytes(rng.getrandbits(8) for _ in range(4 * 37))
    ram.write(0x100, data)
    axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil", bus_separator="__"), dut.clk, dut.rst)
    await axil.write_dword(4, 0x100)
    await axil.write_dword(8, 0x1000 - 8)
    await axil.write_dword(12, 37)
    await axil.write_dword(0, 1)
    await RisingEdge(dut.irq)
    await ClockCycles(dut.clk, 2)
    assert ram.read(0x1000 - 8, len(data)) == data
    assert (await axil.read_dword(0x10)) == 1
