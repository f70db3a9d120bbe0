"""``hwgen adders explore``: run the search and write the front (JSON, Verilog, plot)."""
from __future__ import annotations

import json
import math
from pathlib import Path

from ..configbase import check_int
from ..errors import ConfigError
from ..outdir import staged_output
from .constructions import CLASSIC
from .search import (area_at, expand, explore, hypervolume, hypervolume_between, pareto,
                     reference_point)

FIELDS = ("name", "sizing", "flow", "size", "depth", "max_fanout", "area", "delay", "levels",
          "gates")


def check_explore_args(width: int, budget_s: float, jobs: int | None = None) -> None:
    check_int("explore", "width", width, 2, 256)
    if isinstance(budget_s, bool) or not isinstance(budget_s, (int, float)) or not budget_s > 0 \
            or math.isinf(budget_s):
        raise ConfigError(f"explore budget must be a positive number of seconds, not {budget_s}")
    if jobs is not None:
        check_int("explore", "jobs", jobs, 1, 64)


def summarize(points: list[dict]) -> dict:
    """Front, classic front, and the comparison figures the acceptance list names."""
    front = pareto(points)
    classic = [p for p in points if p["name"] in CLASSIC]
    cfront = pareto(classic)
    out = {"hypervolume_gain": None, "area_saving_at": {}}
    if classic:
        ref = reference_point(classic)
        hv_c = hypervolume(cfront, ref)
        out["hypervolume_ref"] = {"delay": round(ref[0], 2), "area": round(ref[1], 2)}
        out["hypervolume_gain"] = round(hypervolume(front, ref) / hv_c - 1, 4) if hv_c else None
        # a structure's delay is its fastest (fully upsized) point
        fastest = {p["name"]: p["delay"] for p in sorted(classic, key=lambda p: -p["delay"])}
        # where the gain lies: bands between the compared classics' fastest delays
        edges = sorted({min(p["delay"] for p in front), ref[0]} | {fastest[nm] for nm in (
            "kogge-stone", "han-carlson", "brent-kung") if nm in fastest and fastest[nm] < ref[0]})
        if hv_c:
            out["hypervolume_gain_by_delay"] = [
                {"from": round(lo, 2), "to": round(hi, 2),
                 "gain": round((hypervolume_between(front, ref, lo, hi)
                                - hypervolume_between(cfront, ref, lo, hi)) / hv_c, 4)}
                for lo, hi in zip(edges, edges[1:])]
        if hv_c:
            out["hypervolume_gain_by_reference"] = gain_by_reference(front, cfront, classic, ref,
                                                                     fastest)
        for nm in ("kogge-stone", "han-carlson", "brent-kung", "sklansky", "ladner-fischer"):
            if nm in fastest:
                a_s, a_c = area_at(front, fastest[nm]), area_at(cfront, fastest[nm])
                out["area_saving_at"][nm] = round(1 - a_s / a_c, 4) if a_c < math.inf else None
    d0 = min((p["depth"] for p in points), default=0)
    out["min_size_at_min_depth"] = min((p["size"] for p in points if p["depth"] == d0), default=None)
    out["min_depth"] = d0
    return out


def gain_by_reference(front: list[dict], cfront: list[dict], classic: list[dict],
                      ref: tuple[float, float], fastest: dict[str, float]) -> list[dict]:
    """How much the hypervolume gain depends on the reference delay (the reference area kept):
    the gain with the reference delay at each compared classic's fastest delay, at 1.1 x
    Brent-Kung's, at the defined reference (:func:`reference_point`) and at 1.1 x the slowest
    classic point, ripple's included. A report for readers of the bench, not a second target."""
    refs = [(f"{nm} fastest", fastest[nm]) for nm in ("kogge-stone", "han-carlson", "brent-kung")
            if nm in fastest]
    if "brent-kung" in fastest:
        refs.append(("1.1 x brent-kung fastest", 1.1 * fastest["brent-kung"]))
    refs.append(("defined reference", ref[0]))
    refs.append(("1.1 x slowest classic, ripple included", 1.1 * max(p["delay"] for p in classic)))
    out = []
    for what, d in refs:
        hv_c = hypervolume(cfront, (d, ref[1]))
        if hv_c > 0:
            out.append({"reference": what, "delay": round(d, 2),
                        "gain": round(hypervolume(front, (d, ref[1])) / hv_c - 1, 4)})
    return out


