"""Gate sizing and fanout buffering of mapped adders on hwgen45, on an exact static timer.

The timer reproduces ABC's ``stime`` on hwgen45 (its NLDM tables are linear, so the lookup is
exact): primary inputs arrive at 0 ps with 0 ps slew, primary outputs add no load, a net's load is
the sum of its sinks' pin capacitances, and a gate's output takes the latest arrival and the
largest slew over its input arcs:

    delay = intrinsic + 0.1 * in_slew + res * load,   slew = 4 + 0.05 * in_slew + 2 * res * load

The optimizer (:func:`size_for`) gives the smallest area it finds for a delay target:
Lagrangian-relaxation sizing (Chen, Chu and Wong; a local discrete choice of X1/X2/X4 per gate
under arc multipliers that are raised on late arcs and kept flow-conserving), then a greedy
repair on the critical path until the target is met and a greedy downsizing while it still is.
Fanout buffering (:func:`buffer_fanouts`) moves a high-fanout net's non-critical sinks behind an
added BUF: the prefix structure is unchanged, buffers are added cells only.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from .library import CELLS, DRIVES

CELL = {c.base: c for c in CELLS}
SIZES = (1, 2, 4)
# cell areas as the liberty file states them (3 decimals), which is what ABC adds up
AREA = {(c.base, d): round(c.area * f[0], 3) for c in CELLS for d, f in DRIVES.items()}
_GATE = re.compile(r"^\.gate\s+(\w+)_X(\d)\s+(.*)$")


@dataclass
class Netlist:
    """A mapped netlist: nets are numbered, primary inputs first; gate ``g`` drives net
    ``outs[g]`` through pin ``out_pin[g]`` and reads ``fanins[g]`` through ``pins[g]``.

    Attributes
    ----------
    inputs, outputs : list of str
        Port names (``outputs`` in BLIF order).
    net_names : list of str
    po_nets : list of int
        The net each output port reads.
    kinds : list of str
        Base cell name of each gate (``AOI21``); ``sizes`` holds its drive (1, 2 or 4).
    """
    inputs: list[str]
    outputs: list[str]
    net_names: list[str]
    po_nets: list[int]
    kinds: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    pins: list[tuple[str, ...]] = field(default_factory=list)
    fanins: list[list[int]] = field(default_factory=list)
    outs: list[int] = field(default_factory=list)
    out_pin: list[str] = field(default_factory=list)
    model: str = "top"

    @classmethod
    def from_blif(cls, text: str) -> "Netlist":
        ins: list[str] = []
        outs: list[str] = []
        gates = []
        model = "top"
        for line in text.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line.startswith(".model"):
                model = line.split()[1]
            elif line.startswith(".inputs"):
                ins = line.split()[1:]
            elif line.startswith(".outputs"):
                outs = line.split()[1:]
            elif line.startswith(".gate"):
                m = _GATE.match(line)
                conns = [c.split("=", 1) for c in m.group(3).split()]
                gates.append((m.group(1), int(m.group(2)), conns))
        names = list(ins)
        index = {nm: i for i, nm in enumerate(names)}
        nl = cls(ins, outs, names, [], model=model)
        for base, size, conns in gates:
            out_pin, out_net = conns[-1]
            index[out_net] = len(names)
            names.append(out_net)
        for base, size, conns in gates:
            out_pin, out_net = conns[-1]
            nl.kinds.append(base)
            nl.sizes.append(size)
            nl.pins.append(tuple(p for p, _ in conns[:-1]))
            nl.fanins.append([index[v] for _, v in conns[:-1]])
            nl.outs.append(index[out_net])
            nl.out_pin.append(out_pin)
        nl.po_nets = [index[o] for o in outs]
        nl.reorder()
        return nl

    def sizes_from(self, other: "Netlist") -> list[int] | None:
        """The drive of each of this netlist's gates in ``other``, a copy of it with other net
        names and gate order (as ABC writes a sized netlist back), matched by structure: a gate
        is its cell and what its pins read (inputs by name, gates by their match). None when
        the two do not match one to one."""
        table: dict[tuple, int] = {}

        def ids(nl: "Netlist", grow: bool) -> list[int] | None:
            drv = {o: g for g, o in enumerate(nl.outs)}
            got: list[int] = []
            for g in range(len(nl.kinds)):  # gates are in topological order
                key = (nl.kinds[g], tuple(sorted(
                    ((p, -1 - got[drv[i]] if i in drv else nl.net_names[i])
                     for p, i in zip(nl.pins[g], nl.fanins[g])), key=str)))
                if key not in table:
                    if not grow:
                        return None
                    table[key] = len(table)
                got.append(table[key])
            return got

        mine = ids(self, True)
        if len(table) != len(self.kinds) or len(other.kinds) != len(self.kinds):
            return None  # two gates with one function and inputs: no unique match
        theirs = ids(other, False)
        if theirs is None or len(set(theirs)) != len(theirs):
            return None
        size_of = dict(zip(theirs, other.sizes))
        return [size_of[k] for k in mine]

    def copy(self) -> "Netlist":
        return Netlist(list(self.inputs), list(self.outputs), list(self.net_names),
                       list(self.po_nets), list(self.kinds), list(self.sizes), list(self.pins),
                       [list(f) for f in self.fanins], list(self.outs), list(self.out_pin),
                       self.model)._index()

    def reorder(self) -> None:
        """Put the gates in topological order (after buffers were added) and rebuild indexes."""
        driver = {o: g for g, o in enumerate(self.outs)}
        order, state = [], [0] * len(self.kinds)
        for g0 in range(len(self.kinds)):
            stack = [(g0, 0)]
            while stack:
                g, k = stack.pop()
                if state[g] == 2:
                    continue
                state[g] = 1
                fi = self.fanins[g]
                while k < len(fi) and (fi[k] not in driver or state[driver[fi[k]]] == 2):
                    k += 1
                if k < len(fi):
                    stack.append((g, k + 1))
                    stack.append((driver[fi[k]], 0))
                else:
                    state[g] = 2
                    order.append(g)
        for attr in ("kinds", "sizes", "pins", "fanins", "outs", "out_pin"):
            v = getattr(self, attr)
            setattr(self, attr, [v[g] for g in order])
        self._index()

    def _index(self) -> "Netlist":
        self.driver = {o: g for g, o in enumerate(self.outs)}
        self.sinks: list[list[tuple[int, int]]] = [[] for _ in self.net_names]
        for g, fi in enumerate(self.fanins):
            for k, i in enumerate(fi):
                self.sinks[i].append((g, k))
        return self

    @property
    def area(self) -> float:
        return sum(AREA[k, s] for k, s in zip(self.kinds, self.sizes))

    def blif(self) -> str:
        lines = [f".model {self.model}", ".inputs " + " ".join(self.inputs),
                 ".outputs " + " ".join(self.outputs)]
        nm = self.net_names
        for g, kind in enumerate(self.kinds):
            conns = " ".join(f"{p}={nm[i]}" for p, i in zip(self.pins[g], self.fanins[g]))
            lines.append(f".gate {kind}_X{self.sizes[g]} {conns} {self.out_pin[g]}={nm[self.outs[g]]}")
        # outputs read directly from a renamed net keep their names: map_graph names them so
        lines.append(".end")
        return "\n".join(lines) + "\n"

    def add_buffer(self, net: int, sinks: list[tuple[int, int]], size: int = 1) -> int:
        """Drive ``sinks`` (``(gate, pin index)`` pairs reading ``net``) from a new BUF on
        ``net``; returns the new gate's index (before :meth:`reorder`)."""
        new = len(self.net_names)
        self.net_names.append(f"{self.net_names[net]}_b{new}")
        for g, k in sinks:
            self.fanins[g][k] = new
        self.kinds.append("BUF")
        self.sizes.append(size)
        self.pins.append(("A",))
        self.fanins.append([net])
        self.outs.append(new)
        self.out_pin.append("Z")
        return len(self.kinds) - 1


