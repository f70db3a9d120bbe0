"""The small network description shared by hwgen's back ends (HLS emitter, accelerator compiler).

A :class:`Network` is an input shape plus a topologically ordered list of layers; each layer names
its inputs (by default the previous layer). Feature maps are ``[H, W, C]`` (channels last).

Layer kinds
-----------
``conv``     KxK convolution with ``groups`` (``groups == in_channels == out_channels`` is depthwise;
             ``kernel == 1`` is pointwise), stride, padding, optional batch norm (folded into the
             weights at build time), and an activation clamp (``none``, ``relu``, ``relu6``).
``maxpool``  KxK max pooling with stride.
``reorg``    space-to-depth by ``stride`` (``[H, W, C] -> [H/s, W/s, s*s*C]``, see :func:`hwgen.nn.ops.reorg`).
``concat``   channel concatenation of two or more maps of equal height and width.
``add``      elementwise sum of two or more maps of equal shape (a residual connection), then the
             activation clamp. Quantized as ``sum_i w_i[c] * x_i[c]`` with small integer weights that
             bring the inputs to a common scale, then requantized (:class:`hwgen.nn.QuantConv`).
``avgpool``  KxK average pooling with stride and padding (padding counts as zeros, the sum is
             divided by K*K); ``kernel`` equal to the map's height and width is a global average pool.
``head``     detection head on ``anchors * 5`` channels (per anchor: tx, ty, tw, th, confidence);
             its decode picks the cell and anchor with the highest confidence.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np

from ..errors import ModelError
from ..linebuf.model import Padding, output_size, pad_amounts

LAYER_KINDS = ("conv", "maxpool", "avgpool", "reorg", "concat", "add", "head")
#: kinds that carry integer weights and requantization constants (a QuantConv each)
WEIGHTED_KINDS = ("conv", "add", "avgpool")
ACTIVATIONS = ("none", "relu", "relu6")
#: values per anchor in a detection head: tx, ty, tw, th, confidence
HEAD_VALUES = 5

Shape = tuple[int, int, int]
#: largest image height and width, channel count and feature map (words) a network may have: the
#: golden model and the calibration hold whole maps in int64 / float64 (2**26 words = 512 MiB)
MAX_SIZE = 4096
MAX_CHANNELS = 4096
MAX_MAP_WORDS = 1 << 26


@dataclass(frozen=True, kw_only=True)
class Layer:
    """One layer; fields that do not apply to its ``kind`` keep their defaults.

    Attributes
    ----------
    name : str
        Unique name (also names streams, weight arrays and C-simulation taps).
    kind : str
        One of :data:`LAYER_KINDS`.
    inputs : tuple of str
        Names of the layers feeding this one (``("input",)`` for the network input); empty means
        the previous layer.
    out_channels, kernel, stride, padding, groups, activation, batchnorm
        Convolution and pooling parameters (``padding`` is ``"same"``, ``"none"`` or
        ``(top, bottom, left, right)``).
    anchors : int
        Detection head anchors.
    """
    name: str
    kind: str
    inputs: tuple[str, ...] = ()
    out_channels: int = 0
    kernel: int = 1
    stride: int = 1
    padding: Padding = "none"
    groups: int = 1
    activation: str = "none"
    batchnorm: bool = False
    anchors: int = 0

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier() or self.name == "input":
            raise ModelError(f"layer name must be a C identifier other than 'input', not {self.name!r}")
        if self.kind not in LAYER_KINDS:
            raise ModelError(f"layer {self.name}: unknown layer kind {self.kind!r}; "
                             f"valid kinds: {', '.join(LAYER_KINDS)}")
        if self.activation not in ACTIVATIONS:
            raise ModelError(f"layer {self.name}: activation must be one of {', '.join(ACTIVATIONS)}, "
                             f"not {self.activation!r}")
        if isinstance(self.padding, list):
            object.__setattr__(self, "padding", tuple(self.padding))
        object.__setattr__(self, "inputs", tuple(self.inputs))
        for f in ("kernel", "stride", "groups"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ModelError(f"layer {self.name}: {f} must be a positive integer, not {v!r}")

    @property
    def depthwise(self) -> bool:
        return self.kind == "conv" and self.groups > 1 and self.groups == self.out_channels


@dataclass(frozen=True, kw_only=True)
class Network:
    """A named network: input shape ``(H, W, C)`` and layers in topological order."""
    name: str
    input_shape: Shape
    layers: tuple[Layer, ...]
    _shapes: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        shape = self.input_shape
        if (not isinstance(shape, (tuple, list)) or len(shape) != 3
                or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1
                           for v in shape)):
            raise ModelError(f"network {self.name}: input shape must be three positive integers (H, W, C), "
                             f"not {shape!r}")
        object.__setattr__(self, "input_shape", tuple(int(v) for v in shape))
        object.__setattr__(self, "layers", tuple(self.layers))
        h, w, c = self.input_shape
        if max(h, w) > MAX_SIZE:
            raise ModelError(f"network {self.name}: input H and W must be at most {MAX_SIZE}, not {h}x{w}")
        if c > MAX_CHANNELS:
            raise ModelError(f"network {self.name}: input channels must be at most {MAX_CHANNELS}, not {c}")
        if not self.layers:
            raise ModelError(f"network {self.name} has no layers")
        self._shapes.update(self._infer())

    # -- structure -------------------------------------------------------------------------------
    def inputs_of(self, layer: Layer) -> tuple[str, ...]:
        """Resolved input names of ``layer`` (the previous layer when it names none)."""
        if layer.inputs:
            return layer.inputs
        i = self.layers.index(layer)
        return ("input",) if i == 0 else (self.layers[i - 1].name,)

    def layer(self, name: str) -> Layer:
        for l in self.layers:
            if l.name == name:
                return l
        raise ModelError(f"network {self.name} has no layer {name!r}")

    def consumers(self, name: str) -> list[Layer]:
        """Layers that read the output of ``name`` (``"input"`` for the network input)."""
        return [l for l in self.layers if name in self.inputs_of(l)]

    @property
    def output(self) -> Layer:
        return self.layers[-1]

    def shape(self, name: str) -> Shape:
        """Output shape ``(H, W, C)`` of a layer (or of ``"input"``)."""
        return self.input_shape if name == "input" else self._shapes[name]

    def in_shape(self, layer: Layer) -> Shape:
        return self.shape(self.inputs_of(layer)[0])

    def pads(self, layer: Layer) -> tuple[int, int, int, int]:
        h, w, _ = self.in_shape(layer)
        return pad_amounts(layer.kernel, layer.stride, layer.padding, h, w)

    def _infer(self) -> dict[str, Shape]:
        shapes: dict[str, Shape] = {"input": self.input_shape}
        self._check_map("input", self.input_shape)
        for layer in self.layers:
            if layer.name in shapes:
                raise ModelError(f"network {self.name}: layer name {layer.name!r} is used twice")
            ins = self.inputs_of(layer)
            for src in ins:
                if src not in shapes:
                    raise ModelError(f"layer {layer.name}: input {src!r} is not an earlier layer")
            shapes[layer.name] = _layer_shape(layer, [shapes[s] for s in ins])
            self._check_map(layer.name, shapes[layer.name])
        used = {s for l in self.layers for s in self.inputs_of(l)}
        dangling = [l.name for l in self.layers[:-1] if l.name not in used]
        if dangling:
            raise ModelError(f"network {self.name}: output of layer {dangling[0]!r} is never used")
        heads = [l.name for l in self.layers if l.kind == "head"]
        if heads and heads != [self.layers[-1].name]:
            raise ModelError(f"network {self.name}: a head must be the last layer, not {heads[0]!r}")
        del shapes["input"]
        return shapes

    def _check_map(self, name: str, shape: Shape) -> None:
        words = shape[0] * shape[1] * shape[2]
        if words > MAX_MAP_WORDS:
            raise ModelError(f"network {self.name}: feature map {name} is {'x'.join(map(str, shape))} = "
                             f"{words} words; at most {MAX_MAP_WORDS} (2**26) are allowed")

    # -- serialization ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        defaults = {f.name: f.default for f in dataclasses.fields(Layer) if f.name not in ("name", "kind")}
        layers = []
        for l in self.layers:
            d = {"name": l.name, "kind": l.kind}
            for k, dv in defaults.items():
                v = getattr(l, k)
                if v != dv:
                    d[k] = list(v) if isinstance(v, tuple) else v
            layers.append(d)
        return {"name": self.name, "input_shape": list(self.input_shape), "layers": layers}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Network":
        if not isinstance(data, dict):
            raise ModelError(f"a network description must be a mapping, not {type(data).__name__}")
        unknown = sorted(set(data) - {"name", "input_shape", "layers"})
        if unknown:
            raise ModelError(f"network description has no field {unknown[0]!r}; valid fields: "
                             f"name, input_shape, layers")
        names = [f.name for f in dataclasses.fields(Layer)]
        net = data.get("name", "network")
        raw = data.get("layers", [])
        if not isinstance(raw, list):
            raise ModelError(f"network {net}: layers must be a list of layer mappings, not {type(raw).__name__}")
        layers = []
        for i, d in enumerate(raw):
            if not isinstance(d, dict):
                raise ModelError(f"network {net}: layer {i} must be a mapping of its fields, not {type(d).__name__}")
            for required in ("name", "kind"):
                if required not in d:
                    raise ModelError(f"layer {d.get('name', i)}: missing field {required!r}")
            bad = sorted(set(d) - set(names))
            if bad:
                raise ModelError(f"layer {d.get('name', i)}: no field {bad[0]!r}; valid fields: {', '.join(names)}")
            try:
                layers.append(Layer(**d))
            except TypeError as e:
                raise ModelError(f"layer {d.get('name', i)}: {e}") from None
        return cls(name=net, input_shape=data.get("input_shape", ()), layers=tuple(layers))

    @classmethod
    def load(cls, path: Union[str, Path]) -> "Network":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except FileNotFoundError:
            raise ModelError(f"network file {path} does not exist") from None
        except json.JSONDecodeError as e:
            raise ModelError(f"network file {path} is not valid JSON: {e.msg} at line {e.lineno}") from None

    def macs(self, layer: Layer) -> int:
        """Multiply-accumulates of one layer per frame (0 for layers without weights)."""
        if layer.kind != "conv":
            return 0
        oh, ow, oc = self.shape(layer.name)
        cin = self.in_shape(layer)[2]
        return oh * ow * oc * layer.kernel * layer.kernel * (cin // layer.groups)


def _layer_shape(layer: Layer, ins: list[Shape]) -> Shape:
    name = layer.name
    if layer.kind == "concat":
        if len(ins) < 2:
            raise ModelError(f"layer {name}: concat needs at least two inputs, not {len(ins)}")
        hw = {s[:2] for s in ins}
        if len(hw) != 1:
            raise ModelError(f"layer {name}: shapes do not chain: concat inputs have different sizes "
                             f"{' vs '.join(f'{s[0]}x{s[1]}' for s in ins)}")
        return (ins[0][0], ins[0][1], sum(s[2] for s in ins))
    if layer.kind == "add":
        if len(ins) < 2:
            raise ModelError(f"layer {name}: add needs at least two inputs, not {len(ins)}")
        if len(set(ins)) != 1:
            raise ModelError(f"layer {name}: shapes do not chain: add inputs must have equal shapes, not "
                             f"{' vs '.join('x'.join(map(str, s)) for s in ins)}")
        return ins[0]
    if len(ins) != 1:
        raise ModelError(f"layer {name}: a {layer.kind} layer takes one input, not {len(ins)}")
    h, w, c = ins[0]
    if layer.kind == "reorg":
        s = layer.stride
        if h % s or w % s:
            raise ModelError(f"layer {name}: shapes do not chain: reorg by {s} needs H and W divisible "
                             f"by {s}, not {h}x{w}")
        return (h // s, w // s, c * s * s)
    if layer.kind == "head":
        if layer.anchors < 1 or c != layer.anchors * HEAD_VALUES:
            raise ModelError(f"layer {name}: shapes do not chain: a head with {layer.anchors} anchors "
                             f"needs {layer.anchors * HEAD_VALUES} input channels, not {c}")
        return (1, 1, 8)      # decoded record, see hwgen.nn.model.decode
    try:
        pads = pad_amounts(layer.kernel, layer.stride, layer.padding, h, w)
    except ValueError as e:
        raise ModelError(f"layer {name}: {e}") from None
    oh, ow = output_size(h, w, layer.kernel, layer.stride, pads)
    if oh < 1 or ow < 1:
        raise ModelError(f"layer {name}: shapes do not chain: a {layer.kernel}x{layer.kernel} window does not "
                         f"fit the {h}x{w} input")
    if layer.kind in ("maxpool", "avgpool"):
        return (oh, ow, c)
    # conv
    oc = layer.out_channels
    if not isinstance(oc, int) or oc < 1:
        raise ModelError(f"layer {name}: out_channels must be a positive integer, not {oc!r}")
    if oc > MAX_CHANNELS:
        raise ModelError(f"layer {name}: out_channels must be at most {MAX_CHANNELS}, not {oc}")
    if c % layer.groups or oc % layer.groups:
        raise ModelError(f"layer {name}: shapes do not chain: groups={layer.groups} must divide input "
                         f"channels {c} and output channels {oc}")
    return (oh, ow, oc)
