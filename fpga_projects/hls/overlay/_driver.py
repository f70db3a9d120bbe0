"""PYNQ driver of a hwgen HLS detector overlay (copied unchanged into every overlay package).

Runs on a board's Python: it imports numpy and, lazily, ``pynq``; never hwgen, amaranth or jinja2.

The block design (``bd.tcl``) joins the HLS top and an AXI DMA without scatter-gather::

    DDR -> DMA MM2S -> M_AXIS_MM2S -> HLS ``in`` stream  (one activation per beat, raster order,
                                                          channels innermost; DMA asserts TLAST)
    HLS ``out`` stream -> S_AXIS_S2MM -> DMA S2MM -> DDR (the 8-word detection record, 32 bits a
                                                          word, TLAST on the last word)

A beat of a ``W``-bit stream is ``W / 8`` bytes of DDR, little-endian, so an image is packed as a
NumPy array of ``int8`` (8-bit stream) or ``int16`` (16-bit stream): the same values the C
testbench puts into ``beat.data``. The HLS control registers (``s_axilite port=return``) sit at
the standard offsets: ``0x00`` ap_ctrl (bit 0 ap_start, 1 ap_done, 2 ap_idle, 3 ap_ready),
``0x04`` global interrupt enable, ``0x08`` interrupt enable, ``0x0C`` interrupt status.
"""
from __future__ import annotations

import importlib
import math
import os
from dataclasses import dataclass

import numpy as np

AP_CTRL = 0x00
GIE = 0x04
IER = 0x08
ISR = 0x0C
AP_START = 0x1
AP_DONE = 0x2
AP_IDLE = 0x4

_STREAM_DTYPES = {8: "<i1", 16: "<i2", 32: "<i4", 64: "<i8"}


class OverlayError(RuntimeError):
    """The overlay, its files or the hardware did not behave as this driver expects."""


@dataclass(frozen=True)
class StreamLayout:
    """How an image and a detection record travel over the HLS top's AXI streams.

    Attributes
    ----------
    in_shape : (H, W, C)
        Input image shape; one activation per beat, raster order, channels innermost.
    act_width : int
        Signed activation width; image values lie in ``-2**(act_width-1) .. 2**(act_width-1)-1``.
    in_width, out_width : int
        TDATA widths in bits of the input and output streams (8/16 and 32).
    out_words : int
        Words in one output record (TLAST on the last one).
    record_fields : tuple of str
        Names of the record's words, in stream order.
    hls_cell, dma_cell : str
        Instance names of the HLS IP and the AXI DMA in the block design (keys of ``ip_dict``).
    """
    in_shape: tuple
    act_width: int
    in_width: int
    out_width: int
    out_words: int
    record_fields: tuple
    hls_cell: str
    dma_cell: str

    @property
    def in_words(self) -> int:
        h, w, c = self.in_shape
        return h * w * c

    @property
    def in_dtype(self) -> np.dtype:
        return np.dtype(_STREAM_DTYPES[self.in_width])

    @property
    def out_dtype(self) -> np.dtype:
        return np.dtype(_STREAM_DTYPES[self.out_width])

    @property
    def in_bytes(self) -> int:
        return self.in_words * self.in_width // 8

    @property
    def out_bytes(self) -> int:
        return self.out_words * self.out_width // 8

    @property
    def act_range(self) -> tuple:
        return -(1 << (self.act_width - 1)), (1 << (self.act_width - 1)) - 1


@dataclass(frozen=True)
class HeadDecode:
    """What turns a record into a box: the head's grid and the real-valued scale of each of its
    values (tx, ty, tw, th, confidence) per anchor.

    Attributes
    ----------
    grid : (H, W)
        Cells of the head's input map.
    scales : tuple of tuples
        ``scales[anchor]`` = the 5 scales of that anchor's values (real value = int x scale).
    """
    grid: tuple
    scales: tuple


def record_box(head: HeadDecode, record: dict, anchors=None) -> dict:
    """The box of a record: centre and size relative to the image (0..1) and the confidence as a
    probability. ``tx, ty`` go through a sigmoid inside the cell, ``tw, th`` scale the anchor
    (width, height in cells; default 1 x 1) exponentially (YOLO-style); the same arithmetic as
    hwgen's golden model (``hwgen.hls.model.box_from_record``)."""
    a = int(record["anchor"])
    if not 0 <= a < len(head.scales):
        raise ValueError(f"record anchor must be in 0..{len(head.scales) - 1}, not {a}")
    gh, gw = head.grid
    s = head.scales[a]
    aw, ah = (anchors or ((1.0, 1.0),) * len(head.scales))[a]

    def sig(v: float) -> float:
        return 1.0 / (1.0 + math.exp(-v))
    return {"cx": (record["cell_x"] + sig(record["tx"] * s[0])) / gw,
            "cy": (record["cell_y"] + sig(record["ty"] * s[1])) / gh,
            "w": aw * math.exp(record["tw"] * s[2]) / gw, "h": ah * math.exp(record["th"] * s[3]) / gh,
            "confidence": sig(record["confidence"] * s[4]), "anchor": a}


