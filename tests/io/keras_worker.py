"""Real Keras 3, in a process of its own, for the tests of Keras's file formats.

Importing Keras takes seconds and leaves global state behind (JAX's threads,
layer-name counters), so the tests start this script once per session
(``KerasWorker`` below) and send it one JSON request per line on stdin; it
answers each with one JSON line on stdout.  Requests:

- ``{"op": "predict", "path": m, "x": x.npy, "out": y.npy}``: load the model
  file m with ``keras.saving.load_model`` and save its predictions for x;
  answers the class names of its layers and its compile settings;
- ``{"op": "build", "stack": name, "seed": s, "x": x.npy, "out": y.npy,
  "save": [m.keras, m.h5, ...]}``: build a stack of ``layer_stacks`` in
  Keras with random weights (``compile``: arguments for ``model.compile``),
  save its predictions for x and save it to each file (``save_weights``:
  its weights);
- ``{"op": "run", "code": text, "cwd": folder}``: run Python code (the README's).

The backend is ``KERAS_BACKEND``: the tests choose numpy, whose predict runs
without compiling (about 0.1 s a model instead of 2 to 9 s with jax; it
still needs jax and scipy installed), and jax for the README's
distribution example.
"""
import json
import os
import selectors
import subprocess
import sys
import tempfile
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def serve():
    answers, sys.stdout = sys.stdout, sys.stderr   # what Keras prints must not mix with answers
    import keras
    sys.path.insert(0, HERE)
    from layer_stacks import KERAS_ONLY, STACKS, random_weights

    def predict(request):
        model = keras.saving.load_model(request["path"])
        np.save(request["out"], np.asarray(model.predict(np.load(request["x"]), verbose=0)))
        optimizer = getattr(model, "optimizer", None)
        loss = getattr(model, "loss", None)
        return {"layers": [type(layer).__name__ for layer in model.layers],
                "optimizer": type(optimizer).__name__,
                "learning_rate": None if optimizer is None else float(optimizer.learning_rate),
                "loss": getattr(loss, "__name__", str(loss))}

    def build(request):
        input_shape, specs = {**STACKS, **KERAS_ONLY}[request["stack"]]
        model = keras.Sequential([keras.Input(shape=input_shape)] +
                                 [getattr(keras.layers, cls)(**kwargs) for cls, kwargs in specs])
        model.set_weights(random_weights([(v.path, tuple(v.shape)) for v in model.weights],
                                         request["seed"]))
        if request.get("compile"):
            model.compile(**request["compile"])
        np.save(request["out"], np.asarray(model.predict(np.load(request["x"]), verbose=0)))
        for path in request.get("save", []):
            model.save(path)
        for path in request.get("save_weights", []):
            model.save_weights(path)
        return {}

    def run(request):
        os.chdir(request["cwd"])
        exec(compile(request["code"], "<README>", "exec"), {})
        return {}

    ops = {"predict": predict, "build": build, "run": run}
    print(json.dumps({"ready": keras.__version__, "backend": keras.backend.backend()}),
          file=answers, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = {"ok": True, **ops[request["op"]](request)}
        except Exception:
            answer = {"ok": False, "error": traceback.format_exc()}
        print(json.dumps(answer), file=answers, flush=True)


class KerasWorker:
    """The worker process seen from the tests: ``request(op=..., ...)`` returns
    its answer, or raises AssertionError with Keras's traceback."""

    def __init__(self, backend="numpy", timeout=180):
        env = {**os.environ, "KERAS_BACKEND": backend,
               "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
        self.timeout = timeout
        self.stderr = tempfile.TemporaryFile("w+")    # a pipe nobody reads could fill up
        self.process = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.stderr,
                                        text=True, env=env)
        self.ready = self._answer()

    def _answer(self):
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        if not selector.select(self.timeout):
            self.close()
            raise TimeoutError(f"the Keras worker did not answer within {self.timeout} s")
        line = self.process.stdout.readline()
        if not line:
            self.stderr.seek(0)
            raise RuntimeError(f"the Keras worker ended: {self.stderr.read()[-3000:]}")
        return json.loads(line)

    def request(self, **request):
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer = self._answer()
        assert answer["ok"], answer["error"]
        return answer

    def close(self):
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.stderr.close()


if __name__ == "__main__":
    serve()
