"""The HLS emitter: a quantized network and its parallelism plan -> a Vivado/Vitis-HLS C++ project.

The real logic lives in the hand-written ``hls_templates/hwgen_nn.h``; the Jinja templates emit
only per-layer config structs, ROM arrays, the ``DATAFLOW`` top function, the C-simulation
testbench and the HLS Tcl script. Output files (``<top>`` is ``hwgen_hls_<slug>``)::

    <top>.h, <top>.cpp, <top>_config.h, <top>_weights.h, tb_<top>.cpp, build.tcl,
    hwgen_nn.h, csim/hls_stream.h, data/images.bin, quant.npz, model.json, manifest.json
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..configbase import config_to_dict
from ..errors import ModelError
from ..nn.ir import Network
from ..nn.models import load_model
from ..nn.quantize import (QuantNetwork, calibration_images, load_calibration, load_quant, quantize_network,
                           save_quant)
from ..outdir import staged_output
from ..resources import resource_dir, template_env
from . import model as golden
from .config import HlsConfig
from .dataflow import verified_plan
from .perf import Plan, accum_bits, pool_is_tiled
from .presets import BOARDS

#: vendor, library and version of the IP that build.tcl exports; block designs find it by them
IP_VENDOR, IP_LIBRARY, IP_VERSION = "hwgen.dev", "hls", "1.0"


def ip_vlnv(top: str, version: bool = True) -> str:
    """The exported IP's VLNV (``vendor:library:name:version``; without the version, the prefix a
    block design looks the newest version up by)."""
    v = f"{IP_VENDOR}:{IP_LIBRARY}:{top}"
    return f"{v}:{IP_VERSION}" if version else v


TEMPLATES = ("config.h.j2", "weights.h.j2", "top.h.j2", "top.cpp.j2", "tb.cpp.j2", "build.tcl.j2")


@dataclass
class Design:
    """Everything one generated project is made from."""
    config: HlsConfig
    qnet: QuantNetwork
    plan: Plan

    @property
    def net(self) -> Network:
        return self.qnet.net

    @property
    def top(self) -> str:
        return f"hwgen_hls_{self.config.slug}"


#: layer kinds the HLS templates implement
HLS_KINDS = ("conv", "maxpool", "avgpool", "reorg", "concat", "add", "head")
#: inputs an ``add`` may have (``hwgen::add`` has a form for each count)
ADD_INPUTS = (2, 4)
#: the largest kernel and stride of hwgen::SlidingWindow (its static_asserts)
MAX_WINDOW_KERNEL, MAX_WINDOW_STRIDE = 7, 4


def check_network(net: Network) -> None:
    """Refuse a network the HLS back end cannot build (one-line errors)."""
    for layer in net.layers:
        if layer.kind not in HLS_KINDS:
            raise ModelError(f"layer {layer.name}: {layer.kind} layers are not supported by the HLS back end "
                             f"yet; supported kinds: {', '.join(HLS_KINDS)}")
        srcs = net.inputs_of(layer)
        if len(set(srcs)) != len(srcs):
            twice = next(s for s in srcs if srcs.count(s) > 1)
            raise ModelError(f"layer {layer.name}: the HLS back end needs distinct inputs for a "
                             f"{layer.kind} (each input is its own stream), not {twice!r} twice")
        lo, hi = ADD_INPUTS
        if layer.kind == "add" and not lo <= len(srcs) <= hi:
            raise ModelError(f"layer {layer.name}: an add takes {lo}..{hi} inputs in the HLS back end, "
                             f"not {len(srcs)}")
        windowed = layer.kind in ("conv", "maxpool") or (layer.kind == "avgpool" and not pool_is_tiled(net, layer))
        if windowed and not (layer.kernel <= MAX_WINDOW_KERNEL and layer.stride <= MAX_WINDOW_STRIDE):
            raise ModelError(f"layer {layer.name}: a {layer.kernel}x{layer.kernel} stride-{layer.stride} window "
                             f"exceeds the HLS line buffer (kernel at most {MAX_WINDOW_KERNEL}, stride at most "
                             f"{MAX_WINDOW_STRIDE}); only an average pool that tiles its input exactly "
                             f"(kernel == stride, no padding) may be larger")


def build_design(cfg: HlsConfig) -> Design:
    """Load the network, make or load its weights, quantize, and choose the parallelism."""
    net, params = load_model(cfg.model, cfg.weights, cfg.seed)
    check_network(net)
    p = verified_plan(net, cfg)  # fail fast on an unreachable frame rate, before quantizing
    if cfg.quant:
        return Design(config=cfg, qnet=_given_quant(cfg, net), plan=p)
    calib = load_calibration(cfg.calibration, net) if cfg.calibration else calibration_images(net, 4, cfg.seed)
    qnet = quantize_network(net, params, calib, act_width=cfg.act_width,
                            weight_width=cfg.weight_width, multiplier_width=cfg.multiplier_width)
    return Design(config=cfg, qnet=qnet, plan=p)


def _given_quant(cfg: HlsConfig, net: Network) -> QuantNetwork:
    """``cfg.quant`` loaded and checked against the configured network and widths."""
    qnet = load_quant(cfg.quant)
    if qnet.net.to_dict() != net.to_dict():
        raise ModelError(f"quantized network {cfg.quant} is {qnet.net.name}, which differs from the "
                         f"configured model {cfg.model!r}; set model to the network it was made from")
    got = (qnet.act_width, qnet.weight_width)
    if got != (cfg.act_width, cfg.weight_width):
        raise ModelError(f"quantized network {cfg.quant} has act/weight widths {got[0]}/{got[1]}, the "
                         f"config {cfg.act_width}/{cfg.weight_width}")
    for layer in net.layers:
        if layer.kind == "avgpool" and not np.all(qnet.convs[layer.name].weight == 1):
            raise ModelError(f"quantized network {cfg.quant}: average pool {layer.name} must have unit "
                             f"weights (its 1/K**2 lives in the multiplier), the HLS pool has no weights")
    wide = [n for n, qc in qnet.convs.items()
            if qc.multiplier.size and int(abs(qc.multiplier).max()) >= 1 << (cfg.multiplier_width - 1)]
    if wide:
        raise ModelError(f"quantized network {cfg.quant}: layer {wide[0]}'s multipliers do not fit "
                         f"multiplier_width {cfg.multiplier_width}")
    return qnet


def _ctype_for(width: int, signed: bool = True) -> str:
    if width <= 8:
        return "signed char" if signed else "unsigned char"
    if width <= 16:
        return "short"
    return "int"


def _values(arr: np.ndarray, per_line: int = 24) -> str:
    flat = [str(int(v)) for v in np.asarray(arr).reshape(-1)]
    return ",\n".join("    " + ", ".join(flat[i:i + per_line]) for i in range(0, len(flat), per_line))


def _banks(arr: np.ndarray) -> str:
    """Initializer of a ``[banks][words][lanes]`` array, fully braced."""
    return ",\n".join("    {" + ", ".join("{" + ", ".join(str(int(v)) for v in word) + "}" for word in bank) + "}"
                       for bank in arr)


def _rows(arr: np.ndarray) -> str:
    """Initializer of a ``[rows][cols]`` array, one braced row per line."""
    return ",\n".join("    {" + ", ".join(str(int(v)) for v in row) + "}" for row in arr)


def weight_banks(weight: np.ndarray, pe: int, simd: int) -> np.ndarray:
    """Golden ``[K, K, CPG, COUT]`` weights as ``[PE, (COUT/PE)*(CPG/SIMD), SIMD*K*K]`` ROM banks
    (the layout ``conv2d`` in ``hwgen_nn.h`` reads)."""
    k, _, cpg, cout = weight.shape
    w = weight.reshape(k, k, cpg // simd, simd, cout // pe, pe)      # ky kx sg s og p
    return w.transpose(5, 4, 2, 3, 0, 1).reshape(pe, (cout // pe) * (cpg // simd), simd * k * k)


def accum_width(design: Design, layer) -> int:
    """Accumulator bits of a weighted layer (:func:`hwgen.hls.perf.accum_bits`)."""
    return accum_bits(design.net, layer, design.config)


def out_axis_width(design: Design) -> int:
    """TDATA bits of the top's output: 32-bit head records, else activations as the input's."""
    if design.net.output.kind == "head":
        return 32
    return 8 if design.config.act_width <= 8 else 16


def top_out_words(net: Network) -> int:
    """Words the top writes per frame: the head record, or the last layer's whole map."""
    h, w, c = net.shape(net.output.name)
    return h * w * c