class Timer:
    """Static timing of a :class:`Netlist` (see the module docstring); arrays by gate."""

    def __init__(self, nl: Netlist):
        self.nl = nl
        self.intr = [CELL[k].intrinsic for k in nl.kinds]
        self.res0 = [CELL[k].res for k in nl.kinds]
        self.cap0 = [CELL[k].cap for k in nl.kinds]
        self.area0 = [CELL[k].area for k in nl.kinds]
        self.npi = len(nl.inputs)
        self.gate_of_net = [-1] * len(nl.net_names)
        for g, o in enumerate(nl.outs):
            self.gate_of_net[o] = g
        self.sink_gates = [[g for g, _ in nl.sinks[nl.outs[g]]] for g in range(len(nl.kinds))]
        self.pi_sinks = [[g for g, _ in nl.sinks[i]] for i in range(self.npi)]

    def loads(self, sizes: list[int]) -> list[float]:
        cap = [c * DRIVES[s][1] for c, s in zip(self.cap0, sizes)]
        return [sum(cap[h] for h in sg) for sg in self.sink_gates]

    def run(self, sizes: list[int]):
        """Returns (delay, arrival by net, slew by net, load by gate)."""
        nl = self.nl
        load = self.loads(sizes)
        nn = len(nl.net_names)
        arr = [0.0] * nn
        slew = [0.0] * nn
        for g, fi in enumerate(nl.fanins):
            rl = self.res0[g] * DRIVES[sizes[g]][2] * load[g]
            a = max(arr[i] + 0.1 * slew[i] for i in fi)
            s = max(slew[i] for i in fi)
            o = nl.outs[g]
            arr[o] = a + self.intr[g] + rl
            slew[o] = 4.0 + 0.05 * s + 2.0 * rl
        delay = max(arr[o] for o in nl.po_nets)
        return delay, arr, slew, load

    def required(self, sizes, arr, slew, load, target: float) -> list[float]:
        nl = self.nl
        req = [math.inf] * len(nl.net_names)
        for o in nl.po_nets:
            req[o] = target
        for g in range(len(nl.kinds) - 1, -1, -1):
            r = req[nl.outs[g]] - self.intr[g] - self.res0[g] * DRIVES[sizes[g]][2] * load[g]
            for i in nl.fanins[g]:
                v = r - 0.1 * slew[i]
                if v < req[i]:
                    req[i] = v
        return req

    def area(self, sizes) -> float:
        return sum(AREA[k, s] for k, s in zip(self.nl.kinds, sizes))


