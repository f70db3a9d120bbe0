"""Shared pytest fixtures for hwgen's suite."""
from __future__ import annotations

import os

import pytest

from hwgen import toolchain

SIMULATORS = ("icarus", "verilator")


def _have(sim: str) -> bool:
    return toolchain.find("iverilog" if sim == "icarus" else "verilator") is not None


@pytest.fixture(params=SIMULATORS)
def simulator(request) -> str:
    """Each cocotb test runs once per simulator; a missing simulator fails (CI installs both)."""
    sim = request.param
    if not _have(sim) and os.environ.get("HWGEN_ALLOW_MISSING_TOOLS"):
        pytest.skip(f"{sim} not installed")
    return sim


def pytest_configure(config):
    toolchain.prepare_sim_environ()
