"""hwgen's recorded-Vivado checker (hwgen.fpga.bdcheck) on the accelerator's build.tcl: what it
records, and each thing Vivado would reject, by mutating the generated script."""
from __future__ import annotations

import re
import shutil

import pytest

from hwgen.accel.presets import PRESETS
from hwgen.fpga.accel_project import accel_project
from hwgen.fpga.bdcheck import BdCheckError, Intf, IpDef, Pin, Segment, check_bd_tcl

TINY = PRESETS["tiny"]


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    root = tmp_path_factory.mktemp("bdcheck")
    out = {}
    for board in ("pynq-z2", "ultra96v2"):
        accel_project(TINY, board, root / board, check=False)
        out[board] = root / board
    return out


def _mutate(projects, tmp_path, board, old, new, count=1):
    src = projects[board]
    dst = tmp_path / board
    shutil.copytree(src, dst)
    text = (dst / "build.tcl").read_text()
    assert text.count(old) >= count, old
    (dst / "build.tcl").write_text(text.replace(old, new))
    return dst / "build.tcl"


def test_records_the_pynq_z2_design(projects):
    d = check_bd_tcl(projects["pynq-z2"] / "build.tcl")
    top = f"hwgen_accel_{TINY.slug}"
    assert d.project["part"] == "xc7z020clg400-1"
    assert d.project["board_part"] == "tul.com.tw:pynq-z2:part0:1.0"
    assert d.cell_by_prefix("hwgen_accel") == ["hwgen_accel_0"]
    assert d.cells["hwgen_accel_0"]["ip"] == f"module:{top}_bd"
    ps = d.cells["processing_system7_0"]
    assert ps["vlnv"] == "xilinx.com:ip:processing_system7:5.5"
    assert ps["config"]["PCW_S_AXI_HP0_DATA_WIDTH"] == "32"
    assert ps["config"]["PCW_FPGA0_PERIPHERAL_FREQMHZ"] == "100"
    assert d.intf_peer("hwgen_accel_0/s_axi_control") == "/ctrl_smartconnect/M00_AXI"
    assert d.intf_peer("ctrl_smartconnect/S00_AXI") == "/processing_system7_0/M_AXI_GP0"
    assert d.intf_peer("hwgen_accel_0/m_axi") == "/mem_smartconnect/S00_AXI"
    assert d.intf_peer("mem_smartconnect/M00_AXI") == "/processing_system7_0/S_AXI_HP0"
    assert set(d.external) == {"/DDR", "/FIXED_IO"}
    clk = d.net_of("processing_system7_0/FCLK_CLK0")
    assert {"/hwgen_accel_0/aclk", "/processing_system7_0/M_AXI_GP0_ACLK",
            "/processing_system7_0/S_AXI_HP0_ACLK", "/fclk0_reset/slowest_sync_clk"} <= set(clk)
    assert d.net_of("hwgen_accel_0/aresetn") == ["/fclk0_reset/peripheral_aresetn", "/hwgen_accel_0/aresetn"]
    assert d.net_of("hwgen_accel_0/irq") == ["/hwgen_accel_0/irq", "/processing_system7_0/IRQ_F2P"]
    amap = {(a["space"], a["segment"]): (a["offset"], a["range"]) for a in d.address_map}
    assert amap == {
        ("/processing_system7_0/Data", "/hwgen_accel_0/s_axi_control/reg0"): (0x4000_0000, 0x1000),
        ("/hwgen_accel_0/m_axi", "/processing_system7_0/S_AXI_HP0/HP0_DDR_LOWOCM"): (0, 512 << 20)}
    assert d.validated and d.runs == [("synth_1", ""), ("impl_1", "write_bitstream")]
    assert d.top == "hwgen_accel_wrapper"
    # the .bit and .hwh end up in the overlay folder under one name
    assert f"overlay/{top}/{top}.bit" in d.files and f"overlay/{top}/{top}.hwh" in d.files
    assert "WARNING" not in d.output


