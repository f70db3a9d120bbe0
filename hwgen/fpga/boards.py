"""The boards hwgen makes Vivado projects for, in one table.

Each :class:`Board` records the part, the Vivado board-file name, and the processing system (PS)
ports a block design uses: the general-purpose master that reaches AXI4-Lite registers, the
high-performance slave through which the fabric reads and writes the PS's DDR, the fabric clock,
its reset and the fabric-to-PS interrupt. Names are those of Vivado's ``processing_system7``
(Zynq-7000) and ``zynq_ultra_ps_e`` (Zynq UltraScale+) IP; the ``config`` maps give the
CONFIG properties that enable each port.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class Board:
    """A board: part, board files, and the PS ports a block design connects to."""

    name: str
    #: FPGA part, e.g. ``xc7z020clg400-1``
    part: str
    #: Vivado board part (needs the board files installed), e.g. ``tul.com.tw:pynq-z2:part0:1.0``
    board_part: str
    #: ``ps7`` (Zynq-7000, IP ``processing_system7``) or ``psu`` (Zynq UltraScale+, ``zynq_ultra_ps_e``)
    ps: str
    #: IP name of the PS (the VLNV's third field)
    ps_ip: str
    #: DDR the PS gives the fabric through the HP port, in bytes
    ddr_bytes: int
    #: base address of that DDR as the HP port sees it
    ddr_base: int
    #: PS master port for AXI4-Lite registers, its clock pin and the base of its address window
    gp_port: str
    gp_aclk: str
    gp_base: int
    gp_config: dict[str, str] = field(default_factory=dict)
    #: PS high-performance slave port for the fabric's DRAM traffic, its clock pin, allowed widths
    hp_port: str
    hp_aclk: str
    hp_widths: tuple[int, ...]
    #: CONFIG property that sets the HP port's data width
    hp_width_property: str
    hp_config: dict[str, str] = field(default_factory=dict)
    #: fabric clock 0 pin, its frequency property, reset pin (active low)
    fclk: str
    fclk_property: str
    fclk_max_mhz: int
    resetn: str
    #: fabric-to-PS interrupt pin and the CONFIG properties that enable it
    irq: str
    irq_config: dict[str, str] = field(default_factory=dict)
    #: the part's fabric: LUTs, flip-flops, DSP slices, 36-kbit block RAMs
    luts: int
    ffs: int
    dsps: int
    bram36: int
    #: PYNQ image the overlay targets (for the overlay's README)
    pynq: str = "PYNQ 3.0"
    #: lowest fabric clock a project may ask for
    fclk_min_mhz: int = 10

    @property
    def slug(self) -> str:
        return self.name

    @property
    def board_pattern(self) -> str:
        """``get_board_parts`` pattern of this board in any vendor's spelling and any file version:
        Avnet's Ultra96-V2 files are ``avnet.com:ultra96v2:part0:1.2`` (1.0 to 1.2),
        ``em.avnet.com:...:1.0`` in older and ``avnet-tria:...:1.3`` in newer releases."""
        _vendor, board, component, _version = self.board_part.split(":")
        return f"*:{board}:{component}:*"

    @property
    def ps_cell(self) -> str:
        """The PS's cell name in a block design."""
        return f"{self.ps_ip}_0"

    @property
    def hp_memory_map(self) -> str:
        """The memory map that holds the HP port's address segments: a segment is
        ``<ps_cell>/<hp_memory_map>/<segment>``. On processing_system7 it is the interface's own
        name (``S_AXI_HP0``); on zynq_ultra_ps_e it is the port's internal name ``SAXIGP2``, not
        ``S_AXI_HP0_FPD`` (PYNQ's ZCU104 base.tcl: ``ps_e_0/SAXIGP2/HP0_DDR_LOW``)."""
        return _HP_MEMORY_MAP[self.ps]

    @property
    def hp_segments(self) -> tuple[tuple[str, int, int], ...]:
        """The address segments the HP slave port offers a master, (name, offset, bytes): the
        DDR first, then those a DMA master must be kept from (excluded in its address map)."""
        name, others = _HP_SEGMENTS[self.ps]
        return ((name, self.ddr_base, self.ddr_bytes),) + others


