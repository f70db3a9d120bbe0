"""A recording fake of the parts of ``pynq`` the HLS overlay driver uses.

``FakePynq(hardware)`` stands in for the ``pynq`` module: ``Overlay(bitfile)`` exposes the block
design's cells by name (``ip_dict`` and attributes), ``allocate`` returns NumPy buffers with a
physical address. The hardware is modelled at the level of bytes and beats:

* the AXI DMA (``FakeDma``) moves the MM2S buffer's bytes into beats of its configured TDATA width
  (little-endian) and writes the output beats into the S2MM buffer, stopping at TLAST; a transfer
  longer than its length register allows fails as PYNQ's driver does; a channel that would never
  finish (IP not started, too few input beats, no TLAST within the buffer) raises ``Hang``
  instead of spinning like the real ``wait``;
* the HLS IP (``FakeHlsIp``) has the ap_ctrl register at 0x00; on ap_start it reads beats of its
  own stream width (from the generated header), truncates each to the activation width as the C++
  does, computes the golden model and emits the network's output (a head's record, or the last
  layer's map in raster order, channels innermost) as beats of ``ip_out_width`` bits (32 for a
  record, the activations' stream width for a map; sign-extended as ``ap_int<W>`` does) with
  TLAST on the last.

Every MMIO access and DMA call is appended to ``hardware.log``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hwgen.hls import model as golden


class Hang(RuntimeError):
    """The real hardware would wait here for ever."""


class FakeBuffer(np.ndarray):
    """What ``pynq.allocate`` returns: an ndarray with a physical address and cache calls."""

    def __array_finalize__(self, obj):
        # slices keep the board and their own address (as PynqBuffer's slices do)
        self.hardware = getattr(obj, "hardware", None)
        self.physical_address = getattr(obj, "physical_address", 0)

    def flush(self):
        self.hardware.log.append(("flush", self.physical_address))

    def invalidate(self):
        self.hardware.log.append(("invalidate", self.physical_address))

    def freebuffer(self):
        self.hardware.log.append(("free", self.physical_address))


@dataclass
class Hardware:
    """The fake board's state: the DMA's CONFIG, the HLS IP's model and the call log."""
    qnet: object
    dma_config: dict
    ip_in_width: int
    ip_out_width: int = 32          # TDATA bits of the IP's output stream (the generated header's)
    cells: tuple = ("hwgen_hls", "dma")
    log: list = field(default_factory=list)
    next_address: int = 0x1000_0000
    #: fault injection: "never_done" leaves ap_done/ap_idle low after a run
    fault: str = ""


class FakeHlsIp:
    """The HLS IP's control registers and its stream behaviour."""

    def __init__(self, hw: Hardware):
        self.hw = hw
        self.started = False
        self.done = False
        self.idle = True
        self.out_beats: list[tuple[bytes, bool]] | None = None

    def read(self, offset: int) -> int:
        v = (self.started << 0) | (self.done << 1) | (self.idle << 2)
        if offset == 0x00:
            self.done = False           # ap_done is clear-on-read
        self.hw.log.append(("ip.read", offset, v))
        return v

    def write(self, offset: int, value: int) -> None:
        self.hw.log.append(("ip.write", offset, value))
        if offset == 0x00 and value & 1:
            self.started, self.idle = True, False

    def consume(self, beats: list[bytes]) -> None:
        """Run one frame on the given input beats (called by the DMA once MM2S data flows)."""
        qnet = self.hw.qnet
        h, w, c = qnet.net.input_shape
        if len(beats) < h * w * c:
            raise Hang(f"the HLS IP waits for {h * w * c} input beats, the DMA sent {len(beats)}")
        if len(beats) > h * w * c:
            raise Hang(f"MM2S sent {len(beats)} beats, the IP reads {h * w * c}: MM2S never finishes")
        aw = qnet.act_width
        vals = []
        for b in beats:
            if len(b) * 8 != self.hw.ip_in_width:
                raise AssertionError(f"beat of {len(b) * 8} bits on a {self.hw.ip_in_width}-bit stream")
            v = int.from_bytes(b, "little", signed=True) & ((1 << aw) - 1)   # ap_int<aw>(ap_int<W>)
            vals.append(v - (1 << aw) if v >> (aw - 1) else v)
        image = np.array(vals, dtype=np.int64).reshape(h, w, c)
        record = golden.forward(qnet, image)[qnet.net.output.name].reshape(-1)
        n = self.hw.ip_out_width // 8
        self.out_beats = [(int(v).to_bytes(n, "little", signed=True), i == record.size - 1)
                          for i, v in enumerate(record)]
        if self.hw.fault != "never_done":
            self.started, self.done, self.idle = False, True, True


