"""hwgen's sizer: the timer equals ABC's stime, sizing meets its targets, buffering keeps the
function, and the evaluation merges (and proves) both flows' points."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from hwgen.adders.constructions import construct, min_size
from hwgen.adders.evaluate import _abc, _area_delay, evaluate
from hwgen.adders.library import LIB_PATH
from hwgen.adders.mapping import map_graph
from hwgen.adders.sizing import (BatchTimer, Netlist, buffer_fanouts, min_delay, repair,
                                 size_for, time_netlist)


def _abc_stime(blifs: list[str], tmp: Path) -> list[tuple[float, float]]:
    cmds = []
    for k, b in enumerate(blifs):
        (tmp / f"n{k}.blif").write_text(b)
        cmds.append(f"read n{k}.blif; topo; stime")
    return _area_delay(_abc(f"read_lib -w {LIB_PATH}; " + "; ".join(cmds), tmp))


def test_timer_equals_abc_stime_on_random_sizings(tmp_path):
    rng = random.Random(3)
    nets, ours = [], []
    for g in (construct("kogge-stone", 16), construct("sklansky", 24), min_size(32, 6, 4)):
        nl = Netlist.from_blif(map_graph(g).blif)
        for k in range(3):
            if k:
                nl.sizes = [rng.choice((1, 2, 4)) for _ in nl.sizes]
            nets.append(nl.blif())
            ours.append(time_netlist(nl))
            # the batch timer agrees with the scalar one
            assert BatchTimer(nl).delays([nl.sizes])[0] == pytest.approx(ours[-1][1], abs=1e-6)
    for (a, d), (ga, gd) in zip(ours, _abc_stime(nets, tmp_path)):
        assert abs(a - ga) < 0.006 and abs(d - gd) < 0.1


def test_sizing_meets_targets_and_trades_area_for_delay():
    nl = Netlist.from_blif(map_graph(construct("han-carlson", 32)).blif)
    x1 = time_netlist(nl)
    fast = min_delay(nl)
    a_f, d_f = time_netlist(fast)
    assert d_f < 0.8 * x1[1] and a_f > x1[0]
    prev = None
    for f in (1.0, 1.05, 1.2):
        s = size_for(nl, d_f * f, start=fast.sizes)
        a, d = time_netlist(s)
        assert d <= d_f * f + 1e-6
        if prev:
            assert a <= prev + 1e-6  # looser target, no more area
        prev = a


@pytest.mark.parametrize("resize", [0, 8])
def test_buffering_adds_cells_only_and_keeps_the_function(tmp_path, resize):
    g = construct("sklansky", 32)
    nl = Netlist.from_blif(map_graph(g).blif)
    fast = min_delay(nl)
    buf = buffer_fanouts(nl, start=fast.copy(), resize=resize)
    assert time_netlist(buf)[1] < time_netlist(fast)[1]
    n_buf = buf.kinds.count("BUF")
    assert n_buf > 0 and len(buf.kinds) == len(nl.kinds) + n_buf
    assert sorted(k for k in buf.kinds if k != "BUF") == sorted(nl.kinds)
    (tmp_path / "m.blif").write_text(nl.blif())
    (tmp_path / "b.blif").write_text(buf.blif())
    out = _abc(f"read_lib -w {LIB_PATH}; read b.blif; cec m.blif", tmp_path)
    assert "Networks are equivalent" in out


def test_evaluate_merges_both_flows_and_checks_the_sized_netlists(tmp_path):
    g = construct("sklansky", 16)
    plain = evaluate(g, cache_dir=tmp_path)
    assert "hwgen_curve" not in plain
    r = evaluate(g, cache_dir=tmp_path, sizer=(240.0,))
    assert r["equivalent"] and r["structure_preserved"]
    assert r["hwgen_checked"] >= 2  # every sized netlist proven and re-timed by ABC
    pts = r["abc_curve"] + r["hwgen_curve"]
    # the curve is the Pareto set of both flows' points
    for a, d in pts:
        assert any(ca <= a + 1e-9 and cd <= d + 1e-9 for ca, cd in r["sizing_curve"])
    assert (r["area"], r["delay"]) == tuple(r["sizing_curve"][0])
    assert r["delay"] <= min(d for _a, d in pts)
    assert any(d <= 240.0 for _a, d in r["hwgen_curve"])
    again = evaluate(g, cache_dir=tmp_path, sizer=(240.0,))
    assert again["sizing_curve"] == r["sizing_curve"]


def test_abc_sizing_is_read_back_by_structure(tmp_path):
    """ABC's sized netlist (other net names, other gate order) gives back each gate's drive,
    and those drives time as ABC timed them; a netlist of another structure does not match."""
    mapped = map_graph(construct("kogge-stone", 16)).blif
    (tmp_path / "m.blif").write_text(mapped)
    out = _abc(f"read_lib -w {LIB_PATH}; read m.blif; topo; upsize; dnsize; stime; "
               "write_blif o.blif", tmp_path)
    abc_area, abc_delay = _area_delay(out)[-1]
    nl = Netlist.from_blif(mapped)
    sized = Netlist.from_blif((tmp_path / "o.blif").read_text())
    sizes = nl.sizes_from(sized)
    assert sizes is not None and set(sizes) > {1}
    nl.sizes = sizes
    a, d = time_netlist(nl)
    assert abs(a - abc_area) < 0.006 and abs(d - abc_delay) < 0.1
    other = Netlist.from_blif(map_graph(construct("sklansky", 16)).blif)
    assert other.sizes_from(sized) is None


def test_repair_speeds_up_a_sizing_to_its_target():
    nl = Netlist.from_blif(map_graph(construct("brent-kung", 16)).blif)
    _a0, d0 = time_netlist(nl)
    fast = repair(nl)
    assert nl.sizes == [1] * len(nl.kinds)  # a copy is repaired
    assert time_netlist(fast)[1] < d0 - 20
    target = (d0 + time_netlist(fast)[1]) / 2
    mid = repair(nl, target)
    assert time_netlist(mid)[1] <= target + 1e-9
    assert time_netlist(mid)[0] <= time_netlist(fast)[0]


def test_both_mappings_join_the_curve_and_slow_targets_are_sized(tmp_path):
    """The small mapping (a ^ b, fewest inverters) is proven and sized by ABC, and its smaller
    points join the graph's curve; hwgen's sizer takes absolute targets up to the all-X1 delay,
    not beyond."""
    g = construct("brent-kung", 16)
    x1 = time_netlist(Netlist.from_blif(map_graph(g).blif))[1]
    slow, beyond = round(0.95 * x1, 2), round(1.5 * x1, 2)
    r = evaluate(g, cache_dir=tmp_path, sizer=(slow, beyond))
    assert r["equivalent"] and r["structure_preserved"]
    # one NOR2 (0.798 um2) less per bit but bit 0
    assert min(a for a, _d in r["abc_small_curve"]) < min(a for a, _d in r["abc_curve"]) - 10
    assert "abc-small" in r["curve_flow"]
    points = json.loads(next(tmp_path.glob("*.json")).read_text())["hwgen"]["points"]
    assert f"{slow:.2f}" in points and f"{beyond:.2f}" not in points
    assert points[f"{slow:.2f}"][1] <= slow
    # the small mapping is a start of hwgen's sizer too, and its sized netlists are proven
    assert any(w == "x" for _a, _d, w, _s in points.values())
    assert r["hwgen_checked"] == len({(w, s) for _a, _d, w, s in points.values()})
    again = evaluate(g, cache_dir=tmp_path, sizer=(slow, beyond))  # cached: nothing re-sized
    assert again["sizing_curve"] == r["sizing_curve"]


def test_area_polarity_needs_fewer_inverters():
    g = construct("brent-kung", 64)
    timing, area = map_graph(g, transmit=False), map_graph(g, transmit=False, polarity="area")
    assert (timing.cells["INV"], area.cells["INV"]) == (63, 17)
    assert area.cells["AOI21"] + area.cells["OAI21"] == g.size  # one generate cell per node
    with pytest.raises(ValueError, match="map_graph polarity must be 'timing' or 'area', not 'fast'"):
        map_graph(g, polarity="fast")
