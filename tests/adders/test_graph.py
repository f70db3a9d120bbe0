"""Prefix graphs: validity, metrics, constructions at every width, JSON, errors."""
from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings, strategies as st

from hwgen.adders.constructions import ARCHITECTURES, CLASSIC, construct, knowles, min_size, min_size_cost
from hwgen.adders.graph import ColumnBuilder, PrefixGraph
from hwgen.adders.model import prefix_carries
from hwgen.errors import ConfigError, GraphError


def _carries_ok(g: PrefixGraph, a: int, b: int, ci: int = 0) -> bool:
    mask = (1 << g.width) - 1
    want = [((((a & ((2 << i) - 1)) + (b & ((2 << i) - 1)) + ci) >> (i + 1)) & 1) for i in range(g.width)]
    return prefix_carries(g, a & mask, b & mask, ci) == want


@st.composite
def random_graphs(draw):
    """Random valid graphs: levels of random combines, then ripple to finish."""
    n = draw(st.integers(1, 40))
    b = ColumnBuilder(n)
    for _ in range(draw(st.integers(0, 6))):
        for i in range(1, n):
            if b.lo[i] > 0 and draw(st.booleans()):
                # any column whose span reaches into ours and goes lower
                j = draw(st.integers(b.lo[i] - 1, i - 1))
                b.combine(i, j)
        b.level()
    for i in range(1, n):
        if b.lo[i] > 0:
            b.combine(i, b.lo[i] - 1)
            b.level()
    return b.graph("random")


@settings(max_examples=60, deadline=None)
@given(random_graphs(), st.integers(0, 2**40), st.integers(0, 2**40), st.integers(0, 1))
def test_random_graphs_are_valid_prefix_circuits(g, a, b, ci):
    assert _carries_ok(g, a, b, ci)
    assert g.snir_slack >= 0
    assert g.depth >= (math.ceil(math.log2(g.width)) if g.width > 1 else 0)
    c = g.canonical()
    assert c.size <= g.size and c.key() == g.key()
    assert PrefixGraph.from_dict(json.loads(json.dumps(g.to_dict()))).key() == g.key()


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 130), st.sampled_from(sorted(ARCHITECTURES)))
def test_every_construction_at_every_width(n, arch):
    g = construct(arch, n)
    k = math.ceil(math.log2(n)) if n > 1 else 0
    assert g.width == n and g.snir_slack >= 0
    assert all(g.span(o) == (i, 0) for i, o in enumerate(g.outputs))
    assert _carries_ok(g, (1 << n) - 1, 1) and _carries_ok(g, 0x5A5A5A5A5A5A5A5A, 0x3C3C3C3C3C3C3C3C)
    if arch in ("sklansky", "kogge-stone", "knowles", "min-size"):
        assert g.depth == k
    if arch == "ripple":
        assert g.size == n - 1 and g.depth == max(n - 1, 0)