def test_ultra96_picks_the_latest_ip_and_excludes_non_ddr_segments(projects):
    d = check_bd_tcl(projects["ultra96v2"] / "build.tcl")
    ps = d.cells["zynq_ultra_ps_e_0"]
    assert ps["vlnv"] == "xilinx.com:ip:zynq_ultra_ps_e:3.4"      # of 3.3 and 3.4
    assert ps["config"]["PSU__USE__M_AXI_GP1"] == "0"
    amap = {a["segment"]: a for a in d.address_map}
    ddr = amap["/zynq_ultra_ps_e_0/SAXIGP2/HP0_DDR_LOW"]
    assert (ddr["offset"], ddr["range"]) == (0, 2 << 30)
    assert amap["/zynq_ultra_ps_e_0/SAXIGP2/HP0_QSPI"]["excluded"]
    ctrl = amap["/hwgen_accel_0/s_axi_control/reg0"]
    assert (ctrl["space"], ctrl["offset"]) == ("/zynq_ultra_ps_e_0/Data", 0xA000_0000)
    assert d.net_of("hwgen_accel_0/irq") == ["/hwgen_accel_0/irq", "/zynq_ultra_ps_e_0/pl_ps_irq0"]
    # a newer smartconnect in the catalog is picked up without editing the script
    d2 = check_bd_tcl(projects["ultra96v2"] / "build.tcl", vlnvs=["xilinx.com:ip:smartconnect:1.1"])
    assert d2.cells["mem_smartconnect"]["vlnv"] == "xilinx.com:ip:smartconnect:1.1"


def test_ultra96_hp_segments_are_named_under_saxigp2(projects, tmp_path):
    """zynq_ultra_ps_e names the HP0 port's segments under its memory map SAXIGP2 (PYNQ's ZCU104
    base.tcl: ps_e_0/SAXIGP2/HP0_DDR_LOW); the interface name S_AXI_HP0_FPD finds no segment."""
    text = (projects["ultra96v2"] / "build.tcl").read_text()
    assert "[get_bd_addr_segs zynq_ultra_ps_e_0/SAXIGP2/HP0_DDR_LOW]" in text
    assert "S_AXI_HP0_FPD/" not in text
    script = _mutate(projects, tmp_path, "ultra96v2", "zynq_ultra_ps_e_0/SAXIGP2/HP0_DDR_LOW",
                     "zynq_ultra_ps_e_0/S_AXI_HP0_FPD/HP0_DDR_LOW")
    with pytest.raises(BdCheckError, match=r"assign_bd_address: segment /zynq_ultra_ps_e_0/S_AXI_HP0_FPD/HP0_DDR_LOW "
                                           r"is not reachable from /hwgen_accel_0/m_axi \(reachable: "
                                           r"/zynq_ultra_ps_e_0/SAXIGP2/HP0_DDR_LOW"):
        check_bd_tcl(script)


@pytest.mark.parametrize("installed,picked", [
    (["avnet.com:ultra96v2:part0:1.0", "avnet.com:ultra96v2:part0:1.2", "avnet.com:ultra96v2:part0:1.1"],
     "avnet.com:ultra96v2:part0:1.2"),
    (["avnet-tria:ultra96v2:part0:1.3"], "avnet-tria:ultra96v2:part0:1.3"),
    (["em.avnet.com:ultra96v2:part0:1.0"], "em.avnet.com:ultra96v2:part0:1.0")])
def test_ultra96_board_files_in_any_vendor_spelling_newest_version(projects, installed, picked):
    """Avnet's Ultra96-V2 board files come as avnet.com (1.0-1.2), em.avnet.com (older) and
    avnet-tria (1.3) in public scripts: the script takes the newest of whichever is installed."""
    d = check_bd_tcl(projects["ultra96v2"] / "build.tcl", board_parts=installed)
    assert d.project["board_part"] == picked


