"""Yiwang (一网): one data backbone for a province's digital government."""

__version__ = "0.1.0"
