"""Checks the FIFO depths and the frame rate of a generated dataflow design by executing its
processes as a network with bounded FIFOs and blocking reads and writes (a Kahn process network):
a depth that is too small shows up as a deadlock, independent of the order in which processes run.

Each process follows the read/write pattern of its template in ``hwgen_nn.h`` at pixel
granularity (a step reads or writes one pixel's words, which needs at least as much room as
word-by-word transfers): a window layer reads each real pixel, then writes each output pixel whose
window it completes; tiled pooling and reorg write when a block is complete; a concat copies a
pixel of each input in turn; an add reads a pixel of every input and writes one; a fork copies
each pixel to all consumers. A network without a head ends in a sink that reads its output map
pixel by pixel.

Timing (:func:`simulate_timing`): each step also takes the cycles its loop takes in the template
(the same counts as :mod:`hwgen.hls.perf`, which the C simulation measures), and moves its words
one per cycle, evenly over the step. A step starts when its process is free, its input words
have been written and its output words have room (checked at the first and the last word of the
step); times are exact max-plus evaluations along the untimed execution. Frames run back to back.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from ..errors import ConfigError
from ..nn.ir import Network
from .config import HlsConfig
from .perf import PLAN_HEADROOM, Plan, conv_pixel_cycles, plan, pool_is_tiled

Transfers = tuple[tuple[str, int], ...]  # ((fifo, -words read | +words written), ...)
Action = tuple[int, Transfers]           # (cycles, transfers)


@dataclass
class DataflowResult:
    """Outcome of a bounded-FIFO execution."""
    deadlock: bool
    blocked: list[str]                 # processes stuck at the deadlock
    max_occupancy: dict[str, int]      # per FIFO (producer->consumer), in words


def _edge(a: str, b: str) -> str:
    return f"{a}->{b}"


def _window_process(net: Network, layer, fin: str, fout: str, pixel_cycles: int, frames: int) -> Iterator[Action]:
    h, w, cin = net.in_shape(layer)
    oh, ow, cout = net.shape(layer.name)
    t, b, l, r = net.pads(layer)
    k, s = layer.kernel, layer.stride
    for _ in range(frames):
        for py in range(h + t + b):
            for px in range(w + l + r):
                iy, ix = py - t, px - l
                yield (cin, ((fin, -cin),) if 0 <= iy < h and 0 <= ix < w else ())
                y0, x0 = py - (k - 1), px - (k - 1)
                if y0 >= 0 and x0 >= 0 and y0 % s == 0 and x0 % s == 0 and y0 // s < oh and x0 // s < ow:
                    yield (pixel_cycles, ((fout, cout),))


def _processes(net: Network, depths: dict[tuple[str, str], int], frames: int = 1,
               pixel_cycles: dict[str, int] | None = None):
    """(name, generator of actions) for every process, the FIFO capacities, and the sink's actions
    per frame.

    ``pixel_cycles`` gives a conv layer's cycles per output pixel (default: its output channels)."""
    consumers = {n: [l.name for l in net.consumers(n)] for n in ["input"] + [l.name for l in net.layers]}
    pixel_cycles = pixel_cycles or {}
    caps: dict[str, int] = {}
    procs = []

    def out_fifo(name: str, channels: int) -> str:
        outs = consumers[name]
        if not outs:                     # the network's output map, read by the sink
            f = _edge(name, "sink")
            caps[f] = max(2, channels)
            return f
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
        pixels = net.shape(name)[0] * net.shape(name)[1]
        step = (channels, ((f, -channels),) + tuple((t, channels) for t in targets))
        procs.append((f"{name}.fork", iter([step] * (pixels * frames))))
        return f

    h, w, c = net.input_shape
    src_out = out_fifo("input", c)
    procs.append(("input", iter([(c, ((src_out, c),))] * (h * w * frames))))
    for layer in net.layers:
        ins = [_edge(s, layer.name) for s in net.inputs_of(layer)]
        ih, iw, ic = net.in_shape(layer)
        oh, ow, oc = net.shape(layer.name)
        if layer.kind == "head":
            caps["head->sink"] = 8
            head = [(ic, ((ins[0], -ic),))] * (ih * iw) + [(8, (("head->sink", 8),))]
            procs.append((layer.name, iter(head * frames)))
            procs.append(("sink", iter([(8, (("head->sink", -8),))] * frames)))
            continue
        fout = out_fifo(layer.name, oc)
        if layer.kind == "conv":
            gen = _window_process(net, layer, ins[0], fout, pixel_cycles.get(layer.name, oc), frames)
        elif layer.kind in ("maxpool", "avgpool") and not pool_is_tiled(net, layer):
            gen = _window_process(net, layer, ins[0], fout, oc, frames)
        elif layer.kind in ("maxpool", "avgpool"):
            gen = _blocks(ins[0], fout, ih, iw, ic, layer.kernel, oc, 0, frames)
        elif layer.kind == "reorg":
            gen = _blocks(ins[0], fout, ih, iw, ic, layer.stride, oc, oc, frames)
        elif layer.kind == "add":
            step = (oc, tuple((f, -oc) for f in ins) + ((fout, oc),))
            gen = iter([step] * (oh * ow * frames))
        else:
            gen = _concat(ins, fout, [net.shape(s)[2] for s in net.inputs_of(layer)], oh * ow, frames)
        procs.append((layer.name, gen))
    out = net.output
    if out.kind == "head":
        return procs, caps, 1
    oh, ow, oc = net.shape(out.name)
    procs.append(("sink", iter([(oc, ((_edge(out.name, "sink"), -oc),))] * (oh * ow * frames))))
    return procs, caps, oh * ow


