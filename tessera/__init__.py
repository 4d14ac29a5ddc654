"""Tessera: find, name and carve out small, openly licensed sound datasets."""

__version__ = "0.1.0"
