"""Randomized tests in Amaranth's own simulator (fast, no HDL simulator): many generation-time
configurations, frames back to back whose sizes change right at the frame boundary (ports set
with the first pixel), random gaps on the input and backpressure on the output. Outputs are
compared bit for bit with the golden models."""
from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwgen.linebuf.config import DepthwiseConfig, LineBufferConfig
from hwgen.linebuf.model import depthwise_reference, windows
from hwgen.linebuf.ports import pack_pixels, pack_windows, param_writes
from hwgen.linebuf.rtl import DepthwiseConv, LineBuffer


def _simulate(dut, cfg, frames, p_in, p_out, seed, writes=()):
    """Stream ``frames`` through ``dut``; return the received (tdata, tlast, tuser) beats."""
    rng = random.Random(seed)
    beats = []
    for img in frames:
        h, w = img.shape[:2]
        for row in pack_pixels(img, cfg.data_width, cfg.channels_per_beat):
            beats += [(v, x == len(row) - 1, h, w) for x, v in enumerate(row)]
    outs = []

    async def bench(ctx):
        for addr, data in writes:
            ctx.set(dut.param_wr_en, 1)
            ctx.set(dut.param_wr_addr, addr)
            ctx.set(dut.param_wr_data, data)
            await ctx.tick()
        if writes:
            ctx.set(dut.param_wr_en, 0)
        i, idle = 0, 0
        while idle < 40 * (cfg.max_width + 4) * getattr(cfg, "groups", cfg.beats_per_pixel):
            valid = i < len(beats) and rng.random() < p_in
            if i < len(beats):
                v, last, h, w = beats[i]
                ctx.set(dut.height, h)
                ctx.set(dut.width, w)
                ctx.set(dut.s_axis.tdata, v)
                ctx.set(dut.s_axis.tlast, last)
            ctx.set(dut.s_axis.tvalid, valid)
            ready = rng.random() < p_out
            ctx.set(dut.m_axis.tready, ready)
            if ctx.get(dut.m_axis.tvalid) and ready:
                outs.append((ctx.get(dut.m_axis.tdata), ctx.get(dut.m_axis.tlast),
                             ctx.get(dut.m_axis.tuser)))
                idle = 0
            if valid and ctx.get(dut.s_axis.tready):
                i += 1
            idle += i >= len(beats)
            await ctx.tick()
        assert (ctx.get(dut.err_short_row), ctx.get(dut.err_long_row), ctx.get(dut.err_size)) == (0, 0, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return outs


def _check(outs, expected_rows):
    want = []
    for f, rows in enumerate(expected_rows):
        for r, row in enumerate(rows):
            want += [(v, int(x == len(row) - 1), int(r == 0 and x == 0)) for x, v in enumerate(row)]
    assert len(outs) == len(want)
    for n, (got, exp) in enumerate(zip(outs, want)):
        assert got == exp, f"output {n}: {got} != {exp}"


def _random_frames(rs, cfg, n):
    frames = []
    for _ in range(n):
        h, w = int(rs.integers(1, cfg.max_height + 1)), int(rs.integers(1, cfg.max_width + 1))
        r = rs.random()
        if frames and r < 0.3:
            h, w = frames[-1].shape[:2]          # same size: frames overlap at full rate
        elif frames and r < 0.7:
            w = frames[-1].shape[1]              # same width, new height
        frames.append(rs.integers(0, 1 << cfg.data_width, size=(h, w, cfg.channels)))
    return frames


@pytest.mark.parametrize("seed", range(6))
def test_linebuffer_random_configs(seed):
    rs = np.random.default_rng(seed)
    for trial in range(25):
        k = int(rs.integers(1, 8))
        if rs.random() < 0.4:
            t, l = int(rs.integers(0, k)), int(rs.integers(0, k))
            pad = (t, int(rs.integers(0, k - t)), l, int(rs.integers(0, k - l)))
        else:
            pad = str(rs.choice(["none", "same"]))
        c = int(rs.choice([2, 3, 4]))
        splits = [None] + [q for q in (1, 2) if c % q == 0]
        cpb = splits[int(rs.integers(0, len(splits)))]
        cfg = LineBufferConfig(kernel=k, stride=int(rs.integers(1, 3)), padding=pad,
                               pad_value=int(rs.integers(0, 16)), max_width=int(rs.integers(1, 9)),
                               max_height=int(rs.integers(1, 9)), channels=c, data_width=4,
                               channels_per_beat=cpb)
        frames = _random_frames(rs, cfg, int(rs.integers(1, 5)))
        outs = _simulate(LineBuffer(cfg), cfg, frames, float(rs.choice([1.0, 0.7])),
                         float(rs.choice([1.0, 0.6])), seed * 100 + trial)
        _check(outs, [pack_windows(windows(f, k, cfg.stride, pad, cfg.pad_value), 4, cpb)
                      for f in frames])


@pytest.mark.parametrize("seed", range(3))
def test_depthwise_random_configs(seed):
    rs = np.random.default_rng(100 + seed)
    for trial in range(5):
        c = int(rs.choice([1, 2, 3, 4, 6]))
        splits = [None] + [q for q in (1, 2, 3) if c % q == 0 and q < c]
        cpb = splits[int(rs.integers(0, len(splits)))]
        bc = cpb or c
        p = int(rs.choice([q for q in (1, 2, 4, bc) if bc % q == 0
                           and (q & (q - 1) == 0 or q == c)]))
        k = int(rs.integers(1, 5))
        cfg = DepthwiseConfig(kernel=k, stride=int(rs.integers(1, 3)),
                              padding=str(rs.choice(["same", "none"])), max_width=7, max_height=6,
                              channels=c, channels_per_cycle=p, data_width=8, weight_width=8,
                              bias_width=20, multiplier_width=12, channels_per_beat=cpb)
        frames = [f - 128 for f in _random_frames(rs, cfg, 2)]
        w = rs.integers(-128, 128, size=(k, k, c))
        b, m = rs.integers(-5000, 5000, size=c), rs.integers(-2048, 2048, size=c)
        s = rs.integers(0, 24, size=c)
        lo, hi = int(rs.choice([-128, 0])), int(rs.choice([127, 48]))
        outs = _simulate(DepthwiseConv(cfg), cfg, frames, float(rs.choice([1.0, 0.7])),
                         float(rs.choice([1.0, 0.5])), seed * 10 + trial,
                         writes=param_writes(cfg, w, b, m, s, lo, hi))
        _check(outs, [pack_pixels(depthwise_reference(f, w, b, m, s, lo, hi, stride=cfg.stride,
                                                      padding=cfg.padding), 8, cpb) for f in frames])


def test_depthwise_requantization_extremes():
    """Widest operands at their extremes and shifts 0, 1, 62 and 63: the pipelined requantizer
    (partial products, shift by s-1, then the rounding bit) equals hwgen.nn.quant bit for bit."""
    # (acc + bias) x multiplier takes 33 + 30 = 63 bits, the widest the int64 model holds.
    cfg = DepthwiseConfig(kernel=1, stride=1, padding="none", max_width=4, max_height=4, channels=8,
                          channels_per_cycle=4, data_width=8, weight_width=16, bias_width=32,
                          multiplier_width=30)
    rs = np.random.default_rng(7)
    w = np.array([[[-(1 << 15), (1 << 15) - 1, -1, 1, -(1 << 15), (1 << 15) - 1, 0, 3]]])
    b = np.array([-(1 << 31), (1 << 31) - 1, 0, -1, (1 << 31) - 1, -(1 << 31), 5, -5])
    m = np.array([-(1 << 29), (1 << 29) - 1, -(1 << 29), (1 << 29) - 1, 1, -1, 0, -(1 << 29)])
    s = np.array([0, 63, 62, 1, 63, 0, 1, 62])
    lo, hi = -128, 127
    frames = [rs.choice([-128, 127, -1, 0, 1], size=(4, 4, 8)) for _ in range(2)]
    outs = _simulate(DepthwiseConv(cfg), cfg, frames, 1.0, 0.7, 1,
                     writes=param_writes(cfg, w, b, m, s, lo, hi))
    _check(outs, [pack_pixels(depthwise_reference(f, w, b, m, s, lo, hi, stride=1, padding="none"),
                              8) for f in frames])


def test_depthwise_pad_value():
    """A non-zero (negative) pad value on explicit, uneven padding: the engine pads with it exactly
    as the golden model does (the random configurations above pad with 0 only)."""
    cfg = DepthwiseConfig(kernel=3, stride=1, padding=(1, 1, 2, 0), pad_value=-5, max_width=5,
                          max_height=4, channels=2, channels_per_cycle=2, data_width=8, weight_width=8,
                          bias_width=20, multiplier_width=12)
    rs = np.random.default_rng(3)
    frames = [rs.integers(-128, 128, size=(4, 5, 2)), rs.integers(-128, 128, size=(3, 2, 2))]
    w = rs.integers(-128, 128, size=(3, 3, 2))
    b, m, s = np.array([10, -10]), np.array([1000, 1500]), np.array([10, 11])
    outs = _simulate(DepthwiseConv(cfg), cfg, frames, 1.0, 0.7, 1,
                     writes=param_writes(cfg, w, b, m, s, -128, 127))
    want = [depthwise_reference(f, w, b, m, s, -128, 127, stride=1, padding=cfg.padding, pad_value=-5)
            for f in frames]
    assert not np.array_equal(want[0], depthwise_reference(frames[0], w, b, m, s, -128, 127, stride=1,
                                                           padding=cfg.padding, pad_value=0))
    _check(outs, [pack_pixels(y, 8) for y in want])
