"""The device interface every accelerator back end implements, and DRAM buffers.

A device owns one DRAM *window* (physical ``[base, limit)``, the accelerator's ``DRAM_BASE`` /
``DRAM_LIMIT``); buffers are carved out of it, aligned so that every DMA element is aligned to its
size. :class:`RegisterDevice` is the part shared by devices driven through the AXI4-Lite register
map (the board, and RTL simulation): start sequence, polling, watchdog, result read-back.

Never imports amaranth or jinja2 (a board's Python runs this).
"""
from __future__ import annotations

import abc
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..accel import isa
from ..accel.config import AccelConfig
from ..accel.isa import ErrorCode, TokenQueue
from ..accel.model import RunResult
from ..errors import ConfigError, DeviceError, ProgramError

if TYPE_CHECKING:
    from .program import Program


@dataclass(frozen=True, eq=False)
class Buffer:
    """A DRAM buffer: ``nbytes`` bytes at physical ``addr`` inside a device's window.

    Attributes
    ----------
    offset : int
        Byte offset from the window base (what instructions address, in elements).
    """
    device: "Device"
    addr: int
    nbytes: int

    @property
    def offset(self) -> int:
        return self.addr - self.device.base

    def elem(self, nbytes_per_elem: int, index: int = 0) -> int:
        """The DRAM element number of element ``index`` of this buffer for elements of
        ``nbytes_per_elem`` bytes (the ``dram_base`` an instruction uses)."""
        if self.offset % nbytes_per_elem:
            raise ProgramError(f"buffer at offset {self.offset:#x} is not aligned to "
                               f"{nbytes_per_elem}-byte elements")
        return self.offset // nbytes_per_elem + index

    def write(self, data, offset: int = 0) -> None:
        self.device.write(self, data, offset)

    def read(self, nbytes: int | None = None, offset: int = 0) -> np.ndarray:
        return self.device.read(self, nbytes, offset)


class DeviceRunError(DeviceError):
    """A run ended with an accelerator error code; ``.result`` holds the :class:`RunResult`."""

    def __init__(self, result: RunResult):
        super().__init__(result.message())
        self.result = result


