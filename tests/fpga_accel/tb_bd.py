"""cocotb: the accelerator through its Vivado block-design wrapper (aclk, aresetn, irq, m_axi_*,
s_axi_control_*), driven by the board driver itself: ``hwgen.runtime.PynqDevice`` runs with a
``pynq`` stand-in whose MMIO is a cocotbext-axi AxiLiteMaster on ``s_axi_control`` and whose
contiguous buffer is copied into a cocotbext-axi AxiRam on ``m_axi`` at flush() and back at
invalidate(), the cache maintenance a Zynq needs around a run."""
from __future__ import annotations

import random

import cocotb
import numpy as np
from cocotb.task import bridge, resume
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam

from hwgen.accel import isa
from hwgen.accel.config import AccelConfig
from hwgen.configbase import config_from_dict
from hwgen.errors import DeviceError
from hwgen.runtime import PynqDevice, matmul, reference
from hwgen.sim.runner import tb_param

CTRL_BASE = 0x4000_0000


class SimPynq:
    """The three ``pynq`` names PynqDevice uses, backed by the simulated wrapper."""

    def __init__(self, dut, axil, ram, window_base, ip_name):
        self.log: list[tuple] = []
        fake = self
        read, write = resume(axil.read_dword), resume(axil.write_dword)

        class Buf(np.ndarray):
            def flush(self):
                fake.log.append(("flush",))
                ram.write(self.device_address, bytes(np.asarray(self)))

            def invalidate(self):
                fake.log.append(("invalidate",))
                self[:] = np.frombuffer(ram.read(self.device_address, self.size), np.uint8)

            def freebuffer(self):
                fake.log.append(("free",))

        def allocate(shape, dtype):
            buf = np.zeros(shape, dtype).view(Buf)
            buf.device_address = window_base
            return buf

        class Overlay:
            def __init__(self, bitfile):
                self.ip_dict = {ip_name: {"phys_addr": CTRL_BASE, "addr_range": 1 << 16}}

        class MMIO:
            def __init__(self, base, rng):
                fake.log.append(("mmio", base, rng))
                self.base = base

            def read(self, off):
                return read(off)

            def write(self, off, val):
                fake.log.append(("w", off, val))
                write(off, val)

        self.Overlay, self.MMIO, self.allocate = Overlay, MMIO, allocate


async def _setup(dut):
    cocotb.start_soon(Clock(dut.aclk, 10, unit="ns", impl="gpi").start())
    dut.aresetn.value = 0
    await ClockCycles(dut.aclk, 4)
    dut.aresetn.value = 1
    await ClockCycles(dut.aclk, 1)
    axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi_control"), dut.aclk, dut.aresetn,
                         reset_active_level=False)
    base, window = tb_param("window_base"), tb_param("window_bytes")
    ram = AxiRam(AxiBus.from_prefix(dut, "m_axi"), dut.aclk, dut.aresetn, reset_active_level=False,
                 size=base + window)
    rng = random.Random(tb_param("seed"))
    p = tb_param("pause")
    for ch in (ram.write_if.aw_channel, ram.write_if.w_channel, ram.write_if.b_channel,
               ram.read_if.ar_channel, ram.read_if.r_channel):
        ch.set_pause_generator(iter(lambda: rng.random() < p, None))
    return axil, ram


def _device(dut, fake, config):
    async def cycles(n):
        await ClockCycles(dut.aclk, n)
    dev = PynqDevice(config, "hwgen_accel.bit", window_bytes=tb_param("window_bytes"),
                     pynq_module=fake)
    dev.timeout_s = 300.0                      # wall seconds: the simulator is slower than a board
    dev.wait = lambda s: resume(cycles)(64)    # poll STATUS every 64 clocks of simulated time
    return dev


