"""``hwgen accel``: generate the accelerator, run a matmul on a back end."""
from __future__ import annotations

import argparse
import importlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from ..cliutil import add_config_flags, add_json, add_out, emit, resolve_config, table
from ..errors import ConfigError
from ..outdir import staged_output
from . import isa, resources
from .config import AccelConfig
from .presets import PRESETS

BACKENDS = ("fsim", "icarus", "verilator")


def isa_files(config: AccelConfig) -> dict[str, str]:
    """The ISA artefacts written beside the Verilog (name -> text)."""
    return {"hwgen_accel.h": isa.c_header(config), "regmap.json": isa.regmap_json(config),
            "ISA.md": isa.isa_markdown(config)}


def _rtl():
    """``hwgen.accel.rtl`` when it exists (it needs amaranth), else None."""
    try:
        mod = importlib.import_module("hwgen.accel.rtl")
    except ModuleNotFoundError as e:
        if e.name in ("hwgen.accel.rtl", "amaranth"):
            return None
        raise
    return mod if hasattr(mod, "generate") else None


def generate(config: AccelConfig, out_dir: str | Path, **options) -> dict[str, Any]:
    """Write the accelerator Verilog + manifest (when the RTL generator is installed) and the C
    header, register map JSON and ISA reference into ``out_dir`` (staged). Returns a summary.

    ``options`` go to :func:`hwgen.accel.rtl.generate` (``hard_mults``, ``adder_arch``,
    ``adder_style``, ``dsp_packing``)."""
    out_dir = Path(out_dir)
    files = isa_files(config)
    rtl = _rtl()
    if rtl is not None:
        exp = rtl.generate(config, out_dir, extra_files=files, **options)
        verilog = exp.verilog.name
    else:
        with staged_output(out_dir) as stage:
            for name, text in files.items():
                (stage / name).write_text(text)
        verilog = None
    return {"slug": config.slug, "out": str(out_dir), "verilog": verilog, "files": sorted(files),
            "macs_per_cycle": config.macs_per_cycle, "buffer_bytes": config.buffer_bytes,
            "resources": resources.estimate(config, **options).to_dict()}


def make_device(config: AccelConfig, backend: str, work: Path | None = None, *,
                verilog: Path | None = None, **kw):
    """A runtime device for ``backend`` (RTL back ends use ``verilog`` or generate the Verilog
    into ``work``)."""
    if backend not in BACKENDS:
        raise ConfigError(f"--backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend == "fsim":
        from ..runtime import FsimDevice
        return FsimDevice(config)
    try:
        from ..runtime.rtl_device import RtlDevice
    except ImportError:
        raise ConfigError(f"backend {backend} needs hwgen.runtime.rtl_device, which is not installed") from None
    if _rtl() is None:
        raise ConfigError(f"backend {backend} needs the RTL generator hwgen.accel.rtl (amaranth)")
    work = Path(work or tempfile.mkdtemp(prefix="hwgen-accel-"))
    if verilog is None:
        verilog = work / "rtl" / generate(config, work / "rtl")["verilog"]
    return RtlDevice(verilog, backend, work_dir=work / "sim", **kw)


def run_matmul(config: AccelConfig, backend: str, m: int, k: int, n: int, *, shift: int = 0,
               seed: int = 0, work: Path | None = None, verilog: Path | None = None) -> dict[str, Any]:
    """Random int matmul on ``backend``, checked against numpy; returns the figures."""
    import numpy as np
    from ..runtime import matmul, reference
    for name, v in (("m", m), ("k", k), ("n", n)):
        if not isinstance(v, int) or v < 1:
            raise ConfigError(f"--{name} must be a positive integer, not {v}")
    _check_seed(seed)
    need = (m * k * config.input_width + k * n * config.weight_width + m * n * config.output_width) // 8
    with tempfile.TemporaryDirectory(prefix="hwgen-accel-") as tmp:
        t0 = time.monotonic()
        dev = make_device(config, backend, Path(work) if work is not None else Path(tmp), verilog=verilog)
        t1 = time.monotonic()
        try:
            _check_dram(dev, need, f"a {m}x{k}x{n} matmul", "operands and result")
            rng = np.random.default_rng(seed)
            lo_a, hi_a = -(1 << (config.input_width - 1)), 1 << (config.input_width - 1)
            lo_b, hi_b = -(1 << (config.weight_width - 1)), 1 << (config.weight_width - 1)
            a = rng.integers(lo_a, hi_a, (m, k))
            b = rng.integers(lo_b, hi_b, (k, n))
            r = matmul(dev, a, b, shift=shift)
        finally:
            dev.close()
        t2 = time.monotonic()
    mismatches = int((r.out != reference(config, a, b, shift)).sum())
    c = r.result.counters
    return {"backend": backend, "preset_slug": config.slug, "m": m, "k": k, "n": n, "shift": shift,
            "cycles": c["cycles"], "cycles_exact": r.result.exact_cycles,
            "utilization": round(r.utilization, 4), "macs": r.macs, "mismatches": mismatches,
            "insns": r.insns, "tiling": [r.tiling.tm, r.tiling.tn, r.tiling.tk],
            "gemm_uops": c["gemm_uops"], "dram_read_bytes": c["dram_read_bytes"],
            "dram_write_bytes": c["dram_write_bytes"],
            "busy": {s: c[f"{s}_busy"] for s in ("load", "compute", "store")},
            "stall": {s: c[f"{s}_stall"] for s in ("load", "compute", "store")},
            "setup_s": round(t1 - t0, 3), "run_s": round(t2 - t1, 3)}


def _check_seed(seed) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"--seed must be a non-negative integer, not {seed}")


