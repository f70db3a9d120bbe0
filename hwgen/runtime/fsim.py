"""``FsimDevice``: the functional simulator (:class:`hwgen.accel.model.Machine`) behind the device
interface, with a numpy DRAM image as its memory."""
from __future__ import annotations

from ..accel.config import AccelConfig
from ..accel.model import Machine, RunResult
from .device import HostMemoryDevice

#: Default window: 256 MiB at 0x1000_0000 (allocated lazily by the OS: zero pages cost nothing).
DEFAULT_BASE = 0x1000_0000
DEFAULT_SIZE = 256 << 20


class FsimDevice(HostMemoryDevice):
    """The bit-exact functional simulator as a device (cycles are the simulator's estimate).

    Parameters
    ----------
    config : AccelConfig
    base, size : int
        The DRAM window (defaults: 256 MiB at 0x10000000, capped by ``dram_addr_width``).
    """

    name = "fsim"

    def __init__(self, config: AccelConfig, base: int | None = None, size: int | None = None):
        if not isinstance(config, AccelConfig):
            raise TypeError(f"FsimDevice needs an AccelConfig, not {type(config).__name__}")
        if base is None:
            top = 1 << config.dram_addr_width
            base = DEFAULT_BASE if DEFAULT_BASE + (1 << 20) <= top else 0x1000
            size = min(DEFAULT_SIZE, top - base) if size is None else size
        size = DEFAULT_SIZE if size is None else size
        super().__init__(config, base, size)
        self.machine = Machine(config)

    def _execute(self, insn_offset: int, insn_count: int, timeout_s: float | None) -> RunResult:
        return self.machine.run(self.mem, self.base, insn_addr=insn_offset, insn_count=insn_count,
                                dram_base=self.base, dram_limit=self.limit)
