"""Convolution on the accelerator (padding fields and both loop levels): fsim and RTL against
``hwgen.nn.ops.conv2d``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwgen.accel.config import AccelConfig
from hwgen.accel.presets import PRESETS
from hwgen.errors import ProgramError
from hwgen.runtime import FsimDevice
from hwgen.runtime.conv import conv2d, conv_reference

CASES = [  # preset, (H, W, C, K, OC, stride, padding, shift)
    ("tiny", (5, 6, 3, 3, 5, 1, "same", 4)),
    ("tiny", (9, 7, 8, 3, 4, 2, "same", 6)),
    ("tiny", (8, 8, 4, 1, 4, 1, "none", 0)),
    ("tiny", (7, 9, 4, 5, 3, 2, (2, 1, 0, 3), 7)),
    ("tiny", (1, 1, 1, 1, 1, 1, "none", 0)),
    ("tiny", (12, 5, 2, 3, 2, 1, (0, 3, 2, 0), 2)),
    ("default", (32, 32, 64, 3, 64, 1, "same", 10)),
]


@pytest.mark.parametrize("preset,shape", CASES)
def test_conv_fsim_matches_reference(preset, shape):
    cfg = PRESETS[preset]
    h, w, c, k, oc, s, pad, sh = shape
    rng = np.random.default_rng(h * 100 + w * 10 + c)
    x = rng.integers(-128, 128, (h, w, c))
    wt = rng.integers(-128, 128, (k, k, c, oc))
    r = conv2d(FsimDevice(cfg), x, wt, stride=s, padding=pad, shift=sh)
    assert np.array_equal(r.out, conv_reference(cfg, x, wt, stride=s, padding=pad, shift=sh))
    assert r.result.ok and 0 < r.utilization <= 1


def test_conv_utilization_on_default():
    rng = np.random.default_rng(0)
    x, wt = rng.integers(-128, 128, (32, 32, 64)), rng.integers(-128, 128, (3, 3, 64, 64))
    r = conv2d(FsimDevice(PRESETS["default"]), x, wt, padding="same")
    assert r.utilization > 0.85


def test_conv_rtl(simulator, tmp_path):
    from hwgen.accel.cli import make_device
    cfg = PRESETS["tiny"]
    dev = make_device(cfg, simulator, Path(tmp_path))
    rng = np.random.default_rng(1)
    x, wt = rng.integers(-128, 128, (6, 5, 5)), rng.integers(-128, 128, (3, 3, 5, 6))
    r = conv2d(dev, x, wt, stride=2, padding=(1, 2, 1, 0), shift=5)
    assert np.array_equal(r.out, conv_reference(cfg, x, wt, stride=2, padding=(1, 2, 1, 0), shift=5))
    assert r.result.exact_cycles


def test_conv_errors():
    dev = FsimDevice(PRESETS["tiny"])
    x, wt = np.ones((4, 4, 2), int), np.ones((3, 3, 2, 2), int)
    with pytest.raises(ProgramError, match=r"needs x \[H, W, C\] and w \[K, K, C, OC\], not \(4, 4, 2\) and \(3, 3, 3, 2\)"):
        conv2d(dev, x, np.ones((3, 3, 3, 2), int))
    with pytest.raises(ProgramError, match="stride must be an integer in 1..16, not 0"):
        conv2d(dev, x, wt, stride=0)
    with pytest.raises(ProgramError, match=r"padding must be at most 15 per side .* not \(16, 0, 0, 0\)"):
        conv2d(dev, x, wt, padding=(16, 0, 0, 0))
    with pytest.raises(ProgramError, match="kernel 3 does not fit the padded 2x2 input"):
        conv2d(dev, np.ones((2, 2, 2), int), wt, padding="none")
    with pytest.raises(ProgramError, match="does not fit half of the input/accumulator buffers"):
        conv2d(dev, np.ones((4, 60, 2), int), wt)
    with pytest.raises(ProgramError, match=r"x must hold 8-bit signed values"):
        conv2d(dev, x * 200, wt)
    b2 = AccelConfig(batch=2, block_in=4, block_out=4, axi_data_width=32)
    with pytest.raises(ProgramError, match="needs a batch = 1 configuration, not batch 2"):
        conv2d(FsimDevice(b2), x, wt)
