"""Chapter 28: L2 regularization — a penalty on large weights added to the loss, traded against fit to the training data.

What you see:
  1. 28.1 The course's layer Dense(32, kernel_regularizer=regularizers.l2(0.01))
     in the course's model.  The penalty computed by hand, 0.01 * Σw², plus
     the crossentropy computed by hand, equals the loss fastnn reports.  How
     the course's (λ / 2m) · Σ‖w‖² maps to Keras's l2(factor).
  2. The penalty's gradient 2 · 0.01 · w: every step pulls each weight
     towards 0 ("weight decay").
  3. 28.2 The effect on real data: a wide net trained on a small
     Fashion-MNIST subset with no, light and strong L2.  Per model: the
     weights' size (Σw²), training vs validation crossentropy and
     accuracy, and their gap.  Regularization shrinks the weights and the
     gap; too much of it underfits.
Pictures (in --out): training vs validation curves without and with the
strongest L2; histograms of the weights for each factor.

Run:  python -m fastnn course 28 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch28_l2_regularization.py [--fast] [--out DIR])
"""
import numpy as np

import fastnn.plot
from fastnn import regularizers
from fastnn.course import arguments
from fastnn.datasets import fashion_mnist
from fastnn.layers import Dense
from fastnn.losses import SparseCategoricalCrossentropy
from fastnn.models import Sequential
from fastnn.optimizers import Adam
from fastnn.utils import set_random_seed

# --fast runs in seconds; the full run in about a minute
SETTINGS = {
    "fast": dict(train=400, validation=500, epochs=12, width=128, factors=(0.0, 0.01)),
    "full": dict(train=1000, validation=2000, epochs=30, width=256,
                 factors=(0.0, 0.0001, 0.001, 0.01)),
}
SEED = 28


def heading(text):
    print(f"\n=== {text} ===")


def course_model():
    """The course's model (29.2) with the L2-regularised layer, imports switched to fastnn.

    (The course's first line has one parenthesis too many:
    ``Dense(16, input_shape=(1,)), activation = 'relu'),``.)"""
    return Sequential([
        Dense(16, input_shape=(1,), activation='relu'),
        Dense(32, activation='relu', kernel_regularizer=regularizers.l2(0.01)),
        Dense(2, activation='sigmoid')
    ])


