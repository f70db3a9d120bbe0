"""A recorded-Vivado checker for block-design Tcl: hwgen's *model* of Vivado's behaviour, not Vivado.

Vivado cannot run on hwgen's machines, so a generated ``build.tcl`` is checked by everything that
can: :func:`check_bd_tcl` runs the script in ``tclsh`` with small stand-ins for the Vivado commands
it uses (``hwgen/fpga/vivado_model.tcl``: each records its call and returns what the script needs
to go on), then replays the record against a model of the IP involved and raises
:class:`BdCheckError` on what Vivado would reject:

- a command that is not modelled (the script stops there);
- an IP that is not in the catalog, a cell name used twice, a property on a cell that does not
  exist, a ``CONFIG.*`` parameter the IP does not have or a value it refuses (an HP port width,
  a fabric clock above hwgen's limit for the board: a hwgen rule, not a documented Vivado one);
- a pin or interface a cell does not have: PS ports exist only while their ``CONFIG`` enables them,
  and a module reference has the ports of its Verilog module (parsed from the files added to the
  project, interfaces from their ``X_INTERFACE_INFO`` attributes);
- a net with no driver or two, a pin on two nets, an interface connected twice, two masters or two
  slaves on one interface net;
- at ``validate_bd_design``: an unconnected clock or reset that the IP needs, an interface whose
  clock pin is unconnected, a PS interface that must be external and is not, an address segment a
  master reaches but has not assigned, segments that overlap, a segment outside its master's
  window, an offset not aligned to its range;
- runs: a run launched before the wrapper is the top (an implementation run launched alone
  runs its parent synthesis run, as in Vivado).

What is not modelled (the limits of this check): Vivado's IP upgrade and parameter propagation
(clock frequencies, widths through SmartConnect), the PS's DDR and MIO presets that board files
apply, timing, synthesis and implementation. A script that passes here can still fail in Vivado.

The result, :class:`Design`, holds what the script built (project, cells with their
configuration, nets, interface nets, the address map, runs, the files the script left) as plain
data for tests to inspect. Other generators (``hwgen hls project``) add their IP with
:class:`IpDef` through ``ips=``.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from .. import toolchain
from ..errors import HwgenError
from .boards import BOARDS

__all__ = ["BdCheckError", "Pin", "Intf", "Segment", "IpDef", "Design", "check_bd_tcl",
           "default_catalog", "parse_module_ports", "range_text", "DEFAULT_VERSION"]

#: What the model's ``version -short`` answers unless told otherwise.
DEFAULT_VERSION = "2022.2"
MODEL_TCL = Path(__file__).with_name("vivado_model.tcl")


class BdCheckError(HwgenError):
    """Something Vivado would reject, as hwgen's model of Vivado sees it (one line, with the
    script's line number)."""


# ============================================================================ IP model
@dataclass(frozen=True)
class Pin:
    """A cell's scalar or vector pin. ``kind``: ``clk``, ``rst``, ``intr`` or ``data``;
    ``required``: validation fails while it is unconnected."""
    name: str
    dir: str                  # "I" or "O"
    kind: str = "data"
    width: int = 1
    required: bool = False


@dataclass(frozen=True)
class Segment:
    """A slave's address block: name, natural base and size (bytes)."""
    name: str
    base: int
    size: int


@dataclass(frozen=True)
class Intf:
    """An interface pin. ``mode``: ``Master``, ``Slave`` or ``External`` (must go to a port);
    ``clock``: the pin it is clocked by; a master has an address space ``space`` reaching
    ``[window_base, window_base + window_size)``; a slave has ``segments``.
    ``passthrough``: an interconnect port (traffic goes on to the other side of the cell).
    ``memory_map``: where a slave's segments are named, if not under the interface's name."""
    name: str
    mode: str
    protocol: str = "AXI4"
    clock: str | None = None
    data_width: int | None = None
    space: str | None = None
    window_base: int = 0
    window_size: int = 1 << 32
    segments: tuple[Segment, ...] = ()
    passthrough: bool = False
    #: the memory map a slave's segments are named under (``/cell/<memory_map>/<segment>``);
    #: the interface's name unless the IP says otherwise (zynq_ultra_ps_e: ``SAXIGP2``)
    memory_map: str | None = None


@dataclass(frozen=True)
class IpDef:
    """The model of one IP: its VLNV name, ``CONFIG`` parameters with defaults, and functions of
    the current configuration giving its pins and interfaces (and refusing bad values)."""
    name: str
    vlnv_prefix: str
    params: dict[str, str]
    pins: Callable[[dict[str, str]], list[Pin]]
    intfs: Callable[[dict[str, str]], list[Intf]]
    check: Callable[[dict[str, str]], str | None] = lambda cfg: None

    @staticmethod
    def static(name: str, vlnv_prefix: str, pins: Iterable[Pin], intfs: Iterable[Intf],
               params: dict[str, str] | None = None) -> "IpDef":
        """An IP whose ports do not depend on its configuration (e.g. an HLS core)."""
        p, i = list(pins), list(intfs)
        return IpDef(name, vlnv_prefix, dict(params or {}), lambda cfg: p, lambda cfg: i)


def _on(cfg, key) -> bool:
    return str(cfg.get(key, "0")).strip() in ("1", "true", "True")


def _ps7(cfg: dict[str, str]) -> tuple[list[Pin], list[Intf]]:
    pins = [Pin("FCLK_CLK0", "O", "clk"), Pin("FCLK_RESET0_N", "O", "rst")]
    intfs = [Intf("DDR", "External", "DDR"), Intf("FIXED_IO", "External", "FIXED_IO")]
    if _on(cfg, "PCW_USE_M_AXI_GP0"):
        pins.append(Pin("M_AXI_GP0_ACLK", "I", "clk", required=True))
        intfs.append(Intf("M_AXI_GP0", "Master", "AXI3", "M_AXI_GP0_ACLK", 32, space="Data",
                          window_base=0x4000_0000, window_size=0x4000_0000))
    if _on(cfg, "PCW_USE_S_AXI_HP0"):
        pins.append(Pin("S_AXI_HP0_ACLK", "I", "clk", required=True))
        intfs.append(Intf("S_AXI_HP0", "Slave", "AXI3", "S_AXI_HP0_ACLK",
                          int(cfg["PCW_S_AXI_HP0_DATA_WIDTH"]),
                          segments=(Segment("HP0_DDR_LOWOCM", 0, 0x2000_0000),)))
    if _on(cfg, "PCW_USE_FABRIC_INTERRUPT") and _on(cfg, "PCW_IRQ_F2P_INTR"):
        pins.append(Pin("IRQ_F2P", "I", "intr"))
    # the other AXI ports, by their clock pins only: a board preset may turn one on, and its
    # unconnected clock then fails validation (hwgen's scripts switch them off)
    pins += [Pin(clk, "I", "clk", required=True) for key, clk in _PS7_OTHER_PORTS if _on(cfg, key)]
    return pins, intfs


