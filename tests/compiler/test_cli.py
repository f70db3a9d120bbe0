"""``hwgen accel compile`` and ``hwgen accel infer`` on the functional simulator."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from hwgen.cli import main
from hwgen.nn.models import build_model
from hwgen.nn.quantize import load_quant, save_quant

from .netgen import quantized


def test_compile_then_infer(tmp_path, capsys):
    out = tmp_path / "c"
    assert main(["accel", "compile", "--preset", "tiny", "--model", "skynet-tiny", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "skynet_tiny compiled for 1x4x4" in text and "b6_dw" in text and "est. cycles" in text
    assert re.search(r"multipliers shortened .*: b3_pw, .*; scales changed by at most 0\.0\d+%", text)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["arena.bin", "listing.txt", "network.json",
                                                    "program.bin", "quant.npz"]
    assert "GEMM" in (out / "listing.txt").read_text()
    assert main(["accel", "infer", str(out), "--images", "2", "--json", "--out", str(tmp_path / "r")]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["mismatches"] == 0 and r["images"] == 2 and not r["cycles_exact"] and r["cycles"] > 0
    assert [x["layer"] for x in r["layers"]][:3] == ["input", "b1_dw", "b1_pw"]
    assert len(r["frames"][0]["record"]) == 8
    assert json.loads((tmp_path / "r" / "result.json").read_text())["mismatches"] == 0
    assert main(["accel", "infer", str(out), "--per-layer"]) == 0
    text = capsys.readouterr().out
    assert "0 mismatches against hwgen.nn.model" in text and "cycles" in text.splitlines()[0]


def test_infer_one_image_file(tmp_path, capsys):
    out = tmp_path / "c"
    assert main(["accel", "compile", "--preset", "tiny", "--out", str(out), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["network"] == "skynet_tiny" and s["insns"] > 0
    img = np.random.default_rng(0).integers(-128, 128, (32, 64, 3))
    np.save(tmp_path / "img.npy", img)
    assert main(["accel", "infer", str(out), "--image", str(tmp_path / "img.npy"), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["images"] == 1 and r["mismatches"] == 0
    np.save(tmp_path / "f.npy", img.astype(float))
    assert main(["accel", "infer", str(out), "--image", str(tmp_path / "f.npy")]) == 2
    assert "--image must hold one integer array [H, W, C]" in capsys.readouterr().err


def test_compile_a_quantized_network(tmp_path, capsys):
    """--quant takes the quantized network hwgen hls generate writes; the program computes its
    accumulator-fitted form, which quant.npz beside it holds."""
    q = quantized(build_model("skynet-tiny"), 3)
    save_quant(q, tmp_path / "q.npz")
    assert main(["accel", "compile", "--preset", "tiny", "--quant", str(tmp_path / "q.npz"),
                 "--out", str(tmp_path / "c")]) == 0
    fitted = load_quant(tmp_path / "c" / "quant.npz")
    assert np.array_equal(fitted.convs["b1_dw"].weight, q.convs["b1_dw"].weight)
    assert main(["accel", "infer", str(tmp_path / "c")]) == 0
    capsys.readouterr()
    assert main(["accel", "compile", "--quant", str(tmp_path / "q.npz"), "--model", "skynet",
                 "--out", str(tmp_path / "d")]) == 2
    assert "--quant gives the whole quantized network" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("argv, match", [
    (["accel", "infer", "{tmp}/nothing"], "holds no compiled network"),
    (["accel", "compile", "--model", "resnet", "--out", "{tmp}/x"], "unknown model 'resnet'"),
    (["accel", "compile", "--preset", "tiny", "--seed", "-1", "--out", "{tmp}/x"], "--seed must be a non-negative"),
    (["accel", "compile", "--preset", "tiny", "--set", "batch=2", "--out", "{tmp}/x"],
     "needs a batch = 1 accelerator, not batch 2"),
])
def test_cli_errors(tmp_path, capsys, argv, match):
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert match in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_infer_without_quant(tmp_path, capsys):
    out = tmp_path / "c"
    assert main(["accel", "compile", "--preset", "tiny", "--out", str(out)]) == 0
    (out / "quant.npz").unlink()
    assert main(["accel", "infer", str(out)]) == 2
    assert "has no quant.npz" in capsys.readouterr().err
    from hwgen.nn.ir import Layer, Network
    other = Network(name="other", input_shape=(4, 4, 3), layers=(Layer(name="c", kind="conv", out_channels=2),))
    save_quant(quantized(other), out / "quant.npz")
    assert main(["accel", "infer", str(out)]) == 2
    assert "quant.npz holds network other, not the compiled skynet_tiny" in capsys.readouterr().err


def test_infer_on_the_board_driver(tmp_path, capsys, monkeypatch):
    """--backend pynq runs the compiled network through PynqDevice (here over a recording stand-in
    for the pynq module whose START runs the functional simulator on the allocated window)."""
    import sys
    from hwgen.accel.presets import PRESETS
    from tests.accel_sw.test_runtime import FakePynq
    fake = FakePynq(PRESETS["tiny"])
    monkeypatch.setitem(sys.modules, "pynq", fake)
    out = tmp_path / "c"
    assert main(["accel", "compile", "--preset", "tiny", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["accel", "infer", str(out), "--backend", "pynq", "--bitfile", "net.bit", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["backend"] == "pynq" and r["mismatches"] == 0 and r["cycles_exact"]
    assert fake.log[0] == ("overlay", "net.bit") and ("flush",) in fake.log
    assert main(["accel", "infer", str(out), "--backend", "pynq"]) == 2
    assert "--backend pynq needs it" in capsys.readouterr().err
    assert main(["accel", "infer", str(out), "--bitfile", "x.bit"]) == 2
    assert "--bitfile goes with --backend pynq" in capsys.readouterr().err


def test_the_network_hls_generate_quantized(tmp_path, capsys):
    """The two back ends on one network: hls generate's quant.npz compiles for the accelerator;
    the fitted network keeps its weights, biases and scales."""
    assert main(["hls", "generate", "--preset", "skynet-tiny", "--out", str(tmp_path / "hls")]) == 0
    assert main(["accel", "compile", "--preset", "tiny", "--quant", str(tmp_path / "hls" / "quant.npz"),
                 "--out", str(tmp_path / "acc")]) == 0
    hls_q = load_quant(tmp_path / "hls" / "quant.npz")
    acc_q = load_quant(tmp_path / "acc" / "quant.npz")
    for name, qc in hls_q.convs.items():
        f = acc_q.convs[name]
        assert np.array_equal(qc.weight, f.weight) and np.array_equal(qc.bias, f.bias)
        assert np.allclose(f.multiplier / 2.0 ** f.shift, qc.multiplier / 2.0 ** qc.shift, rtol=2 ** -6)
    capsys.readouterr()
    assert main(["accel", "infer", str(tmp_path / "acc"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mismatches"] == 0


def test_hwgen_command_on_a_boards_python(tmp_path):
    """Without amaranth and jinja2 (a PYNQ board's Python) `hwgen accel compile` and `infer` run;
    a capability that needs them says which package to install."""
    from ..importguard import run_without
    out = run_without(
        "import contextlib, io\n"
        "from hwgen.cli import main\n"
        f"assert main(['accel', 'compile', '--preset', 'tiny', '--out', {str(tmp_path / 'c')!r}]) == 0\n"
        f"assert main(['accel', 'infer', {str(tmp_path / 'c')!r}]) == 0\n"
        "err = io.StringIO()\n"
        "with contextlib.redirect_stderr(err):\n"
        "    assert main(['adders', 'generate', '--width', '8']) == 2\n"
        "print(err.getvalue())\n")
    assert "0 mismatches against hwgen.nn.model" in out
    assert "hwgen: error: hwgen adders needs the Python package amaranth, which is not installed: " \
           "pip install amaranth" in out
