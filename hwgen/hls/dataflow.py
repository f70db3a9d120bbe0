"""Checks the FIFO depths of a generated dataflow design by executing its processes as a network
with bounded FIFOs and blocking reads and writes (a Kahn process network): a depth that is too
small shows up as a deadlock, independent of the order in which processes run.

Each process follows the read/write pattern of its template in ``hwgen_nn.h`` at pixel
granularity (a step reads or writes one pixel's words at once, which needs at least as much
room as word-by-word transfers): a window layer reads each real pixel, then writes each output
pixel whose window it completes; tiled pooling and reorg write when a block is complete; a concat
copies a pixel of each input in turn; a fork copies each pixel to all consumers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from ..errors import ConfigError
from ..nn.ir import Network
from .perf import pool_is_tiled

Action = tuple[tuple[str, int], ...]     # ((fifo, -words read | +words written), ...)


@dataclass
class DataflowResult:
    """Outcome of a bounded-FIFO execution."""
    deadlock: bool
    blocked: list[str]                 # processes stuck at the deadlock
    max_occupancy: dict[str, int]      # per FIFO (producer->consumer), in words


def _edge(a: str, b: str) -> str:
    return f"{a}->{b}"


def _window_process(net: Network, layer, fin: str, fout: str) -> Iterator[Action]:
    h, w, cin = net.in_shape(layer)
    oh, ow, cout = net.shape(layer.name)
    t, b, l, r = net.pads(layer)
    k, s = layer.kernel, layer.stride
    for py in range(h + t + b):
        for px in range(w + l + r):
            iy, ix = py - t, px - l
            if 0 <= iy < h and 0 <= ix < w:
                yield ((fin, -cin),)
            y0, x0 = py - (k - 1), px - (k - 1)
            if y0 >= 0 and x0 >= 0 and y0 % s == 0 and x0 % s == 0 and y0 // s < oh and x0 // s < ow:
                yield ((fout, cout),)


def _processes(net: Network, depths: dict[tuple[str, str], int]):
    """(name, generator of actions) for every process, and the FIFO capacities."""
    consumers = {n: [l.name for l in net.consumers(n)] for n in ["input"] + [l.name for l in net.layers]}
    caps: dict[str, int] = {}
    procs = []

    def out_fifo(name: str, channels: int) -> str:
        outs = consumers[name]
        if len(outs) == 1:
            f = _edge(name, outs[0])
            caps[f] = depths[(name, outs[0])]
            return f
        f = _edge(name, "fork")
        caps[f] = max(2, channels)
        targets = []
        for dst in outs:
            caps[_edge(name, dst)] = depths[(name, dst)]
            targets.append(_edge(name, dst))
        words = net.shape(name)[0] * net.shape(name)[1]

        def fork(f=f, targets=targets, words=words, c=channels):
            for _ in range(words):
                yield ((f, -c),) + tuple((t, c) for t in targets)
        procs.append((f"{name}.fork", fork()))
        return f

    h, w, c = net.input_shape
    src_out = out_fifo("input", c)
    procs.append(("input", (((src_out, c),) for _ in range(h * w))))
    for layer in net.layers:
        ins = [_edge(s, layer.name) for s in net.inputs_of(layer)]
        ih, iw, ic = net.in_shape(layer)
        oh, ow, oc = net.shape(layer.name)
        if layer.kind == "head":
            caps["head->sink"] = 8
            gen = _head(ins[0], ih * iw, ic)
            procs.append((layer.name, gen))
            procs.append(("sink", iter([(("head->sink", -8),)])))
            continue
        fout = out_fifo(layer.name, oc)
        if layer.kind == "conv" or (layer.kind == "maxpool" and not pool_is_tiled(net, layer)):
            gen = _window_process(net, layer, ins[0], fout)
        elif layer.kind == "maxpool":
            gen = _blocks(ins[0], fout, ih, iw, ic, layer.kernel, oc)
        elif layer.kind == "reorg":
            gen = _blocks(ins[0], fout, ih, iw, ic, layer.stride, oc)
        else:
            gen = _concat(ins, fout, [net.shape(s)[2] for s in net.inputs_of(layer)], oh * ow)
        procs.append((layer.name, gen))
    return procs, caps


def _head(fin: str, pixels: int, c: int) -> Iterator[Action]:
    for _ in range(pixels):
        yield ((fin, -c),)
    yield (("head->sink", 8),)


def _blocks(fin: str, fout: str, h: int, w: int, c: int, k: int, out_words: int) -> Iterator[Action]:
    for y in range(h):
        for x in range(w):
            yield ((fin, -c),)
            if y % k == k - 1 and x % k == k - 1:
                yield ((fout, out_words),)


def _concat(ins: list[str], fout: str, chans: list[int], pixels: int) -> Iterator[Action]:
    for _ in range(pixels):
        for f, c in zip(ins, chans):
            yield ((f, -c), (fout, c))


def run_dataflow(net: Network, depths: dict[tuple[str, str], int]) -> DataflowResult:
    """Execute the design with the given FIFO depths until it finishes or deadlocks."""
    procs, caps = _processes(net, depths)
    for f, cap in caps.items():
        if cap < 1:
            raise ConfigError(f"FIFO {f} needs a positive depth, not {cap}")
    count = {f: 0 for f in caps}
    peak = {f: 0 for f in caps}
    pending: dict[str, Action | None] = {name: next(gen, None) for name, gen in procs}
    gens = dict(procs)
    live = [name for name, _ in procs]
    while live:
        progress = False
        still = []
        for name in live:
            act = pending[name]
            while act is not None:
                if any((n < 0 and count[f] < -n) or (n > 0 and caps[f] - count[f] < n) for f, n in act):
                    break
                for f, n in act:
                    count[f] += n
                    if count[f] > peak[f]:
                        peak[f] = count[f]
                act = next(gens[name], None)
                progress = True
            pending[name] = act
            if act is not None:
                still.append(name)
        live = still
        if not progress:
            return DataflowResult(deadlock=True, blocked=live, max_occupancy=peak)
    return DataflowResult(deadlock=False, blocked=[], max_occupancy=peak)
