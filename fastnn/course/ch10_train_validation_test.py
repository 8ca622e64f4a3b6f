"""Chapter 10: Training, validation and test sets — validation_split, validation_data and a final test evaluation.

The data (made up, as in the deeplizard course this one follows): in a drug
trial with people aged 13 to 100, about 95% of those aged 65 or older had
side effects (label 1) and about 95% of the younger ones had none (label 0).
The net learns to predict side effects from the age, scaled to [0, 1].

What you see:
  1. 10.1 Three separate sets: training, validation, test.
  2. 10.1.2 validation_split=0.1 takes the *last* 10% of the samples, before
     any shuffling: with sorted data that is a lopsided validation set, so
     shuffle the data first.
  3. fit(..., validation_split=0.1, verbose=2): val_loss and val_accuracy
     in every epoch's log line.
  4. fit(..., validation_data=(x_val, y_val)): a validation set of its own;
     the per-epoch numbers from the returned History.
  5. Validation never changes the weights: one epoch with and one without
     it, from the same start, end with identical weights.
  6. 10.1.3 The test set: one final model.evaluate on data the net has never
     seen, then the summary table of 10.2.
Picture (in --out): training vs validation loss and accuracy per epoch.

Run:  python -m fastnn course 10 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch10_train_validation_test.py [--fast] [--out DIR])
"""
import numpy as np

import fastnn.plot
from fastnn.course import arguments
from fastnn.layers import Dense
from fastnn.models import Sequential
from fastnn.optimizers import Adam
from fastnn.utils import set_random_seed

SEED = 10
EPOCHS = {"fast": 3, "full": 30}
YOUNGEST, OLDEST, OLD_FROM = 13, 100, 65


def heading(text):
    print(f"\n=== {text} ===")


def drug_trial(rng, typical, unusual):
    """Ages and labels, sorted as collected: per age group ``typical`` people with the
    group's usual outcome and ``unusual`` with the other one (young first, then old)."""
    young = rng.integers(YOUNGEST, OLD_FROM, typical + unusual)
    old = rng.integers(OLD_FROM, OLDEST + 1, typical + unusual)
    ages = np.concatenate([young, old])
    labels = np.concatenate([[0] * typical + [1] * unusual, [1] * typical + [0] * unusual])
    return ages, labels


def scale(ages):
    """Ages 13..100 -> 0..1 (min-max scaling, like sklearn's MinMaxScaler)."""
    return ((ages - YOUNGEST) / (OLDEST - YOUNGEST)).astype(np.float32)


def shuffled(rng, ages, labels):
    order = rng.permutation(len(ages))
    return ages[order], labels[order]


