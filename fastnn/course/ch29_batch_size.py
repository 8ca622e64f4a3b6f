"""Chapter 29: Batch size — how many samples pass through the net before each weight update, and what that costs and buys.

What you see:
  1. 29.2 The course's code: its model (with the L2 layer of chapter 28)
     trained with fit(scaled_train_samples, train_labels,
     validation_data=valid_set, batch_size=10, epochs=20, shuffle=True,
     verbose=2).  The course never shows its data; here it is the drug-trial
     data of the deeplizard course it follows: ages 13-100, scaled to
     [0, 1], label 1 = side effects (mostly the older half).
  2. 29.1.1 Batches in an epoch: ceil(samples / batch size) weight
     updates, e.g. 1000 images in batches of 10 = 100 batches per epoch,
     counted by a callback during fit.
  3. 29.1.2-29.1.3 The trade-off on Fashion-MNIST: batch size 1 (stochastic
     gradient descent), 32 (mini-batch) and all samples (batch gradient
     descent), the same number of epochs each: steps per epoch, time per
     epoch, final loss and validation accuracy.
Pictures (in --out): training curves for the three batch sizes.

Run:  python -m fastnn course 29 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch29_batch_size.py [--fast] [--out DIR])
"""
import math
import time

import numpy as np

import fastnn.plot
from fastnn import regularizers
from fastnn.callbacks import Callback
from fastnn.course import arguments
from fastnn.datasets import fashion_mnist
from fastnn.layers import Dense
from fastnn.models import Sequential
from fastnn.optimizers import Adam
from fastnn.utils import set_random_seed

# --fast runs in seconds; the full run in about a minute
SETTINGS = {
    "fast": dict(patients=100, train=300, validation=500, epochs=2),
    "full": dict(patients=1000, train=2000, validation=2000, epochs=3),
}
SEED = 29


def heading(text):
    print(f"\n=== {text} ===")


class EpochTimer(Callback):
    """Records, per epoch, the number of batches (weight updates) and the seconds they took
    (the training steps only, not the validation after them)."""

    def on_train_begin(self, logs=None):
        self.steps, self.seconds = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.steps.append(0)
        self.seconds.append(0.0)
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps[-1] += 1
        self.seconds[-1] = time.perf_counter() - self._start


def drug_trial(patients, rng):
    """Ages and side effects: ``patients`` per age group, 95% following their group's rule.

    Younger patients (13-64) mostly have no side effects (label 0), older ones
    (65-100) mostly do (label 1); 5% of each group are the exception.  The ages
    are scaled to [0, 1] as a MinMaxScaler would."""
    outliers = patients // 20
    young = rng.integers(13, 65, patients)
    old = rng.integers(65, 101, patients)
    ages = np.concatenate([young, old])
    labels = np.concatenate([np.r_[np.zeros(patients - outliers), np.ones(outliers)],
                             np.r_[np.ones(patients - outliers), np.zeros(outliers)]])
    order = rng.permutation(len(ages))
    scaled = ((ages - 13) / (100 - 13)).astype(np.float32).reshape(-1, 1)
    return scaled[order], labels[order].astype(np.int64)


