"""The network description shared by hwgen's back ends, built-in models, quantization, and the
shared integer operators (:mod:`hwgen.nn.ops`, :mod:`hwgen.nn.quant`)."""
from .ir import ACTIVATIONS, HEAD_VALUES, LAYER_KINDS, Layer, Network
from .models import MODEL_NAMES, build_model, fold_batchnorm, load_network, load_params, random_params, save_params
from .quantize import QuantConv, QuantNetwork, calibration_images, float_forward, load_quant, quantize_network, save_quant

__all__ = ["ACTIVATIONS", "HEAD_VALUES", "LAYER_KINDS", "Layer", "Network", "MODEL_NAMES", "build_model",
           "fold_batchnorm", "load_network", "load_params", "random_params", "save_params", "QuantConv",
           "QuantNetwork", "calibration_images", "float_forward", "load_quant", "quantize_network", "save_quant"]
