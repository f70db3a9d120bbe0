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
    # at most one pixel above the smallest deadlock-free depth: one pixel (plus a word) less deadlocks
    smaller = dict(depths)
    smaller[edge] = depths[edge] - c - 1
    r = run_dataflow(net, smaller)
    assert r.deadlock and "cat" in r.blocked
    if name == "skynet":                      # tiny's maps are only 4 rows high
        assert depths[edge] < h * w * c // 8


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
