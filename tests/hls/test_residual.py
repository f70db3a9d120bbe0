"""Residual ``add`` and ``avgpool`` layers in the HLS back end: C simulation bit-exact against the
golden model (adds of 2 and 3 inputs with and without activation, padded and global average
pools, a network ending in a conv, resnet-tiny, a MobileNetV2-style detector), the skip FIFOs
against the lag of the branches, and the new refusals."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from hwgen.cli import main
from hwgen.errors import ModelError
from hwgen.hls import csim, emit, perf
from hwgen.hls.config import HlsConfig
from hwgen.hls.dataflow import run_dataflow, simulate_plan
from hwgen.nn.ir import Layer, Network
from hwgen.nn.models import build_model

L = Layer
MBV2_TINY = Path(__file__).with_name("mbv2_det_tiny.json")


def _residual_network() -> Network:
    """An inverted residual block (linear 1x1 projection, add without activation), a 3-input add
    with ReLU whose inputs lag by 0, 1 and 2 window rows, a 4-input add with ReLU6, a padded
    strided 3x3 average pool, a global 6x6 average pool, and a 1x1 conv as the output (no head)."""
    return Network(name="residual", input_shape=(11, 11, 4), layers=(
        L(name="c1", kind="conv", out_channels=6, kernel=3, padding="same", activation="relu6"),
        L(name="exp", kind="conv", out_channels=12, kernel=1, activation="relu6"),
        L(name="dw", kind="conv", out_channels=12, kernel=3, groups=12, padding="same", activation="relu6"),
        L(name="proj", kind="conv", out_channels=6, kernel=1),
        L(name="add2", kind="add", inputs=("proj", "c1")),
        L(name="b", kind="conv", inputs=("add2",), out_channels=6, kernel=3, padding="same", activation="relu"),
        L(name="add3", kind="add", inputs=("b", "add2", "c1"), activation="relu"),
        L(name="add4", kind="add", inputs=("add3", "b", "add2", "c1"), activation="relu6"),
        L(name="ap", kind="avgpool", kernel=3, stride=2, padding="same"),
        L(name="gp", kind="avgpool", kernel=6, stride=6),
        L(name="fc", kind="conv", out_channels=5, kernel=1),
    ))


def _write(net: Network, path: Path) -> str:
    path.write_text(json.dumps(net.to_dict()))
    return str(path)


def _cycles_match(project: Path, r) -> None:
    model = json.loads((project / "model.json").read_text())
    assert r.cycles == {l["name"]: l["cycles"] for l in model["layers"]}


@pytest.fixture(scope="module")
def residual_project(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("residual")
    cfg = HlsConfig(model=_write(_residual_network(), tmp / "residual.json"), board="pynq-z2", fps=100,
                    clock_mhz=100, seed=2)
    design = emit.generate(cfg, tmp / "p")
    return tmp / "p", design


def test_adds_and_average_pools_are_bit_exact(residual_project):
    project, design = residual_project
    top = design.top
    cpp = (project / f"{top}.cpp").read_text()
    assert "hwgen::add<add2_config>(s_proj, s_c1_to_add2, s_add2, add2_w," in cpp
    assert "hwgen::add<add3_config>(s_b_to_add3, s_add2_to_add3, s_c1_to_add3, s_add3," in cpp
    assert "hwgen::add<add4_config>(s_add3, s_b_to_add4, s_add2_to_add4, s_c1_to_add4, s_add4," in cpp
    assert "hwgen::avgpool2d<ap_config>(s_add4, s_ap," in cpp            # padded: the sliding window
    assert "hwgen::avgpool_tiled<gp_config>(s_ap, s_gp," in cpp          # global: partial sums only
    assert "hwgen::stream_to_axis<" + f"{top}_cfg::act_t, 5, 8>(s_fc, out)" in cpp
    config = (project / f"{top}_config.h").read_text()
    assert "// gp: global 6x6 average pooling, stride 6, tiled (partial sums, no line buffer)" in config
    assert "// add3: residual add of b, add2, c1, relu" in config
    assert (project / f"{top}_weights.h").read_text().count("add3_w[3][6] = {") == 1
    header = (project / f"{top}.h").read_text()
    assert "output: map fc, 1x1x5\n// (5 beats" in header and f"axis_word<8> {top}_out_t" in header
    r = csim.run_csim(project, images=3, seed=4)
    assert r.mismatches == 0, r.layers
    assert set(r.layers) >= {"add2", "add3", "add4", "ap", "gp", "fc", "axis_out"}
    _cycles_match(project, r)
    assert r.cycles["add3"] == 11 * 11 * 6 and r.cycles["gp"] == 6 * 6 * 6
    # the output stream is the fc map of every image, as the golden model computes it
    assert len(r.records) == 3 and all(len(rec) == 5 for rec in r.records)
    assert len({tuple(rec) for rec in r.records}) > 1


def test_residual_weights_reach_the_roms(residual_project, tmp_path):
    """A changed add weight in quant.npz makes the add (and only what follows it) disagree."""
    import shutil
    project, _ = residual_project
    bad = tmp_path / "bad"
    shutil.copytree(project, bad)
    data = dict(np.load(bad / "quant.npz"))
    data["add3.weight"] = data["add3.weight"] + 1
    np.savez(bad / "quant.npz", **data)
    r = csim.run_csim(bad, images=1)
    assert r.layers["add3"] > 0 and r.layers["add2"] == 0 and r.layers["b"] == 0


def test_resnet_tiny_classifier_is_bit_exact(tmp_path):
    cfg = HlsConfig(model="resnet-tiny", board="ultra96", fps=1000, clock_mhz=200, seed=1)
    design = emit.generate(cfg, tmp_path / "p")
    r = csim.run_csim(tmp_path / "p", images=2)
    assert r.mismatches == 0, r.layers
    _cycles_match(tmp_path / "p", r)
    assert [len(rec) for rec in r.records] == [10, 10]
    assert design.plan.fps_simulated >= 1000


def test_mbv2_detector_tiny_generates_simulates_and_projects(tmp_path, capsys):
    out = tmp_path / "gen"
    assert main(["hls", "generate", "--model", str(MBV2_TINY), "--board", "ultra96", "--fps", "2000",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "mbv2_det_tiny on ultra96 at 200 MHz" in text and "b3_1_add" in text
    assert "3 skip FIFOs of residual adds: 628 words for a lag of 388 words between the branches (the maps " \
           "they carry: 1920 words)" in text
    model = json.loads((out / "model.json").read_text())
    assert model["fps_simulated"] >= 2000
    skips = {(f["add"], f["input"]): f for f in model["add_fifos"]}
    # the skip of b3_1 waits for expand (1x1), depthwise 3x3 and projection: a row and a pixel
    # of the 4x8 map ahead, given those 9 pixels plus 4 of slack, not the map
    s = skips[("b3_1_add", "b3_0_proj")]
    assert (s["lag_pixels"], s["lag_words"], s["fifo_words"], s["map_words"]) == (9, 9 * 16, 13 * 16, 4 * 8 * 16)
    assert skips[("b3_1_add", "b3_1_proj")]["lag_pixels"] == 0
    r = csim.run_csim(out, images=3, seed=5)
    assert r.mismatches == 0, r.layers
    _cycles_match(out, r)
    assert len(r.records) == 3 and all(len(rec) == 8 for rec in r.records)
    assert main(["hls", "project", "--set", f"model={MBV2_TINY}", "--set", "fps=2000",
                 "--out", str(tmp_path / "proj")]) == 0
    assert (tmp_path / "proj" / "bd.tcl").exists() and (tmp_path / "proj" / "hls" / "model.json").exists()


def test_skip_fifos_hold_the_lag_not_the_map():
    """Each add input's FIFO against the lag derived from the branches and the smallest depth a
    bounded-FIFO execution finishes with."""
    for net in (Network.load(MBV2_TINY), build_model("resnet-tiny")):
        depths = perf.fifo_depths(net)
        assert not run_dataflow(net, depths).deadlock
        lagging = [s for s in perf.skip_fifos(net, depths) if s["lag_pixels"] > 0]
        assert lagging
        for s in lagging:
            edge = (s["input"], s["add"])
            c = net.shape(s["input"])[2]
            lo, hi = 1, depths[edge]
            while lo < hi:
                mid = (lo + hi) // 2
                lo, hi = (mid + 1, hi) if run_dataflow(net, {**depths, edge: mid}).deadlock else (lo, mid)
            # the lag is within one pixel of the smallest deadlock-free depth
            assert s["lag_words"] <= lo <= s["lag_words"] + c, (net.name, edge)
    net = build_model("mbv2-det")
    skips = {(s["add"], s["input"]): s for s in perf.skip_fifos(net, perf.fifo_depths(net))}
    # a row and a pixel of lag (the depthwise 3x3 window) + 4 pixels of slack, not the map; after
    # the stride-2 stem (bursty) a row of slack
    s = skips[("b2_1_add", "b2_0_proj")]
    assert (s["lag_pixels"], s["fifo_words"], s["map_words"]) == (81, (81 + perf.ADD_SLACK_PIXELS) * 24, 40 * 80 * 24)
    assert skips[("b1_0_add", "conv1")]["fifo_words"] == (161 + 160) * 16
    assert all(s["fifo_words"] < s["map_words"] // 10 for s in skips.values())


def test_add_slack_keeps_the_frame_rate():
    """With a few pixels of slack the timed simulation runs as fast as with a whole row; with one
    pixel the branch point runs in lock step with the add and the frame takes much longer."""
    net = Network.load(MBV2_TINY)
    p = perf.plan(net, HlsConfig(model=str(MBV2_TINY), board="ultra96", fps=2000, clock_mhz=200))

    def with_slack(pixels: int | None):
        d = dict(p.fifo_depths)
        for s in p.skips:
            if s["lag_pixels"] > 0:
                h, w, c = net.shape(s["input"])
                d[(s["input"], s["add"])] = s["lag_words"] + (w if pixels is None else pixels) * c
        return simulate_plan(net, dataclasses.replace(p, fifo_depths=d), frames=2).interval

    ours, row, one = (simulate_plan(net, p, frames=2).interval, with_slack(None), with_slack(1))
    assert ours == row and one > 1.3 * ours


def test_add_and_avgpool_cycles_and_resources():
    net = _residual_network()
    cfg = HlsConfig(model="residual", board="pynq-z2", fps=100, clock_mhz=100)
    p = perf.plan(net, cfg)
    add3, ap, gp = p.layer("add3"), p.layer("ap"), p.layer("gp")
    assert add3.cycles == 11 * 11 * 6 and add3.dsp == 3 + 1
    assert ap.cycles == 13 * 13 * 6 + 6 * 6 * 6 and ap.linebuf_words == 2 * 11 * 6 and ap.dsp == 1
    assert gp.cycles == 6 * 6 * 6 and gp.linebuf_words == 6          # one partial sum per channel
    assert perf.accum_bits(net, net.layer("gp"), cfg) == 8 + 6 + 1
    assert perf.accum_bits(net, net.layer("add3"), cfg) == 8 + 8 + 2


@pytest.mark.parametrize("layers, match", [
    ((L(name="a", kind="conv", out_channels=4, kernel=1),
      L(name="s", kind="add", inputs=("a", "a"))),
     r"^layer s: the HLS back end needs distinct inputs for a add \(each input is its own stream\), not 'a' twice$"),
    ((L(name="a", kind="conv", out_channels=4, kernel=1),
      L(name="s", kind="concat", inputs=("input", "a", "input"))),
     r"^layer s: the HLS back end needs distinct inputs for a concat .* not 'input' twice$"),
    (tuple(L(name=f"a{i}", kind="conv", inputs=("input",), out_channels=4, kernel=1) for i in range(5))
     + (L(name="s", kind="add", inputs=tuple(f"a{i}" for i in range(5))),),
     r"^layer s: an add takes 2\.\.4 inputs in the HLS back end, not 5$"),
    ((L(name="p", kind="avgpool", kernel=5, stride=5, padding=(0, 1, 0, 1)),),
     r"^layer p: a 5x5 stride-5 window exceeds the HLS line buffer \(kernel at most 7, stride at most 4\); "
     r"only an average pool that tiles its input exactly \(kernel == stride, no padding\) may be larger$"),
    ((L(name="c", kind="conv", out_channels=4, kernel=9, padding="same"),),
     r"^layer c: a 9x9 stride-1 window exceeds the HLS line buffer"),
])
def test_refusals(layers, match):
    net = Network(name="bad", input_shape=(9, 9, 4), layers=layers)
    with pytest.raises(ModelError, match=match):
        emit.check_network(net)


def test_a_layer_kind_without_a_template_is_refused(monkeypatch):
    monkeypatch.setattr(emit, "HLS_KINDS", ("conv", "head"))
    net = Network(name="n", input_shape=(4, 4, 2), layers=(L(name="p", kind="avgpool", kernel=2, stride=2),))
    with pytest.raises(ModelError, match=r"^layer p: avgpool layers are not supported by the HLS back end yet; "
                                         r"supported kinds: conv, head$"):
        emit.check_network(net)


def test_a_given_quant_with_weighted_average_pools_is_refused(residual_project, tmp_path):
    project, design = residual_project
    same = emit.build_design(dataclasses.replace(design.config, quant=str(project / "quant.npz")))
    assert np.array_equal(same.qnet.convs["add3"].weight, design.qnet.convs["add3"].weight)
    data = dict(np.load(project / "quant.npz"))
    data["gp.weight"] = data["gp.weight"] * 2
    np.savez(tmp_path / "q.npz", **data)
    cfg = dataclasses.replace(design.config, seed=0, quant=str(tmp_path / "q.npz"))
    with pytest.raises(ModelError, match=r"q.npz: average pool gp must have unit weights \(its 1/K\*\*2 lives in "
                                         r"the multiplier\), the HLS pool has no weights$"):
        emit.build_design(cfg)


def test_a_skip_one_pixel_behind_gets_room_for_it():
    """On a one-pixel-wide map a 3x3 window lags by a single pixel; the skip FIFO must still hold
    that pixel and the one the branch point writes to both branches at once (found by a one-off
    run of 2,000 random residual networks through the bounded-FIFO execution)."""
    net = Network(name="thin", input_shape=(5, 1, 2), layers=(
        L(name="x", kind="conv", out_channels=4, kernel=1),
        L(name="p", kind="avgpool", kernel=3, stride=1, padding="same"),
        L(name="s", kind="add", inputs=("p", "x")),
        L(name="o", kind="conv", out_channels=2, kernel=1),
    ))
    depths = perf.fifo_depths(net)
    assert [s["lag_pixels"] for s in perf.skip_fifos(net, depths)] == [0, 1]
    assert depths[("x", "s")] == (1 + perf.ADD_SLACK_PIXELS) * 4
    assert not run_dataflow(net, depths).deadlock
    assert run_dataflow(net, {**depths, ("x", "s"): 4}).deadlock


@pytest.mark.slow
def test_full_mbv2_detector_is_bit_exact(tmp_path):
    from hwgen.hls.presets import PRESETS
    design = emit.generate(PRESETS["mbv2det-ultra96"], tmp_path / "mbv2")
    p = design.plan
    assert p.fps_simulated >= 50 and p.dsp <= 360 and p.bram18 <= 432
    r = csim.run_csim(tmp_path / "mbv2", images=1)
    assert r.mismatches == 0, r.layers
    _cycles_match(tmp_path / "mbv2", r)
    assert r.layers.keys() >= {"b1_0_add", "b5_1_add", "head"}
