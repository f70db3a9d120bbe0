"""Error types shared by every hwgen capability.

Messages say what is wrong, the constraint, and the value, on one line, e.g.
``AccelConfig.block_in must be a power of two in 2..64, not 12``.
"""


class HwgenError(Exception):
    """Base of every error hwgen raises on purpose; the CLI prints these as one line."""


class ConfigError(HwgenError, ValueError):
    """A configuration value is out of range or inconsistent."""


class ModelError(HwgenError, ValueError):
    """A network description is malformed (unknown layer, shapes that do not chain, ...)."""


class ProgramError(HwgenError, ValueError):
    """An accelerator program is malformed or failed on a device."""


class GraphError(HwgenError, ValueError):
    """A prefix graph is invalid (an output does not cover all lower bits, ...)."""


class ToolError(HwgenError, RuntimeError):
    """An external tool (simulator, Yosys, compiler) is missing or failed."""


class DeviceError(HwgenError, RuntimeError):
    """A device (simulator, RTL, board) reported an error code or timed out."""
