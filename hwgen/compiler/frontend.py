"""What ``hwgen accel compile`` and ``hwgen accel infer`` do, as functions: compile a network to a
folder, and run a compiled folder on a back end checking every layer against the golden model."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..accel.config import AccelConfig
from ..accel.isa import EXACT_COUNTERS, describe
from ..errors import ConfigError, ModelError
from ..nn.model import forward, test_images
from ..nn.quantize import (QuantNetwork, calibration_images, load_calibration, load_quant, quantize_network,
                           save_quant)
from ..outdir import staged_output
from ..runtime.network import CompiledNetwork, NetworkRunner
from .compile import compile_network, output_info

#: the quantized network the compiled program computes, beside it
QUANT_FILE = "quant.npz"


def quantized(config: AccelConfig, *, model: str | None = None, weights: str | None = None,
              calibration: str | None = None, quant: str | None = None, seed: int = 0) -> QuantNetwork:
    """A quantized network from ``quant`` (an ``.npz`` of :func:`hwgen.nn.quantize.save_quant`,
    e.g. the one ``hwgen hls generate`` writes) or from ``model`` (built-in name or JSON) with
    ``weights`` (``.npz``, default random from ``seed``), quantized to the accelerator's widths."""
    from ..nn.models import load_model
    if quant is not None:
        if model is not None or weights is not None or calibration is not None:
            raise ConfigError("--quant gives the whole quantized network; do not combine it with "
                              "--model, --weights or --calibration")
        return load_quant(quant)
    net, params = load_model(model or "skynet-tiny", weights, seed)
    calib = load_calibration(calibration, net) if calibration else calibration_images(net, 4, seed)
    return quantize_network(net, params, calib, act_width=config.input_width,
                            weight_width=config.weight_width)


def compile_to(qnet: QuantNetwork, config: AccelConfig, out: str | Path, *,
               keep_maps: bool = False) -> dict[str, Any]:
    """Compile and write ``out`` (staged); returns the summary. By default feature maps whose
    lifetimes do not overlap share arena space (``infer`` then checks the output after a run, and
    every map when run per layer); ``keep_maps`` gives every map its own space."""
    cn, fitted = compile_network(qnet, config, keep_maps=keep_maps)
    with staged_output(out) as stage:
        for name, data in cn.files().items():
            (stage / name).write_bytes(data)
        save_quant(fitted, stage / QUANT_FILE)
        lines = [f"# output: {describe_output(cn.info['output'])}"]
        for seg in cn.segments:
            lines.append(f"# {seg.name} ({seg.kind}): {len(seg.insns)} instructions")
            lines += [f"{i:6d}  {describe(x)}" for i, x in enumerate(seg.insns)]
        (stage / "listing.txt").write_text("\n".join(lines) + "\n")
    return summary(cn, out)


def describe_output(o: dict[str, Any]) -> str:
    """One line saying what a compiled network's result is (see
    :func:`hwgen.compiler.compile.output_info`)."""
    shape = "x".join(map(str, o["shape"]))
    if o["kind"] == "head":
        return f"{o['name']}: the detection head's decoded record (1x1x8), from the map before it"
    if o["kind"] == "classifier":
        return (f"{o['name']}: {o['shape'][2]} class logits ({shape}); the top-1 class is their argmax "
                f"(first on ties)")
    return f"{o['name']}: the feature map {shape}"


def top1(logits: np.ndarray, scales: np.ndarray | None = None) -> dict[str, Any]:
    """The top-1 class of a classifier's ``1 x 1 x classes`` output (first maximum on ties), its
    integer logit and, given the map's scales, the logit as a real number."""
    v = np.asarray(logits).reshape(-1)
    c = int(np.argmax(v))
    out = {"class": c, "logit": int(v[c])}
    if scales is not None:
        out["logit_real"] = round(float(v[c] * np.asarray(scales).reshape(-1)[c]), 6)
    return out


def summary(cn: CompiledNetwork, out: str | Path | None = None) -> dict[str, Any]:
    segs = []
    for s in cn.segments:
        m = cn.maps[s.dst]
        t = s.tiling
        segs.append({"name": s.name, "kind": s.kind, "output": [m["h"], m["w"], len(m["channels"])],
                     "insns": len(s.insns), "macs": s.macs, "est_cycles": s.est_cycles,
                     "tiling": f"{t['groups']}x{t['planes_per_group']} / {t['planes_per_chunk']} / "
                               f"{t['rows_per_tile']}x{t['cols_per_tile']}"})
    return {"network": cn.network["name"], "slug": cn.config.slug, "out": str(out) if out else None,
            "segments": segs, "insns": cn.insn_count, "macs": cn.macs, "arena_bytes": len(cn.arena),
            "est_cycles": sum(s.est_cycles for s in cn.segments),
            "keep_maps": cn.info.get("keep_maps", True), "maps_bytes": cn.info.get("maps_bytes"),
            "maps_bytes_kept": cn.info.get("maps_bytes_kept"),
            "output": cn.info.get("output"),
            "refitted_layers": cn.info.get("refitted_layers", []),
            "max_scale_change": cn.info.get("max_scale_change", 0.0)}


