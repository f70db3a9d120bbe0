"""The runtime: Program builder, buffers, tiled matmul on the functional simulator, PynqDevice's
register sequence against a recording fake, the watchdog, and no amaranth/jinja2 imports."""
from __future__ import annotations


import numpy as np
import pytest

from hwgen.accel import isa
from hwgen.accel.isa import ErrorCode, MemType, Stage
from hwgen.accel.model import Machine
from hwgen.accel.presets import PRESETS
from hwgen.errors import ConfigError, DeviceError, ProgramError
from hwgen.runtime import DeviceRunError, FsimDevice, Program, PynqDevice, matmul, reference
from hwgen.runtime.device import diagnose, locate

from .configs import ODD_CONFIGS

TINY = PRESETS["tiny"]


def test_runtime_imports_neither_amaranth_nor_jinja2():
    from ..importguard import run_without
    assert run_without(
        "import numpy as np\n"
        "import hwgen.runtime, hwgen.accel.isa, hwgen.accel.model, hwgen.accel.fuzz\n"
        "from hwgen.accel.presets import PRESETS\n"
        "d = hwgen.runtime.FsimDevice(PRESETS['tiny'])\n"
        "r = hwgen.runtime.matmul(d, np.ones((3, 5), int), np.ones((5, 2), int))\n"
        "assert (r.out == 5).all()\n"
        "print('clean')\n").strip() == "clean"


