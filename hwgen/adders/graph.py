"""Prefix graphs: the pure-Python structure every adder is built from.

A prefix graph on ``n`` bits has ``n`` leaves (ids ``0..n-1``, leaf ``i`` is bit ``i``'s
generate/propagate pair, span ``[i:i]``) and prefix nodes (ids ``n, n+1, ...``), each combining a
*left* (more significant) and a *right* (less significant) node with the prefix operator ``o``.
Node ``(left, right)`` covers ``[hi(left) : lo(right)]``; it is valid when the two spans touch or
overlap (``o`` is idempotent) and the right one reaches lower: ``lo(left) - 1 <= hi(right) <
hi(left)`` and ``lo(right) <= lo(left)``. ``outputs[i]`` names the node covering ``[i:0]``
(the carry out of bit ``i``).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..errors import GraphError

MAX_WIDTH = 1024


@dataclass(frozen=True)
class PrefixGraph:
    """A prefix graph (see the module docstring).

    Parameters
    ----------
    width : int
        Number of bits ``n`` (>= 1).
    nodes : tuple of (int, int)
        ``(left, right)`` ids of each prefix node, in topological order; node ``k`` has id
        ``width + k``.
    outputs : tuple of int
        Id of the node covering ``[i:0]`` for each bit ``i``.
    name : str
        A label (construction name), not part of the structure's identity.

    Raises
    ------
    GraphError
        When the graph is malformed or an output does not cover its bits (the message names the
        first bad bit).
    """
    width: int
    nodes: tuple[tuple[int, int], ...]
    outputs: tuple[int, ...]
    name: str = "custom"
    _spans: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)
    _levels: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        n = self.width
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"PrefixGraph.width must be int, not {type(n).__name__} {n!r}")
        if not 1 <= n <= MAX_WIDTH:
            raise GraphError(f"PrefixGraph.width must be an integer in 1..{MAX_WIDTH}, not {n}")
        object.__setattr__(self, "nodes", tuple((int(a), int(b)) for a, b in self.nodes))
        object.__setattr__(self, "outputs", tuple(int(o) for o in self.outputs))
        spans = [(i, i) for i in range(n)]
        levels = [0] * n
        for k, (a, b) in enumerate(self.nodes):
            me = n + k
            if not (0 <= a < me and 0 <= b < me):
                raise GraphError(f"prefix node {me} must use earlier nodes (ids below {me}), "
                                 f"not ({a}, {b})")
            (ha, la), (hb, lb) = spans[a], spans[b]
            if not (la - 1 <= hb < ha and lb <= la):
                raise GraphError(f"prefix node {me} combines [{ha}:{la}] with [{hb}:{lb}], which "
                                 f"do not form one contiguous span")
            spans.append((ha, lb))
            levels.append(max(levels[a], levels[b]) + 1)
        if len(self.outputs) != n:
            raise GraphError(f"a {n}-bit prefix graph needs {n} outputs, not {len(self.outputs)}")
        for i, o in enumerate(self.outputs):
            if not 0 <= o < len(spans) or spans[o] != (i, 0):
                got = f"[{spans[o][0]}:{spans[o][1]}]" if 0 <= o < len(spans) else "no node"
                raise GraphError(f"bit {i} is not covered: output {i} must be a node covering "
                                 f"[{i}:0], not {got}")
        object.__setattr__(self, "_spans", tuple(spans))
        object.__setattr__(self, "_levels", tuple(levels))

    # ---- metrics -------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Number of prefix nodes (operator instances)."""
        return len(self.nodes)

    def span(self, node: int) -> tuple[int, int]:
        """``(hi, lo)`` bits covered by ``node``."""
        return self._spans[node]

    def level(self, node: int) -> int:
        """Logic level of ``node`` in prefix operators (leaves are level 0)."""
        return self._levels[node]

    @property
    def depth(self) -> int:
        """Largest level of any output."""
        return max(self._levels[o] for o in self.outputs)

    def fanouts(self) -> list[int]:
        """How many prefix nodes read each node (leaves included)."""
        f = [0] * (self.width + self.size)
        for a, b in self.nodes:
            f[a] += 1
            f[b] += 1
        return f

    @property
    def max_fanout(self) -> int:
        """Largest number of prefix nodes reading one node (0 for a graph without nodes)."""
        return max(self.fanouts(), default=0)

    @property
    def snir_slack(self) -> int:
        """``size + depth - (2n - 2)``: Snir's bound says it is >= 0; 0 means zero-deficiency."""
        return self.size + self.depth - (2 * self.width - 2)

    def metrics(self) -> dict:
        return {"width": self.width, "size": self.size, "depth": self.depth,
                "max_fanout": self.max_fanout, "snir_slack": self.snir_slack}

    # ---- identity, JSON ------------------------------------------------------------------------
    def canonical(self) -> "PrefixGraph":
        """The same circuit with unused nodes removed and nodes renumbered by (level, span)."""
        n = self.width
        used = set(self.outputs)
        for k in range(self.size - 1, -1, -1):
            if n + k in used:
                used.update(self.nodes[k])
        keep = sorted((k for k in range(self.size) if n + k in used),
                      key=lambda k: (self._levels[n + k], self._spans[n + k][0],
                                     -self._spans[n + k][1], self.nodes[k]))
        new_id = {i: i for i in range(n)}
        nodes = []
        # Sorting by level keeps a topological order.
        for k in keep:
            a, b = self.nodes[k]
            new_id[n + k] = n + len(nodes)
            nodes.append((new_id[a], new_id[b]))
        return PrefixGraph(width=n, nodes=tuple(nodes),
                           outputs=tuple(new_id[o] if o >= n else o for o in self.outputs),
                           name=self.name)

    def key(self) -> str:
        """A hash of the canonical structure (used as the evaluation cache key)."""
        c = self.canonical()
        text = json.dumps([c.width, c.nodes, c.outputs], separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def to_dict(self) -> dict:
        return {"format": "hwgen-prefix-graph/1", "name": self.name, "width": self.width,
                "nodes": [list(x) for x in self.nodes], "outputs": list(self.outputs)}

    @classmethod
    def from_dict(cls, data: dict) -> "PrefixGraph":
        if not isinstance(data, dict):
            raise GraphError(f"a prefix graph must be a JSON object, not {type(data).__name__}")
        missing = [k for k in ("width", "nodes", "outputs") if k not in data]
        if missing:
            raise GraphError(f"a prefix graph needs the keys width, nodes, outputs; "
                             f"missing {', '.join(missing)}")
        unknown = sorted(set(data) - {"format", "name", "width", "nodes", "outputs", "metrics"})
        if unknown:
            raise GraphError(f"a prefix graph has no key {unknown[0]!r}; valid keys: format, name, "
                             f"width, nodes, outputs, metrics")
        try:
            nodes = tuple((int(a), int(b)) for a, b in data["nodes"])
        except (TypeError, ValueError):
            raise GraphError("prefix graph nodes must be a list of [left, right] id pairs") from None
        return cls(width=data["width"], nodes=nodes, outputs=tuple(data["outputs"]),
                   name=str(data.get("name", "custom")))

    def save(self, path: str | Path) -> None:
        d = self.to_dict()
        d["metrics"] = self.metrics()
        Path(path).write_text(json.dumps(d, indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "PrefixGraph":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise GraphError(f"graph file {path} does not exist") from None
        except IsADirectoryError:
            raise GraphError(f"graph file {path} is a directory, not a JSON file") from None
        except UnicodeDecodeError:
            raise GraphError(f"graph file {path} is not text (JSON in UTF-8 expected)") from None
        except json.JSONDecodeError as e:
            raise GraphError(f"graph file {path} is not valid JSON: {e.msg} at line {e.lineno}") from None
        return cls.from_dict(data)


class ColumnBuilder:
    """Builds a graph as per-column chains: ``combine(i, j)`` makes column ``i``'s current node
    absorb column ``j``'s current node. ``level()`` groups combines that read the values of the
    previous level (so a level's combines are parallel)."""

    def __init__(self, width: int):
        self.width = width
        self.cur = list(range(width))
        self.lo = list(range(width))
        self.nodes: list[tuple[int, int]] = []
        self._pending: list[tuple[int, int]] = []

    def combine(self, i: int, j: int) -> None:
        self._pending.append((i, j))

    def level(self) -> None:
        snap_cur, snap_lo = list(self.cur), list(self.lo)
        for i, j in self._pending:
            if snap_lo[i] == 0 or snap_lo[j] >= snap_lo[i]:
                continue  # nothing to add: already complete or no progress
            self.nodes.append((snap_cur[i], snap_cur[j]))
            self.cur[i] = self.width + len(self.nodes) - 1
            self.lo[i] = snap_lo[j]
        self._pending = []

    def graph(self, name: str) -> PrefixGraph:
        self.level()
        return PrefixGraph(width=self.width, nodes=tuple(self.nodes), outputs=tuple(self.cur),
                           name=name)


def graph_from_chains(width: int, chains: Sequence[Sequence[int]], name: str) -> PrefixGraph:
    """Build a graph from per-column chains: ``chains[i]`` lists the ``lo`` values column ``i``
    passes through (``i`` > l1 > ... > 0); each step reads column ``lo-1``'s node that ends at the
    next ``lo``. Columns must be listed bottom-up (each refers only to lower columns)."""
    node_of: dict[tuple[int, int], int] = {(i, i): i for i in range(width)}
    nodes: list[tuple[int, int]] = []
    outputs = []
    for i in range(width):
        cur = i
        span_lo = i
        for nxt in chains[i][1:]:
            right = node_of.get((span_lo - 1, nxt))
            if right is None:
                raise GraphError(f"column {i} needs span [{span_lo - 1}:{nxt}], which no lower "
                                 f"column provides")
            nodes.append((cur, right))
            cur = width + len(nodes) - 1
            span_lo = nxt
            node_of[(i, nxt)] = cur
        outputs.append(cur)
    return PrefixGraph(width=width, nodes=tuple(nodes), outputs=tuple(outputs), name=name)
