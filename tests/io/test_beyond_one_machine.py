"""README, "Beyond one machine": its three code blocks run as they stand.

The first (fastnn saves and exports a model) runs here; the second (Keras 3
loads the .keras file and trains with the distribution API) in a Keras 3
process on JAX; the third (onnxruntime serves the ONNX file) here again,
and its probabilities must be fastnn's predictions.  The blocks use the
names a reader has: ``model`` (a trained fastnn model), ``x_train``,
``y_train``, ``x_test``; the test gives them small values.
"""
import importlib.util
import pathlib
import re

import numpy as np
import pytest

from fastnn import layers
from fastnn.models import Sequential
from keras_worker import KerasWorker

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"

for module in ("h5py", "keras", "jax", "onnx", "onnxruntime"):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"the README's example needs {module} (pip install fastnn[test] installs it)",
                    allow_module_level=True)


def readme_blocks():
    """The ```python blocks of the README's section "Beyond one machine"."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Beyond one machine", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_readme_shows_three_blocks_the_tests_run():
    save, keras_fit, serve = readme_blocks()
    assert 'model.save("fashion.keras")' in save and "export(" in save
    assert "DataParallel" in keras_fit and "load_model" in keras_fit
    assert "InferenceSession" in serve


def test_the_readme_example_runs(tmp_path, monkeypatch):
    save, keras_fit, serve = readme_blocks()
    rng = np.random.default_rng(0)
    x_train = rng.random((64, 28, 28, 1), dtype=np.float32)
    y_train = rng.integers(0, 10, 64)
    x_test = rng.random((5, 28, 28, 1), dtype=np.float32)
    model = Sequential([layers.Conv2D(4, 3, activation="relu", input_shape=(28, 28, 1)),
                        layers.MaxPooling2D(), layers.Flatten(),
                        layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=1, verbose=0)
    monkeypatch.chdir(tmp_path)

    exec(save, {"model": model})
    assert {p.name for p in tmp_path.iterdir()} == {"fashion.keras", "fashion.h5",
                                                    "fashion.onnx"}

    np.save(tmp_path / "x_train.npy", x_train)
    np.save(tmp_path / "y_train.npy", y_train)
    worker = KerasWorker(backend="jax")
    try:
        worker.request(op="run", cwd=str(tmp_path), code=(
            "import numpy as np\n"
            "x_train, y_train = np.load('x_train.npy'), np.load('y_train.npy')\n" + keras_fit))
    finally:
        worker.close()

    namespace = {"x_test": x_test}
    exec(serve, namespace)
    np.testing.assert_allclose(namespace["probabilities"], model.predict(x_test),
                               rtol=1e-5, atol=1e-6)
