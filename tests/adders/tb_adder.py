"""cocotb test of the adder bank: random vectors and corner cases (zero, all ones, full carry
propagation) on every unit against the model ``a + b + ci``."""
from __future__ import annotations

import random

import cocotb
from cocotb.triggers import Timer

from hwgen.adders.model import add_model
from hwgen.sim.runner import tb_param


def _corners(w: int):
    ones = (1 << w) - 1
    alt = int("10" * w, 2) & ones
    return [(0, 0, 0), (ones, 0, 1), (ones, 1, 0), (ones, ones, 1), (ones, ones, 0), (alt, alt >> 1, 1),
            (alt, ~alt & ones, 1), (1 << (w - 1), 1 << (w - 1), 0), (ones >> 1, 1, 0)]


@cocotb.test()
async def bank_adds(dut):
    units = tb_param("units")
    n_random = int(tb_param("n_random", 200))
    rng = random.Random(tb_param("seed", 1))
    checked = 0
    for p, w, has_ci in units:
        a_sig, b_sig = getattr(dut, f"{p}_a"), getattr(dut, f"{p}_b")
        s_sig, co_sig = getattr(dut, f"{p}_s"), getattr(dut, f"{p}_co")
        ci_sig = getattr(dut, f"{p}_ci") if has_ci else None
        assert len(a_sig) == w and len(s_sig) == w
        vectors = _corners(w) + [(rng.getrandbits(w), rng.getrandbits(w), rng.getrandbits(1))
                                 for _ in range(n_random)]
        for a, b, ci in vectors:
            ci = ci if has_ci else 0
            a_sig.value, b_sig.value = a, b
            if has_ci:
                ci_sig.value = ci
            await Timer(1, unit="ns")
            s, co = add_model(a, b, ci, w)
            got_s, got_co = int(s_sig.value), int(co_sig.value)
            assert (got_s, got_co) == (s, co), \
                f"{p} ({w} bits): {a:#x} + {b:#x} + {ci} gave s={got_s:#x} co={got_co}, want s={s:#x} co={co}"
            checked += 1
    # every unit got its corner cases and random vectors (an empty bank does not pass)
    assert units and checked == sum(len(_corners(w)) + n_random for _p, w, _ci in units), checked
    dut._log.info("checked %d vectors", checked)
