"""Adders acceptance bench: prints one JSON object.

- structure: for n = 16, 32, 64 every classic structure's mapped gate count and levels against the
  graph's own prediction, and its equivalence proof;
- min_size: the smallest graph of depth log2 n that explore finds for n = 16, 32, 64;
- front64: a 64-bit explore with the given budget (default 20 minutes) against the classic front;
- fpga: synth_xilinx LUT/CARRY4 and nextpnr-ecp5 fmax of the fpga and asic styles at 64 bits.

``--probe-sizing`` instead measures candidate sizing flows (ABC ``upsize; dnsize`` as used, a
longer upsizing, ABC ``buffer -N k`` before sizing) on a few 64-bit graphs: the evidence for the
flow's choice (buffering speeds up Sklansky-like graphs, classics included, more than it helps
the searched ones near Kogge-Stone's delay).

Usage: .venv/bin/python bench/adders.py [--budget-s 1200] [--quick] [--out build/bench_adders]
       .venv/bin/python bench/adders.py --probe-sizing
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


PROBE_FLOWS = {
    "abc-default (the flow)": "upsize; dnsize",
    "abc-long": "upsize -I 3000 -J 300; dnsize -I 20",
    "buffer-N4": "buffer -N 4; upsize; dnsize",
    "buffer-N6": "buffer -N 6; upsize; dnsize",
    "buffer-N8": "buffer -N 8; upsize; dnsize",
}


def probe_sizing() -> dict:
    """Fastest (area, delay) of a few 64-bit graphs under each candidate sizing flow."""
    import tempfile
    from hwgen.adders.constructions import construct, min_size
    from hwgen.adders.evaluate import _abc, _area_delay
    from hwgen.adders.library import LIB_PATH
    from hwgen.adders.mapping import map_graph
    graphs = [construct(a, 64) for a in ("kogge-stone", "knowles", "sklansky", "han-carlson")]
    graphs += [min_size(64, 6), min_size(64, 6, 2), min_size(64, 6, 4), min_size(64, 6, 8),
               min_size(64, 7, 4)]
    out: dict = {}
    for g in graphs:
        with tempfile.TemporaryDirectory(prefix="hwgen-probe-") as tmp:
            (Path(tmp) / "m.blif").write_text(map_graph(g).blif)
            cmds = "; ".join(f"read m.blif; topo; {f}; stime" for f in PROBE_FLOWS.values())
            ad = _area_delay(_abc(f"read_lib -w {LIB_PATH}; {cmds}", Path(tmp)))
        out[g.name] = {"size": g.size, **{k: {"area": a, "delay": d}
                                          for k, (a, d) in zip(PROBE_FLOWS, ad)}}
    return {"bench": "adders-sizing-probe", "library": "hwgen45", "width": 64, "graphs": out}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget-s", type=float, default=1200.0, help="64-bit explore budget")
    ap.add_argument("--quick", action="store_true", help="short budgets, no nextpnr")
    ap.add_argument("--out", default="build/bench_adders")
    ap.add_argument("--cache", default=None, help="evaluation cache (default ~/.cache/hwgen/adders)")
    ap.add_argument("--probe-sizing", action="store_true",
                    help="only compare candidate sizing flows on a few 64-bit graphs")
    args = ap.parse_args()
    if args.probe_sizing:
        print(json.dumps(probe_sizing(), indent=1))
        return 0
    from hwgen.adders.constructions import CLASSIC, construct
    from hwgen.adders.evaluate import evaluate, fpga_figures
    from hwgen.adders.explore import run_explore
    t0 = time.monotonic()
    out = Path(args.out)
    res: dict = {"bench": "adders", "library": "hwgen45"}

    structure = {}
    all_ok = True
    for n in (16, 32, 64):
        for arch in CLASSIC:
            r = evaluate(construct(arch, n), cache_dir=args.cache)
            ok = bool(r["structure_preserved"] and r["equivalent"])
            all_ok &= ok
            structure[f"{arch}-{n}"] = {
                "size": r["size"], "depth": r["depth"], "gates": r["gates"],
                "predicted_gates": r["predicted"]["gates"], "levels": r["levels"],
                "predicted_levels": r["predicted"]["levels"], "aig_ands": r["aig_ands"],
                "predicted_aig_ands": r["predicted"]["aig_ands"], "equivalent": r["equivalent"],
                "area": r["area"], "delay": r["delay"]}
    res["structure"] = structure
    res["structure_all_preserved_and_proven"] = all_ok

    budgets = {16: 20.0, 32: 40.0, 64: args.budget_s if not args.quick else 60.0}
    res["min_size"] = {}
    for n in (16, 32, 64):
        ex = run_explore(n, budgets[n], out / f"explore{n}", cache_dir=args.cache)
        s = ex["summary"]
        res["min_size"][str(n)] = {"depth": s["min_depth"], "size": s["min_size_at_min_depth"],
                                   "known_optimum": {16: 31, 32: 74, 64: 167}[n],
                                   "sklansky": {16: 32, 32: 80, 64: 192}[n]}
        if n == 64:
            res["front64"] = {"budget_s": budgets[n], "elapsed_s": ex["elapsed_s"],
                              "evaluated": ex["evaluated"],
                              "area_saving_at": s["area_saving_at"],
                              "hypervolume_gain": s["hypervolume_gain"],
                              "targets": {"kogge-stone": 0.10, "han-carlson": 0.05,
                                          "brent-kung": 0.03, "hypervolume": 0.10},
                              "front_points": len(ex["front"]),
                              "front_json": str(out / "explore64" / "front.json")}

    if not args.quick:
        g = construct("kogge-stone", 64)
        res["fpga"] = {"fpga_style_64": fpga_figures(g, "fpga"),
                       "asic_style_ks64": fpga_figures(g, "asic")}
    res["elapsed_s"] = round(time.monotonic() - t0, 1)
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
