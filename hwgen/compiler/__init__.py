"""The accelerator compiler: a quantized network (:mod:`hwgen.nn`) -> the accelerator's microcode
(:class:`hwgen.runtime.network.CompiledNetwork`), run by :class:`hwgen.runtime.network.NetworkRunner`.
Imports neither amaranth nor jinja2."""
from .compile import compile_network
from .quant import check_accumulator, fit_accumulator

__all__ = ["compile_network", "check_accumulator", "fit_accumulator"]
