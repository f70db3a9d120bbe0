"""The shared behaviour of every ``hwgen`` subcommand: flags, one-line errors, --debug, --out."""
from __future__ import annotations

import json

import pytest

from hwgen import toolchain
from hwgen.cli import _leaf_parsers, build_parser, main
from hwgen.errors import ConfigError
from hwgen.outdir import check_out_dir, command, staged_output


def _leaves():
    return {leaf.prog.removeprefix("hwgen "): leaf for leaf in _leaf_parsers(build_parser())}


def test_every_subcommand_takes_debug_and_json():
    leaves = _leaves()
    # every capability's actions are there (a capability whose cli.py broke would vanish)
    assert {"doctor", "demo", "adders generate", "adders explore", "accel generate", "linebuf generate",
            "dwconv generate", "hls generate", "hls csim"} <= set(leaves)
    for name, leaf in leaves.items():
        flags = leaf._option_string_actions
        assert "--debug" in flags, name
        if name != "demo":  # demo prints each capability's tables; it has no single result
            assert "--json" in flags, name


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["adders", "generate", "--arch", "ripple", "--width", "8", "--out", "x", "--frobnicate"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err == ("hwgen: error: unrecognized arguments: --frobnicate "
                   "(see `hwgen adders generate --help`)\n")
    with pytest.raises(SystemExit):
        main(["--frobnicate", "doctor"])
    assert capsys.readouterr().err == ("hwgen: error: unrecognized arguments: --frobnicate "
                                       "(see `hwgen doctor --help`)\n")


def test_debug_after_the_subcommand_shows_the_traceback(tmp_path, capsys):
    argv = ["adders", "generate", "--arch", "wallace", "--width", "8", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("hwgen: error: unknown adder architecture 'wallace'")
    with pytest.raises(ConfigError, match="unknown adder architecture 'wallace'"):
        main(argv + ["--debug"])
    with pytest.raises(ConfigError, match="unknown adder architecture 'wallace'"):
        main(["--debug"] + argv)


def test_demo_needs_out(tmp_path, capsys, monkeypatch):
    """Nothing is written into the current folder unless asked: demo's --out has no default."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["demo", "--quick"])
    assert e.value.code == 2
    assert capsys.readouterr().err == ("hwgen: error: the following arguments are required: --out "
                                       "(see `hwgen demo --help`)\n")
    assert list(tmp_path.iterdir()) == []


def test_out_that_is_a_file_is_refused_before_any_work(tmp_path, capsys):
    f = tmp_path / "f"
    f.write_text("a file")
    assert main(["demo", "--quick", "--out", str(f)]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # the demo did not start (it used to run doctor and the adders first)
    assert err == f"hwgen: error: --out must be a directory, but {f} is a file\n"
    assert main(["linebuf", "generate", "--out", str(f / "sub")]) == 2
    assert capsys.readouterr().err == f"hwgen: error: --out {f / 'sub'} cannot be created: {f} is a file\n"
    assert f.read_text() == "a file" and sorted(tmp_path.iterdir()) == [f]


def test_out_that_cannot_be_created_is_one_error(tmp_path):
    with pytest.raises(ConfigError, match=r"^--out /proc/hwgen-spine-test/x cannot be created: "):
        with staged_output("/proc/hwgen-spine-test/x"):
            pass
    assert check_out_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert list(tmp_path.iterdir()) == []  # checking creates nothing


def test_os_errors_are_one_line(monkeypatch, capsys):
    def unreadable():
        raise PermissionError(13, "Permission denied", "/some/input.json")
    monkeypatch.setattr(toolchain, "doctor_table", unreadable)
    assert main(["doctor"]) == 2
    assert capsys.readouterr().err == "hwgen: error: [Errno 13] Permission denied: '/some/input.json'\n"
    with pytest.raises(PermissionError):
        main(["doctor", "--debug"])


def test_keyboard_interrupt_leaves_nothing(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"

    def interrupted():
        with staged_output(out) as stage:
            (stage / "half.v").write_text("module")
            raise KeyboardInterrupt
    monkeypatch.setattr(toolchain, "doctor_table", interrupted)
    assert main(["doctor"]) == 130
    assert capsys.readouterr().err == "hwgen: interrupted\n"
    assert list(tmp_path.iterdir()) == []


def test_doctor_json(capsys):
    assert main(["doctor", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert [t["tool"] for t in res["tools"]] == list(toolchain.TOOLS)
    assert res["missing"] == [] and all(t["status"] == "ok" for t in res["tools"]
                                        if toolchain.TOOLS[t["tool"]].required)


@pytest.mark.parametrize("name", list(toolchain.TOOLS))
def test_each_missing_tool_is_named_with_its_install_command(name, monkeypatch, capsys):
    tool = toolchain.TOOLS[name]
    monkeypatch.setattr(toolchain, "_which", lambda *names: None)
    monkeypatch.setattr(toolchain, "verilator_bin_dir", lambda: None)
    monkeypatch.setattr(toolchain, "ap_types_dir", lambda: None)
    toolchain.find.cache_clear()
    toolchain.version.cache_clear()
    try:
        with pytest.raises(toolchain.ToolError) as e:
            toolchain.require(name)
        assert str(e.value) == f"{name} is not installed (needed for {tool.purpose}); install it with: {tool.install}"
        rows, missing = toolchain.doctor_table()
        assert (name, "MISSING" if tool.required else "missing (optional)", tool.install, tool.purpose) in rows
        assert (name in missing) == tool.required
        assert main(["doctor"]) == 1
        err = capsys.readouterr().err
        assert err == (f"missing required tools: {', '.join(missing)}; install with: "
                       + "; ".join(toolchain.TOOLS[m].install for m in missing) + "\n")
    finally:
        toolchain.find.cache_clear()
        toolchain.version.cache_clear()


def test_doctor_with_a_path_lacking_the_system_tools(tmp_path):
    """`hwgen doctor` run with a PATH that has no Icarus (nor g++, make, perl, tclsh) exits 1 and
    names them with their install commands; the tools that come from the venv stay found."""
    import os
    import subprocess
    import sys
    # HOME stays: the YoWASP tools keep their compiled WebAssembly under it
    env = {"PATH": str(tmp_path), "HOME": os.environ.get("HOME", str(tmp_path))}
    r = subprocess.run([sys.executable, "-m", "hwgen", "doctor"], capture_output=True, text=True,
                       env=env, cwd=tmp_path)
    assert r.returncode == 1
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[2:]}
    assert rows["iverilog"][1:5] == ["MISSING", "apt-get", "install", "-y"] and rows["iverilog"][5] == "iverilog"
    assert rows["g++"][1:6] == ["MISSING", "apt-get", "install", "-y", "g++"]
    assert rows["verilator"][1] == "ok" and rows["yosys"][1] == "ok"
    assert r.stderr == ("missing required tools: iverilog, perl, make, g++; install with: apt-get install -y "
                        "iverilog; apt-get install -y perl; apt-get install -y make; apt-get install -y g++\n")


def test_an_error_mid_elaboration_prints_one_line_only(tmp_path):
    """A design dropped half-built by an error or Ctrl-C gives no "created but never used" flood."""
    import subprocess
    import sys
    code = ("import sys\n"
            "from amaranth import Elaboratable, Module\n"
            "from hwgen import toolchain\n"
            "from hwgen.cli import main\n"
            "from hwgen.errors import ConfigError\n"
            "class Half(Elaboratable):\n"
            "    def elaborate(self, platform):\n"
            "        return Module()\n"
            "def failing():\n"
            "    parts = [Half() for _ in range(3)]\n"
            "    raise (KeyboardInterrupt if sys.argv[1] == 'int' else ConfigError)('bad width')\n"
            "from amaranth.hdl import Fragment\n"
            "Fragment.get(Half(), None)  # once a design was elaborated, Amaranth warns about unused ones\n"
            "toolchain.doctor_table = failing\n"
            "sys.exit(main(['doctor']))\n")
    for how, rc, line in (("err", 2, "hwgen: error: bad width\n"), ("int", 130, "hwgen: interrupted\n")):
        r = subprocess.run([sys.executable, "-c", code, how], capture_output=True, text=True, cwd=tmp_path)
        assert (r.returncode, r.stderr) == (rc, line)


def test_demo_stops_at_a_missing_tool(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(toolchain, "doctor_table", lambda: ([("iverilog", "MISSING", "x", "y")], ["iverilog"]))
    assert main(["demo", "--quick", "--out", str(tmp_path / "d")]) == 1
    out, err = capsys.readouterr()
    assert "== adders" not in out
    assert err == "missing required tools: iverilog; install with: apt-get install -y iverilog\n"
    assert list(tmp_path.iterdir()) == []


def test_json_output_keeps_numpy_numbers_numbers(capsys):
    import argparse
    from pathlib import Path

    import numpy as np

    from hwgen.cliutil import emit
    emit({"n": np.int64(5), "x": np.float32(0.5), "v": np.arange(3), "p": Path("a/b")},
         argparse.Namespace(json=True), str)
    assert json.loads(capsys.readouterr().out) == {"n": 5, "x": 0.5, "v": [0, 1, 2], "p": "a/b"}


def _names(d):
    return sorted(p.name for p in d.iterdir())


def test_a_reused_out_holds_what_the_last_run_wrote(tmp_path, capsys):
    """A second `generate` into the same --out removes the first's Verilog (it used to stay,
    beside a manifest that described the other adder); files hwgen did not write stay."""
    out = tmp_path / "o"
    assert main(["adders", "generate", "--arch", "kogge-stone", "--width", "8", "--out", str(out)]) == 0
    (out / "notes.txt").write_text("mine")
    assert main(["adders", "generate", "--arch", "brent-kung", "--width", "8", "--out", str(out)]) == 0
    assert _names(out) == [".hwgen-outputs.json", "graph.json", "hwgen_adder_brent_kung_8_asic.v",
                           "manifest.json", "notes.txt"]
    assert json.loads((out / ".hwgen-outputs.json").read_text()) == {
        "adders generate": ["graph.json", "hwgen_adder_brent_kung_8_asic.v", "manifest.json"]}
    # another command's files are left alone; a name it writes again becomes its own
    assert main(["linebuf", "generate", "--out", str(out)]) == 0
    rec = json.loads((out / ".hwgen-outputs.json").read_text())
    assert "manifest.json" in rec["linebuf generate"]
    assert rec["adders generate"] == ["graph.json", "hwgen_adder_brent_kung_8_asic.v"]
    assert (out / "hwgen_adder_brent_kung_8_asic.v").exists() and (out / "notes.txt").exists()
    # a failed run changes nothing
    assert main(["adders", "generate", "--arch", "wallace", "--width", "8", "--out", str(out)]) == 2
    assert json.loads((out / ".hwgen-outputs.json").read_text()) == rec
    capsys.readouterr()


def test_one_run_writing_a_folder_in_steps_keeps_every_step(tmp_path):
    out = tmp_path / "o"
    (tmp_path / "o").mkdir()
    with command("demo"):
        with staged_output(out) as st:
            (st / "a.v").write_text("a")
        with staged_output(out) as st:
            (st / "b.v").write_text("b")
    assert _names(out) == [".hwgen-outputs.json", "a.v", "b.v"]
    with command("demo"):
        with staged_output(out) as st:
            (st / "b.v").write_text("b2")
    assert _names(out) == [".hwgen-outputs.json", "b.v"]
    # outside a command (the Python API) nothing is removed or recorded
    with staged_output(out) as st:
        (st / "c.v").write_text("c")
    assert _names(out) == [".hwgen-outputs.json", "b.v", "c.v"]
    assert json.loads((out / ".hwgen-outputs.json").read_text()) == {"demo": ["b.v"]}


def test_a_damaged_record_removes_nothing(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.v").write_text("k")
    for text in ("not json", '["keep.v"]', '{"demo": ["../x", "/etc", "keep.v/.."]}'):
        (out / ".hwgen-outputs.json").write_text(text)
        with command("demo"):
            with staged_output(out) as st:
                (st / "new.v").write_text("n")
        assert _names(out) == [".hwgen-outputs.json", "keep.v", "new.v"]
    (tmp_path / "x").write_text("outside")
    assert (tmp_path / "x").exists()


def test_a_folder_written_inside_a_staging_folder_keeps_no_record(tmp_path):
    """`accel project` writes rtl/ with `generate`, itself staged: the record is --out's only."""
    out = tmp_path / "o"
    with command("accel project"):
        with staged_output(out) as st:
            with staged_output(st / "rtl") as inner:
                (inner / "a.v").write_text("a")
            (st / "build.tcl").write_text("t")
    assert _names(out) == [".hwgen-outputs.json", "build.tcl", "rtl"]
    assert _names(out / "rtl") == ["a.v"]
    assert json.loads((out / ".hwgen-outputs.json").read_text()) == {"accel project": ["build.tcl", "rtl"]}
