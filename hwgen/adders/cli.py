"""``hwgen adders ...``: generate, explore, show."""
from __future__ import annotations

import json
from pathlib import Path

from ..cliutil import Progress, add_config_flags, add_json, add_out, emit, table
from ..errors import ConfigError


def register(sub) -> None:
    p = sub.add_parser("adders", help="parallel-prefix adders: generate, evaluate, explore")
    s = p.add_subparsers(dest="adders_cmd", metavar="ACTION")
    s.required = True

    g = s.add_parser("generate", help="write the Verilog of one prefix adder",
                     description="The adder is an AdderConfig (width, arch, style, carry_in): from "
                                 "--config FILE (a JSON object, e.g. a manifest's 'config'), then "
                                 "the flags, then --set; or a prefix graph from --graph FILE.")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--arch", metavar="NAME", help="construction (see `hwgen adders list`)")
    src.add_argument("--graph", metavar="FILE", help="prefix graph JSON file")
    g.add_argument("--width", type=int, help="bits (required with --arch)")
    g.add_argument("--style", default=None, help="asic (explicit prefix gates, the default) or "
                                                 "fpga (+)")
    g.add_argument("--carry-in", action="store_true", default=None, help="add a carry input ci")
    add_config_flags(g)
    g.add_argument("--no-prove", action="store_true", help="skip the equivalence proof")
    g.add_argument("--measure", action="store_true",
                   help="also measure it: hwgen45 area/delay (asic style) and, for either style, "
                        "xc7 LUT/CARRY4 and ECP5 fmax")
    add_out(g)
    add_json(g)
    g.set_defaults(func=_generate)

    e = s.add_parser("explore", help="search prefix graphs on the area-delay plane")
    e.add_argument("--width", type=int, required=True, help="bits")
    e.add_argument("--budget-s", type=float, required=True, metavar="S", help="search time, seconds")
    e.add_argument("--jobs", type=int, default=None, help="worker processes (default: every CPU this process may use, at most 64)")
    e.add_argument("--cache", metavar="DIR", help="evaluation cache (default ~/.cache/hwgen/adders)")
    add_out(e)
    add_json(e)
    e.set_defaults(func=_explore)

    li = s.add_parser("list", help="the constructions and their metrics at a width")
    li.add_argument("--width", type=int, default=32)
    li.add_argument("--measure", action="store_true", help="also area/delay on hwgen45")
    add_json(li)
    li.set_defaults(func=_list)


def resolve_adder(args):
    """The graph and the AdderConfig that ``generate``'s flags select: ``--config FILE`` (if
    given), then ``--arch``/``--width``/``--style``/``--carry-in``, then ``--set``; or the graph
    of ``--graph FILE`` (the config's arch is then ``graph`` and its width the graph's)."""
    import dataclasses
    from ..configbase import apply_overrides, check_choice, load_config
    from .config import AdderConfig
    from .constructions import construct
    from .graph import PrefixGraph
    from .rtl import STYLES
    if args.style is not None:
        check_choice("adders generate", "style", args.style, STYLES)
    base = load_config(AdderConfig, args.config) if getattr(args, "config", None) else None
    fields = {"style": args.style, "carry_in": args.carry_in}
    graph = None
    if args.graph:
        graph = PrefixGraph.load(args.graph)
        if args.width is not None and args.width != graph.width:
            raise ConfigError(f"--width {args.width} does not match the graph file's width "
                              f"{graph.width}")
        if base is not None and base.width != graph.width:
            raise ConfigError(f"the config's width {base.width} does not match the graph file's "
                              f"width {graph.width}")
        fields.update(arch="graph", width=graph.width)
    else:
        if args.arch is None and base is None:
            raise ConfigError("give the adder: --arch NAME, --graph FILE or --config FILE")
        if args.arch is not None and args.width is None and base is None:
            raise ConfigError("--width is required with --arch")
        if args.arch is not None:  # the construction's own messages for a bad name or width
            construct(args.arch, args.width if args.width is not None else base.width)
        fields.update(arch=args.arch, width=args.width)
    given = {k: v for k, v in fields.items() if v is not None}
    cfg = dataclasses.replace(base, **given) if base is not None else AdderConfig(**given)
    cfg = apply_overrides(cfg, getattr(args, "set", None))
    if graph is not None:
        if (cfg.arch, cfg.width) != ("graph", graph.width):
            raise ConfigError(f"--set cannot change the arch or width of a graph file's adder "
                              f"(arch 'graph', width {graph.width})")
        return graph, cfg
    if cfg.arch == "graph":
        raise ConfigError("a config with arch 'graph' needs the graph: --graph FILE")
    return construct(cfg.arch, cfg.width), cfg


