"""The IP of ``hwgen hls project``'s block design, described for hwgen's recorded-Vivado checker
(:mod:`hwgen.fpga.bdcheck`): the exported HLS detector and the AXI DMA (v7.1), plus ``xlconcat``.

These are hwgen's *model* of the ports those IP have (from Xilinx's product guides: PG021 for the
AXI DMA, the HLS user guide for an ``ap_ctrl_hs`` top with an ``s_axilite`` control bundle and
``axis`` ports), not the IP themselves. :func:`check_project` runs a project's ``bd.tcl`` against
the model with them.
"""
from __future__ import annotations

from pathlib import Path

from ..fpga.bdcheck import Design, Intf, IpDef, Pin, Segment, check_bd_tcl
from .emit import ip_vlnv
from .project import HLS_PINS

#: VLNVs the model's catalog lists for the IP described here
DMA_VLNVS = ("xilinx.com:ip:axi_dma:7.1",)
CONCAT_VLNVS = ("xilinx.com:ip:xlconcat:2.1",)

_DMA_PARAMS = {"c_include_sg": "1", "c_sg_include_stscntrl_strm": "1", "c_include_mm2s": "1",
               "c_include_s2mm": "1", "c_sg_length_width": "14", "c_m_axi_mm2s_data_width": "32",
               "c_m_axi_s2mm_data_width": "32", "c_m_axis_mm2s_tdata_width": "32",
               "c_s_axis_s2mm_tdata_width": "32", "c_mm2s_burst_size": "16", "c_s2mm_burst_size": "16",
               "c_addr_width": "32"}
_STREAM_WIDTHS = {8, 16, 32, 64, 128, 256, 512, 1024}


def _dma_pins(cfg: dict[str, str]) -> list[Pin]:
    pins = [Pin("s_axi_lite_aclk", "I", "clk", required=True), Pin("axi_resetn", "I", "rst", required=True)]
    if cfg["c_include_sg"] == "1":
        pins.append(Pin("m_axi_sg_aclk", "I", "clk", required=True))
    if cfg["c_include_mm2s"] == "1":
        pins += [Pin("m_axi_mm2s_aclk", "I", "clk", required=True), Pin("mm2s_introut", "O", "intr"),
                 Pin("mm2s_prmry_reset_out_n", "O", "rst")]
    if cfg["c_include_s2mm"] == "1":
        pins += [Pin("m_axi_s2mm_aclk", "I", "clk", required=True), Pin("s2mm_introut", "O", "intr"),
                 Pin("s2mm_prmry_reset_out_n", "O", "rst")]
    return pins


def _dma_intfs(cfg: dict[str, str]) -> list[Intf]:
    window = 1 << int(cfg["c_addr_width"])
    intfs = [Intf("S_AXI_LITE", "Slave", "AXI4LITE", "s_axi_lite_aclk", 32,
                  segments=(Segment("Reg", 0, 0x1_0000),))]
    if cfg["c_include_sg"] == "1":
        intfs.append(Intf("M_AXI_SG", "Master", "AXI4", "m_axi_sg_aclk", 32, space="Data_SG",
                          window_size=window))
    if cfg["c_include_mm2s"] == "1":
        intfs += [Intf("M_AXI_MM2S", "Master", "AXI4", "m_axi_mm2s_aclk", int(cfg["c_m_axi_mm2s_data_width"]),
                       space="Data_MM2S", window_size=window),
                  Intf("M_AXIS_MM2S", "Master", "AXIS", "m_axi_mm2s_aclk", int(cfg["c_m_axis_mm2s_tdata_width"]))]
    if cfg["c_include_s2mm"] == "1":
        intfs += [Intf("M_AXI_S2MM", "Master", "AXI4", "m_axi_s2mm_aclk", int(cfg["c_m_axi_s2mm_data_width"]),
                       space="Data_S2MM", window_size=window),
                  Intf("S_AXIS_S2MM", "Slave", "AXIS", "m_axi_s2mm_aclk", int(cfg["c_s_axis_s2mm_tdata_width"]))]
    return intfs