def _check_dram(dev, need: int, what: str, parts: str) -> None:
    """Refuse a problem whose operands cannot fit the device's DRAM window, before numpy is asked
    for them (a huge size would otherwise end in numpy's out-of-memory traceback)."""
    if need > dev.size:
        raise ConfigError(f"{what} needs at least {need} bytes of DRAM for its {parts}; the "
                          f"{dev.name} device's window holds {dev.size}")


def _padding(text: str):
    if text in ("none", "same"):
        return text
    try:
        pads = tuple(int(v) for v in text.split(","))
    except ValueError:
        pads = ()
    if len(pads) != 4 or min(pads) < 0:
        raise ConfigError(f"--padding must be none, same or top,bottom,left,right, not {text!r}")
    return pads


def run_conv(config: AccelConfig, backend: str, h: int, w: int, c: int, k: int, oc: int, *,
             stride: int = 1, padding="same", shift: int = 0, seed: int = 0,
             work: Path | None = None, verilog: Path | None = None) -> dict[str, Any]:
    """Random int 2-D convolution on ``backend``, checked against ``hwgen.nn.ops.conv2d``."""
    import numpy as np
    from ..runtime.conv import conv2d, conv_reference
    for name, v in (("h", h), ("w", w), ("c", c), ("k", k), ("oc", oc)):
        if not isinstance(v, int) or v < 1:
            raise ConfigError(f"--{name} must be a positive integer, not {v}")
    _check_seed(seed)
    need = (h * w * c * config.input_width + k * k * c * oc * config.weight_width) // 8
    with tempfile.TemporaryDirectory(prefix="hwgen-accel-") as tmp:
        dev = make_device(config, backend, Path(work) if work is not None else Path(tmp), verilog=verilog)
        t1 = time.monotonic()
        try:
            _check_dram(dev, need, f"a {h}x{w}x{c} {k}x{k} convolution to {oc} channels", "input and weights")
            rng = np.random.default_rng(seed)
            x = rng.integers(-(1 << (config.input_width - 1)), 1 << (config.input_width - 1), (h, w, c))
            wt = rng.integers(-(1 << (config.weight_width - 1)), 1 << (config.weight_width - 1), (k, k, c, oc))
            r = conv2d(dev, x, wt, stride=stride, padding=padding, shift=shift)
        finally:
            dev.close()
        t2 = time.monotonic()
    want = conv_reference(config, x, wt, stride=stride, padding=padding, shift=shift)
    c_ = r.result.counters
    return {"backend": backend, "preset_slug": config.slug, "input": [h, w, c], "kernel": k,
            "out_channels": oc, "stride": stride, "padding": padding, "shift": shift,
            "output": list(r.out.shape), "cycles": c_["cycles"], "cycles_exact": r.result.exact_cycles,
            "utilization": round(r.utilization, 4), "macs": r.macs,
            "mismatches": int((r.out != want).sum()), "insns": r.insns, "tile_rows": r.tile_rows,
            "run_s": round(t2 - t1, 3)}


