"""hwgen: DNN hardware design automation."""
__version__ = "0.1.0"