@cocotb.test()
async def identity_registers(dut):
    """HW_ID and CFG_ID read through s_axi_control; irq low; the AXI4 signals the core does not
    drive are tied off in the wrapper."""
    config = config_from_dict(AccelConfig, tb_param("config"))
    axil, _ram = await _setup(dut)
    assert await axil.read_dword(isa.REG["HW_ID"]) == isa.HW_ID
    assert await axil.read_dword(isa.REG["CFG_ID"]) == isa.cfg_id(config)
    assert int(dut.irq.value) == 0
    for sig, want in (("m_axi_awlock", 0), ("m_axi_arlock", 0), ("m_axi_awqos", 0), ("m_axi_arqos", 0)):
        assert int(getattr(dut, sig).value) == want, sig


@cocotb.test()
async def pynq_device_matmul(dut):
    """PynqDevice picks the IP by its hwgen_accel prefix, checks the identity registers and runs
    a tiled matmul end to end through the wrapper; the result equals numpy's; irq rose."""
    config = config_from_dict(AccelConfig, tb_param("config"))
    axil, ram = await _setup(dut)
    fake = SimPynq(dut, axil, ram, tb_param("window_base"), "hwgen_accel_0")
    m, k, n = tb_param("shape")
    rng = np.random.default_rng(tb_param("seed"))
    a, b = rng.integers(-128, 128, (m, k)), rng.integers(-128, 128, (k, n))
    irq_seen = []

    async def watch_irq():
        while True:
            await ClockCycles(dut.aclk, 1)
            if int(dut.irq.value):
                irq_seen.append(True)
                return
    cocotb.start_soon(watch_irq())

    def host():
        dev = _device(dut, fake, config)
        r = matmul(dev, a, b, shift=tb_param("shift"))
        dev.close()
        return r
    r = await bridge(host)()
    assert np.array_equal(r.out, reference(config, a, b, tb_param("shift")))
    assert r.result.ok and r.result.exact_cycles and r.result.counters["gemm_uops"] > 0
    assert irq_seen and int(dut.irq.value) == 1
    assert ("flush",) in fake.log and fake.log[-2:] == [("invalidate",), ("free",)]
    assert fake.log[0] == ("mmio", CTRL_BASE, 1 << 16)


@cocotb.test()
async def pynq_device_network(dut):
    """A compiled network runs on the board driver: NetworkRunner over PynqDevice through the
    wrapper, one START per frame; every layer's map equals the golden model."""
    from hwgen.compiler import compile_network
    from hwgen.nn import model as golden
    from hwgen.runtime.network import NetworkRunner
    from tests.accel_rtl.test_network import MICRO
    from tests.compiler.netgen import quantized
    config = config_from_dict(AccelConfig, tb_param("config"))
    axil, ram = await _setup(dut)
    fake = SimPynq(dut, axil, ram, tb_param("window_base"), "hwgen_accel_0")
    cn, fitted = compile_network(quantized(MICRO), config)
    img = golden.test_images(fitted, 1, tb_param("seed"))[0]

    def host():
        dev = _device(dut, fake, config)
        runner = NetworkRunner(dev, cn)
        res = runner.run(img)
        runner.close()
        dev.close()
        return res
    res = await bridge(host)()
    for name, want in golden.forward(fitted, img).items():
        assert np.array_equal(res.maps[name], want), name
    assert len(res.runs) == 1 and res.runs[0][1].ok and res.exact_cycles


@cocotb.test()
async def wrong_config_is_refused(dut):
    """A driver configured for another accelerator reads the hardware's CFG_ID and refuses."""
    config = config_from_dict(AccelConfig, tb_param("config"))
    other = AccelConfig(**{**tb_param("config"), "acc_depth": config.acc_depth * 2})
    axil, ram = await _setup(dut)
    fake = SimPynq(dut, axil, ram, tb_param("window_base"), "hwgen_accel_0")

    def host():
        try:
            _device(dut, fake, other)
        except DeviceError as e:
            return str(e)
        return None
    msg = await bridge(host)()
    assert msg is not None and "(wrong bitstream?)" in msg and other.slug in msg, msg