def course_code(settings):
    rng = np.random.default_rng(SEED)
    scaled_train_samples, train_labels = drug_trial(settings["patients"], rng)
    valid_set = drug_trial(settings["patients"] // 10, rng)
    heading(f"29.2 The course's code: {len(scaled_train_samples)} training samples, "
            f"{len(valid_set[0])} validation samples, batch_size=10")
    model = Sequential([
        Dense(16, input_shape=(1,), activation='relu'),
        Dense(32, activation='relu', kernel_regularizer=regularizers.l2(0.01)),
        Dense(2, activation='sigmoid')
    ])
    model.compile(Adam(learning_rate=0.0001), loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    timer = EpochTimer()
    model.fit(
        scaled_train_samples,
        train_labels,
        validation_data=valid_set,
        batch_size=10,
        epochs=20,
        shuffle=True,
        verbose=2,
        callbacks=[timer]
    )
    print(f"{len(scaled_train_samples)} samples / batch size 10 = {timer.steps[0]} batches, "
          f"so {timer.steps[0]} weight updates per epoch and {sum(timer.steps)} in 20 epochs.")
    print("(The course's first Dense line has one parenthesis too many; fixed here.  95% of "
          "labels follow the age rule, so about 0.95 accuracy is the best possible.)")


def batches_per_epoch():
    heading("29.1.1 Batches per epoch = ceil(samples / batch size)")
    print(f"{'samples':>8} {'batch size':>11} {'batches per epoch':>18}")
    for samples, batch_size in ((1000, 10), (1000, 32), (1000, 1000), (60000, 32),
                                (60000, 1)):
        print(f"{samples:>8} {batch_size:>11} {math.ceil(samples / batch_size):>18,}")
    print("The course's example: 1000 dog images, batch size 10 -> 100 batches per epoch.  "
          "The last batch is smaller when the\nbatch size does not divide the samples "
          "(1000 / 32: 31 batches of 32 and one of 8).")


def load(settings):
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    train, val = settings["train"], settings["validation"]
    x_train = (x_train[:train].reshape(train, -1) / 255.0).astype(np.float32)
    x_val = (x_test[:val].reshape(val, -1) / 255.0).astype(np.float32)
    return (x_train, y_train[:train]), (x_val, y_test[:val])


def trade_off(settings):
    (x, y), validation = load(settings)
    epochs = settings["epochs"]
    heading(f"29.1.2 The trade-off: 784-128-10 on {len(x)} Fashion-MNIST images, {epochs} "
            f"epochs, Adam(0.001)")
    print(f"{'batch size':<28} {'steps/epoch':>11} {'s/epoch':>8} {'ms/step':>8} "
          f"{'loss':>7} {'val_loss':>9} {'val_acc':>8}")
    runs = {}
    for name, batch_size in (("1 (stochastic GD)", 1), ("32 (mini-batch GD)", 32),
                             (f"{len(x)} = all (batch GD)", len(x))):
        set_random_seed(SEED)   # the same starting weights for each batch size
        model = Sequential([Dense(128, activation="relu", input_shape=(784,)),
                            Dense(10, activation="softmax")])
        model.compile(optimizer=Adam(learning_rate=0.001), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        timer = EpochTimer()
        history = model.fit(x, y, batch_size=batch_size, epochs=epochs,
                            validation_data=validation, verbose=0, callbacks=[timer])
        logs = history.history
        seconds = float(np.mean(timer.seconds))
        print(f"{name:<28} {timer.steps[0]:>11,} {seconds:>8.2f} "
              f"{1000 * seconds / timer.steps[0]:>8.3f} {logs['loss'][-1]:>7.4f} "
              f"{logs['val_loss'][-1]:>9.4f} {logs['val_accuracy'][-1]:>8.3f}")
        runs[batch_size] = logs
    print("Larger batches: fewer and cheaper-per-sample steps (the samples of a batch are "
          "computed together),\nso an epoch takes less time.  But an epoch of batch gradient "
          "descent is a single update: after the\nsame number of epochs it has learned much "
          "less.  Batch size 1 updates most often but each step sees\none sample: noisy "
          "steps, and the slowest epochs.  The batch size is a hyperparameter to tune.")
    return runs


def main():
    args = arguments(__doc__, fast="small data, few epochs (seconds)")
    settings = SETTINGS["fast" if args.fast else "full"]
    set_random_seed(SEED)
    course_code(settings)
    batches_per_epoch()
    runs = trade_off(settings)

    heading("Pictures")
    if not fastnn.plot.available():
        print("pictures skipped: matplotlib is not installed (pip install fastnn[plot])")
        return
    for batch_size, logs in runs.items():
        path = fastnn.plot.history(logs, args.out / f"ch29_curves_batch_{batch_size}.png",
                                   metrics=("loss", "accuracy"),
                                   title=f"batch size {batch_size}")
        print(f"picture: {path}")


if __name__ == "__main__":
    main()
