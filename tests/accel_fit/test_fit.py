"""``hwgen accel project`` refuses an accelerator whose block RAMs or DSPs do not fit the board
(hwgen.fpga.accel_project.check_project with the resource model), before writing anything."""
from __future__ import annotations

import dataclasses
import re

import pytest

from hwgen.accel.presets import PRESETS
from hwgen.accel.resources import BLOCK_DESIGN_RESERVE, estimate
from hwgen.cli import main
from hwgen.errors import ConfigError
from hwgen.fpga.accel_project import accel_project, check_project
from hwgen.fpga.boards import BOARDS, get_board

Z2 = get_board("pynq-z2")
U96 = get_board("ultra96v2")


@pytest.mark.parametrize("preset, board", [("pynq-z2", "pynq-z2"), ("pynq-z2", "pynq-z1"),
                                           ("ultra96", "ultra96v2"), ("default", "pynq-z2"),
                                           ("tiny", "pynq-z2"), ("pynq-z2", "ultra96v2")])
def test_presets_fit(preset, board):
    check_project(PRESETS[preset], get_board(board), 100)


def test_ultra96_on_pynq_z2_refused():
    r = estimate(PRESETS["ultra96"])
    assert r.bram36 > Z2.bram36 and r.dsps > Z2.dsps          # 172 > 140, 322 > 220
    with pytest.raises(ConfigError, match=r"^accelerator 1x16x32_i8w8a32o8_16_18_18_16_d64 needs "
                                          r"172 BRAM36 \(model\), pynq-z2's xc7z020clg400-1 has 140, "
                                          r"2 of them kept for the block design's SmartConnects$"):
        check_project(PRESETS["ultra96"], Z2, 100)


def test_dsp_refused_and_options():
    # pynq-z2's buffers with unpacked products: 256 + 32 + 2 DSPs
    with pytest.raises(ConfigError, match=r"^accelerator 1x16x16_i8w8a32o8_15_18_17_15_d64 needs 290 "
                                          r"DSP \(model\), pynq-z2's xc7z020clg400-1 has 220$"):
        check_project(PRESETS["pynq-z2"], Z2, 100, dsp_packing=False)
    # ... fits with a hard-multiplier budget (the other products in LUTs)
    check_project(PRESETS["pynq-z2"], Z2, 100, dsp_packing=False, hard_mults=180)
    # 1x16x32 with small buffers fits the xc7z020's block RAM, not its DSPs
    small = dataclasses.replace(PRESETS["ultra96"], inp_depth=1024, wgt_depth=256, acc_depth=1024,
                                uop_depth=2048)
    with pytest.raises(ConfigError, match=r"needs 322 DSP \(model\), pynq-z2's xc7z020clg400-1 has 220$"):
        check_project(small, Z2, 100)
    check_project(small, Z2, 100, hard_mults=180 - 64)


def test_reserve_edge():
    """A design needing exactly the part's block RAM less the reserve fits; one more does not."""
    need = estimate(PRESETS["pynq-z2"]).bram36
    limit = need + BLOCK_DESIGN_RESERVE["bram36"]
    check_project(PRESETS["pynq-z2"], dataclasses.replace(Z2, bram36=int(limit)), 100)
    with pytest.raises(ConfigError, match=r"needs 118 BRAM36 \(model\), pynq-z2's xc7z020clg400-1 "
                                          r"has 119, 2 of them kept"):
        check_project(PRESETS["pynq-z2"], dataclasses.replace(Z2, bram36=int(limit) - 1), 100)
    assert BLOCK_DESIGN_RESERVE["dsps"] == 0
    check_project(PRESETS["pynq-z2"], dataclasses.replace(Z2, dsps=162), 100)
    with pytest.raises(ConfigError, match=r"needs 162 DSP \(model\), pynq-z2's xc7z020clg400-1 has 161$"):
        check_project(PRESETS["pynq-z2"], dataclasses.replace(Z2, dsps=161), 100)


def test_every_board_has_a_fitting_preset():
    for board in BOARDS.values():
        check_project(PRESETS["default"], board, 100)


def test_cli_refuses_before_writing(tmp_path, capsys):
    out = tmp_path / "z2"
    assert main(["accel", "project", "--preset", "ultra96", "--board", "pynq-z2", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert re.match(r"hwgen: error: accelerator 1x16x32\S+ needs 172 BRAM36 \(model\), pynq-z2's "
                    r"xc7z020clg400-1 has 140", err), err
    assert not out.exists()
    with pytest.raises(ConfigError, match="needs 172 BRAM36"):
        accel_project(PRESETS["ultra96"], "pynq-z2", tmp_path / "api")
    assert not (tmp_path / "api").exists()


def test_generate_json_reports_the_estimate(tmp_path, capsys):
    import json
    assert main(["accel", "generate", "--preset", "tiny", "--hard-mults", "3", "--json",
                 "--out", str(tmp_path / "g")]) == 0
    r = json.loads(capsys.readouterr().out)["resources"]
    assert r == estimate(PRESETS["tiny"], hard_mults=3).to_dict()
    assert (r["bram36"], r["dsps"], r["dsp_parts"]) == (2.0, 13, {"gemm": 3, "alu": 8, "fetch": 2})
