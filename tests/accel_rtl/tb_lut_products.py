"""cocotb: the :class:`~tests.accel_rtl.lutproducts.LutProducts` arrays against numpy.

Array ``a`` walks through all 256 x 256 int8 pairs (32 a cycle); arrays ``b`` and ``c`` get
random operands with their extremes mixed in. Every cycle a new operand set goes in, and the
sums ``latency`` cycles later are compared with ``wgt @ inp`` in int64."""
import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from hwgen.sim.runner import tb_param


def pack(values, width):
    """Signed ``values`` as one unsigned int, element 0 in the low bits."""
    out = 0
    for k, v in enumerate(np.asarray(values).ravel().tolist()):
        out |= (int(v) & ((1 << width) - 1)) << (k * width)
    return out


def unpack(raw, n, width):
    vals = [(raw >> (k * width)) & ((1 << width) - 1) for k in range(n)]
    return np.array([v - (1 << width) if v >> (width - 1) else v for v in vals], dtype=np.int64)


def operands(rng, shape, width, cycles):
    """``cycles`` random signed operand sets, a quarter of the elements at their extremes."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    v = rng.integers(lo, hi + 1, (cycles, *shape), dtype=np.int64)
    pick = rng.random((cycles, *shape))
    v[pick < 0.25] = rng.choice(np.array([lo, lo + 1, -1, 0, 1, hi]), (pick < 0.25).sum())
    return v


@cocotb.test()
async def products_match_numpy(dut):
    arrays = tb_param("arrays")
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 0
    rng = np.random.default_rng(tb_param("seed", 7))
    a = arrays["a"]
    # array a: all int8 pairs, x in the outer loop, 32 weights a cycle
    pairs = np.array([(x, w) for x in range(-128, 128) for w in range(-128, 128)], dtype=np.int64)
    cycles = len(pairs) // a["block_out"]
    stim = {"a": (pairs[:, 0].reshape(cycles, a["block_out"])[:, :1],
                  pairs[:, 1].reshape(cycles, a["block_out"], 1))}
    for k in ("b", "c"):
        p = arrays[k]
        stim[k] = (operands(rng, (p["batch"], p["block_in"]), p["input_width"], cycles),
                   operands(rng, (p["block_out"], p["block_in"]), p["weight_width"], cycles))
    want = {k: np.einsum("tbi,toi->tbo", x.reshape(cycles, arrays[k]["batch"], -1), w)
            for k, (x, w) in stim.items()}
    assert (stim["a"][0][:, 0, None] * stim["a"][1][:, :, 0] == want["a"][:, 0, :]).all()
    checked = {k: 0 for k in arrays}
    last = max(p["latency"] for p in arrays.values())
    for t in range(cycles + last):
        await FallingEdge(dut.clk)
        for k, p in arrays.items():
            j = t - p["latency"]
            n = p["batch"] * p["block_out"]
            if 0 <= j < cycles:
                got = unpack(int(getattr(dut, f"{k}_dot").value), n, p["dot_width"])
                exp = want[k][j].ravel()
                if not np.array_equal(got, exp):
                    x, w = stim[k][0][j], stim[k][1][j]
                    raise AssertionError(f"array {k}, cycle {j}: inp {x.tolist()} wgt {w.tolist()}"
                                         f" gave {got.tolist()}, numpy {exp.tolist()}")
                checked[k] += n
            if t < cycles:
                x, w = stim[k][0][t], stim[k][1][t]
                getattr(dut, f"{k}_inp").value = pack(x, p["input_width"])
                getattr(dut, f"{k}_wgt").value = pack(w, p["weight_width"])
    assert checked["a"] == 256 * 256
    assert checked["b"] == checked["c"] * 4 == cycles * 4
