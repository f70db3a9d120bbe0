"""``hwgen adders`` commands: outputs and one-line errors."""
from __future__ import annotations

import json
from pathlib import Path

from hwgen.cli import main


def _err(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    return err


def test_generate_writes_verilog_manifest_and_graph(tmp_path, capsys):
    out = tmp_path / "ks"
    assert main(["adders", "generate", "--arch", "kogge-stone", "--width", "12", "--style", "asic",
                 "--carry-in", "--out", str(out)]) == 0
    assert "proven equal to a + b" in capsys.readouterr().out
    names = sorted(p.name for p in out.iterdir())
    assert names == [".hwgen-outputs.json", "graph.json", "hwgen_adder_kogge_stone_12_asic_ci.v",
                     "manifest.json"]
    man = json.loads((out / "manifest.json").read_text())
    assert man["config"] == {"width": 12, "arch": "kogge-stone", "style": "asic", "carry_in": True}
    assert man["adder"]["graph"]["depth"] == 4 and man["adder"]["equivalent"]
    again = tmp_path / "ks2"
    assert main(["adders", "generate", "--graph", str(out / "graph.json"), "--style", "fpga",
                 "--out", str(again), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["equivalent"] and res["graph"]["width"] == 12


def test_generate_measure_reports_asic_and_fpga_figures(tmp_path, capsys):
    """--measure: hwgen45 figures for the asic style, and xc7 LUT/CARRY4 and ECP5 fmax for the
    emitted style (the fpga style is a + b on the carry chain: n LUTs and ceil((n + 1) / 4)
    CARRY4s; the asic style's explicit prefix gates take no carry chain)."""
    from hwgen.adders import construct
    from hwgen.adders.evaluate import evaluate
    for style, ci in (("fpga", True), ("asic", False)):
        out = tmp_path / style
        assert main(["adders", "generate", "--arch", "brent-kung", "--width", "8", "--style", style,
                     "--measure", "--out", str(out)] + (["--carry-in"] if ci else []) + ["--json"]) == 0
        res = json.loads(capsys.readouterr().out)
        man = json.loads((out / "manifest.json").read_text())["adder"]
        f = res["fpga"]
        assert man["fpga"] == f and f["style"] == style and f["ecp5_fmax_mhz"] > 0
        if style == "fpga":
            assert (f["LUT"], f["CARRY4"]) == (8, 3) and "asic" not in res
        else:
            assert f["CARRY4"] == 0 and f["LUT"] > 8
            r = evaluate(construct("brent-kung", 8))
            assert res["asic"] == {k: r[k] for k in ("area", "delay", "gates", "levels")}


def test_generate_config_and_set(tmp_path, capsys):
    """--config FILE (a manifest's config) regenerates the same adder byte for byte; the flags and
    then --set override it; a graph file's adder keeps the graph's arch and width."""
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["adders", "generate", "--arch", "min-size", "--width", "16", "--out", str(one)]) == 0
    cfg = json.loads((one / "manifest.json").read_text())["config"]
    assert cfg == {"width": 16, "arch": "min-size", "style": "asic", "carry_in": False}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    assert main(["adders", "generate", "--config", str(tmp_path / "cfg.json"), "--out", str(two)]) == 0
    assert {p.name: p.read_bytes() for p in one.iterdir()} == \
        {p.name: p.read_bytes() for p in two.iterdir()}
    three = tmp_path / "three"
    assert main(["adders", "generate", "--config", str(tmp_path / "cfg.json"), "--style", "fpga",
                 "--set", "carry_in=true", "--set", "width=12", "--out", str(three), "--json"]) == 0
    capsys.readouterr()
    assert json.loads((three / "manifest.json").read_text())["config"] == {
        "width": 12, "arch": "min-size", "style": "fpga", "carry_in": True}
    assert (three / "hwgen_adder_min_size_12_fpga_ci.v").exists()
    out = tmp_path / "o"
    err = _err(capsys, ["adders", "generate", "--out", str(out)])
    assert err == "hwgen: error: give the adder: --arch NAME, --graph FILE or --config FILE"
    err = _err(capsys, ["adders", "generate", "--arch", "ripple", "--width", "8", "--set", "colour=1",
                        "--out", str(out)])
    assert err == ("hwgen: error: AdderConfig has no field 'colour'; valid fields: width, arch, "
                   "style, carry_in")
    err = _err(capsys, ["adders", "generate", "--graph", str(one / "graph.json"), "--set", "width=8",
                        "--out", str(out)])
    assert err == ("hwgen: error: --set cannot change the arch or width of a graph file's adder "
                   "(arch 'graph', width 16)")
    (tmp_path / "g.json").write_text(json.dumps({**cfg, "arch": "graph", "width": 8}))
    err = _err(capsys, ["adders", "generate", "--config", str(tmp_path / "g.json"), "--out", str(out)])
    assert err == "hwgen: error: a config with arch 'graph' needs the graph: --graph FILE"
    err = _err(capsys, ["adders", "generate", "--config", str(tmp_path / "g.json"), "--graph",
                        str(one / "graph.json"), "--out", str(out)])
    assert err == "hwgen: error: the config's width 8 does not match the graph file's width 16"
    assert not out.exists()


def test_generate_errors(tmp_path, capsys):
    out = tmp_path / "o"
    err = _err(capsys, ["adders", "generate", "--arch", "wallace", "--width", "8", "--out", str(out)])
    assert err == ("hwgen: error: unknown adder architecture 'wallace'; valid architectures: ripple, "
                   "sklansky, kogge-stone, brent-kung, han-carlson, ladner-fischer, knowles, min-size")
    err = _err(capsys, ["adders", "generate", "--arch", "ripple", "--width", "0", "--out", str(out)])
    assert err == "hwgen: error: adder width must be an integer in 1..1024, not 0"
    err = _err(capsys, ["adders", "generate", "--arch", "ripple", "--width", "8", "--style", "vlsi",
                        "--out", str(out)])
    assert err == "hwgen: error: adders generate.style must be one of asic, fpga, not 'vlsi'"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"width": 3, "nodes": [[1, 0]], "outputs": [0, 3, 2]}))
    err = _err(capsys, ["adders", "generate", "--graph", str(bad), "--out", str(out)])
    assert err == ("hwgen: error: bit 2 is not covered: output 2 must be a node covering [2:0], "
                   "not [2:2]")
    err = _err(capsys, ["adders", "generate", "--arch", "ripple", "--out", str(out)])
    assert err == "hwgen: error: --width is required with --arch"
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"width": 2, "nodes": [[1, 0]], "outputs": [0, 2]}))
    err = _err(capsys, ["adders", "generate", "--graph", str(good), "--width", "4", "--out", str(out)])
    assert err == "hwgen: error: --width 4 does not match the graph file's width 2"
    good.unlink()
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json"]


