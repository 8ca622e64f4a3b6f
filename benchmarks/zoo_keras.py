"""tf.keras 2 in the zoo: TensorFlow with oneDNN, models built by ``zoo_keras_api``.

The state it runs in is the course's: ``TF_USE_LEGACY_KERAS=1`` with the
``tf-keras`` package (Keras 2 under ``tf.keras``; the worker's parent sets
the variable before TensorFlow loads), oneDNN on (TensorFlow's default on
x86), plain ``fit`` with ``steps_per_execution=1`` and ``jit_compile=False``
(both Keras 2's defaults, written out), intra-op threads = the cores and the
inter-op threads ``settings["inter_op_threads"]``.
"""
import os

import tensorflow as tf

import zoo_keras_api

API = zoo_keras_api.KerasApi(layers=tf.keras.layers, optimizers=tf.keras.optimizers,
                             sequential=tf.keras.Sequential, callback=tf.keras.callbacks.Callback,
                             compile_options={"jit_compile": False, "steps_per_execution": 1})


def configure(settings):
    """Set the thread pools (before any operation runs); what the state is."""
    if os.environ.get("TF_USE_LEGACY_KERAS") != "1" or "tf_keras" not in tf.keras.__name__:
        raise RuntimeError(f"tf.keras is {tf.keras.__name__}, not tf-keras 2: set "
                           f"TF_USE_LEGACY_KERAS=1 before TensorFlow loads and install tf-keras")
    tf.config.threading.set_intra_op_parallelism_threads(settings["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(settings["inter_op_threads"])
    from tensorflow.python.util import _pywrap_util_port
    import tf_keras
    return {"version": tf.__version__, "keras": f"tf-keras {tf_keras.__version__}",
            "onednn": bool(_pywrap_util_port.IsMklEnabled()),
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "jit_compile": False, "steps_per_execution": 1}


def native_data(x, y):
    return x, y


def build(net, weights):
    tf.keras.backend.clear_session()
    return zoo_keras_api.build(net, API, weights)
