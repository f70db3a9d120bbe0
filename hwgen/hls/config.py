"""What can be chosen for an HLS design: the network, the board, the target frame rate and clock,
the integer widths, the weights, and optional per-layer parallelism."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..configbase import check_choice, check_int, check_type
from ..errors import ConfigError

BOARD_NAMES = ("pynq-z2", "ultra96", "ultra96v2", "kv260", "zcu104")
_PAR = re.compile(r"^([A-Za-z_]\w*)=(\d+)x(\d+)$")


@dataclass(frozen=True, kw_only=True)
class HlsConfig:
    """Configuration of one generated HLS design.

    Attributes
    ----------
    model : str
        Built-in model name (:data:`hwgen.nn.models.MODEL_NAMES`: ``skynet``, ``mbv2-det``, ...) or a
        network JSON file.
    board : str
        Target board (resources and part), one of :data:`BOARD_NAMES`.
    fps, clock_mhz : float
        Target frame rate and clock; the parallelism model picks PE x SIMD per layer to reach it.
    act_width, weight_width : int
        Signed activation and weight widths (2..16).
    multiplier_width : int
        Signed width of the per-channel requantization multipliers (8..32).
    seed : int
        Seed of the random weights (and calibration images) when ``weights`` is empty.
    weights : str
        Optional ``.npz`` of float weights (see :func:`hwgen.nn.models.load_params`).
    calibration : str
        Optional ``.npy``/``.npz`` of float calibration images ``[N, H, W, C]`` (real units) for the
        activation scales; synthetic images from the seed when empty.
    parallelism : tuple of str
        Per-layer overrides ``"layer=PExSIMD"`` (e.g. ``"b5_pw=8x4"``).
    quant : str
        Optional quantized network ``.npz`` (:func:`hwgen.nn.quantize.save_quant`, e.g. the
        ``quant.npz`` of ``hwgen accel compile``) used as it is instead of quantizing ``weights``:
        both back ends then compute the same integers. Its network must be ``model`` and its widths
        ``act_width`` and ``weight_width``.
    """
    model: str = "skynet-tiny"
    board: str = "ultra96"
    fps: float = 25.0
    clock_mhz: float = 200.0
    act_width: int = 8
    weight_width: int = 8
    multiplier_width: int = 16
    seed: int = 0
    weights: str = ""
    calibration: str = ""
    parallelism: tuple[str, ...] = ()
    quant: str = ""

    def __post_init__(self):
        o = "HlsConfig"
        check_type(o, "model", self.model, str)
        check_choice(o, "board", self.board, BOARD_NAMES)
        for f in ("fps", "clock_mhz"):
            v = getattr(self, f)
            check_type(o, f, v, (int, float))
            if not (math.isfinite(v) and v > 0):
                raise ConfigError(f"{o}.{f} must be a positive number, not {v}")
        if self.clock_mhz > 1000:
            raise ConfigError(f"{o}.clock_mhz must be at most 1000, not {self.clock_mhz}")
        check_int(o, "act_width", self.act_width, 2, 16)
        check_int(o, "weight_width", self.weight_width, 2, 16)
        check_int(o, "multiplier_width", self.multiplier_width, 8, 32)
        check_int(o, "seed", self.seed, 0)
        check_type(o, "weights", self.weights, str)
        check_type(o, "calibration", self.calibration, str)
        check_type(o, "quant", self.quant, str)
        if self.quant and (self.weights or self.calibration):
            raise ConfigError(f"{o}.quant gives the whole quantized network; leave weights and "
                              f"calibration empty, not {self.weights or self.calibration!r}")
        object.__setattr__(self, "parallelism", tuple(self.parallelism))
        for item in self.parallelism:
            if not isinstance(item, str) or not _PAR.match(item):
                raise ConfigError(f"{o}.parallelism entries must look like layer=PExSIMD (e.g. b5_pw=8x4), "
                                  f"not {item!r}")

    @property
    def overrides(self) -> dict[str, tuple[int, int]]:
        out = {}
        for item in self.parallelism:
            m = _PAR.match(item)
            out[m.group(1)] = (int(m.group(2)), int(m.group(3)))
        return out

    @property
    def model_id(self) -> str:
        stem = self.model.rsplit("/", 1)[-1].removesuffix(".json").removesuffix(".onnx")
        return re.sub(r"\W", "_", stem.replace("-", "_"))

    @property
    def slug(self) -> str:
        """``<model>_<board>_a<A>w<W>_<fps>fps_<clock>mhz`` (a C identifier)."""
        def num(v: float) -> str:
            return f"{v:g}".replace(".", "p")
        board = self.board.replace("-", "")
        return (f"{self.model_id}_{board}_a{self.act_width}w{self.weight_width}_"
                f"{num(self.fps)}fps_{num(self.clock_mhz)}mhz")
