"""``RtlDevice``: the generated accelerator Verilog under cocotb (Icarus or Verilator).

The DRAM window lives in the HDL-side AXI4 memory model (``hwgen.sim.accel``): a run writes the
used part of the window to a ``$readmemh`` file, starts one simulator process whose cocotb test
programs the AXI4-Lite registers (cocotbext-axi ``AxiLiteMaster``), waits for ``irq`` without any
Python per clock, reads the registers back and dumps the memory, and then the host reads the dump.
The simulation model is built once per design (cached by the spine's runner).

Never imports amaranth: it takes the path of generated Verilog (with its ``manifest.json``).
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..accel import isa
from ..accel.config import AccelConfig
from ..accel.isa import ErrorCode, TokenQueue
from ..accel.model import RunResult
from ..configbase import config_from_dict
from ..errors import ConfigError, DeviceError
from .device import HostMemoryDevice, diagnose

DEFAULT_BASE = 0x1000_0000
DEFAULT_SIZE = 8 << 20
SIMULATORS = ("icarus", "verilator")
HARNESS = "hwgen.sim.accel.harness"


def load_manifest(verilog: str | Path) -> tuple[AccelConfig, str, dict]:
    """Config, top module name and manifest of generated accelerator Verilog."""
    verilog = Path(verilog)
    if not verilog.is_file():
        raise DeviceError(f"accelerator Verilog {verilog} does not exist (run `hwgen accel generate`)")
    man_path = verilog.parent / "manifest.json"
    if not man_path.is_file():
        raise DeviceError(f"{man_path} does not exist: RtlDevice needs the manifest written beside "
                          f"the Verilog by `hwgen accel generate`")
    man = json.loads(man_path.read_text())
    if man.get("kind") != "accel":
        raise DeviceError(f"{verilog} is a {man.get('kind')!r} design, not an accelerator")
    return config_from_dict(AccelConfig, man["config"]), man["top"], man


def tb_build(config: AccelConfig, top: str, words: int) -> dict[str, Any]:
    """Runner arguments for the testbench top around accelerator ``top``."""
    from ..sim.accel import TB_SOURCES, TB_TOP
    return {"toplevel": TB_TOP, "tb_sources": list(TB_SOURCES),
            "build_args": [f"-DHWGEN_ACCEL_TOP={top}"],
            "parameters": {"DATA_W": config.axi_data_width, "ADDR_W": config.dram_addr_width,
                           "AXIL_ADDR_W": (isa.REGMAP_BYTES - 1).bit_length(), "WORDS": words}}


def run_jobs(verilog: str | Path, simulator: str, jobs: Sequence[dict], work: str | Path, *,
             mem_base: int, words: int) -> list[dict]:
    """Run harness jobs (see ``hwgen.sim.accel.harness``) in one simulator process."""
    from ..sim import runner
    config, top, _man = load_manifest(verilog)
    b = tb_build(config, top, words)
    work = Path(work).resolve()   # the simulator runs in another folder
    work.mkdir(parents=True, exist_ok=True)
    jpath, rpath = work / "jobs.json", work / "results.json"
    jpath.write_text(json.dumps(list(jobs)))
    if rpath.exists():
        rpath.unlink()
    res = runner.run([Path(verilog), *b["tb_sources"]], b["toplevel"], HARNESS, simulator,
                     test_dir=work, params={"jobs": str(jpath), "results": str(rpath),
                                            "mem_base": mem_base,
                                            "mem_bytes": words * config.axi_bytes},
                     build_args=b["build_args"], parameters=b["parameters"], check=False)
    if not rpath.exists():
        tail = (work / "sim.log").read_text()[-3000:] if (work / "sim.log").exists() else ""
        raise DeviceError(f"{simulator} simulation of {top} produced no results "
                          f"({res.failed} of {res.tests} tests failed); log tail:\n{tail}")
    return json.loads(rpath.read_text())


def result_from(r: dict) -> RunResult:
    """A :class:`RunResult` from one harness result."""
    try:
        error = ErrorCode(r["err_code"])
    except ValueError:
        raise DeviceError(f"ERR_CODE {r['err_code']} is not a known error code") from None
    bits = {b.name: b.get(r["status"]) for b in isa.STATUS_BITS}
    waiting: dict[str, Any] = {}
    for st in ("load", "compute", "store"):
        waiting[st] = ("wait for a token" if bits[f"{st}_wait"]
                       else ("queued" if bits[f"{st}_active"] else None))
    if bits["fetch_blocked"]:
        waiting["fetch"] = "a stage"
    tokens = {q.name.lower(): (r["tokens"] >> (8 * int(q))) & 0xFF for q in TokenQueue}
    return RunResult(error, r["err_insn"], dict(r["counters"]), tokens, waiting, {},
                     exact_cycles=True)


class RtlDevice(HostMemoryDevice):
    """Generated accelerator Verilog, simulated with cocotb, behind the device interface.

    Parameters
    ----------
    verilog : path
        ``hwgen_accel_<slug>.v`` with its ``manifest.json`` beside it.
    simulator : ``"icarus"`` or ``"verilator"``
    base, size : int
        The DRAM window (default 8 MiB at 0x10000000, or what fits below 2**dram_addr_width);
        the HDL memory model holds exactly it (its size is part of the simulation build).
    backpressure : int
        0..15: the memory model withholds each AXI handshake with probability backpressure/16.
    seed : int
        Seed of the memory model's stall pattern.
    timeout_cycles : int
        Watchdog in clock cycles (a run that does not finish is reported, naming stalled stages).
    work_dir : path, optional
        Where hex images, job files and simulator logs go (default: a temporary folder).
    """

    def __init__(self, verilog: str | Path, simulator: str = "verilator", *, base: int | None = None,
                 size: int | None = None, backpressure: int = 0, seed: int = 1,
                 timeout_cycles: int = 20_000_000, work_dir: str | Path | None = None):
        if simulator not in SIMULATORS:
            raise ConfigError(f"RtlDevice simulator must be one of {', '.join(SIMULATORS)}, "
                              f"not {simulator!r}")
        if not isinstance(backpressure, int) or not 0 <= backpressure <= 15:
            raise ConfigError(f"RtlDevice backpressure must be an integer in 0..15, not {backpressure!r}")
        config, top, _ = load_manifest(verilog)
        top_addr = 1 << config.dram_addr_width
        if base is None:
            want = DEFAULT_SIZE if size is None else size
            base = DEFAULT_BASE if DEFAULT_BASE + want <= top_addr else 0x1000
        if size is None:
            size = min(DEFAULT_SIZE, top_addr - base)
        if size % config.axi_bytes:
            raise ConfigError(f"RtlDevice size must be a multiple of {config.axi_bytes} bytes, not {size}")
        super().__init__(config, base, size)
        self.name = simulator
        self.verilog = Path(verilog).resolve()
        self.top = top
        self.simulator = simulator
        self.backpressure = backpressure
        self.seed = seed
        self.timeout_cycles = timeout_cycles
        self._tmp = None
        if work_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="hwgen-rtl-")
            work_dir = self._tmp.name
        self.work = Path(work_dir).resolve()   # job files name absolute paths
        self.work.mkdir(parents=True, exist_ok=True)
        self.runs = 0
        self.last_raw: dict | None = None

    @property
    def words(self) -> int:
        return self.size // self.config.axi_bytes

    def _used_bytes(self) -> int:
        """Bytes from the window base up to the end of the highest allocated buffer."""
        hi = self.size
        if self._free and self._free[-1][0] + self._free[-1][1] == self.limit:
            hi = self._free[-1][0] - self.base
        B = self.config.axi_bytes
        return max(B, -(-hi // B) * B)

    def job(self, tag: str, insn_offset: int, insn_count: int) -> dict:
        """The harness job for one run of the current image (files under the work folder)."""
        from ..sim.accel.memimage import write_hex
        used = self._used_bytes()
        B = self.config.axi_bytes
        in_hex = self.work / f"{tag}_in.hex"
        write_hex(in_hex, self.mem[:used], B)
        return {"in_hex": str(in_hex), "out_hex": str(self.work / f"{tag}_out.hex"),
                "dump_lo": 0, "dump_hi": used // B - 1,
                "regs": {"DRAM_BASE": self.base, "DRAM_LIMIT": self.limit & 0xFFFF_FFFF,
                         "INSN_ADDR": insn_offset, "INSN_COUNT": insn_count},
                "bp_level": self.backpressure, "bp_seed": self.seed,
                "chk_lo": self.base, "chk_hi": self.limit, "timeout_cycles": self.timeout_cycles}

    def _execute(self, insn_offset: int, insn_count: int, timeout_s: float | None) -> RunResult:
        from ..sim.accel.memimage import read_hex
        tag = f"run{self.runs}"
        self.runs += 1
        job = self.job(tag, insn_offset, insn_count)
        raw = run_jobs(self.verilog, self.simulator, [job], self.work / tag, mem_base=self.base,
                       words=self.words)[0]
        self.last_raw = raw
        if raw["timeout"]:
            raise DeviceError(f"{self.simulator}: watchdog: no DONE after {self.timeout_cycles} cycles; "
                              + diagnose(raw["status"], raw["tokens"],
                                         {s: raw["counters"][f"{s}_insns"] for s in ("load", "compute", "store")}))
        if raw["violation"]:
            raise DeviceError(f"{self.simulator}: the accelerator issued an AXI access outside the "
                              f"DRAM window {self.base:#x}..{self.limit:#x}")
        B = self.config.axi_bytes
        used = (job["dump_hi"] + 1) * B
        self.mem[:used] = np.frombuffer(read_hex(job["out_hex"], B, used // B), dtype=np.uint8)
        return result_from(raw)

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
