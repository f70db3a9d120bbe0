"""Search for prefix graphs on the area-delay plane (``hwgen adders explore``).

What the search does, in order, within ``budget_s`` (85% searching, the rest proving the front):
1. The classic constructions (the baselines) are screened with ABC's sizing and then sized by
   hwgen's sizer (:mod:`.sizing`: Lagrangian sizing and fanout buffering). The sizer's absolute
   targets, used for every sized graph, classics included, are the classics' fastest delays plus
   :data:`SLOW_TARGETS` delays spread geometrically over the slow band, from the slowest
   classic's fastest delay up to the hypervolume reference delay (1.1 x the slowest classic point
   but ripple's).
2. Seeds: hwgen's minimum-size construction (:func:`~hwgen.adders.constructions.min_size`) at
   depths log2 n .. log2 n + 4 under fanout caps, and uncapped from log2 n + 5 to 4 log2 n (the
   slow, small end: Snir-optimal graphs of 2n - 2 - d nodes).
3. hwgen's sizer on the minimum-size graphs of depth log2 n and log2 n + 1 (the best near
   Kogge-Stone's delay), then on the graphs with a point on the front of all ABC points in the
   slow band (:func:`slow_front`).
4. A structured family spanning the classic ones (Harris's taxonomy, :func:`taxonomy`): ``l``
   Brent-Kung levels up, a Knowles network with per-level lateral fanouts on the 2**l-spaced
   columns, ``l`` levels down. Kogge-Stone, Sklansky, Han-Carlson, Ladner-Fischer and Brent-Kung
   are points of it.
5. Until the search time is spent, mutations of the current Pareto points: PrefixRL's action
   space (add or delete one span, then legalize, :func:`grid_mutate`) at random, and single
   fanout-vector changes of the taxonomy graphs (:func:`mutate`). Half of the parents are drawn
   from the graphs with the smallest areas in a band around one of the delays the acceptance
   figures compare at (the fastest classic's, Kogge-Stone's, Han-Carlson's and Brent-Kung's
   fastest points, in turn); parents slower than the reference delay are left out. Up to half of
   the search time goes to hwgen's sizer on screened graphs, in turn the ones whose ABC points
   come closest to the front of all ABC points near the fastest classic's delay and the smallest
   of depth log2 n and log2 n + 1 (which buffering helps).
6. The front and the baselines are proven (a graph that fails is dropped and the front
   recomputed) and returned with their Verilog.

Every evaluation (:func:`~hwgen.adders.evaluate.evaluate`) is cached by graph hash, so a second
run resumes where the first stopped, and runs on all cores. A graph's points are the Pareto set
of ABC's sizings of both of its mappings (the fast one, whose tree reads ``a | b``, and
:func:`~hwgen.adders.evaluate.small_mapping`) and hwgen's sizings; every written graph is proven
equal to ``a + b``, and so is each of its sized (and buffered) netlists, re-timed by ABC.
"""
from __future__ import annotations

import itertools
import math
import multiprocessing as mp
import os
import re
import random
import time
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import GraphError
from .constructions import CLASSIC, _levels, construct, min_size, min_size_cost
from .graph import ColumnBuilder, PrefixGraph, graph_from_chains


