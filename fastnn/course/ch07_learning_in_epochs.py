"""Chapter 07: How a neural network learns — epochs, weight updates and the course's full Keras training example.

What you see:
  1. 7.3 The course's code with the imports switched to fastnn: the 1-16-32-2
     net, Adam(lr=0.0001), sparse categorical crossentropy, and
     fit(train_examples, labels, batch_size=2, epochs=20, shuffle=True,
     verbose=2) on its data (0 must become 1 and 1 must become 0), printing
     the training log in the course's format.
  2. How to read that log, and what an epoch is (7.1): 40 examples in
     batches of 2 are 20 weight updates per epoch, 400 in 20 epochs.
  3. 7.2 The weights move a little with every update: the weight that moved
     most, epoch by epoch.  Adam ("a variant of SGD") moves each weight by
     about the learning rate per step.
  4. 7.2.3 The net has learned: its predictions for 0 and 1.
  5. One step further: the loss is still high after 20 epochs because
     lr = 0.0001 makes small steps; more epochs bring it down.
Picture (in --out): loss and accuracy per epoch.

Run:  python -m fastnn course 7 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch07_learning_in_epochs.py [--fast] [--out DIR])
(--fast trains fewer extra epochs in part 5; the course's 20 epochs always run.)
"""
import numpy as np

import fastnn.plot
from fastnn.callbacks import Callback
from fastnn.course import arguments
from fastnn.layers import Dense
from fastnn.models import Sequential
from fastnn.optimizers import Adam
from fastnn.utils import set_random_seed

SEED = 7
EXTRA_EPOCHS = {"fast": 30, "full": 180}


def heading(text):
    print(f"\n=== {text} ===")


class WeightRecorder(Callback):
    """Keeps a copy of every weight array at the end of each epoch."""

    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_train_begin(self, logs=None):
        self.epochs = [self.model.get_weights()]      # the start, before any update

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(self.model.get_weights())


def course_example(recorder):
    heading("7.3 The course's training example")
    # the course's code, with the imports switched to fastnn
    model = Sequential([
        Dense(16, input_shape=(1,), activation='relu'),
        Dense(32, activation='relu'),
        Dense(2, activation='sigmoid')
    ])

    model.compile(
        Adam(lr=0.0001),
        loss='sparse_categorical_crossentropy',
        metrics=['accuracy']
    )

    train_examples = \
        np.array([0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,1,1,1,1,1,
        1,1,1,1,1,1,1,1,1,1,1,1,1,1])
    # The course prints only 17 zeros here (37 labels for 40 examples), which Keras
    # refuses as well; its text says 0 -> 1 and 1 -> 0, so these are the 40 labels it means.
    labels=np.array([1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0])

    history = model.fit(
        train_examples,
        labels,
        batch_size=2,
        epochs=20,
        shuffle=True,
        verbose=2,
        callbacks=[recorder]     # not in the course: keeps the weights of every epoch
    )
    return model, train_examples, labels, history


def read_the_log(model, history, samples):
    heading("7.1 Reading the log: epochs, batches, updates")
    logs = history.history
    print(f"'40/40'          samples seen of the epoch: one epoch = one pass over all "
          f"{samples} examples\n"
          f"'0s'             seconds the epoch took\n"
          f"'loss: ...'      mean loss over the epoch's batches (sparse categorical "
          f"crossentropy)\n"
          f"'accuracy: ...'  share of examples whose most probable class is the label\n"
          f"The course's listing starts with epoch 1's line; tf.keras (and fastnn) first "
          f"print\n'Train on 40 samples' and 'Epoch 1/20'.")
    steps = model.optimizer.iterations
    print(f"batch_size=2: {samples} / 2 = {samples // 2} weight updates per epoch, "
          f"x 20 epochs = {steps} updates\n(model.optimizer.iterations = {steps}).")
    falls = "it falls every epoch" if np.all(np.diff(logs["loss"]) < 0) else "it falls"
    print(f"loss {logs['loss'][0]:.4f} in epoch 1 -> {logs['loss'][-1]:.4f} in epoch 20: "
          f"{falls}, the net learns.")


