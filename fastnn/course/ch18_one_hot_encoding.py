"""Chapter 18: One-hot encoding — cat/dog/turtle/llama with to_categorical; categorical vs sparse crossentropy labels.

What you see:
  1. 18.2/18.3 cat, dog, turtle as one-hot vectors of length 3 (one element
     "hot" = 1, the others "cold" = 0); adding the llama makes them length 4,
     and the old vectors only gain a 0 at the end.
  2. Encoding a list of animal names and decoding it again with argmax;
     why to_categorical needs num_classes when a batch lacks some class.
  3. The two crossentropies: categorical_crossentropy takes one-hot labels,
     sparse_categorical_crossentropy takes the class numbers - on the same
     predictions they give the same loss, -log P(true class).  Mixing them
     up is refused with a clear message.
  4. One step further: the same net trained both ways, from the same start,
     learns exactly the same.

Run:  python -m fastnn course 18 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch18_one_hot_encoding.py [--fast] [--out DIR])
"""
import numpy as np

from fastnn import losses
from fastnn.course import arguments
from fastnn.layers import Dense
from fastnn.models import Sequential
from fastnn.optimizers import Adam
from fastnn.utils import set_random_seed, to_categorical

SEED = 18
EPOCHS = {"fast": 15, "full": 30}
ANIMALS = ["cat", "dog", "turtle", "llama"]      # the course's order: index = class number
# Made-up typical (weight kg, height cm) of each animal, for part 4
TYPICAL = {"cat": (4, 25), "dog": (25, 55), "turtle": (2, 12), "llama": (150, 110)}


def heading(text):
    print(f"\n=== {text} ===")


def vector(row):
    return "[" + ",".join(str(int(v)) for v in row) + "]"


def hot_and_cold():
    heading("18.3 One-hot vectors: one element hot (1), the others cold (0)")
    three = to_categorical([0, 1, 2])
    four = to_categorical([0, 1, 2, 3])
    print(f"{'label':<8} {'number':>6}   {'3 classes':<10} {'with llama':<10}")
    for number, name in enumerate(ANIMALS):
        old = vector(three[number]) if number < 3 else ""
        print(f"{name:<8} {number:>6}   {old:<10} {vector(four[number]):<10}")
    print(f"to_categorical([0, 1, 2]) has shape {three.shape}, to_categorical([0, 1, 2, 3]) "
          f"{four.shape}, dtype {four.dtype}.")
    unchanged = np.array_equal(four[:3, :3], three) and not four[:3, 3].any()
    print(f"Adding the llama appended a 0 to cat, dog and turtle, whose 1s stay where they "
          f"were: {unchanged}.")


def encode_decode():
    heading("Encoding a batch of labels, and decoding it")
    names = ["dog", "cat", "llama", "turtle", "dog"]
    numbers = [ANIMALS.index(name) for name in names]
    one_hot = to_categorical(numbers, num_classes=len(ANIMALS))
    decoded = [ANIMALS[i] for i in np.argmax(one_hot, axis=-1)]
    print(f"names   {names}\nnumbers {numbers}\none-hot " + " ".join(map(vector, one_hot)))
    print(f"argmax  {np.argmax(one_hot, axis=-1).tolist()} -> {decoded}")
    print(f"Without num_classes, to_categorical guesses max + 1: a batch of only cats and dogs "
          f"gives\nto_categorical([0, 1]) = {' '.join(map(vector, to_categorical([0, 1])))} - "
          f"length 2, not 4.  Pass num_classes={len(ANIMALS)}.")


