"""Models: ``Sequential`` and ``load_model`` (course, chapters 3 and 7)."""
from .saving import load_model
from .sequential import Sequential

__all__ = ["Sequential", "load_model"]