def new_model():
    model = Sequential([
        Dense(16, input_shape=(1,), activation='relu'),
        Dense(32, activation='relu'),
        Dense(2, activation='softmax')
    ])
    model.compile(Adam(lr=0.0001), loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    return model


def describe(name, ages, labels):
    old = ages >= OLD_FROM
    print(f"{name:<24} {len(ages):>6} {np.mean(~old):>12.0%} {np.mean(old):>10.0%} "
          f"{np.mean(labels):>14.0%}")


def the_sets(rng):
    heading("10.1 Three separate data sets")
    train = drug_trial(rng, 1000, 50)
    valid = drug_trial(rng, 100, 5)
    test = drug_trial(rng, 200, 10)
    print(f"{'set':<24} {'people':>6} {'aged 13-64':>12} {'aged 65+':>10} "
          f"{'side effects':>14}")
    for name, (ages, labels) in (("training", train), ("validation", valid), ("test", test)):
        describe(name, ages, labels)
    print("Each set is drawn separately: the net never trains on a validation or test person.")
    return train, valid, test


def split_pitfall(rng, train):
    heading("10.1.2 validation_split takes the LAST part of the data, before shuffling")
    ages, labels = train
    cut = int(len(ages) * (1 - 0.1))
    print(f"validation_split=0.1 of {len(ages)} samples: samples {cut}..{len(ages) - 1} "
          f"validate, the first {cut} train.")
    print(f"{'':<24} {'people':>6} {'aged 13-64':>12} {'aged 65+':>10} {'side effects':>14}")
    describe("last 10%, data as sorted", ages[cut:], labels[cut:])
    ages, labels = shuffled(rng, ages, labels)
    describe("last 10%, shuffled first", ages[cut:], labels[cut:])
    print("fit(shuffle=True) only shuffles the training part, after the split.  Sorted data "
          "would be validated on\nold people only - so shuffle before fitting, as done from "
          "here on.")
    return ages, labels


def with_validation_split(ages, labels, epochs):
    heading(f"fit(..., validation_split=0.1, verbose=2): {epochs} epochs")
    set_random_seed(SEED)
    model = new_model()
    history = model.fit(scale(ages), labels, validation_split=0.1, batch_size=10,
                        epochs=epochs, shuffle=True, verbose=2)
    print("val_loss, val_accuracy: the same measures on the 10% the net does not train on.  "
          "Close to loss and\naccuracy means the net generalises (no overfitting, chapter "
          "12).")
    return history


def with_validation_data(ages, labels, valid, epochs):
    heading("fit(..., validation_data=(scaled_valid_samples, valid_labels))")
    set_random_seed(SEED)
    model = new_model()
    history = model.fit(scale(ages), labels, validation_data=(scale(valid[0]), valid[1]),
                        batch_size=10, epochs=epochs, shuffle=True, verbose=0)
    logs = history.history
    print(f"Trained on all {len(ages)} training samples, validated on the {len(valid[0])} of "
          f"the separate set (the History's numbers):")
    print(f"{'epoch':>5} {'loss':>8} {'accuracy':>9} {'val_loss':>9} {'val_accuracy':>13}")
    for epoch in sorted({0, 1, 2, epochs // 2, epochs - 1}):
        print(f"{epoch + 1:>5} {logs['loss'][epoch]:>8.4f} {logs['accuracy'][epoch]:>9.4f} "
              f"{logs['val_loss'][epoch]:>9.4f} {logs['val_accuracy'][epoch]:>13.4f}")
    return model, history


def validation_changes_nothing(ages, labels, valid):
    heading("Validation does not update the weights")
    runs = []
    for validation in (None, (scale(valid[0]), valid[1])):
        set_random_seed(SEED)
        model = new_model()
        model.fit(scale(ages), labels, validation_data=validation, batch_size=10, epochs=1,
                  verbose=0)
        runs.append(model.get_weights())
    same = all(np.array_equal(a, b) for a, b in zip(*runs))
    print(f"one epoch without and one with validation_data, same start: weights identical? "
          f"{same}")


def test_set(model, test):
    heading("10.1.3 The test set: one final check")
    loss, accuracy = model.evaluate(scale(test[0]), test[1], verbose=0)
    print(f"model.evaluate(scaled_test_samples, test_labels): loss {loss:.4f}, accuracy "
          f"{accuracy:.4f}")
    best = np.mean(test[1] == (test[0] >= OLD_FROM))
    print(f"(The plain rule 'side effects from 65 on' scores {best:.4f}; no model does much "
          f"better, since the\n5% unusual cases of each age group cannot be told from the "
          f"age.)\nIn real use the test samples come "
          f"without labels; here we keep the labels aside and use them only\nto score the "
          f"net's answers (chapter 11 shows the answers themselves).")


def summary_table():
    heading("10.2 Summary")
    rows = [("training set", "yes", "fits the net to the data (and should generalise)"),
            ("validation set", "no", "checks during training how well the net generalises"),
            ("test set", "no", "final check before the net is used for real")]
    print(f"{'data set':<16} {'updates weights':<16} purpose")
    for row in rows:
        print(f"{row[0]:<16} {row[1]:<16} {row[2]}")


def main():
    args = arguments(__doc__, fast="few epochs")
    epochs = EPOCHS["fast" if args.fast else "full"]
    set_random_seed(SEED)
    rng = np.random.default_rng(SEED)
    train, valid, test = the_sets(rng)
    ages, labels = split_pitfall(rng, train)
    split_history = with_validation_split(ages, labels, epochs)
    model, history = with_validation_data(ages, labels, valid, epochs)
    validation_changes_nothing(ages, labels, valid)
    test_set(model, test)
    summary_table()

    heading("Picture")
    if not fastnn.plot.available():
        print("pictures skipped: matplotlib is not installed (pip install fastnn[plot])")
        return
    for name, run in (("validation_split", split_history), ("validation_data", history)):
        path = fastnn.plot.history(run, args.out / f"ch10_{name}.png",
                                   metrics=("loss", "accuracy"),
                                   title=f"Chapter 10: training vs validation ({name})")
        print(f"picture: {path}")


if __name__ == "__main__":
    main()
