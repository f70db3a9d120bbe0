"""Yosys infers the line memory as exactly (K-1) x W x C x B bits (one memory, no copies).

``memory_unpack`` turns Yosys's ``$mem_v2`` cells back into memories, which ``stat`` counts."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from hwgen.linebuf.config import LineBufferConfig
from hwgen.linebuf.rtl import generate
from hwgen.measure import run_yosys


@pytest.fixture
def yosys_tmp(monkeypatch):
    # YoWASP Yosys cannot open files under /tmp on these machines; work under the user's cache.
    root = Path.home() / ".cache" / "hwgen" / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    with tempfile.TemporaryDirectory(prefix="hwgen-test-linebuf-") as tmp:
        yield Path(tmp)


@pytest.mark.parametrize("cfg", [
    LineBufferConfig(kernel=3, padding="same", max_width=40, max_height=8, channels=3, data_width=8),
    LineBufferConfig(kernel=5, stride=2, padding="none", max_width=17, max_height=9, channels=2,
                     data_width=5),
    LineBufferConfig(kernel=1, padding="none", max_width=8, max_height=8, channels=2, data_width=8),
    # A pixel in three beats: a 3x deeper, 3x narrower memory of the same size.
    LineBufferConfig(kernel=3, padding="same", max_width=10, max_height=8, channels=6,
                     channels_per_beat=2, data_width=8),
], ids=lambda c: c.slug)
def test_line_memory_bits(yosys_tmp, cfg):
    exp = generate(cfg, yosys_tmp / "v")
    top = exp.verilog.stem
    sj = yosys_tmp / "stat.json"
    run_yosys(f"read_verilog -sv {exp.verilog}\nhierarchy -top {top}\nproc\nflatten\nopt -fast\n"
              f"memory -nomap\nmemory_unpack\nopt -fast\ntee -q -o {sj} stat -json\n")
    mod = json.loads(sj.read_text())["design"]
    assert int(mod.get("num_memory_bits", 0)) == cfg.memory_bits
    assert int(mod.get("num_memories", 0)) == (1 if cfg.kernel > 1 else 0)