#: per PS kind: the memory map of the HP port's segments (see Board.hp_memory_map)
_HP_MEMORY_MAP = {"ps7": "S_AXI_HP0", "psu": "SAXIGP2"}
#: per PS kind: the HP port's DDR segment and its other segments (name, offset, bytes)
_HP_SEGMENTS = {"ps7": ("HP0_DDR_LOWOCM", ()),
                "psu": ("HP0_DDR_LOW", (("HP0_QSPI", 0xC000_0000, 0x2000_0000),
                                        ("HP0_LPS_OCM", 0xFF00_0000, 0x0100_0000)))}

# Every other AXI port of the PS is switched off explicitly: a board preset may enable one
# (a ZCU102 preset enables M_AXI_HPM1_FPD, whose unconnected clock then fails validation with
# BD 41-1273, as a public project reports), and hwgen connects only these.
_PS7_GP = {"PCW_USE_M_AXI_GP0": "1", "PCW_USE_M_AXI_GP1": "0"}
_PS7_HP = {"PCW_USE_S_AXI_HP0": "1", "PCW_USE_S_AXI_HP1": "0", "PCW_USE_S_AXI_HP2": "0",
           "PCW_USE_S_AXI_HP3": "0", "PCW_USE_S_AXI_ACP": "0", "PCW_USE_S_AXI_GP0": "0",
           "PCW_USE_S_AXI_GP1": "0"}
_PS7_IRQ = {"PCW_USE_FABRIC_INTERRUPT": "1", "PCW_IRQ_F2P_INTR": "1"}
_PSU_GP = {"PSU__USE__M_AXI_GP0": "1", "PSU__USE__M_AXI_GP1": "0", "PSU__USE__M_AXI_GP2": "0"}
_PSU_HP = {"PSU__USE__S_AXI_GP2": "1", **{f"PSU__USE__S_AXI_GP{i}": "0" for i in (0, 1, 3, 4, 5, 6)}}
_PSU_IRQ = {"PSU__USE__IRQ0": "1"}


def _ps7(name: str, board_part: str, ddr_bytes: int) -> Board:
    return Board(name=name, part="xc7z020clg400-1", board_part=board_part, ps="ps7",
                 luts=53_200, ffs=106_400, dsps=220, bram36=140,
                 ps_ip="processing_system7", ddr_bytes=ddr_bytes, ddr_base=0x0000_0000,
                 gp_port="M_AXI_GP0", gp_aclk="M_AXI_GP0_ACLK", gp_base=0x4000_0000,
                 gp_config=_PS7_GP, hp_port="S_AXI_HP0", hp_aclk="S_AXI_HP0_ACLK",
                 hp_widths=(32, 64), hp_width_property="PCW_S_AXI_HP0_DATA_WIDTH",
                 hp_config=_PS7_HP, fclk="FCLK_CLK0", fclk_property="PCW_FPGA0_PERIPHERAL_FREQMHZ",
                 fclk_max_mhz=250, resetn="FCLK_RESET0_N", irq="IRQ_F2P", irq_config=_PS7_IRQ)


BOARDS: dict[str, Board] = {
    "pynq-z2": _ps7("pynq-z2", "tul.com.tw:pynq-z2:part0:1.0", 512 << 20),
    "pynq-z1": _ps7("pynq-z1", "www.digilentinc.com:pynq-z1:part0:1.0", 512 << 20),
    "ultra96v2": Board(
        name="ultra96v2", part="xczu3eg-sbva484-1-i", board_part="avnet.com:ultra96v2:part0:1.2",
        luts=70_560, ffs=141_120, dsps=360, bram36=216,
        ps="psu", ps_ip="zynq_ultra_ps_e", ddr_bytes=2 << 30, ddr_base=0x0000_0000,
        gp_port="M_AXI_HPM0_FPD", gp_aclk="maxihpm0_fpd_aclk", gp_base=0xA000_0000,
        gp_config=_PSU_GP, hp_port="S_AXI_HP0_FPD", hp_aclk="saxihp0_fpd_aclk",
        hp_widths=(32, 64, 128), hp_width_property="PSU__SAXIGP2__DATA_WIDTH", hp_config=_PSU_HP,
        fclk="pl_clk0", fclk_property="PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ", fclk_max_mhz=333,
        resetn="pl_resetn0", irq="pl_ps_irq0", irq_config=_PSU_IRQ),
}


def get_board(name: str) -> Board:
    """The board called ``name``; an unknown name lists the valid ones."""
    if name not in BOARDS:
        raise ConfigError(f"unknown board {name!r}; valid boards: {', '.join(BOARDS)}")
    return BOARDS[name]
