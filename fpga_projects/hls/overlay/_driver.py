"""PYNQ driver of a hwgen HLS overlay (copied unchanged into every overlay package): a detector
(a network ending in a head) or a network ending in any other layer, e.g. a classifier.

Runs on a board's Python: it imports numpy and, lazily, ``pynq``; never hwgen, amaranth or jinja2.

The block design (``bd.tcl``) joins the HLS top and an AXI DMA without scatter-gather::

    DDR -> DMA MM2S -> M_AXIS_MM2S -> HLS ``in`` stream  (one activation per beat, raster order,
                                                          channels innermost; DMA asserts TLAST)
    HLS ``out`` stream -> S_AXIS_S2MM -> DMA S2MM -> DDR (a head: the 8-word detection record, 32
                                                          bits a word; any other last layer: its
                                                          output map, one activation per beat in
                                                          the input's order; TLAST on the last beat)

A beat of a ``W``-bit stream is ``W / 8`` bytes of DDR, little-endian, so an image (and an output
map) is packed as a NumPy array of ``int8`` (8-bit stream) or ``int16`` (16-bit stream): the same
values the C testbench puts into and reads from ``beat.data``. The HLS control registers
(``s_axilite port=return``) sit at the standard offsets: ``0x00`` ap_ctrl (bit 0 ap_start, 1
ap_done, 2 ap_idle, 3 ap_ready), ``0x04`` global interrupt enable, ``0x08`` interrupt enable,
``0x0C`` interrupt status.
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
    """How an image and the result (a detection record or an output map) travel over the HLS
    top's AXI streams.

    Attributes
    ----------
    in_shape : (H, W, C)
        Input image shape; one activation per beat, raster order, channels innermost.
    act_width : int
        Signed activation width; image values lie in ``-2**(act_width-1) .. 2**(act_width-1)-1``.
    in_width, out_width : int
        TDATA widths in bits of the input and output streams (8/16, and 32 for a record or the
        input's width for a map).
    out_words : int
        Beats of one result (TLAST on the last one): the record's words or the map's values.
    record_fields : tuple of str
        Names of the record's words, in stream order (empty for a map).
    hls_cell, dma_cell : str
        Instance names of the HLS IP and the AXI DMA in the block design (keys of ``ip_dict``).
    out_shape : (H, W, C) or ()
        Shape of the output map, raster order, channels innermost; ``()`` for a record.
    """
    in_shape: tuple
    act_width: int
    in_width: int
    out_width: int
    out_words: int
    record_fields: tuple
    hls_cell: str
    dma_cell: str
    out_shape: tuple = ()

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


@dataclass(frozen=True)
class MapDecode:
    """What the output map's integers mean: the layer that wrote it, the real-valued scale of each
    channel (real value = int x scale) and whether the map is a classifier's logits
    (``1 x 1 x classes``, the top-1 class is their argmax).

    Attributes
    ----------
    layer : str
        Name of the network's last layer.
    scales : tuple of float
        One scale per channel of the map.
    classifier : bool
        The map is ``1 x 1 x classes`` logits.
    """
    layer: str
    scales: tuple
    classifier: bool


def dequantize(output: MapDecode, fmap) -> np.ndarray:
    """The real values (float64, same shape) of an output map from :meth:`HlsNetwork.run`."""
    m = np.asarray(fmap)
    if m.ndim != 3 or m.shape[2] != len(output.scales):
        raise ValueError(f"output map must be [H, W, {len(output.scales)}] ({output.layer}), not {list(m.shape)}")
    return m.astype(np.float64) * np.asarray(output.scales, np.float64)


def top1(output: MapDecode, fmap) -> dict:
    """A classifier's result from its ``1 x 1 x classes`` output map: the top-1 class (the first
    maximum on ties), its integer logit, that logit as a real number and every dequantized logit
    (the same keys as ``hwgen accel infer``'s top-1, plus ``logits``)."""
    if not output.classifier:
        raise ValueError(f"output {output.layer} is a feature map, not a classifier's 1 x 1 x classes logits")
    logits = dequantize(output, fmap).reshape(-1)
    v = np.asarray(fmap).reshape(-1)
    c = int(np.argmax(v))
    return {"class": c, "logit": int(v[c]), "logit_real": float(logits[c]), "logits": logits}


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


def unpack_map(layout: StreamLayout, words) -> np.ndarray:
    """The S2MM buffer contents (``out_words`` beats of ``out_width`` bits, each a sign-extended
    activation) as an int64 array of ``layout.out_shape``."""
    if not layout.out_shape:
        raise ValueError("this layout streams a detection record, not a map: use unpack_record")
    w = np.frombuffer(np.ascontiguousarray(words).tobytes(), dtype=layout.out_dtype)
    if w.size != layout.out_words:
        raise ValueError(f"an output map is {layout.out_words} beats "
                         f"({'x'.join(map(str, layout.out_shape))}), not {w.size}")
    return w.astype(np.int64).reshape(layout.out_shape)


class HlsStreamIp:
    """The HLS IP of a loaded PYNQ overlay and its DMA: one image in, one result out (the shared
    part of :class:`HlsDetector` and :class:`HlsNetwork`).

    Parameters
    ----------
    layout : StreamLayout
        The stream layout of the generated top (each overlay package defines its ``LAYOUT``).
    bitfile : str
        The ``.bit``; PYNQ needs the ``.hwh`` of the same name beside it.
    pynq_module : module, optional
        The ``pynq`` module (tests pass a fake); imported when the object is made by default.
    poll_limit : int
        Reads of ap_ctrl after the DMA finished before giving up on ap_done/ap_idle.

    Attributes
    ----------
    overlay, ip, dma
        The ``pynq.Overlay``, the HLS IP's driver (``read``/``write`` on its control registers)
        and the AXI DMA's driver.
    """

    def __init__(self, layout: StreamLayout, bitfile, *, pynq_module=None, poll_limit: int = 100_000):
        self.layout = layout
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

    def transfer(self, image):
        """Run one image ([H, W, C] integers) through the IP; returns the S2MM buffer (the result's
        ``out_words`` beats, overwritten by the next call)."""
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
        return self.out_buffer

    def close(self) -> None:
        """Free the DMA buffers."""
        for buf in (self.in_buffer, self.out_buffer):
            free = getattr(buf, "freebuffer", None)
            if free is not None:
                free()


class HlsDetector(HlsStreamIp):
    """The HLS detector (a network ending in a head) of a loaded PYNQ overlay.

    Parameters
    ----------
    layout, bitfile, pynq_module, poll_limit
        As :class:`HlsStreamIp`.
    head : HeadDecode, optional
        For :meth:`box` (each overlay package passes its ``HEAD``).
    """

    def __init__(self, layout: StreamLayout, bitfile, *, pynq_module=None, poll_limit: int = 100_000,
                 head: HeadDecode | None = None):
        self.head = head
        super().__init__(layout, bitfile, pynq_module=pynq_module, poll_limit=poll_limit)

    def run(self, image) -> dict:
        """Detect in one image ([H, W, C] integers); returns the record as {field: int}."""
        return unpack_record(self.layout, self.transfer(image))

    def box(self, record: dict, anchors=None) -> dict:
        """The box of a record from :meth:`run` (needs the overlay's ``head``, see
        :func:`record_box`); ``anchors``: (width, height) in cells per anchor."""
        if self.head is None:
            raise OverlayError("this detector has no head description; pass head= to decode boxes")
        return record_box(self.head, record, anchors)


class HlsNetwork(HlsStreamIp):
    """The HLS IP of a network that ends without a head (a classifier or a feature extractor): one
    image in, the last layer's output map out.

    Parameters
    ----------
    layout, bitfile, pynq_module, poll_limit
        As :class:`HlsStreamIp`; ``layout.out_shape`` is the output map's shape.
    output : MapDecode, optional
        The map's scales and kind, for :meth:`dequantize` and :meth:`classify` (each overlay
        package passes its ``OUTPUT``).
    """

    def __init__(self, layout: StreamLayout, bitfile, *, pynq_module=None, poll_limit: int = 100_000,
                 output: MapDecode | None = None):
        if not layout.out_shape:
            raise OverlayError("this layout streams a detection record, not a map: use HlsDetector")
        self.output = output
        super().__init__(layout, bitfile, pynq_module=pynq_module, poll_limit=poll_limit)

    def run(self, image) -> np.ndarray:
        """One image ([H, W, C] integers) through the network; returns the output map as an int64
        array ``layout.out_shape`` (a new array each call)."""
        return unpack_map(self.layout, self.transfer(image))

    def dequantize(self, fmap) -> np.ndarray:
        """The real values of a map from :meth:`run` (see :func:`dequantize`)."""
        if self.output is None:
            raise OverlayError("this network has no output description; pass output= to dequantize")
        return dequantize(self.output, fmap)

    def classify(self, image) -> dict:
        """One image through a classifier: ``class`` (top-1, first maximum on ties), its integer
        ``logit`` and ``logit_real``, every dequantized logit (``logits``, float64 [classes]) and the
        integer output ``map`` ([1, 1, classes])."""
        if self.output is None:
            raise OverlayError("this network has no output description; pass output= to classify")
        if not self.output.classifier:
            raise OverlayError(f"{self.output.layer} outputs a {'x'.join(map(str, self.layout.out_shape))} "
                               f"feature map, not 1 x 1 x classes logits: use run()")
        fmap = self.run(image)
        return {**top1(self.output, fmap), "map": fmap}
