"""ONNX import: models built here with onnx.helper (ResNet-, MobileNetV2- and SkyNet-style blocks)
equal onnxruntime in hwgen's float model, compile and run bit-exact on the accelerator's fsim, and
every refusal is one pinned line."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from hwgen.cli import main  # noqa: E402
from hwgen.errors import ModelError, ToolError  # noqa: E402
from hwgen.nn import fold_batchnorm, float_forward  # noqa: E402
from hwgen.nn.models import load_model, load_network  # noqa: E402
from hwgen.nn.onnx_import import import_onnx  # noqa: E402


class Graph:
    """A small NCHW graph builder: each method adds one node and returns its output name."""

    def __init__(self, shape=(1, 3, 16, 16), seed=0):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.n, self.k = [], [], 0, 0
        self.shape = shape
        self.input = "image"

    def name(self, op):
        self.n += 1
        return f"{op.lower()}_{self.n}"

    def const(self, arr, name=None):
        self.k += 1
        name = name or f"w_{self.k}"
        self.inits.append(numpy_helper.from_array(np.asarray(arr, np.float32), name))
        return name

    def const_int(self, values):
        self.k += 1
        name = f"shape_{self.k}"
        self.inits.append(numpy_helper.from_array(np.asarray(values, np.int64), name))
        return name

    def node(self, op, inputs, name=None, outputs=1, **attrs):
        name = name or self.name(op)
        outs = [f"{name}_out"] + [f"{name}_out{i}" for i in range(1, outputs)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=name, **attrs))
        return outs[0]

    def conv(self, x, cin, cout, k=3, stride=1, pads=None, group=1, bias=True, name=None, **attrs):
        w = self.const(self.rng.normal(0, np.sqrt(2 / (k * k * cin / group)), (cout, cin // group, k, k)))
        ins = [x, w] + ([self.const(self.rng.normal(0, 0.1, cout))] if bias else [])
        p = k // 2 if pads is None else pads
        pads = [p] * 4 if isinstance(p, int) else list(p)
        if "auto_pad" not in attrs:
            attrs["pads"] = pads
        return self.node("Conv", ins, name=name, kernel_shape=[k, k], strides=[stride, stride], group=group,
                         **attrs)

    def bn(self, x, c, eps=1e-5):
        r = self.rng
        ins = [x] + [self.const(v) for v in (r.uniform(0.6, 1.4, c), r.normal(0.1, 0.1, c),
                                             r.normal(0, 0.1, c), r.uniform(0.5, 1.5, c))]
        return self.node("BatchNormalization", ins, epsilon=eps)

    def clip(self, x, lo=0.0, hi=6.0):
        return self.node("Clip", [x, self.const(np.float32(lo)), self.const(np.float32(hi))])

    def model(self, out, opset=13, outputs=None, in_shape=None):
        g = helper.make_graph(self.nodes, "test_net",
                              [helper.make_tensor_value_info(self.input, TensorProto.FLOAT,
                                                             list(in_shape or self.shape))],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs or [out]],
                              self.inits)
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)

    def save(self, out, path, **kw):
        m = self.model(out, **kw)
        onnx.save(m, str(path))
        return path


def resnet_style(g: Graph) -> str:
    """conv+BN+ReLU, padded max pool, a basic block, a down-sampling block with a 1x1 shortcut,
    global average pool, flatten + Gemm (transB) classifier; Identity and Dropout on the way."""
    x = g.node("Relu", [g.bn(g.conv(g.input, 3, 8, bias=False), 8)], name="stem/relu")
    x = g.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])      # 8x8
    y = g.node("Relu", [g.bn(g.conv(x, 8, 8, bias=False), 8)])
    y = g.bn(g.conv(y, 8, 8, bias=False), 8, eps=1e-3)
    x = g.node("Relu", [g.node("Add", [y, x])])
    y = g.node("Relu", [g.bn(g.conv(x, 8, 16, stride=2, bias=False), 16)])                  # 4x4
    y = g.bn(g.conv(y, 16, 16, bias=False), 16)
    s = g.bn(g.conv(x, 8, 16, k=1, stride=2, pads=0, bias=False), 16)
    x = g.node("Identity", [g.node("Relu", [g.node("Add", [y, s])])])
    x = g.node("Dropout", [g.node("Flatten", [g.node("GlobalAveragePool", [x])])])
    return g.node("Gemm", [x, g.const(g.rng.normal(0, 0.3, (10, 16))), g.const(g.rng.normal(0, 0.1, 10))],
                  name="fc", transB=1)


def mobilenet_style(g: Graph) -> str:
    """conv stride 2 + BN + ReLU6, an inverted residual (1x1 expansion, depthwise 3x3 groups=C,
    ReLU6 as Clip(0, 6), linear projection, add), a padded average pool counting its padding."""
    x = g.clip(g.bn(g.conv(g.input, 3, 8, stride=2), 8))                       # 8x8x8
    y = g.clip(g.bn(g.conv(x, 8, 24, k=1, pads=0), 24))
    y = g.clip(g.bn(g.conv(y, 24, 24, group=24), 24))
    y = g.bn(g.conv(y, 24, 8, k=1, pads=0), 8)
    x = g.node("Add", [y, x])
    x = g.node("AveragePool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)
    return g.clip(g.conv(x, 8, 12, k=1, pads=0), 0, 6)


def skynet_style(g: Graph) -> str:
    """Depthwise + pointwise bundles with ReLU6, max pools, a space-to-depth bypass concatenated on the
    channel axis, asymmetric ("SAME_UPPER") padding, a 1x1 output conv."""
    def bundle(x, cin, cout):
        x = g.clip(g.bn(g.conv(x, cin, cin, group=cin, pads=None), cin))
        return g.clip(g.bn(g.conv(x, cin, cout, k=1, pads=0), cout))
    x = g.node("MaxPool", [bundle(g.input, 3, 8)], kernel_shape=[2, 2], strides=[2, 2])      # 8x8x8
    b = bundle(x, 8, 12)
    x = g.node("MaxPool", [b], kernel_shape=[2, 2], strides=[2, 2])                          # 4x4x12
    x = g.conv(x, 12, 16, k=2, pads=None, auto_pad="SAME_UPPER")
    x = g.node("Concat", [g.node("SpaceToDepth", [b], blocksize=2), x], axis=1)              # 4x4x64
    return g.conv(x, 64, 10, k=1, pads=0)


def _run(tmp_path, build, shape=(1, 3, 16, 16), seed=0):
    g = Graph(shape, seed)
    out = build(g)
    path = g.save(out, tmp_path / f"{build.__name__}.onnx")
    net, params = import_onnx(path)
    img = np.random.default_rng(seed + 1).uniform(-1, 1, shape[1:]).transpose(1, 2, 0)     # HWC
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"image": img.transpose(2, 0, 1)[None].astype(np.float32)})[0]
    got = float_forward(net, fold_batchnorm(net, params), img)[net.output.name]
    want = want[0].transpose(1, 2, 0) if want.ndim == 4 else want.reshape(got.shape)
    assert got.shape == want.shape
    err = np.abs(got - want).max() / np.abs(want).max()
    assert err < 1e-4, err
    return net, params, path


def test_resnet_style_equals_onnxruntime(tmp_path):
    net, params, _ = _run(tmp_path, resnet_style)
    kinds = [(l.kind, l.activation) for l in net.layers]
    assert kinds[:2] == [("conv", "relu"), ("maxpool", "none")]
    assert [k for k, _ in kinds].count("add") == 2 and kinds[-2:] == [("avgpool", "none"), ("conv", "none")]
    assert net.layers[0].name == "conv_1" and net.layers[0].batchnorm and net.layers[1].padding == (1, 1, 1, 1)
    fc = net.layer("fc")
    assert (fc.kernel, fc.out_channels) == (1, 10) and net.shape("fc") == (1, 1, 10)
    assert params["fc"]["weight"].shape == (1, 1, 16, 10)
    assert net.input_shape == (16, 16, 3) and net.name == "resnet_style"


def test_mobilenet_style_equals_onnxruntime(tmp_path):
    net, params, _ = _run(tmp_path, mobilenet_style)
    dw = [l for l in net.layers if l.depthwise]
    assert len(dw) == 1 and dw[0].groups == 24 and dw[0].activation == "relu6"
    assert params[dw[0].name]["weight"].shape == (3, 3, 1, 24)
    add = [l for l in net.layers if l.kind == "add"][0]
    assert add.activation == "none" and net.layer(add.inputs[0]).activation == "none"
    pool = [l for l in net.layers if l.kind == "avgpool"][0]
    assert (pool.kernel, pool.stride, pool.padding) == (3, 2, (1, 1, 1, 1))
    assert net.output.activation == "relu6" and not net.output.batchnorm


def test_skynet_style_equals_onnxruntime(tmp_path):
    net, _, _ = _run(tmp_path, skynet_style, (1, 3, 16, 16))
    assert [l.kind for l in net.layers].count("reorg") == 1
    cat = [l for l in net.layers if l.kind == "concat"][0]
    assert net.shape(cat.name) == (4, 4, 64)
    same = [l for l in net.layers if l.kernel == 2 and l.kind == "conv"][0]
    assert same.padding == (0, 1, 0, 1)          # SAME_UPPER puts the odd row/column at the end


def test_dense_gemm_over_a_map_is_a_square_conv(tmp_path):
    def build(g):
        x = g.node("Relu", [g.conv(g.input, 3, 6, k=4, stride=4, pads=0)])                 # 4x4x6
        x = g.node("Reshape", [x, g.const_int([1, -1])])
        x = g.node("Relu", [g.node("Gemm", [x, g.const(g.rng.normal(0, 0.2, (96, 20))),
                                            g.const(g.rng.normal(0, 0.1, (1, 20)))], alpha=0.5, beta=2.0)])
        return g.node("Gemm", [x, g.const(g.rng.normal(0, 0.2, (7, 20)))], transB=1)
    net, params, _ = _run(tmp_path, build)
    first = net.layers[1]
    assert (first.kind, first.kernel, first.padding, first.activation) == ("conv", 4, "none", "relu")
    assert net.shape(net.output.name) == (1, 1, 7)


def test_load_network_and_model(tmp_path):
    g = Graph()
    path = g.save(resnet_style(g), tmp_path / "r.onnx")
    net, params = load_model(str(path), None, 5)
    assert load_network(str(path)) == net and set(params) == {l.name for l in net.layers if l.kind == "conv"}
    with pytest.raises(ModelError, match=r"--weights w\.npz cannot be combined with ONNX model .*r\.onnx: its "
                                         r"weights are the model's initializers"):
        load_model(str(path), "w.npz")


def test_compile_and_infer_fsim(tmp_path, capsys):
    g = Graph()
    path = g.save(resnet_style(g), tmp_path / "r.onnx")
    out = tmp_path / "c"
    assert main(["accel", "compile", "--preset", "tiny", "--model", str(path), "--out", str(out)]) == 0
    assert "r compiled" in capsys.readouterr().out
    assert main(["accel", "infer", str(out), "--images", "2", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["mismatches"] == 0 and r["images"] == 2 and r["output"]["kind"] == "classifier"
    assert r["frames"][0]["top1"] == r["frames"][0]["golden_top1"]
    assert main(["accel", "compile", "--model", str(path), "--weights", "w.npz", "--out", str(tmp_path / "x")]) == 2
    assert "cannot be combined with ONNX model" in capsys.readouterr().err


def test_hls_generate(tmp_path, capsys):
    g = Graph()
    path = g.save(mobilenet_style(g), tmp_path / "m.onnx")
    assert main(["hls", "generate", "--model", str(path), "--fps", "100", "--out", str(tmp_path / "h")]) == 0
    assert (tmp_path / "h" / "quant.npz").is_file()
    assert main(["hls", "generate", "--model", str(path), "--weights", "w.npz", "--out", str(tmp_path / "y")]) == 2
    assert "its weights are the model's initializers" in capsys.readouterr().err
    assert main(["hls", "project", "--set", f"model={path}", "--set", "fps=100", "--out", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "bd.tcl").is_file() and "hwgen_hls_m_ultra96v2_" in capsys.readouterr().out


def test_names_become_unique_c_identifiers(tmp_path):
    g = Graph()
    x = g.conv(g.input, 3, 4, name="layer1.0/conv 1")
    x = g.conv(x, 4, 4, name="layer1.0/conv-1")
    x = g.conv(x, 4, 4, name="2nd")
    x = g.conv(x, 4, 4, name="int")
    x = g.conv(x, 4, 4, name="input")
    net, _ = import_onnx(g.save(x, tmp_path / "n.onnx"))
    assert [l.name for l in net.layers] == ["layer1_0_conv_1", "layer1_0_conv_1_2", "l_2nd", "int_", "input_"]


def test_unused_nodes_are_skipped_and_constants_read(tmp_path):
    g = Graph()
    x = g.conv(g.input, 3, 4)
    g.conv(x, 4, 4)                                   # nobody reads it
    lo = g.node("Constant", [], value=numpy_helper.from_array(np.float32(0.0), "lo"))
    hi = g.node("Constant", [], value=numpy_helper.from_array(np.float32(6.0), "hi"))
    x = g.node("Clip", [x, lo, hi])
    net, _ = import_onnx(g.save(x, tmp_path / "n.onnx"))
    assert [(l.kind, l.activation) for l in net.layers] == [("conv", "relu6")]


# -- refusals ----------------------------------------------------------------------------------------
def _bad(tmp_path, build, match, shape=(1, 3, 16, 16), **kw):
    g = Graph(shape)
    out = build(g)
    path = g.save(out, tmp_path / "bad.onnx", **kw)
    with pytest.raises(ModelError, match=match):
        import_onnx(path)


@pytest.mark.parametrize("build, match", [
    (lambda g: g.node("Sigmoid", [g.conv(g.input, 3, 4)], name="act"),
     r"^ONNX model .*bad\.onnx: node 'act' \(Sigmoid\): unsupported operator; supported: Conv, "
     r"BatchNormalization, Relu, Clip, .*Identity, Dropout, Constant, Shape, Gather, Unsqueeze, Squeeze, Cast, ReduceMean$"),
    (lambda g: g.node("Conv", [g.input, g.const(np.ones((4, 3, 3, 1)))], name="c", kernel_shape=[3, 1]),
     r"node 'c' \(Conv\): kernels must be square \(the IR has one kernel size\), not 3x1"),
    (lambda g: g.conv(g.input, 3, 4, name="c", dilations=[2, 2]),
     r"node 'c' \(Conv\): dilation must be 1 \(the IR has no dilated windows\), not \[2, 2\]"),
    (lambda g: g.node("Conv", [g.input, g.const(np.ones((4, 3, 3, 3)))], name="c", strides=[1, 2]),
     r"node 'c' \(Conv\): strides must be equal on both axes \(the IR has one stride\), not \[1, 2\]"),
    (lambda g: g.node("AveragePool", [g.input], name="p", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
     r"node 'p' \(AveragePool\): a padded average pool must count the padding \(count_include_pad=1\): "
     r"hwgen divides every window by K\*K"),
    (lambda g: g.clip(g.conv(g.input, 3, 4), 0, 4),
     r"\(Clip\): only Clip\(0, 6\) \(ReLU6\) and Clip\(0, inf\) \(ReLU\) are supported, not Clip\(0, 4\)"),
    (lambda g: g.bn(g.node("MaxPool", [g.input], kernel_shape=[2, 2], strides=[2, 2]), 3),
     r"\(BatchNormalization\): BatchNormalization must follow a Conv, not a maxpool layer"),
    (lambda g: g.node("Relu", [g.node("MaxPool", [g.input], kernel_shape=[2, 2], strides=[2, 2])]),
     r"\(Relu\): Relu folds into a Conv or Add before it \(or before the MaxPool before it, which it alone "
     r"reads\), not a maxpool layer"),
    (lambda g: (lambda c: g.node("Add", [g.node("Relu", [g.node("MaxPool", [c], kernel_shape=[1, 1])]), c]))(
        g.conv(g.input, 3, 3)),
     r"\(Relu\): Relu folds into a Conv or Add before it \(or before the MaxPool before it, which it alone "
     r"reads\), not a maxpool layer"),
    (lambda g: g.node("Relu", [g.input]), r"\(Relu\): Relu must follow a layer, not the network input"),
    (lambda g: (lambda c: g.node("Add", [g.node("Relu", [c]), c]))(g.conv(g.input, 3, 3)),
     r"\(Relu\): Relu folds into layer conv_1, so it must be the only reader of that layer's output "
     r"\('conv_1_out'\), which 1 other node\(s\) read\(s\) too"),
    (lambda g: (lambda c: g.node("Add", [g.node("Relu", [g.node("Identity", [c])], name="r"), g.conv(c, 3, 3)]))(
        g.conv(g.input, 3, 3)),
     r"node 'r' \(Relu\): Relu folds into layer conv_1, so it must be the only reader of that layer's output "
     r"\('identity_2_out'\), which 1 other node\(s\) read\(s\) too"),
    (lambda g: g.node("Relu", [g.bn(g.node("Relu", [g.conv(g.input, 3, 3)]), 3)]),
     r"\(BatchNormalization\): BatchNormalization must come before the activation of the Conv it follows"),
    (lambda g: g.node("Concat", [g.conv(g.input, 3, 2), g.conv(g.input, 3, 2)], name="cat", axis=2),
     r"node 'cat' \(Concat\): only the channel axis \(1\) can be concatenated, not axis 2"),
    (lambda g: g.node("Add", [g.conv(g.input, 3, 2), g.conv(g.input, 3, 4)], name="a"),
     r"node 'a' \(Add\): inputs must have one shape \(no broadcasting\), not 16x16x2 vs 16x16x4 \(HxWxC\)"),
    (lambda g: g.node("MaxPool", [g.const(np.ones((1, 3, 4, 4)))], name="p", kernel_shape=[2, 2]),
     r"node 'p' \(MaxPool\): input 0 \('w_\d+'\) is a constant; hwgen layers take feature maps"),
    (lambda g: g.node("Add", [g.conv(g.input, 3, 2), g.const(np.ones((1, 2, 16, 16)))], name="a"),
     r"node 'a' \(Add\): the constant of shape \[1, 2, 16, 16\] must be one value per channel "
     r"\(\[1, C, 1, 1\] with C = 2\)"),
    (lambda g: g.node("Add", [g.node("Relu", [g.conv(g.input, 3, 2)]), g.const(np.ones((1, 2, 1, 1)))], name="a"),
     r"node 'a' \(Add\): a constant can only be added to a Conv or Gemm output before its activation "
     r"\(it becomes the bias\)"),
    (lambda g: g.node("Add", [g.node("MaxPool", [g.input], kernel_shape=[2, 2]), g.const(np.ones(1))], name="a"),
     r"node 'a' \(Add\): a constant can only be added to a Conv or Gemm output"),
    (lambda g: g.node("Pad", [g.input, g.const_int([0, 0, 1, 1, 0, 0, 1, 1])], name="pad", mode="reflect"),
     r"node 'pad' \(Pad\): only zero padding of H and W \(mode constant, value 0, pads >= 0\) is supported, "
     r"not mode reflect value 0 pads \[0, 0, 1, 1, 0, 0, 1, 1\]"),
    (lambda g: g.node("Pad", [g.input, g.const_int([0, 1, 0, 0, 0, 0, 0, 0])], name="pad"),
     r"node 'pad' \(Pad\): only zero padding of H and W"),
    (lambda g: g.node("MaxPool", [g.node("Pad", [g.input, g.const_int([0, 0, 1, 1, 0, 0, 1, 1])])], name="p",
                      kernel_shape=[2, 2]),
     r"node 'p' \(MaxPool\): input 0 \('pad_\d+_out'\) comes from a Pad; a Pad folds only into the Conv or "
     r"AveragePool reading it"),
    (lambda g: g.node("Pad", [g.input, g.const_int([0, 0, 1, 1, 0, 0, 1, 1])]),
     r"output 'pad_1_out' comes from a Pad; a Pad folds only into the Conv or AveragePool reading it"),
    (lambda g: g.node("Transpose", [g.conv(g.input, 3, 2)], name="t", perm=[0, 1, 3, 2]),
     r"node 't' \(Transpose\): only Transpose\(perm=\[0, 3, 1, 2\]\) of an NHWC input image and "
     r"Transpose\(perm=\[0, 2, 3, 1\]\) to the graph output are supported, not perm \[0, 1, 3, 2\]"),
    (lambda g: g.node("Gemm", [g.node("Flatten", [g.conv(g.input, 3, 1, k=1, pads=[0, 0, 8, 0])]),
                               g.const(np.ones((384, 4)))], name="fc"),
     r"node 'fc' \(Gemm\): a dense layer over a 24x16 map is not a square conv; pool it to a square map first"),
    (lambda g: g.node("ReduceMean", [g.input], name="m", axes=[1, 2]),
     r"node 'm' \(ReduceMean\): only a mean over H and W \(axes \[2, 3\], a global average pool\) is "
     r"supported, not axes \[1, 2\]"),
    (lambda g: g.node("Squeeze", [g.input, g.const_int([2, 3])], name="sq"),
     r"node 'sq' \(Squeeze\): only squeezing H and W \(axes \[2, 3\]\) of a 1x1 map is supported, not axes "
     r"\[2, 3\] of a 16x16 map"),
    (lambda g: g.node("Gather", [g.input, g.const_int(0)], name="gt"),
     r"node 'gt' \(Gather\): input 0 \('image'\) must be a constant \(an initializer or Constant node\)"),
    (lambda g: g.node("MatMul", [g.node("Flatten", [g.input]), g.node("Flatten", [g.input])], name="mm"),
     r"node 'mm' \(MatMul\): its second input must be a constant weight matrix \[N_in, N_out\]"),
    (lambda g: g.node("Gemm", [g.input, g.const(np.ones((16, 4)))], name="fc"),
     r"node 'fc' \(Gemm\): Gemm must read a flattened map \(Flatten or Reshape to \[1, N\] before it\)"),
    (lambda g: g.node("Gemm", [g.node("Flatten", [g.input]), g.const(np.ones((5, 4)))], name="fc"),
     r"node 'fc' \(Gemm\): weight B of shape \[5, 4\] does not take the 768 inputs"),
    (lambda g: g.node("Reshape", [g.input, g.const_int([1, 3, 256])], name="r"),
     r"node 'r' \(Reshape\): only a reshape to \[1, C\*H\*W\] = \[1, 768\] \(flatten\) is supported, "
     r"not \[1, 3, 256\]"),
    (lambda g: g.node("Conv", [g.node("Flatten", [g.input]), g.const(np.ones((4, 3, 1, 1)))], name="c"),
     r"node 'c' \(Conv\): its input is a flattened \[1, N\] tensor; it needs a feature map \[1, C, H, W\]"),
    (lambda g: g.node("MaxPool", [g.input], name="p", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
     r"node 'p' \(MaxPool\): ceil_mode=1 adds a partial window on this 16x16 map; the IR rounds the output "
     r"size down"),
    (lambda g: g.node("Conv", [g.input, g.const(np.ones((4, 3, 3, 3)))], name="c", kernel_shape=[3, 3],
                      pads=[0, 0, 0, 0], group=3),
     r"node 'c' \(Conv\): weight shape \[4, 3, 3, 3\] does not fit a 3x3 kernel over 3 input channels in 3 groups"),
    (lambda g: g.node("Conv", [g.input, g.const(np.ones((4, 3, 9, 9)))], name="c", kernel_shape=[9, 9],
                      strides=[1, 1]),
     None),
])
def test_refusals(tmp_path, build, match):
    if match is None:   # a 9x9 kernel on a 4x4 image: the IR's own shape check, named with the node
        _bad(tmp_path, build, r"node 'c' \(Conv\): layer c: shapes do not chain: a 9x9 window does not fit "
                              r"the 4x4 input", shape=(1, 3, 4, 4))
        return
    _bad(tmp_path, build, match)


def test_global_pool_of_a_non_square_map(tmp_path):
    _bad(tmp_path, lambda g: g.node("GlobalAveragePool", [g.input], name="gap"),
         r"node 'gap' \(GlobalAveragePool\): a global average pool needs a square map \(the IR's kernels are "
         r"square\), not 8x16", shape=(1, 3, 8, 16))


def test_graph_level_refusals(tmp_path):
    _bad(tmp_path, lambda g: g.conv(g.input, 3, 4), r"input 'image' must have batch 1, not 2", shape=(2, 3, 8, 8))
    _bad(tmp_path, lambda g: g.conv(g.input, 3, 4), r"input 'image' needs fixed C, H and W, not shape "
                                                   r"\['N', 3, 'H', 8\]", shape=("N", 3, "H", 8))
    _bad(tmp_path, lambda g: g.conv(g.input, 3, 4), r"input 'image' must be a 4-D NCHW \(or NHWC\) image, not shape \[3, 8, 8\]",
         shape=(3, 8, 8))
    _bad(tmp_path, lambda g: g.node("Identity", [g.input]), r"output 'identity_1_out' is not computed by any layer")

    def two(g):
        g.two = [g.conv(g.input, 3, 4), g.conv(g.input, 3, 4)]
        return g.two[0]
    g = Graph()
    a = two(g)
    path = g.save(a, tmp_path / "two.onnx", outputs=g.two)
    with pytest.raises(ModelError, match=r"two\.onnx must have one output, not 2 \(conv_1_out, conv_2_out\)"):
        import_onnx(path)


def test_batch_is_symbolic_ok(tmp_path):
    g = Graph(("batch", 3, 8, 8))
    net, _ = import_onnx(g.save(g.conv(g.input, 3, 4), tmp_path / "n.onnx"))
    assert net.input_shape == (8, 8, 3)


def test_file_refusals(tmp_path, monkeypatch):
    with pytest.raises(ModelError, match=r"^ONNX model .*nope\.onnx does not exist$"):
        import_onnx(tmp_path / "nope.onnx")
    with pytest.raises(ModelError, match=r"^ONNX model .* is a directory, not an \.onnx file$"):
        import_onnx(tmp_path)
    (tmp_path / "junk.onnx").write_bytes(b"\xff\xfe not a protobuf at all")
    with pytest.raises(ModelError, match=r"^ONNX model .*junk\.onnx is not an ONNX protobuf file"):
        import_onnx(tmp_path / "junk.onnx")
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ToolError, match=r"reading ONNX models needs the onnx package: pip install onnx"):
        import_onnx(tmp_path / "junk.onnx")


# -- built-in networks through ONNX and back ---------------------------------------------------------
def to_onnx(net, params, path):
    """``net`` (without a head) as an ONNX graph named like its layers, batch norms as nodes."""
    g = Graph((1, net.input_shape[2], *net.input_shape[:2]))
    out = {"input": g.input}

    def act(x, layer):
        if layer.activation == "relu":
            return g.node("Relu", [x], name=f"{layer.name}_relu")
        if layer.activation == "relu6":
            return g.clip(x)
        return x
    for layer in net.layers:
        if layer.kind == "head":
            break
        ins = [out[s] for s in net.inputs_of(layer)]
        t, b, l, r = net.pads(layer)
        win = dict(kernel_shape=[layer.kernel] * 2, strides=[layer.stride] * 2, pads=[t, l, b, r])
        if layer.kind == "conv":
            p = params[layer.name]
            x = g.node("Conv", [ins[0], g.const(p["weight"].transpose(3, 2, 0, 1)), g.const(p["bias"])],
                       name=layer.name, group=layer.groups, **win)
            if layer.batchnorm:
                x = g.node("BatchNormalization", [x] + [g.const(p[k]) for k in
                                                        ("bn_gamma", "bn_beta", "bn_mean", "bn_var")])
            x = act(x, layer)
        elif layer.kind == "maxpool":
            x = g.node("MaxPool", ins, name=layer.name, **win)
        elif layer.kind == "avgpool":
            x = g.node("AveragePool", ins, name=layer.name, count_include_pad=1, **win)
        elif layer.kind == "reorg":
            x = g.node("SpaceToDepth", ins, name=layer.name, blocksize=layer.stride)
        elif layer.kind == "concat":
            x = g.node("Concat", ins, name=layer.name, axis=1)
        else:
            x = act(g.node("Sum" if len(ins) > 2 else "Add", ins, name=layer.name), layer)
        out[layer.name] = x
    return g.save(x, path, opset=17)


@pytest.mark.parametrize("model", ["resnet-tiny", "skynet-tiny", "mbv2-tiny"])
def test_builtin_networks_round_trip(tmp_path, model):
    from hwgen.nn.ir import Network
    from hwgen.nn.models import build_model, mobilenetv2_like, random_params
    if model == "mbv2-tiny":
        net = mobilenetv2_like("mbv2_tiny", 32, 8, ((1, 8, 1, 1), (4, 12, 2, 2), (4, 16, 2, 2)), 32, 10)
    else:
        net = build_model(model)
    if net.output.kind == "head":
        net = Network(name=net.name, input_shape=net.input_shape, layers=net.layers[:-1])
    params = random_params(net, 3)
    path = to_onnx(net, params, tmp_path / "m.onnx")
    got, gparams = import_onnx(path)

    def layers(n):
        return [dict(l.__dict__, inputs=n.inputs_of(l), padding=n.pads(l)) for l in n.layers]
    assert layers(got) == layers(net) and got.input_shape == net.input_shape
    img = np.random.default_rng(4).uniform(0, 1, net.input_shape)
    mine = float_forward(got, fold_batchnorm(got, gparams), img)[got.output.name]
    ref = float_forward(net, fold_batchnorm(net, params), img)[net.output.name]
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"image": img.transpose(2, 0, 1)[None].astype(np.float32)})[0][0].transpose(1, 2, 0)
    assert np.abs(mine - ref).max() <= 1e-6 * np.abs(ref).max()          # float32 weights in the file
    assert np.abs(mine - want).max() <= 1e-4 * np.abs(want).max()


def _tf_style_map(g):
    """TensorFlow's export: an NHWC image transposed to NCHW, explicit Pad nodes (asymmetric before a
    stride-2 conv), biases as Adds of constants (after a batch norm too), NHWC output."""
    x = g.node("Transpose", [g.input], perm=[0, 3, 1, 2])
    x = g.node("Pad", [x, g.const_int([0, 0, 0, 0, 0, 0, 1, 1])])
    x = g.conv(x, 3, 8, stride=2, pads=0, bias=False)
    x = g.node("Relu", [g.node("Add", [x, g.const(g.rng.normal(0, 0.1, (1, 8, 1, 1)))])])
    x = g.node("Pad", [x, g.const_int([1, 1, 1, 1]), g.const(np.float32(0)), g.const_int([2, 3])])   # opset 18 axes
    x = g.node("AveragePool", [x], kernel_shape=[3, 3], strides=[1, 1])
    x = g.bn(g.conv(x, 8, 6, k=1, pads=0, bias=False), 6)
    x = g.clip(g.node("Add", [g.const(g.rng.normal(0, 0.1, (6, 1, 1))), x]))
    return g.node("Transpose", [x], perm=[0, 2, 3, 1])


def _tf_style_dense(g):
    x = g.node("Transpose", [g.input], perm=[0, 3, 1, 2])
    x = g.node("GlobalAveragePool", [g.node("Relu", [g.conv(x, 3, 8)])])
    x = g.node("Reshape", [x, g.const_int([-1, 8])])
    x = g.node("Relu", [g.node("Add", [g.node("MatMul", [x, g.const(g.rng.normal(0, 0.3, (8, 12)))]),
                                       g.const(g.rng.normal(0, 0.1, 12))])])
    return g.node("MatMul", [x, g.const(g.rng.normal(0, 0.3, (12, 5)))])


@pytest.mark.parametrize("build", [_tf_style_map, _tf_style_dense])
def test_tf_style_nhwc_graphs_equal_onnxruntime(tmp_path, build):
    g = Graph((1, 16, 16, 3), seed=2)
    path = g.save(build(g), tmp_path / "tf.onnx", opset=18)
    net, params = import_onnx(path)
    assert net.input_shape == (16, 16, 3)
    img = np.random.default_rng(7).uniform(-1, 1, (16, 16, 3))
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"image": img[None].astype(np.float32)})[0]
    got = float_forward(net, fold_batchnorm(net, params), img)[net.output.name]
    want = want[0] if want.ndim == 4 else want.reshape(got.shape)
    assert got.shape == want.shape and np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
    if build is _tf_style_map:
        conv = net.layers[0]
        assert (conv.stride, conv.padding, conv.activation) == (2, (0, 1, 0, 1), "relu")
        assert net.layers[1].kind == "avgpool" and net.layers[1].padding == (1, 1, 1, 1)
        assert net.output.batchnorm and net.output.activation == "relu6"
    else:
        assert [l.kind for l in net.layers] == ["conv", "avgpool", "conv", "conv"]


def test_view_batch_minus_one_shape_arithmetic(tmp_path):
    """PyTorch's ``x.view(x.size(0), -1)``: Shape, Gather, Unsqueeze, Concat, Cast, Reshape."""
    def build(g):
        x = g.node("GlobalAveragePool", [g.node("Relu", [g.conv(g.input, 3, 8)])])
        n = g.node("Gather", [g.node("Shape", [x]), g.const_int(0)], axis=0)
        n = g.node("Unsqueeze", [n, g.const_int([0])])
        shape = g.node("Cast", [g.node("Concat", [n, g.const_int([-1])], axis=0)], to=TensorProto.INT64)
        x = g.node("Reshape", [x, g.node("Identity", [shape])])
        return g.node("Gemm", [x, g.const(g.rng.normal(0, 0.3, (4, 8)))], transB=1)
    net, _, _ = _run(tmp_path, build)
    assert [l.kind for l in net.layers] == ["conv", "avgpool", "conv"] and net.shape(net.output.name) == (1, 1, 4)


