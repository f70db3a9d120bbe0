"""The analytic FIFO depths against a bounded-FIFO execution of the dataflow processes."""
from __future__ import annotations

import pytest

from hwgen.hls.dataflow import run_dataflow
from hwgen.hls.perf import fifo_depths
from hwgen.nn.models import build_model

from .test_csim import _edge_network


def _min_depth(net, depths, edge):
    lo, hi = 1, depths[edge]
    assert not run_dataflow(net, depths).deadlock
    while lo < hi:
        mid = (lo + hi) // 2
        trial = dict(depths)
        trial[edge] = mid
        if run_dataflow(net, trial).deadlock:
            lo = mid + 1
        else:
            hi = mid
    return lo


@pytest.mark.parametrize("name", ["skynet-tiny", "skynet"])
def test_analytic_depths_are_deadlock_free_and_not_arbitrary(name):
    net = build_model(name)
    depths = fifo_depths(net)
    r = run_dataflow(net, depths)
    assert not r.deadlock
    for (src, dst), d in depths.items():
        assert r.max_occupancy[f"{src}->{dst}"] <= d
    edge = ("reorg", "cat")
    h, w, c = net.shape("reorg")
    # one row of slack (for rates) over a dependency bound at most one pixel above the smallest
    # deadlock-free depth: a row and a pixel (plus a word) less deadlocks
    smaller = dict(depths)
    smaller[edge] = depths[edge] - w * c - c - 1
    r = run_dataflow(net, smaller)
    assert r.deadlock and "cat" in r.blocked
    if name == "skynet":                      # tiny's maps are only 4 rows high
        assert depths[edge] < h * w * c // 6


def test_edge_network_depths_are_deadlock_free_and_sufficient_per_edge():
    net = _edge_network()
    depths = fifo_depths(net)
    assert not run_dataflow(net, depths).deadlock
    # each concat input alone (the others as deep as their maps) needs no more than the analysis
    full = dict(depths)
    edges = [(s, l.name) for l in net.layers if l.kind == "concat" for s in net.inputs_of(l)]
    for e in edges:
        h, w, c = net.shape(e[0])
        full[e] = h * w * c
    for e in edges:
        assert _min_depth(net, full, e) <= depths[e], e


def test_timed_simulation_reaches_the_cycle_model_with_the_computed_fifos():
    import dataclasses

    from hwgen.hls.dataflow import simulate_plan, verified_plan
    from hwgen.hls.perf import bursty, plan
    from hwgen.hls.presets import PRESETS

    cfg = PRESETS["skynet-tiny"]
    net = build_model(cfg.model)
    p = plan(net, cfg)
    r = simulate_plan(net, p, frames=3)
    assert not r.deadlock and r.interval <= 1.01 * p.frame_cycles
    assert r.latency > r.interval          # frames overlap: the next one starts before one ends
    # without a row of room after bursty producers, the slowest layer stalls
    tight = dataclasses.replace(p, fifo_depths={k: (max(2, net.shape(k[0])[2]) if bursty(net, k[0]) and k[1] != "cat"
                                                    else d) for k, d in p.fifo_depths.items()})
    assert simulate_plan(net, tight, frames=3).interval > 1.05 * p.frame_cycles
    v = verified_plan(net, cfg)
    assert v.fps_simulated >= cfg.fps and v.simulated_cycles >= v.frame_cycles


def test_timed_simulation_of_the_edge_network():
    from hwgen.hls.config import HlsConfig
    from hwgen.hls.dataflow import simulate_plan, verified_plan
    from hwgen.hls.perf import plan

    net = _edge_network()
    cfg = HlsConfig(model="edge", board="pynq-z2", fps=50000, clock_mhz=100)
    p = plan(net, cfg)
    r = simulate_plan(net, p, frames=3)
    assert not r.deadlock and r.interval <= 1.10 * p.frame_cycles     # small maps: fill between frames
    v = verified_plan(net, cfg)               # more headroom until the simulation reaches the target
    assert v.fps_simulated >= 50000
