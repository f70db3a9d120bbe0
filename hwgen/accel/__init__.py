"""The GEMM accelerator: configuration (:mod:`.config`, :mod:`.presets`), the one instruction-set
and register-map definition (:mod:`.isa`), the bit-exact functional simulator (:mod:`.model`) and,
in :mod:`.rtl`, the Amaranth hardware. Importing this package does not import amaranth.
"""
from .config import AccelConfig
from .presets import PRESETS, get_preset
from .resources import Resources, estimate

__all__ = ["AccelConfig", "PRESETS", "Resources", "estimate", "get_preset"]
