"""Chapter 30: Fine-tuning — reuse what a CNN learned on one task for a related one: pop the classifier, freeze the base, add a new head, train.

What you see:
  1. The original task: a small CNN learns Fashion-MNIST classes 0-4
     (T-shirt/top, Trouser, Pullover, Dress, Coat) from many images.
  2. 30.2 The course's workflow for a new but related task, classes 5-9
     (Sandal, Shirt, Sneaker, Bag, Ankle boot), with only a few labeled
     images:
       pop    model.pop() removes the old classifier (its two Dense layers);
       freeze layer.trainable = False for every layer of the conv base
              (30.2.1, freezing weights);
       add    a new classifier, Dense(64) and Dense(5), for the new classes;
       train  compile again and fit on the new images: only the new layers learn.
  3. The comparison: the same architecture trained from scratch on the same
     few images for the same epochs.  Accuracy per epoch for both, on the
     training images and on the test images of classes 5-9.
  4. Proof that freezing works: every frozen weight array is bit-for-bit
     the same after training (np.array_equal).

Run:  python -m fastnn course 30 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch30_fine_tuning.py [--fast] [--out DIR])
"""
import numpy as np

import fastnn.plot
from fastnn.course import arguments
from fastnn.datasets import fashion_mnist
from fastnn.layers import Conv2D, Dense, Flatten, MaxPooling2D
from fastnn.models import Sequential
from fastnn.optimizers import Adam
from fastnn.utils import set_random_seed

# --fast runs in seconds; the full run in a few minutes on 2 cores
SETTINGS = {
    "fast": dict(source_train=2000, source_epochs=1, labeled_per_class=10, epochs=4,
                 test=500),
    "full": dict(source_train=12000, source_epochs=3, labeled_per_class=10, epochs=10,
                 test=2000),
}
SEED = 30
OLD_CLASSES = (0, 1, 2, 3, 4)
NEW_CLASSES = (5, 6, 7, 8, 9)
SOURCE_BATCH_SIZE = 32   # many images for the original task
NEW_BATCH_SIZE = 10      # few for the new one: the course's batch size of 29.2


def heading(text):
    print(f"\n=== {text} ===")


def names(classes):
    return ", ".join(fashion_mnist.CLASS_NAMES[c] for c in classes)


def subset(x, y, classes, count=None, per_class=None):
    """Images of ``classes`` scaled to [0, 1] with a channel axis; labels renumbered 0..4.

    ``count`` keeps the first ``count`` of them, ``per_class`` the first
    ``per_class`` of each class (a small, balanced labeled set)."""
    keep = np.flatnonzero(np.isin(y, classes))
    if per_class is not None:
        keep = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in classes])
        keep.sort()
    keep = keep[:count]
    images = (x[keep, :, :, None] / 255.0).astype(np.float32)
    return images, np.searchsorted(classes, y[keep])


def conv_base():
    """The feature extractor: two conv + pooling stages and Flatten."""
    return [Conv2D(16, (3, 3), activation="relu", input_shape=(28, 28, 1)),
            MaxPooling2D(pool_size=(2, 2)),
            Conv2D(32, (3, 3), activation="relu"),
            MaxPooling2D(pool_size=(2, 2)),
            Flatten()]


def classifier():
    """The head: what maps the base's features to 5 classes."""
    return [Dense(64, activation="relu"), Dense(5, activation="softmax")]


def compile_model(model):
    model.compile(optimizer=Adam(learning_rate=0.001), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])


def train_original(data, settings):
    (x_train, y_train), (x_test, y_test) = data
    x, y = subset(x_train, y_train, OLD_CLASSES, count=settings["source_train"])
    x_val, y_val = subset(x_test, y_test, OLD_CLASSES, count=settings["test"])
    heading(f"1. The original task: classes 0-4 ({names(OLD_CLASSES)})")
    print(f"{len(x)} training images, {settings['source_epochs']} epoch(s)")
    set_random_seed(SEED)
    model = Sequential(conv_base() + classifier())
    compile_model(model)
    model.fit(x, y, batch_size=SOURCE_BATCH_SIZE, epochs=settings["source_epochs"], verbose=2)
    _, accuracy = model.evaluate(x_val, y_val, verbose=0)
    print(f"test accuracy on {len(x_val)} images of classes 0-4: {accuracy:.3f}")
    return model


def fine_tune(model):
    heading("2. 30.2 Pop, freeze, add: the new model for classes 5-9")
    model.pop()   # Dense(5): the old classes' output layer
    model.pop()   # Dense(64): the rest of the old classifier
    print(f"after two model.pop() calls: {[layer.name for layer in model.layers]}")
    for layer in model.layers:
        layer.trainable = False
    frozen = {layer.name: layer.get_weights() for layer in model.layers if layer.variables}
    for layer in classifier():
        model.add(layer)
    compile_model(model)   # compile again after changing trainable (as Keras requires)
    model.summary()
    return model, frozen