def render(design: Design) -> dict[str, str]:
    """All generated text files by name (deterministic)."""
    cfg, net, qnet = design.config, design.net, design.qnet
    top, aw = design.top, cfg.act_width
    act_lo = qnet.act_range[0]
    ns = f"{top}_cfg"
    structs, arrays, streams, calls = [], [], [], []
    consumers = {name: [l.name for l in net.consumers(name)] for name in ["input"] + [l.name for l in net.layers]}
    depths = design.plan.fifo_depths

    def add_stream(var: str, name: str, depth: int, ctype: str = f"{ns}::act_t") -> str:
        streams.append({"var": var, "name": name, "depth": max(2, depth), "ctype": ctype})
        return var

    # edge (producer, consumer) -> stream variable read by the consumer
    edge: dict[tuple[str, str], str] = {}

    def produce(name: str, words: int, channels: int) -> str:
        """Stream a layer writes; forks it when several layers read it."""
        outs = consumers[name]
        if not outs:                        # the network's output: read by the AXI-Stream adapter
            return add_stream(f"s_{name}", name, channels)
        if len(outs) == 1:
            var = add_stream(f"s_{name}", name, depths[(name, outs[0])])
            edge[(name, outs[0])] = var
            return var
        var = add_stream(f"s_{name}", name, channels)
        src = var
        for i, dst in enumerate(outs[:-1]):
            a = add_stream(f"s_{name}_to_{dst}", f"{name}_to_{dst}", depths[(name, dst)])
            edge[(name, dst)] = a
            if i == len(outs) - 2:
                b = add_stream(f"s_{name}_to_{outs[-1]}", f"{name}_to_{outs[-1]}", depths[(name, outs[-1])])
                edge[(name, outs[-1])] = b
            else:
                b = add_stream(f"s_{name}_fork{i}", f"{name}_fork{i}", channels)
            fork_calls.append((name, f"hwgen::fork2<{ns}::act_t, {words}>({src}, {a}, {b})"))
            src = b
        return var

    fork_calls: list[tuple[str, str]] = []
    h, w, c = net.input_shape
    in_axis = 8 if aw <= 8 else 16
    s_in = produce("input", h * w * c, c)
    calls.append(f"hwgen::axis_to_stream<{ns}::act_t, {h * w * c}, {in_axis}>(in, {s_in})")
    calls += [fc for n, fc in fork_calls if n == "input"]

    for layer in net.layers:
        lp = design.plan.layer(layer.name)
        srcs = net.inputs_of(layer)
        ih, iw, ic = net.in_shape(layer)
        oh, ow, oc = net.shape(layer.name)
        st = f"{layer.name}_config"
        ints: list[tuple[str, int]] = [("in_height", ih), ("in_width", iw), ("in_channels", ic),
                                       ("out_height", oh), ("out_width", ow), ("out_channels", oc)]
        bools: list[tuple[str, str]] = []
        types = [("in_t", "act_t"), ("out_t", "act_t")]
        if layer.kind in ("conv", "maxpool", "avgpool"):
            t, b, l, r = net.pads(layer)
            ints += [("kernel", layer.kernel), ("stride", layer.stride), ("pad_top", t), ("pad_bottom", b),
                     ("pad_left", l), ("pad_right", r)]
        if layer.kind == "head":
            out_words = 8
            ints += [("anchors", layer.anchors)]
            types = [("in_t", "act_t"), ("out_t", "record_t")]
            out_var = add_stream(f"s_{layer.name}", layer.name, 8, f"{ns}::record_t")
        elif layer.kind == "concat":
            out_words = oh * ow * oc
            out_var = None
        else:
            out_words = oh * ow * oc
            fork_calls.clear()
            out_var = produce(layer.name, out_words, oc)
        ins = [edge[(s, layer.name)] for s in srcs]
        if layer.kind in ("add", "avgpool"):
            qc = qnet.convs[layer.name]
            acc_w = accum_width(design, layer)
            ints += [("act_width", aw), ("weight_width", cfg.weight_width), ("accum_width", acc_w),
                     ("act_lo", qc.lo), ("act_hi", qc.hi)]
            types += [("weight_t", f"ap_int<{cfg.weight_width}>"), ("accum_t", f"ap_int<{acc_w}>"),
                      ("weight_store_t", _ctype_for(cfg.weight_width)), ("bias_store_t", "int"),
                      ("mult_store_t", "int"), ("shift_store_t", "unsigned char")]
            pre = layer.name
            roms = [{"name": f"{pre}_bias", "ctype": "int", "size": qc.bias.size, "data": _values(qc.bias)},
                    {"name": f"{pre}_mult", "ctype": "int", "size": qc.multiplier.size, "data": _values(qc.multiplier)},
                    {"name": f"{pre}_shift", "ctype": "unsigned char", "size": qc.shift.size, "data": _values(qc.shift)}]
        if layer.kind == "add":
            qc = qnet.convs[layer.name]
            ints += [("inputs", len(srcs))]
            arrays.append({"name": f"{layer.name}_w", "ctype": _ctype_for(cfg.weight_width),
                           "size": f"{len(srcs)}][{oc}", "data": _rows(qc.weight[0, 0])})
            arrays += roms
            act = "" if layer.activation == "none" else f", {layer.activation}"
            comment = f"{layer.name}: residual add of {', '.join(srcs)}{act}"
            calls.append(f"hwgen::add<{st}>({', '.join(ins)}, {out_var}, {pre}_w, {pre}_bias, {pre}_mult, "
                         f"{pre}_shift)")
        elif layer.kind == "avgpool":
            ints += [("pad_value", 0)]
            arrays += roms
            tiled = pool_is_tiled(net, layer)
            kind = "global " if tiled and (oh, ow) == (1, 1) else ""
            comment = (f"{layer.name}: {kind}{layer.kernel}x{layer.kernel} average pooling, stride {layer.stride}"
                       f"{', tiled (partial sums, no line buffer)' if tiled else ''}")
            fn = "avgpool_tiled" if tiled else "avgpool2d"
            calls.append(f"hwgen::{fn}<{st}>({ins[0]}, {out_var}, {pre}_bias, {pre}_mult, {pre}_shift)")
        elif layer.kind == "conv":
            qc = qnet.convs[layer.name]
            banks = weight_banks(qc.weight, lp.pe, lp.simd)
            ints += [("groups", layer.groups), ("pe", lp.pe), ("simd", lp.simd), ("pad_value", 0),
                     ("weight_steps", banks.shape[1]), ("weight_lanes", banks.shape[2]),
                     ("act_width", aw), ("weight_width", cfg.weight_width),
                     ("accum_width", accum_width(design, layer)), ("act_lo", qc.lo), ("act_hi", qc.hi)]
            types += [("weight_t", f"ap_int<{cfg.weight_width}>"), ("accum_t", f"ap_int<{accum_width(design, layer)}>"),
                      ("weight_store_t", _ctype_for(cfg.weight_width)), ("bias_store_t", "int"),
                      ("mult_store_t", "int"), ("shift_store_t", "unsigned char")]
            comment = (f"{layer.name}: {layer.kernel}x{layer.kernel} conv, groups {layer.groups}, stride "
                       f"{layer.stride}, {ic} -> {oc} channels, {layer.activation}, PE {lp.pe} x SIMD {lp.simd}")
            pre = f"{layer.name}"
            arrays += [
                {"name": f"{pre}_w", "ctype": _ctype_for(cfg.weight_width), "size": "][".join(map(str, banks.shape)),
                 "data": _banks(banks)},
                {"name": f"{pre}_bias", "ctype": "int", "size": qc.bias.size, "data": _values(qc.bias)},
                {"name": f"{pre}_mult", "ctype": "int", "size": qc.multiplier.size, "data": _values(qc.multiplier)},
                {"name": f"{pre}_shift", "ctype": "unsigned char", "size": qc.shift.size, "data": _values(qc.shift)},
            ]
            calls.append(f"hwgen::conv2d<{st}>({ins[0]}, {out_var}, {pre}_w, {pre}_bias, {pre}_mult, {pre}_shift)")
        elif layer.kind == "maxpool":
            ints += [("pad_value", act_lo)]
            bools += [("tiled", "true" if pool_is_tiled(net, layer) else "false")]
            comment = f"{layer.name}: {layer.kernel}x{layer.kernel} max pooling, stride {layer.stride}"
            calls.append(f"hwgen::maxpool2d<{st}>({ins[0]}, {out_var})")
        elif layer.kind == "reorg":
            ints += [("stride", layer.stride)]
            comment = f"{layer.name}: space-to-depth by {layer.stride}"
            calls.append(f"hwgen::reorg<{st}>({ins[0]}, {out_var})")
        elif layer.kind == "head":
            comment = f"{layer.name}: detection head decode, {layer.anchors} anchors"
            calls.append(f"hwgen::detect_head<{st}>({ins[0]}, {out_var})")
        else:  # concat, as a chain of two-input concatenations
            comment = f"{layer.name}: concat of {', '.join(srcs)}"
            acc_var, acc_c = ins[0], net.shape(srcs[0])[2]
            for i, s in enumerate(srcs[1:]):
                last = i == len(srcs) - 2
                sc = net.shape(s)[2]
                part = f"{st}{i}" if len(srcs) > 2 else st
                cints = [("height", oh), ("width", ow), ("a_channels", acc_c), ("b_channels", sc),
                         ("out_channels", acc_c + sc)]
                if last:
                    fork_calls.clear()
                    dst = produce(layer.name, out_words, oc)
                else:
                    dst = add_stream(f"s_{layer.name}_part{i}", f"{layer.name}_part{i}", acc_c + sc)
                if part != st:
                    structs.append({"struct": part, "comment": f"{comment} (step {i})", "ints": cints,
                                    "bools": [], "types": types, "tick": f"{layer.name}#{i}"})
                else:
                    ints = cints
                calls.append(f"hwgen::concat2<{part}>({acc_var}, {edge[(s, layer.name)]}, {dst})")
                acc_var, acc_c = dst, acc_c + sc
            if len(srcs) > 2:
                calls += [fc for _, fc in fork_calls]
                continue
        structs.append({"struct": st, "comment": comment, "ints": ints, "bools": bools, "types": types,
                        "tick": layer.name})
        calls += [fc for _, fc in fork_calls]
        fork_calls.clear()

    out_layer = net.output
    out_t = f"{ns}::record_t" if out_layer.kind == "head" else f"{ns}::act_t"
    calls.append(f"hwgen::stream_to_axis<{out_t}, {top_out_words(net)}, {out_axis_width(design)}>"
                 f"(s_{out_layer.name}, out)")

    board = BOARDS[cfg.board]
    ctx = {
        "slug": cfg.slug, "top": top, "guard": top.upper(), "model": net.name, "act_width": aw,
        "layers": structs, "arrays": arrays, "streams": streams, "calls": calls,
        "layer_count": len(net.layers), "in_shape": net.input_shape, "in_words": h * w * c,
        "out_words": top_out_words(net), "record_fields": golden.RECORD_FIELDS,
        "out_head": out_layer.kind == "head", "out_shape": net.shape(out_layer.name), "out_layer": out_layer.name,
        "out_axis_width": out_axis_width(design), "in_axis_width": in_axis,
        "taps": ["input"] + [l.name for l in net.layers], "part": board.part,
        "period_ns": f"{1000.0 / cfg.clock_mhz:.4g}", "ip_vendor": IP_VENDOR, "ip_library": IP_LIBRARY,
        "ip_version": IP_VERSION,
    }
    env = template_env("hls_templates")
    names = {"config.h.j2": f"{top}_config.h", "weights.h.j2": f"{top}_weights.h", "top.h.j2": f"{top}.h",
             "top.cpp.j2": f"{top}.cpp", "tb.cpp.j2": f"tb_{top}.cpp", "build.tcl.j2": "build.tcl"}
    return {names[t]: env.get_template(t).render(**ctx) for t in TEMPLATES}