#: processing_system7's AXI ports hwgen does not use: CONFIG enabling each, its clock pin
_PS7_OTHER_PORTS = (("PCW_USE_M_AXI_GP1", "M_AXI_GP1_ACLK"), ("PCW_USE_S_AXI_GP0", "S_AXI_GP0_ACLK"),
                    ("PCW_USE_S_AXI_GP1", "S_AXI_GP1_ACLK"), ("PCW_USE_S_AXI_ACP", "S_AXI_ACP_ACLK"),
                    ("PCW_USE_S_AXI_HP1", "S_AXI_HP1_ACLK"), ("PCW_USE_S_AXI_HP2", "S_AXI_HP2_ACLK"),
                    ("PCW_USE_S_AXI_HP3", "S_AXI_HP3_ACLK"))
#: zynq_ultra_ps_e's AXI ports hwgen does not use (M_AXI_HPM0_LPD, S_AXI_HPC0/1_FPD,
#: S_AXI_HP1..3_FPD, S_AXI_LPD): CONFIG enabling each, its clock pin
_PSU_OTHER_PORTS = (("PSU__USE__M_AXI_GP2", "maxihpm0_lpd_aclk"), ("PSU__USE__S_AXI_GP0", "saxihpc0_fpd_aclk"),
                    ("PSU__USE__S_AXI_GP1", "saxihpc1_fpd_aclk"), ("PSU__USE__S_AXI_GP3", "saxihp1_fpd_aclk"),
                    ("PSU__USE__S_AXI_GP4", "saxihp2_fpd_aclk"), ("PSU__USE__S_AXI_GP5", "saxihp3_fpd_aclk"),
                    ("PSU__USE__S_AXI_GP6", "saxi_lpd_aclk"))


def _ps7_check(cfg: dict[str, str]) -> str | None:
    if cfg["PCW_S_AXI_HP0_DATA_WIDTH"] not in ("32", "64"):
        return f"CONFIG.PCW_S_AXI_HP0_DATA_WIDTH must be 32 or 64, not {cfg['PCW_S_AXI_HP0_DATA_WIDTH']}"
    return _freq(cfg, "PCW_FPGA0_PERIPHERAL_FREQMHZ", BOARDS["pynq-z2"].fclk_max_mhz)


def _freq(cfg, key, top) -> str | None:
    try:
        f = float(cfg[key])
    except ValueError:
        return f"CONFIG.{key} must be a frequency in MHz, not {cfg[key]!r}"
    if not 0 < f <= top:
        return f"CONFIG.{key} must be in (0, {top}] MHz, not {cfg[key]}"
    return None


def _psu(cfg: dict[str, str]) -> tuple[list[Pin], list[Intf]]:
    pins = []
    intfs = []
    if _on(cfg, "PSU__FPGA_PL0_ENABLE"):
        pins.append(Pin("pl_clk0", "O", "clk"))
    pins.append(Pin("pl_resetn0", "O", "rst"))
    for i, (key, base) in enumerate((("PSU__USE__M_AXI_GP0", 0xA000_0000), ("PSU__USE__M_AXI_GP1", 0xB000_0000))):
        if _on(cfg, key):
            pins.append(Pin(f"maxihpm{i}_fpd_aclk", "I", "clk", required=True))
            intfs.append(Intf(f"M_AXI_HPM{i}_FPD", "Master", "AXI4", f"maxihpm{i}_fpd_aclk", 128,
                              space="Data", window_base=base, window_size=0x1000_0000))
    if _on(cfg, "PSU__USE__S_AXI_GP2"):
        pins.append(Pin("saxihp0_fpd_aclk", "I", "clk", required=True))
        intfs.append(Intf("S_AXI_HP0_FPD", "Slave", "AXI4", "saxihp0_fpd_aclk",
                          int(cfg["PSU__SAXIGP2__DATA_WIDTH"]),
                          segments=(Segment("HP0_DDR_LOW", 0, 0x8000_0000),
                                    Segment("HP0_QSPI", 0xC000_0000, 0x2000_0000),
                                    Segment("HP0_LPS_OCM", 0xFF00_0000, 0x100_0000)),
                          memory_map="SAXIGP2"))
    if _on(cfg, "PSU__USE__IRQ0"):
        pins.append(Pin("pl_ps_irq0", "I", "intr"))
    pins += [Pin(clk, "I", "clk", required=True) for key, clk in _PSU_OTHER_PORTS if _on(cfg, key)]
    return pins, intfs


def _psu_check(cfg: dict[str, str]) -> str | None:
    if cfg["PSU__SAXIGP2__DATA_WIDTH"] not in ("32", "64", "128"):
        return f"CONFIG.PSU__SAXIGP2__DATA_WIDTH must be 32, 64 or 128, not {cfg['PSU__SAXIGP2__DATA_WIDTH']}"
    return _freq(cfg, "PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ", BOARDS["ultra96v2"].fclk_max_mhz)


def _int_param(cfg, key, lo, hi) -> int:
    try:
        v = int(cfg[key])
    except ValueError:
        v = -1
    if not lo <= v <= hi:
        raise BdCheckError(f"CONFIG.{key} must be an integer in {lo}..{hi}, not {cfg[key]!r}")
    return v