def time_netlist(nl: Netlist) -> tuple[float, float]:
    """(area, delay) of ``nl`` as ABC's ``stime`` reports them."""
    t = Timer(nl)
    return t.area(nl.sizes), t.run(nl.sizes)[0]


def _critical_gates(t: Timer, sizes, arr, slew, load) -> list[int]:
    nl = t.nl
    o = max(nl.po_nets, key=lambda x: arr[x])
    path = []
    g = t.gate_of_net[o]
    while g >= 0:
        path.append(g)
        i = max(nl.fanins[g], key=lambda x: arr[x] + 0.1 * slew[x])
        g = t.gate_of_net[i]
    return path


def _slacks(t: Timer, sizes: list[int], target: float) -> tuple[float, list[float]]:
    """(delay, slack of each gate's output net) for ``target`` (the delay itself when 0)."""
    delay, arr, slew, load = t.run(sizes)
    req = t.required(sizes, arr, slew, load, target or delay)
    return delay, [req[o] - arr[o] for o in t.nl.outs]


def _repair(t: Timer, sizes: list[int], target: float, max_rounds: int = 400) -> list[int]:
    """Speed up until ``target`` (0: as far as it goes): each round evaluates, in one batch,
    upsizing every critical gate and downsizing every non-critical gate that loads a critical
    net, then applies the best prefix of the moves ranked by delay gain per area."""
    bt = BatchTimer(t.nl)
    nl = t.nl
    cur = np.array(sizes, dtype=np.int64)
    delay = float(bt.delays(cur)[0])
    for _ in range(max_rounds):
        if target and delay <= target + 1e-9:
            break
        _d, slack = bt.slacks(cur, 0.0)
        crit = [g for g in range(len(cur)) if slack[g] < 0.5]
        moves = [(g, int(cur[g]) * 2) for g in crit if cur[g] < 4]
        side = set()
        for g in crit:
            for i in [nl.outs[g]] + nl.fanins[g]:
                for h, _k in nl.sinks[i]:
                    if slack[h] > 2.0 and cur[h] > 1:
                        side.add(h)
        moves += [(h, int(cur[h]) // 2) for h in sorted(side)]
        if not moves:
            break
        trial = np.repeat(cur[None, :], len(moves), axis=0)
        for r, (g, s) in enumerate(moves):
            trial[r, g] = s
        d = bt.delays(trial)
        da = bt.areas(trial) - bt.areas(cur)[0]
        good = [r for r in range(len(moves)) if d[r] < delay - 1e-6]
        if not good:
            break
        if target:
            good.sort(key=lambda r: -(delay - d[r]) / max(da[r], 1e-3))
        else:
            good.sort(key=lambda r: d[r])
        good = good[:32 if target else 4]
        pref = np.repeat(cur[None, :], len(good), axis=0)
        for r in range(len(good)):
            g, s = moves[good[r]]
            pref[r:, g] = s
        dp = bt.delays(pref)
        if target:
            hit = [r for r in range(len(good)) if dp[r] <= target + 1e-9]
            j = hit[0] if hit else int(np.argmin(dp))
        else:
            j = int(np.argmin(dp))
        if dp[j] >= delay - 1e-6:
            break
        cur, delay = pref[j].copy(), float(dp[j])
    return [int(x) for x in cur]


def repair(nl: Netlist, target: float = 0.0) -> Netlist:
    """A copy of ``nl`` sped up by critical-path repair from its own sizing until it meets
    ``target`` ps (0: as fast as the repair goes); e.g. to finish a sizing read from ABC."""
    out = nl.copy()
    out.sizes = _repair(Timer(nl), list(nl.sizes), target)
    return out


def _recover(t: Timer, sizes: list[int], target: float, max_rounds: int = 400,
             chunk: int = 96) -> list[int]:
    """Greedy downsizing while the delay stays within ``target``. Each round ranks the gates
    with slack by area saving; those whose own delay grows by less than their slack are applied
    as the longest prefix that still meets the target (one batch); when that finds nothing,
    each downsizing of the next ``chunk`` gates is tested alone first."""
    bt = BatchTimer(t.nl)
    cur = np.array(sizes, dtype=np.int64)
    skip = 0
    for _ in range(max_rounds):
        _d, slack = bt.slacks(cur, target)
        load = bt.loads(cur)
        cand = [g for g in range(len(cur)) if cur[g] > 1 and slack[g] > 0.05]
        cand.sort(key=lambda g: (-t.area0[g] * (DRIVES[int(cur[g])][0]
                                                 - DRIVES[int(cur[g]) // 2][0]), g))
        if not skip:
            # the gate's own delay grows by res x load (plus about a fifth through the slew)
            quick = [g for g in cand if 1.25 * t.res0[g] * load[g] * (
                DRIVES[int(cur[g]) // 2][2] - DRIVES[int(cur[g])][2]) < slack[g]][:chunk]
            if quick:
                pref = np.repeat(cur[None, :], len(quick), axis=0)
                for r, g in enumerate(quick):
                    pref[r:, g] //= 2
                dp = bt.delays(pref)
                ok = np.nonzero(dp > target + 1e-9)[0]
                j = (ok[0] if len(ok) else len(quick)) - 1
                if j >= 0:
                    cur = pref[j].copy()
                    continue
        cand = cand[skip:skip + chunk]
        if not cand:
            break
        trial = np.repeat(cur[None, :], len(cand), axis=0)
        for r, g in enumerate(cand):
            trial[r, g] //= 2
        d = bt.delays(trial)
        ok = [cand[r] for r in range(len(cand)) if d[r] <= target + 1e-9]
        if not ok:
            skip += chunk  # none of these fits: try the next ones
            continue
        skip = 0
        pref = np.repeat(cur[None, :], len(ok), axis=0)
        for r, g in enumerate(ok):
            pref[r:, g] //= 2
        dp = bt.delays(pref)
        j = 0
        while j + 1 < len(ok) and dp[j + 1] <= target + 1e-9:
            j += 1
        cur = pref[j].copy()
    return [int(x) for x in cur]


def size_for(nl: Netlist, target: float, iters: int = 20, recover: bool = True,
             start: list[int] | None = None) -> Netlist:
    """Smallest-area sizing of ``nl`` meeting ``target`` ps (or its fastest, if it cannot):
    the better of Lagrangian relaxation and greedy downsizing from ``start`` (a sizing that
    meets the target, e.g. :func:`min_delay`'s), each followed by greedy downsizing."""
    t = Timer(nl)
    cands = []
    if iters:
        best, fastest = _lr_size_np(BatchTimer(nl), [1] * len(nl.kinds), target, iters)
        cands.append(best[2] if best else _repair(t, fastest[2], target))
    if start is not None and t.run(start)[0] <= target + 1e-9:
        cands.append(start)
    if not cands:  # no Lagrangian pass and a start too slow: speed it up first
        cands.append(_repair(t, start or [1] * len(nl.kinds), target))
    res = []
    for c in cands:
        if recover:
            c = _recover(t, c, max(target, t.run(c)[0]))
        d = t.run(c)[0]
        res.append((d > target + 1e-9, t.area(c) if d <= target + 1e-9 else d, c))
    sizes = min(res, key=lambda r: r[:2])[2]
    out = nl.copy()
    out.sizes = sizes
    out.reorder()
    return out


def min_delay(nl: Netlist, iters: int = 40) -> Netlist:
    """The fastest sizing found: Lagrangian relaxation towards targets just below the best
    delay so far (and far below it), each followed by critical-path repair; the best wins."""
    t = Timer(nl)
    ones = [1] * len(nl.kinds)
    d1 = t.run(ones)[0]
    _b, fastest = _lr_size_np(BatchTimer(nl), ones, 0.5 * d1, iters)
    best = _repair(t, fastest[2], 0.0)
    best_d = t.run(best)[0]
    for f in (0.97, 0.99):
        _b, fastest = _lr_size_np(BatchTimer(nl), ones, f * best_d, iters)
        cand = _repair(t, fastest[2], 0.0)
        d = t.run(cand)[0]
        if d < best_d - 1e-9:
            best, best_d = cand, d
    out = nl.copy()
    out.sizes = best
    out.reorder()
    return out


def _sink_slacks(t: Timer, sizes, arr, slew, load, req, net: int) -> list[tuple[float, int, int]]:
    """(slack, gate, pin) of each sink pin of ``net``."""
    nl = t.nl
    out = []
    for g, k in nl.sinks[net]:
        r = req[nl.outs[g]] - t.intr[g] - t.res0[g] * DRIVES[sizes[g]][2] * load[g] - 0.1 * slew[net]
        out.append((r - arr[net], g, k))
    return sorted(out, reverse=True)


def buffer_fanouts(nl: Netlist, rounds: int = 40, min_fanout: int = 2,
                   start: Netlist | None = None, fresh: bool = True, resize: int = 0) -> Netlist:
    """Add BUFs on the critical path's nets while that makes the fastest sizing faster: each
    step tries, on every critical net with at least ``min_fanout`` sinks, moving its least
    critical sinks (from one to all but one) behind a BUF_X1/X2/X4, keeps the best, and repairs
    the sizing from there (with ``fresh``, every third buffer and at the end, also sizes anew
    with :func:`min_delay` and keeps the faster). With ``resize`` > 0 the sizing of the
    ``resize`` best trials (by delay before repair, which also admits trials that are slower
    before it) is repaired before one is chosen. ``start`` is ``nl`` already sized for min
    delay (else :func:`min_delay` sizes it)."""
    cur = start if start is not None else min_delay(nl)
    t = Timer(cur)
    delay, arr, slew, load = t.run(cur.sizes)
    added = 0
    for _ in range(rounds):
        req = t.required(cur.sizes, arr, slew, load, delay)
        path = _critical_gates(t, cur.sizes, arr, slew, load)
        nets = {cur.outs[g] for g in path} | {i for g in path for i in cur.fanins[g]}
        trials = []
        for net in sorted(nets):
            fo = len(cur.sinks[net])
            if fo < min_fanout:
                continue
            sl = _sink_slacks(t, cur.sizes, arr, slew, load, req, net)
            for m in sorted({1, 2, fo // 4, fo // 2, (3 * fo) // 4, fo - 2, fo - 1}):
                if not 1 <= m <= fo - 1:
                    continue
                for bs in SIZES:
                    trial = cur.copy()
                    trial.add_buffer(net, [(g, k) for _s, g, k in sl[:m]], bs)
                    trial.reorder()
                    trials.append((Timer(trial).run(trial.sizes)[0], len(trials), trial))
        trials.sort(key=lambda x: x[:2])
        best = None
        if resize:
            for _d, _k, trial in trials[:resize]:
                trial.sizes = _repair(Timer(trial), trial.sizes, 0.0)
                d = Timer(trial).run(trial.sizes)[0]
                if d < delay - 0.05 and (best is None or d < best[0]):
                    best = (d, trial)
        elif trials and trials[0][0] < delay - 0.05:
            best = (trials[0][0], trials[0][2])
        if best is None:
            break
        cur = best[1]
        t = Timer(cur)
        if not resize:
            cur.sizes = _repair(t, cur.sizes, 0.0)
        added += 1
        if fresh and added % 3 == 0:
            again = min_delay(cur)
            if t.run(again.sizes)[0] < t.run(cur.sizes)[0]:
                cur.sizes = again.sizes
        delay, arr, slew, load = t.run(cur.sizes)
    if fresh and added % 3:
        again = min_delay(cur)
        if t.run(again.sizes)[0] < delay:
            cur.sizes = again.sizes
    return cur


class BatchTimer:
    """The same timing as :class:`Timer` for many sizings of one netlist at once (numpy, one
    row per sizing): gates grouped by logic level, loads summed per driver with ``reduceat``."""

    def __init__(self, nl: Netlist):
        self.nl = nl
        ng, nn = len(nl.kinds), len(nl.net_names)
        self.ng, self.nn = ng, nn
        self.intr = np.array([CELL[k].intrinsic for k in nl.kinds])
        self.res0 = np.array([CELL[k].res for k in nl.kinds])
        self.cap0 = np.array([CELL[k].cap for k in nl.kinds])
        self.area0 = np.array([CELL[k].area for k in nl.kinds])
        gate_of_net = [-1] * nn
        for g, o in enumerate(nl.outs):
            gate_of_net[o] = g
        lvl = [0] * ng
        for g, fi in enumerate(nl.fanins):
            lvl[g] = 1 + max((lvl[gate_of_net[i]] for i in fi if gate_of_net[i] >= 0), default=0)
        self.levels = []
        dummy = nn  # arrival -inf, slew 0
        for L in range(1, max(lvl, default=0) + 1):
            gs = [g for g in range(ng) if lvl[g] == L]
            fan = np.full((len(gs), 3), dummy, dtype=np.int64)
            for r, g in enumerate(gs):
                fan[r, :len(nl.fanins[g])] = nl.fanins[g]
            gs_a = np.array(gs, dtype=np.int64)
            self.levels.append((gs_a, fan, np.array([nl.outs[g] for g in gs], dtype=np.int64)))
        # pins sorted by driver gate, one zero-capacitance pin per gate so no segment is empty
        pins = [(gate_of_net[i], g) for g, fi in enumerate(nl.fanins) for i in fi
                if gate_of_net[i] >= 0]
        pins += [(d, ng) for d in range(ng)]
        pins.sort()
        self.pin_sink = np.array([s for _d, s in pins], dtype=np.int64)
        drv = np.array([d for d, _s in pins], dtype=np.int64)
        self.seg = np.searchsorted(drv, np.arange(ng))
        self.po = np.array(nl.po_nets, dtype=np.int64)
        self.outs_arr = np.array(nl.outs, dtype=np.int64)
        self.capf = np.array([0.0, DRIVES[1][1], DRIVES[2][1], 0.0, DRIVES[4][1]])
        self.resf = np.array([0.0, DRIVES[1][2], DRIVES[2][2], 0.0, DRIVES[4][2]])
        self.areaf = np.array([0.0, DRIVES[1][0], DRIVES[2][0], 0.0, DRIVES[4][0]])
        self.area_tab = np.zeros((ng, 5))
        for g, k in enumerate(nl.kinds):
            for d in SIZES:
                self.area_tab[g, d] = AREA[k, d]

    def delays(self, sizes: np.ndarray) -> np.ndarray:
        """Delay of each row of ``sizes`` (shape (k, gates), values 1, 2, 4)."""
        sizes = np.atleast_2d(sizes)
        k = sizes.shape[0]
        cap = np.zeros((k, self.ng + 1))
        cap[:, :self.ng] = self.cap0 * self.capf[sizes]
        load = np.add.reduceat(cap[:, self.pin_sink], self.seg, axis=1)
        rl = self.res0 * self.resf[sizes] * load
        arr = np.zeros((k, self.nn + 1))
        arr[:, self.nn] = -1e18
        slew = np.zeros((k, self.nn + 1))
        for gs, fan, outs in self.levels:
            a = (arr[:, fan] + 0.1 * slew[:, fan]).max(axis=2)
            s = slew[:, fan].max(axis=2)
            r = rl[:, gs]
            arr[:, outs] = a + self.intr[gs] + r
            slew[:, outs] = 4.0 + 0.05 * s + 2.0 * r
        return arr[:, self.po].max(axis=1)

    def areas(self, sizes: np.ndarray) -> np.ndarray:
        sizes = np.atleast_2d(sizes)
        return self.area_tab[np.arange(self.ng)[None, :], sizes].sum(axis=1)

    def full(self, sizes: np.ndarray):
        """One sizing's (delay, arrival by net, slew by net, res x load by gate)."""
        cap = np.zeros(self.ng + 1)
        cap[:self.ng] = self.cap0 * self.capf[sizes]
        load = np.add.reduceat(cap[self.pin_sink], self.seg)
        rl = self.res0 * self.resf[sizes] * load
        arr = np.zeros(self.nn + 1)
        arr[self.nn] = -1e18
        slew = np.zeros(self.nn + 1)
        for gs, fan, outs in self.levels:
            r = rl[gs]
            arr[outs] = (arr[fan] + 0.1 * slew[fan]).max(axis=1) + self.intr[gs] + r
            slew[outs] = 4.0 + 0.05 * slew[fan].max(axis=1) + 2.0 * r
        return float(arr[self.po].max()), arr, slew, rl

    def slacks(self, sizes: np.ndarray, target: float = 0.0):
        """(delay, slack of each gate's output net) for ``target`` (the delay itself when 0)."""
        delay, arr, slew, rl = self.full(sizes)
        req = np.full(self.nn + 1, np.inf)
        req[self.po] = target or delay
        for gs, fan, o in reversed(self.levels):
            r = req[o] - self.intr[gs] - rl[gs]
            np.minimum.at(req, fan.ravel(), (r[:, None] - 0.1 * slew[fan]).ravel())
        outs = self.outs_arr
        return delay, (req[outs] - arr[outs]).tolist()

    def loads(self, sizes: np.ndarray) -> np.ndarray:
        cap = np.zeros(self.ng + 1)
        cap[:self.ng] = self.cap0 * self.capf[sizes]
        return np.add.reduceat(cap[self.pin_sink], self.seg)


def _lr_size_np(bt: BatchTimer, sizes, target: float, iters: int, k_slew: float = 1.2):
    """Lagrangian relaxation for min area at ``target`` on numpy arrays; returns the best
    feasible sizes seen (or the fastest when none met the target). Arc multipliers are raised on
    late paths and kept flow-conserving from the outputs back to the inputs; the local discrete
    sizing under the multipliers visits one logic level at a time (gates of one level do not
    load each other)."""
    nl = bt.nl
    ng, nn = bt.ng, bt.nn
    arc_g = np.array([g for g, fi in enumerate(nl.fanins) for _i in fi], dtype=np.int64)
    arc_net = np.array([i for fi in nl.fanins for i in fi], dtype=np.int64)
    gate_of_net = np.full(nn + 1, -1, dtype=np.int64)
    gate_of_net[np.array(nl.outs, dtype=np.int64)] = np.arange(ng)
    arc_drv = gate_of_net[arc_net]
    drv_ok = arc_drv >= 0
    drv_safe = np.where(drv_ok, arc_drv, 0)
    outs = np.array(nl.outs, dtype=np.int64)
    po_gate = gate_of_net[bt.po]
    po_ok = po_gate >= 0
    level_arcs = []
    lvl_of_gate = np.zeros(ng, dtype=np.int64)
    for L, (gs, _fan, _outs) in enumerate(bt.levels):
        lvl_of_gate[gs] = L
    for L in range(len(bt.levels)):
        level_arcs.append(np.nonzero(lvl_of_gate[arc_g] == L)[0])
    lam = np.full(len(arc_g), 1.0 / len(bt.po))
    lam_po = np.full(len(bt.po), 1.0 / len(bt.po))
    cur = np.array(sizes, dtype=np.int64)
    best = fastest = None
    sz = np.array([1, 2, 4])
    for _it in range(iters + 1):
        delay, arr, slew, rl = bt.full(cur)
        area = float(bt.area_tab[np.arange(ng), cur].sum())
        if delay <= target + 1e-9 and (best is None or area < best[0]):
            best = (area, delay, [int(x) for x in cur])
        if fastest is None or delay < fastest[1]:
            fastest = (area, delay, [int(x) for x in cur])
        if _it == iters:
            break
        req = np.full(nn + 1, np.inf)
        req[bt.po] = target
        for gs, fan, o in reversed(bt.levels):
            r = req[o] - bt.intr[gs] - rl[gs]
            np.minimum.at(req, fan.ravel(), (r[:, None] - 0.1 * slew[fan]).ravel())
        lam_po *= np.maximum(arr[bt.po] / target, 0.5) ** 4
        down = target - req[outs[arc_g]]
        path = arr[arc_net] + 0.1 * slew[arc_net] + bt.intr[arc_g] + rl[arc_g] + down
        lam *= np.maximum(path / target, 0.5) ** 4
        out_sum = np.bincount(po_gate[po_ok], weights=lam_po[po_ok], minlength=ng)
        for L in range(len(bt.levels) - 1, -1, -1):
            a = level_arcs[L]
            g = arc_g[a]
            s_in = np.bincount(g, weights=lam[a], minlength=ng)
            f = np.divide(out_sum[g], s_in[g], out=np.zeros(len(a)), where=s_in[g] > 0)
            lam[a] *= f
            ok = drv_ok[a]
            out_sum += np.bincount(arc_drv[a][ok], weights=lam[a][ok], minlength=ng)
        lam_g = out_sum
        for _sweep in range(2):
            for L in range(len(bt.levels) - 1, -1, -1):
                gs = bt.levels[L][0]
                a = level_arcs[L]
                w = np.where(drv_ok[a], lam_g[drv_safe[a]] * k_slew * bt.res0[drv_safe[a]]
                             * bt.resf[cur[drv_safe[a]]], 0.0)
                up = np.bincount(arc_g[a], weights=w, minlength=ng)[gs]
                load = bt.loads(cur)[gs]
                cost = (bt.area0[gs, None] * bt.areaf[sz][None, :]
                        + (lam_g[gs] * k_slew * bt.res0[gs] * load)[:, None] * bt.resf[sz][None, :]
                        + (up * bt.cap0[gs])[:, None] * bt.capf[sz][None, :])
                cur[gs] = sz[np.argmin(cost, axis=1)]
    return best, fastest