def plot_front(points: list[dict], front: list[dict], path: Path, width: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 5), dpi=110)
    t_min = min(q["delay"] for q in points)
    others = [p for p in points if p["name"] not in CLASSIC and p["delay"] < 3 * t_min + 1]
    ax.scatter([p["delay"] for p in others], [p["area"] for p in others], s=8, c="0.7",
               label="evaluated")
    ax.step([p["delay"] for p in front], [p["area"] for p in front], where="post", c="C0")
    ax.scatter([p["delay"] for p in front], [p["area"] for p in front], s=18, c="C0",
               label="searched front")
    classic = [p for p in points if p["name"] in CLASSIC]
    if classic:
        cfront = pareto(classic)
        ax.step([p["delay"] for p in cfront], [p["area"] for p in cfront], where="post", c="C3",
                ls="--", lw=1, label="classic front")
        ref = reference_point(classic)
        ax.axvline(ref[0], c="0.5", ls=":", lw=1, label="hypervolume reference delay")
    for p in points:
        if p["name"] in CLASSIC or p["name"] == "a+b":
            fastest = p.get("sizing", "min-delay") == "min-delay"
            ax.scatter([p["delay"]], [p["area"]], marker="s", c="C3", s=30 if fastest else 8)
            if fastest:
                ax.annotate(p["name"], (p["delay"], p["area"]), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")
    ax.scatter([], [], marker="s", c="C3", label="baselines")
    ax.set_xscale("log")  # the fast structures crowd near the smallest delay
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("delay (ps, hwgen45, log scale)")
    ax.set_ylabel("area (um2, hwgen45)")
    ax.set_title(f"{width}-bit prefix adders: area vs delay")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run_explore(width: int, budget_s: float, out: str | Path, *, cache_dir: str | Path | None = None,
                jobs: int | None = None, progress=None) -> dict:
    """Search, then write ``front.json``, one Verilog (and graph JSON) per Pareto point and per
    baseline, and ``front.png`` under ``out`` (staged: all or nothing). Returns the summary."""
    from .evaluate import abc_free_mapping, adder_verilog, default_cache_dir, reference_verilog
    from .constructions import construct
    check_explore_args(width, budget_s, jobs)
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    res = explore(width, budget_s, cache, jobs=jobs, progress=progress)
    if not res["points"]:
        raise ConfigError(f"explore evaluated no graph within {budget_s} s; give a larger budget")
    points = expand(res["points"])
    front = pareto(points)
    summary = summarize(points)
    # a + b as synthesized by Yosys and mapped freely by ABC (may restructure): a reference only
    plus = {"name": "a+b", **abc_free_mapping(construct("ripple", width), plus=True)}
    # the baselines took the time meant for searching: say so rather than show a bare front
    starved = res["baselines_s"] >= res["search_s"]
    with staged_output(out) as stage:
        (stage / "verilog").mkdir()
        (stage / "graphs").mkdir()
        entries, baselines = [], []
        for p in front:
            g = res["graphs"][p["name"]]
            vfile = f"verilog/hwgen_adder_{_safe(p['name'])}_{width}.v"
            if not (stage / vfile).exists():
                (stage / vfile).write_text(res["verilog"].get(p["name"]) or adder_verilog(
                    g, "asic", False, top=f"hwgen_adder_{_safe(p['name'])}_{width}"))
                g.save(stage / "graphs" / f"{_safe(p['name'])}.json")
            entries.append({**{k: p[k] for k in FIELDS}, "verilog": vfile,
                            "graph": f"graphs/{_safe(p['name'])}.json", "equivalent": p["equivalent"]})
        for p in sorted((p for p in points if p["name"] in CLASSIC and p["sizing"] == "min-delay"),
                        key=lambda p: p["delay"]):
            g = res["graphs"][p["name"]]
            vfile = f"verilog/hwgen_adder_{_safe(p['name'])}_{width}.v"
            if not (stage / vfile).exists():
                (stage / vfile).write_text(res["verilog"].get(p["name"]) or adder_verilog(
                    g, "asic", False, top=f"hwgen_adder_{_safe(p['name'])}_{width}"))
            baselines.append({**{k: p[k] for k in FIELDS}, "verilog": vfile,
                              "sizing_curve": p["sizing_curve"]})
        # the very text that was measured, with the adders' port names
        vfile = f"verilog/hwgen_adder_a_plus_b_{width}.v"
        (stage / vfile).write_text(reference_verilog(width, top=f"hwgen_adder_a_plus_b_{width}"))
        baselines.append({"name": "a+b", "area": plus["area"], "delay": plus["delay"],
                          "gates": plus["gates"], "levels": plus["levels"],
                          "sizing": "min-delay", "verilog": vfile,
                          "note": "Yosys a + b, mapped by ABC &nf (restructured)"})
        doc = {"width": width, "library": "hwgen45", "budget_s": budget_s,
               "elapsed_s": res["elapsed_s"], "evaluated": res["evaluated"],
               "searched": res["searched"], "baselines_s": res["baselines_s"], "starved": starved,
               "errors": res["errors"], "front": entries, "baselines": baselines,
               "summary": summary}
        (stage / "front.json").write_text(json.dumps(doc, indent=1) + "\n")
        plot_front(points + [plus], front, stage / "front.png", width)
    return {"front": entries, "baselines": baselines, "summary": summary,
            "evaluated": res["evaluated"], "searched": res["searched"],
            "elapsed_s": res["elapsed_s"], "budget_s": budget_s, "baselines_s": res["baselines_s"],
            "starved": starved}


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)
