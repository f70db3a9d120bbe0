"""Named line-buffer and depthwise-engine configurations (``--preset``).

- ``default``: K=3, stride 1, same padding, up to 320 x 320, 32 channels of 8 bits (the bench's
  line buffer); the depthwise engine computes 8 channels per cycle.
- ``tiny``: K=3 same padding, up to 16 x 16, 4 channels: fast to simulate.
"""
from __future__ import annotations

from .config import DepthwiseConfig, LineBufferConfig

LINEBUF_PRESETS: dict[str, LineBufferConfig] = {
    "default": LineBufferConfig(),
    "tiny": LineBufferConfig(max_width=16, max_height=16, channels=4),
}

DWCONV_PRESETS: dict[str, DepthwiseConfig] = {
    "default": DepthwiseConfig(),
    "tiny": DepthwiseConfig(max_width=16, max_height=16, channels=4, channels_per_cycle=2),
}