def matmul_table(results: list[dict[str, Any]]) -> str:
    rows = [[r["backend"], f"{r['m']}x{r['k']}x{r['n']}", r["cycles"] if r["cycles_exact"] else f"~{r['cycles']}",
             f"{100 * r['utilization']:.1f}%", r["busy"]["load"], r["busy"]["compute"], r["busy"]["store"],
             r["mismatches"], f"{r['run_s']:.2f}"] for r in results]
    return table(rows, ["backend", "MxKxN", "cycles", "GEMM util", "load busy", "compute busy",
                        "store busy", "mismatches", "run s"])


# ------------------------------------------------------------------ CLI handlers
def _generate(args: argparse.Namespace) -> int:
    cfg = resolve_config(args, AccelConfig, PRESETS)
    s = generate(cfg, args.out, hard_mults=args.hard_mults, adder_arch=args.adder_arch,
                 adder_style=args.adder_style)

    def render(s):
        lines = [f"accelerator {s['slug']} ({s['macs_per_cycle']} MACs/cycle) -> {s['out']}"]
        if s["verilog"] is None:
            lines.append("RTL generator not available: wrote the ISA files only")
        rows = [[name, ""] for name in ([s["verilog"], "manifest.json"] if s["verilog"] else []) + s["files"]]
        for r in rows:
            r[1] = {"hwgen_accel.h": "C header (fields, registers, sizes)",
                    "regmap.json": "register map and instruction formats",
                    "ISA.md": "ISA reference", "manifest.json": "config, ports, tool versions"}.get(r[0], "Verilog")
        lines.append(table(rows, ["file", "contents"]))
        lines.append("buffers: " + ", ".join(f"{k} {v // 1024} KiB" if v >= 1024 else f"{k} {v} B"
                                             for k, v in s["buffer_bytes"].items()))
        r = s["resources"]
        lines.append(f"resources (model of Yosys synth_xilinx): {r['bram36']:g} BRAM36, {r['dsps']} DSP, "
                     f"{r['luts']} LUTs of logic (+-{100 * r['lut_tolerance']:g}%) and {r['lutram_luts']} as memory")
        return "\n".join(lines)
    emit(s, args, render)
    return 0


def _staged_run(args: argparse.Namespace, run) -> dict[str, Any]:
    """``run(work)`` with ``work`` the staging folder of ``--out`` (RTL, simulator files and
    ``result.json`` land in ``--out`` only when the run finished) or None without ``--out``."""
    if not args.out:
        return run(None)
    with staged_output(args.out) as stage:
        r = run(stage)
        (stage / "result.json").write_text(json.dumps(r, indent=2) + "\n")
    return r


def _matmul(args: argparse.Namespace) -> int:
    cfg = resolve_config(args, AccelConfig, PRESETS)
    r = _staged_run(args, lambda work: run_matmul(cfg, args.backend, args.m, args.k, args.n,
                                                  shift=args.shift, seed=args.seed, work=work))
    emit(r, args, lambda r: matmul_table([r]) + ("" if r["cycles_exact"] else
                                                 "\n(~: the functional simulator's cycle estimate)"))
    return 0 if r["mismatches"] == 0 else 1


def _conv(args: argparse.Namespace) -> int:
    cfg = resolve_config(args, AccelConfig, PRESETS)
    padding = _padding(args.padding)
    r = _staged_run(args, lambda work: run_conv(cfg, args.backend, args.h, args.w, args.c, args.k, args.oc,
                                                stride=args.stride, padding=padding, shift=args.shift,
                                                seed=args.seed, work=work))

    def render(r):
        cyc = r["cycles"] if r["cycles_exact"] else f"~{r['cycles']}"
        layer = (f"{'x'.join(map(str, r['input']))} {r['kernel']}x{r['kernel']}/{r['stride']} -> "
                 f"{'x'.join(map(str, r['output']))}")
        return table([[r["backend"], layer, cyc, f"{100 * r['utilization']:.1f}%", r["tile_rows"],
                       r["mismatches"], f"{r['run_s']:.2f}"]],
                     ["backend", "layer", "cycles", "GEMM util", "rows/tile", "mismatches", "run s"])
    emit(r, args, render)
    return 0 if r["mismatches"] == 0 else 1


