"""HLS emitter: a network -> Vivado/Vitis-HLS C++ dataflow design with a bit-exact C simulation."""
from .config import HlsConfig
from .presets import BOARDS, PRESETS, Board

__all__ = ["HlsConfig", "BOARDS", "PRESETS", "Board"]
