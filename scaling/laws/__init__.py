"""Scaling-law functional forms (data plus `predict`) and the published presets."""

from scaling.laws.base import Law
from scaling.laws.registry import LAWS, get_law

__all__ = ["LAWS", "Law", "get_law"]
