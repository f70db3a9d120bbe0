"""Compiled networks on the generated RTL (Icarus and Verilator): every layer's map equals the
golden model, and the exact counters equal the functional simulator's."""
from __future__ import annotations

import numpy as np

from hwgen.accel import isa
from hwgen.accel.presets import PRESETS
from hwgen.compiler import compile_network
from hwgen.nn import model as golden
from hwgen.nn.ir import Layer, Network
from hwgen.nn.models import build_model
from hwgen.runtime import FsimDevice
from hwgen.runtime.network import NetworkRunner
from hwgen.runtime.rtl_device import RtlDevice
from hwgen.sim.accel.differential import FUZZ_MEM_BYTES

from ..compiler.netgen import quantized

CFG = PRESETS["tiny"]

#: every job kind in a few thousand cycles: dense, grouped and depthwise convs, maxpool, reorg,
#: concat (in place and copied), a head
MICRO = Network(name="micro", input_shape=(8, 6, 3), layers=(
    Layer(name="c0", kind="conv", out_channels=6, kernel=3, padding="same", activation="relu6", batchnorm=True),
    Layer(name="dw", kind="conv", out_channels=6, kernel=3, stride=2, padding="same", groups=6, activation="relu"),
    Layer(name="mp", kind="maxpool", inputs=("c0",), kernel=2, stride=2),
    Layer(name="ro", kind="reorg", inputs=("c0",), stride=2),
    Layer(name="cat", kind="concat", inputs=("dw", "mp", "ro")),
    Layer(name="g2", kind="conv", out_channels=10, kernel=1, groups=2),
    Layer(name="head", kind="head", anchors=2)))


#: a thin input stored two pixels per element (tiny's block_out 4 holds 2 x 2 channels): the
#: packed depthwise job and the unpacking 1x1 job
THIN = Network(name="thin", input_shape=(6, 10, 2), layers=(
    Layer(name="dw", kind="conv", out_channels=2, kernel=3, padding="same", groups=2, activation="relu6"),
    Layer(name="pw", kind="conv", out_channels=6, kernel=1, activation="relu"),
    Layer(name="mp", kind="maxpool", kernel=2, stride=2)))


def _run(verilog, simulator, tmp_path, net, per_layer=False):
    cn, fitted = compile_network(quantized(net), CFG)
    img = golden.test_images(fitted, 1, 5)[0]
    with RtlDevice(verilog, simulator, size=FUZZ_MEM_BYTES, work_dir=tmp_path / "w") as dev:
        rtl = NetworkRunner(dev, cn).run(img, per_layer=per_layer)
    ref = NetworkRunner(FsimDevice(CFG), cn).run(img, per_layer=per_layer)
    want = golden.forward(fitted, img)
    for name, m in want.items():
        assert np.array_equal(rtl.maps[name], m), name
    for (_n, r), (_m, f) in zip(rtl.runs, ref.runs):
        assert r.ok and r.exact_cycles
        for c in isa.EXACT_COUNTERS:
            assert r.counters[c] == f.counters[c], c
    return rtl


def test_micro_network(tiny_verilog, simulator, tmp_path):
    r = _run(tiny_verilog, simulator, tmp_path, MICRO)
    assert r.cycles > 0 and len(r.runs) == 1


def test_thin_input_packed(tiny_verilog, simulator, tmp_path):
    from hwgen.compiler.lower import thin_input
    assert thin_input(THIN, CFG) == ("dw", "pw", 2)
    _run(tiny_verilog, simulator, tmp_path, THIN)


def test_micro_network_per_layer(tiny_verilog, tmp_path):
    r = _run(tiny_verilog, "verilator", tmp_path, MICRO, per_layer=True)
    assert [n for n, _r in r.runs] == [("c0",), ("dw",), ("mp",), ("ro",), ("g2",)]


def test_skynet_tiny_on_verilator(tiny_verilog, tmp_path):
    r = _run(tiny_verilog, "verilator", tmp_path, build_model("skynet-tiny"))
    assert r.maps["head"].shape == (1, 1, 8)


def test_resnet_tiny_through_compile_and_infer(tiny_verilog, simulator, tmp_path, capsys):
    """resnet-tiny (padded max pool, residual adds, a global average pool, a classifier) compiled
    with ``hwgen accel compile`` and run by what ``hwgen accel infer`` runs: bit-exact on the RTL,
    the same top-1 class and the same exact counters as the functional simulator."""
    import json

    from hwgen.cli import main
    from hwgen.compiler.frontend import infer
    out = tmp_path / "c"
    assert main(["accel", "compile", "--preset", "tiny", "--model", "resnet-tiny", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["accel", "infer", str(out), "--backend", "fsim", "--json"]) == 0
    ref = json.loads(capsys.readouterr().out)
    with RtlDevice(verilog=tiny_verilog, simulator=simulator, size=FUZZ_MEM_BYTES, work_dir=tmp_path / "w") as dev:
        rtl = infer(out, dev)
    assert rtl["mismatches"] == 0 and ref["mismatches"] == 0 and rtl["cycles_exact"]
    assert rtl["output"]["kind"] == "classifier"
    f, g = rtl["frames"][0], ref["frames"][0]
    assert f["top1"] == g["top1"] == f["golden_top1"]
    assert f["counters"] == g["counters"] and f["counters"]["gemm_uops"] > 0


#: a one-channel input packed four pixels per element under a 3x3/2 stem (two output phases,
#: element taps), a padded max pool, a three-input add of a map, a concat slice and the pool,
#: and a padded avgpool
RESMICRO = Network(name="resmicro", input_shape=(9, 16, 1), layers=(
    Layer(name="stem", kind="conv", out_channels=6, kernel=3, stride=2, padding=(1, 1, 1, 1), activation="relu"),
    Layer(name="mp", kind="maxpool", kernel=3, stride=1, padding=(1, 1, 1, 1)),
    Layer(name="a", kind="conv", out_channels=2, kernel=1, activation="relu"),
    Layer(name="b", kind="conv", inputs=("mp",), out_channels=4, kernel=3, padding="same"),
    Layer(name="cat", kind="concat", inputs=("a", "b")),
    Layer(name="s", kind="add", inputs=("cat", "mp", "stem"), activation="relu6"),
    Layer(name="ap", kind="avgpool", kernel=3, stride=2, padding=(1, 0, 1, 0))))


def test_residual_micro_network(tiny_verilog, simulator, tmp_path):
    from hwgen.compiler.lower import thin_stem
    assert thin_stem(RESMICRO, CFG) == ("stem", 4)
    _run(tiny_verilog, simulator, tmp_path, RESMICRO)
