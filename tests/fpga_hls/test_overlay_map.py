"""``hwgen hls project`` for networks without a head: the overlay of a classifier (resnet-tiny:
``Classifier.run`` gives the 1x1x10 logits map, ``classify`` the top-1 class and the dequantized
logits) and of a network ending in a feature map (``Network.run`` gives the [H, W, C] map), against
the recording fake ``pynq`` (its IP computes the golden model from the bytes the DMA moves), the
generated C testbench and hwgen's model of Vivado's block design."""
from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from hwgen.cli import main
from hwgen.errors import ConfigError
from hwgen.fpga.boards import BOARDS
from hwgen.compiler.frontend import top1 as accel_top1
from hwgen.hls import bdmodel, csim, model as golden, project as hproj
from hwgen.hls.config import HlsConfig
from hwgen.nn.ir import Layer, Network
from hwgen.nn.quantize import load_quant

from .fake_pynq import FakePynq, Hardware, overlay_package

RESNET_TINY = HlsConfig(model="resnet-tiny", board="pynq-z2", fps=100)


def _feature_net() -> Network:
    """Ends in a strided 3x3 conv without activation (negative values), a 3x4x5 map: no head, not
    a classifier."""
    L = Layer
    return Network(name="featmap", input_shape=(6, 8, 3), layers=(
        L(name="c1", kind="conv", out_channels=8, kernel=3, padding="same", activation="relu"),
        L(name="c2", kind="conv", out_channels=5, kernel=3, stride=2, padding="same"),
    ))


def _made(out, p) -> dict:
    header = (out / "hls" / f"{p.top}.h").read_text()
    widths = [int(re.search(rf"axis_word<(\d+)> {p.top}_{s}_t;", header).group(1)) for s in ("in", "out")]
    return {"out": out, "project": p, "pkg": overlay_package(out, p), "qnet": load_quant(out / "hls" / "quant.npz"),
            "in_width": widths[0], "out_width": widths[1]}


def _hardware(m, **kw) -> Hardware:
    return Hardware(qnet=m["qnet"], dma_config=m["project"].dma, ip_in_width=m["in_width"],
                    ip_out_width=m["out_width"], **kw)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """resnet-tiny on pynq-z2 through the CLI (the bd.tcl checked by hwgen's Vivado model on the way)."""
    out = tmp_path_factory.mktemp("cls") / "p"
    assert main(["hls", "project", "--set", "model=resnet-tiny", "--set", "fps=100", "--board", "pynq-z2",
                 "--out", str(out)]) == 0
    return _made(out, hproj.make_project(RESNET_TINY, "pynq-z2"))


@pytest.fixture(scope="module")
def featmap(tmp_path_factory):
    """The feature-map network with 12-bit activations: 16-bit beats both ways."""
    base = tmp_path_factory.mktemp("map")
    (base / "net.json").write_text(json.dumps(_feature_net().to_dict()))
    cfg = HlsConfig(model=str(base / "net.json"), board="pynq-z2", fps=1000, act_width=12)
    return _made(base / "p", hproj.write_project(cfg, base / "p"))