def _dma_check(cfg: dict[str, str]) -> str | None:
    """The values PG021 allows for what hwgen sets."""
    for key in ("c_m_axis_mm2s_tdata_width", "c_s_axis_s2mm_tdata_width"):
        if int(cfg[key]) not in _STREAM_WIDTHS:
            return f"CONFIG.{key} must be one of {', '.join(map(str, sorted(_STREAM_WIDTHS)))}, not {cfg[key]}"
    for key in ("c_m_axi_mm2s_data_width", "c_m_axi_s2mm_data_width"):
        if int(cfg[key]) not in _STREAM_WIDTHS - {8, 16}:
            return f"CONFIG.{key} must be 32..1024 (a power of two), not {cfg[key]}"
    if int(cfg["c_m_axis_mm2s_tdata_width"]) > int(cfg["c_m_axi_mm2s_data_width"]):
        return "CONFIG.c_m_axis_mm2s_tdata_width must not exceed c_m_axi_mm2s_data_width"
    if int(cfg["c_s_axis_s2mm_tdata_width"]) > int(cfg["c_m_axi_s2mm_data_width"]):
        return "CONFIG.c_s_axis_s2mm_tdata_width must not exceed c_m_axi_s2mm_data_width"
    if not 8 <= int(cfg["c_sg_length_width"]) <= 26:
        return f"CONFIG.c_sg_length_width must be in 8..26, not {cfg['c_sg_length_width']}"
    return None


def dma_ipdef() -> IpDef:
    """The AXI DMA: its ports follow c_include_sg / c_include_mm2s / c_include_s2mm."""
    return IpDef("axi_dma", "xilinx.com:ip:axi_dma", dict(_DMA_PARAMS), _dma_pins, _dma_intfs, _dma_check)


def concat_ipdef() -> IpDef:
    """``xlconcat``: NUM_PORTS inputs In0.. and one output ``dout``."""
    def pins(cfg):
        n = int(cfg["NUM_PORTS"])
        return [Pin(f"In{i}", "I") for i in range(n)] + [Pin("dout", "O", width=n)]
    return IpDef("xlconcat", "xilinx.com:ip:xlconcat", {"NUM_PORTS": "2"}, pins, lambda cfg: [])


def hls_ipdef(top: str, in_width: int, out_width: int) -> IpDef:
    """The exported HLS top: ``ap_clk``, ``ap_rst_n``, ``interrupt``, ``s_axi_control`` (AXI4-Lite,
    clocked by ap_clk) and the two streams."""
    p = HLS_PINS
    pins = [Pin(p["clock"], "I", "clk", required=True), Pin(p["resetn"], "I", "rst", required=True),
            Pin(p["interrupt"], "O", "intr")]
    intfs = [Intf(p["control"], "Slave", "AXI4LITE", p["clock"], 32, segments=(Segment("Reg", 0, 0x1_0000),)),
             Intf(p["in"], "Slave", "AXIS", p["clock"], in_width),
             Intf(p["out"], "Master", "AXIS", p["clock"], out_width)]
    return IpDef.static(top, ip_vlnv(top, version=False), pins, intfs)


def check_project(project_dir: str | Path, *, board_files: bool = True, vlnvs=(), drop_vlnvs=(),
                  board_parts=None, version: str | None = None) -> Design:
    """Run ``project_dir/bd.tcl`` (written by :func:`hwgen.hls.project.write_project`) against
    hwgen's Vivado model, with the HLS IP as its ``manifest.json`` describes it. ``vlnvs`` adds
    catalog entries, ``drop_vlnvs`` removes some, ``board_parts`` replaces the installed board
    parts, ``version`` is what ``version -short`` answers (see :func:`hwgen.fpga.bdcheck.check_bd_tcl`)."""
    import json
    project_dir = Path(project_dir)
    man = json.loads((project_dir / "manifest.json").read_text())
    top, lay = man["top"], man["layout"]
    ips = [dma_ipdef(), concat_ipdef(), hls_ipdef(top, lay["in_width"], lay["out_width"])]
    catalog = [*DMA_VLNVS, *CONCAT_VLNVS, ip_vlnv(top), *vlnvs]
    return check_bd_tcl(project_dir / "bd.tcl", board_files=board_files, ips=ips, vlnvs=catalog,
                        drop_vlnvs=drop_vlnvs, board_parts=board_parts,
                        **({} if version is None else {"version": version}))
