"""Chapter 14: Supervised learning — labels are numbers; the course's fit on Python lists of (height, weight).

What you see:
  1. 14.1.1 Labels are numbers: class names are encoded as 0, 1, ... before
     training and decoded again after predicting.
  2. 14.2 The course's code with the imports switched to fastnn: the 2-16-32-2
     net, six people as Python lists [height, weight], labels
     [1, 1, 0, 1, 0, 0], fit(batch_size=3, epochs=10, shuffle=True,
     verbose=2).  As the course says, six made-up people leave little to
     learn.
  3. 14.1 How the labels supervise: the loss compares each prediction with
     its label, sample by sample.
  4. One step further: with more labelled (made-up) people and inputs scaled
     to a similar range, the same net learns, and its answers for new people
     are decoded back into names.

Run:  python -m fastnn course 14 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch14_supervised_learning.py [--fast] [--out DIR])
"""
import numpy as np

from fastnn import losses
from fastnn.course import arguments
from fastnn.layers import Dense
from fastnn.models import Sequential
from fastnn.optimizers import Adam
from fastnn.utils import set_random_seed

SEED = 14
EPOCHS = {"fast": 10, "full": 40}
# The course's encodings (14.1.1 and 14.2)
REPTILES = {"turtle": 0, "snake": 1}
PEOPLE = {"male": 0, "female": 1}


def heading(text):
    print(f"\n=== {text} ===")


def labels_are_numbers():
    heading("14.1.1 Labels are numbers")
    pictures = ["turtle", "snake", "snake", "turtle"]
    encoded = [REPTILES[name] for name in pictures]
    names = {number: name for name, number in REPTILES.items()}
    print(f"encoding {REPTILES}:  {pictures} -> {encoded}")
    print(f"decoding a prediction 1 -> {names[1]!r}")
    print("The net only ever sees the numbers; which number stands for which name is our "
          "choice, kept in a dict.")


def course_code():
    heading("14.2 The course's code: labelled data as Python lists")
    # the course's code, with the imports switched to fastnn (and its bracket typo fixed)
    model = Sequential([

        Dense(16, input_shape=(2,), activation='relu'),

        Dense(32, activation='relu'),

        Dense(2, activation='sigmoid')

    ])

    model.compile(

        Adam(lr=0.0001),

        loss='sparse_categorical_crossentropy',

        metrics=['accuracy']

    )

    #height, weight

    train_samples = [
        [150, 67],
        [130, 60],
        [200, 65],
        [125, 52],
        [230, 72],
        [181, 70]
    ]

    # 0: male

    # 1: female

    train_labels = [1, 1, 0, 1, 0, 0]

    model.fit(
        x=train_samples,
        y=train_labels,
        batch_size=3,
        epochs=10,
        shuffle=True,
        verbose=2
    )
    print("Each sample is a pair (input, label): [150, 67] with 1, [130, 60] with 1, ...  fit "
          "turned the lists\ninto float32 arrays of shape (6, 2) and (6,).  batch_size=3: two "
          "updates per epoch.")
    return model, train_samples, train_labels


def supervision(model, samples, labels):
    heading("14.1 How the labels supervise: a loss per sample")
    predictions = model.predict(samples)
    per_sample = losses.sparse_categorical_crossentropy(labels, predictions)
    names = {number: name for name, number in PEOPLE.items()}
    print(f"{'height':>6} {'weight':>6} {'label':>12} {'P(0)':>7} {'P(1)':>7} "
          f"{'loss':>7}")
    for (height, weight), label, p, loss in zip(samples, labels, predictions, per_sample):
        print(f"{height:>6} {weight:>6} {f'{label} ({names[label]})':>12} {p[0]:>7.3f} "
              f"{p[1]:>7.3f} {loss:>7.3f}")
    print("The loss is -log of the share the net gives the label's class (its two sigmoid "
          "outputs made to sum\nto 1): small where the prediction agrees with the label, large "
          "where not.  Training lowers the\nmean of this column; without labels there would "
          "be nothing to compare with (chapter 15).")
    answers = np.argmax(predictions, axis=-1)
    if len(set(answers.tolist())) == 1:
        print(f"Here the net answers {answers[0]} for everyone: raw inputs like 230 make the "
              f"weighted sums so large that\nthe outputs saturate at 0 and 1, and with "
              f"lr=0.0001 ten epochs cannot undo that.  Part 4 scales the inputs.")


def people(rng, count):
    """Made-up (height cm, weight kg) for two groups of ``count`` each, and labels 0/1."""
    heights = np.concatenate([rng.normal(178, 7, count), rng.normal(165, 7, count)])
    weights = np.concatenate([rng.normal(82, 9, count), rng.normal(65, 9, count)])
    samples = np.round(np.stack([heights, weights], axis=1)).astype(int).tolist()
    labels = [PEOPLE["male"]] * count + [PEOPLE["female"]] * count
    order = rng.permutation(2 * count)
    return [samples[i] for i in order], [labels[i] for i in order]


def more_data(epochs):
    heading(f"One step further: 400 labelled people, scaled inputs, {epochs} epochs")
    rng = np.random.default_rng(SEED)
    train_samples, train_labels = people(rng, 200)
    test_samples, test_labels = people(rng, 50)
    mean, std = np.mean(train_samples, axis=0), np.std(train_samples, axis=0)

    def scaled(samples):      # the training set's mean and spread, for every later input too
        return ((np.asarray(samples) - mean) / std).tolist()

    print(f"heights ~{mean[0]:.0f} cm and weights ~{mean[1]:.0f} kg become numbers around 0 "
          f"with spread 1:\nno saturated outputs at the start, and neither input outweighs "
          f"the other.")
    model = Sequential([Dense(16, input_shape=(2,), activation="relu"),
                        Dense(32, activation="relu"),
                        Dense(2, activation="sigmoid")])
    model.compile(Adam(lr=0.001), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x=scaled(train_samples), y=train_labels, batch_size=10, epochs=epochs,
                        shuffle=True, verbose=0).history
    loss, accuracy = model.evaluate(scaled(test_samples), test_labels, verbose=0)
    print(f"training: loss {history['loss'][0]:.4f} -> {history['loss'][-1]:.4f}, accuracy "
          f"{history['accuracy'][-1]:.3f};  {len(test_samples)} new people: accuracy "
          f"{accuracy:.3f}")
    print("(The two made-up groups overlap, so some people are bound to be misjudged.)")

    names = {number: name for name, number in PEOPLE.items()}
    newcomers = [[192, 95], [158, 52], [172, 70]]
    for person, p in zip(newcomers, model.predict(scaled(newcomers))):
        print(f"{person} -> P = [{p[0]:.3f}, {p[1]:.3f}] -> {int(np.argmax(p))} -> "
              f"{names[int(np.argmax(p))]}")


def main():
    args = arguments(__doc__, fast="fewer epochs in part 4", pictures=False)
    set_random_seed(SEED)
    labels_are_numbers()
    model, samples, labels = course_code()
    supervision(model, samples, labels)
    more_data(EPOCHS["fast" if args.fast else "full"])


if __name__ == "__main__":
    main()
