"""Chapter 05: Activation functions — sigmoid, tanh and ReLU, why a net needs a non-linear one, and how Keras adds it.

What you see:
  1. Sigmoid, tanh and ReLU (5.2) and their derivatives at a few inputs, as
     fastnn computes them in the forward and backward pass.
  2. Why a net needs them (5.3): two Dense layers *without* an activation are
     just one linear map, while a ReLU between them is not.  Then the proof
     idea of 5.3.1 in numbers: ReLU breaks both rules of a linear function,
     f(a + b) = f(a) + f(b) and f(x·a) = x·f(a).
  3. The two ways of 5.4 to give a layer its activation, with summaries:
     Dense(5, input_shape=(3,), activation='relu'), and model.add(Dense(...))
     followed by model.add(Activation('relu')); both compute the same outputs.
Picture (in --out): the three functions and their derivatives.

Run:  python -m fastnn course 5 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch05_activation_functions.py [--fast] [--out DIR])
(--fast changes nothing here: everything runs in about a second.)
"""
import numpy as np

import fastnn.plot
from fastnn import activations, backend
from fastnn.course import arguments
from fastnn.layers import Activation, Dense
from fastnn.models import Sequential
from fastnn.utils import set_random_seed

FUNCTIONS = ("sigmoid", "tanh", "relu")
INPUTS = np.array([-5.0, -1.0, 0.0, 1.0, 5.0], np.float32)


def heading(text):
    print(f"\n=== {text} ===")


def values_and_slopes():
    heading("5.2 Sigmoid, tanh and ReLU: f(x) and f'(x)")
    print("x:            " + "".join(f"{x:>8g}" for x in INPUTS))
    for name in FUNCTIONS:
        activation = activations.get(name)
        y = activation.forward(INPUTS)
        slope = activation.backward(INPUTS, y, np.ones_like(INPUTS))   # dLoss/dy = 1 gives f'
        print(f"{name + '(x)':<14}" + "".join(f"{v:>8.4f}" for v in y))
        print(f"{name + chr(39) + '(x)':<14}" + "".join(f"{v:>8.4f}" for v in slope))
    print("sigmoid squashes into (0, 1), tanh into (-1, 1); relu(x) = max(0, x) passes every "
          "positive input unchanged.\nsigmoid's slope is never above 0.25 (at x = 0) "
          "- remember that for chapter 23.")


def relu_is_not_linear():
    heading("5.3.1 ReLU is not linear")
    relu = activations.relu
    a, b = 2.0, -3.0
    print(f"additivity,  a = {a:g}, b = {b:g}:   relu(a + b) = relu({a + b:g}) = {relu(a + b):g}"
          f"   but relu(a) + relu(b) = {relu(a):g} + {relu(b):g} = {relu(a) + relu(b):g}")
    a, x = -1.0, -1.0
    print(f"homogeneity, a = {a:g} < 0, x = {x:g}:   relu(x·a) = relu({x * a:g}) = "
          f"{relu(x * a):g} > 0   but x·relu(a) = {x:g}·{relu(a):g} = {x * relu(a) + 0.0:g}")
    print("Either counterexample is enough: relu is not a linear function.")


def linear_layers_collapse():
    heading("5.3 Why it matters: without an activation, two layers are one")
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    for activation in (None, "relu"):
        model = Sequential([Dense(5, input_shape=(3,), activation=activation), Dense(2)])
        w1, b1, w2, b2 = model.get_weights()
        one_layer = x @ (w1 @ w2) + (b1 @ w2 + b2)   # the single linear map W1·W2
        gap = np.abs(model.predict(x) - one_layer).max()
        print(f"Dense(5, activation={activation!r}) -> Dense(2): largest difference to the one "
              f"linear map x·(W1·W2) + b = {gap:.2e}")
    print("Without an activation a deep net can only learn a linear mapping; "
          "one relu in between already breaks that.")


def two_ways_in_keras():
    heading("5.4 Activation functions in Keras: two ways")
    backend.clear_session()   # layer names start over, as in a fresh session
    first = Sequential([
        Dense(5, input_shape=(3,), activation='relu')
    ])
    print("1) model = Sequential([Dense(5, input_shape=(3,), activation='relu')])")
    first.summary()

    second = Sequential()
    second.add(Dense(5, input_shape=(3,)))
    second.add(Activation('relu'))
    print("\n2) model = Sequential(); model.add(Dense(5, input_shape=(3,))); "
          "model.add(Activation('relu'))")
    second.summary()

    second.set_weights(first.get_weights())
    x = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)
    same = np.array_equal(first.predict(x), second.predict(x))
    print(f"\nWith the same weights both give the same outputs: {same}")


def main():
    args = arguments(__doc__, fast="accepted for uniformity; no effect")
    set_random_seed(5)
    values_and_slopes()
    linear_layers_collapse()
    relu_is_not_linear()
    two_ways_in_keras()

    heading("Picture")
    if fastnn.plot.available():
        path = fastnn.plot.activation_functions(FUNCTIONS, args.out / "ch05_activations.png")
        print(f"picture: {path}")
    else:
        print("pictures skipped: matplotlib is not installed (pip install fastnn[plot])")


if __name__ == "__main__":
    main()
