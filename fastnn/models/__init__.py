"""Models: ``Sequential`` and ``load_model`` (course, chapters 3 and 7),
``model_from_json`` / ``model_from_config`` / ``clone_model`` (an architecture
without its weights, see ``config``; these four live in ``rebuild``), and
``set_nonfinite_policy``: what fit/evaluate/predict do with NaN or inf in
the data."""
from .data import set_nonfinite_policy
from .rebuild import clone_model, load_model, model_from_config, model_from_json
from .sequential import Sequential

__all__ = ["Sequential", "clone_model", "load_model", "model_from_config", "model_from_json",
           "set_nonfinite_policy"]
