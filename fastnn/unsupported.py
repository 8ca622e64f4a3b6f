"""tf.keras 2 names that fastnn does not have, each with the fastnn way to do the same.

Code written for tf.keras 2 reaches for names such as ``TensorBoard``,
``plot_model`` or ``model.fit_generator``.  Instead of a bare ImportError or
AttributeError, fastnn answers with what to use instead:

- names one imports (``from fastnn.callbacks import TensorBoard``) are
  ``unsupported(...)`` stand-ins: importing works, using them raises
  NotImplementedError with the advice (so one unsupported name in a long
  import line does not hide the others);
- attributes of a model (``model.fit_generator``) raise AttributeError with
  the advice (``Sequential.__getattr__`` looks them up in ``MODEL_ATTRIBUTES``).

docs/keras-compatibility.md lists every decision.
"""

#: What fastnn says where tf.keras 2 code hands it a generator.
ARRAYS = ("fastnn trains on arrays: load the data into NumPy arrays and call "
          "model.fit(x, y, batch_size=...) (for augmentation, put Random* layers such as "
          "RandomFlip first in the model, chapter 17)")
_NO_TENSORS = ("fastnn has no symbolic tensors: model.input_shape and model.output_shape give "
               "the shapes; for the outputs of layer k (feature maps), run the layers up to it: "
               "Sequential(model.layers[:k + 1]).predict(x)")

MODEL_ATTRIBUTES = {
    "fit_generator": ARRAYS,
    "evaluate_generator": ARRAYS.replace("model.fit(x, y, batch_size=...)",
                                          "model.evaluate(x, y)"),
    "predict_generator": ARRAYS.replace("model.fit(x, y, batch_size=...)", "model.predict(x)"),
    "inputs": _NO_TENSORS, "outputs": _NO_TENSORS, "input": _NO_TENSORS, "output": _NO_TENSORS,
    "to_yaml": "tf.keras 2.6 removed YAML (loading it could run code); use model.to_json()",
}


def unsupported(name, advice, module):
    """A stand-in for the tf.keras 2 class or function ``name``: calling it,
    or subclassing it, raises NotImplementedError with ``advice``."""
    message = f"{name} is not part of fastnn: {advice}"

    class Unsupported:
        def __init__(self, *args, **kwargs):
            raise NotImplementedError(message)

        def __init_subclass__(cls, **kwargs):
            raise NotImplementedError(message)

    Unsupported.__name__ = Unsupported.__qualname__ = name
    Unsupported.__module__ = module
    Unsupported.__doc__ = f"Not part of fastnn: {advice}."
    return Unsupported


def attribute_error(owner, name, advice):
    """The AttributeError for ``owner``'s missing attribute ``name`` (owner as
    Python words it: "'Sequential' object", "module 'fastnn.backend'"), with
    ``advice`` when fastnn has some."""
    return AttributeError(f"{owner} has no attribute {name!r}" + (f": {advice}" if advice else ""))
