"""The network compiler on the functional simulator: every layer's map equals the golden model
(hwgen.nn.model.forward of the fitted network), on built-in and random networks, every preset
shape (block_out = block_in and = 2 x block_in) and buffers small enough to force every tiling."""
from __future__ import annotations


import numpy as np
import pytest

from hwgen.accel.config import AccelConfig
from hwgen.accel.presets import PRESETS
from hwgen.compiler import compile_network
from hwgen.compiler.lower import lower
from hwgen.compiler.schedule import plan_job
from hwgen.nn.ir import Layer, Network
from hwgen.nn import model as golden
from hwgen.nn.model import forward
from hwgen.nn.models import build_model
from hwgen.runtime import FsimDevice
from hwgen.runtime.network import CompiledNetwork, NetworkRunner

from .netgen import quantized, random_network

#: block 4 x 8 (two input blocks per output plane), buffers that force groups, chunks and
#: column tiles
SMALL = AccelConfig(block_in=4, block_out=8, inp_depth=128, wgt_depth=32, acc_depth=64, uop_depth=128,
                    insn_queue_depth=2, token_depth=2, axi_data_width=32)
CONFIGS = {"tiny": PRESETS["tiny"], "ultra96": PRESETS["ultra96"], "small": SMALL}


def check(qnet, config, images=2, per_layer=False, seed=1):
    """Compile, run ``images`` test images on fsim, compare every map; returns the results."""
    cn, fitted = compile_network(qnet, config)
    dev = FsimDevice(config)
    runner = NetworkRunner(dev, cn)
    out = []
    for img in golden.test_images(fitted, images, seed):
        want = forward(fitted, img)
        res = runner.run(img, per_layer=per_layer)
        for name, ref in want.items():
            assert np.array_equal(res.maps[name], ref), f"{qnet.net.name}: map {name} differs on {config.slug}"
        out.append(res)
    runner.close()
    return cn, out


@pytest.mark.parametrize("preset", ["default", "tiny", "ultra96", "pynq-z2"])
def test_skynet_tiny_every_preset(preset):
    cn, res = check(quantized(build_model("skynet-tiny")), PRESETS[preset])
    assert res[0].runs[0][1].ok and len(res[0].runs) == 1          # one run per frame
    assert res[0].maps["head"].shape == (1, 1, 8)
    assert cn.macs == sum(build_model("skynet-tiny").macs(l) for l in build_model("skynet-tiny").layers)


def test_per_layer_runs_equal_the_fused_run():
    q = quantized(build_model("skynet-tiny"))
    cn, fused = check(q, SMALL, images=1)
    _, layered = check(q, SMALL, images=1, per_layer=True)
    assert [n for n, _r in layered[0].runs] == [(s.name,) for s in cn.segments]
    for name in fused[0].maps:
        assert np.array_equal(fused[0].maps[name], layered[0].maps[name])
    # one run per job costs every job's pipeline fill; the fused run overlaps nothing across jobs
    # either (a barrier between them), so the two totals are close
    assert 0.8 < fused[0].cycles / layered[0].cycles < 1.2


#: 147: groups == out_channels < in_channels (not depthwise); 390: a concat feeding two concats
@pytest.mark.parametrize("seed", [*range(14), 147, 390])
@pytest.mark.parametrize("cfg", ["tiny", "small", "ultra96"])
def test_random_networks(seed, cfg):
    check(quantized(random_network(seed), seed), CONFIGS[cfg], images=2, seed=seed)


def test_small_buffers_force_every_tiling():
    """On SMALL, skynet-tiny's jobs need several output-plane groups, input chunks and column tiles."""
    q = quantized(build_model("skynet-tiny"))
    _maps, jobs = lower(q, SMALL)
    plans = [plan_job(j, SMALL) for j in jobs]
    assert any(len(p.groups) > 1 for p in plans)
    assert any(len(ch) > 1 for p in plans for ch in p.chunks)
    assert any(p.tw < p.job.ow for p in plans)
    assert any(p.th < p.job.oh for p in plans)