def _project(args: argparse.Namespace) -> int:
    from ..fpga.accel_project import accel_project
    cfg = resolve_config(args, AccelConfig, PRESETS)
    s = accel_project(cfg, args.board, args.out, fclk_mhz=args.fclk_mhz, hard_mults=args.hard_mults)

    def render(s):
        what = {"build.tcl": "Vivado block design, wrapper, synthesis, implementation, bitstream",
                "Makefile": "make bitstream (vivado -mode batch -source build.tcl)",
                "README.md": "what is needed, what was checked and what was not",
                "rtl/manifest.json": "config, ports, tool versions"}
        rows = []
        for f in s["files"]:
            if f.endswith("_bd.v"):
                rows.append([f, "Vivado wrapper (aclk, aresetn, irq, m_axi, s_axi_control)"])
            elif f.endswith(".v"):
                rows.append([f, "accelerator Verilog"])
            elif f.startswith("overlay/"):
                rows.append([f, "PYNQ overlay package (device())"])
            else:
                rows.append([f, what.get(f, "")])
        amap = ", ".join(f"{a['segment'].split('/')[-1]} at {a['offset']:#010x}+{a['range']:#x}"
                         for a in s["address_map"] if a.get("offset") is not None)
        return "\n".join([
            f"accelerator {s['slug']} on {s['board']} ({s['part']}), fabric clock {s['fclk_mhz']:g} MHz "
            f"-> {s['out']}", table(rows, ["file", "contents"]),
            f"build.tcl passes hwgen's model of Vivado (Vivado itself was not run): "
            f"{len(s['cells'])} cells; {amap}",
            f"next: make -C {s['out']} bitstream (needs Vivado), then copy {s['overlay']}/ to the board"])
    emit(s, args, render)
    return 0


def _compile(args: argparse.Namespace) -> int:
    from ..compiler.frontend import compile_to, describe_output, quantized
    cfg = resolve_config(args, AccelConfig, PRESETS)
    _check_seed(args.seed)
    qnet = quantized(cfg, model=args.model, weights=args.weights, calibration=args.calibration,
                     quant=args.quant, seed=args.seed)
    s = compile_to(qnet, cfg, args.out, keep_maps=args.keep_maps)

    def render(s):
        rows = [[g["name"], g["kind"], "x".join(map(str, g["output"])), g["tiling"], g["insns"],
                 g["macs"], g["est_cycles"]] for g in s["segments"]]
        lines = [f"{s['network']} compiled for {s['slug']} -> {s['out']}",
                 table(rows, ["job", "kind", "output", "groups x planes / chunk / tile", "insns", "MACs",
                              "est. cycles"]),
                 f"{s['insns']} instructions, arena {s['arena_bytes']} bytes, {s['macs']} MACs, "
                 f"~{s['est_cycles']} cycles (estimate)"]
        if s.get("maps_bytes") is not None:
            lines.append(f"feature maps: {s['maps_bytes']} bytes " + (
                "(every map kept: --keep-maps)" if s["keep_maps"] else
                f"(maps whose lifetimes do not overlap share space; {s['maps_bytes_kept']} with "
                f"--keep-maps)"))
        if s.get("output"):
            lines.append(f"output: {describe_output(s['output'])}")
        if s["refitted_layers"]:
            lines.append(f"multipliers shortened to stay bit-exact on the accumulators: "
                         f"{', '.join(s['refitted_layers'])}; scales changed by at most "
                         f"{100 * s['max_scale_change']:.3g}% (quant.npz holds the network the program computes)")
        lines.append(f"next: hwgen accel infer {s['out']} --backend fsim")
        return "\n".join(lines)
    emit(s, args, render)
    return 0


