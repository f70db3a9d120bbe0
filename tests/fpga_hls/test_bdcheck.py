"""``hwgen hls project``'s bd.tcl under hwgen's recorded-Vivado checker (:mod:`hwgen.fpga.bdcheck`),
with the HLS IP, the AXI DMA and xlconcat described by :mod:`hwgen.hls.bdmodel`."""
from __future__ import annotations

import shutil

import pytest

from hwgen.fpga.bdcheck import BdCheckError
from hwgen.fpga.boards import BOARDS
from hwgen.hls import bdmodel, project as hproj
from hwgen.hls.presets import PRESETS

TINY = PRESETS["skynet-tiny"]


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    base = tmp_path_factory.mktemp("bd")
    return {b: (base / b, hproj.write_project(TINY, base / b, board=b, fclk_mhz=100))
            for b in ("pynq-z2", "pynq-z1", "ultra96v2")}


@pytest.mark.parametrize("board,board_files", [("pynq-z2", True), ("pynq-z2", False), ("pynq-z1", True),
                                               ("ultra96v2", True), ("ultra96v2", False)])
def test_block_design_passes_the_checker(projects, board, board_files):
    out, p = projects[board]
    b, top, lay = BOARDS[board], p.top, p.layout
    d = bdmodel.check_project(out, board_files=board_files)
    assert d.validated and d.project["part"] == b.part
    assert d.project["board_part"] == (b.board_part if board_files else None)
    assert d.project["ip_repo_paths"].endswith(f"/project/hls/{top}_prj/solution1/impl/ip")
    assert sorted(d.cells) == ["ctrl_ic", "dma", "hwgen_hls", "irq_concat", "mem_ic", "ps", "rst"]
    assert d.cells["hwgen_hls"]["vlnv"] == f"hwgen.dev:hls:{top}:1.0"
    dma = d.cells["dma"]["config"]
    assert dma["c_include_sg"] == "0" and dma["c_include_mm2s"] == dma["c_include_s2mm"] == "1"
    assert (int(dma["c_m_axis_mm2s_tdata_width"]), int(dma["c_s_axis_s2mm_tdata_width"])) == (lay.in_width, lay.out_width)
    assert (1 << int(dma["c_sg_length_width"])) - 1 >= lay.in_bytes
    # the streams, the buses, the clock, the interrupts
    assert d.intf_peer("/dma/M_AXIS_MM2S") == "/hwgen_hls/in_r"
    assert d.intf_peer("/hwgen_hls/out_r") == "/dma/S_AXIS_S2MM"
    assert d.intf_peer(f"/ps/{b.gp_port}") == "/ctrl_ic/S00_AXI"
    assert d.intf_peer(f"/ps/{b.hp_port}") == "/mem_ic/M00_AXI"
    clk = d.net_of(f"/ps/{b.fclk}")
    assert {"/hwgen_hls/ap_clk", "/dma/m_axi_mm2s_aclk", "/dma/m_axi_s2mm_aclk", "/rst/slowest_sync_clk"} <= set(clk)
    assert d.net_of("/irq_concat/dout") == sorted(["/irq_concat/dout", f"/ps/{b.irq}"])
    assert d.net_of("/hwgen_hls/interrupt") == ["/hwgen_hls/interrupt", "/irq_concat/In2"]
    assert int(d.cells["ps"]["config"][b.fclk_property]) == 100
    # the registers where the manifest says, every DMA channel reaches the DDR
    amap = {(a["space"], a["segment"]): (a["offset"], a["range"]) for a in d.address_map}
    assert amap[("/ps/Data", "/hwgen_hls/s_axi_control/Reg")] == (b.gp_base, 0x1_0000)
    assert amap[("/ps/Data", "/dma/S_AXI_LITE/Reg")] == (b.gp_base + 0x1_0000, 0x1_0000)
    ddr = {"ps7": "HP0_DDR_LOWOCM", "psu": "HP0_DDR_LOW"}[b.ps]
    for space in ("/dma/Data_MM2S", "/dma/Data_S2MM"):
        # segments sit under the HP port's memory map: S_AXI_HP0 (PS7), SAXIGP2 (zynq_ultra_ps_e)
        memmap = {"ps7": "S_AXI_HP0", "psu": "SAXIGP2"}[b.ps]
        assert amap[(space, f"/ps/{memmap}/{ddr}")] == (b.ddr_base, b.ddr_bytes)
    # implementation after synthesis, and the overlay files land beside the driver
    assert d.runs == [("synth_1", ""), ("impl_1", "write_bitstream")] and d.top == "design_1_wrapper"
    assert {f"overlay/{top}/{top}.bit", f"overlay/{top}/{top}.hwh"} <= set(d.files)


