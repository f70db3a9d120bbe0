"""Named accelerator configurations (``--preset``).

- ``tiny``: 1x4x4, small buffers and 32-bit AXI: the fastest to simulate (directed and fuzz tests).
- ``default``: 1x16x16 int8 (256 MACs/cycle) with moderate buffers: the demo and the benchmark.
- ``pynq-z2``: 1x16x16 int8 with VTA-sized buffers (input 32 KiB, weight 256 KiB, accumulator
  128 KiB, micro-op 32 KiB) for the xc7z020.
- ``ultra96``: 1x16x32 int8 (512 MACs/cycle) for the xczu3eg (360 DSP, 216 BRAM36).
"""
from __future__ import annotations

from .config import AccelConfig

PRESETS: dict[str, AccelConfig] = {
    "tiny": AccelConfig(batch=1, block_in=4, block_out=4, inp_depth=128, wgt_depth=64,
                        acc_depth=128, uop_depth=256, insn_queue_depth=8, token_depth=8,
                        axi_data_width=32),
    "default": AccelConfig(),
    "pynq-z2": AccelConfig(batch=1, block_in=16, block_out=16, inp_depth=2048, wgt_depth=1024,
                           acc_depth=2048, uop_depth=4096),
    "ultra96": AccelConfig(batch=1, block_in=16, block_out=32, inp_depth=4096, wgt_depth=512,
                           acc_depth=2048, uop_depth=8192),
}


def get_preset(name: str) -> AccelConfig:
    """The preset called ``name``; an unknown name lists the valid ones."""
    from ..errors import ConfigError
    if name not in PRESETS:
        raise ConfigError(f"unknown accelerator preset {name!r}; valid presets: {', '.join(PRESETS)}")
    return PRESETS[name]
