"""Line buffer and depthwise engine figures as one JSON object (the issue-5 acceptance bench).

For K=3, W=320, C=32, 8-bit, same padding (the ``default`` presets):

- ``linebuf.memory_bits``: memory bits in the design after Yosys infers memories (``memory
  -nomap; stat``), to compare with ``(K-1) x W x C x 8``;
- ``*.xilinx``: ``synth_xilinx`` LUT/FF/CARRY4/DSP/RAMB counts of the bare design;
- ``*.ecp5``: nextpnr-ecp5 fmax (LFE5U-85F) of the design inside an I/O harness (serial-in shift
  registers feed the wide ports, a registered XOR tree folds the outputs to 8 pins), since the
  bare ports (2,600 pins for the line buffer) fit no package;
- ``*.cycles``: Verilator simulation at full rate with no backpressure: cycles between
  back-to-back frames (``H x W`` means no bubble) and the first-pixel-in to last-output-out
  latency of a single frame, next to the cycle model.

    .venv/bin/python bench/linebuf.py [--height 16] [--skip-pnr]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from amaranth import Cat, Module, Signal  # noqa: E402
from amaranth.lib import wiring  # noqa: E402
from amaranth.lib.wiring import In, Out  # noqa: E402

from hwgen.export import verilog_text  # noqa: E402
from hwgen.linebuf.config import DepthwiseConfig, LineBufferConfig  # noqa: E402
from hwgen.linebuf.model import (DEPTHWISE_LATENCY, LINEBUF_LATENCY, emission_steps,  # noqa: E402
                                 frame_cycles)
from hwgen.linebuf.rtl import DepthwiseConv, LineBuffer, generate  # noqa: E402
from hwgen.measure import ecp5_fmax, run_yosys, synth_xilinx  # noqa: E402
from hwgen.sim import runner  # noqa: E402


class Harness(wiring.Component):
    """Few pins around a wide streaming design: every input comes from a shift register loaded
    one bit per cycle, every output is registered and folded by a registered XOR tree."""

    def __init__(self, inner):
        self.inner = inner
        super().__init__({"sin": In(1), "ctl": In(4), "out": Out(8), "flags": Out(5)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = d = self.inner
        ins = [d.s_axis.tdata, d.width, d.height]
        if hasattr(d, "param_wr_data"):
            ins += [d.param_wr_data, d.param_wr_addr]
        total = sum(len(x) for x in ins)
        sr = Signal(total)
        m.d.sync += sr.eq(Cat(self.sin, sr[:-1]))
        o = 0
        for x in ins:
            m.d.comb += x.eq(sr[o:o + len(x)])
            o += len(x)
        ctl = Signal(4)
        m.d.sync += ctl.eq(self.ctl)
        m.d.comb += [d.s_axis.tvalid.eq(ctl[0]), d.s_axis.tlast.eq(ctl[1]), d.m_axis.tready.eq(ctl[2])]
        if hasattr(d, "param_wr_en"):
            m.d.comb += d.param_wr_en.eq(ctl[3])
        level = Signal(len(d.m_axis.tdata))
        m.d.sync += level.eq(d.m_axis.tdata)
        while len(level) > 8:
            n = (len(level) + 3) // 4
            nxt = Signal(n)
            m.d.sync += nxt.eq(Cat(*[level[4 * i:4 * i + 4].xor() for i in range(n)]))
            level = nxt
        m.d.sync += [self.out.eq(level),
                     self.flags.eq(Cat(d.m_axis.tvalid, d.s_axis.tready, d.err_short_row,
                                       d.err_long_row, d.m_axis.tlast))]
        return m


def memory_bits(verilog: Path, top: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        sj = Path(tmp) / "stat.json"
        run_yosys(f"read_verilog -sv {verilog}\nhierarchy -top {top}\nproc\nflatten\nopt -fast\n"
                  f"memory -nomap\nmemory_unpack\nopt -fast\ntee -q -o {sj} stat -json\n")
        st = json.loads(sj.read_text())
    mod = st.get("design") or next(iter(st["modules"].values()))
    return {"memory_bits": int(mod.get("num_memory_bits", 0)), "memories": int(mod.get("num_memories", 0))}


def cycles(verilog: Path, top: str, cfg, height: int, work: Path) -> dict:
    w = cfg.max_width
    n_out = emission_steps(height, w, cfg.kernel, cfg.stride, cfg.padding).size
    groups = cfg.groups if isinstance(cfg, DepthwiseConfig) else 1
    out = work / "cycles.json"
    t0 = time.monotonic()
    runner.run([verilog], top, "hwgen.linebuf.tb_cycles", "verilator", test_dir=work / "sim",
               testcase="measure_cycles",
               params={"height": height, "width": w, "frames": 3, "outs_per_frame": n_out,
                       "cycles_per_pixel": groups, "out": str(out)})
    r = json.loads(out.read_text())
    model = frame_cycles(height, w, cfg.kernel, cfg.stride, cfg.padding)
    res = {"height": height, "width": w, "cycles_per_pixel": groups,
           "back_to_back_period": r["periods"], "groups_x_h_x_w": height * w * groups,
           "single_frame_latency": r["single_latency_last"],
           "latency_minus_groups_x_h_x_w": r["single_latency_last"] - height * w * groups,
           "model_tail_steps": model["tail"], "sim_seconds": round(time.monotonic() - t0, 1)}
    if groups == 1:
        lat = LINEBUF_LATENCY + (DEPTHWISE_LATENCY if isinstance(cfg, DepthwiseConfig) else 0)
        res["model_latency"] = frame_cycles(height, w, cfg.kernel, cfg.stride, cfg.padding,
                                            latency=lat)["latency_last"]
    return res


def measure(name: str, cfg, comp_cls, args, work: Path) -> dict:
    res: dict = {"config": cfg.slug}
    exp = generate(cfg, work / name)
    top = exp.verilog.stem
    t0 = time.monotonic()
    res.update(memory_bits(exp.verilog, top))
    res["expected_memory_bits"] = cfg.memory_bits
    res["xilinx"] = synth_xilinx([exp.verilog], top)
    res["xilinx_seconds"] = round(time.monotonic() - t0, 1)
    if not args.skip_pnr:
        hv = work / f"{name}_harness.v"
        hv.write_text(verilog_text(Harness(comp_cls(cfg)), f"{name}_harness"))
        t0 = time.monotonic()
        # nextpnr fails when the target is missed; a low target still reports the achieved fmax.
        res["ecp5"] = ecp5_fmax([hv], f"{name}_harness", device="85k", package="CABGA381",
                                target_mhz=25.0)
        res["ecp5_seconds"] = round(time.monotonic() - t0, 1)
    res["cycles"] = cycles(exp.verilog, top, cfg, args.height, work / f"{name}_cycles")
    return res


def main() -> int:
    # hwgen.measure works in tempfile's folder, and YoWASP Yosys cannot open files under /tmp on
    # these machines ("Can't open log file"); a folder under the user's cache works.
    tmp_root = Path.home() / ".cache" / "hwgen" / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    tempfile.tempdir = str(tmp_root)
    ap = argparse.ArgumentParser()
    ap.add_argument("--height", type=int, default=16, help="run-time frame height for the cycle runs")
    ap.add_argument("--skip-pnr", action="store_true", help="leave out nextpnr-ecp5")
    ap.add_argument("--only", choices=("linebuf", "dwconv"), help="measure one design only")
    args = ap.parse_args()
    lb = LineBufferConfig(kernel=3, stride=1, padding="same", max_width=320, max_height=320,
                          channels=32, data_width=8)
    dw = DepthwiseConfig(kernel=3, stride=1, padding="same", max_width=320, max_height=320,
                         channels=32, data_width=8, channels_per_cycle=8)
    with tempfile.TemporaryDirectory(prefix="hwgen-bench-linebuf-") as tmp:
        work = Path(tmp)
        out = {}
        if args.only in (None, "linebuf"):
            out["linebuf"] = measure("linebuf", lb, LineBuffer, args, work)
            out["memory_bits_exact"] = out["linebuf"]["memory_bits"] == lb.memory_bits
        if args.only in (None, "dwconv"):
            out["dwconv"] = measure("dwconv", dw, DepthwiseConv, args, work)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