def pack_image(layout: StreamLayout, image) -> np.ndarray:
    """The MM2S buffer contents of ``image`` ([H, W, C] integers in the activation range):
    ``in_words`` beats of ``in_width`` bits, little-endian."""
    x = np.asarray(image)
    if tuple(x.shape) != tuple(layout.in_shape):
        raise ValueError(f"image shape must be {tuple(layout.in_shape)}, not {tuple(x.shape)}")
    if x.dtype.kind not in "iu":
        raise TypeError(f"image must hold integers, not {x.dtype}")
    lo, hi = layout.act_range
    if x.size and (int(x.min()) < lo or int(x.max()) > hi):
        raise ValueError(f"image values must lie in {lo}..{hi} ({layout.act_width}-bit activations), "
                         f"not {int(x.min())}..{int(x.max())}")
    return np.ascontiguousarray(x.reshape(-1), dtype=layout.in_dtype)


def unpack_record(layout: StreamLayout, words) -> dict:
    """The S2MM buffer contents (``out_words`` words of ``out_width`` bits) as {field: int}."""
    w = np.frombuffer(np.ascontiguousarray(words).tobytes(), dtype=layout.out_dtype)
    if w.size != layout.out_words:
        raise ValueError(f"a record is {layout.out_words} words, not {w.size}")
    return {name: int(v) for name, v in zip(layout.record_fields, w)}


class HlsDetector:
    """The HLS detector of a loaded PYNQ overlay.

    Parameters
    ----------
    layout : StreamLayout
        The stream layout of the generated top (each overlay package defines its ``LAYOUT``).
    bitfile : str
        The ``.bit``; PYNQ needs the ``.hwh`` of the same name beside it.
    pynq_module : module, optional
        The ``pynq`` module (tests pass a fake); imported when the detector is made by default.
    poll_limit : int
        Reads of ap_ctrl after the DMA finished before giving up on ap_done/ap_idle.
    head : HeadDecode, optional
        For :meth:`box` (each overlay package passes its ``HEAD``).

    Attributes
    ----------
    overlay, ip, dma
        The ``pynq.Overlay``, the HLS IP's driver (``read``/``write`` on its control registers)
        and the AXI DMA's driver.
    """

    def __init__(self, layout: StreamLayout, bitfile, *, pynq_module=None, poll_limit: int = 100_000,
                 head: HeadDecode | None = None):
        self.layout = layout
        self.head = head
        bitfile = os.fspath(bitfile)
        hwh = os.path.splitext(bitfile)[0] + ".hwh"
        for path in (bitfile, hwh):
            if not os.path.isfile(path):
                raise OverlayError(f"{path} is missing: build it with `make bitstream` in the hwgen "
                                   f"project (it copies the .bit and .hwh here)")
        if pynq_module is None:
            try:
                pynq_module = importlib.import_module("pynq")
            except ImportError:
                raise OverlayError("this driver needs the pynq package, which exists on a PYNQ board "
                                   "image") from None
        self.pynq = pynq_module
        self.poll_limit = poll_limit
        self.overlay = pynq_module.Overlay(bitfile)
        names = set(self.overlay.ip_dict)
        for cell in (layout.hls_cell, layout.dma_cell):
            if cell not in names:
                raise OverlayError(f"overlay {bitfile} has no IP {cell!r}; it has {', '.join(sorted(names))}")
        self.ip = getattr(self.overlay, layout.hls_cell)
        self.dma = getattr(self.overlay, layout.dma_cell)
        self.in_buffer = pynq_module.allocate(shape=(layout.in_words,), dtype=layout.in_dtype)
        self.out_buffer = pynq_module.allocate(shape=(layout.out_words,), dtype=layout.out_dtype)

    def run(self, image) -> dict:
        """Detect in one image ([H, W, C] integers); returns the record as {field: int}."""
        status = int(self.ip.read(AP_CTRL))
        if not status & AP_IDLE:
            raise OverlayError(f"the HLS IP is not idle (ap_ctrl = {status:#x}); reload the overlay")
        self.in_buffer[:] = pack_image(self.layout, image)
        self.out_buffer[:] = 0
        self.ip.write(AP_CTRL, AP_START)
        self.dma.recvchannel.transfer(self.out_buffer)
        self.dma.sendchannel.transfer(self.in_buffer)
        self.dma.sendchannel.wait()
        self.dma.recvchannel.wait()
        for _ in range(self.poll_limit):
            if int(self.ip.read(AP_CTRL)) & (AP_DONE | AP_IDLE):
                break
        else:
            raise OverlayError(f"the HLS IP did not finish after the DMA did ({self.poll_limit} reads of ap_ctrl)")
        return unpack_record(self.layout, self.out_buffer)

    def box(self, record: dict, anchors=None) -> dict:
        """The box of a record from :meth:`run` (needs the overlay's ``head``, see
        :func:`record_box`); ``anchors``: (width, height) in cells per anchor."""
        if self.head is None:
            raise OverlayError("this detector has no head description; pass head= to decode boxes")
        return record_box(self.head, record, anchors)

    def close(self) -> None:
        """Free the DMA buffers."""
        for buf in (self.in_buffer, self.out_buffer):
            free = getattr(buf, "freebuffer", None)
            if free is not None:
                free()
