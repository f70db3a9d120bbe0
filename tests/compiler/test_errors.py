"""Each way to hand the compiler or the runner something it cannot take: one line naming what,
the constraint and the value."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from hwgen.accel import isa
from hwgen.accel.config import AccelConfig
from hwgen.accel.presets import PRESETS
from hwgen.compiler import check_accumulator, compile_network, fit_accumulator
from hwgen.compiler.quant import map_ranges
from hwgen.errors import DeviceError, ModelError, ProgramError
from hwgen.nn.ir import Layer, Network
from hwgen.nn.models import build_model
from hwgen.runtime import FsimDevice
from hwgen.runtime.network import CompiledNetwork, NetworkRunner

from .netgen import quantized

TINY = PRESETS["tiny"]


@pytest.fixture(scope="module")
def qtiny():
    return quantized(build_model("skynet-tiny"))


@pytest.mark.parametrize("change, match", [
    (dict(batch=2), "needs a batch = 1 accelerator, not batch 2"),
    (dict(block_in=8, block_out=4), "block_out to be a multiple of block_in, not block_in 8 and block_out 4"),
    (dict(input_width=16, acc_width=32), "input_width == output_width .* not 16 and 8"),
    (dict(token_depth=1), "needs token_depth >= 2 \\(double buffering keeps two tokens in flight\\), not 1"),
])
def test_configs_it_cannot_map(qtiny, change, match):
    with pytest.raises(ModelError, match=match):
        compile_network(qtiny, dataclasses.replace(TINY, **change))


def test_wider_network_than_accelerator():
    net = build_model("skynet-tiny")
    from hwgen.nn.models import random_params
    from hwgen.nn.quantize import quantize_network
    q = quantize_network(net, random_params(net), act_width=12)
    with pytest.raises(ModelError, match="network activations are 12 bits; the accelerator's input_width/output_width are 8"):
        compile_network(q, TINY)


def test_padded_maxpool_refused():
    """A padded maxpool runs only where zeros cannot win the max (its input is >= 0)."""
    net = Network(name="p", input_shape=(5, 5, 3),
                  layers=(Layer(name="mp", kind="maxpool", kernel=3, stride=2, padding="same"),))
    with pytest.raises(ModelError, match=r"layer mp: a padded maxpool needs an input whose values are all >= 0 "
                                         r"\(the accelerator pads with zeros, which could win the max\), but "
                                         r"input ranges over -128\.\.127; allowed: padding 'none', or a ReLU"):
        compile_network(quantized(net), TINY)
    net = Network(name="p", input_shape=(5, 5, 3), layers=(
        Layer(name="c", kind="conv", out_channels=3, kernel=1, activation="relu"),
        Layer(name="mp", kind="maxpool", kernel=2, stride=2, padding=(2, 0, 0, 0))))
    with pytest.raises(ModelError, match=r"layer mp: maxpool padding must be smaller than the 2x2 window "
                                         r"\(a window of padding only has no max\), not \(2, 0, 0, 0\)"):
        compile_network(quantized(net), TINY)


def test_window_that_fits_no_buffer():
    cfg = dataclasses.replace(TINY, inp_depth=16)
    net = Network(name="w", input_shape=(9, 9, 4), layers=(Layer(name="big", kind="conv", out_channels=4,
                                                                 kernel=5, padding="same"),))
    with pytest.raises(ProgramError, match="layer big: no tiling fits .*5x5 window.*input 8, weight 32"):
        compile_network(quantized(net), cfg)


def test_accumulator_bounds(qtiny):
    """The unfitted skynet-tiny overflows 32-bit accumulators in its requantization product; the
    fitted one does not, and only the layers that needed it changed."""
    with pytest.raises(ModelError, match=r"layer b3_pw does not run bit-exactly on 32-bit accumulators: "
                                         r"channel \d+: \(acc \+ bias\) x multiplier reaches \d+"):
        check_accumulator(qtiny, 32)
    with pytest.raises(ModelError, match="bit-exactly"):
        compile_network(qtiny, TINY, fit=False)
    fitted = fit_accumulator(qtiny, 32)
    check_accumulator(fitted, 32)
    for name, qc in qtiny.convs.items():
        f = fitted.convs[name]
        assert np.array_equal(f.weight, qc.weight) and np.array_equal(f.bias, qc.bias)
        d = qc.shift - f.shift
        assert (d >= 0).all()
        # the same scale, fewer multiplier bits: m' = round(m / 2**d)
        assert np.array_equal(f.multiplier, (qc.multiplier + ((1 << d) >> 1)) >> d)
    assert any((qtiny.convs[n].shift != fitted.convs[n].shift).any() for n in qtiny.convs)
    assert fit_accumulator(fitted, 32).convs["b1_pw"] is fitted.convs["b1_pw"]


def test_worst_case_input_is_exact():
    """An input at the edge of the range drives a layer to its accumulator bound: still exact."""
    from hwgen.nn.model import forward
    net = Network(name="edge", input_shape=(4, 4, 16), layers=(
        Layer(name="pw", kind="conv", out_channels=16, kernel=3, padding="same", activation="relu"),))
    q = quantized(net)
    qc = q.convs["pw"]
    q = dataclasses.replace(q, convs={"pw": dataclasses.replace(qc, weight=np.full_like(qc.weight, 127),
                                                                bias=np.zeros_like(qc.bias))})
    cn, fitted = compile_network(q, PRESETS["default"])
    lo, hi = map_ranges(fitted)["input"]
    for v in (lo, hi):
        img = np.full(net.input_shape, v)
        got = NetworkRunner(FsimDevice(PRESETS["default"]), cn).run(img).maps["pw"]
        assert np.array_equal(got, forward(fitted, img)["pw"])


def test_accumulator_too_narrow():
    net = Network(name="n", input_shape=(3, 3, 64), layers=(
        Layer(name="wide", kind="conv", out_channels=4, kernel=3, padding="same"),))
    q = quantized(net)
    with pytest.raises(ModelError, match="layer wide: channel \\d+'s accumulator reaches \\d+, beyond what "
                                         "16-bit accumulators hold \\(32767\\)"):
        fit_accumulator(q, 16)


def test_runner_errors(qtiny, tmp_path):
    cn, fitted = compile_network(qtiny, TINY)
    with pytest.raises(DeviceError, match="compiled for 1x4x4.* the device is 1x16x16"):
        NetworkRunner(FsimDevice(PRESETS["default"]), cn)
    r = NetworkRunner(FsimDevice(TINY), cn)
    with pytest.raises(ModelError, match=r"map input must have shape \(32, 64, 3\), not \(32, 64\)"):
        r.run(np.zeros((32, 64), int))


def test_compiled_folder_errors(qtiny, tmp_path):
    with pytest.raises(ModelError, match="holds no compiled network \\(no network.json\\)"):
        CompiledNetwork.load(tmp_path)
    cn, _ = compile_network(qtiny, TINY)
    for name, data in cn.files().items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "program.bin").write_bytes((tmp_path / "program.bin").read_bytes()[:-5])
    with pytest.raises(ModelError, match="is .* bytes, not a whole number of 16-byte instructions"):
        CompiledNetwork.load(tmp_path)
    (tmp_path / "program.bin").write_bytes(cn.files()["program.bin"][:-16])
    with pytest.raises(ModelError, match="ends inside segment head_conv"):
        CompiledNetwork.load(tmp_path)
    (tmp_path / "program.bin").write_bytes(cn.files()["program.bin"])
    (tmp_path / "arena.bin").write_bytes(b"\0" * 10)
    with pytest.raises(ModelError, match="arena.bin has 10 bytes, the manifest says"):
        CompiledNetwork.load(tmp_path)
    man = json.loads(cn.files()["network.json"])
    man["version"] = 99
    (tmp_path / "network.json").write_text(json.dumps(man))
    with pytest.raises(ModelError, match=f"is format 99 for ISA {isa.ISA_VERSION}; this hwgen reads format 2"):
        CompiledNetwork.load(tmp_path)
    (tmp_path / "network.json").write_text("{")
    with pytest.raises(ModelError, match="is not valid JSON"):
        CompiledNetwork.load(tmp_path)
    (tmp_path / "network.json").write_text("[]")
    with pytest.raises(ModelError, match="is not a compiled network"):
        CompiledNetwork.load(tmp_path)


def test_config_type():
    with pytest.raises(TypeError, match="needs an AccelConfig, not dict"):
        compile_network(quantized(build_model("skynet-tiny")), {})
    assert isinstance(TINY, AccelConfig)


def test_input_out_of_range(qtiny):
    cn, _ = compile_network(qtiny, TINY)
    r = NetworkRunner(FsimDevice(TINY), cn)
    with pytest.raises(ModelError, match="map input must hold 8-bit integers in -128..127, not int64 values 0..200"):
        r.run(np.full((32, 64, 3), 200) * (np.arange(3) > 1) + 0)
