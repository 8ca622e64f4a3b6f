"""Chapter 12: Overfitting — a too-large net memorises a small training set, and three remedies close the gap.

What you see:
  1. How to recognise overfitting (12.1): a net with two wide hidden layers
     (512 units each; 128 with --fast) trained on a few hundred Fashion-MNIST
     images.  Epoch by epoch the
     training loss keeps falling while the validation loss stops falling and
     climbs again: the two curves drift apart.  The *gap* (validation loss
     minus training loss) measures it.
  2. Remedies (12.2), each trained the same way and compared by its gap:
     dropout (12.2.4), a smaller net (12.2.3) and more data (12.2.1).
     (Data augmentation, 12.2.2, has its own example in chapter 17.)
Pictures (in --out): training vs validation curves of each model.

Run:  python -m fastnn course 12 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch12_overfitting.py [--fast] [--out DIR])
"""
import numpy as np

import fastnn.plot
from fastnn.course import arguments
from fastnn.datasets import fashion_mnist
from fastnn.layers import Dense, Dropout
from fastnn.models import Sequential
from fastnn.optimizers import Adam
from fastnn.utils import set_random_seed

# --fast runs in seconds; the full run takes a minute or two
SETTINGS = {
    "fast": dict(train=300, more_data=900, validation=300, epochs=15, width=128),
    "full": dict(train=1000, more_data=4000, validation=1000, epochs=20, width=512),
}
BATCH_SIZE = 32
SEED = 12


def heading(text):
    print(f"\n=== {text} ===")


def load(settings):
    """Flattened Fashion-MNIST in [0, 1]: the largest training set needed, and validation data."""
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    train, val = settings["more_data"], settings["validation"]
    x_train = (x_train[:train].reshape(train, -1) / 255.0).astype(np.float32)
    x_val = (x_test[:val].reshape(val, -1) / 255.0).astype(np.float32)
    return (x_train, y_train[:train]), (x_val, y_test[:val])


def too_large(width):
    return [Dense(width, activation="relu", input_shape=(784,)),
            Dense(width, activation="relu"),
            Dense(10, activation="softmax")]


def with_dropout(width):
    return [Dense(width, activation="relu", input_shape=(784,)), Dropout(0.5),
            Dense(width, activation="relu"), Dropout(0.5),
            Dense(10, activation="softmax")]


def smaller(width):
    return [Dense(width // 8, activation="relu", input_shape=(784,)),
            Dense(10, activation="softmax")]


def train(layers, x, y, validation, settings):
    set_random_seed(SEED)   # every model starts from equally random weights and batches
    model = Sequential(layers(settings["width"]))
    model.compile(optimizer=Adam(learning_rate=0.001), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, batch_size=BATCH_SIZE, epochs=settings["epochs"],
                        validation_data=validation, shuffle=True, verbose=0)
    return history.history


def gaps(logs):
    """Per epoch: validation loss minus training loss."""
    return np.array(logs["val_loss"]) - np.array(logs["loss"])


def show_epochs(logs):
    print(f"{'epoch':>5} {'loss':>8} {'val_loss':>9} {'accuracy':>9} {'val_acc':>8} {'gap':>7}")
    epochs = len(logs["loss"])
    for epoch in sorted({0, 1, 2, *range(4, epochs, max(1, epochs // 6)), epochs - 1}):
        print(f"{epoch + 1:>5} {logs['loss'][epoch]:>8.4f} {logs['val_loss'][epoch]:>9.4f} "
              f"{logs['accuracy'][epoch]:>9.3f} {logs['val_accuracy'][epoch]:>8.3f} "
              f"{gaps(logs)[epoch]:>7.3f}")
    best = int(np.argmin(logs["val_loss"]))
    print(f"The validation loss was lowest after epoch {best + 1} ({logs['val_loss'][best]:.4f})"
          + (", then rose again" if best < epochs - 1 else "")
          + f"; the training loss fell all the way to {logs['loss'][-1]:.4f}.\n"
          f"The net memorises the training images (training accuracy "
          f"{logs['accuracy'][-1]:.3f}) more than it learns what generalises (validation "
          f"accuracy {logs['val_accuracy'][-1]:.3f}).")


def summary_line(name, logs):
    best = int(np.argmin(logs["val_loss"]))
    print(f"{name:<34} {logs['loss'][-1]:>8.4f} {logs['val_loss'][-1]:>9.4f} "
          f"{gaps(logs)[-1]:>7.3f} {logs['val_loss'][best]:>9.4f} ({best + 1:>2}) "
          f"{logs['val_accuracy'][-1]:>8.3f}")


def main():
    args = arguments(__doc__, fast="small data, few epochs (seconds)")
    settings = SETTINGS["fast" if args.fast else "full"]
    can_plot = fastnn.plot.available()
    (x_all, y_all), validation = load(settings)
    x, y = x_all[:settings["train"]], y_all[:settings["train"]]
    width = settings["width"]
    large = f"too large (784-{width}-{width}-10)"

    heading(f"12.1 Recognising overfitting: 784-{width}-{width}-10 on {len(x)} training images")
    weights = sum(w.size for w in Sequential(too_large(width)).get_weights())
    print(f"{weights:,} weights for {len(x)} images; validation on {len(validation[0])} "
          f"other images, {settings['epochs']} epochs")
    runs = {large: train(too_large, x, y, validation, settings)}
    show_epochs(runs[large])

    heading("12.2 Remedies, trained the same way")
    runs["+ dropout 0.5 (12.2.4)"] = train(with_dropout, x, y, validation, settings)
    runs[f"smaller net 784-{width // 8}-10 (12.2.3)"] = train(smaller, x, y, validation,
                                                              settings)
    runs[f"more data: {len(x_all)} images (12.2.1)"] = train(too_large, x_all, y_all,
                                                             validation, settings)
    print(f"{'model':<34} {'loss':>8} {'val_loss':>9} {'gap':>7} {'best val (epoch)':>16} "
          f"{'val_acc':>8}")
    for name, logs in runs.items():
        summary_line(name, logs)
    print("gap = validation loss - training loss after the last epoch: the smaller, the less "
          "the net has overfitted.\n"
          "Dropout is active only in training, so its training loss is measured on a weakened "
          "net and can even lie above the validation loss (chapter 13.3.3).\n"
          "A gap near 0 is not enough: a net that is too small fits neither set well "
          "(underfitting, chapter 13).")

    heading("Pictures")
    if not can_plot:
        print("pictures skipped: matplotlib is not installed (pip install fastnn[plot])")
        return
    for index, (name, logs) in enumerate(runs.items()):
        path = fastnn.plot.history(logs, args.out / f"ch12_curves_{index}.png",
                                   metrics=("loss", "accuracy"), title=name)
        print(f"picture: {path}")


if __name__ == "__main__":
    main()