def _smartconnect(cfg):
    si, mi = _int_param(cfg, "NUM_SI", 1, 16), _int_param(cfg, "NUM_MI", 1, 16)
    clks = _int_param(cfg, "NUM_CLKS", 1, 8)
    pins = [Pin("aclk" if i == 0 else f"aclk{i}", "I", "clk", required=True) for i in range(clks)]
    pins.append(Pin("aresetn", "I", "rst", required=True))
    intfs = [Intf(f"S{i:02d}_AXI", "Slave", "AXI4", "aclk", passthrough=True) for i in range(si)]
    intfs += [Intf(f"M{i:02d}_AXI", "Master", "AXI4", "aclk", passthrough=True) for i in range(mi)]
    return pins, intfs


def _axi_interconnect(cfg):
    si, mi = _int_param(cfg, "NUM_SI", 1, 16), _int_param(cfg, "NUM_MI", 1, 64)
    pins = [Pin("ACLK", "I", "clk", required=True), Pin("ARESETN", "I", "rst", required=True)]
    intfs = []
    for side, n, mode in (("S", si, "Slave"), ("M", mi, "Master")):
        for i in range(n):
            pins += [Pin(f"{side}{i:02d}_ACLK", "I", "clk", required=True),
                     Pin(f"{side}{i:02d}_ARESETN", "I", "rst", required=True)]
            intfs.append(Intf(f"{side}{i:02d}_AXI", mode, "AXI4", f"{side}{i:02d}_ACLK", passthrough=True))
    return pins, intfs


def _proc_sys_reset(cfg):
    return ([Pin("slowest_sync_clk", "I", "clk", required=True),
             Pin("ext_reset_in", "I", "rst", required=True), Pin("aux_reset_in", "I", "rst"),
             Pin("mb_debug_sys_rst", "I", "rst"), Pin("dcm_locked", "I"),
             Pin("mb_reset", "O", "rst"), Pin("bus_struct_reset", "O", "rst"),
             Pin("peripheral_reset", "O", "rst"), Pin("interconnect_aresetn", "O", "rst"),
             Pin("peripheral_aresetn", "O", "rst")], [])


def _xlconcat(cfg):
    n = _int_param(cfg, "NUM_PORTS", 1, 128)
    return [Pin(f"In{i}", "I") for i in range(n)] + [Pin("dout", "O", width=n)], []


def _xlconstant(cfg):
    return [Pin("dout", "O", width=_int_param(cfg, "CONST_WIDTH", 1, 4096))], []


def _split(fn):
    return (lambda cfg: fn(cfg)[0]), (lambda cfg: fn(cfg)[1])


def default_catalog() -> dict[str, IpDef]:
    """The IP hwgen's block designs use, by IP name."""
    ps7_pins, ps7_intfs = _split(_ps7)
    psu_pins, psu_intfs = _split(_psu)
    sc_pins, sc_intfs = _split(_smartconnect)
    ic_pins, ic_intfs = _split(_axi_interconnect)
    rs_pins, rs_intfs = _split(_proc_sys_reset)
    cc_pins, cc_intfs = _split(_xlconcat)
    k_pins, k_intfs = _split(_xlconstant)
    return {
        "processing_system7": IpDef(
            "processing_system7", "xilinx.com:ip:processing_system7",
            {"PCW_USE_M_AXI_GP0": "0", "PCW_USE_S_AXI_HP0": "0", "PCW_S_AXI_HP0_DATA_WIDTH": "64",
             "PCW_USE_FABRIC_INTERRUPT": "0", "PCW_IRQ_F2P_INTR": "0",
             "PCW_FPGA0_PERIPHERAL_FREQMHZ": "50", "PCW_EN_CLK0_PORT": "1", "PCW_EN_RST0_PORT": "1",
             **{key: "0" for key, _clk in _PS7_OTHER_PORTS}},
            ps7_pins, ps7_intfs, _ps7_check),
        "zynq_ultra_ps_e": IpDef(
            "zynq_ultra_ps_e", "xilinx.com:ip:zynq_ultra_ps_e",
            {"PSU__USE__M_AXI_GP0": "1", "PSU__USE__M_AXI_GP1": "1", "PSU__USE__M_AXI_GP2": "0",
             "PSU__USE__S_AXI_GP2": "0", "PSU__SAXIGP2__DATA_WIDTH": "128", "PSU__USE__IRQ0": "0",
             "PSU__FPGA_PL0_ENABLE": "1", "PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ": "100",
             **{key: "0" for key, _clk in _PSU_OTHER_PORTS if key != "PSU__USE__M_AXI_GP2"}},
            psu_pins, psu_intfs, _psu_check),
        "smartconnect": IpDef("smartconnect", "xilinx.com:ip:smartconnect",
                              {"NUM_SI": "1", "NUM_MI": "2", "NUM_CLKS": "1"}, sc_pins, sc_intfs),
        "axi_interconnect": IpDef("axi_interconnect", "xilinx.com:ip:axi_interconnect",
                                  {"NUM_SI": "1", "NUM_MI": "2"}, ic_pins, ic_intfs),
        "proc_sys_reset": IpDef("proc_sys_reset", "xilinx.com:ip:proc_sys_reset",
                                {"C_EXT_RESET_HIGH": "0", "C_AUX_RESET_HIGH": "0"}, rs_pins, rs_intfs),
        "xlconcat": IpDef("xlconcat", "xilinx.com:ip:xlconcat", {"NUM_PORTS": "2"}, cc_pins, cc_intfs),
        "xlconstant": IpDef("xlconstant", "xilinx.com:ip:xlconstant",
                            {"CONST_WIDTH": "1", "CONST_VAL": "1"}, k_pins, k_intfs),
    }


#: VLNVs the model's catalog answers ``get_ipdefs`` with: several versions of some, so that a
#: script that pins one instead of picking the latest is noticed by tests that drop it.
CATALOG_VLNVS = ("xilinx.com:ip:processing_system7:5.5", "xilinx.com:ip:zynq_ultra_ps_e:3.3",
                 "xilinx.com:ip:zynq_ultra_ps_e:3.4", "xilinx.com:ip:smartconnect:1.0",
                 "xilinx.com:ip:axi_interconnect:2.1", "xilinx.com:ip:proc_sys_reset:5.0",
                 "xilinx.com:ip:xlconcat:2.1", "xilinx.com:ip:xlconstant:1.1")


