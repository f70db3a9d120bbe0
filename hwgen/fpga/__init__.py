"""FPGA/PYNQ projects: the boards hwgen targets and the Vivado projects built around its hardware.

``boards``: one table of the supported boards (part, board files, processing system and the ports
of it that a design uses). The per-capability project generators (``hwgen accel project``,
``hwgen hls project``) read it; nothing here imports amaranth, so a board's Python can read it.
"""
from .boards import BOARDS, Board, get_board

__all__ = ["BOARDS", "Board", "get_board"]
