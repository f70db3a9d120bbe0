"""``PynqDevice``: the accelerator on a PYNQ board (Zynq-7000 / Zynq UltraScale+).

Uses the real ``pynq`` API, imported only when a ``PynqDevice`` is made: ``Overlay(bitfile)``
(needs the ``.hwh`` beside the bitstream), ``allocate`` for one physically contiguous DRAM window
that all buffers are carved from (flushed/invalidated around each run), and ``MMIO`` on the
accelerator's AXI4-Lite port for the register sequence of :class:`~hwgen.runtime.device.RegisterDevice`.
"""
from __future__ import annotations

import importlib

import numpy as np

from ..accel.config import AccelConfig
from ..accel.isa import REGMAP_BYTES
from ..errors import DeviceError
from .device import RegisterDevice

#: Default DRAM window (contiguous memory from the board's CMA pool).
DEFAULT_WINDOW = 64 << 20


class PynqDevice(RegisterDevice):
    """An accelerator in a loaded PYNQ overlay.

    Parameters
    ----------
    config : AccelConfig
        Must match the bitstream (checked against its CFG_ID register).
    bitfile : str
        Path of the ``.bit`` (with its ``.hwh`` beside it).
    ip_name : str, optional
        Name of the accelerator in ``Overlay.ip_dict`` (default: the one whose name starts with
        ``hwgen_accel``).
    window_bytes : int
        Size of the contiguous DRAM window to allocate.
    pynq_module : module, optional
        The ``pynq`` module to use (tests pass a recording fake); imported lazily by default.
    """

    name = "pynq"

    def __init__(self, config: AccelConfig, bitfile: str, *, ip_name: str | None = None,
                 window_bytes: int = DEFAULT_WINDOW, pynq_module=None):
        if pynq_module is None:
            try:
                pynq_module = importlib.import_module("pynq")
            except ImportError:
                raise DeviceError("PynqDevice needs the pynq package, which exists only on a PYNQ "
                                  "board image (pip install pynq on the board)") from None
        self.pynq = pynq_module
        self.overlay = pynq_module.Overlay(bitfile)
        ips = self.overlay.ip_dict
        if ip_name is None:
            names = sorted(n for n in ips if n.startswith("hwgen_accel"))
            if len(names) != 1:
                raise DeviceError(f"cannot pick the accelerator IP in {bitfile}: candidates "
                                  f"{names or sorted(ips)}; pass ip_name=")
            ip_name = names[0]
        if ip_name not in ips:
            raise DeviceError(f"overlay {bitfile} has no IP {ip_name!r}; it has {', '.join(sorted(ips))}")
        ip = ips[ip_name]
        self.mmio = pynq_module.MMIO(int(ip["phys_addr"]), max(int(ip.get("addr_range", REGMAP_BYTES)),
                                                               REGMAP_BYTES))
        self.window = pynq_module.allocate(shape=(window_bytes,), dtype=np.uint8)
        addr = int(getattr(self.window, "device_address", None) or self.window.physical_address)
        super().__init__(config, addr, window_bytes)
        self.check_identity()

    def reg_read(self, offset: int) -> int:
        return int(self.mmio.read(offset)) & 0xFFFF_FFFF

    def reg_write(self, offset: int, value: int) -> None:
        self.mmio.write(offset, int(value) & 0xFFFF_FFFF)

    def _mem_write(self, addr: int, data: np.ndarray) -> None:
        o = addr - self.base
        self.window[o: o + data.size] = data

    def _mem_read(self, addr: int, nbytes: int) -> np.ndarray:
        o = addr - self.base
        return np.array(self.window[o: o + nbytes], dtype=np.uint8)

    def _execute(self, insn_offset: int, insn_count: int, timeout_s):
        self.window.flush()          # host writes -> DRAM before the accelerator reads
        try:
            return super()._execute(insn_offset, insn_count, timeout_s)
        finally:
            self.window.invalidate()  # accelerator writes -> visible to the host

    def close(self) -> None:
        free = getattr(self.window, "freebuffer", None)
        if free is not None:
            free()
