"""Bit-exact golden model of the adders (numpy and plain-int forms)."""
from __future__ import annotations

import numpy as np


def add_model(a: int, b: int, ci: int, width: int) -> tuple[int, int]:
    """``(s, co)`` of a ``width``-bit adder: ``s = (a + b + ci) mod 2**width``, ``co`` the carry."""
    mask = (1 << width) - 1
    total = (a & mask) + (b & mask) + (ci & 1)
    return total & mask, total >> width


def add_model_np(a: np.ndarray, b: np.ndarray, ci: np.ndarray | int, width: int):
    """Vectorised :func:`add_model` for widths up to 62 bits (int64 arithmetic)."""
    if width > 62:
        raise ValueError(f"add_model_np handles widths up to 62 bits, not {width}")
    mask = np.int64((1 << width) - 1)
    total = (np.asarray(a, np.int64) & mask) + (np.asarray(b, np.int64) & mask) + \
        (np.asarray(ci, np.int64) & 1)
    return total & mask, total >> width


def prefix_carries(graph, a: int, b: int, ci: int = 0) -> list[int]:
    """Evaluate a prefix graph's generate/propagate network bit by bit: the carry out of each bit
    (checks a graph's logic without any RTL)."""
    n = graph.width
    g = [((a >> i) & (b >> i)) & 1 for i in range(n)]
    p = [((a >> i) ^ (b >> i)) & 1 for i in range(n)]
    if n and ci:
        g[0] |= p[0] & 1
    G, P = list(g), list(p)
    for l, r in graph.nodes:
        G.append(G[l] | (P[l] & G[r]))
        P.append(P[l] & P[r])
    return [G[o] for o in graph.outputs]