def test_small_batchnorm_epsilon_is_folded(tmp_path):
    """An epsilon below hwgen's 1e-5 with a near-zero variance cannot ride in bn_var: folded instead."""
    def build(g):
        x = g.conv(g.input, 3, 4, bias=True)
        ins = [x] + [g.const(v) for v in (np.ones(4), np.zeros(4), np.zeros(4), np.full(4, 1e-7))]
        return g.node("BatchNormalization", ins, epsilon=1e-7)
    net, params, _ = _run(tmp_path, build)
    assert not net.layers[0].batchnorm and set(params[net.layers[0].name]) == {"weight", "bias"}


def test_network_is_named_after_the_file(tmp_path):
    g = Graph()
    net, _ = import_onnx(g.save(g.conv(g.input, 3, 4), tmp_path / "18-layer net.v2.onnx"))
    assert net.name == "n_18_layer_net_v2"


def test_old_opsets_are_converted(tmp_path):
    """An opset 9 graph (Clip's bounds and Pad's pads as attributes, the model zoo's era)."""
    def build(g):
        x = g.node("Clip", [g.bn(g.conv(g.input, 3, 4), 4)], min=0.0, max=6.0)
        x = g.node("Pad", [x], pads=[0, 0, 1, 1, 0, 0, 1, 1], mode="constant")
        return g.node("AveragePool", [x], kernel_shape=[3, 3])
    g = Graph()
    path = g.save(build(g), tmp_path / "old.onnx", opset=9)
    net, params = import_onnx(path)
    assert [(l.kind, l.activation, l.padding) for l in net.layers] == [
        ("conv", "relu6", (1, 1, 1, 1)), ("avgpool", "none", (1, 1, 1, 1))]
    img = np.random.default_rng(2).uniform(-1, 1, (16, 16, 3))
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"image": img.transpose(2, 0, 1)[None].astype(np.float32)})[0][0].transpose(1, 2, 0)
    got = float_forward(net, fold_batchnorm(net, params), img)[net.output.name]
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


