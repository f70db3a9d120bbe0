"""The shared behaviour of every ``hwgen`` subcommand: flags, one-line errors, --debug, --out."""
from __future__ import annotations

import json

import pytest

from hwgen import toolchain
from hwgen.cli import _leaf_parsers, build_parser, main
from hwgen.errors import ConfigError
from hwgen.outdir import check_out_dir, staged_output


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
                   "(see `hwgen --help`)\n")


def test_debug_after_the_subcommand_shows_the_traceback(tmp_path, capsys):
    argv = ["adders", "generate", "--arch", "wallace", "--width", "8", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("hwgen: error: unknown adder architecture 'wallace'")
    with pytest.raises(ConfigError, match="unknown adder architecture 'wallace'"):
        main(argv + ["--debug"])
    with pytest.raises(ConfigError, match="unknown adder architecture 'wallace'"):
        main(["--debug"] + argv)


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
