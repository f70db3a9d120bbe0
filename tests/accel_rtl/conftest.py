"""Fixtures for the accelerator RTL tests: the generated designs (built once per session)."""
from __future__ import annotations

import pytest

from hwgen.accel.presets import PRESETS


@pytest.fixture(scope="session")
def tiny_verilog(tmp_path_factory):
    from hwgen.accel.rtl import generate
    out = tmp_path_factory.mktemp("accel_tiny")
    return generate(PRESETS["tiny"], out / "v").verilog
