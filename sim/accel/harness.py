"""The cocotb side of :class:`hwgen.runtime.rtl_device.RtlDevice`: runs a list of jobs (programs)
on one simulator process, Python only at the edges of each run.

Job file (JSON, path in the ``jobs`` testbench parameter): a list of objects with ``in_hex`` (DRAM
image words for ``$readmemh``, or null to keep memory as it is), ``out_hex``, ``dump_lo``/``dump_hi``
(word range written back), ``regs`` (register name -> value, written before START), ``bp_level``,
``bp_seed``, ``chk_lo``/``chk_hi`` (bytes the accelerator may touch) and ``timeout_cycles``.
Results (JSON list, path in ``results``): ``err_code``, ``err_insn``, ``status``, ``tokens``,
``counters``, ``violation`` (an access outside ``chk`` was issued), ``timeout``.

With ``"ext_mem": true`` a job runs against a cocotbext-axi ``AxiRam`` instead of the HDL memory
model (Python then serves every AXI beat, so it is for short programs): its image is written into
the RAM at ``mem_base``, every AXI channel gets a random pause generator (probability
``bp_level/16``), and the RAM is read back into ``out_hex``.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, First, RisingEdge, Timer
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam

from hwgen.accel import isa
from hwgen.sim.runner import tb_param

PERIOD_NS = 10


async def _pulse(dut, sig):
    await FallingEdge(dut.clk)
    sig.value = 1
    await FallingEdge(dut.clk)
    sig.value = 0


@cocotb.test()
async def run_jobs(dut):
    jobs = json.loads(open(tb_param("jobs")).read())
    results = []
    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns", impl="gpi").start())
    for s in ("ext_mem", "mem_load", "mem_dump", "bp_level", "bp_seed", "chk_lo"):
        getattr(dut, s).value = 0
    dut.mem_base.value = tb_param("mem_base", 0)
    dut.chk_hi.value = (1 << len(dut.chk_hi)) - 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil", bus_separator="__"), dut.clk, dut.rst)
    names = [n for n, _e, _d in isa.COUNTERS]
    ram = None
    mem_base = tb_param("mem_base", 0)
    for job in jobs:
        ext = bool(job.get("ext_mem"))
        dut.ext_mem.value = int(ext)
        if ext:
            from hwgen.sim.accel.memimage import read_hex, write_hex
            B = len(dut.m_axi__wdata) // 8
            if ram is None:
                ram = AxiRam(AxiBus.from_prefix(dut, "m_axi", bus_separator="__"), dut.clk, dut.rst,
                             size=mem_base + tb_param("mem_bytes"))
            words = job["dump_hi"] + 1
            ram.write(mem_base, read_hex(job["in_hex"], B, words))
            rng = random.Random(job.get("bp_seed", 1))
            p = job.get("bp_level", 0) / 16
            for ch in (ram.write_if.aw_channel, ram.write_if.w_channel, ram.write_if.b_channel,
                       ram.read_if.ar_channel, ram.read_if.r_channel):
                ch.set_pause_generator(iter(lambda: rng.random() < p, None))
        elif job.get("in_hex"):
            shutil.copyfile(job["in_hex"], "hwgen_dram_in.hex")
            await _pulse(dut, dut.mem_load)
        await FallingEdge(dut.clk)
        dut.bp_level.value = job.get("bp_level", 0)
        dut.bp_seed.value = job.get("bp_seed", 1)
        dut.chk_lo.value = job.get("chk_lo", 0)
        dut.chk_hi.value = job.get("chk_hi", (1 << len(dut.chk_hi)) - 1)
        # one reset pulse restarts the LFSRs with the new seed and clears the memory model's flags
        dut.rst.value = 1
        await ClockCycles(dut.clk, 2)
        dut.rst.value = 0
        await ClockCycles(dut.clk, 1)
        for name, value in job["regs"].items():
            await axil.write_dword(isa.REG[name], value & 0xFFFF_FFFF)
        t0 = time.perf_counter()
        await axil.write_dword(isa.REG["CTRL"], 1)
        timeout = job.get("timeout_cycles", 10_000_000)
        if not int(dut.irq.value):
            await First(RisingEdge(dut.irq), Timer(timeout * PERIOD_NS, unit="ns"))
        wall = time.perf_counter() - t0
        res = {"timeout": not int(dut.irq.value), "wall_s": wall}
        for reg in ("STATUS", "ERR_CODE", "ERR_INSN", "TOKENS"):
            res[reg.lower()] = await axil.read_dword(isa.REG[reg])
        res["counters"] = {}
        for n in names:
            res["counters"][n] = await axil.read_dword(isa.REG[n.upper()])
        res["violation"] = int(dut.violation.value)
        res["read_beats"] = int(dut.read_beats.value)
        res["write_beats"] = int(dut.write_beats.value)
        if ext:
            write_hex("hwgen_dram_out.hex", ram.read(mem_base, (job["dump_hi"] + 1) * B), B)
            os.replace("hwgen_dram_out.hex", job["out_hex"])
        elif job.get("out_hex"):
            await FallingEdge(dut.clk)
            dut.dump_lo.value = job["dump_lo"]
            dut.dump_hi.value = job["dump_hi"]
            await _pulse(dut, dut.mem_dump)
            await ClockCycles(dut.clk, 1)
            os.replace("hwgen_dram_out.hex", job["out_hex"])
        results.append(res)
        if res["timeout"]:
            break
    with open(tb_param("results"), "w") as fh:
        json.dump(results, fh)
