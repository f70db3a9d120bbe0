"""hwgen.accel.resources: the block-RAM and DSP model of the accelerator, against Yosys synth_xilinx."""
from __future__ import annotations

from dataclasses import replace

import pytest

from hwgen.accel.presets import PRESETS
from hwgen.accel.resources import Resources, estimate, map_memory, memories
from hwgen.errors import ConfigError

TINY = PRESETS["tiny"]

#: synth_xilinx -family xc7 of each preset (full runs, bench/accel.py --parts fit):
#: RAMB36, RAMB18, DSP48E1; the model must give the same
MEASURED = {"tiny": (1, 2, 18), "default": (59, 0, 162), "pynq-z2": (118, 0, 162),
            "ultra96": (172, 0, 322)}


@pytest.mark.parametrize("name", list(MEASURED))
def test_presets_equal_synthesis(name):
    r = estimate(PRESETS[name])
    assert (r.ramb36, r.ramb18, r.dsps) == MEASURED[name]
    assert r.bram36 == r.ramb36 + r.ramb18 / 2


def test_presets_parts():
    r = estimate(PRESETS["pynq-z2"])
    assert r.dsp_parts == {"gemm": 128, "alu": 32, "fetch": 2}   # 256 MACs, two per DSP
    assert r.macs_per_dsp == 2.0
    assert {m.name: m.bram36 for m in r.memories if m.bram36} == {"uop": 6, "inp": 8, "wgt": 64, "acc0": 16,
                                                      "acc1": 16, "out": 8}
    t = estimate(TINY)
    kinds = {m.name: m.kind for m in t.memories}
    # 128-bit x 64 entries are cheaper in LUT RAM (as Yosys maps them), 32 x 128 in a RAMB18
    assert kinds == {"uop": "block", "inp": "block", "wgt": "distributed", "acc0": "distributed",
                     "acc1": "distributed", "out": "block", "load_queue": "distributed",
                     "compute_queue": "distributed", "store_queue": "distributed"}


def test_dsp_options():
    c = PRESETS["default"]
    assert estimate(c).dsp_parts["gemm"] == 128
    assert estimate(c, dsp_packing=False).dsp_parts["gemm"] == 256
    assert estimate(c, hard_mults=112).dsp_parts["gemm"] == 112
    assert estimate(c, hard_mults=0).dsps == 32 + 2
    assert estimate(c, hard_mults=1000).dsp_parts["gemm"] == 128
    # adder options change no RAM or DSP
    assert estimate(c, adder_arch="sklansky", adder_style="asic") == estimate(c)
    wide = replace(c, input_width=16, weight_width=16)           # 16-bit: no packing
    assert estimate(wide).dsp_parts["gemm"] == 256
    acc16 = replace(TINY, acc_width=16)                          # one ALU product per lane
    assert estimate(acc16).dsp_parts["alu"] == 4


def test_buffers_scale():
    base = estimate(PRESETS["pynq-z2"])
    big = estimate(replace(PRESETS["pynq-z2"], wgt_depth=2048))
    assert big.bram36 - base.bram36 == 64                       # 2048 x 2048 bits more
    # a 36-kbit block holds 512 x 72: every write lane of 64 bits takes 72
    assert map_memory("m", 128, 512, (64, 64)).bram36 == 2
    assert map_memory("m", 128, 512).bram36 == 2
    # 32 bits x 2048 in 9-bit-wide blocks: 4 RAMB36 (4096 x 9 each)
    m = map_memory("m", 32, 2048)
    assert (m.kind, m.ramb36, m.ramb18) == ("block", 2, 0)


def test_small_memories():
    assert map_memory("m", 1, 2).kind == "ff"                   # 2 bits: flip-flops
    lut = map_memory("m", 64, 32)
    assert (lut.kind, lut.bram36) == ("distributed", 0)
    assert map_memory("m", 36, 512).ramb18 == 1


def test_memories_list():
    names = [m[0] for m in memories(TINY)]
    assert names == ["uop", "inp", "wgt", "acc0", "acc1", "out", "load_queue", "compute_queue",
                     "store_queue"]
    uop = memories(TINY)[0]
    assert uop[1:] == (64, 256, (32, 32), {"used": 48})         # 32-bit beats; 16 bits unread


def test_errors():
    with pytest.raises(TypeError, match="estimate needs an AccelConfig, not dict"):
        estimate({})
    with pytest.raises(TypeError, match="estimate hard_mults must be an int or None, not str"):
        estimate(TINY, hard_mults="4")
    with pytest.raises(ConfigError, match="estimate hard_mults must be at least 0, not -1"):
        estimate(TINY, hard_mults=-1)
    with pytest.raises(ConfigError, match=r"map_memory lanes must be positive and sum to the "
                                          r"width 32, not \(16, 8\)"):
        map_memory("m", 32, 64, (16, 8))


def test_to_dict():
    d = estimate(TINY).to_dict()
    assert (d["bram36"], d["dsps"]) == (2.0, 18)
    assert d["memories"][0] == {"name": "uop", "width": 64, "depth": 256, "kind": "block",
                                "ram": "RAMB36 SDP", "units": 1, "bram36": 1.0}
    assert isinstance(estimate(TINY), Resources)