@pytest.mark.parametrize("n", [16, 32, 64])
def test_classic_sizes_and_depths_match_formulas(n):
    k = int(math.log2(n))
    sk, ks, bk = construct("sklansky", n), construct("kogge-stone", n), construct("brent-kung", n)
    assert (sk.size, sk.depth, sk.max_fanout) == (n // 2 * k, k, n // 2)
    assert (ks.size, ks.depth) == (n * k - n + 1, k)
    assert (bk.size, bk.depth) == (2 * n - 2 - k, 2 * k - 2)
    assert bk.snir_slack == 2 * k - 2 + 2 * n - 2 - k - (2 * n - 2)
    hc, lf = construct("han-carlson", n), construct("ladner-fischer", n)
    assert hc.depth == k + 1 and lf.depth == k + 1 and lf.size < hc.size < ks.size


def test_min_size_reaches_known_optima_and_snir_bound():
    assert [min_size(n).size for n in (8, 16, 32)] == [12, 31, 74]
    # with depth to spare the construction is zero-deficiency (Snir's bound met)
    for n, d in ((16, 5), (32, 7), (64, 8)):
        g = min_size(n, d)
        assert g.depth <= d and g.snir_slack == 0 and g.size == min_size_cost(n, d)
    with pytest.raises(ConfigError, match=r"^a 16-bit prefix graph needs depth >= 4, not 3$"):
        min_size(16, 3)


def test_graph_errors_name_the_problem(tmp_path):
    with pytest.raises(GraphError, match=r"^bit 2 is not covered: output 2 must be a node covering \[2:0\], not \[2:1\]$"):
        PrefixGraph(width=3, nodes=((1, 0), (2, 1)), outputs=(0, 3, 4))
    with pytest.raises(GraphError, match=r"^prefix node 5 combines \[3:3\] with \[1:0\], which do not form one contiguous span$"):
        PrefixGraph(width=4, nodes=((1, 0), (3, 4)), outputs=(0, 4, 5, 5))
    with pytest.raises(GraphError, match=r"^prefix node 2 must use earlier nodes \(ids below 2\), not \(1, 5\)$"):
        PrefixGraph(width=2, nodes=((1, 5),), outputs=(0, 2))
    with pytest.raises(GraphError, match=r"^a 2-bit prefix graph needs 2 outputs, not 1$"):
        PrefixGraph(width=2, nodes=((1, 0),), outputs=(0,))
    with pytest.raises(GraphError, match=r"^PrefixGraph.width must be an integer in 1..1024, not 0$"):
        PrefixGraph(width=0, nodes=(), outputs=())
    with pytest.raises(TypeError, match=r"^PrefixGraph.width must be int, not str '4'$"):
        PrefixGraph(width="4", nodes=(), outputs=())
    p = tmp_path / "g.json"
    p.write_text(json.dumps({"width": 2, "nodes": [], "outputs": [0, 1]}))
    with pytest.raises(GraphError, match=r"^bit 1 is not covered: output 1 must be a node covering \[1:0\], not \[1:1\]$"):
        PrefixGraph.load(p)
    p.write_text(json.dumps({"width": 2, "nodes": [], "outputs": [0, 1], "colour": 1}))
    with pytest.raises(GraphError, match=r"^a prefix graph has no key 'colour'"):
        PrefixGraph.load(p)
    p.write_text(json.dumps({"width": 2}))
    with pytest.raises(GraphError, match=r"^a prefix graph needs the keys width, nodes, outputs; missing nodes, outputs$"):
        PrefixGraph.load(p)
    p.write_text("{")
    with pytest.raises(GraphError, match=r"is not valid JSON"):
        PrefixGraph.load(p)
    with pytest.raises(GraphError, match=r"does not exist"):
        PrefixGraph.load(tmp_path / "none.json")
    with pytest.raises(GraphError, match=rf"^graph file {tmp_path} is a directory, not a JSON file$"):
        PrefixGraph.load(tmp_path)
    p.write_bytes(b"\xff\xfe{}")
    with pytest.raises(GraphError, match=r"^graph file .*g.json is not text \(JSON in UTF-8 expected\)$"):
        PrefixGraph.load(p)


def test_construct_errors():
    with pytest.raises(ConfigError, match=r"^unknown adder architecture 'wallace'; valid architectures: ripple, sklansky, kogge-stone, brent-kung, han-carlson, ladner-fischer, knowles, min-size$"):
        construct("wallace", 8)
    with pytest.raises(ConfigError, match=r"^adder width must be an integer in 1..1024, not 0$"):
        construct("ripple", 0)
    with pytest.raises(ConfigError, match=r"^adder width must be an integer in 1..1024, not -3$"):
        construct("ripple", -3)
    with pytest.raises(TypeError, match=r"^adder width must be int, not float 8.0$"):
        construct("ripple", 8.0)
    with pytest.raises(ConfigError, match=r"^knowles fanouts must be 3 powers of two"):
        knowles(8, (1, 4, 4))


def test_save_load_round_trip(tmp_path):
    for arch in CLASSIC:
        g = construct(arch, 21)
        g.save(tmp_path / f"{arch}.json")
        h = PrefixGraph.load(tmp_path / f"{arch}.json")
        assert h == g and h.name == arch
        assert json.loads((tmp_path / f"{arch}.json").read_text())["metrics"]["size"] == g.size


def test_hypervolume_bands_add_up():
    """hypervolume_between splits the dominated area by delay band; the bands add up to it."""
    from hwgen.adders.search import hypervolume, hypervolume_between
    front = [{"delay": 1.0, "area": 3.0}, {"delay": 2.0, "area": 1.0}, {"delay": 3.0, "area": 2.0}]
    ref = (4.0, 4.0)
    assert hypervolume(front, ref) == 7.0  # 3 x 1 + 2 x 2
    assert hypervolume_between(front, ref, 0.0, 2.0) == 1.0
    assert hypervolume_between(front, ref, 2.0, 9.0) == 6.0
    assert hypervolume_between(front, ref, 1.5, 2.5) == 0.5 + 1.5


def test_slow_targets_spread_geometrically():
    from hwgen.adders.search import slow_targets
    assert slow_targets(400.0, 1600.0, 2) == [800.0, 1600.0]
    assert len(slow_targets(418.0, 1387.33)) == 12
    assert slow_targets(500.0, 400.0) == []


def test_reference_point_leaves_ripple_out():
    from hwgen.adders.search import reference_point
    pts = [{"name": "ripple", "delay": 900.0, "area": 50.0},
           {"name": "brent-kung", "delay": 400.0, "area": 80.0},
           {"name": "kogge-stone", "delay": 200.0, "area": 150.0},
           {"name": "min-size-d9", "delay": 999.0, "area": 999.0}]
    assert reference_point(pts) == (400.0 * 1.1, 150.0 * 1.1)
    assert reference_point(pts[:1]) == (900.0 * 1.1, 50.0 * 1.1)


def test_summary_gain_by_reference():
    """The reference sweep's entry at the defined reference is the acceptance figure itself, and
    each entry is the gain recomputed at its reference delay (the reference area kept)."""
    from hwgen.adders.explore import summarize
    from hwgen.adders.search import hypervolume, pareto
    def pt(name, delay, area, depth=3):
        return {"name": name, "delay": delay, "area": area, "size": 10, "depth": depth}
    classic = [pt("kogge-stone", 100.0, 300.0), pt("han-carlson", 120.0, 250.0),
               pt("brent-kung", 150.0, 200.0), pt("brent-kung", 300.0, 150.0),
               pt("ripple", 900.0, 100.0, 15)]
    searched = [pt("a", 100.0, 270.0), pt("b", 140.0, 180.0), pt("c", 250.0, 120.0, 7)]
    s = summarize(classic + searched)
    rows = {r["reference"]: r for r in s["hypervolume_gain_by_reference"]}
    # at Kogge-Stone's delay (the fastest point) neither front dominates anything: no entry
    assert list(rows) == ["han-carlson fastest", "brent-kung fastest",
                          "1.1 x brent-kung fastest", "defined reference",
                          "1.1 x slowest classic, ripple included"]
    assert rows["defined reference"]["gain"] == s["hypervolume_gain"]
    assert rows["defined reference"]["delay"] == s["hypervolume_ref"]["delay"] == 330.0
    assert rows["1.1 x slowest classic, ripple included"]["delay"] == 990.0
    ref_area = s["hypervolume_ref"]["area"]
    front, cfront = pareto(classic + searched), pareto(classic)
    for r in rows.values():
        ref = (r["delay"], ref_area)
        assert r["gain"] == round(hypervolume(front, ref) / hypervolume(cfront, ref) - 1, 4)
    assert rows["han-carlson fastest"]["gain"] == round(20 * 60 / (20 * 30) - 1, 4)
