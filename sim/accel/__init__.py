"""cocotb harness for hwgen's GEMM accelerator (installed as ``hwgen.sim.accel``).

- ``hwgen_accel_tb.v``: the testbench top wrapping a generated accelerator with the HDL-side
  AXI4 memory model ``hwgen_axi_mem.v`` (or, with ``ext_mem``, a cocotbext-axi ``AxiRam``).
- :mod:`.memimage`: DRAM images to and from the memory model's ``$readmemh`` / ``$writememh`` files.
- :mod:`.harness`: the cocotb test that runs one or many programs for :class:`RtlDevice`.
"""
from pathlib import Path

HERE = Path(__file__).resolve().parent
TB_SOURCES = (HERE / "hwgen_axi_mem.v", HERE / "hwgen_accel_tb.v")
TB_TOP = "hwgen_accel_tb"