def _blocks(fin: str, fout: str, h: int, w: int, c: int, k: int, out_words: int, out_cycles: int,
            frames: int) -> Iterator[Action]:
    """Tiled pooling (writes while reading a block's last pixel: ``out_cycles`` 0) and reorg
    (writes the block after reading it)."""
    for _ in range(frames):
        for y in range(h):
            for x in range(w):
                last = y % k == k - 1 and x % k == k - 1
                if last and out_cycles == 0:
                    yield (c, ((fin, -c), (fout, out_words)))
                    continue
                yield (c, ((fin, -c),))
                if last:
                    yield (out_cycles, ((fout, out_words),))


def _concat(ins: list[str], fout: str, chans: list[int], pixels: int, frames: int) -> Iterator[Action]:
    for _ in range(frames * pixels):
        for f, c in zip(ins, chans):
            yield (c, ((f, -c), (fout, c)))


def _schedule(procs: list[tuple[str, Iterator[Action]]], fire) -> list[str]:
    """Run every process's actions in order until all are done or none can move; ``fire(name,
    action)`` performs an action and returns True, or returns False when it must wait. Returns
    the processes left waiting (empty when everything finished, the deadlocked ones otherwise)."""
    pending: dict[str, Action | None] = {name: next(gen, None) for name, gen in procs}
    gens = dict(procs)
    live = [name for name, _ in procs]
    while live:
        progress = False
        still = []
        for name in live:
            act = pending[name]
            while act is not None and fire(name, act):
                act = next(gens[name], None)
                progress = True
            pending[name] = act
            if act is not None:
                still.append(name)
        live = still
        if not progress:
            return live
    return []


def run_dataflow(net: Network, depths: dict[tuple[str, str], int]) -> DataflowResult:
    """Execute the design with the given FIFO depths until it finishes or deadlocks."""
    procs, caps, _ = _processes(net, depths)
    for f, cap in caps.items():
        if cap < 1:
            raise ConfigError(f"FIFO {f} needs a positive depth, not {cap}")
    count = {f: 0 for f in caps}
    peak = {f: 0 for f in caps}

    def fire(name: str, act: Action) -> bool:
        if any((n < 0 and count[f] < -n) or (n > 0 and caps[f] - count[f] < n) for f, n in act[1]):
            return False
        for f, n in act[1]:
            count[f] += n
            if count[f] > peak[f]:
                peak[f] = count[f]
        return True

    blocked = _schedule(procs, fire)
    return DataflowResult(deadlock=bool(blocked), blocked=blocked, max_occupancy=peak)


class _TimedFifo:
    """Word transfer times of one FIFO: chunks of words moved evenly over ``[t0, t1]``."""
    __slots__ = ("cap", "written", "read", "w", "r", "wi", "ri")

    def __init__(self, cap: int):
        self.cap = cap
        self.written = 0
        self.read = 0
        self.w: list[tuple[int, int, float, float]] = []   # (first word, last word, t0, t1)
        self.r: list[tuple[int, int, float, float]] = []
        self.wi = 0      # search positions: each side only asks about later and later words
        self.ri = 0

    @staticmethod
    def _time(chunks, pos: int, k: int) -> tuple[float, int]:
        while chunks[pos][1] < k:
            pos += 1
        a, b, t0, t1 = chunks[pos]
        return (t0 + (t1 - t0) * (k - a + 1) / (b - a + 1), pos)

    def written_at(self, k: int) -> float:
        t, self.wi = self._time(self.w, self.wi, k)
        return t

    def read_at(self, k: int) -> float:
        if k < 1:
            return 0.0
        t, self.ri = self._time(self.r, self.ri, k)
        return t


