"""ONNX models (NCHW, opset 11..20, batch 1) to hwgen's network IR (channels last) and float params.

Other opsets go through onnx's version converter first (the ONNX model zoo's opset 7..10 models to
13, newer ones to 20); model-local functions are inlined.

:func:`import_onnx` walks the graph once, in its (topological) node order, and maps each node to a
layer of :mod:`hwgen.nn.ir` or folds it into the layer before it:

* ``Conv`` (groups, equal strides, square kernels, dilation 1, explicit or ``auto_pad`` padding) ->
  ``conv`` with ``padding=(top, bottom, left, right)``; weights ``[Cout, Cin/g, K, K]`` become
  ``[K, K, Cin/g, Cout]``.
* ``BatchNormalization`` right after a conv -> that conv's ``bn_*`` arrays (its ``epsilon`` moved into
  ``bn_var`` so that :func:`hwgen.nn.models.fold_batchnorm`'s fixed epsilon gives the same result).
* ``Relu`` and ``Clip(0, 6)`` / ``Clip(0, inf)`` -> the activation of the conv or add before them
  (or before the max pool before them: the clamp commutes with the max).
* ``MaxPool``, ``AveragePool`` (padding counted as zeros, ``count_include_pad=1``),
  ``GlobalAveragePool`` or ``ReduceMean`` over H and W (a square map) -> ``maxpool`` / ``avgpool``;
  ``Squeeze`` of a 1x1 map's H and W flattens it.
* ``Add`` / ``Sum`` of maps of one shape -> ``add``; ``Concat`` on the channel axis -> ``concat``;
  ``SpaceToDepth`` -> ``reorg`` (the same channel order).
* ``Flatten`` / ``Reshape`` to ``[1, N]`` then ``Gemm``: a dense layer over an ``S x S x C`` map is an
  ``S x S`` conv without padding to a ``1 x 1`` map (on a ``1 x 1`` map, a classifier's 1x1 conv).
* ``MatMul`` with a constant matrix is a ``Gemm``; an ``Add`` of a per-channel constant to a conv's or
  Gemm's output is its bias.
* TensorFlow's layout: an NHWC image read through ``Transpose(perm=[0, 3, 1, 2])``, a
  ``Transpose(perm=[0, 2, 3, 1])`` to the output, zero ``Pad`` nodes folded into the ``Conv`` or
  ``AveragePool`` after them.
* ``Identity`` and ``Dropout`` are dropped; nodes the output does not depend on are skipped; shape
  arithmetic on constants (``Shape``, ``Gather``, ``Unsqueeze``, ``Squeeze``, ``Cast``, ``Concat``:
  PyTorch's ``x.view(x.size(0), -1)``) is evaluated.

Anything else is refused with one line naming the node, its op type and what is supported.
"""
from __future__ import annotations

import keyword
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np

from ..errors import ModelError, ToolError
from .arrays import numeric
from .ir import Layer, Network, _layer_shape
from .models import BN_EPS, Params

#: ONNX operators the importer maps (see the module doc)
SUPPORTED_OPS = ("Conv", "BatchNormalization", "Relu", "Clip", "MaxPool", "AveragePool", "GlobalAveragePool",
                 "Add", "Sum", "Concat", "SpaceToDepth", "Flatten", "Reshape", "Gemm", "MatMul", "Pad",
                 "Transpose", "Identity", "Dropout", "Constant", "Shape", "Gather", "Unsqueeze", "Squeeze",
                 "Cast", "ReduceMean")
OPSET_MIN, OPSET_MAX = 11, 20

# words a C/C++ compiler reserves: a layer name must not be one (it names C++ variables)
_C_WORDS = frozenset("""auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef union unsigned void
volatile while bool class delete new operator private protected public template this throw try catch virtual
namespace using friend typename true false""".split())


@dataclass
class _Value:
    """What an ONNX tensor is in the IR: the output of layer ``layer`` (``"input"``), channels last;
    ``flat`` when the graph sees it as ``[1, H*W*C]`` (after Flatten/Reshape or Gemm); ``pads``
    ``(t, b, l, r)`` of zeros a Pad node put around it, for the Conv or AveragePool reading it;
    ``nhwc`` after the Transpose that ends a channels-last graph (allowed on the graph output only)."""
    layer: str
    flat: bool = False
    pads: tuple[int, int, int, int] | None = None
    nhwc: bool = False