class FakeChannel:
    def __init__(self, dma: "FakeDma", name: str):
        self.dma, self.name = dma, name
        self.buffer = None
        self.nbytes = 0
        self.transferred = 0
        self.complete = False

    def transfer(self, array, start: int = 0, nbytes: int = 0) -> None:
        nbytes = nbytes or array.nbytes - start
        self.dma.hw.log.append((f"{self.name}.transfer", nbytes))
        limit = (1 << self.dma.config["c_sg_length_width"]) - 1
        if nbytes > limit:
            raise ValueError(f"Transferring {nbytes} bytes, which exceeds the maximum DMA buffer size {limit}.")
        array.flush()
        self.buffer, self.nbytes, self.complete = array, nbytes, False

    def wait(self) -> None:
        self.dma.hw.log.append((f"{self.name}.wait",))
        if self.buffer is None:
            raise RuntimeError("DMA channel not started")
        self.dma.step()
        if not self.complete:
            raise Hang(f"{self.name}: transfer of {self.nbytes} bytes never completes")
        self.buffer.invalidate()


class FakeDma:
    """An AXI DMA in simple mode between DDR buffers and the HLS IP."""

    def __init__(self, hw: Hardware, ip: FakeHlsIp):
        self.hw, self.ip, self.config = hw, ip, hw.dma_config
        self.sendchannel = FakeChannel(self, "send")
        self.recvchannel = FakeChannel(self, "recv")

    def step(self) -> None:
        send, recv = self.sendchannel, self.recvchannel
        if send.buffer is not None and not send.complete and self.ip.started:
            n = self.config["c_m_axis_mm2s_tdata_width"] // 8
            raw = np.asarray(send.buffer).view(np.uint8).tobytes()[:send.nbytes]
            self.ip.consume([raw[i:i + n] for i in range(0, len(raw), n)])
            send.complete, send.transferred = True, send.nbytes
        if recv.buffer is not None and not recv.complete and self.ip.out_beats is not None:
            n = self.config["c_s_axis_s2mm_tdata_width"] // 8
            out = bytearray()
            for data, last in self.ip.out_beats:
                if len(data) != n:
                    raise AssertionError(f"{len(data) * 8}-bit beat into a {n * 8}-bit S2MM stream")
                if len(out) + n > recv.nbytes:
                    raise Hang(f"recv: {recv.nbytes}-byte buffer full before TLAST")
                out += data
                if last:
                    break
            else:
                raise Hang("recv: the stream never asserts TLAST")
            view = np.asarray(recv.buffer).view(np.uint8)
            view[:len(out)] = np.frombuffer(bytes(out), np.uint8)
            recv.complete, recv.transferred = True, len(out)
            self.ip.out_beats = None


class FakeOverlay:
    def __init__(self, hw: Hardware, bitfile: str):
        hw.log.append(("overlay", bitfile))
        ip = FakeHlsIp(hw)
        self._cells = {hw.cells[0]: ip, hw.cells[1]: FakeDma(hw, ip)}
        self.ip_dict = {name: {"phys_addr": 0x4000_0000 + i * 0x1_0000, "addr_range": 0x1_0000}
                        for i, name in enumerate(self._cells)}

    def __getattr__(self, name):
        try:
            return self.__dict__["_cells"][name]
        except KeyError:
            raise AttributeError(name) from None


class FakePynq:
    """Stands in for the ``pynq`` module."""

    def __init__(self, hw: Hardware):
        self.hw = hw

    def Overlay(self, bitfile):  # noqa: N802 (pynq's name)
        return FakeOverlay(self.hw, bitfile)

    def allocate(self, shape, dtype="u4", **kwargs):
        buf = np.zeros(shape, dtype=dtype).view(FakeBuffer)
        buf.hardware = self.hw
        buf.physical_address = self.hw.next_address
        self.hw.next_address += max(4096, buf.nbytes + 4095 & ~4095)
        self.hw.log.append(("allocate", tuple(np.atleast_1d(shape)), np.dtype(dtype).str))
        return buf


def overlay_package(out, p):
    """The project ``p``'s overlay package, imported from ``out`` with stand-in .bit/.hwh beside it."""
    import importlib
    import sys
    pkg_dir = out / "overlay" / p.top
    for ext in ("bit", "hwh"):
        (pkg_dir / f"{p.top}.{ext}").write_bytes(b"fake")
    sys.path.insert(0, str(pkg_dir.parent))
    try:
        return importlib.import_module(p.top)
    finally:
        sys.path.remove(str(pkg_dir.parent))