def test_implementation_launched_alone_runs_its_synthesis(projects, tmp_path):
    """Vivado launches impl_1's parent synth_1 itself (PYNQ's build_bitstream.tcl does only
    launch_runs impl_1 -to_step write_bitstream); the model used to refuse that."""
    script = _mutate(projects, tmp_path, "pynq-z2", "launch_runs synth_1 -jobs $jobs\nwait_on_run synth_1\n", "")
    d = check_bd_tcl(script)
    assert d.runs == [("synth_1", "(parent of impl_1)"), ("impl_1", "write_bitstream")]


def test_without_board_files_part_only_with_a_warning(projects):
    d = check_bd_tcl(projects["pynq-z2"] / "build.tcl", board_files=False)
    assert d.project["board_part"] is None and d.project["part"] == "xc7z020clg400-1"
    warn = [ln for ln in d.output.splitlines() if ln.startswith("WARNING")]
    assert len(warn) == 1 and "board files of pynq-z2 (tul.com.tw:pynq-z2:part0:1.0) are not installed" in warn[0]


def test_too_old_vivado_is_refused(projects):
    with pytest.raises(BdCheckError, match=r"build.tcl line \d+: hwgen: this script needs Vivado 2020.1 "
                                           r"or later, not 2019.1"):
        check_bd_tcl(projects["pynq-z2"] / "build.tcl", version="2019.1")


