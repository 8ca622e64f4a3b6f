"""Chapter 16: Semi-supervised learning — pseudo-labeling Fashion-MNIST when only 1 % of the labels are known.

What you see:
  1. 16.1 The situation: 60,000 training images, but only 600 of them
     labeled (60 per class); the other 59,400 are used without their labels.
  2. The labeled-only baseline: a small CNN (Conv2D, MaxPooling2D, Dense)
     trained on the 600 labeled images, and its test accuracy.
  3. 16.2 Pseudo-labeling with fastnn.semi_supervised.PseudoLabeler: the
     same CNN, trained the same way (step 1), labels the unlabeled images it
     is at least 95 % sure of (step 2) and trains on labeled +
     pseudo-labeled images (step 3).  Since this data set does have all its
     labels, the script can check how many pseudo-labels are right.
  4. How the threshold trades quantity for quality, and which classes the
     confident pseudo-labels come from.
  5. The test accuracy with pseudo-labels next to the baseline, and why
     more (pseudo-)labeled data need not mean a better network.
Picture (in --out): unlabeled images with their pseudo-labels (wrong ones marked).

Run:  python -m fastnn course 16 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch16_semi_supervised_learning.py [--fast] [--out DIR])
(--fast: 10 labeled images per class, 2,000 unlabeled, a few epochs.)
"""
import time

import numpy as np

import fastnn.plot
from fastnn.course import arguments
from fastnn.datasets import fashion_mnist
from fastnn.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from fastnn.models import Sequential
from fastnn.optimizers import Adam
from fastnn.semi_supervised import PseudoLabeler
from fastnn.utils import set_random_seed

SEED = 16
THRESHOLD = 0.95
SETTINGS = {
    "fast": dict(per_class=10, unlabeled=2000, test=1000, epochs=40, retrain_epochs=1),
    "full": dict(per_class=60, unlabeled=None, test=None, epochs=60, retrain_epochs=2),
}
NAMES = fashion_mnist.CLASS_NAMES


def heading(text):
    print(f"\n=== {text} ===")


def split_data(settings):
    """(labeled, unlabeled with its hidden labels, test), images scaled to [0, 1]."""
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    x_train = (x_train[..., np.newaxis] / np.float32(255)).astype(np.float32)
    x_test = (x_test[..., np.newaxis] / np.float32(255)).astype(np.float32)
    rng = np.random.default_rng(SEED)
    labeled = np.concatenate([rng.choice(np.flatnonzero(y_train == c), settings["per_class"],
                                         replace=False) for c in range(10)])
    unlabeled = np.setdiff1d(np.arange(len(x_train)), labeled)
    unlabeled = rng.permutation(unlabeled)[:settings["unlabeled"]]
    test = slice(settings["test"])
    return ((x_train[labeled], y_train[labeled]), (x_train[unlabeled], y_train[unlabeled]),
            (x_test[test], y_test[test]))


