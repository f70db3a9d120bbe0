"""``make demo`` step for HLS: generate skynet-tiny, C-simulate it, print the mismatch count and
the resource table (and the full skynet and mbv2-det plans for Ultra96)."""
from __future__ import annotations

from pathlib import Path

from ..cliutil import table
from ..errors import HwgenError
from ..nn.models import build_model
from .csim import run_csim
from .emit import generate
from .dataflow import verified_plan
from .presets import PRESETS


def run(out: Path, quick: bool = False) -> None:
    cfg = PRESETS["skynet-tiny"]
    design = generate(cfg, out / cfg.slug)
    rows, headers = design.plan.table()
    print(table(rows, headers))
    r = run_csim(out / cfg.slug, images=2 if quick else 6)
    print(f"skynet-tiny C simulation: {r.images} images, {r.seconds_per_frame * 1e3:.1f} ms per frame, "
          f"mismatches: {r.mismatches}")
    full = PRESETS["skynet-ultra96"]
    p = verified_plan(build_model(full.model), full)
    print(f"skynet on {p.board.name} at {p.clock_mhz:g} MHz: {p.fps:.1f} fps (cycle model), "
          f"{p.fps_simulated:.1f} fps (timed dataflow simulation), {p.dsp}/{p.board.dsp} DSP, "
          f"{p.bram18}/{p.board.bram18} BRAM18, deepest FIFO {max(p.fifo_depths.values())} words "
          f"(largest map {max(l.map_words for l in p.layers)} words)")
    det = PRESETS["mbv2det-ultra96"]
    p = verified_plan(build_model(det.model), det)
    skips = [s for s in p.skips if s["lag_pixels"] > 0]
    print(f"mbv2-det (MobileNetV2-style, {len(skips)} residual adds) on {p.board.name} at {p.clock_mhz:g} MHz: "
          f"{p.fps:.1f} fps (cycle model), {p.fps_simulated:.1f} fps (timed dataflow simulation), "
          f"{p.dsp}/{p.board.dsp} DSP, {p.bram18}/{p.board.bram18} BRAM18; skip FIFOs "
          f"{sum(s['fifo_words'] for s in skips)} words for a lag of {sum(s['lag_words'] for s in skips)} "
          f"(their maps: {sum(s['map_words'] for s in skips)})")
    from .project import write_project
    pr = write_project(cfg, out / "pynq-z2-project", board="pynq-z2")
    print(f"Vivado project and PYNQ overlay for {pr.top} on {pr.board.name} in "
          f"{out / 'pynq-z2-project'}: bd.tcl (AXI DMA, {pr.layout.in_width}-bit stream in, "
          f"{pr.layout.out_width}-bit out) passes hwgen's model of Vivado (Vitis HLS and Vivado "
          f"not run)")
    if r.mismatches:
        raise HwgenError(f"HLS C simulation of {cfg.slug} had {r.mismatches} mismatches")
