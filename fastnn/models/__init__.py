"""Models: ``Sequential`` and ``load_model`` (course, chapters 3 and 7), and
``set_nonfinite_policy``: what fit/evaluate/predict do with NaN or inf in the data."""
from .data import set_nonfinite_policy
from .saving import load_model
from .sequential import Sequential

__all__ = ["Sequential", "load_model", "set_nonfinite_policy"]
