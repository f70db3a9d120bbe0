"""Evaluation of prefix adders: equivalence proofs, structure checks and ASIC-style figures on
hwgen45, FPGA figures; results cached by graph hash.

Flow for the ``asic`` style (:func:`evaluate`):
1. The Amaranth ``PrefixAdder`` is exported to Verilog and synthesized by Yosys ``synth -noabc``
   (no ABC, so nothing is restructured), written as BLIF.
2. ABC ``strash``es it: its AND count must equal the graph's prediction (structure preserved) and
   ``cec`` proves it equal to Yosys's ``a + b``.
3. The structure-preserving mapping (:mod:`.mapping`) is read by ABC against hwgen45, proven equal
   to the synthesized RTL (``cec``), gate-sized (``upsize; dnsize``: drive strengths only) and
   timed (``stime``): area, delay, gate count and levels.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

from .. import toolchain
from ..errors import ToolError
from .graph import PrefixGraph
from .library import LIB_PATH
from .mapping import map_graph, predict

EVAL_VERSION = "3"
SIZING = "topo; upsize; dnsize; stime -p"


def default_cache_dir() -> Path:
    root = os.environ.get("HWGEN_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "hwgen") / "adders"


def _lib_digest() -> str:
    return hashlib.sha256(LIB_PATH.read_bytes()).hexdigest()[:12]


def reference_verilog(width: int, carry_in: bool = False, top: str = "ref") -> str:
    """``a + b`` (+ ``ci``) as plain Verilog, with the adders' port names."""
    ci = ", input ci" if carry_in else ""
    return (f"module {top}(input [{width - 1}:0] a, input [{width - 1}:0] b{ci}, "
            f"output [{width - 1}:0] s, output co);\n"
            f"  assign {{co, s}} = a + b{' + ci' if carry_in else ''};\nendmodule\n")


def adder_verilog(graph: PrefixGraph, style: str = "asic", carry_in: bool = False,
                  top: str = "top") -> str:
    from ..export import verilog_text
    from .rtl import PrefixAdder
    return verilog_text(PrefixAdder(graph, style=style, carry_in=carry_in), top)