# ============================================================================ module references
_PORT = re.compile(r"\b(input|output|inout)\s+(?:wire\s+|reg\s+|logic\s+)?(?:signed\s+)?"
                   r"(?:\[\s*(\d+)\s*:\s*(\d+)\s*\]\s*)?(\w+)\s*[,)]?")
_ATTR = re.compile(r'\(\*\s*(X_INTERFACE_INFO|X_INTERFACE_PARAMETER)\s*=\s*"([^"]*)"\s*\*\)')


def parse_module_ports(text: str, module: str) -> tuple[list[Pin], list[Intf]] | None:
    """Pins and interfaces a Vivado module reference to ``module`` would have, from ANSI-style
    Verilog with ``X_INTERFACE_INFO`` attributes; None when ``text`` has no such module."""
    m = re.search(rf"\bmodule\s+{re.escape(module)}\s*(?:#\s*\(.*?\)\s*)?\((.*?)\)\s*;", text, re.S)
    if m is None:
        return None
    body = m.group(1)
    pins: list[Pin] = []
    buses: dict[str, dict[str, Any]] = {}
    params: dict[str, str] = {}
    pending: list[tuple[str, str]] = []
    pos = 0
    for pm in _PORT.finditer(body):
        pending = _ATTR.findall(body, pos, pm.start())
        pos = pm.end()
        d, hi, lo, name = pm.groups()
        width = abs(int(hi) - int(lo)) + 1 if hi is not None else 1
        info = next((v for k, v in pending if k == "X_INTERFACE_INFO"), "")
        param = next((v for k, v in pending if k == "X_INTERFACE_PARAMETER"), "")
        kind = "data"
        if info:
            vlnv, intf, logical = (info.split() + ["", "", ""])[:3]
            if vlnv.startswith("xilinx.com:signal:clock"):
                kind = "clk"
            elif vlnv.startswith("xilinx.com:signal:reset"):
                kind = "rst"
            elif vlnv.startswith("xilinx.com:signal:interrupt"):
                kind = "intr"
            elif vlnv.startswith("xilinx.com:interface:aximm"):
                b = buses.setdefault(intf, {"ports": {}, "param": ""})
                b["ports"][logical] = (d, width)
                b["param"] = b["param"] or param
                continue
        if param:
            params[name] = param
        pins.append(Pin(name, "I" if d == "input" else "O", kind, width,
                        required=kind in ("clk", "rst") and d == "input"))
    clock_of: dict[str, str] = {}
    for p in pins:
        if p.kind == "clk":
            mm = re.search(r"ASSOCIATED_BUSIF\s+([\w:]+)", params.get(p.name, ""))
            for b in (mm.group(1).split(":") if mm else []):
                clock_of[b] = p.name
    intfs = []
    for name, b in buses.items():
        kv = dict(re.findall(r"(\w+)\s+([\w.]+)", b["param"]))
        master = b["ports"].get("AWVALID", b["ports"].get("ARVALID", ("input", 1)))[0] == "output"
        addr_w = b["ports"].get("AWADDR", b["ports"].get("ARADDR", ("", 32)))[1]
        data_w = b["ports"].get("WDATA", b["ports"].get("RDATA", ("", 32)))[1]
        proto = kv.get("PROTOCOL", "AXI4LITE" if "AWLEN" not in b["ports"] else "AXI4")
        if master:
            intfs.append(Intf(name, "Master", proto, clock_of.get(name), data_w, space=name,
                              window_base=0, window_size=1 << addr_w))
        else:
            intfs.append(Intf(name, "Slave", proto, clock_of.get(name), data_w,
                              segments=(Segment("reg0", 0, max(4096, 1 << addr_w)),)))
    return pins, intfs


# ============================================================================ the design record
@dataclass
class Cell:
    name: str
    ip: str                   # IP name, or "module:<module>" for a module reference
    vlnv: str
    config: dict[str, str]
    ipdef: IpDef | None = None
    module_ports: tuple[list[Pin], list[Intf]] | None = None

    def pins(self) -> dict[str, Pin]:
        if self.module_ports is not None:
            return {p.name: p for p in self.module_ports[0]}
        return {p.name: p for p in self.ipdef.pins(self.config)}

    def intfs(self) -> dict[str, Intf]:
        if self.module_ports is not None:
            return {i.name: i for i in self.module_ports[1]}
        return {i.name: i for i in self.ipdef.intfs(self.config)}


@dataclass
class Design:
    """What a block-design script built, as hwgen's model of Vivado recorded it.

    Attributes
    ----------
    project : dict
        ``name``, ``dir``, ``part``, ``board_part`` (None when not set).
    version : str
        What ``version -short`` answered.
    cells : dict
        Cell name -> ``{"ip", "vlnv", "config"}``.
    nets : list
        Each a sorted list of ``/cell/pin`` names.
    intf_nets : list
        Each a sorted pair of ``/cell/intf`` (or external port ``/name``) names.
    external : dict
        External interface port name -> the interface pin it connects.
    address_map : list
        ``{"space", "segment", "offset", "range"}`` for every assigned segment
        (``space`` like ``/ps/Data``, ``segment`` like ``/hwgen_accel_0/s_axi_control/reg0``).
    runs : list
        ``(run, to_step)`` in launch order.
    top : str
        The synthesis top.
    files : dict
        Relative path -> size of every file the script left in its folder (its copies).
    output : str
        What the script printed (``WARNING`` lines and all).
    validated : bool
    """
    project: dict[str, Any] = field(default_factory=dict)
    version: str = ""
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)
    nets: list[list[str]] = field(default_factory=list)
    intf_nets: list[list[str]] = field(default_factory=list)
    external: dict[str, str] = field(default_factory=dict)
    address_map: list[dict[str, Any]] = field(default_factory=list)
    runs: list[tuple[str, str]] = field(default_factory=list)
    top: str = ""
    files: dict[str, int] = field(default_factory=dict)
    output: str = ""
    validated: bool = False

    def cell_by_prefix(self, prefix: str) -> list[str]:
        return sorted(c for c in self.cells if c.startswith(prefix))

    def net_of(self, pin: str) -> list[str] | None:
        pin = pin if pin.startswith("/") else "/" + pin
        return next((n for n in self.nets if pin in n), None)

    def intf_peer(self, intf: str) -> str | None:
        intf = intf if intf.startswith("/") else "/" + intf
        for a, b in self.intf_nets:
            if intf in (a, b):
                return b if a == intf else a
        return None