class _Importer:
    def __init__(self, model: Any, path: str):
        self.path = path
        self.graph = model.graph
        self.consts: dict[str, np.ndarray] = {}
        self.values: dict[str, _Value] = {}
        self.layers: list[dict[str, Any]] = []      # Layer fields, mutable until the end
        self.params: Params = {}
        self.names: set[str] = {"input"}
        self.shapes: dict[str, tuple[int, int, int]] = {}
        self.uses: dict[str, int] = {}
        self.aliases: dict[str, set[str]] = {}      # layer -> the tensors that are its output
        self.outputs = [o.name for o in self.graph.output]

    # -- helpers ---------------------------------------------------------------------------------
    def fail(self, node, why: str) -> ModelError:
        return ModelError(f"ONNX model {self.path}: node {node.name or node.output[0]!r} ({node.op_type}): {why}")

    def unique(self, raw: str) -> str:
        name = re.sub(r"[^0-9A-Za-z_]", "_", raw).strip("_") or "layer"
        if name[0].isdigit():
            name = "l_" + name
        if name in _C_WORDS or keyword.iskeyword(name) or name == "input":
            name += "_"
        base, i = name, 2
        while name in self.names:
            name, i = f"{base}_{i}", i + 1
        self.names.add(name)
        return name

    def const(self, node, tensor: str, what: str) -> np.ndarray:
        if tensor not in self.consts:
            raise self.fail(node, f"{what} ({tensor!r}) must be a constant (an initializer or Constant node)")
        return self.consts[tensor]

    def map_in(self, node, i: int = 0, padded: bool = False) -> _Value:
        name = node.input[i] if i < len(node.input) else ""
        if name not in self.values:
            if name in self.consts:
                raise self.fail(node, f"input {i} ({name!r}) is a constant; hwgen layers take feature maps")
            raise self.fail(node, f"input {i} ({name!r}) is not produced by an earlier node")
        v = self.values[name]
        if v.pads is not None and not padded:
            raise self.fail(node, f"input {i} ({name!r}) comes from a Pad; a Pad folds only into the Conv or "
                                  f"AveragePool reading it")
        return v

    def spatial(self, node, v: _Value) -> tuple[int, int, int]:
        if v.flat:
            raise self.fail(node, "its input is a flattened [1, N] tensor; it needs a feature map [1, C, H, W]")
        return self.shape(v.layer)

    def shape(self, layer: str) -> tuple[int, int, int]:
        return self.shapes[layer]

    def add_layer(self, node, kind: str, inputs: tuple[str, ...], **fields: Any) -> str:
        name = self.unique(node.name or node.output[0])
        fields = {"name": name, "kind": kind, "inputs": inputs, **fields}
        try:
            self.shapes[name] = _layer_shape(Layer(**fields), [self.shape(s) for s in inputs])
        except ModelError as e:
            raise self.fail(node, str(e)) from None
        self.layers.append(fields)
        self.bind(node.output[0], _Value(name))
        return name

    def bind(self, tensor: str, value: _Value) -> None:
        self.values[tensor] = value
        self.aliases.setdefault(value.layer, set()).add(tensor)

    def fusable(self, node, v: _Value, what: str, src: str | None = None) -> dict[str, Any]:
        """The layer producing ``v`` (tensor ``src``, by default the node's first input) when ``node``
        may fold into it (it alone reads that tensor)."""
        src = node.input[0] if src is None else src
        if v.layer == "input":
            raise self.fail(node, f"{what} must follow a layer, not the network input")
        fields = next(f for f in self.layers if f["name"] == v.layer)
        # readers of the layer's output under any name (Identity, Flatten, a folded batch norm, ...),
        # less the links of that chain: ``node`` must be the only one
        readers = self._readers(v.layer)
        if readers != 1:    # (the graph output is read by no live node: one output, all nodes before it)
            raise self.fail(node, f"{what} folds into layer {v.layer}, so it must be the only reader of that "
                                  f"layer's output ({src!r}), which {readers - 1} other node(s) read(s) too")
        return fields

    def _readers(self, layer: str) -> int:
        """Nodes reading ``layer``'s output under any of its names (Identity, Flatten, a folded batch
        norm, ...), less the links of that chain."""
        names = self.aliases[layer]
        return sum(self.uses.get(t, 0) for t in names) - (len(names) - 1)

    # -- graph -----------------------------------------------------------------------------------
    def run(self) -> tuple[Network, Params]:
        from onnx import numpy_helper
        g = self.graph
        for init in g.initializer:
            self.consts[init.name] = numpy_helper.to_array(init)
        inputs = [i for i in g.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise ModelError(f"ONNX model {self.path} must have one input image, not {len(inputs)} "
                             f"({', '.join(i.name for i in inputs) or 'none'})")
        if len(self.outputs) != 1:
            raise ModelError(f"ONNX model {self.path} must have one output, not {len(self.outputs)} "
                             f"({', '.join(self.outputs)})")
        nodes = self._live_nodes()
        readers = [n for n in nodes if inputs[0].name in n.input]
        # a channels-last graph (TensorFlow's) reads its NHWC image through Transpose(perm=[0, 3, 1, 2])
        self.nhwc_input = bool(readers) and all(
            n.op_type == "Transpose" and list(_attrs(n).get("perm", [])) == [0, 3, 1, 2] for n in readers)
        self.input_shape = self._input_shape(inputs[0])
        self.bind(inputs[0].name, _Value("input"))
        self.shapes["input"] = self.input_shape
        for node in nodes:
            for t in node.input:
                self.uses[t] = self.uses.get(t, 0) + 1
        for node in nodes:
            handler = getattr(self, f"op_{node.op_type}", None)
            if node.domain not in ("", "ai.onnx") or handler is None:
                raise self.fail(node, f"unsupported operator; supported: {', '.join(SUPPORTED_OPS)}")
            handler(node)
        out = self.values.get(self.outputs[0])
        if out is not None and out.pads is not None:
            raise ModelError(f"ONNX model {self.path}: output {self.outputs[0]!r} comes from a Pad; a Pad folds "
                             f"only into the Conv or AveragePool reading it")
        if out is None or out.layer == "input":
            raise ModelError(f"ONNX model {self.path}: output {self.outputs[0]!r} is not computed by any layer")
        name = re.sub(r"[^0-9A-Za-z_]", "_", Path(self.path).stem).strip("_") or "onnx_model"
        name = "n_" + name if name[0].isdigit() else name
        layers = tuple(Layer(**f) for f in self.layers)
        net = Network(name=name, input_shape=self.input_shape, layers=layers)
        if net.output.name != out.layer:
            raise ModelError(f"ONNX model {self.path}: output {self.outputs[0]!r} must be computed last")
        return net, self.params

    def _input_shape(self, inp) -> tuple[int, int, int]:
        t = inp.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim]
        if len(dims) != 4:
            raise ModelError(f"ONNX model {self.path}: input {inp.name!r} must be a 4-D NCHW (or NHWC) image, not "
                             f"shape {dims}")
        n, c, h, w = dims if not self.nhwc_input else (dims[0], dims[3], dims[1], dims[2])
        if isinstance(n, int) and n != 1:
            raise ModelError(f"ONNX model {self.path}: input {inp.name!r} must have batch 1, not {n}")
        if not all(isinstance(v, int) and v > 0 for v in (c, h, w)):
            raise ModelError(f"ONNX model {self.path}: input {inp.name!r} needs fixed C, H and W, not "
                             f"shape {dims}")
        return (h, w, c)

    def _live_nodes(self) -> list:
        """The nodes the output depends on (Constant nodes evaluated), in graph order."""
        from onnx import numpy_helper
        nodes = list(self.graph.node)
        need = set(self.outputs)
        live = []
        for node in reversed(nodes):
            if any(o in need for o in node.output):
                live.append(node)
                need.update(t for t in node.input if t)
        live.reverse()
        out = []
        for node in live:
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
                attr = {a.name: a for a in node.attribute}
                if "value" not in attr:
                    raise self.fail(node, "only a Constant with a tensor 'value' is supported")
                self.consts[node.output[0]] = numpy_helper.to_array(attr["value"].t)
            else:
                out.append(node)
        return out

    # -- operators -------------------------------------------------------------------------------
    def _window(self, node, h: int, w: int, *, kernel_default=None, extra=None) -> tuple[int, int, tuple]:
        """kernel, stride, (t, b, l, r) of a Conv/pool node; refuses what the IR cannot express."""
        a = _attrs(node)
        ks = a.get("kernel_shape", kernel_default)
        if ks is None:
            raise self.fail(node, "needs kernel_shape")
        ks = list(ks)
        if len(ks) != 2:
            raise self.fail(node, f"only 2-D windows are supported, not kernel_shape {ks}")
        if ks[0] != ks[1]:
            raise self.fail(node, f"kernels must be square (the IR has one kernel size), not {ks[0]}x{ks[1]}")
        strides = list(a.get("strides", [1, 1]))
        if strides[0] != strides[1]:
            raise self.fail(node, f"strides must be equal on both axes (the IR has one stride), not {strides}")
        dil = list(a.get("dilations", [1, 1]))
        if any(d != 1 for d in dil):
            raise self.fail(node, f"dilation must be 1 (the IR has no dilated windows), not {dil}")
        k, s = int(ks[0]), int(strides[0])
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto == "NOTSET":
            p = list(a.get("pads", [0, 0, 0, 0]))
            pads = (p[0], p[2], p[1], p[3])
        elif auto == "VALID":
            pads = (0, 0, 0, 0)
        elif auto in ("SAME_UPPER", "SAME_LOWER"):
            pads = ()
            if extra is not None:
                raise self.fail(node, "auto_pad SAME after a Pad node is not supported; give explicit pads")
            for n in (h, w):
                total = max((-(-n // s) - 1) * s + k - n, 0)
                small = total // 2
                pads += (small, total - small) if auto == "SAME_UPPER" else (total - small, small)
        else:
            raise self.fail(node, f"auto_pad must be NOTSET, VALID, SAME_UPPER or SAME_LOWER, not {auto!r}")
        if extra is not None:
            pads = tuple(p + q for p, q in zip(pads, extra))
        if a.get("ceil_mode", 0):
            t, b, l, r = pads
            floor = ((h + t + b - k) // s, (w + l + r - k) // s)
            ceil = (-(-(h + t + b - k) // s), -(-(w + l + r - k) // s))
            if floor != ceil:
                raise self.fail(node, f"ceil_mode=1 adds a partial window on this {h}x{w} map; the IR "
                                      f"rounds the output size down (use ceil_mode=0 or pad explicitly)")
        return k, s, tuple(int(v) for v in pads)

    def op_Conv(self, node):
        v = self.map_in(node, padded=True)
        h, w, c = self.spatial(node, v)
        wt = numeric(self.const(node, node.input[1], "its weight"), f"{self._where(node)} weight")
        if wt.ndim != 4:
            raise self.fail(node, f"only 2-D convolutions are supported, not a {wt.ndim}-D weight")
        oc, cpg, kh, kw = wt.shape
        k, s, pads = self._window(node, h, w, kernel_default=(kh, kw), extra=v.pads)
        groups = int(_attrs(node).get("group", 1))
        if (kh, kw) != (k, k) or cpg * groups != c:
            raise self.fail(node, f"weight shape {list(wt.shape)} does not fit a {k}x{k} kernel over {c} input "
                                  f"channels in {groups} groups")
        bias = np.zeros(oc)
        if len(node.input) > 2 and node.input[2]:
            bias = numeric(self.const(node, node.input[2], "its bias"), f"{self._where(node)} bias").reshape(-1)
        name = self.add_layer(node, "conv", (v.layer,), out_channels=int(oc), kernel=k, stride=s, padding=pads,
                              groups=groups)
        self.params[name] = {"weight": wt.transpose(2, 3, 1, 0).copy(), "bias": bias}

    def op_BatchNormalization(self, node):
        v = self.map_in(node)
        fields = self.fusable(node, v, "BatchNormalization")
        if fields["kind"] != "conv" or fields.get("batchnorm"):
            raise self.fail(node, f"BatchNormalization must follow a Conv, not a {fields['kind']} layer"
                            if fields["kind"] != "conv" else "the Conv before already has a batch norm")
        if fields.get("activation", "none") != "none":
            raise self.fail(node, "BatchNormalization must come before the activation of the Conv it follows")
        a = _attrs(node)
        if a.get("training_mode", 0) or len([o for o in node.output if o]) > 1:
            raise self.fail(node, "only inference batch norm (training_mode=0, one output) is supported")
        eps = float(a.get("epsilon", 1e-5))
        gamma, beta, mean, var = (numeric(self.const(node, t, what), f"{self._where(node)} {what}").reshape(-1)
                                  for t, what in zip(node.input[1:5], ("scale", "bias", "mean", "var")))
        p = self.params[fields["name"]]
        var = var + eps - BN_EPS
        if np.all(var + BN_EPS > 0) and np.all(var >= 0):
            p.update(bn_gamma=gamma, bn_beta=beta, bn_mean=mean, bn_var=var)
            fields["batchnorm"] = True
        else:   # an epsilon below hwgen's: fold it here (exactly the same arithmetic)
            kk = gamma / np.sqrt(var + BN_EPS)
            p["weight"] = p["weight"] * kk
            p["bias"] = (p["bias"] - mean) * kk + beta
        self.bind(node.output[0], v)

    def _activation(self, node, act: str):
        v = self.map_in(node)
        fields = self.fusable(node, v, node.op_type)
        if fields["kind"] == "maxpool":
            # max(clamp(x)) == clamp(max(x)) for a monotone clamp, -inf padding included (PyTorch's
            # relu(max_pool2d(conv(x)))): the activation moves to the layer before the pool
            src = fields["inputs"][0]
            before = next((f for f in self.layers if f["name"] == src), None)
            if (before is not None and before["kind"] in ("conv", "add") and self._readers(src) == 1
                    and before.get("activation", "none") == "none"):
                before["activation"] = act
                self.bind(node.output[0], v)
                return
        if fields["kind"] not in ("conv", "add"):
            raise self.fail(node, f"{node.op_type} folds into a Conv or Add before it (or before the MaxPool "
                                  f"before it, which it alone reads), not a {fields['kind']} layer")
        if fields.get("activation", "none") != "none":
            raise self.fail(node, f"the layer before already has activation {fields['activation']}")
        fields["activation"] = act
        self.bind(node.output[0], v)

    def op_Relu(self, node):
        self._activation(node, "relu")

    def op_Clip(self, node):
        lo = self._scalar(node, 1, -math.inf)
        hi = self._scalar(node, 2, math.inf)
        if lo == 0 and hi == 6:
            self._activation(node, "relu6")
        elif lo == 0 and hi == math.inf:
            self._activation(node, "relu")
        else:
            raise self.fail(node, f"only Clip(0, 6) (ReLU6) and Clip(0, inf) (ReLU) are supported, not "
                                  f"Clip({lo:g}, {hi:g})")

    def _scalar(self, node, i: int, default: float) -> float:
        if i >= len(node.input) or not node.input[i]:
            return default
        return float(np.asarray(self.const(node, node.input[i], f"input {i}")).reshape(-1)[0])

    def op_MaxPool(self, node):
        if len([o for o in node.output if o]) > 1:
            raise self.fail(node, "the Indices output is not supported")
        self._pool(node, "maxpool")

    def op_AveragePool(self, node):
        self._pool(node, "avgpool")

    def _pool(self, node, kind: str):
        v = self.map_in(node, padded=kind == "avgpool")
        h, w, c = self.spatial(node, v)
        own = self._window(node, h, w)[2]
        k, s, pads = self._window(node, h, w, extra=v.pads)
        if kind == "avgpool" and any(own) and not _attrs(node).get("count_include_pad", 0):
            raise self.fail(node, "a padded average pool must count the padding (count_include_pad=1): "
                                  "hwgen divides every window by K*K")
        self.add_layer(node, kind, (v.layer,), kernel=k, stride=s, padding=pads)

    def op_ReduceMean(self, node):
        self.map_in(node)       # refuses a non-map input before the axes are read
        axes = sorted(a % 4 for a in self._axes(node))
        if axes != [2, 3]:
            raise self.fail(node, f"only a mean over H and W (axes [2, 3], a global average pool) is supported, "
                                  f"not axes {self._axes(node) or 'all'}")
        self.op_GlobalAveragePool(node)
        if not int(_attrs(node).get("keepdims", 1)):
            self.bind(node.output[0], _Value(self.values[node.output[0]].layer, flat=True))

    def op_GlobalAveragePool(self, node):
        v = self.map_in(node)
        h, w, c = self.spatial(node, v)
        if h != w:
            raise self.fail(node, f"a global average pool needs a square map (the IR's kernels are square), "
                                  f"not {h}x{w}")
        self.add_layer(node, "avgpool", (v.layer,), kernel=h, stride=h)

    def op_Add(self, node):
        if node.op_type == "Add" and any(t in self.consts for t in node.input):
            return self._bias_add(node)
        if len(node.input) == 1:      # a Sum of one map is that map
            return self.bind(node.output[0], self.map_in(node))
        ins = [self.map_in(node, i) for i in range(len(node.input))]
        shapes = [self.spatial(node, x) for x in ins]
        if len(set(shapes)) != 1:
            raise self.fail(node, f"inputs must have one shape (no broadcasting), not "
                                  f"{' vs '.join('x'.join(map(str, s)) for s in shapes)} (HxWxC)")
        self.add_layer(node, "add", tuple(x.layer for x in ins))

    op_Sum = op_Add

    def _bias_add(self, node):
        """A constant per channel added to a Conv's or Gemm's output: its bias (after a batch norm,
        the batch norm's beta)."""
        i = 0 if node.input[1] in self.consts else 1
        v = self.map_in(node, i)
        fields = self.fusable(node, v, "an Add of a constant", src=node.input[i])
        n = self.shape(v.layer)[2]
        cst = numeric(self.consts[node.input[1 - i]], f"{self._where(node)} constant")
        shapes = [(n,), (1, n)] if v.flat else [(1, n, 1, 1), (n, 1, 1)]
        if fields["kind"] != "conv" or fields.get("activation", "none") != "none":
            raise self.fail(node, "a constant can only be added to a Conv or Gemm output before its activation "
                                  "(it becomes the bias)")
        if cst.size != 1 and tuple(cst.shape) not in shapes:
            raise self.fail(node, f"the constant of shape {list(cst.shape)} must be one value per channel "
                                  f"({'[N]' if v.flat else '[1, C, 1, 1]'} with {'N' if v.flat else 'C'} = {n})")
        add = np.broadcast_to(cst.reshape(-1), (n,))
        p = self.params[fields["name"]]
        key = "bn_beta" if fields.get("batchnorm") else "bias"
        p[key] = p[key] + add
        self.bind(node.output[0], v)

    def op_Concat(self, node):
        if node.input and all(t in self.consts for t in node.input):
            return self._fold(node, np.concatenate([np.asarray(self.consts[t]).reshape(
                np.shape(self.consts[t]) or (1,)) for t in node.input], axis=int(_attrs(node).get("axis", 0))))
        ins = [self.map_in(node, i) for i in range(len(node.input))]
        for x in ins:
            self.spatial(node, x)
        axis = int(_attrs(node).get("axis", 1))
        if axis not in (1, -3):
            raise self.fail(node, f"only the channel axis (1) can be concatenated, not axis {axis}")
        if len(ins) == 1:
            self.bind(node.output[0], ins[0])
            return
        self.add_layer(node, "concat", tuple(x.layer for x in ins))

    def op_SpaceToDepth(self, node):
        v = self.map_in(node)
        self.spatial(node, v)
        self.add_layer(node, "reorg", (v.layer,), stride=int(_attrs(node)["blocksize"]))

    def op_Flatten(self, node):
        v = self.map_in(node)
        axis = int(_attrs(node).get("axis", 1))
        if axis != 1:
            raise self.fail(node, f"only Flatten(axis=1) to [1, C*H*W] is supported, not axis {axis}")
        self.bind(node.output[0], _Value(v.layer, flat=True))

    def op_Reshape(self, node):
        v = self.map_in(node)
        target = [int(d) for d in np.asarray(self.const(node, node.input[1], "its shape")).reshape(-1)]
        h, w, c = self.shape(v.layer)
        if len(target) == 2 and target[0] in (1, -1, 0) and target[1] in (-1, h * w * c):
            self.bind(node.output[0], _Value(v.layer, flat=True))
            return
        raise self.fail(node, f"only a reshape to [1, C*H*W] = [1, {h * w * c}] (flatten) is supported, not {target}")

    def op_MatMul(self, node):
        if node.input[1] not in self.consts:
            raise self.fail(node, "its second input must be a constant weight matrix [N_in, N_out]")
        self.op_Gemm(node)

    def op_Gemm(self, node):
        v = self.map_in(node)
        if not v.flat:
            raise self.fail(node, "Gemm must read a flattened map (Flatten or Reshape to [1, N] before it)")
        h, w, c = self.shape(v.layer)
        a = _attrs(node)
        if a.get("transA", 0):
            raise self.fail(node, "transA=1 is not supported (the input is one row)")
        b = numeric(self.const(node, node.input[1], "its weight B"), f"{self._where(node)} B")
        b = b.T if a.get("transB", 0) else b                            # [N_in, N_out]
        if b.ndim != 2 or b.shape[0] != h * w * c:
            raise self.fail(node, f"weight B of shape {list(b.shape)} does not take the {h * w * c} inputs")
        if h != w:
            raise self.fail(node, f"a dense layer over a {h}x{w} map is not a square conv; pool it to a square "
                                  f"map first")
        n = b.shape[1]
        bias = np.zeros(n)
        if len(node.input) > 2 and node.input[2]:
            cb = numeric(self.const(node, node.input[2], "its bias C"), f"{self._where(node)} C")
            if cb.size not in (1, n):
                raise self.fail(node, f"bias C of shape {list(cb.shape)} must have 1 or {n} values")
            bias = np.broadcast_to(cb.reshape(-1), (n,)) * float(a.get("beta", 1.0))
        # flattened NCHW index c*H*W + y*W + x -> weight [K=H, K=W, C, N]
        wt = b.reshape(c, h, w, n).transpose(1, 2, 0, 3) * float(a.get("alpha", 1.0))
        name = self.add_layer(node, "conv", (v.layer,), out_channels=int(n), kernel=h, stride=1)
        self.params[name] = {"weight": wt.copy(), "bias": np.array(bias, np.float64)}
        self.bind(node.output[0], _Value(name, flat=True))

    def op_Pad(self, node):
        v = self.map_in(node)
        self.spatial(node, v)
        a = _attrs(node)
        mode = a.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        pads = [int(x) for x in np.asarray(self.const(node, node.input[1], "its pads")).reshape(-1)]
        value = self._scalar(node, 2, 0.0)
        if len(node.input) > 3 and node.input[3]:
            axes = [int(x) % 4 for x in np.asarray(self.const(node, node.input[3], "its axes")).reshape(-1)]
            full = [0] * 8
            for j, ax in enumerate(axes):
                full[ax], full[ax + 4] = pads[j], pads[j + len(axes)]
            pads = full
        if mode != "constant" or value != 0 or len(pads) != 8 or min(pads) < 0 or any(pads[i] for i in (0, 1, 4, 5)):
            raise self.fail(node, f"only zero padding of H and W (mode constant, value 0, pads >= 0) is "
                                  f"supported, not mode {mode} value {value:g} pads {pads}")
        t, l, b, r = pads[2], pads[3], pads[6], pads[7]
        prev = v.pads or (0, 0, 0, 0)
        self.bind(node.output[0], _Value(v.layer, pads=(prev[0] + t, prev[1] + b, prev[2] + l, prev[3] + r)))

    def op_Transpose(self, node):
        perm = [int(p) for p in _attrs(node).get("perm", [])]
        v = self.map_in(node)
        if v.layer == "input" and self.nhwc_input and perm == [0, 3, 1, 2]:
            self.bind(node.output[0], v)  # NHWC image to NCHW: hwgen's maps are channels last
            return
        if perm == [0, 2, 3, 1] and node.output[0] in self.outputs and not v.flat:
            self.bind(node.output[0], _Value(v.layer, nhwc=True))
            return
        raise self.fail(node, f"only Transpose(perm=[0, 3, 1, 2]) of an NHWC input image and Transpose(perm="
                              f"[0, 2, 3, 1]) to the graph output are supported, not perm {perm}")

    # -- shape arithmetic on constants (PyTorch's x.view(x.size(0), -1)) ---------------------------
    def _fold(self, node, value: np.ndarray) -> None:
        self.consts[node.output[0]] = np.asarray(value)

    def _const_ins(self, node) -> list[np.ndarray]:
        return [np.asarray(self.const(node, t, f"input {i}")) for i, t in enumerate(node.input) if t]

    def op_Shape(self, node):
        v = self.map_in(node)
        h, w, c = self.shape(v.layer)
        shape = np.array([1, h * w * c] if v.flat else [1, c, h, w], np.int64)
        a = _attrs(node)
        self._fold(node, shape[int(a.get("start", 0)):a.get("end", None)])

    def op_Gather(self, node):
        data, idx = self._const_ins(node)
        self._fold(node, np.take(data, idx.astype(np.int64), axis=int(_attrs(node).get("axis", 0))))

    def _axes(self, node) -> list[int]:
        if len(node.input) > 1 and node.input[1]:
            return [int(a) for a in np.asarray(self.const(node, node.input[1], "its axes")).reshape(-1)]
        return [int(a) for a in _attrs(node).get("axes", [])]

    def op_Unsqueeze(self, node):
        x = np.asarray(self.const(node, node.input[0], "input 0"))
        for ax in sorted(a % (x.ndim + len(self._axes(node))) for a in self._axes(node)):
            x = np.expand_dims(x, ax)
        self._fold(node, x)

    def op_Squeeze(self, node):
        if node.input[0] in self.values:       # [1, C, 1, 1] -> [1, C]
            v = self.map_in(node)
            h, w, c = self.shape(v.layer)
            if v.flat or (h, w) != (1, 1) or sorted(a % 4 for a in self._axes(node)) != [2, 3]:
                raise self.fail(node, f"only squeezing H and W (axes [2, 3]) of a 1x1 map is supported, not axes "
                                      f"{self._axes(node) or 'all'} of a {h}x{w} map")
            self.bind(node.output[0], _Value(v.layer, flat=True))
            return
        x = np.asarray(self.const(node, node.input[0], "input 0"))
        axes = self._axes(node)
        self._fold(node, np.squeeze(x, axis=tuple(a % x.ndim for a in axes)) if axes else np.squeeze(x))

    def op_Cast(self, node):
        self._fold(node, np.asarray(self.const(node, node.input[0], "input 0")))

    def op_Identity(self, node):
        if node.input[0] in self.consts:
            return self._fold(node, self.consts[node.input[0]])
        self.bind(node.output[0], self.map_in(node))

    def op_Dropout(self, node):
        if len(node.output) > 1 and node.output[1] and self.uses.get(node.output[1]):
            raise self.fail(node, "its mask output is used; only the data output is supported")
        self.bind(node.output[0], self.map_in(node))

    def _where(self, node) -> str:
        return f"ONNX model {self.path}: node {node.name or node.output[0]!r}"


def _attrs(node) -> dict[str, Any]:
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ToolError("reading ONNX models needs the onnx package: pip install onnx "
                        "(or pip install 'hwgen[onnx]')") from None
    return onnx


def import_onnx(path: Union[str, Path]) -> tuple[Network, Params]:
    """An ONNX model file as a :class:`hwgen.nn.Network` plus float params in hwgen's layout
    (``weight`` ``[K, K, Cin/groups, Cout]``, ``bias``, and ``bn_*`` where a batch norm follows a conv).

    Raises
    ------
    ModelError
        The file is missing or not ONNX, its opset is outside 11..20 and onnx's version converter
        cannot bring it there, its input is not one batch-1
        NCHW image, or a node is not supported (named with its op type and the supported list) or
        asks for what the IR cannot express (non-square kernels, dilation, unequal strides, ...).
    ToolError
        The ``onnx`` package is not installed.
    """
    onnx = _onnx()
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"ONNX model {path} does not exist" if not p.exists() else
                         f"ONNX model {path} is a directory, not an .onnx file")
    try:
        model = onnx.load(str(p))
    except Exception as e:  # protobuf's DecodeError and friends
        raise ModelError(f"ONNX model {path} is not an ONNX protobuf file ({type(e).__name__})") from None
    if not model.graph.node:
        raise ModelError(f"ONNX model {path} is not an ONNX protobuf file or has no nodes")
    opsets = {o.domain: o.version for o in model.opset_import}
    ver = opsets.get("", opsets.get("ai.onnx"))
    if ver is None:
        raise ModelError(f"ONNX model {path} imports no ai.onnx opset (only {', '.join(sorted(opsets)) or 'none'})")
    if not OPSET_MIN <= ver <= OPSET_MAX:
        # older exports (the ONNX model zoo's opset 7..10) and newer ones: onnx's own converter
        target = 13 if ver < OPSET_MIN else OPSET_MAX
        try:
            from onnx import version_converter
            model = version_converter.convert_version(model, target)
        except Exception as e:
            why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelError(f"ONNX model {path}: opset {ver} is outside {OPSET_MIN}..{OPSET_MAX} and onnx's "
                             f"version converter could not bring it to {target}: {why}") from None
    if model.functions:     # exporters' model-local functions (PyTorch's dynamo): their nodes inline
        from onnx import inliner
        model = inliner.inline_local_functions(model)
    return _Importer(model, str(path)).run()
