"""fastnn in the zoo: its defaults (all cores' threads), models built by ``zoo_keras_api``.

Also the source of every net's initial weights: fastnn initialises them
(Glorot-uniform kernels, zero biases, as Keras) and the other two frameworks
load copies.
"""
import fastnn
from fastnn import callbacks, layers, optimizers
from fastnn.models import Sequential
from fastnn.runtime import get_simd_path

import zoo_keras_api

API = zoo_keras_api.KerasApi(layers=layers, optimizers=optimizers, sequential=Sequential,
                             callback=callbacks.Callback, compile_options={})


def configure(settings):
    """fastnn keeps its defaults; what they are."""
    return {"version": fastnn.__version__, "threads": fastnn.get_num_threads(),
            "simd_path": get_simd_path()}


def native_data(x, y):
    return x, y


def build(net, weights):
    return zoo_keras_api.build(net, API, weights)


def initial_weights(net, seed):
    """The weight arrays fastnn draws for ``net`` from ``seed``, in Keras's order and layouts."""
    fastnn.utils.set_random_seed(seed)
    return zoo_keras_api.build(net, API).model.get_weights()
