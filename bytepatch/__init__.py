"""bytepatch: tokenizer-free byte patching, BLT style."""

from bytepatch._version import __version__

__all__ = ["__version__"]
