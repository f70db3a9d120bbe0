"""cocotb testbench that measures cycles with a full-rate input and no backpressure: frames of
``height x width`` pixels (``beats_per_pixel`` beats each) streamed back to back (drivers set directly, no Python per-beat models), then
a single frame. Writes the cycle counts to ``cycles.json`` in the test folder."""
from __future__ import annotations

import json
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge

from hwgen.sim.runner import tb_param


async def _stream(dut, h, w, frames, limit):
    """Drive ``frames`` frames at full rate; return (cycle of the first accepted pixel, [cycle of
    each frame's last output], [cycle of each frame's first output]). Values are read and driven
    at the falling edge, for the handshake at the next rising edge (``tready`` does not depend on
    ``tvalid``)."""
    nb = tb_param("beats_per_pixel", 1)
    total = frames * h * w * nb
    sent, cyc, t0 = 0, 0, None
    lasts, firsts = [], []
    outs_per_frame = tb_param("outs_per_frame")
    n_out = 0
    while cyc < limit and len(lasts) < frames:
        await FallingEdge(dut.clk)
        if sent < total:
            dut.s_axis__tvalid.value = 1
            dut.s_axis__tlast.value = 1 if sent % (w * nb) == w * nb - 1 else 0
            dut.s_axis__tdata.value = sent & 0xFF
            if int(dut.s_axis__tready.value):
                t0 = cyc if t0 is None else t0
                sent += 1
        else:
            dut.s_axis__tvalid.value = 0
        if int(dut.m_axis__tvalid.value):
            if n_out % outs_per_frame == 0:
                firsts.append(cyc)
            n_out += 1
            if n_out % outs_per_frame == 0:
                lasts.append(cyc)
        cyc += 1
    return t0, lasts, firsts


@cocotb.test()
async def measure_cycles(dut):
    h, w, frames = tb_param("height"), tb_param("width"), tb_param("frames")
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.m_axis__tready.value = 1
    dut.s_axis__tvalid.value = 0
    dut.rst.value = 1
    dut.width.value, dut.height.value = w, h
    if hasattr(dut, "param_wr_en"):
        dut.param_wr_en.value = 0
    await ClockCycles(dut.clk, 3)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    limit = (frames + 2) * (h * w * tb_param("cycles_per_pixel") + 4 * w + 64)
    t0, lasts, firsts = await _stream(dut, h, w, frames, limit)
    assert len(lasts) == frames, f"only {len(lasts)} of {frames} frames came out"
    await ClockCycles(dut.clk, 2 * w + 20)
    t1, lasts1, _ = await _stream(dut, h, w, 1, limit)
    result = {"back_to_back_first_in": t0, "back_to_back_last_out": lasts,
              "back_to_back_first_out": firsts,
              "periods": [b - a for a, b in zip(lasts, lasts[1:])],
              "single_latency_last": lasts1[0] - t1 + 1,
              "errors": [int(dut.err_short_row.value), int(dut.err_long_row.value),
                         int(dut.err_size.value)]}
    Path(tb_param("out")).write_text(json.dumps(result))
