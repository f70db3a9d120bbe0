"""cocotb test for the tiny adder: random vectors against Python's +."""
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

from hwgen.sim.runner import tb_param


@cocotb.test()
async def adds(dut):
    width = tb_param("width")
    assert len(dut.a) == width
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    await RisingEdge(dut.clk)
    dut.rst.value = 0
    rng = random.Random(1)
    for _ in range(50):
        a, b = rng.getrandbits(width), rng.getrandbits(width)
        dut.a.value, dut.b.value = a, b
        await RisingEdge(dut.clk)
        await FallingEdge(dut.clk)
        assert int(dut.s.value) == a + b
