"""Chapter 13: Underfitting — a net too small or too regularized fits not even its training data; more capacity fixes it.

What you see:
  1. How to recognise underfitting (13.2): a net whose hidden layer has only
     2 units, trained on Fashion-MNIST.  Training *and* validation loss stay
     high, and the training accuracy is poor: the net is not complex enough
     for the data.
  2. Too much dropout (13.3.3): with 90% of the hidden units dropped in
     every training step, the net underfits too; a telltale sign is a
     validation loss *below* the training loss.
  3. The remedies: a bigger net (13.3.1: more units, one more layer) and less
     dropout (13.3.3).  Both losses fall and the accuracy rises.
Pictures (in --out): training vs validation curves of each model.

Run:  python -m fastnn course 13 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch13_underfitting.py [--fast] [--out DIR])
"""
import numpy as np

import fastnn.plot
from fastnn.course import arguments
from fastnn.datasets import fashion_mnist
from fastnn.layers import Dense, Dropout
from fastnn.models import Sequential
from fastnn.optimizers import Adam
from fastnn.utils import set_random_seed

# --fast runs in seconds; the full run takes about a minute
SETTINGS = {
    "fast": dict(train=1000, validation=500, epochs=6),
    "full": dict(train=10000, validation=2000, epochs=12),
}
BATCH_SIZE = 32
SEED = 13

MODELS = {
    "too small: 784-2-10": lambda: [
        Dense(2, activation="relu", input_shape=(784,)),
        Dense(10, activation="softmax")],
    "too much dropout: 784-64-Dropout(0.9)-10": lambda: [
        Dense(64, activation="relu", input_shape=(784,)), Dropout(0.9),
        Dense(10, activation="softmax")],
    "bigger: 784-128-64-10 (13.3.1)": lambda: [
        Dense(128, activation="relu", input_shape=(784,)),
        Dense(64, activation="relu"),
        Dense(10, activation="softmax")],
    "less dropout: 784-64-Dropout(0.2)-10 (13.3.3)": lambda: [
        Dense(64, activation="relu", input_shape=(784,)), Dropout(0.2),
        Dense(10, activation="softmax")],
}


def heading(text):
    print(f"\n=== {text} ===")


def load(settings):
    """Flattened Fashion-MNIST in [0, 1]: training images and validation images."""
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    train, val = settings["train"], settings["validation"]
    x_train = (x_train[:train].reshape(train, -1) / 255.0).astype(np.float32)
    x_val = (x_test[:val].reshape(val, -1) / 255.0).astype(np.float32)
    return (x_train, y_train[:train]), (x_val, y_test[:val])


def train(layers, training, validation, epochs):
    set_random_seed(SEED)   # every model starts from equally random weights and batches
    model = Sequential(layers())
    model.compile(optimizer=Adam(learning_rate=0.001), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(*training, batch_size=BATCH_SIZE, epochs=epochs,
                        validation_data=validation, verbose=0)
    return model.count_params(), history.history


def show(name, params, logs):
    print(f"{name:<46} {params:>8,} {logs['loss'][-1]:>7.3f} {logs['val_loss'][-1]:>9.3f} "
          f"{logs['accuracy'][-1]:>9.3f} {logs['val_accuracy'][-1]:>8.3f}")


def main():
    args = arguments(__doc__, fast="small data, few epochs (seconds)")
    settings = SETTINGS["fast" if args.fast else "full"]
    training, validation = load(settings)
    print(f"Fashion-MNIST: {len(training[0])} training and {len(validation[0])} validation "
          f"images, {settings['epochs']} epochs each")

    runs = {}
    columns = f"{'model':<46} {'weights':>8} {'loss':>7} {'val_loss':>9} {'accuracy':>9} {'val_acc':>8}"
    for section, names in (("13.2 Recognising underfitting", list(MODELS)[:2]),
                           ("13.3 Remedies: more capacity, less dropout", list(MODELS)[2:])):
        heading(section)
        print(columns)
        for name in names:
            params, runs[name] = train(MODELS[name], training, validation, settings["epochs"])
            show(name, params, runs[name])

    small, dropped, bigger, _ = (runs[name] for name in MODELS)
    heading("What the numbers say")
    print(f"The 2-unit net ends with training loss {small['loss'][-1]:.3f} "
          f"(accuracy {small['accuracy'][-1]:.3f}): bad on the very data it trained on, "
          f"so bad on new data too.")
    print(f"With 90% dropout the validation loss ({dropped['val_loss'][-1]:.3f}) is "
          f"{'below' if dropped['val_loss'][-1] < dropped['loss'][-1] else 'not below'} the "
          f"training loss ({dropped['loss'][-1]:.3f}): dropout weakens the net only in "
          f"training, a sign to lower the rate.")
    print(f"The bigger net reaches training loss {bigger['loss'][-1]:.3f} and validation "
          f"accuracy {bigger['val_accuracy'][-1]:.3f}.  Watch it from now on for the opposite "
          f"problem, overfitting (chapter 12).")

    heading("Pictures")
    if not fastnn.plot.available():
        print("pictures skipped: matplotlib is not installed (pip install fastnn[plot])")
        return
    for index, (name, logs) in enumerate(runs.items()):
        path = fastnn.plot.history(logs, args.out / f"ch13_curves_{index}.png",
                                   metrics=("loss", "accuracy"), title=name)
        print(f"picture: {path}")


if __name__ == "__main__":
    main()
