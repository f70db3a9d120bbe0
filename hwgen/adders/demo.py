"""The adders part of ``hwgen demo``: a few generated adders, then a short 32-bit explore."""
from __future__ import annotations

from pathlib import Path

from ..cliutil import Progress, table


def run(out: Path, quick: bool = False) -> None:
    from .cli import generate, render_front
    from .constructions import construct
    from .explore import run_explore
    rows = []
    for arch in ("kogge-stone", "brent-kung", "han-carlson", "min-size"):
        g = construct(arch, 32)
        r = generate(g, "asic", False, out / "generate" / arch, prove=True, measure=True)
        a = r["asic"]
        rows.append([arch, g.size, g.depth, g.max_fanout, a["area"], a["delay"], a["gates"],
                     "yes" if r["equivalent"] else "no"])
    r = generate(construct("kogge-stone", 32), "fpga", False, out / "generate" / "fpga", prove=True)
    print("generated 32-bit adders (asic style, hwgen45; proven equal to a + b):")
    print(table(rows, ["arch", "size", "depth", "fanout", "area um2", "delay ps", "gates", "proven"]))
    print(f"fpga style (a + b, carry chain): {r['verilog']}")
    budget = 20 if quick else 60
    print(f"\nexplore --width 32 --budget-s {budget}:")
    prog = Progress("explore 32 bits", every_s=10.0)
    res = run_explore(32, budget, out / "explore32", progress=prog.update)
    prog.close()
    print(render_front(res, out / "explore32"))
