"""Built-in networks and their float parameters (from a seed or an ``.npz``).

``skynet`` follows the published SkyNet structure (DAC-SDC 2019): bundles of depthwise 3x3 + BN +
ReLU6 and pointwise 1x1 + BN + ReLU6 with channels 3 -> 48 -> 96 -> 192 -> 384 -> 512, 2x2 max
pooling after the first three bundles, the 192-channel map reorganised (space-to-depth by 2) and
concatenated with the 512-channel map (1280 channels), one more bundle to 96 channels, and a 1x1
head to 10 outputs (2 anchors x (4 box values + confidence)). Input 160 x 320 x 3.
``skynet-tiny`` has the same shape with few channels and a 32 x 64 input.
"""
from __future__ import annotations

from pathlib import Path
from typing import Union

import numpy as np

from ..errors import ModelError
from .arrays import load_arrays, numeric
from .ir import HEAD_VALUES, Layer, Network

MODEL_NAMES = ("skynet", "skynet-tiny")

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


def build_model(name: str) -> Network:
    """A built-in network by name (one of :data:`MODEL_NAMES`)."""
    if name == "skynet":
        return skynet_like("skynet", 160, 320, (48, 96, 192, 384, 512), 96)
    if name == "skynet-tiny":
        return skynet_like("skynet_tiny", 32, 64, (8, 16, 16, 24, 32), 16)
    raise ModelError(f"unknown model {name!r}; built-in models: {', '.join(MODEL_NAMES)}")


def load_network(spec: Union[str, Path]) -> Network:
    """A built-in model name, or a network JSON file (see :meth:`Network.to_dict`)."""
    if str(spec) in MODEL_NAMES:
        return build_model(str(spec))
    if str(spec).endswith(".json"):
        return Network.load(spec)
    return build_model(str(spec))


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