def test_opset_refusals(tmp_path, monkeypatch):
    from onnx import version_converter

    def fail(model, target):
        raise RuntimeError("No Adapter For Current Version\nmore")
    monkeypatch.setattr(version_converter, "convert_version", fail)
    g = Graph()
    path = g.save(g.conv(g.input, 3, 4), tmp_path / "v.onnx", opset=9)
    with pytest.raises(ModelError, match=r"^ONNX model .*v\.onnx: opset 9 is outside 11\.\.20 and onnx's version "
                                         r"converter could not bring it to 13: No Adapter For Current Version$"):
        import_onnx(path)
    m = g.model(g.nodes[-1].output[0])
    del m.opset_import[:]
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    onnx.save(m, str(tmp_path / "d.onnx"))
    with pytest.raises(ModelError, match=r"d\.onnx imports no ai\.onnx opset \(only com\.example\)$"):
        import_onnx(tmp_path / "d.onnx")


def test_model_local_functions_are_inlined(tmp_path):
    """PyTorch's dynamo exporter may keep modules as model-local functions."""
    g = Graph()
    w = g.const(g.rng.normal(0, 0.3, (4, 3, 3, 3)))
    fn = helper.make_function("local", "ConvRelu", ["x", "w"], ["y"],
                              [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                               helper.make_node("Relu", ["c"], ["y"])],
                              [helper.make_opsetid("", 17)])
    g.nodes.append(helper.make_node("ConvRelu", [g.input, w], ["out"], name="block", domain="local"))
    m = g.model("out", opset=17)
    m.opset_import.append(helper.make_opsetid("local", 1))
    m.functions.append(fn)
    onnx.save(m, str(tmp_path / "f.onnx"))
    net, _ = import_onnx(tmp_path / "f.onnx")
    assert [(l.kind, l.activation, l.padding) for l in net.layers] == [("conv", "relu", (1, 1, 1, 1))]


