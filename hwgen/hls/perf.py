"""The parallelism and resource model of a generated dataflow design.

Assumptions (the templates in ``hls_templates/hwgen_nn.h`` are written to match them):

- Every stream carries one activation per word and each layer moves at most one word per cycle
  on each stream. The design is a ``DATAFLOW`` pipeline, so frame time = the slowest layer.
- A conv layer visits every padded input position reading its ``C_in`` words (one per cycle) and,
  for each output pixel, runs ``steps = (C_out / PE) * (C_in_per_group / SIMD)`` pipelined steps,
  each doing ``PE x SIMD x K x K`` MACs; the last step of each group of PE outputs writes PE words
  and so takes PE cycles: ``steps + C_out - C_out / PE`` cycles per output pixel. Pooling, reorg,
  concat, add and the head move one word per cycle (an add reads a word of each input in it). These are exactly the loop iterations of
  ``hwgen_nn.h`` at their initiation intervals, which the C simulation counts and the tests
  compare with this model.
- One int MAC per DSP slice, plus one DSP per PE for the requantization multiply (an add: one
  per input plus one; an average pool: one, its window sum is adders).
- Memories (BRAM18 in its 16Kx1 .. 512x36 shapes; arrays of at most 1 Kibit or 64 entries go to
  LUT RAM / SRLs, one LUT per bit per 64 entries):
  weights as PE banks of ``K*K*SIMD`` packed weights; line buffers as ``K-1`` row banks of
  ``W x C_in`` words (the minimal ``(K-1) x W x C`` storage); the ``K x K x C_in`` window as one
  memory of ``C_in`` packed ``K*K``-word entries; non-overlapping pooling keeps one row of
  partial maxima or sums (``W/K x C``; a global average pool ``C`` sums); an add's weights
  (inputs x C) and per-channel ROMs; stream FIFOs of the depth computed below.
- FIFO depths: a chain edge holds one pixel (``C`` words). Each input ``B`` of a concat is sized
  by a pixel-level dependency analysis against every other input ``A``: from the branch point
  ``F`` (their nearest common ancestor), ``need(X, q)`` is the number of ``F`` pixels that must
  have been delivered before pixel ``q`` of ``X`` can be produced (following each template's
  read/write order). ``F`` feeds both branches, so before the concat can take ``A``'s pixel ``q``
  the ``B`` branch has been forced to produce ``#{q' : need(B, q') < need(A, q)}`` pixels, of
  which the concat has taken ``q``: the FIFO holds the largest difference (at least one pixel),
  instead of a whole map, plus a row for rates. The inputs of a residual ``add`` are sized the
  same way (:func:`skip_fifos` reports them): the skip connection holds the lag of the block's
  other branch (a row and a pixel per 3x3 window on it) plus :data:`ADD_SLACK_PIXELS` pixels (a
  row after a bursty producer). :mod:`hwgen.hls.dataflow` checks these depths by running the
  processes with bounded FIFOs (the tests find them deadlock-free and within one pixel of the
  smallest deadlock-free depth).
"""
from __future__ import annotations

import math
import shlex
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import ConfigError
from ..nn.ir import Layer, Network
from .config import HlsConfig
from .presets import BOARDS, Board

BRAM18_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
LUTRAM_BITS = 1024
LUTRAM_DEPTH = 64
#: the chooser aims this much above the target frame rate: the timed dataflow simulation
#: (:func:`hwgen.hls.dataflow.verified_plan`) finds residual stalls of about this size
PLAN_HEADROOM = 0.02
#: pixels of room beyond its lag on a residual add's input from a steady (stride-1) producer: the
#: timed dataflow simulation finds 1 pixel deadlock-free but twice as slow (the branch point then
#: runs in lock step with the add), 2 within 0.1% and 4 as fast as a whole row (mbv2-det at 25, 50
#: and 100 fps on ultra96)
ADD_SLACK_PIXELS = 4