def penalty_by_hand():
    heading("28.1 loss + penalty: the course's model with kernel_regularizer=regularizers.l2(0.01)")
    model = course_model()
    model.compile(optimizer=Adam(learning_rate=0.0001), loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    x = np.array([[0.1], [0.35], [0.6], [0.9]], np.float32)   # e.g. scaled ages
    y = np.array([0, 0, 1, 1])
    kernel = model.layers[1].get_weights()[0]
    penalty = 0.01 * np.sum(kernel.astype(np.float64) ** 2)
    probabilities = model.predict(x)
    p = probabilities / probabilities.sum(axis=1, keepdims=True)   # sigmoid outputs, normalised
    crossentropy = -np.mean(np.log(p[np.arange(len(y)), y]))
    reported = model.evaluate(x, y, verbose=0)[0]
    print(f"the regularised kernel has shape {kernel.shape}: Σw² = {np.sum(kernel ** 2):.4f}")
    print(f"penalty        0.01 * Σw²                         = {penalty:.4f}")
    print(f"crossentropy   -mean(log p[true class]) on 4 samples = {crossentropy:.4f}")
    print(f"sum                                               = {crossentropy + penalty:.4f}")
    print(f"model.evaluate(x, y) reports loss                 = {reported:.4f}")
    print("Only the layer given a kernel_regularizer adds a penalty; the other two layers' "
          "weights are free.")
    print("\nThe course writes the term as (λ / 2m) · Σ‖w‖² (m = number of inputs).  Keras, "
          "and fastnn, add\nfactor · Σw² as it is: l2(0.01) is the course's λ = 0.01 · 2m, "
          "e.g. λ = 20 for m = 1000.")
    return model


def weight_decay(model):
    heading("The penalty's gradient: 2 · 0.01 · w pulls every weight towards 0")
    layer = model.layers[1]
    w = layer.get_weights()[0]
    gradient = layer.kernel_regularizer.gradient(w)
    print(f"regularizer.gradient(w) == 2 * 0.01 * w: {np.allclose(gradient, 0.02 * w)}")
    learning_rate = 0.1
    print(f"With plain SGD (learning rate {learning_rate}) and no data gradient, one step "
          f"multiplies each weight by 1 - {learning_rate} · 0.02 = {1 - learning_rate * 0.02}: "
          f"large weights shrink the most in absolute terms.")


def load(settings):
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    train, val = settings["train"], settings["validation"]
    x_train = (x_train[:train].reshape(train, -1) / 255.0).astype(np.float32)
    x_val = (x_test[:val].reshape(val, -1) / 255.0).astype(np.float32)
    return (x_train, y_train[:train]), (x_val, y_test[:val])


def wide_net(width, factor):
    """784-width-width-10, with L2 of ``factor`` on both hidden kernels (0: none)."""
    reg = regularizers.l2(factor) if factor else None
    return Sequential([Dense(width, activation="relu", input_shape=(784,),
                             kernel_regularizer=reg),
                       Dense(width, activation="relu", kernel_regularizer=reg),
                       Dense(10, activation="softmax")])


def crossentropy_and_accuracy(model, x, y):
    """The data part of the loss alone (no penalty), and the accuracy."""
    p = model.predict(x, batch_size=256)
    return SparseCategoricalCrossentropy()(y, p), float(np.mean(p.argmax(axis=1) == y))


def effect_on_real_data(settings):
    (x, y), (x_val, y_val) = load(settings)
    width = settings["width"]
    heading(f"28.2 784-{width}-{width}-10 on {len(x)} Fashion-MNIST images, validated on "
            f"{len(x_val)}")
    print(f"{settings['epochs']} epochs, Adam(0.001), batch 32; L2 on both hidden kernels.  "
          f"Crossentropy below is the data part only (the loss fit reports includes the "
          f"penalty).")
    print(f"{'l2 factor':>9} {'Σw² hidden':>11} {'train CE':>9} {'val CE':>7} {'gap':>6} "
          f"{'train acc':>10} {'val acc':>8}")
    runs, kernels = {}, {}
    for factor in settings["factors"]:
        set_random_seed(SEED)   # same start and same batches for every factor
        model = wide_net(width, factor)
        model.compile(optimizer=Adam(learning_rate=0.001), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        history = model.fit(x, y, batch_size=32, epochs=settings["epochs"],
                            validation_data=(x_val, y_val), verbose=0)
        squares = sum(float(np.sum(layer.kernel.value ** 2)) for layer in model.layers[:2])
        train_ce, train_acc = crossentropy_and_accuracy(model, x, y)
        val_ce, val_acc = crossentropy_and_accuracy(model, x_val, y_val)
        print(f"{factor:>9g} {squares:>11.1f} {train_ce:>9.4f} {val_ce:>7.4f} "
              f"{val_ce - train_ce:>6.3f} {train_acc:>10.3f} {val_acc:>8.3f}")
        runs[factor] = history.history
        kernels[f"l2({factor:g})"] = model.layers[1].kernel.value
    print("Without L2 the net fits its training images much better than the validation "
          "images: a large gap,\noverfitting (chapter 12).  L2 keeps the weights small, which "
          "narrows the gap; a too large factor\nalso keeps the net from fitting the training "
          "data (underfitting, chapter 13).")
    return runs, kernels


def main():
    args = arguments(__doc__, fast="small data, few epochs (seconds)")
    settings = SETTINGS["fast" if args.fast else "full"]
    set_random_seed(SEED)
    model = penalty_by_hand()
    weight_decay(model)
    runs, kernels = effect_on_real_data(settings)

    heading("Pictures")
    if not fastnn.plot.available():
        print("pictures skipped: matplotlib is not installed (pip install fastnn[plot])")
        return
    for factor in (min(runs), max(runs)):   # no L2 and the strongest
        logs = runs[factor]
        path = fastnn.plot.history(logs, args.out / f"ch28_curves_l2_{factor:g}.png",
                                   metrics=("loss", "accuracy"),
                                   title=f"l2({factor:g}): loss includes the penalty")
        print(f"picture: {path}")
    path = fastnn.plot.weight_histograms(kernels, args.out / "ch28_weights.png",
                                         title="second hidden layer's weights")
    print(f"picture: {path}")


if __name__ == "__main__":
    main()
