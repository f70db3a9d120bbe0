"""sim/runner: the build cache, parallel builds, waveforms and how failures read."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hwgen import toolchain
from hwgen.export import export_verilog
from hwgen.sim import runner

from .design import TinyAdder, TinyConfig

REPO = Path(__file__).resolve().parents[2]
TOP = "hwgen_tiny_w9"


@pytest.fixture
def tiny9(tmp_path) -> Path:
    """The same design as test_spine's runner test, so the cached model is shared."""
    cfg = TinyConfig(width=9)
    return export_verilog(TinyAdder(cfg), tmp_path / "v", kind="tiny", slug=cfg.slug, config=cfg).verilog


def _model(bdir: Path, simulator: str) -> Path:
    return bdir / ("sim.vvp" if simulator == "icarus" else TOP)


def test_second_run_does_not_rebuild(tiny9, tmp_path, simulator):
    runner.run([tiny9], TOP, "tests.spine.tb_tiny", simulator, test_dir=tmp_path / "s1", params={"width": 9})
    bdir = runner.build([tiny9], TOP, simulator)
    before = {p: p.stat().st_mtime_ns for p in (bdir / ".hwgen-built", _model(bdir, simulator))}
    # A fresh copy of the same text elsewhere is the same design.
    copy = tmp_path / "copy" / tiny9.name
    copy.parent.mkdir()
    copy.write_bytes(tiny9.read_bytes())
    res = runner.run([copy], TOP, "tests.spine.tb_tiny", simulator, test_dir=tmp_path / "s2", params={"width": 9})
    assert res.ok and res.tests == 1
    assert runner.build([copy], TOP, simulator) == bdir
    assert {p: p.stat().st_mtime_ns for p in before} == before
    if simulator == "verilator":  # the build's intermediates are gone, the model still runs
        assert not [p for p in bdir.iterdir() if p.suffix in (".gch", ".o", ".a")]


def test_cache_key_names_the_simulator_and_cocotb_install(tiny9, monkeypatch):
    """A Verilator model links the cocotb libraries of the venv that built it: a model built by
    another venv (or another Verilator) must not be reused."""
    from cocotb_tools import config
    args = ([tiny9], "verilator", [], {}, False, TOP)
    key = runner._digest(*args)
    assert runner._digest(*args) == key
    monkeypatch.setattr(config, "libs_dir", Path("/elsewhere/venv/cocotb/libs"))
    assert runner._digest(*args) != key
    monkeypatch.undo()
    monkeypatch.setattr(toolchain, "find", lambda name: ["/opt/other/verilator"])
    assert runner._digest(*args) != key


def test_parallel_builds_of_one_design_build_once(tiny9, tmp_path):
    """Two processes (two xdist workers) asking for the same model at once: one builds, the other
    waits for it and reuses it."""
    code = textwrap.dedent(f"""
        import sys
        from cocotb_tools import runner as cr
        from hwgen.sim import runner
        real = cr.Icarus.build
        def counting(self, *a, **k):
            print("BUILT", flush=True)
            return real(self, *a, **k)
        cr.Icarus.build = counting
        print(runner.build([{str(tiny9)!r}], {TOP!r}, "icarus"))
    """)
    env = {**__import__("os").environ, "HWGEN_SIM_CACHE": str(tmp_path / "cache")}
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env, cwd=REPO) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    lines = [o[0].split() for o in outs]
    assert sum(ln.count("BUILT") for ln in lines) == 1
    assert lines[0][-1] == lines[1][-1] and Path(lines[0][-1], ".hwgen-built").exists()


def test_waves_go_to_the_test_dir(tiny9, tmp_path, simulator, monkeypatch):
    monkeypatch.setenv("WAVES", "1")
    res = runner.run([tiny9], TOP, "tests.spine.tb_tiny", simulator, test_dir=tmp_path / "sim",
                     params={"width": 9})
    assert res.ok
    assert res.waves == tmp_path / "sim" / (f"{TOP}.fst" if simulator == "icarus" else "dump.vcd")
    assert res.waves.stat().st_size > 500
    if simulator == "verilator":
        assert "$var wire 9 " in res.waves.read_text() and " a [8:0] $end" in res.waves.read_text()
    bdir = runner.build([tiny9], TOP, simulator)
    assert not list(bdir.glob("*.fst")) and not list(bdir.glob("*.vcd"))  # nothing in the shared cache


def test_failures_carry_the_cocotb_message(tiny9, tmp_path):
    with pytest.raises(AssertionError, match=r"(?s)tb_tiny on icarus: 1 of 1 tests failed .*assert 9 == 8"):
        runner.run([tiny9], TOP, "tests.spine.tb_tiny", "icarus", test_dir=tmp_path / "a", params={"width": 8})
    with pytest.raises(AssertionError, match=r"(?s)tb_nosuch on icarus: no test ran .*"
                                             r"No module named 'tests.spine.tb_nosuch'"):
        runner.run([tiny9], TOP, "tests.spine.tb_nosuch", "icarus", test_dir=tmp_path / "b")
    with pytest.raises(AssertionError, match=r"tb_tiny on icarus: no test ran"):
        runner.run([tiny9], TOP, "tests.spine.tb_tiny", "icarus", test_dir=tmp_path / "c",
                   params={"width": 9}, testcase="nosuch")
    with pytest.raises(ValueError, match="^simulator must be one of icarus, verilator, not 'vcs'$"):
        runner.run([tiny9], TOP, "tests.spine.tb_tiny", "vcs")


def test_prune_deletes_least_recently_used_models_first(tmp_path, monkeypatch):
    import os
    import time
    monkeypatch.setenv("HWGEN_SIM_CACHE", str(tmp_path))
    now = time.time()

    def entry(name, kib, age_s, built=True):
        d = tmp_path / name
        d.mkdir()
        (d / "model").write_bytes(b"x" * (kib * 1024))
        if built:
            (d / ".hwgen-built").write_text("{}")
        os.utime(d, (now - age_s, now - age_s))
        return d
    old, older, oldest = entry("a", 100, 7200), entry("b", 100, 9000), entry("c", 100, 10000)
    recent = entry("d", 500, 60)  # in use by another run a minute ago: never deleted
    building = entry("e", 100, 90000, built=False)  # a build in progress (no stamp yet)
    assert runner.prune(limit_bytes=700 * 1024) == [oldest, older]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "d", "e"]
    assert runner.prune(limit_bytes=0) == [old]  # only what is unused for an hour
    assert recent.exists() and building.exists()
    monkeypatch.setenv("HWGEN_SIM_CACHE_GB", "lots")
    with pytest.raises(ValueError, match="^HWGEN_SIM_CACHE_GB must be a number of gigabytes, not 'lots'$"):
        runner.prune()


def test_reuse_marks_the_model_used(tiny9, tmp_path):
    import os
    bdir = runner.build([tiny9], TOP, "icarus")
    os.utime(bdir, (1, 1))
    assert runner.build([tiny9], TOP, "icarus") == bdir
    assert bdir.stat().st_mtime > 1e9
