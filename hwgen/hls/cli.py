"""``hwgen hls generate``, ``hwgen hls csim`` and ``hwgen hls project``."""
from __future__ import annotations

import argparse
import dataclasses
import sys

from ..cliutil import add_config_flags, add_json, add_out, emit, resolve_config, table
from ..configbase import apply_overrides
from .config import BOARD_NAMES, HlsConfig
from .presets import PRESETS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hls", help="HLS C++ dataflow designs for MobileNet-style detectors")
    hs = p.add_subparsers(dest="hls_command", metavar="COMMAND")
    hs.required = True

    g = hs.add_parser("generate", help="generate a Vivado/Vitis-HLS project (C++, testbench, Tcl, model.json)")
    add_config_flags(g, presets=list(PRESETS))
    g.add_argument("--model", help="a built-in model (skynet, skynet-tiny, mbv2-det, resnet-tiny, ...), a network JSON file "
                                   "or an ONNX model (.onnx, its weights inside)")
    g.add_argument("--board", help=f"target board: {', '.join(BOARD_NAMES)}")
    g.add_argument("--fps", type=float, help="target frame rate")
    g.add_argument("--clock-mhz", type=float, help="clock in MHz")
    g.add_argument("--weights", help=".npz of float weights (default: random from the seed; not with .onnx)")
    g.add_argument("--calibration", help=".npy/.npz of float calibration images [N, H, W, C]")
    g.add_argument("--quant", help="a quantized network .npz used as it is (e.g. quant.npz of hwgen "
                                   "accel compile: both back ends then compute the same integers)")
    add_out(g)
    add_json(g)
    g.set_defaults(func=_generate)

    c = hs.add_parser("csim", help="C-simulate a generated project with g++ and compare every layer")
    c.add_argument("project", metavar="DIR", help="folder written by `hwgen hls generate`")
    c.add_argument("--images", type=int, default=2, help="number of test images (random and structured)")
    c.add_argument("--seed", type=int, default=1, help="seed of the random test images")
    add_json(c)
    c.set_defaults(func=_csim)

    j = hs.add_parser("project", help="a Vivado block design, Makefile and PYNQ overlay package around the HLS IP")
    add_config_flags(j, presets=list(PRESETS))
    j.add_argument("--board", help="board of the Vivado project: " + ", ".join(_fpga_boards())
                   + " (default: the one of the config's HLS board)")
    j.add_argument("--fclk-mhz", type=float, help="fabric clock in MHz (default: the config's clock_mhz, at most the board's limit)")
    add_out(j)
    add_json(j)
    j.set_defaults(func=_project)


def config_from_args(args: argparse.Namespace) -> HlsConfig:
    if args.preset is None and not args.config:
        cfg = HlsConfig()
    else:
        cfg = resolve_config(argparse.Namespace(preset=args.preset, config=args.config, set=[]), HlsConfig, PRESETS)
    flags = {"model": args.model, "board": args.board, "fps": args.fps, "clock_mhz": args.clock_mhz,
             "weights": args.weights, "calibration": args.calibration, "quant": args.quant}
    cfg = dataclasses.replace(cfg, **{k: v for k, v in flags.items() if v is not None})
    return apply_overrides(cfg, args.set)


def _generate(args: argparse.Namespace) -> int:
    from .emit import generate, model_json
    cfg = config_from_args(args)
    design = generate(cfg, args.out)
    emit(model_json(design), args, lambda r: _render_plan(design, args.out))
    return 0


def _render_plan(design, out: str) -> str:
    p = design.plan
    rows, headers = p.table()
    big = max(p.fifo_depths.values())
    return (f"{table(rows, headers)}\n\n{design.net.name} on {p.board.name} at {p.clock_mhz:g} MHz: "
            f"{p.fps:.1f} fps by the cycle model, {p.fps_simulated:.1f} fps in the timed dataflow simulation "
            f"(target {p.target_fps:g}), {p.dsp}/{p.board.dsp} DSP, "
            f"{p.bram18}/{p.board.bram18} BRAM18, deepest FIFO {big} words\n{_render_skips(p)}"
            f"wrote {design.top} into {out}")


def _render_skips(p) -> str:
    """One line on the residual adds' lagging inputs: FIFO words against the derived lag."""
    skips = [s for s in p.skips if s["lag_pixels"] > 0]
    if not skips:
        return ""
    fifo, lag, maps = (sum(s[k] for s in skips) for k in ("fifo_words", "lag_words", "map_words"))
    return (f"{len(skips)} skip FIFOs of residual adds: {fifo} words for a lag of {lag} words between the "
            f"branches (the maps they carry: {maps} words)\n")


def _csim(args: argparse.Namespace) -> int:
    from .csim import run_csim
    r = run_csim(args.project, images=args.images, seed=args.seed)
    if args.json:
        print(__import__("json").dumps(r.to_dict(), indent=2))
    else:
        rows = [[name, n, r.cycles.get(name, "")] for name, n in r.layers.items()]
        print(table(rows, ["stream", "mismatches", "cycles/frame (counted)"]))
        print(f"{r.images} images, compile {r.compile_s:.1f} s, {r.seconds_per_frame:.3f} s per frame")
        print(f"mismatches: {r.mismatches}")
    sys.stdout.flush()
    return 1 if r.mismatches else 0


def _fpga_boards() -> list[str]:
    from ..fpga.boards import BOARDS as FPGA_BOARDS
    return list(FPGA_BOARDS)


def _project(args: argparse.Namespace) -> int:
    from .project import write_project
    cfg = resolve_config(args, HlsConfig, PRESETS) if (args.preset or args.config) else apply_overrides(HlsConfig(), args.set)
    project = write_project(cfg, args.out, board=args.board, fclk_mhz=args.fclk_mhz)
    emit(project.to_dict(), args, lambda r: _render_project(project, args.out))
    return 0


def _render_project(project, out: str) -> str:
    from .emit import ip_vlnv
    from .project import output_kind
    lay, d = project.layout, project.dma
    what = {"head": "record", "classifier": "logits"}.get(output_kind(project.design), "output map")
    rows = [["HLS IP", ip_vlnv(project.top), f"in {lay.in_width} bits, out {lay.out_width} bits + TLAST"],
            ["AXI DMA", "no scatter-gather", f"{d['c_sg_length_width']}-bit length, image {lay.in_bytes} B, "
                                              f"{what} {lay.out_bytes} B"],
            ["PS", project.board.ps_ip, f"{project.board.fclk} {project.fclk_mhz:g} MHz"]]
    return (f"{table(rows, ['block', 'what', 'detail'])}\n\n{project.top} on {project.board.name} "
            f"({project.board.part}); wrote hls/, bd.tcl, Makefile, README.md, overlay/{project.top}/ into {out}\n"
            f"next, on a machine with Vivado: make -C {out} ip bitstream (not run here)")