def weight_updates(model, recorder):
    heading("7.2 The weights move a little with every update")
    names = [f"{layer.name}.{kind}" for layer in model.layers for kind in ("kernel", "bias")]
    first, last = recorder.epochs[0], recorder.epochs[-1]
    moved = [np.abs(b - a).max() for a, b in zip(first, last)]
    array = int(np.argmax(moved))
    index = tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(last[array] - first[array])),
                                                   first[array].shape))
    print(f"The weight that moved most in the 20 epochs: {names[array]}{list(index)}")
    print(f"{'epoch':>5} {'value':>9} {'change in the epoch':>20}")
    values = [float(weights[array][index]) for weights in recorder.epochs]
    for epoch, value in enumerate(values):
        if epoch in (0, 1, 2, 3, 10, 20):
            change = "" if epoch == 0 else f"{value - values[epoch - 1]:+.5f}"
            print(f"{epoch:>5} {value:>9.5f} {change:>20}" + ("   (start)" if epoch == 0 else ""))
    largest = max(abs(b - a) for a, b in zip(values[:-1], values[1:]))
    print(f"Each update: new weight = old weight - learning rate * (gradient-based direction).\n"
          f"Adam scales every weight's step to roughly the learning rate 0.0001, so 20 updates "
          f"move a weight\nby roughly 20 * 0.0001 = 0.002 per epoch (this one: at most "
          f"{largest:.4f}),\nand all {model.optimizer.iterations} updates together by "
          f"only {values[-1] - values[0]:+.4f}.")


def predictions(model):
    heading("7.2.3 What the net has learned")
    probabilities = model.predict(np.array([0, 1]))
    print(f"{'input':>5} {'P(class 0)':>11} {'P(class 1)':>11} {'predicted':>10} {'wanted':>7}")
    for x, p in zip((0, 1), probabilities):
        print(f"{x:>5} {p[0]:>11.4f} {p[1]:>11.4f} {int(np.argmax(p)):>10} {1 - x:>7}")
    print("The outputs are two sigmoids, so a row need not sum to 1; the larger one is the "
          "prediction.\nBoth are still close to 0.5: the net has the right answer, but only "
          "just.")


def train_longer(model, examples, labels, history, epochs):
    heading(f"One step further: {epochs} more epochs with the same small learning rate")
    more = model.fit(examples, labels, batch_size=2, epochs=epochs, shuffle=True, verbose=0)
    losses = history.history["loss"] + more.history["loss"]
    accuracy = history.history["accuracy"] + more.history["accuracy"]
    print(f"{'epoch':>5} {'loss':>8} {'accuracy':>9}")
    for epoch in sorted({0, 19, 49, 99, 149, len(losses) - 1} & set(range(len(losses)))):
        print(f"{epoch + 1:>5} {losses[epoch]:>8.4f} {accuracy[epoch]:>9.4f}")
    probabilities = model.predict(np.array([0, 1]))
    print(f"Predictions now: 0 -> [{probabilities[0, 0]:.3f}, {probabilities[0, 1]:.3f}], "
          f"1 -> [{probabilities[1, 0]:.3f}, {probabilities[1, 1]:.3f}].\n"
          f"The loss keeps falling: the more updates, the surer the net.  A larger learning "
          f"rate gets there in fewer epochs (chapter 9).")
    return {"loss": losses, "accuracy": accuracy}


def main():
    args = arguments(__doc__, fast="fewer extra epochs in part 5")
    set_random_seed(SEED)
    recorder = WeightRecorder()
    model, examples, labels, history = course_example(recorder)
    read_the_log(model, history, len(examples))
    weight_updates(model, recorder)
    predictions(model)
    logs = train_longer(model, examples, labels, history,
                        EXTRA_EPOCHS["fast" if args.fast else "full"])

    heading("Picture")
    if not fastnn.plot.available():
        print("pictures skipped: matplotlib is not installed (pip install fastnn[plot])")
        return
    path = fastnn.plot.history(logs, args.out / "ch07_training.png", metrics=("loss", "accuracy"),
                               title="Chapter 7: 1-16-32-2 net, Adam(lr=0.0001), batch size 2")
    print(f"picture: {path}")


if __name__ == "__main__":
    main()