def _csim_maps(m, images, tmp_path) -> np.ndarray:
    """The output maps of the generated C testbench for the bytes the driver packs (read back as
    the DMA's beats)."""
    pkg, n = m["pkg"], m["in_width"] // 8
    beats = []
    for im in images:
        raw = pkg.pack_image(pkg.LAYOUT, im).view(np.uint8)
        beats += [int.from_bytes(raw[i:i + n].tobytes(), "little", signed=True) for i in range(0, raw.size, n)]
    (tmp_path / "images.bin").write_bytes(np.array(beats, "<i4").tobytes())
    csim.compile_project(m["out"] / "hls", tmp_path / "tb")
    r = subprocess.run([str(tmp_path / "tb"), str(tmp_path / "images.bin"), str(len(images)), str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return np.fromfile(tmp_path / "output.bin", "<i4").reshape(len(images), *pkg.LAYOUT.out_shape)


def test_classifier_project_layout_and_manifest(classifier):
    p, pkg = classifier["project"], classifier["pkg"]
    man = json.loads((classifier["out"] / "manifest.json").read_text())
    assert man["output"] == {"kind": "classifier", "layer": "fc", "shape": [1, 1, 10]}
    lay = pkg.LAYOUT
    assert (lay.out_shape, lay.out_words, lay.record_fields, lay.in_width, lay.out_width) == ((1, 1, 10), 10, (), 8, 8)
    assert (lay.in_bytes, lay.out_bytes, lay.out_dtype.str) == (32 * 32 * 3, 10, "|i1")
    assert man["layout"]["out_bytes"] == 10 and p.dma["c_s_axis_s2mm_tdata_width"] == 8
    # the scales are the quantized network's, per class
    assert pkg.OUTPUT.layer == "fc" and pkg.OUTPUT.classifier
    assert np.array_equal(pkg.OUTPUT.scales, classifier["qnet"].scales["fc"])
    assert pkg.Classifier.__mro__[1] is pkg.HlsNetwork and not hasattr(pkg, "Detector")


def test_classifier_equals_golden_model(classifier):
    """run() is the golden model's fc map, classify() its argmax and the map times the scales; the
    same top-1 as `hwgen accel infer` reports for that map."""
    qnet, pkg = classifier["qnet"], classifier["pkg"]
    hw = _hardware(classifier)
    net = pkg.Classifier(pynq_module=FakePynq(hw))
    scales = qnet.scales["fc"]
    flat = []
    for c in range(3):              # one lit colour channel: other classes than the random images'
        im = np.zeros(qnet.net.input_shape, np.int64)
        im[..., c] = 100
        flat.append(im)
    images = golden.test_images(qnet, 4, seed=4) + flat + [np.zeros(qnet.net.input_shape, np.int64)]
    classes = set()
    for image in images:
        want = golden.forward(qnet, image)["fc"]
        got = net.run(image)
        assert got.shape == (1, 1, 10) and got.dtype == np.int64 and np.array_equal(got, want)
        res = net.classify(image)
        assert set(res) == {"class", "logit", "logit_real", "logits", "map"}
        assert res["class"] == int(np.argmax(want.reshape(-1))) and res["logit"] == int(want.reshape(-1)[res["class"]])
        assert np.array_equal(res["map"], want)
        assert np.allclose(res["logits"], want.reshape(-1) * scales, rtol=1e-12, atol=0)
        acc = accel_top1(want, scales)
        assert (res["class"], res["logit"], round(res["logit_real"], 6)) == (acc["class"], acc["logit"], acc["logit_real"])
        classes.add(res["class"])
    assert len(classes) > 1          # the images exercise more than one class
    # ties go to the first maximum, as accel infer and the golden model's argmax
    tie = np.array([3, 7, 7, 1, 0, 0, 0, 0, 0, 0]).reshape(1, 1, 10)
    assert pkg.top1(pkg.OUTPUT, tie)["class"] == 1


def test_classifier_dma_sequence(classifier):
    """The head path's register and DMA sequence, with byte buffers on both 8-bit streams."""
    hw = _hardware(classifier)
    net = classifier["pkg"].Classifier(pynq_module=FakePynq(hw))
    assert ("allocate", (3072,), "|i1") in hw.log and ("allocate", (10,), "|i1") in hw.log
    hw.log.clear()
    net.run(golden.test_images(classifier["qnet"], 1)[0])
    calls = [e[:2] if e[0] in ("ip.write", "send.transfer", "recv.transfer") else e[0] for e in hw.log
             if e[0] not in ("flush", "invalidate")]
    assert calls == ["ip.read", ("ip.write", 0x00), ("recv.transfer", 10), ("send.transfer", 3072),
                     "send.wait", "recv.wait", "ip.read"]
    # the map returned is a copy: the next frame's DMA does not change it
    a = net.run(np.full((32, 32, 3), 5))
    keep = a.copy()
    net.run(np.full((32, 32, 3), -90))
    assert np.array_equal(a, keep)


def test_classifier_packing_matches_the_c_testbench(classifier, tmp_path):
    """The bytes the driver packs, through the generated C testbench (g++), give the maps the
    driver returns and the golden model's."""
    qnet, pkg = classifier["qnet"], classifier["pkg"]
    images = golden.test_images(qnet, 2, seed=9)
    maps = _csim_maps(classifier, images, tmp_path)
    net = pkg.Classifier(pynq_module=FakePynq(_hardware(classifier)))
    for im, m in zip(images, maps):
        assert np.array_equal(m, golden.forward(qnet, im)["fc"])
        assert np.array_equal(pkg.unpack_map(pkg.LAYOUT, m.reshape(-1).astype(np.int8)), net.run(im))


def test_classifier_block_design_and_readme(classifier):
    d = bdmodel.check_project(classifier["out"])
    top = classifier["project"].top
    assert d.validated and d.intf_peer("/hwgen_hls/out_r") == "/dma/S_AXIS_S2MM"
    dma = d.cells["dma"]["config"]
    assert (dma["c_m_axis_mm2s_tdata_width"], dma["c_s_axis_s2mm_tdata_width"], dma["c_sg_length_width"]) == ("8", "8", "12")
    tcl = (classifier["out"] / "bd.tcl").read_text()
    assert "foreach {pin bytes} [list in_r 1 out_r 1]" in tcl
    text = (classifier["out"] / "README.md").read_text()
    run = text.split("## Run (on the board)")[1].split("## The block design")[0]
    assert [l.strip() for l in run.splitlines() if l.startswith("    ")] == [
        f"from {top} import Classifier",
        f'net = Classifier()            # pynq.Overlay("{top}.bit"), DMA buffers',
        "result = net.classify(image)  # image: ints [32, 32, 3] in -128..127",
        "# class (top-1, first on ties), logit, logit_real, logits (10 dequantized), map",
        "fmap = net.run(image)         # the fc map alone: ints [1, 1, 10]"]
    assert "an output map 10 bytes" in text and "the driver's output maps equal the model's" in text


def test_feature_map_network_end_to_end(featmap, tmp_path):
    """A 3x4x5 map of 12-bit activations: 16-bit beats (int16 buffers, negative values sign-extended),
    equal to the golden model through the fake DMA and the C testbench; dequantize uses the scales."""
    qnet, pkg, p = featmap["qnet"], featmap["pkg"], featmap["project"]
    lay = pkg.LAYOUT
    assert (featmap["in_width"], featmap["out_width"]) == (16, 16)
    assert (lay.out_shape, lay.out_dtype.str, p.dma["c_s_axis_s2mm_tdata_width"]) == ((3, 4, 5), "<i2", 16)
    assert json.loads((featmap["out"] / "manifest.json").read_text())["output"]["kind"] == "map"
    assert not pkg.OUTPUT.classifier and hasattr(pkg, "Network") and not hasattr(pkg, "Classifier")
    hw = _hardware(featmap)
    net = pkg.Network(pynq_module=FakePynq(hw))
    images = golden.test_images(qnet, 3, seed=6)
    for im in images:
        want = golden.forward(qnet, im)["c2"]
        got = net.run(im)
        assert np.array_equal(got, want)
        assert np.array_equal(net.dequantize(got), want * qnet.scales["c2"])
    assert any(golden.forward(qnet, im)["c2"].min() < 0 for im in images)
    assert ("recv.transfer", 3 * 4 * 5 * 2) in hw.log
    maps = _csim_maps(featmap, images, tmp_path)
    for im, m in zip(images, maps):
        assert np.array_equal(m, golden.forward(qnet, im)["c2"])
    bdmodel.check_project(featmap["out"])


def test_map_driver_errors(classifier, featmap):
    pkg, lay = featmap["pkg"], featmap["pkg"].LAYOUT
    net = pkg.Network(pynq_module=FakePynq(_hardware(featmap)))
    with pytest.raises(pkg.OverlayError, match=r"^c2 outputs a 3x4x5 feature map, not 1 x 1 x classes logits: use run\(\)$"):
        net.classify(np.zeros(lay.in_shape, np.int64))
    with pytest.raises(ValueError, match=r"^output c2 is a feature map, not a classifier's 1 x 1 x classes logits$"):
        pkg.top1(pkg.OUTPUT, np.zeros(lay.out_shape, np.int64))
    with pytest.raises(ValueError, match=r"^an output map is 60 beats \(3x4x5\), not 59$"):
        pkg.unpack_map(lay, np.zeros(59, "<i2"))
    with pytest.raises(ValueError, match=r"^output map must be \[H, W, 5\] \(c2\), not \[3, 4, 4\]$"):
        net.dequantize(np.zeros((3, 4, 4), np.int64))
    bare = pkg.HlsNetwork(lay, pkg.BITFILE, pynq_module=FakePynq(_hardware(featmap)))
    with pytest.raises(pkg.OverlayError, match=r"^this network has no output description; pass output= to dequantize$"):
        bare.dequantize(np.zeros(lay.out_shape, np.int64))
    with pytest.raises(pkg.OverlayError, match=r"^this network has no output description; pass output= to classify$"):
        bare.classify(np.zeros(lay.in_shape, np.int64))
    assert np.array_equal(bare.run(np.zeros(lay.in_shape, np.int64)),
                          golden.forward(featmap["qnet"], np.zeros(lay.in_shape, np.int64))["c2"])
    head = dataclasses.replace(lay, out_shape=(), out_words=8, record_fields=tuple(golden.RECORD_FIELDS))
    with pytest.raises(pkg.OverlayError, match=r"^this layout streams a detection record, not a map: use HlsDetector$"):
        pkg.HlsNetwork(head, pkg.BITFILE, pynq_module=FakePynq(_hardware(featmap)))
    with pytest.raises(ValueError, match=r"^this layout streams a detection record, not a map: use unpack_record$"):
        pkg.unpack_map(head, np.zeros(8, "<i4"))


def test_classifier_overlay_imports_on_a_python_without_hwgen(classifier):
    code = ("import sys\n"
            "for m in ('hwgen', 'amaranth', 'jinja2', 'pynq'): sys.modules[m] = None\n"
            f"sys.path.insert(0, {str(classifier['out'] / 'overlay')!r})\n"
            f"import {classifier['project'].top} as p\n"
            "print(p.LAYOUT.out_shape, p.OUTPUT.classifier, p.top1(p.OUTPUT, [[[0, 2, 1, 0, 0, 0, 0, 0, 0, 0]]])['class'])\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["(1,", "1,", "10)", "True", "1"]


def test_default_board_project_of_a_classifier(tmp_path, capsys):
    """What `hls project` refused before this overlay existed: resnet-tiny on the config's board."""
    out = tmp_path / "p"
    assert main(["hls", "project", "--set", "model=resnet-tiny", "--set", "fps=100", "--json", "--out", str(out)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["board"], d["output"], d["layout"]["out_shape"]) == (
        "ultra96v2", {"kind": "classifier", "layer": "fc", "shape": [1, 1, 10]}, [1, 1, 10])
    init = (out / "overlay" / d["top"] / "__init__.py").read_text()
    assert "class Classifier(HlsNetwork):" in init and "OUTPUT = MapDecode(layer='fc'" in init


def test_both_back_ends_give_the_same_logits(tmp_path, capsys):
    """resnet-tiny compiled for the accelerator (its quant.npz: the network the program computes)
    and the HLS overlay built from that quant.npz: the overlay's classify() equals `hwgen accel
    infer`'s logits and top-1 class on the same images (fsim, itself checked against the golden
    model layer by layer)."""
    acc = tmp_path / "acc"
    assert main(["accel", "compile", "--preset", "tiny", "--model", "resnet-tiny", "--out", str(acc)]) == 0
    capsys.readouterr()
    assert main(["accel", "infer", str(acc), "--backend", "fsim", "--images", "3", "--seed", "2", "--json"]) == 0
    frames = json.loads(capsys.readouterr().out)["frames"]
    cfg = dataclasses.replace(RESNET_TINY, quant=str(acc / "quant.npz"))
    m = _made(tmp_path / "hls", hproj.write_project(cfg, tmp_path / "hls"))
    assert np.array_equal(m["qnet"].convs["fc"].multiplier, load_quant(acc / "quant.npz").convs["fc"].multiplier)
    net = m["pkg"].Classifier(pynq_module=FakePynq(_hardware(m)))
    for image, frame in zip(golden.test_images(m["qnet"], 3, seed=2), frames):
        res = net.classify(image)
        assert frame["mismatches"] == 0 and res["map"].reshape(-1).tolist() == frame["record"]
        assert {k: res[k] for k in ("class", "logit")} == {k: frame["top1"][k] for k in ("class", "logit")}
        assert round(res["logit_real"], 6) == frame["top1"]["logit_real"]


def test_map_layout_follows_the_generated_header_for_every_width(tmp_path):
    """A map leaves on the input's stream width (8 up to 8-bit activations, else 16), one value a
    beat; the driver's buffer dtype and byte count follow."""
    (tmp_path / "net.json").write_text(json.dumps(_feature_net().to_dict()))
    for aw, want in ((4, 8), (8, 8), (9, 16), (16, 16)):
        cfg = HlsConfig(model=str(tmp_path / "net.json"), board="pynq-z2", fps=1000, act_width=aw)
        lay = hproj.stream_layout(hproj.build_design(cfg))
        assert (lay.in_width, lay.out_width, lay.out_words, lay.out_shape) == (want, want, 60, (3, 4, 5))
        assert (lay.out_dtype.itemsize * 8, lay.out_bytes) == (want, 60 * want // 8)
        lo, hi = lay.act_range
        words = np.array([lo, hi, -1] * 20, lay.out_dtype)
        assert hproj.driver_module().unpack_map(lay, words)[0, 0].tolist() == [lo, hi, -1, lo, hi]
    # the layout is read from the header, and a header that disagrees with the network is refused
    design = hproj.build_design(cfg)
    files = hproj.render(design)
    h = f"{design.top}.h"
    files[h] = files[h].replace(f"{design.top}_out_words = 60;", f"{design.top}_out_words = 59;")
    with pytest.raises(ConfigError, match=r"^the generated header streams 59 output words, the network's c2 has 60$"):
        hproj.stream_layout(design, files)
    files[h] = files[h].replace(f"static const int {design.top}_out_words = 59;", "")
    with pytest.raises(ConfigError, match=rf"^the generated header declares no {design.top}_out_words$"):
        hproj.stream_layout(design, files)


def test_an_output_map_too_big_for_one_dma_transfer():
    lay = hproj.driver_module().StreamLayout(in_shape=(8, 8, 3), act_width=8, in_width=8, out_width=16,
                                             out_words=2048 * 2048 * 8, record_fields=(), hls_cell="h", dma_cell="d",
                                             out_shape=(2048, 2048, 8))
    with pytest.raises(ConfigError, match=r"^one output map is 67108864 bytes; an AXI DMA moves at most 67108863 "
                                          r"bytes per transfer$"):
        hproj.dma_config(lay, BOARDS["ultra96v2"])
    small = dataclasses.replace(lay, out_words=1024 * 8, out_shape=(32, 32, 8))
    assert hproj.dma_config(small, BOARDS["ultra96v2"])["c_sg_length_width"] == 15   # 16,384 bytes out


def test_project_table_names_what_the_dma_receives(tmp_path, capsys):
    """The summary's AXI DMA row says record for a head, logits for a classifier."""
    assert main(["hls", "project", "--set", "model=resnet-tiny", "--set", "fps=100", "--out", str(tmp_path / "c")]) == 0
    assert re.search(r"AXI DMA .*image 3072 B, logits 10 B", capsys.readouterr().out)
    assert main(["hls", "project", "--preset", "skynet-tiny", "--board", "pynq-z2", "--out", str(tmp_path / "h")]) == 0
    assert re.search(r"AXI DMA .*image 6144 B, record 32 B", capsys.readouterr().out)
