"""Scaling-law functional forms (data plus `predict`), the presets, and the one fitting engine."""

from scaling.laws.base import LAWS, Law, get_law

__all__ = ["LAWS", "Law", "get_law"]