def two_crossentropies():
    heading("Categorical vs sparse categorical crossentropy")
    numbers = np.array([0, 1, 2, 3])                     # cat, dog, turtle, llama
    one_hot = to_categorical(numbers, len(ANIMALS))
    predictions = np.array([[0.70, 0.20, 0.05, 0.05],
                            [0.30, 0.60, 0.05, 0.05],
                            [0.25, 0.25, 0.25, 0.25],
                            [0.10, 0.10, 0.10, 0.70]], np.float32)
    categorical = losses.categorical_crossentropy(one_hot, predictions)
    sparse = losses.sparse_categorical_crossentropy(numbers, predictions)
    print(f"{'animal':<7} {'prediction':<26} {'one-hot y':<10} {'categorical':>11} "
          f"{'sparse (y=n)':>12} {'-log p[n]':>10}")
    for n, p, y, c, s in zip(numbers, predictions, one_hot, categorical, sparse):
        text = "[" + ", ".join(f"{v:.2f}" for v in p) + "]"
        print(f"{ANIMALS[n]:<7} {text:<26} {vector(y):<10} {c:>11.4f} {s:>12.4f} "
              f"{-np.log(p[n]):>10.4f}")
    print("categorical: -sum(y * log p) with one-hot y, so only the hot element counts;\n"
          "sparse:      -log p[n] straight from the class number n.  Same numbers, two label "
          "formats:\n  compile(loss='categorical_crossentropy')        with y = to_categorical("
          "labels)\n  compile(loss='sparse_categorical_crossentropy') with y = labels")
    for loss, labels, what in ((losses.categorical_crossentropy, numbers, "class numbers"),
                               (losses.sparse_categorical_crossentropy, one_hot,
                                "one-hot labels")):
        try:
            loss(labels, predictions)
        except ValueError as error:
            print(f"{loss.__name__} with {what} -> ValueError: {error}")


def animals(rng, per_class):
    """Made-up (weight, height) of ``per_class`` animals of each kind, log-scaled, and labels."""
    samples, labels = [], []
    for number, name in enumerate(ANIMALS):
        typical = np.log(TYPICAL[name])
        samples.append(typical + rng.normal(0, 0.25, (per_class, 2)))
        labels += [number] * per_class
    order = rng.permutation(len(labels))
    return np.concatenate(samples).astype(np.float32)[order], np.array(labels)[order]


def train_both_ways(epochs):
    heading(f"One step further: the same net trained with both label formats ({epochs} epochs)")
    x, numbers = animals(np.random.default_rng(SEED), 50)
    runs = {}
    print(f"{'loss':<32} {'y shape':<9} {'accuracy metric':<26} {'loss epoch 1':>12} "
          f"{'last':>7} {'accuracy':>9}")
    for loss, y in (("categorical_crossentropy", to_categorical(numbers, len(ANIMALS))),
                    ("sparse_categorical_crossentropy", numbers)):
        set_random_seed(SEED)                      # the same starting weights and batches
        model = Sequential([Dense(8, input_shape=(2,), activation="relu"),
                            Dense(len(ANIMALS), activation="softmax")])
        model.compile(Adam(lr=0.01), loss=loss, metrics=["accuracy"])
        history = model.fit(x, y, batch_size=10, epochs=epochs, verbose=0).history
        runs[loss] = (history, model)
        print(f"{loss:<32} {str(y.shape):<9} {type(model.metrics[0]).__name__:<26} "
              f"{history['loss'][0]:>12.4f} {history['loss'][-1]:>7.4f} "
              f"{history['accuracy'][-1]:>9.3f}")
    (h1, m1), (h2, m2) = runs.values()
    print(f"largest difference of the epoch losses: "
          f"{np.abs(np.subtract(h1['loss'], h2['loss'])).max():.1e}; of the final weights: "
          f"{max(np.abs(a - b).max() for a, b in zip(m1.get_weights(), m2.get_weights())):.1e}")
    print("Both learn exactly the same: one-hot or class numbers is only a question of how the "
          "labels are\nstored.  compile(metrics=['accuracy']) picks the matching accuracy by "
          "itself.")


def main():
    args = arguments(__doc__, fast="fewer epochs in part 4", pictures=False)
    set_random_seed(SEED)
    hot_and_cold()
    encode_decode()
    two_crossentropies()
    train_both_ways(EPOCHS["fast" if args.fast else "full"])


if __name__ == "__main__":
    main()
