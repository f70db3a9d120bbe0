"""PrefixAdder in simulation (Icarus and Verilator, one build each for a bank of adders) and in
Amaranth's own simulator."""
from __future__ import annotations

import pytest

from hwgen.export import export_verilog
from hwgen.sim import runner

from .design import UNITS, AdderBank


def test_adder_bank_on_both_simulators(tmp_path, simulator):
    exp = export_verilog(AdderBank(), tmp_path / "v", kind="adder", slug="bank")
    units = [[p, w, ci] for p, _arch, w, _style, ci in UNITS]
    res = runner.run([exp.verilog], "hwgen_adder_bank", "tests.adders.tb_adder", simulator,
                     test_dir=tmp_path / "sim", params={"units": units, "n_random": 150})
    assert res.ok and res.tests == 1


def test_asic_style_has_no_adder_operator_and_fpga_has_one():
    from hwgen.adders import PrefixAdder, construct
    from hwgen.export import verilog_text
    asic = verilog_text(PrefixAdder(construct("kogge-stone", 8), style="asic"), "t")
    fpga = verilog_text(PrefixAdder(construct("kogge-stone", 8), style="fpga"), "t")
    assert " + " not in asic and "G7_0" in asic
    assert " + " in fpga


def test_prefix_adder_rejects_bad_arguments():
    from hwgen.adders import PrefixAdder, construct, make_adder
    from hwgen.errors import ConfigError
    with pytest.raises(ConfigError, match=r"^PrefixAdder.style must be one of asic, fpga, not 'vlsi'$"):
        PrefixAdder(construct("ripple", 4), style="vlsi")
    with pytest.raises(TypeError, match=r"PrefixAdder graph must be a PrefixGraph, not str"):
        PrefixAdder("ripple")
    with pytest.raises(ConfigError, match=r"AdderConfig.width must be an integer in 1..1024, not 0"):
        make_adder(0)
    add = make_adder(16, "brent-kung", "asic", carry_in=True)
    assert add.graph.name == "brent-kung" and add.carry_in
    add._MustUse__used = True
