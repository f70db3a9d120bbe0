"""The accelerator runtime: devices with one interface (``FsimDevice``, ``PynqDevice``, and
``hwgen.runtime.rtl_device.RtlDevice`` for RTL simulation), DRAM buffers, the ``Program`` builder
the tiled ``matmul`` and ``conv2d``. Imports neither amaranth nor jinja2, so it runs on a board's Python.
"""
from .conv import ConvResult, conv2d, conv_reference
from .device import Buffer, Device, DeviceRunError, RegisterDevice, diagnose
from .fsim import FsimDevice
from .matmul import MatmulResult, Tiling, matmul, plan_tiling, reference
from .program import Kernel, Program
from .pynq import PynqDevice

__all__ = ["ConvResult", "conv2d", "conv_reference", "Buffer", "Device", "DeviceRunError", "RegisterDevice", "diagnose", "FsimDevice",
           "MatmulResult", "Tiling", "matmul", "plan_tiling", "reference", "Kernel", "Program",
           "PynqDevice"]
