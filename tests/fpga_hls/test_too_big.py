"""A network too big for the HLS back end at any frame rate: `hwgen hls generate` says so in one
line and points at the accelerator, which compiles networks of any size (``hwgen accel compile``)."""
from __future__ import annotations

import re

import pytest

from hwgen.cli import main
from hwgen.errors import ConfigError
from hwgen.hls import perf
from hwgen.hls.config import HlsConfig
from hwgen.nn.models import build_model


def test_too_big_points_at_the_accelerator(tmp_path, capsys):
    out = tmp_path / "x"
    assert main(["hls", "generate", "--model", "resnet18", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and not out.exists()
    assert re.fullmatch(r"hwgen: error: resnet18 does not fit ultra96 at any frame rate: it needs at least 243 DSP "
                        r"and 5335 BRAM18 of 360 / 432; networks this size run on the accelerator: `hwgen accel "
                        r"compile --model resnet18 --out DIR`\n", err), err


def test_the_hint_names_the_configured_model(tmp_path):
    """A network file is named as the user gave it, quoted for the shell (accel compile takes the
    same --model)."""
    cfg = HlsConfig(model=str(tmp_path / "my net.json"), board="pynq-z2")
    with pytest.raises(ConfigError, match=r"^resnet18 does not fit pynq-z2 at any frame rate: .*; networks this "
                                          r"size run on the accelerator: `hwgen accel compile --model "
                                          rf"'{re.escape(str(tmp_path / 'my net.json'))}' --out DIR`$"):
        perf.plan(build_model("resnet18"), cfg)
