"""Chapter 17: Data augmentation — new training images from the ones we have.

The course lists the usual changes: flip, rotate, zoom in or out, crop,
shift and change the colours.  fastnn has them as layers that act only
while ``fit`` trains (``evaluate`` and ``predict`` see the images as they
are).  This script shows each layer on one Fashion-MNIST image (numbers,
and a picture grid), then trains the same small CNN on 1,000 images with
and without augmentation: with so few images, augmentation fights the
overfitting of chapter 12.

Run:  python -m fastnn course 17 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch17_data_augmentation.py [--fast] [--out DIR])
(full: about a minute; --fast: a few seconds.)
"""
import numpy as np

import fastnn
from fastnn import plot
from fastnn.course import arguments
from fastnn.datasets import fashion_mnist
from fastnn.layers import (Conv2D, Dense, Dropout, Flatten, MaxPooling2D, RandomBrightness,
                           RandomContrast, RandomCrop, RandomFlip, RandomRotation,
                           RandomTranslation, RandomZoom)
from fastnn.models import Sequential

AUGMENTATIONS = [
    ("flip left-right", RandomFlip("horizontal", seed=1)),
    ("rotate up to 20 degrees", RandomRotation(20 / 360, seed=2)),
    ("zoom in (up to 30%)", RandomZoom((-0.3, -0.1), seed=3)),
    ("zoom out (up to 30%)", RandomZoom((0.1, 0.3), fill_mode="constant", seed=4)),
    ("shift up to 15%", RandomTranslation(0.15, 0.15, fill_mode="constant", seed=5)),
    ("crop 22x22", RandomCrop(22, 22, seed=6)),
    ("brightness +-30%", RandomBrightness(0.3, value_range=(0, 1), seed=7)),
    ("contrast +-50%", RandomContrast(0.5, value_range=(0, 1), seed=8)),
]


def show_each_augmentation(image, out):
    """Each layer applied (in training mode) to four copies of one image; the
    picture has one row per layer: the original, then three random draws."""
    batch = np.repeat(image[None], 4, axis=0)
    print("Each augmentation on four copies of one image (training mode):")
    print(f"  {'layer':<26}{'output shape':<16}{'pixel change':<14}identity at inference")
    pictures, titles = [], []
    for name, layer in AUGMENTATIONS:
        augmented = layer(batch, training=True)
        at_inference = layer(batch, training=False)
        same = at_inference.shape == batch.shape and np.array_equal(at_inference, batch)
        change = (np.abs(augmented - batch).mean() if augmented.shape == batch.shape
                  else float("nan"))
        print(f"  {name:<26}{str(augmented.shape[1:]):<16}{change:<14.3f}"
              f"{'yes' if same else 'no (centre crop)'}")
        pictures += [image] + list(augmented[:3])   # one row per layer: original, 3 draws
        titles += [f"{name}:"] + [""] * 3
    if plot.available():
        size = 28
        padded = [np.pad(p, [((size - p.shape[0]) // 2,) * 2, ((size - p.shape[1]) // 2,) * 2,
                             (0, 0)]) for p in pictures]
        path = plot.images(np.stack(padded), out / "ch17_augmentations.png",
                           titles=titles, ncols=4, title="Chapter 17: data augmentation")
        print(f"\npicture: {path}")
    else:
        print("\n(pictures skipped: install matplotlib with  pip install fastnn[plot])")


def small_cnn(augment):
    front = [RandomFlip("horizontal"), RandomRotation(0.03), RandomZoom(0.1),
             RandomTranslation(0.08, 0.08)] if augment else []
    return Sequential([
        fastnn.layers.InputLayer(input_shape=(28, 28, 1)),
        *front,
        Conv2D(32, 3, activation="relu"), MaxPooling2D(2),
        Conv2D(64, 3, activation="relu"), MaxPooling2D(2),
        Flatten(), Dropout(0.3), Dense(10, activation="softmax"),
    ])


def compare_training(x_train, y_train, x_test, y_test, epochs):
    print(f"\nThe same CNN trained on {len(x_train)} images for {epochs} "
          f"epoch{'s' if epochs > 1 else ''}:")
    results = {}
    for augment in (False, True):
        fastnn.utils.set_random_seed(0)
        model = small_cnn(augment)
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=0,
                            validation_data=(x_test, y_test))
        logs = {k: v[-1] for k, v in history.history.items()}
        label = "with augmentation" if augment else "without"
        results[label] = logs
        print(f"  {label:<18} train accuracy {logs['accuracy']:.3f}   "
              f"test accuracy {logs['val_accuracy']:.3f}   "
              f"gap {logs['accuracy'] - logs['val_accuracy']:+.3f}")
    print("Augmentation makes the training images harder to memorise: the train/test gap "
          "shrinks\n(chapter 12), and on a small data set the test accuracy usually rises.")
    return results


def main():
    args = arguments(__doc__, fast="tiny subset, one epoch")
    fastnn.utils.set_random_seed(0)

    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    x_train = (x_train[..., None] / 255.0).astype(np.float32)
    x_test = (x_test[..., None] / 255.0).astype(np.float32)
    show_each_augmentation(x_train[0], args.out)

    train, test, epochs = (200, 200, 1) if args.fast else (1000, 5000, 30)
    compare_training(x_train[:train], y_train[:train], x_test[:test], y_test[:test], epochs)


if __name__ == "__main__":
    main()
