"""The Makefile's system-package check (.ci/system-deps.sh), run as a non-root user would see it."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / ".ci" / "system-deps.sh"


def _run(path: str, tmp_path: Path, python: str = sys.executable) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/bash", str(SCRIPT)], capture_output=True, text=True, cwd=tmp_path,
                          env={"PATH": path, "PYTHON": python, "HOME": str(tmp_path)})


def test_names_the_missing_packages_and_the_command_when_not_root(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "id").write_text("#!/bin/sh\necho 1000\n")  # not root: nothing may be installed
    (fake / "id").chmod(0o755)
    r = _run(str(fake), tmp_path)
    assert r.returncode == 1 and r.stdout == ""
    need = "iverilog berkeley-abc g++ make tcl perl"
    assert r.stderr == (f"hwgen needs system packages: {need}\n"
                        f"run as root: apt-get update && apt-get install -y {need}\n")
    # a machine without Python gets it with its venv module (libpython is checked once it is there)
    r = _run(str(fake), tmp_path, python="python3")
    need += " python3 python3-venv"
    assert r.returncode == 1 and r.stderr.splitlines()[1] == f"run as root: apt-get update && apt-get install -y {need}"


def test_quiet_when_nothing_is_missing(tmp_path):
    """On this machine (as on CI after the first run) everything is there: no output, exit 0, so
    running it before every `make venv/test/demo` costs nothing."""
    r = _run(os.environ["PATH"], tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert shutil.which("iverilog") and shutil.which("berkeley-abc")