MUTATIONS = [
    # a PS port exists only while its CONFIG enables it
    ("hp_disabled", "    CONFIG.PCW_USE_S_AXI_HP0 {1} \\\n", "",
     r"line \d+: connect_bd_intf_net: cell processing_system7_0 \(processing_system7\) has no interface "
     r"'S_AXI_HP0' with its current configuration \(it has DDR, FIXED_IO, M_AXI_GP0\)"),
    # a module reference has its Verilog's ports
    ("module_pin", "[get_bd_pins hwgen_accel_0/aresetn]", "[get_bd_pins hwgen_accel_0/rst_n]",
     r"connect_bd_net: cell hwgen_accel_0 \(module:hwgen_accel_\w+_bd\) has no pin 'rst_n' with its "
     r"current configuration \(it has aclk, aresetn, irq\)"),
    ("clock_unconnected", "[get_bd_pins fclk0_reset/slowest_sync_clk] ", "",
     r"validate_bd_design: clk pin /fclk0_reset/slowest_sync_clk \(proc_sys_reset\) is not connected"),
    ("reset_unconnected",
     "connect_bd_net [get_bd_pins fclk0_reset/peripheral_aresetn] [get_bd_pins hwgen_accel_0/aresetn]\n", "",
     r"validate_bd_design: rst pin /hwgen_accel_0/aresetn \(module:hwgen_accel_\w+_bd\) is not connected"),
    ("intf_twice",
     "connect_bd_intf_net [get_bd_intf_pins hwgen_accel_0/m_axi] [get_bd_intf_pins mem_smartconnect/S00_AXI]\n",
     "connect_bd_intf_net [get_bd_intf_pins hwgen_accel_0/m_axi] [get_bd_intf_pins mem_smartconnect/S00_AXI]\n"
     "connect_bd_intf_net [get_bd_intf_pins hwgen_accel_0/m_axi] [get_bd_intf_pins ctrl_smartconnect/S00_AXI]\n",
     r"connect_bd_intf_net: /hwgen_accel_0/m_axi is connected already \(to /mem_smartconnect/S00_AXI\)"),
    ("segment_missing", "assign_bd_address -offset 0x00000000", "# assign_bd_address -offset 0x00000000",
     r"validate_bd_design: segment /processing_system7_0/S_AXI_HP0/HP0_DDR_LOWOCM is reachable from "
     r"/hwgen_accel_0/m_axi but not assigned"),
    ("outside_window", "-offset 0x40000000", "-offset 0x80000000",
     r"assign_bd_address: /hwgen_accel_0/s_axi_control/reg0 at 0x80000000\+0x1000 is outside "
     r"/processing_system7_0/Data's window 0x40000000..0x80000000"),
    ("misaligned", "-offset 0x40000000", "-offset 0x40000800",
     r"offset 0x40000800 of /hwgen_accel_0/s_axi_control/reg0 is not aligned to its range 0x1000"),
    ("no_such_cell", "] $ctrl_sc\n", "] [get_bd_cells ctrl_sc]\n",
     r"set_property CONFIG.NUM_SI CONFIG.NUM_MI: no object to set it on"),
    ("no_such_cell_path", "] $ctrl_sc\n", "] /ctrl_sc\n",
     r"set_property: no cell 'ctrl_sc' in the block design"),
    ("unknown_param", "CONFIG.PCW_USE_S_AXI_HP0 {1}", "CONFIG.PCW_USE_S_AXI_HP7 {1}",
     r"set_property: processing_system7 has no parameter CONFIG.PCW_USE_S_AXI_HP7 in hwgen's model"),
    ("bad_width", "CONFIG.PCW_S_AXI_HP0_DATA_WIDTH {32}", "CONFIG.PCW_S_AXI_HP0_DATA_WIDTH {128}",
     r"set_property on processing_system7_0: CONFIG.PCW_S_AXI_HP0_DATA_WIDTH must be 32 or 64, not 128"),
    ("fclk_high", "CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ {100}", "CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ {300}",
     r"CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ must be in \(0, 250\] MHz, not 300"),
    ("two_drivers", "validate_bd_design\n",
     "connect_bd_net [get_bd_pins fclk0_reset/peripheral_reset] [get_bd_pins fclk0_reset/mb_reset]\n"
     "validate_bd_design\n",
     r"connect_bd_net: a net needs exactly one driver, /fclk0_reset/peripheral_reset /fclk0_reset/mb_reset has 2"),
    ("pinned_version", "[hwgen_ipdef smartconnect] ctrl", "xilinx.com:ip:smartconnect:0.9 ctrl",
     r"create_bd_cell: IP 'xilinx.com:ip:smartconnect:0.9' is not in the IP catalog"),
    ("unknown_command", "validate_bd_design\n", "create_bd_widget foo\nvalidate_bd_design\n",
     r'build.tcl line \d+: invalid command name "create_bd_widget" \(not a Vivado command hwgen\'s model knows\)'),
    ("duplicate_cell", "fclk0_reset]\n", "fclk0_reset]\ncreate_bd_cell -type ip -vlnv [hwgen_ipdef proc_sys_reset] fclk0_reset\n",
     r"create_bd_cell: a cell named 'fclk0_reset' exists already"),
    ("ddr_not_external", 'make_external "FIXED_IO, DDR"', 'make_external "FIXED_IO"',
     r"validate_bd_design: interface /processing_system7_0/DDR must be made external"),
    ("unused_interconnect_port", "CONFIG.NUM_MI {1}] $mem_sc", "CONFIG.NUM_MI {2}] $mem_sc",
     r"interconnect port /mem_smartconnect/M01_AXI is not connected"),
    ("module_file_missing", " [file join $here rtl hwgen_accel_1x4x4_i8w8a32o8_9_10_11_11_d32_q8t8_bd.v]", "",
     r"create_bd_cell: module 'hwgen_accel_\w+_bd' is in none of the files added to the project "
     r"\(hwgen_accel_\w+_q8t8.v\)"),
    ("impl_without_top", "set_property top ${bd_name}_wrapper [current_fileset]\n", "",
     r"launch_runs synth_1: no top set"),
]


