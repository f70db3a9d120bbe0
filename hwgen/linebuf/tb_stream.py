"""cocotb testbench for the line buffer and the depthwise engine: cocotbext-axi stream source and
sink with random pauses on both sides, frames from a seed, output compared bit for bit with the
golden models of :mod:`hwgen.linebuf.model`.

Parameters (``tb_param``): ``kind`` (``linebuf`` | ``dwconv``), ``config`` (the config as a dict),
``cases`` (list of ``{"frames": [[h, w], ...], "seed", "p_in", "p_out", "activation"}``).
"""
from __future__ import annotations

import itertools
import logging
import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, with_timeout
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

from hwgen.configbase import config_from_dict
from hwgen.linebuf.config import DepthwiseConfig, LineBufferConfig
from hwgen.linebuf.model import depthwise_reference, windows
from hwgen.linebuf.ports import pack_pixels, pack_windows, param_writes
from hwgen.sim.runner import tb_param


def _config():
    cls = DepthwiseConfig if tb_param("kind") == "dwconv" else LineBufferConfig
    return config_from_dict(cls, tb_param("config"))


def _pauses(p: float, seed: int):
    """Random pause pattern: pause with probability ``p`` each cycle (None when p == 0)."""
    if p <= 0:
        return None
    r = random.Random(seed)
    return itertools.cycle([r.random() < p for _ in range(997)])


class Bench:
    """Clock, reset, the AXI-Stream models and the parameter port of one DUT."""

    def __init__(self, dut, cfg):
        self.dut, self.cfg = dut, cfg
        for name in ("s_axis", "m_axis"):    # the models log every frame at INFO
            logging.getLogger(f"cocotb.{dut._name}.{name}").setLevel(logging.WARNING)
        # The testbench reads sizes from the design, so it cannot drift from it.
        assert len(dut.s_axis__tdata) == cfg.beat_width
        out_w = cfg.beat_width if isinstance(cfg, DepthwiseConfig) else cfg.window_width
        assert len(dut.m_axis__tdata) == out_w
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        self.src = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis", bus_separator="__"),
                                   dut.clk, dut.rst, byte_lanes=1)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis", bus_separator="__"),
                                  dut.clk, dut.rst, byte_lanes=1)

    async def reset(self):
        d = self.dut
        d.rst.value = 1
        d.width.value = 1
        d.height.value = 1
        if isinstance(self.cfg, DepthwiseConfig):
            d.param_wr_en.value = 0
        await ClockCycles(d.clk, 3)
        await FallingEdge(d.clk)
        d.rst.value = 0

    async def load_params(self, writes):
        d = self.dut
        for addr, data in writes:
            await FallingEdge(d.clk)
            d.param_wr_en.value = 1
            d.param_wr_addr.value = addr
            d.param_wr_data.value = data
        await FallingEdge(d.clk)
        d.param_wr_en.value = 0

    def errors(self) -> tuple[int, int, int]:
        d = self.dut
        return int(d.err_short_row.value), int(d.err_long_row.value), int(d.err_size.value)


def _expected(cfg, img, layer):
    """Rows of expected output beats for one frame."""
    if isinstance(cfg, DepthwiseConfig):
        w, b, m, s, lo, hi = layer
        y = depthwise_reference(img, w, b, m, s, lo, hi, stride=cfg.stride, padding=cfg.padding,
                                pad_value=cfg.pad_value)
        return pack_pixels(y, cfg.data_width, cfg.channels_per_beat)
    win = windows(img, cfg.kernel, cfg.stride, cfg.padding, cfg.pad_value)
    return pack_windows(win, cfg.data_width, cfg.channels_per_beat)


def _layer(cfg, rng, activation):
    k, c, dw = cfg.kernel, cfg.channels, cfg.data_width
    wmax = 1 << (cfg.weight_width - 1)
    w = rng.integers(-wmax, wmax, size=(k, k, c))
    bmax = 1 << min(cfg.bias_width - 1, dw + cfg.weight_width + 2)
    b = rng.integers(-bmax, bmax, size=c)
    mmax = 1 << (cfg.multiplier_width - 1)
    m = rng.integers(-mmax, mmax, size=c)
    s = rng.integers(0, dw + cfg.weight_width + cfg.multiplier_width, size=c)
    qmin, qmax = -(1 << (dw - 1)), (1 << (dw - 1)) - 1
    lo, hi = {"none": (qmin, qmax), "relu": (0, qmax), "relu6": (0, min(6 * 8, qmax))}[activation]
    return w, b, m, s, lo, hi


