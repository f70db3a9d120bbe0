"""One network, two back ends, the same integers: the accelerator's fitted quant.npz generates the
HLS design; its C simulation (g++ against the real ap_int headers) and the accelerator give the
same head record on the same images, both equal to the golden model."""
from __future__ import annotations

import json

import pytest

from hwgen.cli import main
from hwgen.errors import ModelError
from hwgen.hls.config import HlsConfig
from hwgen.hls.emit import build_design


def test_hls_and_accelerator_agree(tmp_path, capsys):
    acc = tmp_path / "acc"
    assert main(["accel", "compile", "--preset", "tiny", "--model", "skynet-tiny", "--seed", "4",
                 "--out", str(acc)]) == 0
    assert main(["hls", "generate", "--preset", "skynet-tiny", "--quant", str(acc / "quant.npz"),
                 "--out", str(tmp_path / "hls")]) == 0
    capsys.readouterr()
    assert main(["hls", "csim", str(tmp_path / "hls"), "--images", "3", "--seed", "2", "--json"]) == 0
    hls = json.loads(capsys.readouterr().out)
    assert main(["accel", "infer", str(acc), "--images", "3", "--seed", "2", "--json"]) == 0
    accel = json.loads(capsys.readouterr().out)
    assert hls["mismatches"] == 0 and accel["mismatches"] == 0
    assert hls["records"] == [f["record"] for f in accel["frames"]]


def test_quant_must_match_the_config(tmp_path, capsys):
    acc = tmp_path / "acc"
    assert main(["accel", "compile", "--preset", "tiny", "--out", str(acc)]) == 0
    q = str(acc / "quant.npz")
    with pytest.raises(ModelError, match="is skynet_tiny, which differs from the configured model 'skynet'"):
        build_design(HlsConfig(model="skynet", quant=q))
    with pytest.raises(ModelError, match="has act/weight widths 8/8, the config 6/8"):
        build_design(HlsConfig(model="skynet-tiny", board="pynq-z2", fps=100, clock_mhz=100, act_width=6, quant=q))
    with pytest.raises(ValueError, match="quant gives the whole quantized network; leave weights and "
                                         "calibration empty, not 'w.npz'"):
        HlsConfig(quant=q, weights="w.npz")


def test_hls_and_accelerator_agree_on_a_classifier(tmp_path, capsys):
    """resnet-tiny (padded max pool, residual adds, a global average pool, a 1x1 conv classifier):
    the accelerator's fitted network through the HLS back end gives the same logits."""
    acc = tmp_path / "acc"
    assert main(["accel", "compile", "--preset", "tiny", "--model", "resnet-tiny", "--seed", "2",
                 "--out", str(acc)]) == 0
    assert main(["hls", "generate", "--model", "resnet-tiny", "--board", "ultra96", "--fps", "1000",
                 "--quant", str(acc / "quant.npz"), "--out", str(tmp_path / "hls")]) == 0
    capsys.readouterr()
    assert main(["hls", "csim", str(tmp_path / "hls"), "--images", "2", "--seed", "3", "--json"]) == 0
    hls = json.loads(capsys.readouterr().out)
    assert main(["accel", "infer", str(acc), "--images", "2", "--seed", "3", "--json"]) == 0
    accel = json.loads(capsys.readouterr().out)
    assert hls["mismatches"] == 0 and accel["mismatches"] == 0
    assert hls["records"] == [f["record"] for f in accel["frames"]]
    assert all(len(f["record"]) == 10 for f in accel["frames"])
