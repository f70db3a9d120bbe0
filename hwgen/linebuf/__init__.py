"""Line buffers and the streaming depthwise-convolution engine.

``model`` holds the one sliding-window definition (shared with the HLS emitter) and the golden
models of the engine; ``config`` the generation-time choices; ``rtl`` the Amaranth components.
"""
from .config import DepthwiseConfig, LineBufferConfig
from .model import depthwise_reference, emission_steps, frame_cycles, windows

__all__ = ["LineBufferConfig", "DepthwiseConfig", "windows", "emission_steps", "frame_cycles",
           "depthwise_reference", "LineBuffer", "DepthwiseConv"]


def __getattr__(name):
    # The Amaranth generators load lazily, so importing the model never needs amaranth.
    if name in ("LineBuffer", "DepthwiseConv"):
        from . import rtl
        return getattr(rtl, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
