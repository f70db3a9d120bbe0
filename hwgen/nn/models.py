"""Built-in networks and their float parameters (from a seed or an ``.npz``).

``skynet`` follows the published SkyNet structure (DAC-SDC 2019): bundles of depthwise 3x3 + BN +
ReLU6 and pointwise 1x1 + BN + ReLU6 with channels 3 -> 48 -> 96 -> 192 -> 384 -> 512, 2x2 max
pooling after the first three bundles, the 192-channel map reorganised (space-to-depth by 2) and
concatenated with the 512-channel map (1280 channels), one more bundle to 96 channels, and a 1x1
head to 10 outputs (2 anchors x (4 box values + confidence)). Input 160 x 320 x 3.
``skynet-tiny`` has the same shape with few channels and a 32 x 64 input.

``resnet18`` is ResNet-18 (He et al., 2016; torchvision's layout and padding): a 7x7 stride-2 conv,
a padded 3x3 stride-2 max pool, four stages of two basic blocks (3x3 conv + BN + ReLU, 3x3 conv + BN,
residual ``add`` + ReLU; a 1x1 stride-2 conv + BN on the shortcut where a stage halves the map),
a global 7x7 average pool and a 1000-way classifier as a 1x1 conv. Input 224 x 224 x 3.
``mobilenetv2`` is MobileNetV2 1.0 (Sandler et al., 2018): a 3x3 stride-2 conv, 17 inverted
residual blocks (1x1 expansion + BN + ReLU6, 3x3 depthwise + BN + ReLU6, linear 1x1 projection + BN,
and an ``add`` without activation where the block keeps its shape), a 1x1 conv to 1280 channels,
a global average pool and a 1000-way classifier. Input 224 x 224 x 3.
``resnet-tiny`` has the same structure with two stages of one block, few channels, a 32 x 32 input
and 10 classes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Union

import numpy as np

from ..errors import ModelError
from .arrays import load_arrays, numeric
from .ir import HEAD_VALUES, Layer, Network

MODEL_NAMES = ("skynet", "skynet-tiny", "resnet18", "resnet-tiny", "mobilenetv2", "mbv2-det")

#: float parameters of one conv layer: ``weight`` [K, K, Cin/groups, Cout], ``bias`` [Cout], and
#: for batch-norm layers ``bn_gamma``, ``bn_beta``, ``bn_mean``, ``bn_var`` [Cout]
Params = dict[str, dict[str, np.ndarray]]
BN_KEYS = ("bn_gamma", "bn_beta", "bn_mean", "bn_var")
BN_EPS = 1e-5


def _bundle(name: str, cin: int, cout: int, inputs: tuple[str, ...] = ()) -> list[Layer]:
    return [
        Layer(name=f"{name}_dw", kind="conv", inputs=inputs, out_channels=cin, kernel=3, padding="same",
              groups=cin, activation="relu6", batchnorm=True),
        Layer(name=f"{name}_pw", kind="conv", out_channels=cout, kernel=1, activation="relu6", batchnorm=True),
    ]


def skynet_like(name: str, height: int, width: int, channels: tuple[int, ...], last: int,
                anchors: int = 2) -> Network:
    """A SkyNet-shaped detector with the given input size and bundle channels (5 of them)."""
    c1, c2, c3, c4, c5 = channels
    layers: list[Layer] = []
    layers += _bundle("b1", 3, c1) + [Layer(name="pool1", kind="maxpool", kernel=2, stride=2)]
    layers += _bundle("b2", c1, c2) + [Layer(name="pool2", kind="maxpool", kernel=2, stride=2)]
    layers += _bundle("b3", c2, c3) + [Layer(name="pool3", kind="maxpool", kernel=2, stride=2)]
    layers += _bundle("b4", c3, c4) + _bundle("b5", c4, c5)
    layers += [Layer(name="reorg", kind="reorg", inputs=("b3_pw",), stride=2),
               Layer(name="cat", kind="concat", inputs=("reorg", "b5_pw"))]
    layers += _bundle("b6", 4 * c3 + c5, last)
    layers += [Layer(name="head_conv", kind="conv", out_channels=anchors * HEAD_VALUES, kernel=1),
               Layer(name="head", kind="head", anchors=anchors)]
    return Network(name=name, input_shape=(height, width, 3), layers=tuple(layers))


def _basic_block(name: str, src: str, cin: int, cout: int, stride: int) -> list[Layer]:
    layers = [
        Layer(name=f"{name}_conv1", kind="conv", inputs=(src,), out_channels=cout, kernel=3, stride=stride,
              padding=(1, 1, 1, 1), activation="relu", batchnorm=True),
        Layer(name=f"{name}_conv2", kind="conv", out_channels=cout, kernel=3, padding=(1, 1, 1, 1),
              batchnorm=True),
    ]
    shortcut = src
    if stride != 1 or cin != cout:
        shortcut = f"{name}_down"
        layers.append(Layer(name=shortcut, kind="conv", inputs=(src,), out_channels=cout, kernel=1,
                            stride=stride, batchnorm=True))
    layers.append(Layer(name=f"{name}_add", kind="add", inputs=(f"{name}_conv2", shortcut), activation="relu"))
    return layers


def resnet_like(name: str, size: int, stem: int, stem_kernel: int, stem_stride: int,
                stages: tuple[int, ...], blocks: int, classes: int) -> Network:
    """A ResNet with basic blocks: a stem conv, a padded 3x3 stride-2 max pool, ``stages`` of
    ``blocks`` blocks each (every stage after the first halves the map), a global average pool and
    a classifier (1x1 conv)."""
    p = stem_kernel // 2
    layers = [Layer(name="conv1", kind="conv", out_channels=stem, kernel=stem_kernel, stride=stem_stride,
                    padding=(p, p, p, p), activation="relu", batchnorm=True),
              Layer(name="pool1", kind="maxpool", kernel=3, stride=2, padding=(1, 1, 1, 1))]
    src, cin = "pool1", stem
    for i, cout in enumerate(stages):
        for j in range(blocks):
            blk = f"l{i + 1}_{j}"
            layers += _basic_block(blk, src, cin, cout, 2 if (i > 0 and j == 0) else 1)
            src, cin = f"{blk}_add", cout
    net = Network(name=name, input_shape=(size, size, 3), layers=tuple(layers))
    h = net.shape(src)[0]
    layers += [Layer(name="avgpool", kind="avgpool", kernel=h, stride=h),
               Layer(name="fc", kind="conv", out_channels=classes, kernel=1)]
    return Network(name=name, input_shape=(size, size, 3), layers=tuple(layers))


def _same(k: int) -> tuple[int, int, int, int]:
    return (k // 2,) * 4


def _inverted_residual(name: str, src: str, cin: int, cout: int, stride: int, expand: int) -> list[Layer]:
    hidden = cin * expand
    layers: list[Layer] = []
    x = src
    if expand != 1:
        layers.append(Layer(name=f"{name}_exp", kind="conv", inputs=(x,), out_channels=hidden, kernel=1,
                            activation="relu6", batchnorm=True))
        x = f"{name}_exp"
    layers += [Layer(name=f"{name}_dw", kind="conv", inputs=(x,), out_channels=hidden, kernel=3, stride=stride,
                     padding=_same(3), groups=hidden, activation="relu6", batchnorm=True),
               Layer(name=f"{name}_proj", kind="conv", out_channels=cout, kernel=1, batchnorm=True)]
    if stride == 1 and cin == cout:
        layers.append(Layer(name=f"{name}_add", kind="add", inputs=(f"{name}_proj", src)))
    return layers


def _mobilenetv2_body(stem: int, blocks: tuple[tuple[int, int, int, int], ...]) -> list[Layer]:
    """A 3x3 stride-2 conv + BN + ReLU6 to ``stem`` channels, then inverted residual ``blocks``
    (expansion, channels, repeats, stride; the first repeat of each has the stride)."""
    layers = [Layer(name="conv1", kind="conv", out_channels=stem, kernel=3, stride=2, padding=_same(3),
                    activation="relu6", batchnorm=True)]
    src, cin = "conv1", stem
    for i, (t, c, n, s) in enumerate(blocks):
        for j in range(n):
            blk = f"b{i + 1}_{j}"
            layers += _inverted_residual(blk, src, cin, c, s if j == 0 else 1, t)
            src, cin = layers[-1].name, c
    return layers


def mobilenetv2_like(name: str, size: int, stem: int, blocks: tuple[tuple[int, int, int, int], ...],
                     last: int, classes: int) -> Network:
    """MobileNetV2 with inverted residual ``blocks`` given as (expansion, channels, repeats, stride)."""
    layers = _mobilenetv2_body(stem, blocks)
    src = layers[-1].name
    layers.append(Layer(name="conv_last", kind="conv", inputs=(src,), out_channels=last, kernel=1,
                        activation="relu6", batchnorm=True))
    h = Network(name=name, input_shape=(size, size, 3), layers=tuple(layers)).shape("conv_last")[0]
    layers += [Layer(name="avgpool", kind="avgpool", kernel=h, stride=h),
               Layer(name="fc", kind="conv", out_channels=classes, kernel=1)]
    return Network(name=name, input_shape=(size, size, 3), layers=tuple(layers))


def mobilenetv2_detector(name: str, height: int, width: int, stem: int,
                         blocks: tuple[tuple[int, int, int, int], ...], anchors: int = 2) -> Network:
    """A MobileNetV2-style detector: a 3x3 stride-2 conv + BN + ReLU6, inverted residual ``blocks``
    (expansion, channels, repeats, stride) as in :func:`mobilenetv2_like`, then a 1x1 head conv to
    ``anchors * 5`` outputs and a detection head (SkyNet's).

    ``mbv2-det`` is sized for an Ultra96 (ZU3EG: 360 DSP, 432 BRAM18) running hwgen's HLS dataflow
    design: SkyNet's DAC-SDC input of 160 x 320 x 3 and its 20 x 40 grid (total stride 8), a
    16-channel stem, blocks (t, c, n, s) = (1, 16, 1, 1), (4, 24, 2, 2), (4, 32, 3, 2), (4, 64, 3, 1),
    (4, 96, 2, 1): 237 M MACs. A dataflow design keeps every weight and every depthwise line buffer
    on chip, so BRAM bounds the channels: expansion 4 fits 50 fps in 233 DSP and 321 BRAM18 by
    hwgen's model, MobileNetV2's expansion 6 needs 450 BRAM18 at 50 fps."""
    layers = _mobilenetv2_body(stem, blocks)
    src = layers[-1].name
    layers += [Layer(name="head_conv", kind="conv", inputs=(src,), out_channels=anchors * HEAD_VALUES, kernel=1),
               Layer(name="head", kind="head", anchors=anchors)]
    return Network(name=name, input_shape=(height, width, 3), layers=tuple(layers))


def build_model(name: str) -> Network:
    """A built-in network by name (one of :data:`MODEL_NAMES`)."""
    if name == "skynet":
        return skynet_like("skynet", 160, 320, (48, 96, 192, 384, 512), 96)
    if name == "skynet-tiny":
        return skynet_like("skynet_tiny", 32, 64, (8, 16, 16, 24, 32), 16)
    if name == "resnet18":
        return resnet_like("resnet18", 224, 64, 7, 2, (64, 128, 256, 512), 2, 1000)
    if name == "resnet-tiny":
        return resnet_like("resnet_tiny", 32, 8, 3, 1, (8, 16), 1, 10)
    if name == "mobilenetv2":
        return mobilenetv2_like("mobilenetv2", 224, 32, ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2),
                                                         (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                                                         (6, 320, 1, 1)), 1280, 1000)
    if name == "mbv2-det":
        return mobilenetv2_detector("mbv2_det", 160, 320, 16, ((1, 16, 1, 1), (4, 24, 2, 2), (4, 32, 3, 2),
                                                              (4, 64, 3, 1), (4, 96, 2, 1)))
    raise ModelError(f"unknown model {name!r}; built-in models: {', '.join(MODEL_NAMES)}")


def load_network(spec: Union[str, Path]) -> Network:
    """A built-in model name, a network JSON file (see :meth:`Network.to_dict`) or an ONNX model
    (``.onnx``, see :func:`hwgen.nn.onnx_import.import_onnx`)."""
    if str(spec) in MODEL_NAMES:
        return build_model(str(spec))
    if str(spec).endswith(".json"):
        return Network.load(spec)
    if str(spec).lower().endswith(".onnx"):
        from .onnx_import import import_onnx
        return import_onnx(spec)[0]
    return build_model(str(spec))


def load_model(spec: Union[str, Path], weights: Union[str, Path, None] = None, seed: int = 0
               ) -> tuple[Network, Params]:
    """:func:`load_network` plus its float params: an ONNX model's own initializers, else
    ``weights`` (an ``.npz``, :func:`load_params`) or random ones from ``seed``.

    Raises
    ------
    ModelError
        ``weights`` given with an ONNX model (its weights are inside it).
    """
    if str(spec).lower().endswith(".onnx"):
        if weights:
            raise ModelError(f"--weights {weights} cannot be combined with ONNX model {spec}: its weights are "
                             f"the model's initializers")
        from .onnx_import import import_onnx
        return import_onnx(spec)
    net = load_network(spec)
    return net, (load_params(net, weights) if weights else random_params(net, seed))


def weight_shape(net: Network, layer: Layer) -> tuple[int, int, int, int]:
    cin = net.in_shape(layer)[2]
    return (layer.kernel, layer.kernel, cin // layer.groups, layer.out_channels)


def random_params(net: Network, seed: int = 0) -> Params:
    """He-initialised float weights, small biases and random batch-norm statistics."""
    rng = np.random.default_rng(seed)
    params: Params = {}
    for layer in net.layers:
        if layer.kind != "conv":
            continue
        shape = weight_shape(net, layer)
        fan_in = shape[0] * shape[1] * shape[2]
        p = {"weight": rng.normal(0.0, np.sqrt(2.0 / fan_in), shape),
             "bias": rng.normal(0.0, 0.05, shape[3])}
        if layer.batchnorm:
            c = shape[3]
            p.update(bn_gamma=rng.uniform(0.6, 1.4, c), bn_beta=rng.normal(0.1, 0.1, c),
                     bn_mean=rng.normal(0.0, 0.1, c), bn_var=rng.uniform(0.5, 1.5, c))
        params[layer.name] = p
    return params


def load_params(net: Network, path: Union[str, Path]) -> Params:
    """Float parameters from an ``.npz`` with keys ``<layer>.weight``, ``<layer>.bias`` and, for
    batch-norm layers, ``<layer>.bn_gamma`` / ``bn_beta`` / ``bn_mean`` / ``bn_var``."""
    data = load_arrays(path, "weights")
    params: Params = {}
    for layer in net.layers:
        if layer.kind != "conv":
            continue
        shape = weight_shape(net, layer)
        want = {"weight": shape, "bias": (shape[3],)}
        if layer.batchnorm:
            want.update({k: (shape[3],) for k in BN_KEYS})
        p = {}
        for key, shp in want.items():
            full = f"{layer.name}.{key}"
            if full not in data:
                raise ModelError(f"weights file {path} has no array {full!r} (shape {shp})")
            arr = numeric(data[full], f"weights file {path}: {full}")
            if arr.shape != shp:
                raise ModelError(f"weights file {path}: {full} must have shape {shp}, not {arr.shape}")
            p[key] = arr
        params[layer.name] = p
    return params


def save_params(params: Params, path: Union[str, Path]) -> None:
    np.savez(path, **{f"{name}.{k}": v for name, p in params.items() for k, v in p.items()})


def fold_batchnorm(net: Network, params: Params) -> Params:
    """Fold each batch norm into its conv: ``w' = w * g / sqrt(v + eps)``,
    ``b' = (b - mean) * g / sqrt(v + eps) + beta``. Returns ``{"weight", "bias"}`` per layer."""
    out: Params = {}
    for layer in net.layers:
        if layer.kind != "conv":
            continue
        p = params[layer.name]
        w, b = np.asarray(p["weight"], np.float64), np.asarray(p["bias"], np.float64)
        if layer.batchnorm:
            k = p["bn_gamma"] / np.sqrt(p["bn_var"] + BN_EPS)
            w = w * k
            b = (b - p["bn_mean"]) * k + p["bn_beta"]
        out[layer.name] = {"weight": w, "bias": b}
    return out