@pytest.mark.parametrize("name,old,new,message", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_rejects_what_vivado_would(projects, tmp_path, name, old, new, message):
    script = _mutate(projects, tmp_path, "pynq-z2", old, new)
    with pytest.raises(BdCheckError, match=message) as e:
        check_bd_tcl(script)
    assert "\n" not in str(e.value)
    # the line number points at the offending command
    line = int(re.search(r"line (\d+)", str(e.value)).group(1))
    assert line > 0


@pytest.mark.parametrize("board,key,clock", [
    ("pynq-z2", "PCW_USE_M_AXI_GP1", "/processing_system7_0/M_AXI_GP1_ACLK"),
    ("pynq-z2", "PCW_USE_S_AXI_HP2", "/processing_system7_0/S_AXI_HP2_ACLK"),
    ("ultra96v2", "PSU__USE__M_AXI_GP1", "/zynq_ultra_ps_e_0/maxihpm1_fpd_aclk"),
    ("ultra96v2", "PSU__USE__S_AXI_GP0", "/zynq_ultra_ps_e_0/saxihpc0_fpd_aclk")])
def test_ps_ports_a_preset_may_enable_are_switched_off(projects, tmp_path, board, key, clock):
    """A board preset can enable PS ports hwgen does not connect (a ZCU102 preset enables
    M_AXI_HPM1_FPD: Vivado then stops on its unconnected clock, BD 41-1273); the script sets
    each unused port's CONFIG to 0 after the preset, and leaving one on is caught."""
    script = _mutate(projects, tmp_path, board, f"CONFIG.{key} {{0}}", f"CONFIG.{key} {{1}}")
    with pytest.raises(BdCheckError, match=rf"validate_bd_design: clk pin {clock} \(\w+\) is not connected"):
        check_bd_tcl(script)


def test_overlapping_segments(projects, tmp_path):
    extra = ("set acc1 [create_bd_cell -type module -reference hwgen_accel_{slug}_bd hwgen_accel_1]\n"
             "set_property -dict [list CONFIG.NUM_MI {{2}}] $ctrl_sc\n"
             "connect_bd_intf_net [get_bd_intf_pins ctrl_smartconnect/M01_AXI] [get_bd_intf_pins hwgen_accel_1/s_axi_control]\n"
             "assign_bd_address -offset 0x40000000 -range 64K -target_address_space "
             "[get_bd_addr_spaces processing_system7_0/Data] [get_bd_addr_segs hwgen_accel_1/s_axi_control/reg0]\n"
             "validate_bd_design\n").format(slug=TINY.slug)
    script = _mutate(projects, tmp_path, "pynq-z2", "validate_bd_design\n", extra)
    with pytest.raises(BdCheckError, match=r"/hwgen_accel_1/s_axi_control/reg0 at 0x40000000\+0x10000 overlaps "
                                           r"/hwgen_accel_0/s_axi_control/reg0 at 0x40000000\+0x1000"):
        check_bd_tcl(script)


def test_static_ip_for_other_generators(tmp_path):
    """An HLS-style core added through ``ips=``: its pins and interfaces are checked the same way."""
    core = IpDef.static("hwgen_det", "xilinx.com:hls:hwgen_det",
                        [Pin("ap_clk", "I", "clk", required=True), Pin("ap_rst_n", "I", "rst", required=True),
                         Pin("interrupt", "O", "intr")],
                        [Intf("s_axi_control", "Slave", "AXI4LITE", "ap_clk",
                              segments=(Segment("Reg", 0, 0x1_0000),))])
    (tmp_path / "bd.tcl").write_text(
        "create_project p ./p -part xc7z020clg400-1\n"
        "create_bd_design d\n"
        "set v [lindex [lsort -dictionary [get_ipdefs -filter {NAME == hwgen_det}]] end]\n"
        "create_bd_cell -type ip -vlnv $v det_0\n"
        "connect_bd_net [get_bd_pins det_0/ap_clk] [get_bd_pins det_0/ap_rst_n]\n")
    with pytest.raises(BdCheckError, match=r"line 5: connect_bd_net: a net needs exactly one driver, "
                                           r"/det_0/ap_clk /det_0/ap_rst_n has 0 \(only inputs\)"):
        check_bd_tcl(tmp_path / "bd.tcl", ips=[core], vlnvs=["xilinx.com:hls:hwgen_det:1.0"])
    (tmp_path / "bd.tcl").write_text(
        "create_project p ./p -part xc7z020clg400-1\n"
        "create_bd_design d\n"
        "create_bd_cell -type ip -vlnv xilinx.com:hls:hwgen_det:1.0 det_0\n"
        "validate_bd_design\n")
    with pytest.raises(BdCheckError, match=r"line 4: validate_bd_design: clk pin /det_0/ap_clk "
                                           r"\(hwgen_det\) is not connected"):
        check_bd_tcl(tmp_path / "bd.tcl", ips=[core], vlnvs=["xilinx.com:hls:hwgen_det:1.0"])


def test_missing_script():
    with pytest.raises(BdCheckError, match="block-design script /nonexistent/build.tcl does not exist"):
        check_bd_tcl("/nonexistent/build.tcl")


def test_interrupt_concat_and_ip_repo(tmp_path):
    """The small IP other block designs use (xlconcat for several interrupts, an IP repository)."""
    (tmp_path / "bd.tcl").write_text(
        "create_project p ./p -part xc7z020clg400-1\n"
        "set_property ip_repo_paths ./ip [current_project]\n"
        "update_ip_catalog\n"
        "create_bd_design d\n"
        "create_bd_cell -type ip -vlnv xilinx.com:ip:xlconcat:2.1 irqs\n"
        "set_property -dict [list CONFIG.NUM_PORTS {3}] [get_bd_cells irqs]\n"
        "create_bd_cell -type ip -vlnv xilinx.com:ip:xlconstant:1.1 zero\n"
        "connect_bd_net [get_bd_pins zero/dout] [get_bd_pins irqs/In0] [get_bd_pins irqs/In2]\n"
        "connect_bd_net [get_bd_pins zero/dout] [get_bd_pins irqs/In3]\n")
    with pytest.raises(BdCheckError, match=r"line 9: connect_bd_net: cell irqs \(xlconcat\) has no pin 'In3' "
                                           r"with its current configuration \(it has In0, In1, In2, dout\)"):
        check_bd_tcl(tmp_path / "bd.tcl")


def test_generate_target_validates_like_vivado(projects, tmp_path):
    """Without validate_bd_design the model validates at generate_target, as Vivado does."""
    script = _mutate(projects, tmp_path, "pynq-z2", "validate_bd_design\n", "")
    assert not check_bd_tcl(script).output.count("WARNING")
    text = script.read_text().replace("assign_bd_address -offset 0x00000000", "# assign_bd_address -offset 0x00000000")
    script.write_text(text)
    line = text.splitlines().index("generate_target all $bd_file") + 1
    with pytest.raises(BdCheckError, match=rf"line {line}: validate_bd_design: segment "
                                           r"/processing_system7_0/S_AXI_HP0/HP0_DDR_LOWOCM is reachable"):
        check_bd_tcl(script)


def test_reach_is_per_cell_for_two_cells_of_one_ip(projects, tmp_path):
    """Two cells of one IP have equal interfaces: the second accelerator, connected to nothing,
    reaches no segment (the model used to start from the first equal interface it found, and
    let the second reach the first's DDR)."""
    text = (projects["pynq-z2"] / "build.tcl").read_text()
    cell = re.search(r"set acc \[create_bd_cell -type module -reference (\S+) hwgen_accel_0\]\n", text)
    second = (f"create_bd_cell -type module -reference {cell.group(1)} hwgen_accel_1\n"
              "assign_bd_address -offset 0x00000000 -range 512M -target_address_space "
              "[get_bd_addr_spaces hwgen_accel_1/m_axi] "
              "[get_bd_addr_segs processing_system7_0/S_AXI_HP0/HP0_DDR_LOWOCM] -force\n")
    script = _mutate(projects, tmp_path, "pynq-z2", "\nvalidate_bd_design\n", "\n" + second + "validate_bd_design\n")
    with pytest.raises(BdCheckError, match=r"assign_bd_address: segment /processing_system7_0/S_AXI_HP0/"
                                           r"HP0_DDR_LOWOCM is not reachable from /hwgen_accel_1/m_axi "
                                           r"\(reachable: none\)"):
        check_bd_tcl(script)
