"""RtlDevice: the runtime's device interface on the generated Verilog (Icarus and Verilator), its
error messages, the watchdog, and the generator's output."""
from __future__ import annotations

import json

import numpy as np
import pytest

from hwgen.accel import isa
from hwgen.accel.isa import ErrorCode, Finish, Gemm, Load, MemType, Store
from hwgen.accel.presets import PRESETS
from hwgen.errors import ConfigError, DeviceError
from hwgen.runtime import DeviceRunError, FsimDevice, matmul, reference
from hwgen.runtime.rtl_device import RtlDevice
from hwgen.sim.accel.differential import FUZZ_MEM_BYTES

CFG = PRESETS["tiny"]


def _dev(verilog, sim, tmp_path, **kw):
    return RtlDevice(verilog, sim, size=FUZZ_MEM_BYTES, work_dir=tmp_path / "w", **kw)


@pytest.mark.parametrize("backpressure", [0, 11])
def test_matmul_matches_numpy_and_fsim(tiny_verilog, simulator, tmp_path, backpressure):
    rng = np.random.default_rng(backpressure)
    a = rng.integers(-128, 128, (9, 20))
    b = rng.integers(-128, 128, (20, 7))
    with _dev(tiny_verilog, simulator, tmp_path, backpressure=backpressure) as dev:
        r = matmul(dev, a, b, shift=5)
    f = matmul(FsimDevice(CFG), a, b, shift=5)
    assert np.array_equal(r.out, reference(CFG, a, b, 5))
    for name in isa.EXACT_COUNTERS:
        assert r.result.counters[name] == f.result.counters[name], name
    assert r.result.exact_cycles and r.result.cycles > r.result.counters["gemm_uops"]
    assert 0 < r.utilization <= 1


def test_relative_work_dir(tiny_verilog, tmp_path, monkeypatch):
    """A relative work folder (as `hwgen demo --out build/demo` gives) still reaches the simulator,
    which runs in another folder."""
    monkeypatch.chdir(tmp_path)
    a = np.arange(12).reshape(3, 4) - 6
    b = np.arange(8).reshape(4, 2) - 3
    with RtlDevice(tiny_verilog, "verilator", size=FUZZ_MEM_BYTES, work_dir="rel/w") as dev:
        r = matmul(dev, a, b, shift=0)
    assert np.array_equal(r.out, reference(CFG, a, b, 0))
    assert (tmp_path / "rel" / "w").is_dir()


def test_error_code_is_read_back(tiny_verilog, tmp_path):
    with _dev(tiny_verilog, "icarus", tmp_path) as dev:
        buf = dev.alloc(64)
        buf.write(np.arange(64, dtype=np.uint8))
        prog = [Load(mem_type=MemType.ACC, dram_base=buf.elem(CFG.acc_elem_bytes), y_size=1,
                     x_size=1, x_stride=1, push_next=True),
                Store(dram_base=dev.size // CFG.out_elem_bytes - 1, y_size=1, x_size=2, x_stride=2,
                      pop_prev=True),
                Finish()]
        before = dev.mem.copy()
        with pytest.raises(DeviceRunError, match=r"DMA_WINDOW \(DMA outside the DRAM window\) "
                                                 r"at instruction 1"):
            dev.run(prog)
        assert dev.last_result.error == ErrorCode.DMA_WINDOW
        # nothing written anywhere: the window is unchanged
        assert np.array_equal(dev.mem[:dev._used_bytes()], before[:dev._used_bytes()])


def test_deadlock_is_named(tiny_verilog, tmp_path):
    with _dev(tiny_verilog, "verilator", tmp_path) as dev:
        with pytest.raises(DeviceRunError, match=r"DEADLOCK \(deadlock: a stage waits for a "
                                                 r"dependency token that never comes\)"):
            dev.run([Gemm(pop_prev=True), Finish()])
        assert dev.last_result.waiting["compute"] == "wait for a token"