def _infer(args: argparse.Namespace) -> int:
    import numpy as np
    from ..compiler.frontend import infer, load_compiled
    from ..runtime.rtl_device import DEFAULT_SIZE
    cn, _q = load_compiled(args.compiled)
    _check_seed(args.seed)
    image = None
    if args.image:
        from ..nn.arrays import load_arrays
        data = load_arrays(args.image, "image")
        image = np.asarray(next(iter(data.values()))) if data else None
        if image is None or not np.issubdtype(image.dtype, np.integer):
            raise ConfigError(f"--image must hold one integer array [H, W, C] (the quantized input), "
                              f"not {'nothing' if image is None else image.dtype}")
    kw = {}
    if args.backend in ("icarus", "verilator"):
        need = len(cn.arena) + (1 << 20)
        if need > DEFAULT_SIZE:
            kw["size"] = 1 << (need - 1).bit_length()   # a power of two: one simulation build per size

    if (args.backend == "pynq") != bool(args.bitfile):
        raise ConfigError("--bitfile goes with --backend pynq (on the board), and --backend pynq needs it")

    def run(work):
        with tempfile.TemporaryDirectory(prefix="hwgen-infer-") as tmp:
            if args.backend == "pynq":
                from ..runtime.pynq import PynqDevice
                dev = PynqDevice(cn.config, args.bitfile,
                                 window_bytes=-(-(len(cn.arena) + (1 << 20)) // (1 << 20)) << 20)
            else:
                dev = make_device(cn.config, args.backend, Path(work) if work is not None else Path(tmp),
                                  verilog=Path(args.verilog) if args.verilog else None, **kw)
            try:
                return infer(args.compiled, dev, images=args.images, seed=args.seed, image=image,
                             per_layer=args.per_layer)
            finally:
                dev.close()
    r = _staged_run(args, run)

    def render(r):
        rows = [[x["layer"], "x".join(map(str, x.get("shape", []))), x.get("cycles", ""),
                 x["mismatches"] if x.get("compared", True) else "- (space reused)"] for x in r["layers"]]
        cyc = r["cycles"] if r["cycles_exact"] else f"~{r['cycles']}"
        lines = [table(rows, ["layer", "shape", "cycles" if r["per_layer"] else "", "mismatches"]),
                 f"{r['network']} on {r['backend']} ({r['slug']}): {r['images']} image(s), {cyc} cycles per "
                 f"frame{'' if r['per_layer'] else ' (one run)'}, GEMM util {100 * r['utilization']:.1f}%, "
                 f"{r['mismatches']} mismatches against hwgen.nn.model"
                 + ("" if r.get("compared", r.get("maps")) == r.get("maps") else
                    f" on the {r['compared']} of {r['maps']} maps still in the arena after the run "
                    f"(--per-layer checks every map, or compile with --keep-maps)")]
        if not r["cycles_exact"]:
            lines.append("(~: the functional simulator's cycle estimate)")
        for i, f in enumerate(r["frames"]):
            if "top1" in f:
                t, g = f["top1"], f["golden_top1"]
                real = f" = {t['logit_real']:.4g}" if "logit_real" in t else ""
                lines.append(f"image {i}: top-1 class {t['class']} (logit {t['logit']}{real}); golden model: "
                             f"class {g['class']} (logit {g['logit']})")
        return "\n".join(lines)
    emit(r, args, render)
    return 0 if r["mismatches"] == 0 else 1


def register(sub) -> None:
    p = sub.add_parser("accel", help="the GEMM accelerator: generate, run a matmul or a convolution, compile and run a network")
    s = p.add_subparsers(dest="accel_command", metavar="COMMAND")
    s.required = True
    g = s.add_parser("generate", help="Verilog, manifest, C header, register map and ISA reference")
    add_config_flags(g, list(PRESETS), "default")
    g.add_argument("--hard-mults", type=int, default=None, metavar="N",
                   help="at most N GEMM multipliers for DSP blocks, the other products in LUTs "
                        "(FPGAs with fewer multipliers than MACs; default: no limit)")
    g.add_argument("--adder-arch", default="kogge-stone",
                   help="prefix architecture of the accumulator adders (hwgen.adders)")
    g.add_argument("--adder-style", default="fpga",
                   help="fpga (a + b, the carry chain) or asic (explicit prefix logic)")
    add_out(g)
    add_json(g)
    g.set_defaults(func=_generate)
    m = s.add_parser("matmul", help="random int matmul on a back end, checked against numpy")
    add_config_flags(m, list(PRESETS), "default")
    m.add_argument("--backend", default="fsim", choices=BACKENDS, help="fsim, icarus or verilator")
    m.add_argument("--m", type=int, default=64)
    m.add_argument("--k", type=int, default=64)
    m.add_argument("--n", type=int, default=64)
    m.add_argument("--shift", type=int, default=0, help="rounding right shift before saturation")
    m.add_argument("--seed", type=int, default=0)
    add_out(m, required=False)
    add_json(m)
    m.set_defaults(func=_matmul)
    c = s.add_parser("conv", help="random int 2-D convolution on a back end, checked against numpy")
    add_config_flags(c, list(PRESETS), "default")
    c.add_argument("--backend", default="fsim", choices=BACKENDS, help="fsim, icarus or verilator")
    for name, default in (("h", 16), ("w", 16), ("c", 32), ("k", 3), ("oc", 32), ("stride", 1)):
        c.add_argument(f"--{name}", type=int, default=default)
    c.add_argument("--padding", default="same", help="none, same or top,bottom,left,right")
    c.add_argument("--shift", type=int, default=8, help="rounding right shift before saturation")
    c.add_argument("--seed", type=int, default=0)
    add_out(c, required=False)
    add_json(c)
    c.set_defaults(func=_conv)
    cp = s.add_parser("compile", help="compile a network (hwgen.nn) to the accelerator's microcode")
    add_config_flags(cp, list(PRESETS), "default")
    cp.add_argument("--model", help="a built-in network (skynet, skynet-tiny (default), resnet18, "
                                    "resnet-tiny, mobilenetv2, mbv2-det), a network JSON file, or an "
                                    "ONNX model (.onnx, its weights inside)")
    cp.add_argument("--weights", help=".npz of float weights (default: random from the seed; not with .onnx)")
    cp.add_argument("--calibration", help=".npy/.npz of float calibration images [N, H, W, C]")
    cp.add_argument("--quant", help="a quantized network .npz (e.g. quant.npz of hwgen hls generate) "
                                    "instead of --model/--weights")
    cp.add_argument("--seed", type=int, default=0, help="seed of the random weights and calibration")
    cp.add_argument("--keep-maps", action="store_true",
                    help="every feature map in its own arena space (default: maps whose lifetimes "
                         "do not overlap share space; infer then checks the output, or every map "
                         "with --per-layer)")
    add_out(cp)
    add_json(cp)
    cp.set_defaults(func=_compile)
    inf = s.add_parser("infer", help="run a compiled network on a back end, every layer checked "
                                     "against the golden model")
    inf.add_argument("compiled", metavar="DIR", help="folder written by hwgen accel compile")
    inf.add_argument("--backend", default="fsim", choices=(*BACKENDS, "pynq"),
                     help="fsim, icarus, verilator, or pynq (on the board, with --bitfile)")
    inf.add_argument("--bitfile", help="the overlay's .bit (its .hwh beside it) for --backend pynq")
    inf.add_argument("--verilog", help="accelerator Verilog from hwgen accel generate (RTL back ends; "
                                       "default: generated for the compiled config)")
    inf.add_argument("--images", type=int, default=1, help="test images (random and structured)")
    inf.add_argument("--image", help=".npy of one integer input image [H, W, C] instead")
    inf.add_argument("--seed", type=int, default=1, help="seed of the random test images")
    inf.add_argument("--per-layer", action="store_true",
                     help="one run per layer (cycles per layer) instead of one run per frame")
    add_out(inf, required=False)
    add_json(inf)
    inf.set_defaults(func=_infer)
    pr = s.add_parser("project", help="Vivado block-design project and PYNQ overlay package for a board")
    add_config_flags(pr, list(PRESETS), "default")
    pr.add_argument("--board", default="pynq-z2",
                    help="pynq-z2, pynq-z1 or ultra96v2 (hwgen.fpga.boards; default pynq-z2)")
    pr.add_argument("--hard-mults", type=int, default=None, metavar="N",
                    help="at most N GEMM multipliers for DSP blocks, the other products in LUTs "
                         "(the fit check counts both; default: no limit)")
    pr.add_argument("--fclk-mhz", type=float, default=100.0,
                    help="fabric clock in MHz (default 100; at most the board's limit)")
    add_out(pr)
    add_json(pr)
    pr.set_defaults(func=_project)
