"""Differential testing: random valid programs (``hwgen.accel.fuzz``) on the functional simulator
and on the RTL (one simulator process for all of them), with random AXI backpressure per program;
final DRAM window, error code, ERR_INSN and exact counters must be identical.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

#: Physical base of every fuzz window and the memory model's size.
FUZZ_BASE = 0x0010_0000
FUZZ_MEM_BYTES = 1 << 20


class _Scrub:
    """A valid program that overwrites every on-chip buffer entry from DRAM (both sides), run
    after a case whose final buffer state may depend on timing, so later cases start equal."""

    def __init__(self, config, seed: int):
        from hwgen.accel import isa
        from hwgen.accel.isa import Finish, Load, MemType
        c = config
        rng = np.random.default_rng(seed)
        insns, off = [], 4096
        chunks = []
        for mt, name in ((MemType.UOP, "uop"), (MemType.INP, "inp"), (MemType.WGT, "wgt"),
                         (MemType.ACC, "acc")):
            eb, depth = c.element_bytes[name], c.depths[name]
            data = rng.integers(0, 256, eb * depth, dtype=np.uint8)
            if mt == MemType.UOP:     # keep micro-op indices small and valid-looking
                data = data.reshape(depth, 8)
                data[:, 1::2] = 0
                data = data.reshape(-1)
            x = min(depth, 16)
            insns.append(Load(mem_type=mt, sram_base=0, dram_base=off // eb, y_size=depth // x,
                              x_size=x, x_stride=x))
            chunks.append((off, data))
            off += -(-data.size // 4096) * 4096
        insns.append(Finish())
        self.image = np.zeros(off, dtype=np.uint8)
        code = isa.to_bytes(insns)
        self.image[:len(code)] = np.frombuffer(code, np.uint8)
        for o, d in chunks:
            self.image[o:o + d.size] = d
        self.insn_count = len(insns)


def run_differential(verilog: str | Path, simulator: str, seeds: Sequence[int], work: str | Path, *,
                     fault_every: int = 4, max_backpressure: int = 12) -> dict:
    """Run ``fuzz.random_case(config, seed)`` for each seed on both sides and compare.

    Every ``fault_every``-th case injects one of ``fuzz.FAULTS`` (0: none). Cases share one
    :class:`~hwgen.accel.model.Machine` and one RTL instance in the same order (buffers persist).

    Returns ``{"programs", "mismatches", "failures": [...], "faults": {...}, "seconds", ...}``.
    """
    from hwgen.accel import fuzz
    from hwgen.accel.model import Machine
    from hwgen.runtime.rtl_device import load_manifest, run_jobs
    from .memimage import read_hex, write_hex

    config, _top, _ = load_manifest(verilog)
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    B = config.axi_bytes
    machine = Machine(config)
    cases, jobs = [], []
    faults: dict[str, int] = {}
    t0 = time.perf_counter()
    scrub = _Scrub(config, 12345)
    for k, seed in enumerate(seeds):
        fault = None
        if fault_every and k % fault_every == fault_every - 1:
            fault = fuzz.FAULTS[(k // fault_every) % len(fuzz.FAULTS)]
        case = fuzz.random_case(config, seed, fault=fault, base=FUZZ_BASE, machine=machine)
        if len(case.image) > FUZZ_MEM_BYTES:
            raise ValueError(f"fuzz case {seed} needs {len(case.image)} bytes, more than the "
                             f"{FUZZ_MEM_BYTES}-byte memory model")
        name = "ok" if fault is None else fault.name
        faults[name] = faults.get(name, 0) + 1
        rng = np.random.default_rng(seed + 7_000_003)
        in_hex = work / f"case{k}_in.hex"
        write_hex(in_hex, case.image, B)
        jobs.append({"in_hex": str(in_hex), "out_hex": str(work / f"case{k}_out.hex"),
                     "dump_lo": 0, "dump_hi": len(case.image) // B - 1, "regs": case.regs(),
                     "bp_level": int(rng.integers(0, max_backpressure + 1)),
                     "bp_seed": int(rng.integers(1, 1 << 31)),
                     "chk_lo": case.base, "chk_hi": case.limit, "timeout_cycles": 2_000_000})
        cases.append(case)
        if fault is not None and fault.name in ("INDEX_RANGE", "DEADLOCK"):
            # resynchronize the buffers (and check the scrub run itself)
            img = scrub.image.copy()
            res = machine.run(img, FUZZ_BASE, insn_addr=0, insn_count=scrub.insn_count,
                              dram_base=FUZZ_BASE, dram_limit=FUZZ_BASE + len(img))
            sc = fuzz.FuzzCase(config, -1, scrub.image, FUZZ_BASE, 0, scrub.insn_count, [], res, img)
            s_hex = work / "scrub_in.hex"
            if not s_hex.exists():
                write_hex(s_hex, scrub.image, B)
            jobs.append({"in_hex": str(s_hex), "out_hex": str(work / f"case{k}_scrub_out.hex"),
                         "dump_lo": 0, "dump_hi": len(img) // B - 1, "regs": sc.regs(),
                         "bp_level": 0, "bp_seed": 1, "chk_lo": FUZZ_BASE,
                         "chk_hi": FUZZ_BASE + len(img), "timeout_cycles": 2_000_000})
            cases.append(sc)
    t_gen = time.perf_counter() - t0
    results = run_jobs(verilog, simulator, jobs, work / "sim", mem_base=FUZZ_BASE,
                       words=FUZZ_MEM_BYTES // B)
    t_sim = time.perf_counter() - t0 - t_gen
    failures = []
    cycles = 0
    for k, (case, job) in enumerate(zip(cases, jobs)):
        if k >= len(results):
            failures.append({"seed": case.seed, "diffs": ["not run (an earlier case timed out)"]})
            continue
        r = results[k]
        if r["timeout"]:
            failures.append({"seed": case.seed, "diffs": ["timeout"], "status": r["status"]})
            continue
        cycles += r["counters"]["cycles"]
        image = np.frombuffer(read_hex(job["out_hex"], B, len(case.image) // B), dtype=np.uint8)
        # Every exact counter and the whole DRAM are compared, INDEX_RANGE runs included: a
        # dynamic error stops compute only, so nothing depends on timing (ISA_CHANGES 06:50).
        diffs = case.compare(r["err_code"], r["err_insn"], r["counters"], image)
        if r["violation"]:
            diffs.append("an AXI access outside the DRAM window was issued")
        if diffs:
            failures.append({"seed": case.seed, "expected": case.expected.error.name,
                             "backpressure": job["bp_level"], "diffs": diffs})
    return {"programs": sum(1 for c in cases if c.seed >= 0), "runs": len(cases),
            "mismatches": len(failures), "failures": failures[:20],
            "faults": faults, "simulated_cycles": cycles, "seconds_generate": round(t_gen, 2),
            "seconds_simulate": round(t_sim, 2), "simulator": simulator, "slug": config.slug}