def test_watchdog_names_the_stages(tiny_verilog, tmp_path):
    with _dev(tiny_verilog, "icarus", tmp_path, timeout_cycles=30) as dev:
        big = dev.alloc(4096)
        prog = [Load(mem_type=MemType.WGT, dram_base=big.elem(CFG.wgt_elem_bytes), y_size=8,
                     x_size=8, x_stride=8), Finish()]
        with pytest.raises(DeviceError, match=r"icarus: watchdog: no DONE after 30 cycles; "
                                              r"load busy after 0 instructions; compute "):
            dev.run(prog)


def test_bad_arguments(tiny_verilog, tmp_path):
    with pytest.raises(ConfigError, match=r"^RtlDevice simulator must be one of icarus, verilator, "
                                          r"not 'xsim'$"):
        RtlDevice(tiny_verilog, "xsim")
    with pytest.raises(ConfigError, match=r"^RtlDevice backpressure must be an integer in 0..15, "
                                          r"not 16$"):
        RtlDevice(tiny_verilog, "icarus", backpressure=16)
    with pytest.raises(DeviceError, match=r"accelerator Verilog .*nope.v does not exist"):
        RtlDevice(tmp_path / "nope.v")
    lone = tmp_path / "lone" / "x.v"
    lone.parent.mkdir()
    lone.write_text("module x; endmodule\n")
    with pytest.raises(DeviceError, match=r"manifest.json does not exist: RtlDevice needs the "
                                          r"manifest"):
        RtlDevice(lone)
    (lone.parent / "manifest.json").write_text(json.dumps({"kind": "adder", "config": {}}))
    with pytest.raises(DeviceError, match=r"is a 'adder' design, not an accelerator"):
        RtlDevice(lone)


def test_generate_is_deterministic(tmp_path, tiny_verilog):
    from hwgen.accel.rtl import generate, top_name
    a = generate(CFG, tmp_path / "a")
    assert a.verilog.read_bytes() == tiny_verilog.read_bytes()
    assert a.manifest.read_bytes() == (tiny_verilog.parent / "manifest.json").read_bytes()
    man = json.loads(a.manifest.read_text())
    assert man["top"] == top_name(CFG) == f"hwgen_accel_{CFG.slug}"
    ports = {p["name"] for p in man["ports"]}
    assert {"s_axil__awaddr", "m_axi__araddr", "m_axi__wstrb", "irq"} <= ports
    with pytest.raises(TypeError, match=r"^generate needs an AccelConfig, not dict$"):
        generate({"batch": 1}, tmp_path / "b")


