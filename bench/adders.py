"""Adders acceptance bench: prints one JSON object.

- structure: for n = 16, 32, 64 every classic structure's mapped gate count and levels against the
  graph's own prediction, and its equivalence proof;
- min_size: the smallest graph of depth log2 n that explore finds for n = 16, 32, 64;
- front64: a 64-bit explore with the given budget (default 20 minutes) against the classic front;
- fpga: synth_xilinx LUT/CARRY4 and nextpnr-ecp5 fmax of the fpga and asic styles at 64 bits.

``--probe-sizing`` instead evaluates the 64-bit classics and min_size(64, d, f) (d = 6, 7; fanout
caps 2, 3, 4, 6, 8, 16) with the evaluation flow (ABC's sizing plus hwgen's sizer with fanout
buffering): each graph's fastest delay under both flows and its smallest area at Kogge-Stone's
fastest delay and at 1.05x and 1.1x of it (one JSON line per graph on stderr as it finishes).

Usage: .venv/bin/python bench/adders.py [--budget-s 1200] [--quick] [--out build/bench_adders]
       .venv/bin/python bench/adders.py --probe-sizing [--cache DIR]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def probe_sizing(jobs: int = 2, cache: str | None = None) -> dict:
    """For the 64-bit classics and min_size(64, d, f) (d in 6, 7; fanout caps 2..16), with the
    evaluation flow (ABC's sizing and hwgen's sizer with fanout buffering, best points of both):
    the fastest delay under each flow and the smallest area at Kogge-Stone's fastest delay (and
    1.05x, 1.1x of it)."""
    import multiprocessing as mp
    from hwgen.adders.constructions import construct, min_size
    graphs = [construct(a, 64) for a in ("kogge-stone", "knowles", "sklansky", "han-carlson",
                                         "ladner-fischer", "brent-kung")]
    graphs += [min_size(64, d, f) for d in (6, 7) for f in (2, 3, 4, 6, 8, 16)]
    ks = _probe_one((graphs[0].to_dict(), (), cache))
    t_ks = ks["delay"]
    targets = (t_ks, round(t_ks * 1.05, 2), round(t_ks * 1.1, 2))
    with mp.get_context("fork").Pool(jobs) as pool:
        rows = pool.map(_probe_one, [(g.to_dict(), targets, cache) for g in graphs], chunksize=1)
    out: dict = {}
    for r in rows:
        curve = r.pop("curve")
        for f, t in zip(("1", "1.05", "1.1"), targets):
            ok = [a for a, d in curve if d <= t + 1e-9]
            r[f"area_at_{f}x_ks"] = min(ok) if ok else None
        out[r.pop("name")] = r
    classic = [g.name for g in graphs[:6]]
    front = {}
    for f in ("1", "1.05", "1.1"):
        got = [out[c][f"area_at_{f}x_ks"] for c in classic if out[c][f"area_at_{f}x_ks"]]
        front[f] = min(got) if got else None
    for r in out.values():
        for f in ("1", "1.05", "1.1"):
            a, b = r[f"area_at_{f}x_ks"], out["kogge-stone"][f"area_at_{f}x_ks"]
            r[f"saving_vs_ks_at_{f}x"] = round(1 - a / b, 4) if a and b else None
            # what the acceptance figure compares with: the classic front (any classic graph)
            b = front[f]
            r[f"saving_vs_classic_front_at_{f}x"] = round(1 - a / b, 4) if a and b else None
    return {"bench": "adders-sizing-probe", "library": "hwgen45", "width": 64,
            "ks_fastest_delay": t_ks, "targets": targets, "classic_front_area": front,
            "graphs": out}


def _probe_one(args) -> dict:
    from hwgen.adders.evaluate import evaluate
    from hwgen.adders.graph import PrefixGraph
    gd, targets, cache = args
    g = PrefixGraph.from_dict(gd)
    t0 = time.monotonic()
    r = evaluate(g, prove=False, sizer=targets, cache_dir=cache)
    abc = r["abc_curve"][0]
    hw = min(r["hwgen_curve"], key=lambda p: (p[1], p[0])) if r.get("hwgen_curve") else None
    row = {"name": g.name, "size": g.size, "depth": g.depth, "max_fanout": g.max_fanout,
           "delay": r["delay"], "area_at_fastest": r["area"],
           "abc_fastest": {"area": abc[0], "delay": abc[1]},
           "hwgen_fastest": {"area": hw[0], "delay": hw[1]} if hw else None,
           "hwgen_buffers": r.get("hwgen_buffers"), "eval_s": round(time.monotonic() - t0, 1),
           "curve": r["sizing_curve"]}
    print(json.dumps({k: v for k, v in row.items() if k != "curve"}), file=sys.stderr, flush=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget-s", type=float, default=1200.0, help="64-bit explore budget")
    ap.add_argument("--quick", action="store_true", help="short budgets, no nextpnr")
    ap.add_argument("--out", default="build/bench_adders")
    ap.add_argument("--cache", default=None, help="evaluation cache (default ~/.cache/hwgen/adders)")
    ap.add_argument("--probe-sizing", action="store_true",
                    help="only compare the sizing flows on the classics and min-size graphs")
    args = ap.parse_args()
    if args.probe_sizing:
        print(json.dumps(probe_sizing(cache=args.cache), indent=1))
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
                              "hypervolume_gain_by_delay": s.get("hypervolume_gain_by_delay"),
                              "hypervolume_gain_by_reference": s.get(
                                  "hypervolume_gain_by_reference"),
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
