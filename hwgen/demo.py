"""``hwgen demo``: the main job on built-in defaults. Runs ``hwgen doctor``, then each capability's
``demo.run(out_dir, quick)`` in turn (``hwgen/<capability>/demo.py``), each into its own folder.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from .cli import CAPABILITIES, capability_module


def run_demo(out: str | Path, quick: bool = False) -> int:
    from . import toolchain
    from .cliutil import table
    out = Path(out)
    rows, missing = toolchain.doctor_table()
    print("== hwgen doctor")
    print(table(rows, toolchain.DOCTOR_HEADERS))
    if missing:
        print(toolchain.missing_line(missing), file=sys.stderr)
        return 1
    for cap in CAPABILITIES:
        mod = capability_module(cap, "demo")
        if mod is None:
            continue
        t0 = time.monotonic()
        print(f"\n== {cap} (into {out / cap})")
        mod.run(out / cap, quick=quick)
        print(f"-- {cap} done in {time.monotonic() - t0:.1f} s")
    print(f"\ndemo outputs are under {out}")
    return 0
