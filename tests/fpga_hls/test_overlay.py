"""The PYNQ overlay driver of ``hwgen hls project``: against a recording fake ``pynq`` whose IP
computes the golden model from the bytes the DMA moves, and against the generated C testbench."""
from __future__ import annotations

import dataclasses
import importlib
import re
import subprocess
import sys

import numpy as np
import pytest

from hwgen.hls import csim, model as golden, project as hproj
from hwgen.hls.presets import PRESETS
from hwgen.nn.quantize import load_quant

from .fake_pynq import FakePynq, Hang, Hardware, overlay_package

TINY = PRESETS["skynet-tiny"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A project for skynet-tiny on pynq-z2, its overlay package imported from the output."""
    out = tmp_path_factory.mktemp("proj") / "tiny"
    p = hproj.write_project(TINY, out, board="pynq-z2")
    pkg = overlay_package(out, p)
    qnet = load_quant(out / "hls" / "quant.npz")
    header = (out / "hls" / f"{p.top}.h").read_text()
    in_width = int(re.search(rf"axis_word<(\d+)> {p.top}_in_t;", header).group(1))
    return {"out": out, "project": p, "pkg": pkg, "qnet": qnet, "in_width": in_width}


def _hardware(tiny, **kw) -> Hardware:
    return Hardware(qnet=tiny["qnet"], dma_config=tiny["project"].dma, ip_in_width=tiny["in_width"], **kw)


def test_driver_imports_nothing_of_hwgen(tiny):
    src = (tiny["out"] / "overlay" / tiny["project"].top / "_driver.py").read_text()
    init = (tiny["out"] / "overlay" / tiny["project"].top / "__init__.py").read_text()
    for text in (src, init):
        imports = re.findall(r"^\s*(?:from|import)\s+([\w.]+)", text, re.M)
        assert not [m for m in imports if m.split(".")[0] in ("hwgen", "amaranth", "jinja2", "pynq")], imports


def test_driver_output_equals_golden_model(tiny):
    hw = _hardware(tiny)
    det = tiny["pkg"].Detector(pynq_module=FakePynq(hw))
    qnet = tiny["qnet"]
    images = golden.test_images(qnet, 4, seed=3) + [np.zeros(qnet.net.input_shape, np.int64)]
    for image in images:
        want = golden.forward(qnet, image)[qnet.net.output.name].reshape(-1)
        got = det.run(image)
        assert list(got) == list(golden.RECORD_FIELDS)
        assert [got[f] for f in golden.RECORD_FIELDS] == [int(v) for v in want]
    # uint8 images in range work too (dtype does not matter, values do)
    assert det.run(images[0].clip(0, 127).astype(np.uint8))["confidence"] == int(
        golden.forward(qnet, images[0].clip(0, 127))[qnet.net.output.name].reshape(-1)[0])


def test_driver_register_and_dma_sequence(tiny):
    hw = _hardware(tiny)
    det = tiny["pkg"].Detector(pynq_module=FakePynq(hw))
    lay = tiny["project"].layout
    assert hw.log[0][0] == "overlay" and hw.log[0][1].endswith(f"{tiny['project'].top}.bit")
    assert ("allocate", (lay.in_words,), "|i1") in hw.log and ("allocate", (8,), "<i4") in hw.log
    hw.log.clear()
    det.run(golden.test_images(tiny["qnet"], 1)[0])
    calls = [e[:2] if e[0] in ("ip.write", "send.transfer", "recv.transfer") else e[0] for e in hw.log
             if e[0] not in ("flush", "invalidate")]
    # idle check, ap_start, arm S2MM, start MM2S, wait for both, then ap_done/ap_idle
    assert calls[:6] == ["ip.read", ("ip.write", 0x00), ("recv.transfer", 32), ("send.transfer", lay.in_bytes),
                         "send.wait", "recv.wait"]
    assert hw.log[[e[0] for e in hw.log].index("ip.write")] == ("ip.write", 0x00, 0x1)
    assert calls[6:] == ["ip.read"] and hw.log[-1][2] & 0x6
    assert lay.in_bytes == 32 * 64 * 3   # one byte per activation on the 8-bit stream


def test_packing_matches_the_c_testbench(tiny, tmp_path):
    """The bytes the driver packs, read as the DMA's beats and given to the generated C testbench,
    give the records the driver returns (and the golden model's)."""
    p, qnet, pkg = tiny["project"], tiny["qnet"], tiny["pkg"]
    images = golden.test_images(qnet, 3, seed=7)
    beats = []
    for im in images:
        raw = pkg.pack_image(pkg.LAYOUT, im).view(np.uint8)
        n = tiny["in_width"] // 8
        beats += [int.from_bytes(raw[i:i + n].tobytes(), "little", signed=True) for i in range(0, raw.size, n)]
    (tmp_path / "images.bin").write_bytes(np.array(beats, "<i4").tobytes())
    exe = tmp_path / "tb"
    csim.compile_project(tiny["out"] / "hls", exe)
    r = subprocess.run([str(exe), str(tmp_path / "images.bin"), str(len(images)), str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    words = np.fromfile(tmp_path / "output.bin", "<i4").reshape(len(images), 8)
    det = pkg.Detector(pynq_module=FakePynq(_hardware(tiny)))
    for im, w in zip(images, words):
        assert pkg.unpack_record(pkg.LAYOUT, w.astype("<i4")) == det.run(im)
        assert list(w) == list(golden.forward(qnet, im)[qnet.net.output.name].reshape(-1))
    assert p.layout.in_width == tiny["in_width"]


def test_layout_follows_the_generated_header_for_every_width():
    """in_width is the header's axis_word width (8 up to 8-bit activations, else 16), out 32."""
    for aw, want in ((4, 8), (8, 8), (9, 16), (16, 16)):
        cfg = dataclasses.replace(TINY, act_width=aw)
        d = hproj.build_design(cfg)
        lay = hproj.stream_layout(d)
        assert (lay.in_width, lay.out_width, lay.out_words) == (want, 32, 8)
        assert lay.in_dtype.itemsize * 8 == want
        lo, hi = lay.act_range
        im = np.full(lay.in_shape, lo)
        assert hproj.driver_module().pack_image(lay, im).view(np.uint8).size == lay.in_bytes


def test_driver_errors(tiny, tmp_path):
    pkg, lay = tiny["pkg"], tiny["pkg"].LAYOUT
    with pytest.raises(pkg.OverlayError, match=r"nothing\.bit is missing: build it with `make bitstream`"):
        pkg.Detector(tmp_path / "nothing.bit", pynq_module=FakePynq(_hardware(tiny)))
    (tmp_path / "x.bit").write_bytes(b"")
    with pytest.raises(pkg.OverlayError, match=r"x\.hwh is missing"):
        pkg.Detector(tmp_path / "x.bit", pynq_module=FakePynq(_hardware(tiny)))
    with pytest.raises(pkg.OverlayError, match=r"has no IP 'dma'; it has hwgen_hls, other"):
        pkg.Detector(pynq_module=FakePynq(_hardware(tiny, cells=("hwgen_hls", "other"))))
    det = pkg.Detector(pynq_module=FakePynq(_hardware(tiny)))
    with pytest.raises(ValueError, match=r"image shape must be \(32, 64, 3\), not \(64, 32, 3\)"):
        det.run(np.zeros((64, 32, 3), np.int64))
    with pytest.raises(ValueError, match=r"image values must lie in -128\.\.127 \(8-bit activations\), not 0\.\.128"):
        bad = np.zeros(lay.in_shape, np.int64)
        bad[1, 2, 0] = 128
        det.run(bad)
    with pytest.raises(TypeError, match="image must hold integers, not float64"):
        det.run(np.zeros(lay.in_shape))
    with pytest.raises(ValueError, match="a record is 8 words, not 7"):
        pkg.unpack_record(lay, np.zeros(7, "<i4"))
    hw = _hardware(tiny, fault="never_done")
    det = pkg.Detector(pynq_module=FakePynq(hw), poll_limit=5)
    with pytest.raises(pkg.OverlayError, match=r"the HLS IP did not finish after the DMA did \(5 reads of ap_ctrl\)"):
        det.run(np.zeros(lay.in_shape, np.int64))
    with pytest.raises(pkg.OverlayError, match=r"the HLS IP is not idle \(ap_ctrl = 0x1\); reload the overlay"):
        det.run(np.zeros(lay.in_shape, np.int64))


def test_missing_pynq_is_one_line(tiny, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynq", None)
    with pytest.raises(tiny["pkg"].OverlayError, match="needs the pynq package, which exists on a PYNQ board image"):
        tiny["pkg"].Detector()


def test_fake_dma_catches_a_stream_without_tlast_and_a_short_dma(tiny):
    """The fake is strict where the hardware hangs: checked so that a passing driver test means something."""
    hw = _hardware(tiny)
    det = tiny["pkg"].Detector(pynq_module=FakePynq(hw))
    det.ip.write(0x00, 1)
    det.dma.recvchannel.transfer(det.out_buffer[:4])
    det.dma.sendchannel.transfer(det.in_buffer)
    with pytest.raises(Hang, match="recv: 16-byte buffer full before TLAST"):
        det.dma.sendchannel.wait()
        det.dma.recvchannel.wait()
    small = dict(tiny["project"].dma, c_sg_length_width=8)
    det = tiny["pkg"].Detector(pynq_module=FakePynq(Hardware(qnet=tiny["qnet"], dma_config=small,
                                                             ip_in_width=tiny["in_width"])))
    with pytest.raises(ValueError, match="exceeds the maximum DMA buffer size 255"):
        det.run(np.zeros(tiny["pkg"].LAYOUT.in_shape, np.int64))


def test_16_bit_stream_end_to_end(tmp_path):
    """12-bit activations travel as 16-bit beats (int16 buffers); fake DMA, golden model and the C
    testbench agree with the driver."""
    cfg = dataclasses.replace(TINY, act_width=12)
    out = tmp_path / "p12"
    p = hproj.write_project(cfg, out, board="pynq-z2")
    pkg = overlay_package(out, p)
    assert (pkg.LAYOUT.in_width, pkg.LAYOUT.in_dtype.str, p.dma["c_m_axis_mm2s_tdata_width"]) == (16, "<i2", 16)
    qnet = load_quant(out / "hls" / "quant.npz")
    hw = Hardware(qnet=qnet, dma_config=p.dma, ip_in_width=16)
    det = pkg.Detector(pynq_module=FakePynq(hw))
    images = golden.test_images(qnet, 2, seed=5)
    for im in images:
        want = golden.forward(qnet, im)[qnet.net.output.name].reshape(-1)
        assert [det.run(im)[f] for f in golden.RECORD_FIELDS] == [int(v) for v in want]
    assert ("send.transfer", 32 * 64 * 3 * 2) in hw.log
    raw = np.concatenate([pkg.pack_image(pkg.LAYOUT, im) for im in images]).astype("<i4")
    (tmp_path / "images.bin").write_bytes(raw.tobytes())
    exe = tmp_path / "tb"
    csim.compile_project(out / "hls", exe)
    r = subprocess.run([str(exe), str(tmp_path / "images.bin"), "2", str(tmp_path)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    words = np.fromfile(tmp_path / "output.bin", "<i4").reshape(2, 8)
    for im, w in zip(images, words):
        assert list(w) == list(golden.forward(qnet, im)[qnet.net.output.name].reshape(-1))


def test_full_skynet_on_ultra96v2(tmp_path):
    """The full-size preset: a 160x320x3 image (153,600 bytes, an 18-bit DMA length register) through
    the checked block design's DMA configuration, the fake DMA and the driver."""
    from hwgen.hls import bdmodel
    out = tmp_path / "full"
    p = hproj.write_project(PRESETS["skynet-ultra96"], out)
    assert (p.board.name, p.fclk_mhz, p.layout.in_bytes, p.dma["c_sg_length_width"]) == ("ultra96v2", 200.0, 153_600, 18)
    d = bdmodel.check_project(out)
    assert d.cells["dma"]["config"]["c_sg_length_width"] == "18"
    pkg_dir = out / "overlay" / p.top
    for ext in ("bit", "hwh"):
        (pkg_dir / f"{p.top}.{ext}").write_bytes(b"fake")
    sys.path.insert(0, str(pkg_dir.parent))
    try:
        pkg = importlib.import_module(p.top)
    finally:
        sys.path.remove(str(pkg_dir.parent))
    qnet = load_quant(out / "hls" / "quant.npz")
    hw = Hardware(qnet=qnet, dma_config=p.dma, ip_in_width=8)
    image = golden.test_images(qnet, 1, seed=2)[0]
    got = pkg.Detector(pynq_module=FakePynq(hw)).run(image)
    want = golden.forward(qnet, image)[qnet.net.output.name].reshape(-1)
    assert [got[f] for f in golden.RECORD_FIELDS] == [int(v) for v in want]
    assert ("send.transfer", 153_600) in hw.log


def test_boxes_match_the_golden_decode(tiny):
    """det.box(record) is hwgen.hls.model.box_from_record on the board (same scales, same maths)."""
    pkg, qnet = tiny["pkg"], tiny["qnet"]
    det = pkg.Detector(pynq_module=FakePynq(_hardware(tiny)))
    anchors = ((1.5, 0.75), (3.0, 2.0))
    for image in golden.test_images(qnet, 3, seed=11):
        rec = det.run(image)
        arr = np.array([rec[f] for f in golden.RECORD_FIELDS])
        for a in (None, anchors):
            want = golden.box_from_record(arr, qnet, a)
            got = det.box(rec, a)
            assert got.keys() == want.keys()
            assert got == {k: pytest.approx(v, rel=1e-12) for k, v in want.items()}
    with pytest.raises(ValueError, match=r"record anchor must be in 0\.\.1, not 2"):
        det.box(dict(rec, anchor=2))
    bare = pkg.HlsDetector(pkg.LAYOUT, pkg.BITFILE, pynq_module=FakePynq(_hardware(tiny)))
    with pytest.raises(pkg.OverlayError, match="this detector has no head description; pass head= to decode boxes"):
        bare.box(rec)


def test_overlay_imports_on_a_python_without_hwgen(tiny):
    """A board's Python has numpy but no hwgen, amaranth, jinja2 or pynq: the package imports."""
    code = ("import sys\n"
            "for m in ('hwgen', 'amaranth', 'jinja2', 'pynq'): sys.modules[m] = None\n"
            f"sys.path.insert(0, {str(tiny['out'] / 'overlay')!r})\n"
            f"import {tiny['project'].top} as p\n"
            "print(p.LAYOUT.in_bytes, p.HEAD.grid)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["6144", "(4,", "8)"]