@pytest.mark.parametrize("preset,shape,shift", [
    ("tiny", (1, 1, 1), 0), ("tiny", (5, 7, 9), 3), ("tiny", (33, 20, 17), 0),
    ("tiny", (64, 3, 70), 5), ("default", (17, 300, 33), 8), ("default", (256, 256, 256), 9),
])
def test_matmul_matches_numpy(preset, shape, shift):
    cfg = PRESETS[preset]
    m, k, n = shape
    rng = np.random.default_rng(m * 1000 + k * 10 + n)
    a = rng.integers(-128, 128, (m, k))
    b = rng.integers(-128, 128, (k, n))
    dev = FsimDevice(cfg)
    r = matmul(dev, a, b, shift=shift)
    assert r.out.shape == (m, n)
    assert np.array_equal(r.out, reference(cfg, a, b, shift))
    assert r.result.ok and r.macs == m * k * n
    assert r.result.counters["gemm_uops"] >= -(-m // cfg.batch) * -(-k // cfg.block_in) * -(-n // cfg.block_out)
    assert 0 < r.utilization <= 1
    # every buffer was given back: the window is one free block again
    assert dev._free == [(dev.base, dev.size)]


def test_matmul_default_256_overlaps_load_and_compute():
    cfg = PRESETS["default"]
    rng = np.random.default_rng(0)
    a, b = rng.integers(-128, 128, (256, 256)), rng.integers(-128, 128, (256, 256))
    r = matmul(FsimDevice(cfg), a, b)
    c = r.result.counters
    # double buffering: the estimate is far below the sum of stage busy times
    assert c["cycles"] < 0.8 * (c["load_busy"] + c["compute_busy"] + c["store_busy"])
    assert r.utilization > 0.85


def test_matmul_errors():
    dev = FsimDevice(TINY)
    with pytest.raises(ProgramError, match="shapes do not chain"):
        matmul(dev, np.ones((2, 3), int), np.ones((4, 2), int))
    with pytest.raises(ProgramError, match=r"8-bit signed values in -128..127, not 300..300"):
        matmul(dev, np.full((2, 3), 300), np.ones((3, 2), int))
    with pytest.raises(ProgramError, match=r"shift must be an integer in 0..31, not 40"):
        matmul(dev, np.ones((2, 3), int), np.ones((3, 2), int), shift=40)
    with pytest.raises(TypeError, match="must hold integers"):
        matmul(dev, np.ones((2, 3)), np.ones((3, 2), int))
    with pytest.raises(ProgramError, match="non-empty 2-D array"):
        matmul(dev, np.ones(3, int), np.ones((3, 2), int))


def test_program_kernel_cache_and_token_placement():
    dev = FsimDevice(TINY)
    p = Program(dev)
    k1 = p.kernel([(0, 0, 0), (1, 0, 1)])
    k2 = p.kernel([(0, 0, 0), (1, 0, 1)])
    assert k1 == k2 and k1.begin == 0 and k1.end == 2
    assert sum(1 for i in p.insns if isinstance(i, isa.Load) and i.mem_type == MemType.UOP) == 1
    p.pop(Stage.LOAD, Stage.COMPUTE)           # pending: next compute instruction pops
    p.gemm(k1)
    assert p.insns[-1].pop_prev
    p.push(Stage.COMPUTE, Stage.STORE)         # attaches to that GEMM
    assert p.insns[-1].push_next
    p.push(Stage.COMPUTE, Stage.STORE)         # already set: a no-op GEMM carries the second
    assert isinstance(p.insns[-1], isa.Gemm) and p.insns[-1].uop_begin == p.insns[-1].uop_end
    p.push(Stage.LOAD, Stage.COMPUTE)          # no load instruction yet: a zero-size LOAD
    assert isinstance(p.insns[-1], isa.Load) and p.insns[-1].y_size == 0 and p.insns[-1].push_next
    with pytest.raises(ProgramError, match="no token queue from LOAD to STORE"):
        p.push(Stage.LOAD, Stage.STORE)
    with pytest.raises(ProgramError, match="no token queue from STORE to LOAD"):
        p.pop(Stage.STORE, Stage.LOAD)
    p.pop(Stage.COMPUTE, Stage.STORE)
    p.pop(Stage.COMPUTE, Stage.STORE)
    p.store(0, dev.alloc(64).elem(TINY.out_elem_bytes), 1, 1)
    p.finish()
    insns = p.finalize()
    assert isinstance(insns[-1], isa.Finish)
    res = dev.run(p)
    assert res.ok and res.counters["store_insns"] == 2 and res.counters["gemm_uops"] == 2


def test_program_validates_while_building():
    dev = FsimDevice(TINY)
    p = Program(dev)
    with pytest.raises(ProgramError, match=r"instruction 0 \(LOAD INP .*\): DMA outside the DRAM window"):
        p.load(MemType.INP, 0, dev.size, 1, 1)
    with pytest.raises(ProgramError, match=r"SRAM_RANGE"):
        p.load(MemType.INP, TINY.inp_depth - 1, 0, 1, 2)
    with pytest.raises(ProgramError, match=r"at least one micro-op"):
        p.kernel([])
    with pytest.raises(ProgramError, match=r"exceeds uop_depth 256"):
        p.kernel([(0, 0, 0)] * 257)


def test_kernel_eviction_when_uop_buffer_fills():
    dev = FsimDevice(TINY)
    p = Program(dev)
    a = p.kernel([(i, 0, 0) for i in range(200)])
    b = p.kernel([(i, 1, 0) for i in range(100)])       # does not fit after a: wraps to 0
    assert b.begin == 0
    a2 = p.kernel([(i, 0, 0) for i in range(200)])      # a was evicted: loaded again
    assert a2 == a
    c = p.kernel([(7, 7, 7)])                           # fits after a2; b was evicted by a2
    assert c.begin == 200 and p.kernel([(7, 7, 7)]) == c
    assert sum(1 for i in p.insns if isinstance(i, isa.Load)) == 4


def test_buffers_and_allocator():
    dev = FsimDevice(TINY)
    b1 = dev.alloc(10)
    b2 = dev.alloc(5000)
    assert b1.addr % 4096 == 0 and b2.addr - b1.addr == 4096
    b1.write(np.arange(10, dtype=np.uint8))
    assert list(b1.read()) == list(range(10))
    assert list(b1.read(3, offset=2)) == [2, 3, 4]
    with pytest.raises(ProgramError, match="outside the 10-byte buffer"):
        b1.write(np.zeros(11, np.uint8))
    with pytest.raises(ConfigError, match="positive integer number of bytes, not 0"):
        dev.alloc(0)
    with pytest.raises(DeviceError, match="no room for a"):
        dev.alloc(dev.size)
    dev.free(b1)
    dev.free(b2)
    assert dev._free == [(dev.base, dev.size)]
    with pytest.raises(ConfigError, match="multiple of 4096, not 0x1001"):
        FsimDevice(TINY, base=0x1001, size=4096)
    with pytest.raises(TypeError, match="needs an AccelConfig, not dict"):
        FsimDevice({})


def test_run_error_names_instruction():
    dev = FsimDevice(TINY)
    with pytest.raises(DeviceRunError, match=r"ILLEGAL_OPCODE .* at instruction 1") as e:
        dev.run([isa.Gemm(), isa.RawInsn(7), isa.Finish()])
    assert e.value.result.error == ErrorCode.ILLEGAL_OPCODE
    res = dev.run([isa.Gemm(pop_prev=True), isa.Finish()], check=False)
    assert res.error == ErrorCode.DEADLOCK
    assert "compute waits to pop l2c (instruction 0)" in res.message()
    with pytest.raises(ProgramError, match="empty program"):
        dev.run([])


def test_locate_names_stage_instruction_from_counters():
    insns = [isa.Load(), isa.Gemm(), isa.Store(), isa.Gemm(), isa.Finish(), isa.Gemm()]
    at = locate(insns, {"load_insns": 1, "compute_insns": 1, "store_insns": 0})
    assert at == {"load": None, "compute": 3, "store": 2}


# ------------------------------------------------------------------ PYNQ with a recording fake
class FakePynq:
    """Records every MMIO access; START runs the functional simulator on the allocated window."""

    def __init__(self, config, *, hang=False, cfg_id=None):
        self.log: list[tuple] = []
        self.config, self.hang = config, hang
        fake = self

        class Buf(np.ndarray):
            def flush(self):
                fake.log.append(("flush",))

            def invalidate(self):
                fake.log.append(("invalidate",))

            def freebuffer(self):
                fake.log.append(("free",))

        def allocate(shape, dtype):
            buf = np.zeros(shape, dtype).view(Buf)
            buf.device_address = 0x3000_0000
            fake.window = buf
            return buf

        class Overlay:
            def __init__(self, bitfile):
                fake.log.append(("overlay", bitfile))
                self.ip_dict = {"hwgen_accel_0": {"phys_addr": 0x4000_0000, "addr_range": 0x1000}}

        class MMIO:
            def __init__(self, base, rng):
                fake.log.append(("mmio", base, rng))
                self.regs = {isa.REG["HW_ID"]: isa.HW_ID,
                             isa.REG["CFG_ID"]: isa.cfg_id(config) if cfg_id is None else cfg_id}
                self.machine = Machine(config)

            def write(self, off, val):
                fake.log.append(("w", off, val))
                self.regs[off] = val
                if off == isa.REG["CTRL"] and val & 1 and not fake.hang:
                    r = self.regs
                    res = self.machine.run(np.asarray(fake.window).view(np.uint8), 0x3000_0000,
                                           insn_addr=r[isa.REG["INSN_ADDR"]],
                                           insn_count=r[isa.REG["INSN_COUNT"]],
                                           dram_base=r[isa.REG["DRAM_BASE"]],
                                           dram_limit=r[isa.REG["DRAM_LIMIT"]])
                    r[isa.REG["STATUS"]] = 0b10 | (0b100 if res.error else 0)
                    r[isa.REG["ERR_CODE"]] = int(res.error)
                    r[isa.REG["ERR_INSN"]] = res.err_insn
                    for name, v in res.counters.items():
                        r[isa.REG[name.upper()]] = v
                elif off == isa.REG["CTRL"] and fake.hang:
                    self.regs[isa.REG["STATUS"]] = 0b1 | (1 << 9) | (1 << 13)

            def read(self, off):
                fake.log.append(("r", off))
                return self.regs.get(off, 0)

        self.Overlay, self.MMIO, self.allocate = Overlay, MMIO, allocate


def test_pynq_register_sequence_against_recorded_fake():
    fake = FakePynq(TINY)
    dev = PynqDevice(TINY, "acc.bit", window_bytes=1 << 20, pynq_module=fake)
    assert fake.log[:2] == [("overlay", "acc.bit"), ("mmio", 0x4000_0000, 0x1000)]
    rng = np.random.default_rng(3)
    a, b = rng.integers(-128, 128, (6, 9)), rng.integers(-128, 128, (9, 5))
    fake.log.clear()
    r = matmul(dev, a, b, shift=4)
    assert np.array_equal(r.out, reference(TINY, a, b, 4))
    assert r.result.exact_cycles
    R = isa.REG
    writes = [e for e in fake.log if e[0] in ("w", "flush")]
    # flush, then the start sequence in this order
    assert writes[0] == ("flush",)
    assert [w[1] for w in writes[1:]] == [R["DRAM_BASE"], R["DRAM_LIMIT"], R["INSN_ADDR"],
                                          R["INSN_COUNT"], R["CTRL"]]
    assert writes[1][2] == 0x3000_0000 and writes[2][2] == 0x3000_0000 + (1 << 20)
    assert writes[4][2] >= 2 and writes[5][2] == 1
    after = fake.log[fake.log.index(("w", R["CTRL"], 1)) + 1:]
    assert after[0] == ("r", R["STATUS"])
    assert ("r", R["ERR_CODE"]) in after and ("r", R["ERR_INSN"]) in after
    assert after[-1] == ("invalidate",)
    dev.close()
    assert fake.log[-1] == ("free",)


def test_pynq_refuses_wrong_bitstream_and_watchdog_names_stage():
    with pytest.raises(DeviceError, match=r"CFG_ID is 0x00000001, but config .* \(wrong bitstream\?\)"):
        PynqDevice(TINY, "x.bit", window_bytes=1 << 20, pynq_module=FakePynq(TINY, cfg_id=1))
    fake = FakePynq(TINY, hang=True)
    dev = PynqDevice(TINY, "x.bit", window_bytes=1 << 20, pynq_module=fake)
    with pytest.raises(DeviceError, match=r"watchdog: no DONE after 0.05 s; load idle after 0 "
                                          r"instructions; compute stalled waiting on a dependency token"):
        dev.run([isa.Gemm(pop_prev=True), isa.Finish()], timeout_s=0.05)


def test_pynq_missing_module_and_ip():
    with pytest.raises(DeviceError, match="needs the pynq package"):
        PynqDevice(TINY, "x.bit")
    fake = FakePynq(TINY)
    with pytest.raises(DeviceError, match="has no IP 'nope'"):
        PynqDevice(TINY, "x.bit", ip_name="nope", window_bytes=1 << 20, pynq_module=fake)


def test_diagnose():
    status = (1 << 8) | (1 << 12) | (1 << 4)
    text = diagnose(status, 0x01000203)
    assert text.startswith("load stalled waiting on a dependency token; compute idle; store idle; "
                           "fetch blocked on a full queue")
    assert "l2c=3 c2l=2 c2s=0 s2c=1" in text


@pytest.mark.parametrize("cfg", ODD_CONFIGS, ids=lambda c: c.slug)
def test_matmul_batch_wide_elements_and_small_queues(cfg):
    rng = np.random.default_rng(0)
    lo = -(1 << (cfg.input_width - 1))
    a, b = rng.integers(lo, -lo, (13, 11)), rng.integers(lo, -lo, (11, 9))
    r = matmul(FsimDevice(cfg), a, b, shift=3)
    assert np.array_equal(r.out, reference(cfg, a, b, 3))   # acc_width 16 wraps like the reference