@pytest.mark.parametrize("installed,picked", [
    (["tul.com.tw:pynq-z2:part0:1.0", "tul.com.tw:pynq-z2:part0:1.1"], "tul.com.tw:pynq-z2:part0:1.1"),
    (["avnet-tria:ultra96v2:part0:1.3"], "avnet-tria:ultra96v2:part0:1.3")])
def test_board_files_of_any_version_and_vendor_spelling(projects, installed, picked):
    """bd.tcl does not pin the board files' version or vendor (it looked for one exact name)."""
    board = picked.split(":")[1]
    d = bdmodel.check_project(projects[board][0], board_parts=installed)
    assert d.project["board_part"] == picked
    assert "not installed" not in d.output


def test_too_old_vivado_is_refused(projects):
    """Like the accelerator's build.tcl: assign_bd_address -offset/-range and the .gen folder."""
    out, _p = projects["pynq-z2"]
    with pytest.raises(BdCheckError, match=r"bd.tcl line \d+: hwgen: this script needs Vivado 2020.1 or later, "
                                           r"not 2019.2"):
        bdmodel.check_project(out, version="2019.2")


def test_ip_versions_are_looked_up_not_pinned(projects):
    out, _p = projects["ultra96v2"]
    d = bdmodel.check_project(out, vlnvs=["xilinx.com:ip:axi_dma:7.0"])
    assert d.cells["dma"]["vlnv"] == "xilinx.com:ip:axi_dma:7.1"
    assert d.cells["ps"]["vlnv"] == "xilinx.com:ip:zynq_ultra_ps_e:3.4"
    d = bdmodel.check_project(out, vlnvs=["xilinx.com:ip:axi_dma:7.0"],
                              drop_vlnvs=["xilinx.com:ip:axi_dma:7.1", "xilinx.com:ip:zynq_ultra_ps_e:3.4"])
    assert d.cells["dma"]["vlnv"] == "xilinx.com:ip:axi_dma:7.0"
    assert d.cells["ps"]["vlnv"] == "xilinx.com:ip:zynq_ultra_ps_e:3.3"


def test_missing_hls_ip_says_make_ip(projects):
    out, p = projects["pynq-z2"]
    with pytest.raises(BdCheckError, match=rf"no IP hwgen\.dev:hls:{p.top} in the catalog \(for the HLS IP: "
                                           r"run `make ip` first\)"):
        bdmodel.check_project(out, drop_vlnvs=[f"hwgen.dev:hls:{p.top}:1.0"])


def test_checker_catches_a_wrong_pin_name(projects, tmp_path):
    """The hook is live: a stream renamed as older HLS releases name it (``in_V``) is caught."""
    src, _p = projects["pynq-z2"]
    out = tmp_path / "p"
    shutil.copytree(src, out, ignore=shutil.ignore_patterns("hls"))
    tcl = (out / "bd.tcl").read_text()
    (out / "bd.tcl").write_text(tcl.replace("hwgen_hls/in_r", "hwgen_hls/in_V"))
    with pytest.raises(BdCheckError, match=r"has no interface 'in_V'"):
        bdmodel.check_project(out)
