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
