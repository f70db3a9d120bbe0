"""The ISA tables, encoders and generated artefacts; AccelConfig validation and presets."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from hwgen.accel import AccelConfig, PRESETS, get_preset, isa
from hwgen.configbase import config_from_dict
from hwgen.errors import ConfigError, ProgramError
from hwgen.toolchain import find


# ------------------------------------------------------------------ ISA
def test_field_tables_fit_and_do_not_overlap():
    for name, fields in isa.FORMATS.items():
        bits = isa.UOP_BITS if name == "UOP" else isa.INSN_BITS
        used = 0
        for f in fields:
            m = f.mask << f.lsb
            assert not used & m and f.msb < bits
            used |= m
    assert isa.field("GEMM", "init").lsb == 127
    assert isa.field("ALU", "imm").signed and isa.field("ALU", "imm").width == 16
    # GEMM and ALU share the loop fields' positions (one decoder)
    for n in ("uop_begin", "uop_end", "iter_out", "iter_in", "dst_factor_out", "src_factor_in"):
        assert isa.field("GEMM", n) == isa.field("ALU", n)
    with pytest.raises(KeyError, match="GEMM has no field 'imm'"):
        isa.field("GEMM", "imm")


def _insn_strategy():
    def fields(cls, fmt):
        kw = {}
        for f in isa.FORMATS[fmt]:
            if f.name == "opcode":
                continue
            if f.width == 1:
                kw[f.name] = st.booleans()
            else:
                kw[f.name] = st.integers(f.lo, f.hi)
        return st.builds(cls, **kw)
    return st.one_of(fields(isa.Load, "LOAD"), fields(isa.Store, "STORE"), fields(isa.Gemm, "GEMM"),
                     fields(isa.Alu, "ALU"), fields(isa.Finish, "FINISH"))


@settings(max_examples=300, deadline=None)
@given(_insn_strategy())
def test_encode_decode_roundtrip(insn):
    word = isa.encode(insn)
    assert 0 <= word < 1 << 128 and word & 7 == insn.opcode
    assert isa.decode(word) == insn
    assert isa.from_bytes(isa.to_bytes([insn])) == [insn]


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_uop_roundtrip(a, i, w):
    u = isa.Uop(a, i, w)
    assert isa.decode_uop(isa.encode_uop(u)) == u
    assert isa.encode_uop(u) == a | i << 16 | w << 32


def test_known_encodings():
    # fixed words pin the bit positions the RTL decoder uses
    assert isa.encode(isa.Finish()) == 4
    assert isa.encode(isa.Load(mem_type=isa.MemType.WGT, sram_base=5, dram_base=7, y_size=1, x_size=2,
                               x_stride=3, x_pad1=1, push_next=True)) == \
        0 | 1 << 6 | 2 << 7 | 5 << 10 | 7 << 26 | 1 << 58 | 2 << 74 | 3 << 90 | 1 << 118
    assert isa.encode(isa.Alu(alu_op=isa.AluOp.CLIP, use_imm=True, imm=-1, uop_begin=1, uop_end=2)) == \
        3 | 1 << 7 | 1 << 8 | 2 << 21 | 1 << 35 | 1 << 49 | 5 << 107 | 0xFFFF << 110
    assert isa.encode(isa.Gemm(init=True, pop_prev=True)) == 2 | 1 << 3 | 1 << 35 | 1 << 49 | 1 << 127
    assert isa.decode(7) == isa.RawInsn(7) and isa.encode(isa.RawInsn(7)) == 7


def test_encode_errors():
    with pytest.raises(ProgramError, match=r"LOAD.y_size must be in 0..65535 \(16 bits\), not 70000"):
        isa.encode(isa.Load(y_size=70000))
    with pytest.raises(ProgramError, match=r"ALU.imm must be in -32768..32767 \(16 bits\), not 40000"):
        isa.encode(isa.Alu(imm=40000))
    with pytest.raises(ProgramError, match=r"GEMM.uop_end must be in 0..16383 \(14 bits\), not -1"):
        isa.encode(isa.Gemm(uop_end=-1))
    with pytest.raises(ProgramError, match=r"UOP.acc_idx must be in 0..65535, not 65536"):
        isa.encode_uop(isa.Uop(65536, 0, 0))
    with pytest.raises(ProgramError, match="must fit in 128 bits"):
        isa.encode(isa.RawInsn(1 << 130))
    with pytest.raises(ProgramError, match="multiple of 16, not 17"):
        isa.from_bytes(b"\0" * 17)
    with pytest.raises(TypeError, match="cannot encode int"):
        isa.encode(5)


def test_describe():
    assert isa.describe(isa.Load(mem_type=isa.MemType.INP, sram_base=1, dram_base=2, y_size=3, x_size=4,
                                 x_stride=5, y_pad0=1, push_next=True, pop_next=True)) == \
        "LOAD INP sram=1 dram=2 3x4/5 pad=1,0,0,0 -next +next"
    assert isa.describe(isa.Alu(alu_op=isa.AluOp.SHR, use_imm=True, imm=3)).startswith("ALU SHR imm=3 uop=0..0")
    assert isa.describe(isa.RawInsn(5)).startswith("ILLEGAL opcode 5")


def test_stage_routing_and_tokens():
    assert isa.Load(mem_type=isa.MemType.INP).stage == isa.Stage.LOAD
    assert isa.Load(mem_type=isa.MemType.WGT).stage == isa.Stage.LOAD
    assert isa.Load(mem_type=isa.MemType.UOP).stage == isa.Stage.COMPUTE
    assert isa.Load(mem_type=isa.MemType.ACC).stage == isa.Stage.COMPUTE
    assert isa.Store().stage == isa.Stage.STORE
    assert isa.Finish().stage == isa.Stage.COMPUTE
    assert len(isa.TOKEN_ROUTES) == 8


def test_register_map():
    offs = [r.offset for r in isa.REGISTERS]
    assert len(set(offs)) == len(offs) and all(o % 4 == 0 and o < isa.REGMAP_BYTES for o in offs)
    assert isa.REG["CTRL"] == 0 and isa.REG["CYCLES"] == isa.COUNTER_BASE
    assert {"INSN_ADDR", "INSN_COUNT", "DRAM_BASE", "DRAM_LIMIT", "ERR_CODE", "ERR_INSN", "STATUS",
            "LOAD_BUSY", "LOAD_STALL", "COMPUTE_BUSY", "COMPUTE_STALL", "STORE_BUSY", "STORE_STALL"} <= set(isa.REG)


def test_generated_artefacts(tmp_path):
    cfg = PRESETS["default"]
    data = json.loads(isa.regmap_json(cfg))
    assert data["config"] == cfg.slug and data["isa_version"] == isa.ISA_VERSION
    assert {r["name"] for r in data["registers"]} == set(isa.REG)
    assert data["formats"]["GEMM"][-1] == {"name": "init", "lsb": 127, "width": 1, "signed": False,
                                           "doc": isa.field("GEMM", "init").doc}
    assert data["constants"]["BLOCK_IN"] == 16
    md = isa.isa_markdown(cfg)
    for fmt, fields in isa.FORMATS.items():
        assert f"## {fmt}" in md
        assert all(f"`{f.name}`" in md for f in fields)
    hdr = isa.c_header(cfg)
    assert hdr.startswith("/* generated by hwgen, do not edit */")
    assert "#define HWGEN_ACCEL_GEMM_INIT_LSB 127u" in hdr
    assert isa.c_header(cfg) == hdr and isa.regmap_json(cfg) == isa.regmap_json(cfg)
    gcc = find("g++") or find("gcc")
    if gcc:
        (tmp_path / "hwgen_accel.h").write_text(hdr)
        src = tmp_path / "t.c"
        src.write_text('#include "hwgen_accel.h"\n_Static_assert(HWGEN_ACCEL_REG_STATUS == 4, "s");\n'
                       '_Static_assert(HWGEN_ACCEL_ALU_IMM_WIDTH == 16, "w");\nint main(void){return 0;}\n')
        out = subprocess.run(["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", str(src)],
                             capture_output=True, text=True, cwd=tmp_path)
        assert out.returncode == 0, out.stderr


def test_isa_imports_only_the_standard_library():
    code = ("import sys, hwgen.accel.isa, hwgen.accel.config, hwgen.accel.presets\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('numpy', 'amaranth', 'jinja2')]\n"
            "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------ config
def test_presets_and_slugs():
    assert set(PRESETS) == {"tiny", "default", "pynq-z2", "ultra96"}
    assert PRESETS["pynq-z2"].slug == "1x16x16_i8w8a32o8_15_18_17_15_d64"
    assert PRESETS["pynq-z2"].buffer_bytes == {"uop": 32768, "inp": 32768, "wgt": 262144, "acc": 131072}
    assert PRESETS["default"].macs_per_cycle == 256
    assert len({c.slug for c in PRESETS.values()}) == 4
    assert get_preset("tiny") is PRESETS["tiny"]
    with pytest.raises(ConfigError, match="unknown accelerator preset 'x'; valid presets: tiny, default"):
        get_preset("x")
    assert AccelConfig(token_depth=3).slug.endswith("_q32t3")
    assert AccelConfig(dram_addr_width=24).slug.endswith("_r24")


@pytest.mark.parametrize("field,value,message", [
    ("batch", 3, r"AccelConfig.batch must be a power of two in 1..16, not 3"),
    ("batch", 32, r"AccelConfig.batch must be a power of two in 1..16, not 32"),
    ("block_in", 1, r"AccelConfig.block_in must be a power of two in 2..64, not 1"),
    ("block_in", 12, r"AccelConfig.block_in must be a power of two in 2..64, not 12"),
    ("block_out", 128, r"AccelConfig.block_out must be a power of two in 2..64, not 128"),
    ("input_width", 4, r"AccelConfig.input_width must be one of 8, 16, not 4"),
    ("weight_width", 32, r"AccelConfig.weight_width must be one of 8, 16, not 32"),
    ("output_width", 7, r"AccelConfig.output_width must be one of 8, 16, not 7"),
    ("acc_width", 24, r"AccelConfig.acc_width must be one of 16, 32, not 24"),
    ("inp_depth", 8, r"AccelConfig.inp_depth must be a power of two in 16..65536, not 8"),
    ("wgt_depth", 100, r"AccelConfig.wgt_depth must be a power of two in 16..65536, not 100"),
    ("acc_depth", 1 << 17, r"AccelConfig.acc_depth must be a power of two in 16..65536, not 131072"),
    ("uop_depth", 16384, r"AccelConfig.uop_depth must be a power of two in 16..8192, not 16384"),
    ("insn_queue_depth", 1, r"AccelConfig.insn_queue_depth must be a power of two in 2..1024, not 1"),
    ("token_depth", 0, r"AccelConfig.token_depth must be an integer in 1..1024, not 0"),
    ("axi_data_width", 128, r"AccelConfig.axi_data_width must be one of 32, 64, not 128"),
    ("dram_addr_width", 40, r"AccelConfig.dram_addr_width must be an integer in 16..32, not 40"),
])
def test_config_field_errors(field, value, message):
    with pytest.raises(ConfigError, match=message):
        AccelConfig(**{field: value})


def test_config_cross_checks_and_types():
    with pytest.raises(ConfigError, match=r"acc_width must be at least input_width \+ weight_width = 32, not 16"):
        AccelConfig(input_width=16, weight_width=16, acc_width=16, output_width=8)
    assert AccelConfig(acc_width=16, output_width=16).acc_elem_bytes == 32
    with pytest.raises(ConfigError, match=r"axi_data_width must divide every DMA element: one inp element "
                                          r"is 4 bytes, not a multiple of 8-byte beats"):
        AccelConfig(block_in=4, block_out=4)
    with pytest.raises(TypeError, match=r"AccelConfig.batch must be int, not str '1'"):
        AccelConfig(batch="1")
    with pytest.raises(TypeError, match=r"AccelConfig.block_in must be int, not bool"):
        AccelConfig(block_in=True)
    with pytest.raises(ConfigError, match="AccelConfig has no field 'blocks'"):
        config_from_dict(AccelConfig, {"blocks": 2})
    assert config_from_dict(AccelConfig, {"batch": 2}).batch == 2