# ============================================================================ replay
_SIZE = re.compile(r"^(\d+)\s*([KMGT]?)$", re.I)


def _size(text: str) -> int:
    m = _SIZE.match(text.strip())
    if not m:
        raise ValueError(text)
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[m.group(2).upper()]


def range_text(n: int) -> str:
    """``n`` bytes as Vivado writes an address range (``4K``, ``512M``, ``2G``)."""
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)


def _flat(args: list[str]) -> list[str]:
    """Arguments as Tcl lists flattened (``[get_bd_pins a b]`` gives one argument ``/a /b``)."""
    out = []
    for a in args:
        out.extend([a] if a.startswith("-") else a.split())
    return out


class _Replay:
    def __init__(self, catalog: dict[str, IpDef], vlnvs: list[str], board_parts: list[str]):
        self.catalog = catalog
        self.vlnvs = vlnvs
        self.board_parts = board_parts
        self.d = Design()
        self.cells: dict[str, Cell] = {}
        self.pin_net: dict[str, int] = {}       # "/cell/pin" -> index in d.nets
        self.intf_net: dict[str, str] = {}      # "/cell/intf" -> peer
        self.ext_ports: dict[str, str] = {}     # external port -> mode (created)
        self.sources: list[Path] = []
        self.assigned: dict[tuple[str, str], tuple[int, int]] = {}
        self.bd = ""
        self.line = 0

    def fail(self, msg: str) -> None:
        raise BdCheckError(f"line {self.line}: {msg}")

    # ---- objects
    def cell(self, path: str, what: str) -> Cell:
        name = path.strip("/").split("/")[0]
        if name not in self.cells:
            self.fail(f"{what}: no cell {name!r} in the block design (cells: "
                      f"{', '.join(sorted(self.cells)) or 'none'})")
        return self.cells[name]

    def pin(self, path: str, what: str) -> tuple[Cell, Pin]:
        parts = path.strip("/").split("/")
        if len(parts) != 2:
            self.fail(f"{what}: {path!r} is not a /cell/pin name")
        c = self.cell(path, what)
        pins = c.pins()
        if parts[1] not in pins:
            self.fail(f"{what}: cell {c.name} ({c.ip}) has no pin {parts[1]!r} with its current "
                      f"configuration (it has {', '.join(sorted(pins)) or 'none'})")
        return c, pins[parts[1]]

    def intf(self, path: str, what: str) -> tuple[Cell | None, Intf | None]:
        parts = path.strip("/").split("/")
        if len(parts) == 1 and parts[0] in self.ext_ports:
            return None, None
        if len(parts) != 2:
            self.fail(f"{what}: {path!r} is not a /cell/interface name or an external interface port")
        c = self.cell(path, what)
        intfs = c.intfs()
        if parts[1] not in intfs:
            self.fail(f"{what}: cell {c.name} ({c.ip}) has no interface {parts[1]!r} with its current "
                      f"configuration (it has {', '.join(sorted(intfs)) or 'none'})")
        return c, intfs[parts[1]]

    # ---- commands
    def run(self, records: list[dict[str, Any]]) -> Design:
        for r in records:
            self.line = r["line"]
            handler = getattr(self, "cmd_" + r["cmd"], None)
            if handler is not None:
                handler(r["args"])
        return self.d

    def cmd_version(self, args):
        pass

    def cmd_create_project(self, args):
        pos = [a for i, a in enumerate(args) if not a.startswith("-") and (i == 0 or args[i - 1] != "-part")]
        part = args[args.index("-part") + 1] if "-part" in args else None
        if part is None:
            self.fail("create_project needs -part")
        self.d.project = {"name": pos[0], "dir": pos[1] if len(pos) > 1 else ".", "part": part,
                          "board_part": None}

    def cmd_set_property(self, args):
        if not args:
            self.fail("set_property needs a property")
        if args[0] == "-dict":
            items = _tcl_words(args[1])
            props = dict(zip(items[0::2], items[1::2]))
            objs = _flat(args[2:])
        else:
            props = {args[0]: args[1]}
            objs = _flat(args[2:])
        if not objs:
            self.fail(f"set_property {' '.join(props)}: no object to set it on (an empty get_* result?)")
        for obj in objs:
            if obj.startswith("/"):
                self._set_cell(obj, props)
            elif obj == self.d.project.get("name"):
                for k, v in props.items():
                    if k == "board_part":
                        if v not in self.board_parts:
                            self.fail(f"set_property board_part: board part {v!r} is not installed "
                                      f"(installed: {', '.join(self.board_parts) or 'none'})")
                        self.d.project["board_part"] = v
                    else:
                        self.d.project[k] = v
            elif obj == "sources_1":
                if "top" in props:
                    self.d.top = props["top"]
            else:
                self.d.project.setdefault("other_properties", []).append([obj, props])

    def _set_cell(self, obj, props):
        c = self.cell(obj, "set_property")
        if obj.strip("/").count("/"):
            self.fail(f"set_property: {obj} is not a cell")
        for k, v in props.items():
            if not k.startswith("CONFIG."):
                continue
            key = k[len("CONFIG."):]
            if c.module_ports is not None:
                self.fail(f"set_property: module reference {c.name} has no parameter {key}")
            if key not in c.ipdef.params:
                self.fail(f"set_property: {c.ip} has no parameter CONFIG.{key} in hwgen's model "
                          f"(known: {', '.join(sorted(c.ipdef.params))})")
            c.config[key] = str(v)
        try:
            msg = c.ipdef.check(c.config) if c.ipdef else None
        except BdCheckError as e:
            msg = str(e)
        if msg:
            self.fail(f"set_property on {c.name}: {msg}")
        self.d.cells[c.name]["config"] = dict(c.config)

    def cmd_add_files(self, args):
        for a in args:
            if not a.startswith("-"):
                self.sources.append(Path(a))

    def cmd_create_bd_design(self, args):
        if not self.d.project:
            self.fail("create_bd_design before create_project")
        self.bd = [a for a in args if not a.startswith("-")][0]

    def cmd_create_bd_cell(self, args):
        if not self.bd:
            self.fail("create_bd_cell before create_bd_design")
        typ = args[args.index("-type") + 1] if "-type" in args else None
        name = [a for i, a in enumerate(args) if not a.startswith("-")
                and args[i - 1] not in ("-type", "-vlnv", "-reference")][0].strip("/")
        if name in self.cells:
            self.fail(f"create_bd_cell: a cell named {name!r} exists already")
        if typ == "ip":
            vlnv = args[args.index("-vlnv") + 1] if "-vlnv" in args else ""
            if vlnv not in self.vlnvs:
                self.fail(f"create_bd_cell: IP {vlnv!r} is not in the IP catalog")
            ipname = vlnv.split(":")[2]
            if ipname not in self.catalog:
                self.fail(f"create_bd_cell: IP {ipname} is not in hwgen's model")
            ipdef = self.catalog[ipname]
            c = Cell(name, ipname, vlnv, dict(ipdef.params), ipdef=ipdef)
        elif typ == "module":
            module = args[args.index("-reference") + 1]
            ports = None
            for src in self.sources:
                if src.suffix in (".v", ".sv") and src.is_file():
                    ports = parse_module_ports(src.read_text(), module)
                    if ports is not None:
                        break
            if ports is None:
                self.fail(f"create_bd_cell: module {module!r} is in none of the files added to the "
                          f"project ({', '.join(s.name for s in self.sources) or 'none'})")
            c = Cell(name, f"module:{module}", module, {}, module_ports=ports)
        else:
            self.fail(f"create_bd_cell: -type must be ip or module, not {typ!r}")
        self.cells[name] = c
        self.d.cells[name] = {"ip": c.ip, "vlnv": c.vlnv, "config": dict(c.config)}

    def cmd_apply_bd_automation(self, args):
        rule = args[args.index("-rule") + 1] if "-rule" in args else ""
        objs = _flat([a for i, a in enumerate(args) if not a.startswith("-")
                      and args[i - 1] not in ("-rule", "-config")])
        cfg = args[args.index("-config") + 1] if "-config" in args else ""
        if rule in ("xilinx.com:bd_rule:processing_system7", "xilinx.com:bd_rule:zynq_ultra_ps_e"):
            for obj in objs:
                c = self.cell(obj, "apply_bd_automation")
                if c.ip != rule.split(":")[-1]:
                    self.fail(f"apply_bd_automation: rule {rule} does not apply to {c.name} ({c.ip})")
                if "apply_board_preset" in cfg and re.search(r'apply_board_preset\s+"?1', cfg) \
                        and not self.d.project.get("board_part"):
                    self.fail("apply_bd_automation: apply_board_preset 1 needs the project's "
                              "board_part (board files)")
                m = re.search(r'make_external\s+"([^"]*)"', cfg)
                for intf in (m.group(1).replace(",", " ").split() if m else []):
                    _c, i = self.intf(f"/{c.name}/{intf}", "apply_bd_automation")
                    if i.mode != "External":
                        self.fail(f"apply_bd_automation: {c.name}/{intf} is not an external interface")
                    self._connect_intf(f"/{c.name}/{intf}", f"/{intf}", external=True)
        else:
            self.fail(f"apply_bd_automation: rule {rule!r} is not in hwgen's model")

    def cmd_create_bd_intf_port(self, args):
        name = [a for i, a in enumerate(args) if not a.startswith("-")
                and args[i - 1] not in ("-mode", "-vlnv")][0]
        self.ext_ports[name.strip("/")] = args[args.index("-mode") + 1] if "-mode" in args else ""

    def _connect_intf(self, a, b, external=False):
        for p in (a, b):
            if p in self.intf_net:
                self.fail(f"connect_bd_intf_net: {p} is connected already (to {self.intf_net[p]})")
        if external:
            self.ext_ports[b.strip("/")] = "external"
        self.intf_net[a], self.intf_net[b] = b, a
        self.d.intf_nets.append(sorted([a, b]))
        if external:
            self.d.external[b] = a

    def cmd_connect_bd_intf_net(self, args):
        ends = _flat([a for a in args if not a.startswith("-")])
        if len(ends) != 2:
            self.fail(f"connect_bd_intf_net needs two interfaces, got {len(ends)} ({' '.join(ends)})")
        (ca, ia), (cb, ib) = (self.intf(e, "connect_bd_intf_net") for e in ends)
        if ia is not None and ib is not None:
            if {ia.mode, ib.mode} != {"Master", "Slave"}:
                self.fail(f"connect_bd_intf_net: {ends[0]} ({ia.mode}) and {ends[1]} ({ib.mode}) "
                          f"are not a master and a slave")
        ext = ia is None or ib is None
        self._connect_intf(ends[0], ends[1])
        if ext:
            port, pin = (ends[0], ends[1]) if ia is None else (ends[1], ends[0])
            self.d.external[port] = pin

    def cmd_connect_bd_net(self, args):
        ends = _flat([a for a in args if not a.startswith("-")])
        if len(ends) < 2:
            self.fail(f"connect_bd_net needs at least two pins, got {' '.join(ends) or 'none'} "
                      f"(an empty get_bd_pins result?)")
        drivers = []
        for e in ends:
            _c, p = self.pin(e, "connect_bd_net")
            if p.dir == "O":
                drivers.append(e)
        joined = {self.pin_net[e] for e in ends if e in self.pin_net}
        if len(joined) > 1:
            self.fail(f"connect_bd_net: {', '.join(e for e in ends if e in self.pin_net)} are on "
                      f"different nets already")
        if joined:
            idx = joined.pop()
            net = self.d.nets[idx]
            for e in net:
                if self.pin(e, "connect_bd_net")[1].dir == "O" and e not in drivers:
                    drivers.append(e)
        else:
            idx = len(self.d.nets)
            self.d.nets.append([])
        if len(drivers) != 1:
            self.fail(f"connect_bd_net: a net needs exactly one driver, {' '.join(ends)} has "
                      f"{len(drivers)} ({', '.join(drivers) or 'only inputs'})")
        net = sorted(set(self.d.nets[idx]) | set(ends))
        self.d.nets[idx] = net
        for e in ends:
            self.pin_net[e] = idx

    def cmd_assign_bd_address(self, args):
        if "-offset" not in args or "-range" not in args or "-target_address_space" not in args:
            self.fail("assign_bd_address: hwgen's scripts give -offset, -range and "
                      "-target_address_space (the address map is then the script's, not a guess)")
        try:
            offset = int(args[args.index("-offset") + 1], 0)
            rng = _size(args[args.index("-range") + 1])
        except ValueError:
            self.fail(f"assign_bd_address: bad -offset or -range in {' '.join(args)}")
        space = _flat([args[args.index("-target_address_space") + 1]])
        segs = _flat([a for i, a in enumerate(args) if not a.startswith("-")
                      and args[i - 1] not in ("-offset", "-range", "-target_address_space")])
        if len(space) != 1 or len(segs) != 1:
            self.fail(f"assign_bd_address: one address space and one segment, not {space} and {segs}")
        space, seg = space[0], segs[0]
        spaces = self.spaces()
        if space not in spaces:
            self.fail(f"assign_bd_address: no address space {space} (spaces: {', '.join(sorted(spaces))})")
        reach = self.space_reach(*spaces[space])
        if seg not in reach:
            self.fail(f"assign_bd_address: segment {seg} is not reachable from {space} (reachable: "
                      f"{', '.join(sorted(reach)) or 'none'})")
        if (space, seg) in self.assigned:
            self.fail(f"assign_bd_address: {seg} is assigned in {space} already")
        if rng < 4096 or rng & (rng - 1):
            self.fail(f"assign_bd_address: range {rng:#x} of {seg} must be a power of two of at least 4K")
        if offset % rng:
            self.fail(f"assign_bd_address: offset {offset:#x} of {seg} is not aligned to its range {rng:#x}")
        windows = [(i.window_base, i.window_base + i.window_size) for i in spaces[space][1]]
        if not any(lo <= offset and offset + rng <= hi for lo, hi in windows):
            self.fail(f"assign_bd_address: {seg} at {offset:#x}+{rng:#x} is outside {space}'s window "
                      f"{', '.join(f'{lo:#x}..{hi:#x}' for lo, hi in windows)}")
        for (sp, other), (o, r) in self.assigned.items():
            if sp == space and r and offset < o + r and o < offset + rng:
                self.fail(f"assign_bd_address: {seg} at {offset:#x}+{rng:#x} overlaps {other} at "
                          f"{o:#x}+{r:#x} in {space}")
        self.assigned[(space, seg)] = (offset, rng)
        self.d.address_map.append({"space": space, "segment": seg, "offset": offset, "range": rng})

    def cmd_exclude_bd_addr_seg(self, args):
        segs = _flat([a for i, a in enumerate(args) if not a.startswith("-")
                      and args[i - 1] != "-target_address_space"])
        target = (_flat([args[args.index("-target_address_space") + 1]])
                  if "-target_address_space" in args else None)
        spaces = self.spaces()
        for seg in segs:
            where = [sp for sp, (c, i) in spaces.items() if seg in self.space_reach(c, i)
                     and (target is None or sp in target)]
            if not where:
                self.fail(f"exclude_bd_addr_seg: segment {seg} is reachable from no address space")
            for sp in where:
                if (sp, seg) in self.assigned:
                    self.fail(f"exclude_bd_addr_seg: {seg} is assigned in {sp} already")
                self.assigned[(sp, seg)] = (0, 0)
                self.d.address_map.append({"space": sp, "segment": seg, "offset": None,
                                           "range": None, "excluded": True})

    # ---- address spaces
    def spaces(self) -> dict[str, tuple[Cell, list[Intf]]]:
        """Master address spaces: ``/cell/space`` -> (cell, its master interfaces). Several masters
        may share one space (a PS's ``Data``: M_AXI_HPM0_FPD and M_AXI_HPM1_FPD)."""
        out: dict[str, tuple[Cell, list[Intf]]] = {}
        for c in self.cells.values():
            for i in c.intfs().values():
                if i.mode == "Master" and i.space:
                    out.setdefault(f"/{c.name}/{i.space}", (c, []))[1].append(i)
        return out

    def space_reach(self, cell: Cell, masters: list[Intf]) -> set[str]:
        """Slave segments reachable from any master interface of ``cell``'s address space."""
        return set().union(*(self.reachable(f"/{cell.name}/{i.name}") for i in masters))

    def reachable(self, start: str) -> set[str]:
        """Slave segments reachable from the master interface ``/cell/intf`` (through
        interconnects). The path names the cell: two cells of one IP have equal interfaces."""
        seen, todo, segs = set(), [start], set()
        while todo:
            here = todo.pop()
            if here in seen:
                continue
            seen.add(here)
            peer = self.intf_net.get(here)
            if peer is None or peer.count("/") != 2:
                continue
            c = self.cells[peer.strip("/").split("/")[0]]
            i = c.intfs().get(peer.strip("/").split("/")[1])
            if i is None or i.mode != "Slave":
                continue
            if i.passthrough:
                todo += [f"/{c.name}/{o.name}" for o in c.intfs().values() if o.mode == "Master"]
            for s in i.segments:
                segs.add(f"/{c.name}/{i.memory_map or i.name}/{s.name}")
        return segs

    # ---- validation
    def cmd_validate_bd_design(self, args):
        self.validate()
        self.d.validated = True

    def validate(self):
        for c in self.cells.values():
            pins = c.pins()
            for p in pins.values():
                if p.required and f"/{c.name}/{p.name}" not in self.pin_net:
                    self.fail(f"validate_bd_design: {p.kind} pin /{c.name}/{p.name} ({c.ip}) is not connected")
            for i in c.intfs().values():
                path = f"/{c.name}/{i.name}"
                if i.mode == "External" and path not in self.intf_net:
                    self.fail(f"validate_bd_design: interface {path} must be made external (DDR and "
                              f"FIXED_IO: apply_bd_automation ... make_external)")
                if i.passthrough and path not in self.intf_net:
                    self.fail(f"validate_bd_design: interconnect port {path} is not connected "
                              f"(NUM_SI/NUM_MI larger than what is used)")
                if path in self.intf_net and i.clock:
                    if i.clock not in pins:
                        self.fail(f"validate_bd_design: interface {path} has no clock pin {i.clock}")
                    if f"/{c.name}/{i.clock}" not in self.pin_net:
                        self.fail(f"validate_bd_design: interface {path} is connected but its clock "
                                  f"/{c.name}/{i.clock} is not")
        for space, (c, masters) in self.spaces().items():
            for seg in sorted(self.space_reach(c, masters)):
                if (space, seg) not in self.assigned:
                    self.fail(f"validate_bd_design: segment {seg} is reachable from {space} but not "
                              f"assigned (no address)")

    # ---- files and runs
    def cmd_generate_target(self, args):
        if not self.d.validated:       # Vivado validates a design it generates output products for
            self.validate()
            self.d.validated = True

    cmd_make_wrapper = cmd_generate_target

    def cmd_launch_runs(self, args):
        run = [a for i, a in enumerate(args) if not a.startswith("-")
               and args[i - 1] not in ("-to_step", "-jobs")][0]
        step = args[args.index("-to_step") + 1] if "-to_step" in args else ""
        if not self.d.top:
            self.fail(f"launch_runs {run}: no top set (set_property top <bd>_wrapper [current_fileset])")
        if run.startswith("impl") and not any(r.startswith("synth") for r, _s in self.d.runs):
            # Vivado runs an implementation run's parent synthesis run first (PYNQ's
            # build_bitstream.tcl launches impl_1 alone)
            self.d.runs.append(("synth_1", "(parent of " + run + ")"))
        self.d.runs.append((run, step))