def test_concat_placement_and_copies():
    """A map feeding one concat is written in place; the network input and a map feeding two
    concats are copied into their slices."""
    layers = (Layer(name="a", kind="conv", out_channels=5, kernel=3, padding="same"),
              Layer(name="b", kind="conv", out_channels=3, kernel=1),
              Layer(name="c1", kind="concat", inputs=("input", "b")),
              Layer(name="c2", kind="concat", inputs=("a", "c1")),
              Layer(name="d", kind="conv", inputs=("c2",), out_channels=9, groups=1, kernel=1),
              Layer(name="c3", kind="concat", inputs=("d", "b")))
    net = Network(name="cat", input_shape=(6, 7, 2), layers=layers)
    q = quantized(net)
    maps, jobs = lower(q, PRESETS["tiny"])
    assert maps["a"].parent == "c2" and maps["c1"].parent == "c2" and maps["d"].parent == "c3"
    assert maps["b"].parent is None                                  # feeds c1 and c3: copied twice
    assert sorted(j.name for j in jobs if j.kind == "copy") == ["copy_c1__b", "copy_c1__input", "copy_c3__b"]
    # physical channels: a has 5 of 8 (tiny's block_out 4), c1 = input (2 of 4) + b (3 of 4)
    assert maps["c2"].channels == (0, 1, 2, 3, 4, 8, 9, 12, 13, 14)
    for cfg in CONFIGS.values():
        check(q, cfg)


def test_compiled_files_round_trip(tmp_path):
    q = quantized(build_model("skynet-tiny"))
    cn, fitted = compile_network(q, PRESETS["tiny"])
    for name, data in cn.files().items():
        (tmp_path / name).write_bytes(data)
    back = CompiledNetwork.load(tmp_path)
    assert back.files() == cn.files()
    img = golden.test_images(fitted, 1, 3)[0]
    a = NetworkRunner(FsimDevice(PRESETS["tiny"]), cn).run(img)
    b = NetworkRunner(FsimDevice(PRESETS["tiny"]), back).run(img)
    assert a.cycles == b.cycles and np.array_equal(a.maps["head"], b.maps["head"])


def test_deterministic():
    q = quantized(build_model("skynet-tiny"))
    assert compile_network(q, SMALL)[0].files() == compile_network(q, SMALL)[0].files()


def test_arena_is_relocatable():
    """The same compiled network runs wherever the runner's arena lands in the window."""
    q = quantized(build_model("skynet-tiny"))
    cn, fitted = compile_network(q, PRESETS["tiny"])
    img = golden.test_images(fitted, 1, 0)[0]
    dev = FsimDevice(PRESETS["tiny"])
    pad = dev.alloc(3 * 4096 + 100)
    r = NetworkRunner(dev, cn)
    assert r.arena.offset > 0
    got = r.run(img).maps
    assert np.array_equal(got["head"], forward(fitted, img)["head"])
    del pad


def test_grouped_conv_uses_only_nonzero_blocks():
    net = Network(name="g", input_shape=(5, 5, 16),
                  layers=(Layer(name="g4", kind="conv", out_channels=16, kernel=3, padding="same", groups=4),
                          Layer(name="dw", kind="conv", out_channels=16, kernel=3, padding="same", groups=16)))
    q = quantized(net)
    _maps, jobs = lower(q, PRESETS["default"])
    assert len(jobs[0].blocks) == 9          # one 16x16 block holds all four groups, per tap
    assert len(jobs[1].blocks) == 9          # the depthwise diagonal
    _maps, jobs = lower(q, PRESETS["tiny"])
    assert len(jobs[0].blocks) == 4 * 9 and len(jobs[1].blocks) == 4 * 9
    check(q, PRESETS["tiny"])
    check(q, PRESETS["default"])


def test_compiler_and_runner_import_neither_amaranth_nor_jinja2():
    """The compiler and the network runner run on a board's Python."""
    from ..importguard import run_without
    assert run_without(
        "from hwgen.compiler.frontend import quantized\n"
        "from hwgen.compiler import compile_network\n"
        "from hwgen.runtime import FsimDevice\n"
        "from hwgen.runtime.network import NetworkRunner\n"
        "from hwgen.accel.presets import PRESETS\n"
        "from hwgen.nn.model import forward, test_images\n"
        "cfg = PRESETS['tiny']\n"
        "cn, q = compile_network(quantized(cfg, model='skynet-tiny'), cfg)\n"
        "img = test_images(q, 1)[0]\n"
        "got = NetworkRunner(FsimDevice(cfg), cn).run(img).maps['head']\n"
        "assert (got == forward(q, img)['head']).all()\n"
        "print('clean')\n").strip() == "clean"


