"""Shared simulation helpers: the cocotb runner (``runner.py``) and testbench components.

Installed as ``hwgen.sim``; in a checkout it is the top-level ``sim/`` folder.
"""
