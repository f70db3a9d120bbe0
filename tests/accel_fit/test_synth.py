"""The resource model against Yosys synth_xilinx on a tiny-sized accelerator (one synthesis run).

The config exercises every kind of mapping the model predicts: a micro-op buffer in a RAMB36 with
two 36-bit write lanes, input and output buffers in RAMB18s (the output's 8-bit lanes padded to
9), 128-bit x 64 buffers in LUT RAM, load and store instruction queues of 128 entries in block RAM
(registered reads) and the compute queue in LUT RAM, and the ALU's single 16 x 16 product per
lane with 16-bit accumulators. The run is a full one (ABC's LUT mapping is most of its time), so the
LUT model is checked too: within its stated tolerance, and the LUT RAM it predicts from the memory
mapping. The presets and more variants are compared with full runs by ``bench/accel.py --parts
fit,lut_fit``.
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from hwgen.accel.presets import PRESETS
from hwgen.accel.resources import LUT_TOLERANCE, estimate
from hwgen.accel.rtl import generate
from hwgen.measure import synth_xilinx


@pytest.mark.yosys
@pytest.mark.slow
def test_model_equals_synth_xilinx(tmp_path):
    cfg = replace(PRESETS["tiny"], insn_queue_depth=128, acc_width=16)
    model = estimate(cfg)
    kinds = {m.name: (m.kind, m.ram, m.units) for m in model.memories}
    assert kinds["load_queue"] == ("block", "RAMB36 SDP", 2)        # 122 of 128 bits read
    assert kinds["store_queue"] == ("block", "RAMB36 SDP", 2)
    assert kinds["compute_queue"][0] == "distributed"               # read without a register
    v = generate(cfg, tmp_path / "rtl").verilog
    s = synth_xilinx([v], v.stem)
    assert (s["RAMB36"], s["RAMB18"], s["DSP"]) == (model.ramb36, model.ramb18, model.dsps) == (5, 2, 14)
    assert s["BRAM36"] == model.bram36 == 6
    # LUTs as logic within the model's tolerance (5,404 measured with Yosys 0.70)
    assert abs(model.luts - s["LUT"]) <= LUT_TOLERANCE * s["LUT"], (model.luts, s["LUT"])
    # LUTs as memory: 200 LUT-RAM primitives (RAM32M / RAM64M), four LUTs each
    assert model.lutram_luts == 4 * s["LUTRAM"] == 800
