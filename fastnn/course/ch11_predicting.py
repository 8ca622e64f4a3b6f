"""Chapter 11: Predicting — model.predict on unlabelled test samples: a probability per class, argmax and rounding.

The data (made up, as in chapter 10): in a drug trial with people aged 13 to
100, about 95% of those aged 65 or older had side effects (class 1) and about
95% of the younger ones had none (class 0).  A 1-16-32-2 net with a softmax
output is trained on 2100 people first (quietly: training was chapters 7-10).

What you see:
  1. 11.3 The course's code: predictions = model.predict(scaled_test_samples,
     batch_size=10, verbose=0) and `for p in predictions: print(p)`: two
     columns, the probabilities of class 0 and class 1.
  2. From probabilities to answers: np.argmax(predictions, axis=-1), and
     np.round; scored against the labels we held back.
  3. What the net has learned: P(side effects) across the ages 13..100.
  4. 11.1 The net only knows its training data: for ages it never saw (5,
     110, 150) it still answers, just as confidently - check that your
     training data covers what the net will be asked.
  5. batch_size in predict only sets how many samples go through at once;
     the predictions do not change.

Run:  python -m fastnn course 11 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch11_predicting.py [--fast] [--out DIR])
"""
import numpy as np

from fastnn.course import arguments
from fastnn.layers import Dense
from fastnn.models import Sequential
from fastnn.optimizers import Adam
from fastnn.utils import set_random_seed

SEED = 11
EPOCHS = {"fast": 3, "full": 15}
YOUNGEST, OLDEST, OLD_FROM = 13, 100, 65
CLASSES = ("no side effects", "side effects")


def heading(text):
    print(f"\n=== {text} ===")


def drug_trial(rng, typical, unusual):
    """Shuffled ages and labels: per age group ``typical`` people with the group's
    usual outcome and ``unusual`` with the other one."""
    young = rng.integers(YOUNGEST, OLD_FROM, typical + unusual)
    old = rng.integers(OLD_FROM, OLDEST + 1, typical + unusual)
    ages = np.concatenate([young, old])
    labels = np.concatenate([[0] * typical + [1] * unusual, [1] * typical + [0] * unusual])
    order = rng.permutation(len(ages))
    return ages[order], labels[order]


def scale(ages):
    """Ages 13..100 -> 0..1, the same scaling for training, test and new data."""
    return ((np.asarray(ages) - YOUNGEST) / (OLDEST - YOUNGEST)).astype(np.float32)


def trained_model(rng, epochs):
    heading("A trained net (training itself was chapters 7-10)")
    ages, labels = drug_trial(rng, 1000, 50)
    model = Sequential([
        Dense(16, input_shape=(1,), activation='relu'),
        Dense(32, activation='relu'),
        Dense(2, activation='softmax')
    ])
    model.compile(Adam(lr=0.001), loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    history = model.fit(scale(ages), labels, batch_size=10, epochs=epochs, shuffle=True,
                        verbose=0)
    print(f"trained on {len(ages)} people for {epochs} epochs: loss "
          f"{history.history['loss'][-1]:.4f}, accuracy {history.history['accuracy'][-1]:.4f}")
    return model


def course_predict(model, scaled_test_samples):
    heading("11.3 The course's code")
    # the course's code, with the imports switched to fastnn
    predictions = model.predict(
        scaled_test_samples,
        batch_size=10,
        verbose=0
    )
    print(f"predictions: shape {predictions.shape}, dtype {predictions.dtype}; "
          f"the first 4 and the last 2:")
    for p in predictions[:4]:
        print(p)
    print("...")
    for p in predictions[-2:]:
        print(p)
    print(f"Column 0 = P({CLASSES[0]}), column 1 = P({CLASSES[1]}); softmax makes each row "
          f"sum to 1.\nverbose=0 printed nothing while predicting; the labels were not "
          f"given to predict at all.")
    return predictions


def to_answers(predictions, test_ages, test_labels):
    heading("From probabilities to answers: argmax and rounding")
    answers = np.argmax(predictions, axis=-1)
    print(f"{'age':>4} {'P(class 0)':>11} {'P(class 1)':>11} {'np.round':>9} {'argmax':>7} "
          f"{'label':>6}")
    for age, p, answer, label in list(zip(test_ages, predictions, answers, test_labels))[:8]:
        rounded = np.round(p).astype(int).tolist()
        print(f"{age:>4} {p[0]:>11.4f} {p[1]:>11.4f} {str(rounded):>9} {answer:>7} "
              f"{label:>6}" + ("   <- wrong" if answer != label else ""))
    print("argmax = index of the largest probability = the predicted class; with 2 classes "
          "np.round gives the\nsame answer as a one-hot vector (chapter 18).")
    right = answers == test_labels
    print(f"\nscored against the {len(test_labels)} labels we held back: {right.sum()} right, "
          f"accuracy {right.mean():.4f}")
    print(f"{'':<26} {'predicted 0':>12} {'predicted 1':>12}")
    for label in (0, 1):
        print(f"{'label ' + str(label) + ' (' + CLASSES[label] + ')':<26}"
              + "".join(f"{np.sum((test_labels == label) & (answers == a)):>13}" for a in (0, 1)))


def learned_curve(model):
    heading("What the net has learned: P(side effects) by age")
    ages = np.arange(YOUNGEST, OLDEST + 1, 6)
    chances = model.predict(scale(ages))[:, 1]
    for age, chance in zip(ages, chances):
        print(f"{age:>4}  {chance:6.3f}  " + "#" * int(round(40 * chance)))
    every_age = np.arange(YOUNGEST, OLDEST + 1)
    switch = every_age[np.argmax(model.predict(scale(every_age))[:, 1] > 0.5)]
    print(f"From age {switch} on, class 1 is the more probable one: the net has found the rule "
          f"hidden in the\ntraining data (side effects from {OLD_FROM} on) from examples "
          f"alone.")


def unseen_ages(model):
    heading("11.1 Ages the net never saw")
    ages = np.array([5, 110, 150])
    for age, p in zip(ages, model.predict(scale(ages))):
        print(f"age {age:>3} (scaled {scale([age])[0]:+.2f}): P = [{p[0]:.4f}, {p[1]:.4f}] "
              f"-> {CLASSES[int(np.argmax(p))]}")
    print("Training covered ages 13..100 (scaled 0..1).  Outside, the net extrapolates its "
          "trend and sounds just\nas sure; whether that holds for 5-year-olds, nobody has "
          "checked - like the net of 11.1 trained on\nlarge dogs only and asked about a small "
          "one.")


def batch_size_changes_nothing(model, scaled_test_samples, predictions):
    heading("predict's batch_size")
    whole = model.predict(scaled_test_samples, batch_size=len(scaled_test_samples))
    print(f"batch_size=10 vs all {len(scaled_test_samples)} at once: largest difference "
          f"{np.abs(whole - predictions).max():.1e}.  It only sets how many samples go "
          f"through\nthe net at once (memory vs. speed); each sample's prediction is the same.")


def main():
    args = arguments(__doc__, fast="fewer training epochs", pictures=False)
    set_random_seed(SEED)
    rng = np.random.default_rng(SEED)
    model = trained_model(rng, EPOCHS["fast" if args.fast else "full"])
    test_ages, test_labels = drug_trial(rng, 200, 10)
    scaled_test_samples = scale(test_ages)
    predictions = course_predict(model, scaled_test_samples)
    to_answers(predictions, test_ages, test_labels)
    learned_curve(model)
    unseen_ages(model)
    batch_size_changes_nothing(model, scaled_test_samples, predictions)


if __name__ == "__main__":
    main()