@dataclass
class TimingResult:
    """Outcome of a timed execution of ``frames`` back-to-back frames."""
    frames: int
    done: list[float]            # cycle at which each frame's result left the design
    deadlock: bool
    busy: dict[str, float] = None          # cycles each process worked
    starved: dict[str, float] = None       # cycles each process waited for input
    blocked: dict[str, float] = None       # cycles each process waited for room in an output

    @property
    def latency(self) -> float:
        return self.done[0] if self.done else float("inf")

    @property
    def interval(self) -> float:
        """Cycles between the last two frames (the steady-state frame time)."""
        return self.done[-1] - self.done[-2] if len(self.done) >= 2 else float("inf")


def simulate_timing(net: Network, depths: dict[tuple[str, str], int], pixel_cycles: dict[str, int],
                    frames: int = 3) -> TimingResult:
    """Timed execution (see the module notes); ``pixel_cycles`` as in :func:`hwgen.hls.perf`."""
    procs, caps, sink_steps = _processes(net, depths, frames, pixel_cycles)
    sink_fired = [0]
    fifos = {f: _TimedFifo(cap) for f, cap in caps.items()}
    clock = {name: 0.0 for name, _ in procs}
    done: list[float] = []
    busy = {name: 0.0 for name in clock}
    starved = {name: 0.0 for name in clock}
    blocked = {name: 0.0 for name in clock}

    def fire(name: str, act: Action) -> bool:
        cycles, moves = act
        if any((n < 0 and fifos[f].written - fifos[f].read < -n) or
               (n > 0 and fifos[f].cap - (fifos[f].written - fifos[f].read) < n) for f, n in moves):
            return False
        in_ready = out_ready = clock[name]
        for f, n in moves:
            q = fifos[f]
            if n < 0:
                first, last = q.read + 1, q.read - n
                in_ready = max(in_ready, q.written_at(first) - cycles / -n,
                               q.written_at(last) - cycles)
            else:
                first, last = q.written + 1, q.written + n
                out_ready = max(out_ready, q.read_at(first - q.cap) - cycles / n,
                                q.read_at(last - q.cap) - cycles)
        start = max(in_ready, out_ready)
        if start > clock[name]:
            if in_ready >= out_ready:
                starved[name] += start - clock[name]
            else:
                blocked[name] += start - clock[name]
        busy[name] += cycles
        end = start + cycles
        for f, n in moves:
            q = fifos[f]
            if n < 0:
                q.r.append((q.read + 1, q.read - n, start, end))
                q.read -= n
            else:
                q.w.append((q.written + 1, q.written + n, start, end))
                q.written += n
        clock[name] = end
        if name == "sink":
            sink_fired[0] += 1
            if sink_fired[0] % sink_steps == 0:      # the frame's last output has left
                done.append(end)
        return True

    stuck = _schedule(procs, fire)
    return TimingResult(frames=frames, done=done, deadlock=bool(stuck), busy=busy, starved=starved,
                        blocked=blocked)


def simulate_plan(net: Network, p: Plan, frames: int = 2) -> TimingResult:
    """Timed execution of a plan's design (its parallelism and FIFO depths)."""
    cycles = {l.name: conv_pixel_cycles(net, l, p.layer(l.name).pe, p.layer(l.name).simd)
              for l in net.layers if l.kind == "conv"}
    return simulate_timing(net, p.fifo_depths, cycles, frames)


def verified_plan(net: Network, cfg: HlsConfig, frames: int = 2, tries: int = 4) -> Plan:
    """A plan whose timed dataflow simulation reaches ``cfg.fps``: the parallelism headroom grows
    by the simulated shortfall until it does (or the board is full, which raises the
    unreachable-frame-rate error).

    Raises
    ------
    ConfigError
        The frame rate is unreachable, or the simulation still falls short after ``tries`` plans.
    """
    headroom = PLAN_HEADROOM
    for _ in range(tries):
        p = plan(net, cfg, headroom=headroom)
        r = simulate_plan(net, p, frames)
        if r.deadlock:
            raise ConfigError(f"{net.name}: the dataflow deadlocks with the computed FIFO depths "
                              f"(blocked: {', '.join(r.blocked or [])})")
        p.simulated_cycles = int(round(r.interval))
        if p.fps_simulated >= cfg.fps:
            return p
        headroom = (1 + headroom) * cfg.fps / p.fps_simulated * 1.002 - 1
    raise ConfigError(f"frame rate {cfg.fps:g} fps is unreachable for {net.name} on {cfg.board} at "
                      f"{cfg.clock_mhz:g} MHz: the timed dataflow simulation reaches {p.fps_simulated:.1f} fps")