def taxonomy(n: int, l: int, fanouts: tuple[int, ...]) -> PrefixGraph:
    """``l`` Brent-Kung levels up, Knowles(``fanouts``) on every 2**l-th column, ``l`` down."""
    b = ColumnBuilder(n)
    for e in range(l):
        s = 1 << e
        for i in range(n):
            if (i + 1) % (2 * s) == 0:
                b.combine(i, i - s)
        b.level()
    B = 1 << l
    tops = [j * B + B - 1 for j in range(n // B)]
    if n % B:
        tops.append(n - 1)
    for e in range(len(fanouts)):
        s, f = 1 << e, fanouts[e]
        for j in range(s, len(tops)):
            jj = min((j - s) | (f - 1), j - 1)
            b.combine(tops[j], tops[jj])
        b.level()
    for e in range(l - 1, -1, -1):
        s = 1 << e
        for i in range(n):
            if (i + 1) % (2 * s) == s and i >= 2 * s:
                b.combine(i, i - s)
        b.level()
    # columns the sweeps did not finish (widths that are not powers of two) ripple from below
    for i in range(1, n):
        if b.lo[i] != 0:
            b.combine(i, b.lo[i] - 1)
            b.level()
    fs = "".join(str(int(math.log2(f))) for f in fanouts)
    return b.graph(f"tax-l{l}-f{fs}")


def taxonomy_family(n: int) -> Iterator[PrefixGraph]:
    """Every valid (l, fanouts) point for width ``n``."""
    k = _levels(n)
    seen = set()
    for l in range(0, max(k, 1)):
        m = k - l  # Knowles levels on the sparse columns
        choices = [[1 << x for x in range(e + 1)] for e in range(m)]
        for fan in itertools.product(*choices):
            try:
                g = taxonomy(n, l, tuple(fan))
            except GraphError:
                continue
            key = g.key()
            if key not in seen:
                seen.add(key)
                yield g


def seed_candidates(n: int) -> list[PrefixGraph]:
    """Classic structures and minimum-size graphs at each useful depth."""
    out = [construct(a, n) for a in CLASSIC]
    d0 = _levels(n)
    seen = {g.key() for g in out}
    for f in (None, 16, 8, 6, 5, 4, 3, 2, 1):
        for d in range(d0, max(d0 + 1, min(2 * d0 + 1, d0 + 5))):
            if min_size_cost(n, d, f) >= 1 << 29:
                continue
            g = min_size(n, d, f)
            if g.key() not in seen:
                seen.add(g.key())
                out.append(g)
    # deeper, smaller graphs (down to the Snir bound): the slow, small end of the front
    for d in range(d0 + 5, min(n, 4 * d0 + 1)):
        g = min_size(n, d)
        if g.key() not in seen:
            seen.add(g.key())
            out.append(g)
    return out


SLOW_TARGETS = 12  # hwgen sizer targets spread over the slow band


def slow_targets(lo: float, hi: float, k: int = SLOW_TARGETS) -> list[float]:
    """``k`` delays spaced geometrically over ``(lo, hi]`` (rounded to 0.01 ps)."""
    if not hi > lo > 0:
        return []
    return [round(lo * (hi / lo) ** (j / k), 2) for j in range(1, k + 1)]


def slow_front(points: dict[str, dict], sized: set[str], lo: float, hi: float,
               limit: int = 16) -> list[str]:
    """Unsized graphs (classics aside) with a point on the front of all ABC points (both
    mappings) between delays ``lo`` and ``hi``, fewest nodes first: the slow band's candidates
    for hwgen's sizer."""
    pts = [{"area": a, "delay": d, "name": nm} for nm, r in points.items()
           for a, d in r.get("abc_curve", r["sizing_curve"]) + r.get("abc_small_curve", [])]
    names = {p["name"] for p in pareto(pts) if lo <= p["delay"] <= hi}
    return sorted((nm for nm in names if nm not in sized and nm not in CLASSIC),
                  key=lambda nm: (points[nm]["size"], nm))[:limit]


def focus_names(points: list[dict], classic_delay: float, band: tuple[float, float] = (0.98, 1.06),
                keep: int = 8) -> list[str]:
    """Graphs with the smallest areas in a delay band around the fastest classic structure's
    delay, where the searched front is weakest (each graph counted once, at its best point)."""
    lo, hi = classic_delay * band[0], classic_delay * band[1]
    best: dict[str, float] = {}
    for p in points:
        if lo <= p["delay"] <= hi and p["name"] not in CLASSIC:
            best[p["name"]] = min(best.get(p["name"], math.inf), p["area"])
    return [nm for _a, nm in sorted((a, nm) for nm, a in best.items())[:keep]]


def pareto(points: list[dict], x: str = "delay", y: str = "area") -> list[dict]:
    """Points not dominated in (x, y), sorted by x."""
    pts = sorted(points, key=lambda p: (p[x], p[y]))
    front, best = [], math.inf
    for p in pts:
        if p[y] < best - 1e-9:
            front.append(p)
            best = p[y]
    return front


def expand(results: list[dict]) -> list[dict]:
    """One point per (graph, gate sizing) on each graph's sizing curve: ``name`` stays the graph's
    name, ``sizing`` says which point (``min-delay`` fully upsized, ``x1`` all smallest cells,
    ``target`` sized for a delay in between), ``flow`` which sizer gave it (``abc``, ``hwgen``,
    ``hwgen+buffers``)."""
    out = []
    for r in results:
        curve = r.get("sizing_curve") or [[r["area"], r["delay"]]]
        flows = r.get("curve_flow") or ["abc"] * len(curve)
        for k, (a, d) in enumerate(curve):
            sizing = "min-delay" if k == 0 else ("x1" if k == len(curve) - 1 else "target")
            out.append({**r, "area": a, "delay": d, "sizing": sizing, "flow": flows[k]})
    return out


def hypervolume(front: list[dict], ref: tuple[float, float], x: str = "delay", y: str = "area") -> float:
    """Area dominated by ``front`` below the reference point ``(x_ref, y_ref)``."""
    return hypervolume_between(front, ref, -math.inf, math.inf, x, y)


def hypervolume_between(front: list[dict], ref: tuple[float, float], lo: float, hi: float,
                        x: str = "delay", y: str = "area") -> float:
    """The part of :func:`hypervolume` that lies between delays ``lo`` and ``hi``: the integral
    over that band of ``ref_y`` minus the front's staircase (smallest area at or below each delay,
    capped at ``ref_y``)."""
    hi = min(hi, ref[0])
    pts = sorted((p[x], p[y]) for p in front if p[x] < ref[0] and p[y] < ref[1])
    total, best = 0.0, ref[1]
    for k, (px, py) in enumerate(pts):
        best = min(best, py)
        nxt = pts[k + 1][0] if k + 1 < len(pts) else ref[0]
        a, b = max(px, lo), min(nxt, hi)
        if b > a:
            total += (b - a) * (ref[1] - best)
    return total


def reference_point(points: list[dict]) -> tuple[float, float]:
    """The hypervolume reference ``(delay, area)``: 1.1 x the slowest and 1.1 x the largest of the
    classic structures' points (``expand``-ed), ripple's left out unless it is the only one."""
    classic = [p for p in points if p["name"] in CLASSIC]
    usable = [p for p in classic if p["name"] != "ripple"] or classic
    return max(p["delay"] for p in usable) * 1.1, max(p["area"] for p in usable) * 1.1


def area_at(front: list[dict], delay: float) -> float:
    """Smallest area on ``front`` with delay <= ``delay`` (inf if none)."""
    return min((p["area"] for p in front if p["delay"] <= delay + 1e-9), default=math.inf)


def verilog_top(name: str, width: int) -> str:
    """Module name of a written search result."""
    return f"hwgen_adder_{''.join(c if c.isalnum() else '_' for c in name)}_{width}"


def _eval_job(args):
    from .evaluate import adder_verilog, evaluate
    graph_dict, cache_dir, prove, sizer, *rest = args
    g = PrefixGraph.from_dict(graph_dict)
    try:
        if rest:  # a graph to be written: convert once here, prove that text, hand it back
            top = verilog_top(rest[0], g.width)
            text = adder_verilog(g, "asic", False, top=top)
            res = evaluate(g, cache_dir=cache_dir, prove=True, verilog=(text, top), sizer=sizer)
            return dict(res, verilog_text=text), graph_dict
        return evaluate(g, cache_dir=cache_dir, prove=prove, sizer=sizer), graph_dict
    except Exception as e:  # a failed proof or tool error is reported, not fatal to the search
        return {"error": f"{type(e).__name__}: {e}", "name": g.name}, graph_dict


def mutate(g: PrefixGraph, rng: random.Random) -> PrefixGraph | None:
    """A neighbour of a taxonomy graph (one fanout changed, or l changed) or None."""
    import re
    m = re.match(r"tax-l(\d+)-f(\d*)", g.name)
    if not m:
        return None
    l, fs = int(m.group(1)), [int(c) for c in m.group(2)]
    k = _levels(g.width)
    if rng.random() < 0.2 and 0 < l < k - 1:
        l2 = l + rng.choice((-1, 1))
        fs2 = [min(f, e) for e, f in enumerate((fs + [0])[:k - l2])]
        return _try(g.width, l2, fs2)
    if not fs:
        return None
    e = rng.randrange(len(fs))
    fs2 = list(fs)
    fs2[e] = rng.randrange(e + 1)
    return _try(g.width, l, fs2)


def graph_spans(g: PrefixGraph) -> set[tuple[int, int]]:
    """The spans ``(hi, lo)`` (hi > lo) the graph's used nodes compute."""
    c = g.canonical()
    return {c.span(c.width + k) for k in range(c.size)}


def graph_from_spans(n: int, spans: set[tuple[int, int]], name: str) -> PrefixGraph:
    """Legalize a set of spans into a prefix graph (as PrefixRL's environment does): each column
    ``i`` chains its spans from ``[i:i]`` down to ``[i:0]``; the step from ``[i:a]`` to
    ``[i:b]`` reads ``[a-1:b]``, which is added to column ``a-1`` if missing."""
    cols: list[set[int]] = [set() for _ in range(n)]
    for hi, lo in spans:
        if 0 <= lo < hi < n:
            cols[hi].add(lo)
    for i in range(n - 1, 0, -1):
        cols[i].add(0)
        chain = sorted(cols[i], reverse=True)
        prev = i
        for lo in chain:
            if prev - 1 > lo:
                cols[prev - 1].add(lo)
            prev = lo
    chains = [[i] + sorted(cols[i], reverse=True) for i in range(n)]
    return graph_from_chains(n, chains, name)


def grid_mutate(g: PrefixGraph, rng: random.Random, moves: int = 1) -> PrefixGraph:
    """Add or delete random spans, then legalize (PrefixRL's action space, explored at random)."""
    n = g.width
    spans = graph_spans(g)
    for _ in range(moves):
        inner = [s for s in spans if s[1] > 0]
        if inner and rng.random() < 0.5:
            spans.discard(rng.choice(inner))
        else:
            hi = rng.randrange(2, n) if n > 2 else 1
            lo = rng.randrange(1, hi) if hi > 1 else 0
            spans.add((hi, lo))
    h = graph_from_spans(n, spans, "grid")
    return PrefixGraph(width=n, nodes=h.nodes, outputs=h.outputs, name=f"grid-{h.key()[:8]}")


def _try(n, l, fs):
    try:
        return taxonomy(n, l, tuple(1 << f for f in fs))
    except GraphError:
        return None


def explore(width: int, budget_s: float, cache_dir: str | Path, *, jobs: int | None = None,
            progress=None, seed: int = 1) -> dict:
    """Search prefix graphs for ``budget_s`` seconds; return all evaluated points and the front.

    Returns
    -------
    dict with ``points`` (every evaluated graph's figures), ``graphs`` (name -> PrefixGraph),
    ``baselines`` (the classic structures' figures), ``evaluated``, ``searched`` (the evaluated
    graphs that are not classic structures), ``baselines_s`` (the time the classics' evaluation
    and sizing took, whatever the budget), ``search_s`` (the part of the budget for searching),
    ``errors``.
    """
    t0 = time.monotonic()
    jobs = jobs or min(64, len(os.sched_getaffinity(0)))  # every CPU this process may use
    rng = random.Random(seed)
    graphs: dict[str, PrefixGraph] = {}
    points: dict[str, dict] = {}
    errors: list[str] = []
    seen: set[str] = set()

    def queue_of(gs: Iterable[PrefixGraph]):
        for g in gs:
            key = g.key()
            if key in seen:
                continue
            seen.add(key)
            yield g

    search_s = budget_s * 0.85  # the rest proves the front before it is written

    sized: set[str] = set()   # graphs hwgen's sizer has measured (names)
    sizer_targets: tuple[float, ...] = ()

    def run(gs: Iterable[PrefixGraph], ctx_pool, timed: bool = True) -> None:
        work = ((g.to_dict(), str(cache_dir), False, None) for g in queue_of(gs))
        for res, gd in ctx_pool.imap_unordered(_eval_job, work):
            g = PrefixGraph.from_dict(gd)
            if "error" in res:
                errors.append(res["error"])
            else:
                name = g.name
                if name in points:
                    name = f"{name}-{g.key()[:6]}"
                graphs[name] = g
                res = dict(res, name=name)
                points[name] = res
            if progress:
                front = pareto(expand(list(points.values())))
                progress(len(points) + len(errors), f"front {len(front)} points")
            if timed and time.monotonic() - t0 > search_s:
                break

    def size(names: list[str], ctx_pool, timed: bool = True) -> None:
        """hwgen's sizer (with the common absolute targets) on already screened graphs, a
        pool-width group at a time while the search time lasts."""
        for k in range(0, len(names), jobs):
            if timed and time.monotonic() - t0 > search_s:
                break
            group = names[k:k + jobs]
            work = [(graphs[nm].to_dict(), str(cache_dir), False, sizer_targets) for nm in group]
            for nm, (res, _gd) in zip(group, ctx_pool.imap(_eval_job, work)):
                sized.add(nm)
                if "error" in res:
                    errors.append(res["error"])
                else:
                    points[nm] = dict(res, name=nm)
        if progress:
            progress(len(points) + len(errors), f"sized {len(sized)} graphs")

    def promising(limit: int) -> list[str]:
        """Unsized graphs whose ABC points come closest to (or below) the front of all graphs'
        ABC points at delays up to 1.25x the fastest classic's (where the sizer matters most):
        ABC's sizing is the cheap proxy for hwgen's."""
        abc_front = pareto([{"area": a, "delay": d} for r in points.values()
                            for a, d in r.get("abc_curve", r["sizing_curve"])])
        score = []
        for nm, r in points.items():
            if nm in sized or nm not in graphs:
                continue
            best = min((a / area_at(abc_front, d) for a, d in r.get("abc_curve", [])
                        if d <= near and area_at(abc_front, d) < math.inf), default=math.inf)
            if best < 1.03:
                score.append((best, nm))
        return [nm for _s, nm in sorted(score)[:limit]]

    def smallest_shallow(limit: int) -> list[str]:
        """Unsized graphs of depth log2 n or log2 n + 1 with the fewest nodes: high-fanout
        graphs that ABC's sizing (which cannot buffer) ranks low but buffering makes fast."""
        d0 = _levels(width)
        cand = sorted((r["size"], nm) for nm, r in points.items()
                      if nm not in sized and nm in graphs and r["depth"] <= d0 + 1)
        return [nm for _s, nm in cand[:limit]]

    verilog: dict[str, str] = {}
    with mp.get_context("fork").Pool(jobs) as pool:
        # the classic baselines are always evaluated, whatever the budget (the search is not)
        seeds = seed_candidates(width)
        run([g for g in seeds if g.name in CLASSIC], pool, timed=False)
        # hwgen's sizer on the classics, first for their fastest delays, which (but ripple's)
        # become the absolute targets every sized graph is also sized for
        cnames = [nm for nm in points if nm in CLASSIC and nm != "ripple"]
        size(cnames, pool, timed=False)
        fastest_classic = {points[nm]["delay"] for nm in cnames}
        # the slow band, from the slowest classic's fastest delay to the hypervolume reference
        # delay (1.1 x the slowest classic point but ripple's): a geometric grid of targets
        ref_delay = reference_point(expand([points[nm] for nm in cnames]))[0]
        sizer_targets = tuple(sorted(fastest_classic | set(
            slow_targets(max(fastest_classic), ref_delay))))
        sized.difference_update(cnames)
        size(cnames, pool, timed=False)
        near = 1.25 * min(fastest_classic)
        baselines_s = time.monotonic() - t0
        run([g for g in seeds if g.name not in CLASSIC], pool)
        # the sizing probe's best graphs near Kogge-Stone's delay: minimum-size graphs of depth
        # log2 n and log2 n + 1 under fanout caps
        d0 = _levels(width)
        size(sorted(nm for nm in points if re.fullmatch(rf"min-size-d({d0}|{d0 + 1})(-f\d+)?", nm)),
             pool)
        # then the graphs on ABC's front in the slow band (deeper minimum-size graphs)
        size(slow_front(points, sized, max(fastest_classic), ref_delay), pool)
        if time.monotonic() - t0 < search_s:
            run(taxonomy_family(width), pool)
        stall = 0
        cl = [p for p in expand(list(points.values())) if p["name"] in CLASSIC]
        # the delays the acceptance figures compare at: the fastest classic's and the fastest
        # points of Kogge-Stone, Han-Carlson and Brent-Kung
        centers = sorted({p["delay"] for p in cl if p["sizing"] == "min-delay" and p["name"] in
                          ("kogge-stone", "han-carlson", "brent-kung")}
                         | {min((p["delay"] for p in cl if p["sizing"] == "min-delay"),
                                default=math.inf)} - {math.inf})
        # parents slower than the hypervolume reference cannot move the measured front: leave
        # them out
        slow = reference_point(cl)[0]
        sizer_s = 0.0
        rounds = 0
        while time.monotonic() - t0 < search_s and stall < 200:
            # up to half of the search time goes to hwgen's sizer on the most promising graphs
            if sizer_s < 0.5 * (time.monotonic() - t0):
                # ABC's proxy and the smallest shallow graphs, in turn
                todo = promising(jobs) if rounds % 2 else smallest_shallow(jobs)
                if todo:
                    ts = time.monotonic()
                    size(todo, pool)
                    sizer_s += time.monotonic() - ts
            expanded = expand(list(points.values()))
            front = pareto(expanded)
            names = sorted({p["name"] for p in front if p["name"] in graphs and p["delay"] <= slow})
            if not names:
                break
            # half of the parents come from around those delays, one band per batch in turn
            center = centers[rounds % len(centers)] if centers else None
            rounds += 1
            focus = [nm for nm in focus_names(expanded, center) if nm in graphs] if center else []
            batch = []
            for _ in range(4 * jobs):
                pool_ = focus if focus and rng.random() < 0.5 else names
                parent = graphs[rng.choice(pool_)]
                if parent.name.startswith("tax-") and rng.random() < 0.3:
                    g = mutate(parent, rng)
                else:
                    g = grid_mutate(parent, rng, moves=rng.choice((1, 1, 2, 3)))
                if g is not None and g.key() not in seen:
                    batch.append(g)
            if not batch:
                stall += 1
                continue
            stall = 0
            run(batch, pool)
        # Prove (and structure-check) every graph that will be written: the front and the classic
        # baselines. A graph that fails is dropped and the front recomputed.
        proven: set[str] = set()
        for _round in range(5):
            front = pareto(expand(list(points.values())))
            todo = sorted({p["name"] for p in front} | {n for n in points if n in CLASSIC})
            todo = [n for n in todo if n not in proven]
            if not todo:
                break
            jobs_ = [(graphs[n].to_dict(), str(cache_dir), True,
                      sizer_targets if n in sized or n in CLASSIC and n != "ripple" else None, n)
                     for n in todo]
            for name, (res, _gd) in zip(todo, pool.imap(_eval_job, jobs_)):
                proven.add(name)
                if "error" in res:
                    errors.append(res["error"])
                    points.pop(name, None)
                else:
                    verilog[name] = res.pop("verilog_text")
                    points[name] = dict(res, name=name)
            if progress:
                progress(len(points), f"proved {len(proven)} front graphs")
        pool.terminate()
    return {"points": list(points.values()), "graphs": graphs, "errors": errors,
            "evaluated": len(points), "searched": sum(nm not in CLASSIC for nm in points),
            "baselines_s": round(baselines_s, 1), "search_s": round(search_s, 1),
            "elapsed_s": round(time.monotonic() - t0, 1),
            "verilog": verilog}