def test_map_wider_than_the_loop_factors():
    """A 2,100-pixel-wide map (over the 11-bit loop factors) runs in column tiles."""
    net = Network(name="wide", input_shape=(3, 2100, 4), layers=(
        Layer(name="c", kind="conv", out_channels=4, kernel=3, padding="same"),))
    cn, _ = check(quantized(net), PRESETS["tiny"], images=1)
    assert cn.segments[0].tiling["cols_per_tile"] < 2100


def test_one_map_twice_in_a_concat():
    net = Network(name="twice", input_shape=(5, 4, 3), layers=(
        Layer(name="a", kind="conv", out_channels=5, kernel=1),
        Layer(name="cat", kind="concat", inputs=("a", "a", "input")),
        Layer(name="b", kind="conv", out_channels=4, kernel=3, padding="same")))
    q = quantized(net)
    maps, jobs = lower(q, PRESETS["tiny"])
    assert {"cat__a", "cat__a_1", "cat__input"} <= set(maps)
    for cfg in CONFIGS.values():
        check(q, cfg)


#: 16-bit inputs, weights and outputs (10-bit networks on it)
WIDE = AccelConfig(block_in=8, block_out=8, input_width=16, output_width=16, weight_width=16, acc_width=32,
                   inp_depth=256, wgt_depth=64, acc_depth=256, uop_depth=256, axi_data_width=64)


@pytest.mark.parametrize("seed", range(6))
def test_sixteen_bit_datapath(seed):
    from hwgen.nn.models import random_params
    from hwgen.nn.quantize import quantize_network
    net = random_network(seed)
    check(quantize_network(net, random_params(net, seed), act_width=10, weight_width=10), WIDE, seed=seed)


def _first_bundle(h, w, c, oc=5):
    return Network(name=f"thin{c}", input_shape=(h, w, c), layers=(
        Layer(name="dw", kind="conv", out_channels=c, kernel=3, padding="same", groups=c,
              activation="relu6", batchnorm=True),
        Layer(name="pw", kind="conv", out_channels=oc, kernel=1, activation="relu"),
        Layer(name="mp", kind="maxpool", kernel=2, stride=2)))


@pytest.mark.parametrize("c", [1, 2, 3, 5])
@pytest.mark.parametrize("cfg", ["small", "ultra96", "default"])
def test_thin_input_is_packed(c, cfg):
    """An RGB-like input feeding a 3x3 depthwise conv then a 1x1 conv is stored several pixels per
    element (as many as fit and divide the width); the results stay bit-exact."""
    from hwgen.compiler.lower import thin_input
    config = CONFIGS.get(cfg) or PRESETS[cfg]
    net = _first_bundle(6, 20, c, oc=3 * config.block_out // 2)
    pk = thin_input(net, config)
    want = max((p for p in range(2, config.block_out // c + 1) if 20 % p == 0), default=None)
    assert (pk[2] if pk else None) == want
    q = quantized(net, c)
    maps, jobs = lower(q, config)
    if pk:
        assert maps["input"].pack == maps["dw"].pack == want and maps["pw"].pack == 1
        assert jobs[1].unpack == want
    check(q, config)


def test_packing_needs_the_pattern():
    from hwgen.compiler.lower import thin_input
    cfg = PRESETS["default"]
    net = _first_bundle(6, 20, 3)
    assert thin_input(net, cfg) == ("dw", "pw", 5)
    odd = Network(name="odd", input_shape=(6, 19, 3), layers=net.layers)        # 19 is prime
    assert thin_input(odd, cfg) is None
    strided = Network(name="s", input_shape=(6, 20, 3), layers=(
        Layer(name="dw", kind="conv", out_channels=3, kernel=3, stride=2, padding="same", groups=3),
        Layer(name="pw", kind="conv", out_channels=4, kernel=1)))
    assert thin_input(strided, cfg) is None
    dense = Network(name="d", input_shape=(6, 20, 3), layers=(
        Layer(name="c", kind="conv", out_channels=3, kernel=3, padding="same"),
        Layer(name="pw", kind="conv", out_channels=4, kernel=1)))
    assert thin_input(dense, cfg) is None
    assert thin_input(build_model("skynet"), cfg) == ("b1_dw", "b1_pw", 5)