def load_compiled(folder: str | Path) -> tuple[CompiledNetwork, QuantNetwork]:
    cn = CompiledNetwork.load(folder)
    qpath = Path(folder) / QUANT_FILE
    if not qpath.is_file():
        raise ModelError(f"{folder} has no {QUANT_FILE} (the quantized network the program computes); "
                         f"compile it again with hwgen accel compile")
    qnet = load_quant(qpath)
    if qnet.net.to_dict() != cn.network:
        raise ModelError(f"{qpath} holds network {qnet.net.name}, not the compiled {cn.network['name']} "
                         f"of {Path(folder) / 'network.json'}; compile it again")
    return cn, qnet

def infer(folder: str | Path, device, *, images: int = 1, seed: int = 1, image: np.ndarray | None = None,
          per_layer: bool = False) -> dict[str, Any]:
    """Run a compiled folder on ``device`` for ``images`` test images (or one given ``image``) and
    compare every layer's map that can be read back with :func:`hwgen.nn.model.forward`: all of
    them when compiled with ``keep_maps`` or run ``per_layer`` (each right after its job), else the
    ones still in the arena after the run (the output among them; ``compared`` counts the maps
    compared per frame, a layer row's ``compared`` says whether it was). Each frame reports its cycles,
    its exact operation counters (:data:`hwgen.accel.isa.EXACT_COUNTERS`: equal on every back end),
    its mismatches and its result (``record``: a head's decoded record or a classifier's logits;
    ``top1``: a classifier's top-1 class, beside the golden model's ``golden_top1``)."""
    cn, qnet = load_compiled(folder)
    if not isinstance(images, int) or images < 1:
        raise ConfigError(f"--images must be a positive integer, not {images}")
    imgs = [np.asarray(image)] if image is not None else test_images(qnet, images, seed)
    runner = NetworkRunner(device, cn)
    segments = {s.name: s for s in cn.segments}
    output = cn.info.get("output") or output_info(qnet)
    frames = []
    layers: dict[str, dict[str, Any]] = {}
    try:
        for img in imgs:
            want = forward(qnet, img)
            t0 = time.monotonic()
            res = runner.run(img, per_layer=per_layer)
            dt = time.monotonic() - t0
            bad = compared = 0
            for name in ["input"] + [l.name for l in qnet.net.layers]:
                row = layers.setdefault(name, {"layer": name, "shape": list(want[name].shape),
                                               "mismatches": 0, "compared": False})
                if name not in res.maps:           # its space was reused by a later map
                    continue
                n = int((res.maps[name] != want[name]).sum())
                bad += n
                compared += 1
                row["mismatches"] += n
                row["compared"] = True
            if per_layer:
                for (names, r) in res.runs:
                    for name in names:
                        for lname in segments[name].layers or (name,):
                            row = layers.setdefault(lname, {"layer": lname, "mismatches": 0})
                            row["cycles"] = r.cycles
            frame = {"cycles": res.cycles, "cycles_exact": res.exact_cycles, "mismatches": bad,
                     "compared": compared,
                     "counters": {c: sum(int(r.counters.get(c, 0)) for _n, r in res.runs)
                                  for c in EXACT_COUNTERS},
                     "run_s": round(dt, 3), "record": res.maps.get(cn.head["name"]).reshape(-1).tolist()
                     if cn.head else None}
            if output["kind"] == "classifier":
                name = output["name"]
                frame["record"] = res.maps[name].reshape(-1).tolist()        # the logits
                frame["top1"] = top1(res.maps[name], qnet.scales.get(name))
                frame["golden_top1"] = top1(want[name], qnet.scales.get(name))
            frames.append(frame)
    finally:
        runner.close()
    cycles = frames[0]["cycles"]
    return {"network": cn.network["name"], "slug": cn.config.slug, "backend": device.name,
            "output": output, "per_layer": per_layer, "images": len(imgs), "frames": frames, "layers": list(layers.values()),
            "cycles": cycles, "cycles_exact": frames[0]["cycles_exact"], "macs": cn.macs,
            "utilization": round(cn.macs / (cn.config.macs_per_cycle * max(cycles, 1)), 4),
            "mismatches": sum(f["mismatches"] for f in frames),
            "maps": len(layers), "compared": min(f["compared"] for f in frames),
            "keep_maps": cn.info.get("keep_maps", True)}
