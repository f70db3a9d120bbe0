"""ONNX import benchmark: prints one JSON object.

- ``import`` (default): each built-in network of ``--models`` (random float weights, seed 0; a
  detector without its head) written as an ONNX graph with onnx.helper (Conv, BatchNormalization,
  Relu/Clip, MaxPool, AveragePool, SpaceToDepth, Concat, Add; ``tests/nn/test_onnx.py: to_onnx``),
  then read back with :func:`hwgen.nn.onnx_import.import_onnx`: file bytes, import seconds, whether
  the layers equal the built-in ones (kind, inputs, kernel, stride, pads, groups, activation, batch
  norm), and the largest difference of hwgen's float model (:func:`hwgen.nn.quantize.float_forward`)
  from onnxruntime on one image, relative to onnxruntime's largest output.
- ``accel`` (not in the default parts): ResNet-18 from its ONNX file through ``hwgen accel compile``'s
  functions (preset ``default``) and ``hwgen accel infer --backend fsim``, fused and ``--per-layer``
  (every map checked): cycles per frame (the fused run), mismatches, top-1 equal to the golden model's.

At 9cd1f06+: ResNet-18 (46.8 MB) imports in 0.66 s, MobileNetV2 in 0.03 s, SkyNet and mbv2-det in
0.01 s, all to the built-in layers, float model within 6.0e-6 of onnxruntime (relative); ResNet-18
from ONNX on ``default`` (fsim): 8,487,401 cycles, 83.5% GEMM utilization, 0 mismatches over
every map, the golden model's top-1 (compile 28 s on a shared core).

Usage: python bench/onnx_import.py [--parts import,accel] [--models resnet18,mobilenetv2,skynet,mbv2-det]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hwgen.nn import fold_batchnorm, float_forward  # noqa: E402
from hwgen.nn.ir import Network  # noqa: E402
from hwgen.nn.models import build_model, random_params  # noqa: E402
from hwgen.nn.onnx_import import import_onnx  # noqa: E402


def _headless(name: str) -> Network:
    net = build_model(name)
    if net.output.kind == "head":
        net = Network(name=net.name, input_shape=net.input_shape, layers=net.layers[:-1])
    return net


def bench_import(models: list[str], tmp: Path) -> dict:
    import onnxruntime as ort
    from tests.nn.test_onnx import to_onnx
    out = {}
    for name in models:
        net = _headless(name)
        params = random_params(net, 0)
        path = to_onnx(net, params, tmp / f"{name}.onnx")
        t0 = time.monotonic()
        got, gparams = import_onnx(path)
        dt = time.monotonic() - t0

        def layers(n):
            return [dict(l.__dict__, inputs=n.inputs_of(l), padding=n.pads(l)) for l in n.layers]
        same = layers(got) == layers(net)
        img = np.random.default_rng(1).uniform(0, 1, net.input_shape)
        mine = float_forward(got, fold_batchnorm(got, gparams), img)[got.output.name]
        want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
            None, {"image": img.transpose(2, 0, 1)[None].astype(np.float32)})[0][0].transpose(1, 2, 0)
        out[name] = {"onnx_bytes": path.stat().st_size, "import_s": round(dt, 3), "layers": len(got.layers),
                     "same_layers": bool(same),
                     "max_rel_error_vs_onnxruntime": float(np.abs(mine - want).max() / np.abs(want).max())}
    return out


def bench_accel(tmp: Path) -> dict:
    from tests.nn.test_onnx import to_onnx
    from hwgen.accel.presets import PRESETS
    from hwgen.compiler.frontend import compile_to, infer, quantized
    from hwgen.runtime import FsimDevice
    net = build_model("resnet18")
    path = to_onnx(net, random_params(net, 0), tmp / "resnet18.onnx")
    cfg = PRESETS["default"]
    t0 = time.monotonic()
    compile_to(quantized(cfg, model=str(path)), cfg, tmp / "c")
    dt = time.monotonic() - t0
    fused = infer(tmp / "c", FsimDevice(cfg))
    layered = infer(tmp / "c", FsimDevice(cfg), per_layer=True)
    f = fused["frames"][0]
    return {"resnet18": {"preset": "default", "compile_s": round(dt, 1), "cycles": fused["cycles"],
                         "utilization": fused["utilization"],
                         "mismatches": fused["mismatches"] + layered["mismatches"],
                         "top1_equal_golden": f["top1"] == f["golden_top1"]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="import")
    ap.add_argument("--models", default="resnet18,mobilenetv2,skynet,mbv2-det")
    a = ap.parse_args()
    parts = a.parts.split(",")
    res: dict = {}
    with tempfile.TemporaryDirectory() as d:
        if "import" in parts:
            res["import"] = bench_import(a.models.split(","), Path(d))
        if "accel" in parts:
            res["accel"] = bench_accel(Path(d))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
