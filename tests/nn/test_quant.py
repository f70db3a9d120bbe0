"""hwgen.nn.quant: the one requantization every back end and golden model uses."""
import numpy as np
import pytest

from hwgen.errors import ModelError
from hwgen.nn.quant import requantize


def test_requantize_rounds_half_up_and_clamps():
    acc = np.array([[5, -5, 6, 1000, -1000]])
    # (acc + 1) * 3 >> 2 with round half up: 18/4=4.5->5, -12/4=-3, 21/4=5.25->5, clamp, clamp
    assert requantize(acc, 1, 3, 2, -100, 100).tolist() == [[5, -3, 5, 100, -100]]


def test_requantize_at_the_int64_edge():
    # |acc + bias| x |multiplier| + rounding just below 2**63 is exact ...
    acc = np.array([(1 << 47) - 1])
    assert requantize(acc, 0, (1 << 15), 62, -128, 127).tolist() == [1]
    # ... and one past it is refused instead of wrapping
    with pytest.raises(ModelError, match=r"requantize: \(acc \+ bias\) x multiplier \+ rounding must fit "
                                         r"int64, not 65 bits \(\|acc \+ bias\| up to 140737488355328, "
                                         r"\|multiplier\| up to 65536\)"):
        requantize(np.array([1 << 47]), 0, 1 << 16, 1, -128, 127)


def test_round_shift_and_requantize_against_exact_fractions():
    """Independent of the shift-and-add formula: round half up is floor(x / 2**s + 1/2), computed
    on exact fractions, then clamped."""
    from fractions import Fraction
    from math import floor

    from hwgen.nn.quant import round_shift
    rng = np.random.default_rng(5)
    x = rng.integers(-(1 << 40), 1 << 40, 400)
    x[:6] = [-3, -2, -1, 1, 2, 3]                      # exact halves at shift 1 and 2
    s = rng.integers(0, 24, 400)
    s[:6] = [1, 1, 1, 1, 2, 2]
    want = [floor(Fraction(int(v), 1 << int(k)) + (Fraction(1, 2) if k else 0)) for v, k in zip(x, s)]
    assert round_shift(x, s).tolist() == want
    acc = rng.integers(-(1 << 20), 1 << 20, (50, 4))
    bias, mult, shift = rng.integers(-1000, 1000, 4), rng.integers(-(1 << 15), 1 << 15, 4), rng.integers(0, 30, 4)
    want = [[min(100, max(-90, floor(Fraction((int(a) + int(b)) * int(m), 1 << int(k))
                                      + (Fraction(1, 2) if k else 0))))
             for a, b, m, k in zip(row, bias, mult, shift)] for row in acc]
    assert requantize(acc, bias, mult, shift, -90, 100).tolist() == want