def _tcl_words(text: str) -> list[str]:
    """Split a Tcl list of simple words and brace-quoted items (what ``-dict [list ...]`` gives)."""
    out, i, n = [], 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        if text[i] == "{":
            depth, j = 1, i + 1
            while j < n and depth:
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            out.append(text[i + 1: j - 1])
            i = j
        else:
            j = i
            while j < n and not text[j].isspace():
                j += 1
            out.append(text[i:j])
            i = j
    return out


# ============================================================================ entry point
def check_bd_tcl(script: str | Path, *, board_files: bool = True, version: str = DEFAULT_VERSION,
                 ips: Iterable[IpDef] = (), vlnvs: Iterable[str] = (), drop_vlnvs: Iterable[str] = (),
                 board_parts: Iterable[str] | None = None, timeout: float = 60.0) -> Design:
    """Run ``script`` (a block-design Tcl file) against hwgen's model of Vivado; return the
    recorded :class:`Design` or raise :class:`BdCheckError`.

    The script's folder is copied to a temporary folder and run there (``tclsh``), so what it
    writes (the model's project folder, its copies of the bitstream) goes nowhere else;
    ``Design.files`` lists what it left.

    Parameters
    ----------
    board_files : bool
        Whether the boards' files are installed (``get_board_parts`` finds the board parts of
        :data:`hwgen.fpga.boards.BOARDS`).
    version : str
        What ``version -short`` answers.
    ips, vlnvs : optional
        More IP for the model (e.g. an HLS core) and the VLNVs the catalog lists for them.
    drop_vlnvs : optional
        VLNVs to leave out of the catalog (tests: a script must not pin an IP version).
    board_parts : optional
        The installed board parts, instead of those of :data:`hwgen.fpga.boards.BOARDS` (tests:
        other vendors' names and file versions of the same board).
    """
    script = Path(script)
    if not script.is_file():
        raise BdCheckError(f"block-design script {script} does not exist")
    tclsh = toolchain.require("tclsh")
    catalog = default_catalog()
    for ip in ips:
        catalog[ip.name] = ip
    catalog_vlnvs = [v for v in (*CATALOG_VLNVS, *vlnvs) if v not in set(drop_vlnvs)]
    if board_parts is None:
        board_parts = sorted(b.board_part for b in BOARDS.values()) if board_files else []
    board_parts = list(board_parts)
    with tempfile.TemporaryDirectory(prefix="hwgen-bdcheck-") as tmp:
        work = Path(tmp) / "project"
        shutil.copytree(script.parent, work)
        before = {p.relative_to(work).as_posix() for p in work.rglob("*") if p.is_file()}
        log = Path(tmp) / "record.jsonl"
        driver = Path(tmp) / "driver.tcl"
        tcl_list = lambda xs: "{" + " ".join("{" + x + "}" for x in xs) + "}"   # noqa: E731
        driver.write_text(
            "namespace eval ::hwgen_model {}\n"
            f"set ::hwgen_model::log_path {{{log}}}\n"
            f"set ::hwgen_model::ipdefs {tcl_list(catalog_vlnvs)}\n"
            f"set ::hwgen_model::board_parts {tcl_list(board_parts)}\n"
            f"set ::hwgen_model::version {{{version}}}\n"
            f"source {{{MODEL_TCL}}}\n"
            f"set argv {{}}\nset argc 0\n"
            f"cd {{{work}}}\n"
            f"source {{{work / script.name}}}\n")
        try:
            proc = subprocess.run([*tclsh, str(driver)], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BdCheckError(f"{script.name} did not finish in {timeout:g} s under hwgen's Vivado model") from None
        records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        replay = _Replay(catalog, catalog_vlnvs, board_parts)
        if proc.returncode != 0:
            err = (proc.stderr.strip().splitlines() or ["(no message)"])[0]
            where = re.search(r'\(file "[^"]*" line (\d+)\)', proc.stderr)
            line = where.group(1) if where else "?"
            if err.startswith("invalid command name"):
                err += " (not a Vivado command hwgen's model knows)"
            # what the replay finds up to the failure is often the better message
            try:
                replay.run(records)
            except BdCheckError as e:
                raise BdCheckError(f"{script.name} {e}") from None
            raise BdCheckError(f"{script.name} line {line}: {err}")
        try:
            design = replay.run(records)
        except BdCheckError as e:
            raise BdCheckError(f"{script.name} {e}") from None
        design.version = version
        design.output = proc.stdout
        design.files = {p.relative_to(work).as_posix(): p.stat().st_size
                        for p in sorted(work.rglob("*")) if p.is_file()
                        and p.relative_to(work).as_posix() not in before}
    return design