def _abc(commands: str, cwd: Path, timeout: float = 600) -> str:
    abc = toolchain.require("abc")
    try:
        r = subprocess.run(abc + ["-c", commands], capture_output=True, text=True, cwd=cwd,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ToolError(f"abc did not finish within {timeout:.0f} s") from None
    out = re.sub(r"\x1b\[[0-9;]*m", "", r.stdout + r.stderr)
    if r.returncode != 0 or "Error" in out or "Cannot" in out:
        bad = [l for l in out.splitlines() if "rror" in l or "Cannot" in l]
        raise ToolError("abc failed: " + (" | ".join(bad[-3:]) or out[-300:]))
    return out


def _yosys(script: str, cwd: Path, timeout: float = 600) -> None:
    # YoWASP Yosys sees only its working folder, so the script and log live there too
    # (hwgen.measure.run_yosys keeps its log elsewhere, which fails when cwd is given).
    yosys = toolchain.require("yosys")
    (cwd / "run.ys").write_text(script)
    try:
        r = subprocess.run(yosys + ["-q", "-l", "yosys.log", "-s", "run.ys"], capture_output=True,
                           text=True, cwd=cwd, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ToolError(f"yosys did not finish within {timeout:.0f} s") from None
    if r.returncode != 0:
        errs = [l for l in (r.stdout + r.stderr).splitlines() if "ERROR" in l]
        raise ToolError("yosys failed: " + (" | ".join(errs[-3:]) or r.stderr.strip()[-300:]))


def synth_blif(verilog: str, top: str, cwd: Path, name: str) -> Path:
    """Yosys ``synth -noabc`` (structure kept) of ``verilog``; returns the BLIF path."""
    (cwd / f"{name}.v").write_text(verilog)
    _yosys(f"read_verilog {name}.v\nsynth -noabc -flatten -top {top}\nopt_clean -purge\n"
              f"rename {top} top\nwrite_blif {name}.blif\n", cwd=cwd)
    return cwd / f"{name}.blif"


def _reference_blif(width: int, carry_in: bool, cache: Path, dest: Path) -> None:
    """Yosys's ``a + b`` as BLIF (made once per width and kept in the cache)."""
    cache.mkdir(parents=True, exist_ok=True)
    ref = cache / f"ref-{width}-{'ci' if carry_in else 'nc'}.blif"
    if not ref.exists():
        with tempfile.TemporaryDirectory(prefix="hwgen-ref-") as tmp:
            made = synth_blif(reference_verilog(width, carry_in), "ref", Path(tmp), "ref")
            tmpf = ref.with_suffix(f".{os.getpid()}.tmp")
            tmpf.write_text(made.read_text())
            os.replace(tmpf, ref)
    dest.write_text(ref.read_text())


def prove_equal(verilog: str, top: str, width: int, carry_in: bool = False) -> bool:
    """Prove a Verilog adder (ports a, b[, ci], s, co) equal to ``a + b`` with ABC ``cec``."""
    with tempfile.TemporaryDirectory(prefix="hwgen-cec-") as tmp:
        t = Path(tmp)
        synth_blif(verilog, top, t, "dut")
        synth_blif(reference_verilog(width, carry_in), "ref", t, "ref")
        out = _abc("read dut.blif; strash; cec ref.blif", t)
    return "Networks are equivalent" in out


def _parse_stats(out: str) -> list[dict]:
    stats = []
    for m in re.finditer(r"i/o =\s*(\d+)/\s*(\d+).*?(?:and|nd) =\s*(\d+).*?lev =\s*(\d+)", out):
        stats.append({"nodes": int(m.group(3)), "lev": int(m.group(4))})
    return stats


def _area_delay(out: str) -> list[tuple[float, float]]:
    return [(float(a), float(d)) for a, d in
            re.findall(r"Area =\s*([\d.]+).*?Delay =\s*([\d.]+) ps", out)]


def evaluate(graph: PrefixGraph, *, carry_in: bool = False, cache_dir: str | Path | None = None,
             use_cache: bool = True, prove: bool = True) -> dict:
    """Prove, check and measure the ``asic`` adder of ``graph`` (see the module docstring).

    Returns a dict: ``area`` (um2), ``delay`` (ps), ``gates``, ``levels``, ``aig_ands``,
    ``predicted`` (the graph's own figures), ``structure_preserved``, ``equivalent`` and the graph
    metrics. Cached under ``cache_dir`` by graph hash. With ``prove=False`` (the search's quick
    screening) only the mapped netlist is sized and timed: the figures are the same, but
    ``equivalent``, ``structure_preserved`` and ``aig_ands`` are None.

    Raises
    ------
    ToolError
        When Yosys or ABC is missing or fails, or a proof fails.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = f"{graph.key()}-{'ci' if carry_in else 'nc'}-{_lib_digest()}-v{EVAL_VERSION}"
    cfile = cache / f"{key}.json"
    if use_cache and cfile.exists():
        try:
            res = json.loads(cfile.read_text())
            if res.get("equivalent") or not prove:
                res.update(name=graph.name)
                return res
        except json.JSONDecodeError:
            pass
    pred = predict(graph, carry_in)
    mapped = map_graph(graph, carry_in)
    with tempfile.TemporaryDirectory(prefix="hwgen-eval-") as tmp:
        t = Path(tmp)
        (t / "mapped.blif").write_text(mapped.blif)
        if prove:
            synth_blif(adder_verilog(graph, "asic", carry_in), "top", t, "dut")
            _reference_blif(graph.width, carry_in, cache, t / "ref.blif")
            out = _abc(f"read_lib -w {LIB_PATH}; read dut.blif; strash; print_stats; cec ref.blif; "
                       f"read mapped.blif; print_stats; cec dut.blif; topo; stime; {SIZING}; "
                       f"print_stats; print_gates", t)
        else:
            out = _abc(f"read_lib -w {LIB_PATH}; read mapped.blif; print_stats; topo; stime; "
                       f"{SIZING}; print_stats; print_gates", t)
        # the sizing curve: all X1 (smallest), fully upsized (fastest), and targets between
        x1 = _area_delay(out)[0]
        fast = _area_delay(out)[-1]
        targets = [fast[1] + f * (x1[1] - fast[1]) for f in (0.04, 0.1, 0.2, 0.35, 0.6)]
        cmds = "; ".join(f"read mapped.blif; topo; upsize -D {t:.1f}; dnsize -D {t:.1f}; stime"
                         for t in targets)
        curve_out = _abc(f"read_lib -w {LIB_PATH}; {cmds}", t)
    proofs = out.count("Networks are equivalent")
    if prove and proofs != 2:
        raise ToolError(f"equivalence proof failed for {graph.width}-bit graph {graph.name} "
                        f"({proofs} of 2 proofs passed)")
    st = _parse_stats(out)
    if prove:
        aig, mapped_st, sized = st[0], st[1], st[-1]
    else:
        aig, mapped_st, sized = {"nodes": None}, st[0], st[-1]
    area, delay = fast
    curve = sorted({(round(a, 3), round(d, 2)) for a, d in [x1, fast] + _area_delay(curve_out)},
                   key=lambda p: p[1])
    curve = [list(p) for p in curve]
    cells = {k: int(v) for k, v in re.findall(r"^(\w+_X\d)\s+Fanin.*?Instance =\s+(\d+)", out, re.M)}
    res = {
        "name": graph.name, **graph.metrics(), "carry_in": carry_in,
        "area": round(area, 3), "delay": round(delay, 2),
        "gates": sized["nodes"], "levels": sized["lev"], "aig_ands": aig["nodes"],
        "cells": cells, "sizing_curve": curve,
        "predicted": {"gates": pred["gates"], "levels": pred["levels"], "aig_ands": pred["aig_ands"]},
        "equivalent": True if prove else None,
    }
    res["structure_preserved"] = (res["gates"] == pred["gates"] and res["levels"] == pred["levels"]
                                  and res["aig_ands"] == pred["aig_ands"]
                                  and mapped_st["nodes"] == pred["gates"]) if prove else None
    cache.mkdir(parents=True, exist_ok=True)
    tmpf = cfile.with_suffix(f".{os.getpid()}.tmp")
    tmpf.write_text(json.dumps(res, sort_keys=True))
    os.replace(tmpf, cfile)
    return res


def abc_free_mapping(graph: PrefixGraph, carry_in: bool = False, plus: bool = False) -> dict:
    """For comparison: ABC's own delay-oriented mapper (``&nf``) on the synthesized RTL (or, with
    ``plus``, on Yosys's ``a + b``), which may restructure. Returns area, delay, gates, levels."""
    with tempfile.TemporaryDirectory(prefix="hwgen-nf-") as tmp:
        t = Path(tmp)
        if plus:
            synth_blif(reference_verilog(graph.width, carry_in), "ref", t, "dut")
        else:
            synth_blif(adder_verilog(graph, "asic", carry_in), "top", t, "dut")
        out = _abc(f"read_lib -w {LIB_PATH}; read dut.blif; strash; &get -n; &nf; &put; "
                   f"{SIZING}; print_stats", t)
    st = _parse_stats(out)[-1]
    return {"area": float(re.findall(r"Area =\s*([\d.]+)", out)[-1]),
            "delay": float(re.findall(r"Delay =\s*([\d.]+) ps", out)[-1]),
            "gates": st["nodes"], "levels": st["lev"]}


def fpga_figures(graph: PrefixGraph, style: str = "fpga", fmax: bool = True) -> dict:
    """Yosys ``synth_xilinx`` LUT/CARRY4 counts of the adder and (optionally) nextpnr-ecp5 fmax of
    the adder between input and output registers.

    (Runs Yosys/nextpnr in one folder with relative paths: YoWASP tools see only their working
    folder, which ``hwgen.measure``'s functions do not allow for yet.)
    """
    from ..measure import stat_cells
    n = graph.width
    wrapper = (f"module wrap(input clk, input [{n - 1}:0] a, input [{n - 1}:0] b, "
               f"output reg [{n}:0] q);\n  reg [{n - 1}:0] ra, rb;\n  wire [{n - 1}:0] s; wire co;\n"
               f"  top u(.a(ra), .b(rb), .s(s), .co(co));\n"
               f"  always @(posedge clk) begin ra <= a; rb <= b; q <= {{co, s}}; end\nendmodule\n")
    with tempfile.TemporaryDirectory(prefix="hwgen-fpga-") as tmp:
        t = Path(tmp)
        (t / "top.v").write_text(adder_verilog(graph, style, False))
        (t / "wrap.v").write_text(wrapper)
        _yosys("read_verilog top.v\nsynth_xilinx -flatten -family xc7 -top top\n"
               "tee -q -o stat.json stat -json\n", t)
        cells = stat_cells(json.loads((t / "stat.json").read_text()), "top")
        res = {"style": style,
               "LUT": sum(v for k, v in cells.items() if re.fullmatch(r"LUT[1-6]", k)),
               "CARRY4": sum(v for k, v in cells.items() if k in ("CARRY4", "CARRY8"))}
        if fmax:
            _yosys("read_verilog top.v wrap.v\nsynth_ecp5 -top wrap -json wrap.json\n", t)
            npr = toolchain.require("nextpnr-ecp5")
            try:
                r = subprocess.run(npr + ["--25k", "--package", "CABGA381", "--json", "wrap.json",
                                          "--lpf-allow-unconstrained", "--freq", "100", "--seed", "1",
                                          "--report", "report.json"],
                                   capture_output=True, text=True, cwd=t, timeout=1800)
            except subprocess.TimeoutExpired:
                raise ToolError("nextpnr-ecp5 did not finish within 1800 s") from None
            if r.returncode != 0 or not (t / "report.json").exists():
                raise ToolError("nextpnr-ecp5 failed: " + r.stderr.strip()[-300:])
            rep = json.loads((t / "report.json").read_text())
            res["ecp5_fmax_mhz"] = round(min(v.get("achieved", 0.0)
                                             for v in rep.get("fmax", {}).values()), 1)
    return res
