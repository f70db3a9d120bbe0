"""Classic prefix-graph constructions for any width ``n >= 1`` (not only powers of two), and
hwgen's depth-constrained minimum-size construction.

Each construction returns a :class:`~hwgen.adders.graph.PrefixGraph`; :data:`ARCHITECTURES`
maps the names the CLI accepts to them.
"""
from __future__ import annotations

import functools
import itertools
import math
from typing import Callable

from ..errors import ConfigError
from .graph import ColumnBuilder, PrefixGraph


def _levels(n: int) -> int:
    return max(0, math.ceil(math.log2(n))) if n > 1 else 0


def ripple(n: int) -> PrefixGraph:
    """Serial prefix: n - 1 nodes, depth n - 1."""
    b = ColumnBuilder(n)
    for i in range(1, n):
        b.combine(i, i - 1)
        b.level()
    return b.graph("ripple")


def sklansky(n: int) -> PrefixGraph:
    """Divide and conquer: depth ceil(log2 n), fanout up to n/2."""
    b = ColumnBuilder(n)
    for l in range(_levels(n)):
        for i in range(n):
            if (i >> l) & 1:
                b.combine(i, ((i >> l) << l) - 1)
        b.level()
    return b.graph("sklansky")


def kogge_stone(n: int) -> PrefixGraph:
    """Every column at every level: depth ceil(log2 n), fanout 2, the most nodes."""
    b = ColumnBuilder(n)
    d = 1
    while d < n:
        for i in range(d, n):
            b.combine(i, i - d)
        b.level()
        d *= 2
    return b.graph("kogge-stone")


def brent_kung(n: int) -> PrefixGraph:
    """Up-sweep and down-sweep trees: depth 2 log2 n - 2, about 2n nodes, fanout 2."""
    b = ColumnBuilder(n)
    k = _levels(n)
    for l in range(k):
        s = 1 << l
        for i in range(n):
            if (i + 1) % (2 * s) == 0:
                b.combine(i, i - s)
        b.level()
    for l in range(k - 2, -1, -1):
        s = 1 << l
        for i in range(n):
            if (i + 1) % (2 * s) == s and i >= 2 * s:
                b.combine(i, i - s)
        b.level()
    return b.graph("brent-kung")


def han_carlson(n: int) -> PrefixGraph:
    """Kogge-Stone on the odd columns, then one level for the even ones: depth log2 n + 1."""
    b = ColumnBuilder(n)
    for i in range(1, n, 2):
        b.combine(i, i - 1)
    b.level()
    d = 2
    while d < n:
        for i in range(1, n, 2):
            if i - d >= 0:
                b.combine(i, i - d)
        b.level()
        d *= 2
    for i in range(2, n, 2):
        b.combine(i, i - 1)
    b.level()
    return b.graph("han-carlson")


