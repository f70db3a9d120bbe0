"""hwgen's minimum-size construction at the smallest depth: the known optima (pure Python)."""
from __future__ import annotations

import pytest

from hwgen.adders.constructions import _levels, _mincost, _profcost, min_size, min_size_cost
from hwgen.adders.graph import PrefixGraph


def sergeev(k: int) -> int:
    """Exact size of the smallest depth-k prefix circuit on 2**k inputs (Sergeev, ECCC TR13-041)."""
    return int(3.5 * 2 ** k - (8.5 + 3.5 * (k % 2)) * 2 ** (k // 2) + k + 5)


def test_sergeev_formula_values():
    assert [sergeev(k) for k in (4, 5, 6, 7)] == [31, 74, 167, 364]


@pytest.mark.parametrize("k", [2, 3, 4, 5, 6])
def test_min_size_at_depth_log2n_is_optimal(k):
    n = 1 << k
    g = min_size(n, k)
    assert g.size == (sergeev(k) if k >= 4 else {2: 4, 3: 12}[k])
    assert g.depth == k and g.size == min_size_cost(n, k)
    # the graph survives a JSON round trip through the validity check, and computes prefixes
    h = PrefixGraph.from_dict(g.to_dict())
    assert all(h.span(o) == (i, 0) for i, o in enumerate(h.outputs))


def test_min_size_64_depth_6_is_167():
    g = min_size(64)
    assert (g.size, g.depth, g.name) == (167, 6, "min-size-d6")


def test_min_size_never_worse_than_uniform_budgets():
    # the per-output budgets only ever replace a larger uniform-budget graph
    for n in range(2, 65):
        d = _levels(n)
        g = min_size(n, d)
        assert g.depth <= d and g.size <= _mincost(n, d, d)[0], n
    assert _mincost(64, 6, 6)[0] == 168 and _profcost((6,) * 64)[0] == 167


def test_fanout_capped_and_deeper_graphs_unchanged():
    # deeper or fanout-capped requests keep the uniform-budget dynamic program
    assert min_size(64, 7).size == _mincost(64, 7, 7)[0]
    assert min_size(64, 6, 4).size == _mincost(64, 6, 6, 4)[0]
    assert min_size(48, 6).size == 102 < _mincost(48, 6, 6)[0]
