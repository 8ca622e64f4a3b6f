"""Models: ``Sequential`` and ``load_model`` (course, chapters 3 and 7),
``model_from_json`` / ``model_from_config`` / ``clone_model`` (an architecture
without its weights, see ``config``), and ``set_nonfinite_policy``: what
fit/evaluate/predict do with NaN or inf in the data."""
from .config import clone_model, model_from_config, model_from_json
from .data import set_nonfinite_policy
from .saving import load_model
from .sequential import Sequential

__all__ = ["Sequential", "clone_model", "load_model", "model_from_config", "model_from_json",
           "set_nonfinite_policy"]
