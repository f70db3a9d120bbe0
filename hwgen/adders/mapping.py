"""Structure-preserving technology mapping of a prefix adder onto hwgen45, and the graph's own
predictions (cell count, logic levels, AIG size and depth).

Each prefix node becomes exactly one AOI21/OAI21 (its generate) plus one NAND2/NOR2 when its
propagate is used; polarity alternates level by level (AOI/NAND take true inputs and give
inverted outputs, OAI/NOR the reverse), and an inverter is added only where a node reads a
signal of the other polarity. Bits use NAND2/AND2 for ``g`` and, for the tree, NOR2/OR2 for the
transmit ``t = a | b`` (``G = g_hi | t_hi & G_lo`` holds with ``t`` as with ``p = a ^ b``, and
NOR2 is faster, smaller and lighter to drive than XNOR2); XOR2/XNOR2 make ``p`` for the sum bits
only, and each sum bit is one XOR2/XNOR2 (which absorbs any polarity). Each node reads its
operands in the polarity the latest-arriving one has (``polarity="timing"``) or in the one
needing fewer inverters (``"area"``: on a 64-bit Brent-Kung 17 inverters instead of 63, which is
also faster once sized). This netlist is what
the evaluation times (ABC sizes its gates but cannot change its structure) and what is proven
equal to the synthesized RTL and to ``a + b``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ConfigError
from .graph import PrefixGraph


@dataclass(frozen=True)
class MappedNetlist:
    blif: str
    gates: int
    levels: int
    cells: dict[str, int]


TRANSMIT = True  # the tree's bit-level propagate: a | b (True) or a ^ b (False)


def _pins(n: int, carry_in: bool):
    ins = [f"a[{i}]" for i in range(n)] + [f"b[{i}]" for i in range(n)] + (["ci"] if carry_in else [])
    outs = [f"s[{i}]" for i in range(n)] + ["co"]
    return ins, outs


def map_graph(graph: PrefixGraph, carry_in: bool = False, model: str = "top",
              transmit: bool | None = None, polarity: str = "timing") -> MappedNetlist:
    """Map ``graph`` (asic style adder) onto hwgen45 X1 cells; see the module docstring.
    ``polarity`` chooses each node's input polarity: ``"timing"`` takes the latest-arriving
    operand's (no inverter on the critical input), ``"area"`` the one needing fewer inverters."""
    if polarity not in ("timing", "area"):
        raise ConfigError(f"map_graph polarity must be 'timing' or 'area', not {polarity!r}")
    transmit = TRANSMIT if transmit is None else transmit
    n = graph.width
    gates: list[str] = []
    cells: dict[str, int] = {}
    level: dict[str, int] = {}
    for i in _pins(n, carry_in)[0]:
        level[i] = 0

    def cell(kind: str, out: str, **pins: str) -> str:
        gates.append(f".gate {kind}_X1 " + " ".join(f"{k}={v}" for k, v in pins.items())
                     + f" {'ZN' if kind not in ('AND2', 'OR2', 'XOR2', 'BUF') else 'Z'}={out}")
        cells[kind] = cells.get(kind, 0) + 1
        level[out] = max(level[v] for v in pins.values()) + 1
        return out

    # Signals are kept as {polarity: net}; True = true polarity, False = inverted. A bit's g and
    # p are made on first use, directly in the polarity asked for (NAND2/AND2, XNOR2/XOR2).
    G: list[dict] = []
    P: list[dict | None] = []
    need_p = [False] * (n + graph.size)
    for a, _b in graph.nodes:
        need_p[a] = True
    leaf_kind: dict[int, tuple] = {}

    def get(sig: dict, pol: bool, name: str) -> str:
        if pol in sig:
            return sig[pol]
        if not sig and id(sig) in leaf_kind:
            kind, i = leaf_kind[id(sig)]
            a, b = f"a[{i}]", f"b[{i}]"
            if kind == "g":
                sig[pol] = cell("AND2" if pol else "NAND2", f"g{i}_{'t' if pol else 'n'}", A1=a, A2=b)
            elif kind == "t":
                sig[pol] = cell("OR2" if pol else "NOR2", f"t{i}_{'t' if pol else 'n'}", A1=a, A2=b)
            else:
                sig[pol] = cell("XOR2" if pol else "XNOR2", f"p{i}_{'t' if pol else 'n'}", A=a, B=b)
            return sig[pol]
        if not sig:
            raise AssertionError("signal without a driver")
        sig[pol] = cell("INV", f"{name}_{'t' if pol else 'n'}", A=sig[not pol])
        return sig[pol]

    def arrival(sig: dict) -> int:
        return min((level[v] for v in sig.values()), default=1)

    ps_true: dict[int, str] = {}
    for i in range(n):
        a, b = f"a[{i}]", f"b[{i}]"
        if i == 0 and carry_in:
            g0 = cell("AND2", "g0", A1=a, A2=b)
            p0 = cell("XOR2", "p0", A=a, B=b)
            ps_true[0] = p0
            G.append({False: cell("AOI21", "g0c_n", A1=p0, A2="ci", B=g0)})
            P.append(None)
            continue
        G.append({})
        leaf_kind[id(G[-1])] = ("g", i)
        if i == 0:
            ps_true[0] = cell("XOR2", "s[0]", A=a, B=b)   # p0 only feeds s0
            P.append(None)
        else:
            P.append({})
            leaf_kind[id(P[-1])] = ("p", i)
    # the tree reads each bit's transmit a | b (NOR2/OR2) instead of its propagate a ^ b, which
    # then feeds only its sum bit: G = g_hi | t_hi & G_lo holds for either
    T: list[dict | None] = list(P)
    if transmit:
        for i in range(1, n):
            T[i] = {}
            leaf_kind[id(T[i])] = ("t", i)
    for k, (l, r) in enumerate(graph.nodes):
        me = n + k
        # read the operands in the polarity the latest-arriving one already has (no inverter on
        # the critical input); on a tie, the polarity needing fewer inverters
        ops = [G[l], T[l], G[r]] + ([T[r]] if need_p[me] else [])
        made = [o for o in ops if o]
        latest = max((arrival(o) for o in made), default=0)
        pols = {pol for o in made if arrival(o) == latest for pol in o}
        missing = {pol: sum(1 for o in made if pol not in o) for pol in (False, True)}
        if len(pols) == 1 and polarity == "timing":
            pol_in = next(iter(pols))
        else:
            pol_in = missing[True] < missing[False] or (
                missing[True] == missing[False] and graph.level(me) % 2 == 0)
        name = f"n{me}"
        gl, pl, gr = get(G[l], pol_in, f"G{l}"), get(T[l], pol_in, f"P{l}"), get(G[r], pol_in, f"G{r}")
        if pol_in:
            G.append({False: cell("AOI21", f"{name}_gn", A1=pl, A2=gr, B=gl)})
        else:
            G.append({True: cell("OAI21", f"{name}_gt", A1=pl, A2=gr, B=gl)})
        if need_p[me]:
            pr = get(T[r], pol_in, f"P{r}")
            if pol_in:
                P.append({False: cell("NAND2", f"{name}_pn", A1=pl, A2=pr)})
            else:
                P.append({True: cell("NOR2", f"{name}_pt", A1=pl, A2=pr)})
        else:
            P.append(None)
        T.append(P[-1])
    outs = []
    for i in range(n):
        if i == 0:
            if carry_in:
                outs.append(cell("XOR2", "s[0]", A=ps_true[0], B="ci"))
            continue
        c = G[graph.outputs[i - 1]]
        p = P[i]
        if not p:
            get(p, next(iter(c)) if c else False, f"P{i}")
        if not c:
            get(c, next(iter(p)), f"G{i - 1}")
        pp = next(iter(p))
        cp = pp if pp in c else next(iter(c))
        kind = "XOR2" if pp == cp else "XNOR2"
        outs.append(cell(kind, f"s[{i}]", A=p[pp], B=c[cp]))
    co = get(G[graph.outputs[n - 1]], True, "co")
    ins, outs_names = _pins(n, carry_in)
    level["co"] = level[co]
    # name the carry-out net "co" (it may also feed sum bits)
    rx = re.compile(r"=" + re.escape(co) + r"(?=\s|$)")
    body = [rx.sub("=co", gl) for gl in gates]
    text = [f".model {model}", ".inputs " + " ".join(ins), ".outputs " + " ".join(outs_names),
            *body, ".end"]
    if n == 1:  # one-bit ports have no index in Yosys's netlists
        text = [re.sub(r"\b([abs])\[0\]", r"\1", t) for t in text]
    lv = max(level[o] for o in outs_names)
    return MappedNetlist("\n".join(text) + "\n", sum(cells.values()), lv, dict(sorted(cells.items())))


def predict(graph: PrefixGraph, carry_in: bool = False) -> dict:
    """The graph's own prediction of the mapped netlist and of the AIG Yosys + ABC ``strash`` must
    produce from the asic RTL (AND nodes) when the structure is preserved."""
    n = graph.width
    n_p = sum(1 for k in range(graph.size) if any(a == n + k for a, _ in graph.nodes))
    ands = n * 4 + 2 * graph.size + n_p + 3 * (n - 1) - 3  # g, p per bit; G, P per node; sums
    ands += 3  # p0 (XOR) always exists; s0 = p0
    if carry_in:
        ands += 2 + 3
    m = map_graph(graph, carry_in)
    return {"gates": m.gates, "levels": m.levels, "aig_ands": ands, "cells": m.cells}