def bram18(words: int, width: int, banks: int = 1) -> int:
    """BRAM18 blocks for ``words`` of ``width`` bits split into ``banks`` equal banks."""
    if words <= 0:
        return 0
    depth = -(-words // banks)
    if depth * width <= LUTRAM_BITS or depth <= LUTRAM_DEPTH:
        return 0
    per_bank = min(-(-width // w) * -(-depth // d) for d, w in BRAM18_SHAPES)
    return banks * per_bank


@dataclass
class LayerPlan:
    """Model figures of one layer (or of a fork that copies a stream to several consumers)."""
    name: str
    kind: str
    pe: int = 1
    simd: int = 1
    cycles: int = 0
    macs: int = 0
    dsp: int = 0
    bram18: int = 0
    linebuf_words: int = 0
    fifo_depth: int = 0        # depth of this layer's output stream (per consumer)
    map_words: int = 0         # words of this layer's output map, for comparison


@dataclass
class Plan:
    """The whole design: per-layer figures, totals, and the target it was made for."""
    layers: list[LayerPlan]
    clock_mhz: float
    target_fps: float
    board: Board
    fifo_depths: dict[tuple[str, str], int]   # (producer, consumer) -> depth
    simulated_cycles: int | None = None       # frame interval of the timed dataflow simulation
    skips: list[dict] = field(default_factory=list)   # the inputs of every add: lag and FIFO (skip_fifos)

    @property
    def frame_cycles(self) -> int:
        return max(l.cycles for l in self.layers)

    @property
    def fps(self) -> float:
        return self.clock_mhz * 1e6 / self.frame_cycles

    @property
    def fps_simulated(self) -> float | None:
        return self.clock_mhz * 1e6 / self.simulated_cycles if self.simulated_cycles else None

    @property
    def dsp(self) -> int:
        return sum(l.dsp for l in self.layers)

    @property
    def bram18(self) -> int:
        return sum(l.bram18 for l in self.layers)

    def layer(self, name: str) -> LayerPlan:
        return next(l for l in self.layers if l.name == name)

    def to_dict(self) -> dict:
        big = max(self.fifo_depths.values(), default=0)
        return {
            "fps": round(self.fps, 3), "target_fps": self.target_fps, "clock_mhz": self.clock_mhz,
            "frame_cycles": self.frame_cycles,
            "fps_simulated": round(self.fps_simulated, 3) if self.simulated_cycles else None,
            "simulated_frame_cycles": self.simulated_cycles, "dsp": self.dsp, "bram18": self.bram18,
            "board": {"name": self.board.name, "part": self.board.part, "dsp": self.board.dsp,
                      "bram18": self.board.bram18},
            "max_fifo_depth": big,
            "fifos": [{"from": a, "to": b, "depth": d} for (a, b), d in self.fifo_depths.items()],
            "add_fifos": self.skips,
            "layers": [asdict(l) for l in self.layers],
        }

    def table(self) -> tuple[list[list], list[str]]:
        rows = [[l.name, l.kind, f"{l.pe}x{l.simd}" if l.kind == "conv" else "", l.cycles,
                 round(self.clock_mhz * 1e6 / l.cycles, 1) if l.cycles else "", l.dsp, l.bram18,
                 l.linebuf_words, l.fifo_depth] for l in self.layers]
        rows.append(["total", "", "", self.frame_cycles, round(self.fps, 1), self.dsp, self.bram18,
                     sum(l.linebuf_words for l in self.layers), ""])
        return rows, ["layer", "kind", "PExSIMD", "cycles", "fps", "DSP", "BRAM18", "linebuf words",
                      "FIFO depth"]


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _conv_geometry(net: Network, layer: Layer):
    h, w, cin = net.in_shape(layer)
    oh, ow, cout = net.shape(layer.name)
    t, b, l, r = net.pads(layer)
    return h, w, cin, oh, ow, cout, (h + t + b) * (w + l + r), cin // layer.groups


def conv_pixel_cycles(net: Network, layer: Layer, pe: int, simd: int) -> int:
    """Cycles a conv layer spends on one output pixel (its compute steps, PE per writing step)."""
    cout = layer.out_channels
    cpg = net.in_shape(layer)[2] // layer.groups
    return (cout // pe) * (cpg // simd) + cout - cout // pe


def conv_cycles(net: Network, layer: Layer, pe: int, simd: int) -> int:
    h, w, cin, oh, ow, cout, padded, cpg = _conv_geometry(net, layer)
    return padded * cin + oh * ow * conv_pixel_cycles(net, layer, pe, simd)


def conv_resources(net: Network, layer: Layer, pe: int, simd: int, cfg: HlsConfig) -> tuple[int, int, int]:
    """(dsp, bram18, line-buffer words) of a conv layer."""
    h, w, cin, oh, ow, cout, padded, cpg = _conv_geometry(net, layer)
    k = layer.kernel
    dsp = pe * simd * k * k + pe
    weights = k * k * cpg * cout
    br = bram18(weights // (k * k * simd), k * k * simd * cfg.weight_width, pe)
    lb_words = (k - 1) * w * cin
    br += bram18(lb_words, cfg.act_width, k - 1) if k > 1 else 0
    br += bram18(cin, k * k * cfg.act_width)
    br += requant_roms_bram18(cout, cfg)
    return dsp, br, lb_words


def accum_bits(net: Network, layer: Layer, cfg: HlsConfig) -> int:
    """Accumulator bits of a weighted layer (conv, add, avgpool): its widest sum of products."""
    aw, ww = cfg.act_width, cfg.weight_width
    if layer.kind == "avgpool":                  # unit weights
        return aw + math.ceil(math.log2(max(layer.kernel ** 2, 2))) + 1
    if layer.kind == "add":
        taps = len(net.inputs_of(layer))
    else:
        taps = layer.kernel * layer.kernel * (net.in_shape(layer)[2] // layer.groups)
    return aw + ww + math.ceil(math.log2(max(taps, 2)))


def requant_roms_bram18(channels: int, cfg: HlsConfig) -> int:
    """BRAM18 of the per-channel bias (32 b), multiplier and shift (6 b) ROMs."""
    return bram18(channels, 32 + cfg.multiplier_width + 6)


def check_parallelism(net: Network, layer: Layer, pe: int, simd: int) -> None:
    cout = layer.out_channels
    cpg = net.in_shape(layer)[2] // layer.groups
    if pe < 1 or cout % pe:
        raise ConfigError(f"layer {layer.name}: output channels {cout} are not divisible by PE {pe}")
    if simd < 1 or cpg % simd:
        raise ConfigError(f"layer {layer.name}: input channels per group {cpg} are not divisible by SIMD {simd}")


def _choose(net: Network, layer: Layer, budget: int, cfg: HlsConfig,
            weights: tuple[float, float] = (1.0, 1.0)) -> tuple[int, int] | None:
    """Cheapest (PE, SIMD) whose cycles fit ``budget``: the smallest weighted share of the board's
    DSPs and BRAMs, then more SIMD."""
    cpg = net.in_shape(layer)[2] // layer.groups
    board = BOARDS[cfg.board]
    best = None
    for pe in _divisors(layer.out_channels):
        for simd in _divisors(cpg):
            if conv_cycles(net, layer, pe, simd) > budget:
                continue
            dsp, br, _ = conv_resources(net, layer, pe, simd, cfg)
            key = (weights[0] * dsp / board.dsp + weights[1] * br / board.bram18, -simd)
            if best is None or key < best[0]:
                best = (key, (pe, simd))
    return best[1] if best else None


def pool_is_tiled(net: Network, layer: Layer) -> bool:
    """Non-overlapping pooling without padding that tiles the input exactly (kept as one row of
    partial maxima instead of a line buffer)."""
    h, w, _ = net.in_shape(layer)
    return (layer.kernel == layer.stride and net.pads(layer) == (0, 0, 0, 0)
            and h % layer.kernel == 0 and w % layer.kernel == 0)


def _simple_cycles(net: Network, layer: Layer) -> int:
    h, w, c = net.in_shape(layer)
    oh, ow, oc = net.shape(layer.name)
    if layer.kind in ("maxpool", "avgpool") and pool_is_tiled(net, layer):
        return h * w * c
    if layer.kind in ("maxpool", "avgpool"):
        t, b, l, r = net.pads(layer)
        return (h + t + b) * (w + l + r) * c + oh * ow * oc
    if layer.kind == "reorg":
        return h * w * c + oh * ow * oc
    if layer.kind in ("concat", "add"):
        return oh * ow * oc
    return h * w * c + oh * ow * oc        # head: reads the map, writes the record


def _ancestors(net: Network, name: str) -> set[str]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        if n != "input":
            todo.extend(net.inputs_of(net.layer(n)))
    return seen


def _pixels_needed(net: Network, base: str) -> dict[str, np.ndarray]:
    """For every map downstream of ``base``, the number of ``base`` pixels (raster order) that must
    have been delivered before each of its pixels (raster order) can be produced, following each
    template's order of reads and writes (processes are sequential: the counts never decrease).
    Maps that do not depend on ``base`` are left out (treated as always available)."""
    hb, wb, _ = net.shape(base)
    need: dict[str, np.ndarray] = {base: np.arange(1, hb * wb + 1)}
    for layer in net.layers:
        srcs = [s_ for s_ in net.inputs_of(layer) if s_ in need]
        if not srcs or layer.name in need:
            continue
        h, w, _ = net.in_shape(layer)
        oh, ow, _ = net.shape(layer.name)
        oy, ox = np.meshgrid(np.arange(oh), np.arange(ow), indexing="ij")
        src = need[srcs[0]]
        if layer.kind in ("concat", "add"):
            got = np.max([need[s_] for s_ in srcs], axis=0)
        elif layer.kind == "head":
            got = src[-1:]
        elif layer.kind == "reorg" or (layer.kind in ("maxpool", "avgpool") and pool_is_tiled(net, layer)):
            k = layer.stride if layer.kind == "reorg" else layer.kernel
            got = src[((oy * k + k - 1) * w + ox * k + k - 1).reshape(-1)]
        else:
            t, _, l, _ = net.pads(layer)
            iy = oy * layer.stride + layer.kernel - 1 - t
            ix = np.minimum(ox * layer.stride + layer.kernel - 1 - l, w - 1)
            last = np.where(iy >= h, h * w - 1, iy * w + ix)     # bottom padding: all rows read
            got = src[last.reshape(-1)]
        need[layer.name] = np.maximum.accumulate(got)
    return need


def concat_lag(net: Network, concat: str, src: str) -> int:
    """Pixels of input ``src`` that a concat or add must be able to hold: the most pixels ``src``
    is forced to produce (because the branch point feeds both branches) before the concat can take
    them. For the skip input of a residual block this is the lag of the block's other branch."""
    order = [layer.name for layer in net.layers]
    lag = 0
    anc_b = _ancestors(net, src)
    for other in net.inputs_of(net.layer(concat)):
        if other == src:
            continue
        common = anc_b & _ancestors(net, other)
        if not common:
            continue
        base = max(common, key=lambda n: -1 if n == "input" else order.index(n))
        need = _pixels_needed(net, base)
        if src not in need or other not in need:
            continue
        forced = np.searchsorted(need[src], need[other], side="left")
        lag = max(lag, int(np.max(forced - np.arange(len(forced)))))
    return lag


def bursty(net: Network, name: str) -> bool:
    """Whether a map is produced in bursts: its rows come out during one of every S input rows
    (strided windows, tiled pooling, reorg)."""
    if name == "input":
        return False
    layer = net.layer(name)
    return layer.kind in ("conv", "maxpool", "avgpool", "reorg") and layer.stride > 1


def fifo_depths(net: Network) -> dict[tuple[str, str], int]:
    """Depth of every stream (producer, consumer); see the module notes."""
    depths: dict[tuple[str, str], int] = {}
    for layer in net.layers:
        for src in net.inputs_of(layer):
            h, w, c = net.shape(src)
            depth = max(2, c)
            if bursty(net, src):
                depth = w * c
            if layer.kind in ("concat", "add"):
                lag = concat_lag(net, layer.name, src)
                if lag >= 1:
                    # slack for rates: a row after a bursty producer or before a concat (which
                    # takes its inputs a pixel each in turn), a few pixels on a steady add input
                    slack = ADD_SLACK_PIXELS * c if layer.kind == "add" and not bursty(net, src) else w * c
                    depth = lag * c + slack
            depths[(src, layer.name)] = max(2, min(depth, h * w * c))
    return depths


def skip_fifos(net: Network, depths: dict[tuple[str, str], int]) -> list[dict]:
    """Every input of every add: the lag in pixels its branch runs ahead of the others
    (:func:`concat_lag`; the skip connection of a residual block lags by the other branch's window
    rows), that lag in words, the FIFO depth given to it and the words of the map it carries."""
    out = []
    for layer in net.layers:
        if layer.kind != "add":
            continue
        for src in net.inputs_of(layer):
            h, w, c = net.shape(src)
            lag = max(0, concat_lag(net, layer.name, src))
            out.append({"add": layer.name, "input": src, "lag_pixels": lag, "lag_words": lag * c,
                        "fifo_words": depths[(src, layer.name)], "map_words": h * w * c})
    return out


def plan(net: Network, cfg: HlsConfig, fps: float | None = None, check_board: bool = True,
         headroom: float = PLAN_HEADROOM) -> Plan:
    """Choose PE x SIMD per conv layer for ``fps`` (default ``cfg.fps``) with ``headroom`` to
    spare and compute the figures.

    Raises
    ------
    ConfigError
        The frame rate cannot be reached on the board (the message names the best reachable one),
        or a parallelism override does not divide the channels.
    """
    target = cfg.fps if fps is None else fps
    board = BOARDS[cfg.board]
    overrides = cfg.overrides
    unknown = sorted(set(overrides) - {l.name for l in net.layers if l.kind == "conv"})
    if unknown:
        raise ConfigError(f"parallelism names {unknown[0]!r}, which is not a conv layer of {net.name}")
    p = _plan(net, cfg, target * (1 + headroom), overrides)
    if check_board and (p is None or p.dsp > board.dsp or p.bram18 > board.bram18):
        best = best_fps(net, cfg) / (1 + headroom)
        why = ""
        if p is not None:
            why = f" (needs {p.dsp} DSP / {p.bram18} BRAM18 of {board.dsp} / {board.bram18})"
        if best == 0.0:
            slow = _plan(net, cfg, 1e-6, overrides)
            raise ConfigError(f"{net.name} does not fit {board.name} at any frame rate: it needs at least "
                              f"{slow.dsp} DSP and {slow.bram18} BRAM18 of {board.dsp} / {board.bram18}; "
                              f"networks this size run on the accelerator: `hwgen accel compile --model "
                              f"{shlex.quote(cfg.model)} --out DIR`")
        raise ConfigError(f"frame rate {target:g} fps is unreachable for {net.name} on {board.name} at "
                          f"{cfg.clock_mhz:g} MHz{why}; the best reachable is {best:.1f} fps")
    if p is not None:
        p.target_fps = target
    return p


#: relative weights of DSP and BRAM shares tried in turn until a plan fits the board
COST_WEIGHTS = ((1.0, 1.0), (1.0, 4.0), (1.0, 16.0), (4.0, 1.0), (16.0, 1.0))


def _plan(net: Network, cfg: HlsConfig, target: float, overrides: dict) -> Plan | None:
    """The first plan (over :data:`COST_WEIGHTS`) that fits the board, else the first one."""
    board = BOARDS[cfg.board]
    first = None
    for weights in COST_WEIGHTS:
        p = _plan_weighted(net, cfg, target, overrides, weights)
        if p is None:
            return None
        if p.dsp <= board.dsp and p.bram18 <= board.bram18:
            return p
        first = first or p
    return first


def _plan_weighted(net: Network, cfg: HlsConfig, target: float, overrides: dict,
                   weights: tuple[float, float]) -> Plan | None:
    budget = int(cfg.clock_mhz * 1e6 / target)
    depths = fifo_depths(net)
    layers: list[LayerPlan] = []
    for layer in net.layers:
        oh, ow, oc = net.shape(layer.name)
        outs = [d for (a, _), d in depths.items() if a == layer.name]
        lp = LayerPlan(name=layer.name, kind=layer.kind, macs=net.macs(layer), map_words=oh * ow * oc,
                       fifo_depth=max(outs, default=0))
        if layer.kind == "conv":
            if layer.name in overrides:
                pe, simd = overrides[layer.name]
                check_parallelism(net, layer, pe, simd)
            else:
                got = _choose(net, layer, budget, cfg, weights)
                if got is None:
                    return None
                pe, simd = got
            lp.pe, lp.simd = pe, simd
            lp.cycles = conv_cycles(net, layer, pe, simd)
            if lp.cycles > budget:           # an override too slow for the target
                return None
            lp.dsp, lp.bram18, lp.linebuf_words = conv_resources(net, layer, pe, simd, cfg)
        else:
            lp.cycles = _simple_cycles(net, layer)
            h, w, c = net.in_shape(layer)
            if layer.kind == "maxpool" and pool_is_tiled(net, layer):
                lp.linebuf_words = net.shape(layer.name)[1] * c
                lp.bram18 = bram18(lp.linebuf_words, cfg.act_width)
            elif layer.kind == "maxpool":
                lp.linebuf_words = (layer.kernel - 1) * w * c
                lp.bram18 = bram18(lp.linebuf_words, cfg.act_width, max(layer.kernel - 1, 1))
                lp.bram18 += bram18(c, layer.kernel ** 2 * cfg.act_width)
            elif layer.kind == "reorg":
                lp.linebuf_words = (layer.stride - 1) * w * c + layer.stride * c
                lp.bram18 = bram18(lp.linebuf_words, cfg.act_width)
            elif layer.kind == "avgpool" and pool_is_tiled(net, layer):
                # one row of partial sums (a global pool: one per channel), no line buffer
                lp.linebuf_words = net.shape(layer.name)[1] * c
                lp.bram18 = bram18(lp.linebuf_words, accum_bits(net, layer, cfg))
            elif layer.kind == "avgpool":
                lp.linebuf_words = (layer.kernel - 1) * w * c
                lp.bram18 = bram18(lp.linebuf_words, cfg.act_width, max(layer.kernel - 1, 1))
                lp.bram18 += bram18(c, layer.kernel ** 2 * cfg.act_width)
            if layer.kind == "avgpool":
                lp.dsp = 1                   # the requantization multiply; the sum is adders
                lp.bram18 += requant_roms_bram18(c, cfg)
            elif layer.kind == "add":
                n = len(net.inputs_of(layer))
                lp.dsp = n + 1               # a weight product per input and the requantization
                lp.bram18 += bram18(n * c, cfg.weight_width) + requant_roms_bram18(c, cfg)
            if lp.cycles > budget:
                return None
        lp.bram18 += sum(bram18(d, cfg.act_width) for (a, _), d in depths.items() if a == layer.name)
        layers.append(lp)
    return Plan(layers=layers, clock_mhz=cfg.clock_mhz, target_fps=target, board=BOARDS[cfg.board],
                fifo_depths=depths, skips=skip_fifos(net, depths))


def best_fps(net: Network, cfg: HlsConfig) -> float:
    """The highest frame rate whose plan fits the board (bisection on the frame rate)."""
    board = BOARDS[cfg.board]

    def fits(f: float) -> bool:
        p = _plan(net, cfg, f, cfg.overrides)
        return p is not None and p.dsp <= board.dsp and p.bram18 <= board.bram18

    lo, hi = 0.0, cfg.clock_mhz * 1e6 / max(_simple_floor(net), 1)
    if not fits(1e-6):
        return 0.0
    if fits(hi):
        return hi
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def _simple_floor(net: Network) -> int:
    """A lower bound on frame cycles (each layer's stream traffic)."""
    out = 1
    for layer in net.layers:
        if layer.kind == "conv":
            h, w, cin, oh, ow, cout, padded, cpg = _conv_geometry(net, layer)
            out = max(out, padded * cin + oh * ow * cout)
        else:
            out = max(out, _simple_cycles(net, layer))
    return out
