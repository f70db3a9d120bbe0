"""The AXI DMA blocks and the HDL-side memory model, through a copy engine (Icarus, Verilator)."""
from pathlib import Path

import numpy as np
import pytest

from hwgen.export import export_verilog
from hwgen.sim import runner
from hwgen.sim.accel.memimage import read_hex, write_hex

from .copydesign import CopyEngine

SIM_DIR = Path(__file__).resolve().parents[2] / "sim" / "accel"


@pytest.mark.parametrize("bp", [0, 9])
def test_copy(tmp_path, simulator, bp):
    exp = export_verilog(CopyEngine(), tmp_path / "v", kind="copy", slug="t")
    words = 1024
    img = [(i * 2654435761) & 0xFFFFFFFF for i in range(words)]
    tdir = tmp_path / "sim"
    tdir.mkdir()
    write_hex(tdir / "hwgen_dram_in.hex", np.array(img, dtype="<u4").tobytes(), 4)
    n = 300
    runner.run([exp.verilog, SIM_DIR / "hwgen_axi_mem.v", SIM_DIR / "hwgen_accel_tb.v"],
               "hwgen_accel_tb", "tests.accel_rtl.tb_copy", simulator, test_dir=tdir,
               params={"words": n, "bp": bp},
               build_args=["-DHWGEN_ACCEL_TOP=hwgen_copy_t"],
               parameters={"DATA_W": 32, "ADDR_W": 32, "AXIL_ADDR_W": 8, "WORDS": words})
    out = list(np.frombuffer(read_hex(tdir / "hwgen_dram_out.hex", 4, words), dtype="<u4"))
    src, dst = 0x40 // 4, (0x40 + 4 * n) // 4
    assert out[dst:dst + n] == img[src:src + n]
    assert out[:dst] == img[:dst]
    assert out[dst + n:] == img[dst + n:]