def test_explore_errors(tmp_path, capsys):
    out = tmp_path / "e"
    err = _err(capsys, ["adders", "explore", "--width", "8", "--budget-s", "-1", "--out", str(out)])
    assert err == "hwgen: error: explore budget must be a positive number of seconds, not -1.0"
    err = _err(capsys, ["adders", "explore", "--width", "0", "--budget-s", "5", "--out", str(out)])
    assert err == "hwgen: error: explore.width must be an integer in 2..256, not 0"
    assert not out.exists()


def test_explore_writes_front(tmp_path, capsys):
    out = tmp_path / "x"
    assert main(["adders", "explore", "--width", "8", "--budget-s", "8", "--out", str(out),
                 "--cache", str(tmp_path / "cache"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    doc = json.loads((out / "front.json").read_text())
    assert doc["front"] and (out / "front.png").stat().st_size > 1000
    for p in doc["front"]:
        assert set(("name", "size", "depth", "max_fanout", "area", "delay", "levels", "verilog")) <= set(p)
        text = (out / p["verilog"]).read_text()
        assert "module hwgen_adder_" in text and p["equivalent"]
    delays = [p["delay"] for p in doc["front"]]
    areas = [p["area"] for p in doc["front"]]
    assert delays == sorted(delays) and areas == sorted(areas, reverse=True)
    names = {b["name"] for b in doc["baselines"]}
    assert {"kogge-stone", "brent-kung", "sklansky", "ripple", "a+b"} <= names
    for b in doc["baselines"]:  # every baseline's Verilog is written, a + b's included
        assert f"module {Path(b['verilog']).stem}" in (out / b["verilog"]).read_text()
    plus = next(b for b in doc["baselines"] if b["name"] == "a+b")
    assert "assign {co, s} = a + b;" in (out / plus["verilog"]).read_text()
    assert doc["summary"]["min_size_at_min_depth"] == 12  # 8 bits, depth 3
    assert res["summary"] == doc["summary"]
    assert not res["starved"] and res["searched"] == doc["searched"] > 0
    # a second run resumes from the cache
    assert main(["adders", "explore", "--width", "8", "--budget-s", "8", "--out", str(out),
                 "--cache", str(tmp_path / "cache")]) == 0
    text = capsys.readouterr().out
    assert "Pareto front" in text and "the search had no time" not in text


def test_explore_tiny_budget_keeps_baselines(tmp_path, capsys):
    # the classic baselines are evaluated before (and regardless of) the search budget
    out = tmp_path / "x"
    assert main(["adders", "explore", "--width", "8", "--budget-s", "0.01", "--out", str(out),
                 "--cache", str(tmp_path / "cache"), "--json"]) == 0
    doc = json.loads((out / "front.json").read_text())
    names = {b["name"] for b in doc["baselines"]}
    assert {"kogge-stone", "brent-kung", "sklansky", "ripple", "a+b"} <= names
    res = json.loads(capsys.readouterr().out)
    assert res["starved"] and res["baselines_s"] > 0.01 and res["budget_s"] == 0.01
    assert doc["baselines_s"] == res["baselines_s"] and doc["searched"] == res["searched"]
    assert doc["starved"]
    # the table says why the front is only the baselines, and what to do
    assert main(["adders", "explore", "--width", "8", "--budget-s", "0.01", "--out", str(out),
                 "--cache", str(tmp_path / "cache")]) == 0
    assert "so the search had no time; run again with the same cache" in capsys.readouterr().out