def small_cnn():
    """Seeded, so every call starts from the same weights."""
    set_random_seed(SEED)
    model = Sequential([Conv2D(16, 3, activation="relu", input_shape=(28, 28, 1)),
                        MaxPooling2D(2),
                        Conv2D(32, 3, activation="relu"),
                        MaxPooling2D(2),
                        Flatten(),
                        Dropout(0.3),
                        Dense(10, activation="softmax")])
    model.compile(Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def labeled_only(labeled, test, settings):
    heading("The baseline: train on the labeled images only")
    start = time.perf_counter()
    model = small_cnn()
    model.fit(*labeled, epochs=settings["epochs"], batch_size=32, verbose=0)
    accuracy = model.evaluate(*test, verbose=0)[1]
    print(f"{settings['epochs']} epochs on {len(labeled[0])} images "
          f"({time.perf_counter() - start:.0f} s): test accuracy {accuracy:.4f}")
    return accuracy


def pseudo_labeling(labeled, unlabeled, test, settings):
    heading(f"16.2 Pseudo-labeling: PseudoLabeler(model, threshold={THRESHOLD})")
    start = time.perf_counter()
    labeler = PseudoLabeler(small_cnn(), threshold=THRESHOLD)
    labeler.fit(*labeled, unlabeled[0], epochs=settings["epochs"],
                retrain_epochs=settings["retrain_epochs"], batch_size=32, verbose=0)
    seconds = time.perf_counter() - start
    hidden = unlabeled[1]
    mask = labeler.mask_
    right = labeler.pseudo_labels_[mask] == hidden[mask]
    print("step 1: the same training as the baseline (same seed, same epochs)")
    print(f"step 2: {mask.sum()} of {len(mask)} unlabeled images ({mask.mean():.0%}) got a "
          f"pseudo-label" + (f"; {right.mean():.1%} of them are right" if mask.any() else ""))
    print(f"step 3: {settings['retrain_epochs']} more epochs on {len(labeled[0])} labeled + "
          f"{mask.sum()} pseudo-labeled images ({seconds:.0f} s for all three steps)")
    accuracy = np.mean(labeler.predict(test[0], batch_size=256).argmax(axis=1) == test[1])
    print(f"test accuracy after pseudo-labeling: {accuracy:.4f}")
    return labeler, accuracy


def threshold_table(labeler, hidden):
    heading("Quantity against quality: what other thresholds would have kept")
    print(f"{'threshold':>9}  {'pseudo-labels':>13}  {'share':>6}  {'right':>6}")
    for threshold in (0.5, 0.8, 0.9, 0.95, 0.99):
        keep = labeler.confidence_ >= threshold
        right = np.mean(labeler.pseudo_labels_[keep] == hidden[keep]) if keep.any() else np.nan
        print(f"{threshold:>9}  {keep.sum():>13}  {keep.mean():>6.0%}  {right:>6.1%}")

    print("\nThe confident predictions are not spread evenly over the classes:")
    counts = np.bincount(labeler.pseudo_labels_[labeler.mask_], minlength=10)
    for name, count in zip(NAMES, counts):
        print(f"  {name:<12} {count:>6}")
    order = np.argsort(counts)
    print(f"Most come from {', '.join(NAMES[c] for c in order[:-4:-1])}; "
          f"fewest from {', '.join(NAMES[c] for c in order[:3])}.")
    print("The classes the model is already sure of get most of the new data, those it")
    print("confuses get little: step 3 mostly practises what step 1 already learned.")


def explain(gain, labeler, hidden):
    wrong = int(np.sum(labeler.pseudo_labels_[labeler.mask_] != hidden[labeler.mask_]))
    if gain > 0.005:
        print("The pseudo-labels helped: training on many mostly-right labels taught the")
        print("network more than the few real labels alone.")
        return
    print("More data, but " + ("no better" if gain > -0.005 else "slightly worse") +
          f": the {wrong} wrong pseudo-labels are the model's own mistakes,")
    print("now learned as facts, and the right ones are mostly images it already")
    print("classified correctly — it learns from itself (confirmation bias).  Pseudo-")
    print("labeling pays off when the confident predictions cover what the labeled data")
    print("does not show well; common refinements are class-balanced pseudo-labels, random")
    print("augmentation while retraining, and several rounds of labeling.")


def picture(labeler, unlabeled, out):
    heading("Picture")
    if not fastnn.plot.available():
        print("pictures skipped: matplotlib is not installed (pip install fastnn[plot])")
        return
    images, hidden = unlabeled
    confident = np.flatnonzero(labeler.mask_)
    if not confident.any():
        print("no pseudo-labels to show")
        return
    is_right = labeler.pseudo_labels_[confident] == hidden[confident]
    right, wrong = confident[is_right][:12], confident[~is_right][:4]
    titles = ([NAMES[labeler.pseudo_labels_[i]] for i in right] +
              [f"{NAMES[labeler.pseudo_labels_[i]]} (is {NAMES[hidden[i]]})" for i in wrong])
    path = fastnn.plot.images(images[np.concatenate([right, wrong])],
                              out / "ch16_pseudo_labels.png", titles=titles, ncols=4,
                              title=f"Pseudo-labels (p >= {THRESHOLD}); last row: wrong")
    print(f"picture: {path}")


def main():
    args = arguments(__doc__, fast="small subsets, few epochs")
    settings = SETTINGS["fast" if args.fast else "full"]
    labeled, unlabeled, test = split_data(settings)
    heading("16.1 A big data set with few labels")
    print(f"{len(labeled[0])} labeled training images ({settings['per_class']} per class), "
          f"{len(unlabeled[0])} unlabeled ones, {len(test[0])} test images")
    baseline = labeled_only(labeled, test, settings)
    labeler, accuracy = pseudo_labeling(labeled, unlabeled, test, settings)
    threshold_table(labeler, unlabeled[1])

    heading("Result")
    print(f"labeled only:        {baseline:.4f}")
    print(f"with pseudo-labels:  {accuracy:.4f}  ({accuracy - baseline:+.4f})")
    explain(accuracy - baseline, labeler, unlabeled[1])
    picture(labeler, unlabeled, args.out)


if __name__ == "__main__":
    main()