@cocotb.test()
async def streams_match_model(dut):
    cfg = _config()
    tb = Bench(dut, cfg)
    await tb.reset()
    dwconv = isinstance(cfg, DepthwiseConfig)
    signed = dwconv
    lo_v = -(1 << (cfg.data_width - 1)) if signed else 0
    hi_v = (1 << (cfg.data_width - 1)) if signed else (1 << cfg.data_width)
    problems = []
    for ci, case in enumerate(tb_param("cases")):
        rng = np.random.default_rng(case["seed"])
        for model, p, seed in ((tb.src, case.get("p_in", 0), case["seed"]),
                               (tb.sink, case.get("p_out", 0), case["seed"] + 1)):
            model.set_pause_generator(_pauses(p, seed))
            if p <= 0:
                model.pause = False      # a killed generator leaves its last value behind
        layer = None
        if dwconv:
            layer = _layer(cfg, rng, case.get("activation", "none"))
            await tb.load_params(param_writes(cfg, *layer))
        frames = [rng.integers(lo_v, hi_v, size=(h, w, cfg.channels)) for h, w in case["frames"]]
        expect = [row for img in frames for row in _expected(cfg, img, layer)]

        async def receive():
            got = []
            for _ in expect:
                f = await tb.sink.recv(compact=False)
                got.append((list(f.tdata), list(f.tuser)))
            return got

        rx = cocotb.start_soon(receive())
        size = None
        for img in frames:
            h, w = img.shape[:2]
            if size != (h, w):
                await tb.src.wait()          # a new size is set between frames, while idle
                dut.height.value, dut.width.value = h, w
                size = (h, w)
            for row in pack_pixels(img, cfg.data_width, cfg.channels_per_beat):
                tb.src.send_nowait(AxiStreamFrame(tdata=row))
        budget = (200 * (sum(h * w for h, w in case["frames"]) + 50)
                  * (cfg.groups if dwconv else cfg.beats_per_pixel))
        got = await with_timeout(rx, budget * 10, "ns")
        # Rows of each frame: tuser marks a frame's first output only.
        first_rows, n = set(), 0
        for img in frames:
            first_rows.add(n)
            n += len(_expected(cfg, img, layer))
        for ri, (row, (data, user)) in enumerate(zip(expect, got)):
            if data != row:
                bad = next(i for i, (a, b) in enumerate(zip(data + [None] * len(row), row)) if a != b)
                problems.append(f"case {ci} output row {ri}: beat {bad} differs "
                                f"({len(data)} beats, expected {len(row)})")
            want_user = [1 if (ri in first_rows and i == 0) else 0 for i in range(len(row))]
            if user != want_user:
                problems.append(f"case {ci} output row {ri}: tuser {user} != {want_user}")
        if tb.errors() != (0, 0, 0):
            problems.append(f"case {ci}: error flags {tb.errors()}")
        assert tb.sink.empty(), f"case {ci}: more outputs than the model"
    assert not problems, "; ".join(problems[:8])


@cocotb.test()
async def bad_rows_raise_sticky_errors(dut):
    """A short row (TLAST early) and a long row (no TLAST) each set their own sticky flag; a size
    out of range sets err_size; nothing clears them but reset."""
    cfg = _config()
    tb = Bench(dut, cfg)
    await tb.reset()
    h, w = min(3, cfg.max_height), min(4, cfg.max_width)
    nb = cfg.beats_per_pixel
    # Accepted beats may wait in the input register slice while the engine works on a pixel.
    settle = 4 * (cfg.groups if isinstance(cfg, DepthwiseConfig) else nb) + 4
    dut.height.value, dut.width.value = h, w
    row = list(range(1, w * nb + 1))       # one row of beats
    # Good frame first: no flag.
    for _ in range(h):
        tb.src.send_nowait(AxiStreamFrame(tdata=row))
    await tb.src.wait()
    await ClockCycles(dut.clk, 4)
    assert tb.errors() == (0, 0, 0)
    if len(row) > 1:
        tb.src.send_nowait(AxiStreamFrame(tdata=row[:-1]))       # TLAST one beat early
        await tb.src.wait()
        await ClockCycles(dut.clk, settle)
        assert tb.errors() == (1, 0, 0), tb.errors()
    tb.src.send_nowait(AxiStreamFrame(tdata=row + row[:1]))       # no TLAST on the last pixel
    await tb.src.wait()
    await ClockCycles(dut.clk, settle)
    assert tb.errors()[1] == 1, tb.errors()
    # Sticky: more good rows change nothing.
    for _ in range(2 * h):
        tb.src.send_nowait(AxiStreamFrame(tdata=row))
    await tb.src.wait()
    await ClockCycles(dut.clk, 4 * w * h)
    assert tb.errors()[:2] == (1 if len(row) > 1 else 0, 1), tb.errors()
    assert tb.errors()[2] == 0
    await tb.reset()
    assert tb.errors() == (0, 0, 0)
    # Width 0 is out of range: flagged (and clamped to 1).
    dut.width.value, dut.height.value = 0, 1
    tb.src.send_nowait(AxiStreamFrame(tdata=[7] * nb))
    await tb.src.wait()
    await ClockCycles(dut.clk, 8)
    assert tb.errors()[2] == 1, tb.errors()
