"""Named boards (their FPGA part and resources) and named HLS configurations."""
from __future__ import annotations

from dataclasses import dataclass

from .config import HlsConfig


@dataclass(frozen=True)
class Board:
    """An FPGA board: the part the HLS Tcl targets and the resources the model may use."""
    name: str
    part: str
    luts: int
    dsp: int
    bram36: int

    @property
    def bram18(self) -> int:
        return 2 * self.bram36


BOARDS: dict[str, Board] = {b.name: b for b in [
    Board("pynq-z2", "xc7z020clg400-1", 53_200, 220, 140),
    Board("ultra96", "xczu3eg-sbva484-1-e", 70_560, 360, 216),      # Ultra96 (v1)
    Board("ultra96v2", "xczu3eg-sbva484-1-i", 70_560, 360, 216),    # the same device, industrial grade
    Board("kv260", "xck26-sfvc784-2LV-c", 117_120, 1_248, 144),
    Board("zcu104", "xczu7ev-ffvc1156-2-e", 230_400, 1_728, 312),
]}

PRESETS: dict[str, HlsConfig] = {
    "skynet-tiny": HlsConfig(model="skynet-tiny", board="pynq-z2", fps=1000.0, clock_mhz=100.0),
    "skynet-ultra96": HlsConfig(model="skynet", board="ultra96", fps=25.0, clock_mhz=200.0),
    "skynet-zcu104": HlsConfig(model="skynet", board="zcu104", fps=50.0, clock_mhz=200.0),
    "mbv2det-ultra96": HlsConfig(model="mbv2-det", board="ultra96", fps=50.0, clock_mhz=200.0),
}
