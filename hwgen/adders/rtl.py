"""The Amaranth ``PrefixAdder``: an adder built from any prefix graph, in two styles.

``asic``  explicit gate-level prefix logic (generate/propagate per bit, ``G = Gl | Pl & Gr`` and
          ``P = Pl & Pr`` per prefix node, ``s = p ^ c``): synthesis keeps the structure and cannot
          re-infer an adder from it.
``fpga``  ``a + b`` (plus carry in): synthesis uses the FPGA's carry chain, which beats any
          explicit prefix netlist on FPGAs. The graph only names the design.
"""
from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..configbase import check_choice
from .graph import PrefixGraph

STYLES = ("asic", "fpga")


def balanced_sum(terms: list):
    """Sum of Amaranth values as a balanced tree of ``+`` (pairs left to right, an odd one carried
    up), depth ceil(log2 len): the adder tree of the GEMM array and the depthwise engine."""
    while len(terms) > 1:
        terms = [terms[i] + terms[i + 1] for i in range(0, len(terms) - 1, 2)] + (
            [terms[-1]] if len(terms) % 2 else [])
    return terms[0]


class PrefixAdder(wiring.Component):
    """``s + (co << n) = a + b + ci`` built from a prefix graph (combinational).

    Parameters
    ----------
    graph : PrefixGraph
        The carry structure (its width is the adder's width).
    style : str
        ``asic`` or ``fpga`` (see the module docstring).
    carry_in : bool
        Add a ``ci`` input.

    Attributes
    ----------
    a, b : In(width)
    ci : In(1), only with ``carry_in``
    s : Out(width)
    co : Out(1)
    """

    def __init__(self, graph: PrefixGraph, *, style: str = "asic", carry_in: bool = False):
        if not isinstance(graph, PrefixGraph) or style not in STYLES:
            self._MustUse__used = True  # rejected: no "never used" warning for it
        if not isinstance(graph, PrefixGraph):
            raise TypeError(f"PrefixAdder graph must be a PrefixGraph, not {type(graph).__name__}")
        check_choice("PrefixAdder", "style", style, STYLES)
        self.graph, self.style, self.carry_in = graph, style, bool(carry_in)
        n = graph.width
        ports = {"a": In(n), "b": In(n), "s": Out(n), "co": Out(1)}
        if carry_in:
            ports["ci"] = In(1)
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        g, n = self.graph, self.graph.width
        ci = self.ci if self.carry_in else None
        if self.style == "fpga":
            total = self.a + self.b + (ci if ci is not None else 0)
            m.d.comb += Cat(self.s, self.co).eq(total)
            return m
        # Which nodes need a propagate signal: only those used as a left operand.
        need_p = [False] * (n + g.size)
        for a, _b in g.nodes:
            need_p[a] = True
        gs: list = []
        ps: list = []
        for i in range(n):
            gi, pi = Signal(name=f"g{i}"), Signal(name=f"p{i}")
            m.d.comb += [gi.eq(self.a[i] & self.b[i]), pi.eq(self.a[i] ^ self.b[i])]
            if i == 0 and ci is not None:
                g0 = Signal(name="g0c")
                m.d.comb += g0.eq(gi | (pi & ci))
                gi = g0
            gs.append(gi)
            ps.append(pi)
        half_sum = list(ps)
        for k, (a, b) in enumerate(g.nodes):
            hi, lo = g.span(n + k)
            gn = Signal(name=f"G{hi}_{lo}_{k}")
            m.d.comb += gn.eq(gs[a] | (ps[a] & gs[b]))
            gs.append(gn)
            if need_p[n + k]:
                pn = Signal(name=f"P{hi}_{lo}_{k}")
                m.d.comb += pn.eq(ps[a] & ps[b])
                ps.append(pn)
            else:
                ps.append(None)
        carry = [gs[o] for o in g.outputs]  # carry[i] = carry out of bit i
        sums = [half_sum[0] ^ ci if ci is not None else half_sum[0]]
        sums += [half_sum[i] ^ carry[i - 1] for i in range(1, n)]
        m.d.comb += [self.s.eq(Cat(*sums)), self.co.eq(carry[n - 1])]
        return m
