"""Chapter 23: Vanishing and exploding gradients — measured layer by layer in a deep sigmoid net and a deep ReLU net.

What you see:
  1. Why gradients vanish (23.2.1.1): the gradient of an early weight is a
     product with one factor per later layer, and sigmoid's slope is at most
     0.25, so the product can shrink like 0.25^L.
  2. Two nets of the same depth (6 hidden layers of 64 units) and the same
     glorot_uniform start, one with sigmoid and one with ReLU, trained with
     plain SGD on Fashion-MNIST.  The GradientStats callback records the norm
     of every layer's kernel gradient at every step: in the sigmoid net it
     shrinks by orders of magnitude towards the input layer, and that net
     barely learns; in the ReLU net the layers get gradients of similar size.
  3. Exploding gradients (23.3): the same ReLU net started from N(0, 1)
     weights instead of Glorot's gets gradients orders of magnitude larger,
     so one SGD step throws the weights far past any optimum (chapter 24
     shows the cure: scale the initial weights).
Pictures (in --out): the per-layer gradient norms of both nets over training.

Run:  python -m fastnn course 23 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch23_vanishing_gradients.py [--fast] [--out DIR])
"""
import numpy as np

import fastnn.plot
from fastnn.callbacks import GradientStats
from fastnn.course import arguments
from fastnn.datasets import fashion_mnist
from fastnn.initializers import RandomNormal
from fastnn.layers import Dense
from fastnn.models import Sequential
from fastnn.optimizers import SGD
from fastnn.utils import set_random_seed

# --fast runs in seconds; the full run in under a minute
SETTINGS = {
    "fast": dict(train=1000, test=1000, epochs=2),
    "full": dict(train=10000, test=10000, epochs=3),
}
HIDDEN_LAYERS = 6
UNITS = 64
LEARNING_RATE = 0.1
BATCH_SIZE = 32
SEED = 23


def heading(text):
    print(f"\n=== {text} ===")


def load(settings):
    """Flattened Fashion-MNIST in [0, 1]."""
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    train, test = settings["train"], settings["test"]
    return ((x_train[:train].reshape(train, -1) / 255.0).astype(np.float32), y_train[:train],
            (x_test[:test].reshape(test, -1) / 255.0).astype(np.float32), y_test[:test])


def deep_net(activation, kernel_initializer="glorot_uniform"):
    """784 -> 6 x 64 -> 10; layers named hidden_1 (next to the input) ... output."""
    set_random_seed(SEED)   # both nets start from equally random weights
    layers = [Dense(UNITS, activation=activation, kernel_initializer=kernel_initializer,
                    input_shape=(784,), name="hidden_1")]
    layers += [Dense(UNITS, activation=activation, kernel_initializer=kernel_initializer,
                     name=f"hidden_{i}") for i in range(2, HIDDEN_LAYERS + 1)]
    layers.append(Dense(10, activation="softmax", kernel_initializer=kernel_initializer,
                        name="output"))
    return Sequential(layers)


def the_product_of_slopes():
    heading("23.2.1.1 A product of many factors below 1")
    print("sigmoid'(x) = sigmoid(x)(1 - sigmoid(x)) is at most 0.25 (at x = 0).  Through L "
          "sigmoid layers the gradient picks up L such factors:")
    print("  L:      " + "".join(f"{depth:>10}" for depth in range(1, HIDDEN_LAYERS + 1)))
    print("  0.25^L: " + "".join(f"{0.25 ** depth:>10.1e}" for depth in range(1, HIDDEN_LAYERS + 1)))
    print("relu'(x) is 1 for every positive x: its factors do not shrink the product.")


def train_and_watch(activation, data, epochs):
    x, y, x_test, y_test = data
    model = deep_net(activation)
    model.compile(optimizer=SGD(learning_rate=LEARNING_RATE),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    stats = GradientStats()
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=epochs, verbose=0, callbacks=[stats])
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return stats, accuracy