def test_buffers_are_single_memories(tiny_verilog):
    # Each on-chip buffer is one inferred memory of entry width x depth (block RAM on an FPGA);
    # the accumulator is two banks of half the depth (even and odd entries), no copy.
    import re
    text = tiny_verilog.read_text()
    c = CFG
    acc_w = c.batch * c.block_out * c.acc_width
    want = {"uop_mem": (64, c.uop_depth), "inp_mem": (c.batch * c.block_in * c.input_width, c.inp_depth),
            "wgt_mem": (c.block_out * c.block_in * c.weight_width, c.wgt_depth),
            "acc0_mem": (acc_w, c.acc_depth // 2), "acc1_mem": (acc_w, c.acc_depth // 2),
            "out_mem": (c.batch * c.block_out * c.output_width, c.acc_depth)}
    assert len(re.findall(r"^\s*reg \[\d+:0\] \w+_mem \[\d+:0\];", text, re.M)) == len(want)
    for name, (width, depth) in want.items():
        assert re.search(rf"reg \[{width - 1}:0\] {name} \[{depth - 1}:0\];", text), name


def test_runtime_device_does_not_import_amaranth():
    from ..importguard import run_without
    assert run_without("import hwgen.runtime.rtl_device, hwgen.sim.accel.differential\n"
                       "print('ok')\n").strip() == "ok"


def test_hard_mults_budget(tmp_path):
    """A hard-multiplier budget leaves at most that many ``*`` in the GEMM array (the rest are
    LUT logic), is recorded in the manifest, and rejects bad values."""
    import re
    from hwgen.accel.rtl import generate
    from hwgen.errors import ConfigError
    a = generate(CFG, tmp_path / "a", hard_mults=5, dsp_packing=False)
    man = json.loads(a.manifest.read_text())
    assert man["accel"]["hard_mults"] == 5
    # 5 GEMM products + the ALU MUL lanes (two partial products per accumulator lane) keep a
    # multiplier
    muls = re.findall(r"\$signed\([^;]*\) \* \$signed", a.verilog.read_text())
    lanes = CFG.batch * CFG.block_out
    assert len(muls) == 5 + 2 * lanes
    plain = generate(CFG, tmp_path / "b", dsp_packing=False)
    assert json.loads(plain.manifest.read_text())["accel"]["hard_mults"] is None
    assert len(re.findall(r"\$signed\([^;]*\) \* \$signed", plain.verilog.read_text())) == \
        CFG.macs_per_cycle + 2 * lanes
    with pytest.raises(ConfigError, match=r"^Accelerator hard_mults must be at least 0, not -1$"):
        generate(CFG, tmp_path / "c", hard_mults=-1)
    with pytest.raises(TypeError, match=r"^Accelerator hard_mults must be an int or None, not str$"):
        generate(CFG, tmp_path / "d", hard_mults="4")


def _alu_busy(dev, abuf, obuf, off, reps):
    """compute_busy of LOAD ACC + ``acc[i] += acc[off + i]`` for ``reps`` entries, and the
    narrowed result."""
    from hwgen.accel.isa import AluOp, Stage, Uop
    from hwgen.runtime.program import Program
    p = Program(dev)
    p.load(MemType.ACC, 0, abuf.elem(CFG.acc_elem_bytes), 1, 65)
    k = p.kernel([Uop(0, off, 0)])
    p.alu(AluOp.ADD, k, iter_in=reps, dst=(0, 1), src=(0, 1))
    p.push(Stage.COMPUTE, Stage.STORE)
    p.pop(Stage.COMPUTE, Stage.STORE)
    p.store(0, obuf.elem(CFG.out_elem_bytes), 1, reps)
    r = dev.run(p)
    p.release()
    return r.counters["compute_busy"], dev.read(obuf, reps * CFG.out_elem_bytes).view(np.int8)


def test_alu_tensor_one_op_per_cycle_across_banks(tiny_verilog, tmp_path):
    """With acc[dst] and acc[src] in different accumulator banks (index parity) an ALU micro-op
    with a tensor operand takes one cycle; in the same bank two."""
    lanes = CFG.batch * CFG.block_out
    a = np.random.default_rng(3).integers(-200, 200, (65, lanes)).astype("<i4")
    with _dev(tiny_verilog, "verilator", tmp_path) as dev:
        abuf, obuf = dev.alloc(a.nbytes), dev.alloc(32 * CFG.out_elem_bytes)
        dev.write(abuf, a)
        for off, cycles_per_op in ((33, 1), (32, 2)):
            b16, _ = _alu_busy(dev, abuf, obuf, off, 16)
            b32, out = _alu_busy(dev, abuf, obuf, off, 32)
            assert b32 - b16 == 16 * cycles_per_op, off
            want = np.clip(a[:32] + a[off:off + 32], -128, 127)
            assert np.array_equal(out.reshape(32, lanes), want), off


def test_accumulator_adders_from_hwgen_adders(tmp_path):
    from hwgen.accel.rtl import generate
    a = generate(CFG, tmp_path / "a", adder_arch="brent-kung", adder_style="asic")
    man = json.loads(a.manifest.read_text())
    assert man["accel"]["adder"] == {"arch": "brent-kung", "style": "asic"}
    assert "acc_add0" in a.verilog.read_text()
    with pytest.raises(ConfigError, match=r"^AdderConfig.arch must be one of .*not 'carry-skip'"):
        generate(CFG, tmp_path / "b", adder_arch="carry-skip")
    with pytest.raises(ConfigError, match=r"^AdderConfig.style must be one of asic, fpga, not 'lut'"):
        generate(CFG, tmp_path / "c", adder_style="lut")