class Device(abc.ABC):
    """One accelerator with its DRAM window.

    Subclasses implement :meth:`_mem_write`, :meth:`_mem_read` (physical addresses) and
    :meth:`_execute` (run instructions already written to DRAM).

    Parameters
    ----------
    config : AccelConfig
    base : int
        Physical address of the DRAM window (a multiple of 4096).
    size : int
        Window size in bytes.
    """

    #: Name shown in tables (``fsim``, ``icarus``, ``verilator``, ``pynq``).
    name = "device"

    def __init__(self, config: AccelConfig, base: int, size: int):
        if not isinstance(config, AccelConfig):
            raise TypeError(f"{type(self).__name__} needs an AccelConfig, not {type(config).__name__}")
        if base % isa.DRAM_BASE_ALIGN:
            raise ConfigError(f"DRAM window base must be a multiple of {isa.DRAM_BASE_ALIGN}, not {base:#x}")
        if size <= 0 or base + size > (1 << config.dram_addr_width):
            raise ConfigError(f"DRAM window {base:#x}+{size:#x} must be non-empty and below "
                              f"2**dram_addr_width = {1 << config.dram_addr_width:#x}")
        self.config = config
        self.base = base
        self.size = size
        self.align = max(isa.DRAM_BASE_ALIGN, max(config.element_bytes.values()))
        self._free: list[tuple[int, int]] = [(base, size)]   # (addr, size), sorted
        self.last_result: RunResult | None = None

    @property
    def limit(self) -> int:
        return self.base + self.size

    # ------------------------------------------------------------------ buffers
    def alloc(self, nbytes: int) -> Buffer:
        """A new buffer of ``nbytes`` bytes (first fit, aligned for any DMA element)."""
        if not isinstance(nbytes, int) or nbytes <= 0:
            raise ConfigError(f"buffer size must be a positive integer number of bytes, not {nbytes!r}")
        need = -(-nbytes // self.align) * self.align
        for i, (addr, size) in enumerate(self._free):
            if size >= need:
                self._free[i] = (addr + need, size - need)
                if self._free[i][1] == 0:
                    del self._free[i]
                return Buffer(self, addr, nbytes)
        raise DeviceError(f"{self.name}: no room for a {nbytes}-byte buffer in the {self.size}-byte "
                          f"DRAM window ({sum(s for _, s in self._free)} bytes free, fragmented)")

    def free(self, buf: Buffer) -> None:
        """Return a buffer's space to the window."""
        need = -(-buf.nbytes // self.align) * self.align
        blocks = sorted(self._free + [(buf.addr, need)])
        merged: list[tuple[int, int]] = []
        for a, s in blocks:
            if merged and merged[-1][0] + merged[-1][1] == a:
                merged[-1] = (merged[-1][0], merged[-1][1] + s)
            else:
                merged.append((a, s))
        self._free = merged

    def _check_range(self, buf: Buffer, offset: int, nbytes: int) -> None:
        if buf.device is not self:
            raise DeviceError("buffer belongs to another device")
        if offset < 0 or offset + nbytes > buf.nbytes:
            raise ProgramError(f"access {offset}..{offset + nbytes} is outside the {buf.nbytes}-byte buffer")

    def write(self, buf: Buffer, data, offset: int = 0) -> None:
        """Copy bytes (``bytes`` or any numpy array, taken as raw little-endian bytes) into ``buf``."""
        raw = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray)) else \
            np.ascontiguousarray(data).view(np.uint8).reshape(-1)
        self._check_range(buf, offset, raw.size)
        self._mem_write(buf.addr + offset, raw)

    def read(self, buf: Buffer, nbytes: int | None = None, offset: int = 0) -> np.ndarray:
        """Bytes of ``buf`` as a new ``uint8`` array."""
        nbytes = buf.nbytes - offset if nbytes is None else nbytes
        self._check_range(buf, offset, nbytes)
        return self._mem_read(buf.addr + offset, nbytes)

    # ------------------------------------------------------------------ running
    def run(self, program: "Program | list", *, check: bool = True, timeout_s: float | None = None) -> RunResult:
        """Run a :class:`~hwgen.runtime.program.Program` (or a list of instructions, FINISH
        included by the caller) and return its :class:`RunResult`.

        Raises :class:`DeviceRunError` (with ``.result``) when the run ends with an error code and
        ``check`` is true, :class:`DeviceError` when the watchdog expires.
        """
        from .program import Program
        if isinstance(program, Program):
            insns = program.finalize()
        else:
            insns = list(program)
        if not insns:
            raise ProgramError("cannot run an empty program")
        code = isa.to_bytes(insns)
        ibuf = self.alloc(len(code))
        try:
            self.write(ibuf, code)
            result = self._execute(ibuf.offset, len(insns), timeout_s)
        finally:
            self.free(ibuf)
        if not result.stage_insn:
            result.stage_insn = locate(insns, result.counters)
        self.last_result = result
        if check and not result.ok:
            raise DeviceRunError(result)
        return result

    @abc.abstractmethod
    def _mem_write(self, addr: int, data: np.ndarray) -> None: ...

    @abc.abstractmethod
    def _mem_read(self, addr: int, nbytes: int) -> np.ndarray: ...

    @abc.abstractmethod
    def _execute(self, insn_offset: int, insn_count: int, timeout_s: float | None) -> RunResult: ...

    def close(self) -> None:
        """Release the device (nothing by default)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class HostMemoryDevice(Device):
    """A device whose DRAM window is a host numpy array ``self.mem`` (simulated devices)."""

    def __init__(self, config, base: int, size: int):
        super().__init__(config, base, size)
        self.mem = np.zeros(size, dtype=np.uint8)

    def _mem_write(self, addr: int, data: np.ndarray) -> None:
        o = addr - self.base
        self.mem[o: o + data.size] = data

    def _mem_read(self, addr: int, nbytes: int) -> np.ndarray:
        o = addr - self.base
        return self.mem[o: o + nbytes].copy()


def locate(insns: list, counters: dict[str, int]) -> dict[str, Any]:
    """Program index of the instruction each stage holds, from its retired-instruction counter
    (a stage executes its instructions in program order): how a hardware error is named."""
    seen = {"load": [], "compute": [], "store": []}
    for i, insn in enumerate(insns):
        st = getattr(insn, "stage", None)
        if st is not None:
            seen[st.name.lower()].append(i)
        if getattr(insn, "opcode", None) == isa.Opcode.FINISH:
            break
    out: dict[str, Any] = {}
    for st, idx in seen.items():
        k = counters.get(f"{st}_insns", 0)
        out[st] = idx[k] if k < len(idx) else None
    return out


# ====================================================================== register-driven devices
def status_bits(status: int) -> dict[str, int]:
    return {b.name: b.get(status) for b in isa.STATUS_BITS}


def diagnose(status: int, tokens: int, retired: dict[str, int] | None = None) -> str:
    """Name what each stage is doing from STATUS and TOKENS (used by the watchdog)."""
    bits = status_bits(status)
    counts = {q.name.lower(): (tokens >> (8 * int(q))) & 0xFF for q in TokenQueue}
    parts = []
    for st in ("load", "compute", "store"):
        if bits[f"{st}_wait"]:
            state = "stalled waiting on a dependency token"
        elif bits[f"{st}_active"]:
            state = "busy"
        else:
            state = "idle"
        if retired and st in retired:
            state += f" after {retired[st]} instructions"
        parts.append(f"{st} {state}")
    if bits["fetch_blocked"]:
        parts.append("fetch blocked on a full queue")
    parts.append("tokens " + " ".join(f"{k}={v}" for k, v in counts.items()))
    return "; ".join(parts)


class RegisterDevice(Device):
    """A device driven through the AXI4-Lite register map of :mod:`hwgen.accel.isa`.

    Subclasses implement :meth:`reg_read`, :meth:`reg_write`, the memory accessors and, if the
    device's time is not the host's, :meth:`wait` (default: sleep).
    """

    #: Seconds between STATUS polls.
    poll_s = 1e-4
    #: Default watchdog.
    timeout_s = 10.0

    @abc.abstractmethod
    def reg_read(self, offset: int) -> int: ...

    @abc.abstractmethod
    def reg_write(self, offset: int, value: int) -> None: ...

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)

    def check_identity(self) -> None:
        """Refuse hardware built from another ISA version or configuration."""
        hw = self.reg_read(isa.REG["HW_ID"])
        if hw != isa.HW_ID:
            raise DeviceError(f"{self.name}: HW_ID is {hw:#010x}, expected {isa.HW_ID:#010x} "
                              f"(not an hwgen accelerator of ISA version {isa.ISA_VERSION})")
        cid = self.reg_read(isa.REG["CFG_ID"])
        if cid != isa.cfg_id(self.config):
            raise DeviceError(f"{self.name}: CFG_ID is {cid:#010x}, but config {self.config.slug} "
                              f"has {isa.cfg_id(self.config):#010x} (wrong bitstream?)")

    def _execute(self, insn_offset: int, insn_count: int, timeout_s: float | None) -> RunResult:
        R = isa.REG
        self.reg_write(R["DRAM_BASE"], self.base)
        self.reg_write(R["DRAM_LIMIT"], self.limit & 0xFFFF_FFFF)
        self.reg_write(R["INSN_ADDR"], insn_offset)
        self.reg_write(R["INSN_COUNT"], insn_count)
        self.reg_write(R["CTRL"], 1)
        limit = self.timeout_s if timeout_s is None else timeout_s
        t0 = time.monotonic()
        while True:
            status = self.reg_read(R["STATUS"])
            if status_bits(status)["done"]:
                break
            if time.monotonic() - t0 > limit:
                tokens = self.reg_read(R["TOKENS"])
                retired = {st: self.reg_read(R[f"{st.upper()}_INSNS"]) for st in ("load", "compute", "store")}
                raise DeviceError(f"{self.name}: watchdog: no DONE after {limit:g} s; "
                                  + diagnose(status, tokens, retired))
            self.wait(self.poll_s)
        return self.read_result(status)

    def read_result(self, status: int | None = None) -> RunResult:
        R = isa.REG
        status = self.reg_read(R["STATUS"]) if status is None else status
        code = self.reg_read(R["ERR_CODE"])
        try:
            error = ErrorCode(code)
        except ValueError:
            raise DeviceError(f"{self.name}: ERR_CODE {code} is not a known error code") from None
        counters = {name: self.reg_read(R[name.upper()]) for name, _e, _d in isa.COUNTERS}
        tokens = self.reg_read(R["TOKENS"])
        bits = status_bits(status)
        waiting: dict[str, Any] = {}
        for st in ("load", "compute", "store"):
            waiting[st] = "wait for a token" if bits[f"{st}_wait"] else ("queued" if bits[f"{st}_active"] else None)
        if bits["fetch_blocked"]:
            waiting["fetch"] = "a stage"
        res = RunResult(error, self.reg_read(R["ERR_INSN"]), counters,
                        {q.name.lower(): (tokens >> (8 * int(q))) & 0xFF for q in TokenQueue},
                        waiting, {}, exact_cycles=True)
        return res
