"""FPGA/PYNQ projects: the boards hwgen targets and the Vivado projects built around its hardware.

- ``boards``: one table of the supported boards (part, board files, processing system and the
  ports of it that a design uses).
- ``wrapper``: the Vivado block-design wrapper of an hwgen top with AXI ports (``aclk``,
  ``aresetn``, ``irq``, ``m_axi_*``, ``s_axi_control_*`` with ``X_INTERFACE`` attributes).
- ``bdcheck``: hwgen's recorded model of the Vivado block-design commands (not Vivado): runs a
  generated Tcl script in ``tclsh`` and rejects what Vivado would reject.
- ``accel_project``: ``hwgen accel project`` (block design, Makefile, README, PYNQ overlay package).

Nothing here imports amaranth at import time, so a board's Python can read the board table.
"""
from .bdcheck import BdCheckError, Design, IpDef, check_bd_tcl
from .boards import BOARDS, Board, get_board

__all__ = ["BOARDS", "Board", "get_board", "BdCheckError", "Design", "IpDef", "check_bd_tcl"]