def compare_nets(settings, data):
    heading(f"23.2 Same depth, sigmoid vs ReLU: {HIDDEN_LAYERS} hidden layers of {UNITS}, "
            f"SGD(learning_rate={LEARNING_RATE})")
    print(f"{len(data[0])} training images, {settings['epochs']} epochs of batches of "
          f"{BATCH_SIZE}; mean L2 norm of each layer's kernel gradient over all steps:")
    runs = {activation: train_and_watch(activation, data, settings["epochs"])
            for activation in ("sigmoid", "relu")}
    norms = {activation: {layer: np.mean(values)
                          for layer, values in stats.record["norms"].items()}
             for activation, (stats, _) in runs.items()}
    print(f"  {'layer':<10} {'sigmoid net':>12} {'relu net':>12}")
    for layer in norms["sigmoid"]:
        print(f"  {layer:<10} {norms['sigmoid'][layer]:>12.2e} {norms['relu'][layer]:>12.2e}")
    for activation, (_, accuracy) in runs.items():
        layer_norms = norms[activation]
        ratio = layer_norms["output"] / layer_norms["hidden_1"]
        print(f"{activation:>7} net: the output layer's gradient is {ratio:,.1f} times the "
              f"first hidden layer's; test accuracy {accuracy:.3f}")
    print("In the sigmoid net the layers next to the input get the smallest gradients, so "
          "their weights hardly move and the net hardly learns (23.2.1).")
    return {activation: stats for activation, (stats, _) in runs.items()}


def exploding(data):
    heading("23.3 Exploding gradients: the ReLU net started from N(0, 1) weights")
    x, y = data[0][:BATCH_SIZE], data[1][:BATCH_SIZE]
    print(f"one batch of {BATCH_SIZE}, gradients measured without a step (learning rate 0):")
    print(f"  {'layer':<10} {'glorot_uniform':>15} {'N(0, 1)':>12}")
    records = {}
    for name, init in (("glorot_uniform", "glorot_uniform"),
                       ("N(0, 1)", RandomNormal(mean=0.0, stddev=1.0))):
        model = deep_net("relu", init)
        model.compile(optimizer=SGD(learning_rate=0.0), loss="sparse_categorical_crossentropy")
        stats = GradientStats()
        model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, verbose=0, callbacks=[stats])
        records[name] = {layer: values[0] for layer, values in stats.record["norms"].items()}
    for layer in records["N(0, 1)"]:
        print(f"  {layer:<10} {records['glorot_uniform'][layer]:>15.2e} "
              f"{records['N(0, 1)'][layer]:>12.2e}")
    ratios = [records["N(0, 1)"][layer] / records["glorot_uniform"][layer]
              for layer in records["N(0, 1)"]]
    print(f"With N(0, 1) weights every layer's gradient is {min(ratios):,.0f} to "
          f"{max(ratios):,.0f} times larger.")
    print("Each N(0, 1) layer multiplies the size of its input by about "
          f"sqrt(fan_in / 2) (= {np.sqrt(UNITS / 2):.1f} for {UNITS} inputs): the gradients "
          "explode, and one step with them moves the weights far too far.")


def main():
    args = arguments(__doc__, fast="small data, few epochs (seconds)")
    settings = SETTINGS["fast" if args.fast else "full"]
    data = load(settings)
    the_product_of_slopes()
    stats = compare_nets(settings, data)
    exploding(data)

    heading("Pictures")
    if not fastnn.plot.available():
        print("pictures skipped: matplotlib is not installed (pip install fastnn[plot])")
        return
    for activation, record in stats.items():
        path = fastnn.plot.gradient_stats(
            record, args.out / f"ch23_gradients_{activation}.png",
            title=f"{activation} net: kernel gradient norm per layer")
        print(f"picture: {path}")


if __name__ == "__main__":
    main()