@pytest.mark.parametrize("opset", [13, 18])
def test_reduce_mean_and_squeeze_classifier(tmp_path, opset):
    """TensorFlow's global pool: ReduceMean over H and W (keepdims 0, or 1 then Squeeze), MatMul."""
    def build(g):
        x = g.node("Relu", [g.conv(g.input, 3, 8)])
        if opset >= 18:
            x = g.node("ReduceMean", [x, g.const_int([-2, -1])], keepdims=0)
        else:
            x = g.node("Squeeze", [g.node("ReduceMean", [x], axes=[2, 3]), g.const_int([2, 3])])
        return g.node("MatMul", [x, g.const(g.rng.normal(0, 0.3, (8, 5)))])
    g = Graph()
    path = g.save(build(g), tmp_path / "rm.onnx", opset=opset)
    net, params = import_onnx(path)
    assert [l.kind for l in net.layers] == ["conv", "avgpool", "conv"]
    img = np.random.default_rng(2).uniform(-1, 1, (16, 16, 3))
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"image": img.transpose(2, 0, 1)[None].astype(np.float32)})[0].reshape(-1)
    got = float_forward(net, fold_batchnorm(net, params), img)[net.output.name].reshape(-1)
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()



def test_relu_after_max_pool_moves_before_it(tmp_path):
    """PyTorch's MNIST example: relu(max_pool2d(conv(x), 2)), and a padded pool with ReLU6."""
    def build(g):
        x = g.node("Relu", [g.node("MaxPool", [g.conv(g.input, 3, 4)], kernel_shape=[2, 2], strides=[2, 2])])
        x = g.node("MaxPool", [g.conv(x, 4, 6)], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
        return g.clip(x)
    net, _, _ = _run(tmp_path, build)
    assert [(l.kind, l.activation) for l in net.layers] == [
        ("conv", "relu"), ("maxpool", "none"), ("conv", "relu6"), ("maxpool", "none")]


def test_sum_of_one_map_is_that_map(tmp_path):
    def build(g):
        return g.node("Relu", [g.node("Sum", [g.conv(g.input, 3, 4)])])
    net, _, _ = _run(tmp_path, build)
    assert [(l.kind, l.activation) for l in net.layers] == [("conv", "relu")]