def train_on_new_task(model, x, y, validation, settings):
    history = model.fit(x, y, batch_size=NEW_BATCH_SIZE, epochs=settings["epochs"],
                        validation_data=validation, verbose=0)
    return history.history


def compare(runs):
    print(f"{'':>5}  {'fine-tuned (frozen base)':^24}  {'from scratch':^24}")
    print(f"{'epoch':>5}  {'train acc':>11} {'test acc':>11}  {'train acc':>11} {'test acc':>11}")
    tuned, scratch = runs["fine-tuned"], runs["from scratch"]
    for epoch in range(len(tuned["accuracy"])):
        print(f"{epoch + 1:>5}  {tuned['accuracy'][epoch]:>11.3f} "
              f"{tuned['val_accuracy'][epoch]:>11.3f}  {scratch['accuracy'][epoch]:>11.3f} "
              f"{scratch['val_accuracy'][epoch]:>11.3f}")


def frozen_unchanged(model, frozen):
    heading("4. 30.2.1 Frozen weights did not change")
    layers = {layer.name: layer for layer in model.layers}
    for name, before in frozen.items():
        after = layers[name].get_weights()
        same = all(np.array_equal(a, b) for a, b in zip(before, after))
        print(f"{name:<10} {', '.join(str(w.shape) for w in after):<28} "
              f"unchanged: {same}")
    new = [layer for layer in model.layers if layer.trainable_variables]
    print(f"trainable: only {', '.join(layer.name for layer in new)} "
          f"({sum(layer.count_params() for layer in new):,} of {model.count_params():,} "
          f"parameters)")


def main():
    args = arguments(__doc__, fast="small data, few epochs (seconds)")
    settings = SETTINGS["fast" if args.fast else "full"]
    data = fashion_mnist.load_data()
    original = train_original(data, settings)

    (x_train, y_train), (x_test, y_test) = data
    x, y = subset(x_train, y_train, NEW_CLASSES, per_class=settings["labeled_per_class"])
    validation = subset(x_test, y_test, NEW_CLASSES, count=settings["test"])
    model, frozen = fine_tune(original)

    heading(f"3. The new task: classes 5-9 ({names(NEW_CLASSES)})")
    print(f"only {len(x)} labeled images ({settings['labeled_per_class']} per class), "
          f"{settings['epochs']} epochs, batch {NEW_BATCH_SIZE}; test accuracy on "
          f"{len(validation[0])} test images of classes 5-9")
    set_random_seed(SEED + 1)   # the same batch order for both runs
    runs = {"fine-tuned": train_on_new_task(model, x, y, validation, settings)}
    set_random_seed(SEED + 1)
    scratch = Sequential(conv_base() + classifier())
    compile_model(scratch)
    runs["from scratch"] = train_on_new_task(scratch, x, y, validation, settings)
    compare(runs)
    tuned, scratch = (runs[name]["val_accuracy"] for name in ("fine-tuned", "from scratch"))
    print(f"test accuracy, fine-tuned minus from scratch: {tuned[0] - scratch[0]:+.3f} after "
          f"epoch 1, {tuned[-1] - scratch[-1]:+.3f} after epoch {len(tuned)}, "
          f"{np.mean(tuned) - np.mean(scratch):+.3f} on average over the epochs.\n"
          f"The fine-tuned model's edge, shape and texture detectors were learned on classes "
          f"0-4 from {settings['source_train']} images;\nthe model from scratch has to learn "
          f"them from {len(x)}." + ("\n(--fast trains the original model only briefly: run "
                                    "without --fast to see what a well-trained base brings.)"
                                    if settings is SETTINGS["fast"] else ""))
    frozen_unchanged(model, frozen)

    heading("Pictures")
    if not fastnn.plot.available():
        print("pictures skipped: matplotlib is not installed (pip install fastnn[plot])")
        return
    for name, logs in runs.items():
        path = fastnn.plot.history(logs, args.out / f"ch30_{name.replace(' ', '_')}.png",
                                   metrics=("loss", "accuracy"),
                                   title=f"classes 5-9, {name}")
        print(f"picture: {path}")
    kernel = model.layers[0].get_weights()[0]
    path = fastnn.plot.filters(kernel, args.out / "ch30_frozen_filters.png",
                               title="first-layer filters learned on classes 0-4, reused")
    print(f"picture: {path}")


if __name__ == "__main__":
    main()