def ladner_fischer(n: int) -> PrefixGraph:
    """Sklansky on the odd columns, then one level for the even ones: depth log2 n + 1, fanout
    about n/4."""
    b = ColumnBuilder(n)
    for i in range(1, n, 2):
        b.combine(i, i - 1)
    b.level()
    m = (n + 1) // 2  # odd columns 2j+1 for j < n//2 carry pair j
    for l in range(_levels(m)):
        for j in range(n // 2):
            if (j >> l) & 1:
                t = ((j >> l) << l) - 1
                b.combine(2 * j + 1, 2 * t + 1)
        b.level()
    for i in range(2, n, 2):
        b.combine(i, i - 1)
    b.level()
    return b.graph("ladner-fischer")


def knowles(n: int, fanouts: tuple[int, ...] | None = None) -> PrefixGraph:
    """Knowles family: Kogge-Stone with lateral fanout ``fanouts[e]`` at level ``e``; the default
    ``[1, ..., 1, 2]`` (Knowles [2,1,...,1]) halves Kogge-Stone's wiring on the last level."""
    k = _levels(n)
    if fanouts is None:
        fanouts = tuple([1] * (k - 1) + [2]) if k >= 2 else tuple([1] * k)
    if len(fanouts) != k or any(f < 1 or f & (f - 1) or f > (1 << e) for e, f in enumerate(fanouts)):
        raise ConfigError(f"knowles fanouts must be {k} powers of two, level e at most 2**e, "
                          f"not {list(fanouts)}")
    b = ColumnBuilder(n)
    for e in range(k):
        s, f = 1 << e, fanouts[e]
        for i in range(s, n):
            j = (i - s) | (f - 1)
            b.combine(i, min(j, i - 1))
        b.level()
    g = b.graph("knowles")
    if any(g.span(o)[1] != 0 for o in g.outputs):
        raise ConfigError(f"knowles fanouts {list(fanouts)} do not cover every bit")
    return g


# ---- depth-constrained minimum size ------------------------------------------------------------
_INF = 1 << 30


@functools.lru_cache(maxsize=None)
def _mincost(n: int, d: int, dl: int, f: int = 1 << 30) -> tuple[int, tuple]:
    """Smallest size (and the recipe) of a prefix circuit on ``n`` elements whose outputs have
    depth <= ``d``, except the last (full span), which needs depth <= ``dl``.

    Two ways to build it, both recursive:
    split(m)  the low ``m`` elements (their last output by ``dl - 1``) and a circuit on the high
              ``n - m`` (all outputs by ``d - 1``), whose outputs each absorb the low total;
    pair      combine neighbours (level 1), a circuit on the pairs, then fix the even columns.
    """
    if n == 1:
        return (0, ("leaf",)) if d >= 0 and dl >= 0 else (_INF, ())
    if dl < _levels(n) or d < _levels(n - 1):
        return _INF, ()
    best: tuple[int, tuple] = (_INF, ())
    for m in range(n - 1, max(0, n - f - 1), -1):
        # the low total feeds every high output: by dl - 1 for the last, d - 1 for the others
        lo, _ = _mincost(m, d, min(d, dl) - 1 if n - m >= 2 else min(d, dl - 1), f)
        hi, _ = _mincost(n - m, d - 1, dl - 1, f)
        c = lo + hi + (n - m)
        if c < best[0]:
            best = (c, ("split", m))
    half = (n + 1) // 2
    inner, _ = _mincost(half, d - 2, dl - 1, f)
    c = n // 2 + (n - 1) // 2 + inner - (1 if n % 2 else 0) + (0 if n % 2 else 0)
    # n even: n/2 pairs + (n/2 - 1) fixes; n odd: (n-1)/2 pairs + (n-3)/2 fixes.
    c = (n // 2 + (n // 2 - 1) + inner) if n % 2 == 0 else ((n - 1) // 2 + (n - 3) // 2 + inner)
    if c < best[0]:
        best = (c, ("pair",))
    if n >= 3:
        # Kogge-Stone step: every column absorbs its neighbour, leaving two interleaved problems
        n_odd, n_even = n // 2, (n + 1) // 2
        last_odd = n % 2 == 0
        co, _ = _mincost(n_odd, d - 1, (dl if last_odd else d) - 1, f)
        ce, _ = _mincost(n_even, d - 1, (d if last_odd else dl) - 1, f)
        c = (n - 1) + co + ce
        if c < best[0]:
            best = (c, ("interleave",))
    return best


# ---- per-output depth profiles (narrow widths) -------------------------------------------------
# The dynamic program above gives every sub-problem's outputs one depth budget (and one for the
# last). Here each output has its own budget, which lets a Brent-Kung pairing step finish some
# even columns through a helper node, (x[2j+2] o pair j) o prefix[2j-1], instead of through the
# odd output just below: that odd output (an output of the inner problem) may then come one level
# later, and the inner problem gets cheaper than the helper costs. This reaches 167 nodes at depth
# 6 on 64 bits (the optimum; 168 without it). The number of profiles grows fast with the width, so
# it is used at the smallest depth (ceil(log2 n), where the budgets are tight and the search
# small) up to _PROFILE_MAX_WIDTH bits.
_PROFILE_MAX_WIDTH = 64
_MAX_HELPERS = 3


@functools.lru_cache(maxsize=None)
def _profcost(p: tuple[int, ...]) -> tuple[int, tuple]:
    """Smallest size (and the recipe) of a prefix circuit on ``len(p)`` elements whose output
    ``i`` has depth <= ``p[i]``."""
    n = len(p)
    if n == 1:
        return (0, ("leaf",)) if p[0] >= 0 else (_INF, ())
    if any(p[i] < _levels(i + 1) for i in range(n)):
        return _INF, ()
    best: tuple[int, tuple] = (_INF, ())
    for m in range(1, n):
        # the low total feeds every high output one level before that output's budget
        carry = min(p[m:]) - 1
        lo = _profcost(p[:m - 1] + (min(p[m - 1], carry),))[0]
        if lo >= best[0]:
            continue
        c = lo + _profcost(tuple(x - 1 for x in p[m:]))[0] + (n - m)
        if c < best[0]:
            best = (c, ("split", m))
    if n % 2 == 0 and n >= 4:
        half = n // 2
        fixed = half + half - 1  # pairs and even-column fixes
        for r in range(_MAX_HELPERS + 1):
            for helped in itertools.combinations(range(1, half - 1), r):
                if any(b - a < 2 for a, b in zip(helped, helped[1:])):
                    continue
                c = _profcost(_pair_profile(p, helped))[0] + fixed + r
                if c < best[0]:
                    best = (c, ("pair", helped))
    return best


def _pair_profile(p: tuple[int, ...], helped: tuple[int, ...]) -> tuple[int, ...]:
    """Budgets of the inner problem on the pairs (relative to level 1) of a pairing step whose
    even columns ``2j + 2`` for ``j`` in ``helped`` are finished through a helper node."""
    half = len(p) // 2
    q = [p[2 * j + 1] - 1 for j in range(half)]
    for j in range(half - 1):
        if j in helped:
            q[j - 1] = min(q[j - 1], p[2 * j + 2] - 2)
        else:
            q[j] = min(q[j], p[2 * j + 2] - 2)
    return tuple(q)


def _use_profiles(n: int, depth: int, fanout: int | None) -> bool:
    return fanout is None and n <= _PROFILE_MAX_WIDTH and depth == _levels(n) and \
        _profcost((depth,) * n)[0] < _mincost(n, depth, depth, 1 << 30)[0]


def min_size_cost(n: int, depth: int, fanout: int | None = None) -> int:
    """Size of :func:`min_size` ``(n, depth)`` (without building it); a huge number if impossible."""
    if _use_profiles(n, depth, fanout):
        return _profcost((depth,) * n)[0]
    return _mincost(n, depth, depth, fanout or 1 << 30)[0]


def min_size(n: int, depth: int | None = None, fanout: int | None = None) -> PrefixGraph:
    """hwgen's minimum-size construction under a depth limit (default ceil(log2 n)).

    A dynamic program over three recursive decompositions (Sklansky-like split with per-part
    depth budgets, Brent-Kung-like pairing, a Kogge-Stone step that leaves two interleaved
    problems), choosing the smallest at each sub-problem. At depth ceil(log2 n) (up to 64 bits,
    no fanout cap) a second program with per-output depth budgets is also run and the smaller
    graph kept. It reaches 31, 74 and 167 nodes at depth 4, 5 and 6 for 16, 32 and 64 bits (the
    optima, Sergeev ECCC TR13-041) and the Snir bound (zero deficiency) where depth allows. ``fanout`` caps how many high outputs one low total
    may feed in a split (the graph's fanout is then about ``fanout + 1``).
    """
    f = fanout or 1 << 30
    depth = _levels(n) if depth is None else depth
    if depth < _levels(n):
        raise ConfigError(f"a {n}-bit prefix graph needs depth >= {_levels(n)}, not {depth}")
    nodes: list[tuple[int, int]] = []
    span: dict[int, tuple[int, int]] = {i: (i, i) for i in range(n)}

    def op(a: int, b: int) -> int:
        nodes.append((a, b))
        nid = n + len(nodes) - 1
        span[nid] = (span[a][0], span[b][1])
        return nid

    def build(elems: list[int], d: int, dl: int) -> list[int]:
        k = len(elems)
        if k == 1:
            return [elems[0]]
        cost, recipe = _mincost(k, d, dl, f)
        if cost >= _INF:
            raise ConfigError(f"no prefix graph on {n} bits within depth {depth}"
                          + (f" and fanout {fanout}" if fanout else ""))
        if recipe[0] == "split":
            m = recipe[1]
            low = build(elems[:m], d, min(d, dl) - 1 if k - m >= 2 else min(d, dl - 1))
            high = build(elems[m:], d - 1, dl - 1)
            return low + [op(h, low[-1]) for h in high]
        if recipe[0] == "interleave":
            nb = [elems[0]] + [op(elems[i], elems[i - 1]) for i in range(1, k)]
            last_odd = k % 2 == 0
            odd = build(nb[1::2], d - 1, (dl if last_odd else d) - 1)
            even = build(nb[0::2], d - 1, (d if last_odd else dl) - 1)
            out = [0] * k
            out[1::2], out[0::2] = odd, even
            return out
        pairs = [op(elems[2 * j + 1], elems[2 * j]) for j in range(k // 2)]
        if k % 2:
            pairs.append(elems[-1])
        inner = build(pairs, d - 2, dl - 1)
        out = [elems[0]]
        for j in range(1, k):
            if j % 2 == 1:
                out.append(inner[j // 2])
            elif j == k - 1:
                out.append(inner[-1])
            else:
                out.append(op(elems[j], inner[j // 2 - 1]))
        return out

    if _use_profiles(n, depth, fanout):
        outs = _build_profile(list(range(n)), (depth,) * n, op)
        return PrefixGraph(width=n, nodes=tuple(nodes), outputs=tuple(outs),
                           name=f"min-size-d{depth}")
    if _mincost(n, depth, depth, f)[0] >= _INF:
        raise ConfigError(f"no prefix graph on {n} bits within depth {depth}"
                          + (f" and fanout {fanout}" if fanout else ""))
    outs = build(list(range(n)), depth, depth)
    return PrefixGraph(width=n, nodes=tuple(nodes), outputs=tuple(outs),
                       name=f"min-size-d{depth}" + (f"-f{fanout}" if fanout else ""))


def _build_profile(elems: list[int], p: tuple[int, ...], op) -> list[int]:
    """Nodes of :func:`_profcost`'s recipe for ``p`` on ``elems``; returns the output ids."""
    if len(elems) == 1:
        return [elems[0]]
    recipe = _profcost(p)[1]
    if recipe[0] == "split":
        m = recipe[1]
        low = _build_profile(elems[:m], p[:m - 1] + (min(p[m - 1], min(p[m:]) - 1),), op)
        high = _build_profile(elems[m:], tuple(x - 1 for x in p[m:]), op)
        return low + [op(h, low[-1]) for h in high]
    helped = recipe[1]
    pairs = [op(elems[2 * j + 1], elems[2 * j]) for j in range(len(elems) // 2)]
    inner = _build_profile(pairs, _pair_profile(p, helped), op)
    out = [elems[0]]
    for j, node in enumerate(inner):
        out.append(node)
        if j < len(inner) - 1:
            if j in helped:  # (x[2j+2] o pair j) o prefix[2j-1]
                out.append(op(op(elems[2 * j + 2], pairs[j]), inner[j - 1]))
            else:
                out.append(op(elems[2 * j + 2], node))
    return out


ARCHITECTURES: dict[str, Callable[[int], PrefixGraph]] = {
    "ripple": ripple,
    "sklansky": sklansky,
    "kogge-stone": kogge_stone,
    "brent-kung": brent_kung,
    "han-carlson": han_carlson,
    "ladner-fischer": ladner_fischer,
    "knowles": knowles,
    "min-size": min_size,
}

CLASSIC = ("ripple", "sklansky", "kogge-stone", "brent-kung", "han-carlson", "ladner-fischer",
           "knowles")


def construct(arch: str, width: int) -> PrefixGraph:
    """Build the named architecture at ``width`` bits.

    Raises
    ------
    ConfigError
        For an unknown architecture (the message lists the valid ones) or a bad width.
    """
    if isinstance(width, bool) or not isinstance(width, int):
        raise TypeError(f"adder width must be int, not {type(width).__name__} {width!r}")
    if not 1 <= width <= 1024:
        raise ConfigError(f"adder width must be an integer in 1..1024, not {width}")
    if arch not in ARCHITECTURES:
        raise ConfigError(f"unknown adder architecture {arch!r}; valid architectures: "
                          f"{', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[arch](width)