def write_images(path: Path, images: list[np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.concatenate([im.reshape(-1) for im in images]).astype("<i4").tofile(path)


def generate(cfg: HlsConfig, out_dir: str | Path, design: Design | None = None) -> Design:
    """Generate the HLS project for ``cfg`` into ``out_dir`` (staged: all or nothing)."""
    design = design or build_design(cfg)
    files = render(design)
    with staged_output(out_dir) as stage:
        for name, text in files.items():
            (stage / name).write_text(text)
        tdir = resource_dir("hls_templates")
        shutil.copyfile(tdir / "hwgen_nn.h", stage / "hwgen_nn.h")
        (stage / "csim").mkdir()
        shutil.copyfile(tdir / "csim" / "hls_stream.h", stage / "csim" / "hls_stream.h")
        write_images(stage / "data" / "images.bin", golden.test_images(design.qnet, 1, cfg.seed))
        save_quant(design.qnet, stage / "quant.npz")
        (stage / "model.json").write_text(json.dumps(model_json(design), indent=2) + "\n")
        manifest = {"kind": "hls", "slug": cfg.slug, "top": design.top, "hwgen": __version__,
                    "config": config_to_dict(cfg), "tools": _tool_versions(), "files": sorted(list(files) + [
                        "hwgen_nn.h", "csim/hls_stream.h", "data/images.bin", "quant.npz", "model.json"])}
        (stage / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return design


def _tool_versions() -> dict:
    """Versions the generated project was made and C-simulated with."""
    import importlib.metadata
    from ..toolchain import version
    out = {"g++": version("g++")}
    for pkg in ("numpy", "jinja2", "hls4ml"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def model_json(design: Design) -> dict:
    d = design.plan.to_dict()
    d["model"] = design.net.name
    d["slug"] = design.config.slug
    d["top"] = design.top
    d["macs_per_frame"] = sum(design.net.macs(l) for l in design.net.layers)
    return d