def generate(graph, style: str, carry_in: bool, out: str | Path, *, prove: bool = True,
             measure: bool = False, arch: str | None = None) -> dict:
    """Write ``hwgen_adder_<slug>.v``, ``graph.json`` and ``manifest.json`` into ``out``.
    ``arch`` is the construction the graph was built by (default: the graph's name if that is
    one, else ``graph``); it goes into the manifest's config."""
    from ..export import export_verilog
    from .config import AdderConfig
    from .evaluate import adder_verilog, evaluate, fpga_figures, prove_equal
    from .rtl import PrefixAdder
    arch = arch or (graph.name if graph.name in _arch_names() else "graph")
    cfg = AdderConfig(width=graph.width, arch=arch, style=style, carry_in=carry_in)
    slug = cfg.slug if arch != "graph" else f"{_safe(graph.name)}_{graph.width}_{style}" + \
        ("_ci" if carry_in else "")
    info = {"graph": graph.metrics(), "name": graph.name}
    if prove:
        top = "dut"
        if not prove_equal(adder_verilog(graph, style, carry_in, top=top), top, graph.width, carry_in):
            raise ConfigError(f"the {graph.width}-bit {graph.name} adder is not equal to a + b")
        info["equivalent"] = True
    if measure and style == "asic":
        r = evaluate(graph, carry_in=carry_in)
        info["asic"] = {k: r[k] for k in ("area", "delay", "gates", "levels")}
    if measure:  # the emitted style on FPGAs: xc7 LUT/CARRY4 and ECP5 fmax between registers
        info["fpga"] = fpga_figures(graph, style, carry_in=carry_in)
    ex = export_verilog(PrefixAdder(graph, style=style, carry_in=carry_in), out, kind="adder",
                        slug=slug, config=cfg, extra={"adder": info},
                        extra_files={"graph.json": json.dumps(graph.to_dict(), indent=1) + "\n"})
    return {"verilog": str(ex.verilog), "manifest": str(ex.manifest), **info}


def _arch_names():
    from .constructions import ARCHITECTURES
    return ARCHITECTURES


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def _generate(args) -> int:
    graph, cfg = resolve_adder(args)
    res = generate(graph, cfg.style, cfg.carry_in, args.out, prove=not args.no_prove,
                   measure=args.measure, arch=cfg.arch)
    def render(r):
        m = r["graph"]
        lines = [f"wrote {r['verilog']}",
                 f"{r['name']}: {m['width']} bits, {m['size']} prefix nodes, depth {m['depth']}, "
                 f"max fanout {m['max_fanout']}" + (", proven equal to a + b" if r.get("equivalent") else "")]
        if "asic" in r:
            a = r["asic"]
            lines.append(f"hwgen45: area {a['area']} um2, delay {a['delay']} ps, {a['gates']} gates, "
                         f"{a['levels']} levels")
        if "fpga" in r:
            f = r["fpga"]
            lines.append(f"FPGA ({f['style']} style): xc7 {f['LUT']} LUT + {f['CARRY4']} CARRY4; "
                         f"ECP5-25k fmax {f['ecp5_fmax_mhz']} MHz between registers")
        return "\n".join(lines)
    emit(res, args, render)
    return 0


def _explore(args) -> int:
    from .explore import check_explore_args, run_explore
    check_explore_args(args.width, args.budget_s, args.jobs)
    prog = Progress(f"explore {args.width} bits", every_s=5.0)
    res = run_explore(args.width, args.budget_s, args.out, cache_dir=args.cache, jobs=args.jobs,
                      progress=prog.update)
    prog.close()
    emit(res, args, lambda r: render_front(r, args.out))
    return 0


def render_front(r: dict, out) -> str:
    shown, seen = [], set()
    for p in r["front"]:  # one row per graph: its fastest point on the front
        if p["name"] not in seen:
            seen.add(p["name"])
            shown.append(p)
    rows = [[p["name"], p["sizing"], p.get("flow", "abc"), p["size"], p["depth"], p["max_fanout"],
             p["area"], p["delay"], p["levels"]] for p in shown]
    s = r["summary"]
    lines = [f"evaluated {r['evaluated']} graphs in {r['elapsed_s']} s; Pareto front "
             f"({len(r['front'])} points of {len(shown)} graphs; fastest point of each shown):",
             table(rows, ["name", "sizing", "flow", "size", "depth", "fanout", "area um2",
                          "delay ps", "levels"]),
             "baselines:",
             table([[p["name"], p.get("size", "-"), p.get("depth", "-"), p["area"], p["delay"]]
                    for p in r["baselines"]], ["name", "size", "depth", "area um2", "delay ps"]),
             f"smallest graph at depth {s['min_depth']}: {s['min_size_at_min_depth']} nodes; "
             f"hypervolume vs classic front: {s['hypervolume_gain']:+.1%}" if s["hypervolume_gain"]
             is not None else "",
             "area saved at a classic structure's delay: " + ", ".join(
                 f"{k} {v:+.1%}" for k, v in s["area_saving_at"].items() if v is not None),
             f"wrote {Path(out) / 'front.json'}, {Path(out) / 'front.png'}, {Path(out) / 'verilog'}/"]
    if r.get("starved"):
        lines.insert(-1, f"note: the classic baselines took {r['baselines_s']:g} s of the "
                         f"{r['budget_s']:g} s budget, so the search had no time; run again with "
                         "the same cache (it resumes) or give a larger --budget-s")
    return "\n".join(l for l in lines if l)


def _list(args) -> int:
    from .constructions import ARCHITECTURES, construct
    from .evaluate import evaluate
    rows = []
    for name in ARCHITECTURES:
        g = construct(name, args.width)
        row = {**g.metrics(), "name": name}
        if args.measure:
            r = evaluate(g)
            row.update(area=r["area"], delay=r["delay"], gates=r["gates"], levels=r["levels"])
        rows.append(row)
    cols = ["name", "size", "depth", "max_fanout", "snir_slack"] + (
        ["area", "delay", "gates", "levels"] if args.measure else [])
    emit(rows, args, lambda rs: table([[r[c] for c in cols] for r in rs], cols))
    return 0
