"""Chapter 08: Loss — MSE by its formula, and every loss name the course lists evaluated side by side.

What you see:
  1. 8 The error of one prediction: a cat (label 0) predicted as 0.25.
  2. 8.1 Mean squared error of a batch by the formula, next to fastnn's
     losses.MeanSquaredError, losses.mse (one value per sample) and the
     name 'mean_squared_error' as compile() takes it.
  3. 8.2 The course's compile(..., loss='sparse_categorical_crossentropy'):
     the loss model.evaluate reports is the formula applied to
     model.predict's outputs.
  4. 8.2 The 16 names the course lists from Keras, each evaluated on the same
     4 cat/dog predictions, by fastnn and by a NumPy one-liner.
  5. One step further: how MSE and crossentropy punish a wrong prediction
     that grows more confident.

Run:  python -m fastnn course 8 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch08_loss_functions.py [--fast] [--out DIR])
(--fast changes nothing here: the script runs in about a second.)
"""
import numpy as np

from fastnn import losses
from fastnn.course import arguments
from fastnn.layers import Dense
from fastnn.models import Sequential
from fastnn.optimizers import Adam
from fastnn.utils import set_random_seed, to_categorical

SEED = 8
EPS = 1e-7   # Keras's fuzz factor: probabilities are kept in [EPS, 1 - EPS] before a log
# Four pictures, cat = 0 and dog = 1, and what a net predicted: P(cat), P(dog)
CLASSES = np.array([0, 1, 1, 0])
Y_TRUE = to_categorical(CLASSES, 2)
Y_PRED = np.array([[0.75, 0.25], [0.20, 0.80], [0.60, 0.40], [0.90, 0.10]], np.float32)


def heading(text):
    print(f"\n=== {text} ===")


def unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def signed(y):
    return 2 * y - 1    # hinge losses want labels -1/1: 0/1 labels are mapped


# The course's list (8.2): name -> (what it measures, its formula in NumPy on y_true, y_pred)
COURSE_LOSSES = {
    "mean_squared_error": ("mean of squared errors",
                           lambda y, p: np.mean((y - p) ** 2)),
    "mean_absolute_error": ("mean of absolute errors",
                            lambda y, p: np.mean(np.abs(y - p))),
    "mean_absolute_percentage_error": ("error in % of the label",
                                       lambda y, p: np.mean(100 * np.abs(y - p)
                                                            / np.maximum(np.abs(y), EPS))),
    "mean_squared_logarithmic_error": ("MSE of log(1 + value)",
                                       lambda y, p: np.mean((np.log1p(np.maximum(p, EPS))
                                                             - np.log1p(np.maximum(y, EPS))) ** 2)),
    "squared_hinge": ("squared margin misses",
                      lambda y, p: np.mean(np.maximum(1 - signed(y) * p, 0) ** 2)),
    "hinge": ("margin misses (SVM)",
              lambda y, p: np.mean(np.maximum(1 - signed(y) * p, 0))),
    "categorical_hinge": ("true class must win by 1",
                          lambda y, p: np.mean(np.maximum(np.max((1 - y) * p, axis=1)
                                                          - np.sum(y * p, axis=1) + 1, 0))),
    "logcosh": ("log(cosh(error))",
                lambda y, p: np.mean(np.log(np.cosh(p - y)))),
    "huber_loss": ("squared if |e|<=1, else linear",
                   lambda y, p: np.mean(np.where(np.abs(p - y) <= 1, 0.5 * (p - y) ** 2,
                                                 np.abs(p - y) - 0.5))),
    "categorical_crossentropy": ("-log P(true class), one-hot y",
                                 lambda y, p: np.mean(-np.sum(y * np.log(p), axis=1))),
    "sparse_categorical_crossentropy": ("the same, integer labels",
                                        lambda y, p: np.mean(-np.log(p[np.arange(len(p)),
                                                                       CLASSES]))),
    "binary_crossentropy": ("yes/no crossentropy per output",
                            lambda y, p: np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))),
    "kullback_leibler_divergence": ("distance of distributions",
                                    lambda y, p: np.mean(np.sum(np.clip(y, EPS, 1) * np.log(
                                        np.clip(y, EPS, 1) / p), axis=1))),
    "poisson": ("for predicted counts",
                lambda y, p: np.mean(p - y * np.log(p + EPS))),
    "cosine_proximity": ("-cos(angle between y and p)",
                         lambda y, p: -np.mean(np.sum(unit(y) * unit(p), axis=1))),
}


def one_error():
    heading("8 The error of one prediction")
    label, output = 0.0, 0.25
    print(f"cat = label {label:g}, the net outputs {output}: error = {output} - {label:g} = "
          f"{output - label:g}; squared error = {(output - label) ** 2:g}")
    print(f"fastnn: losses.mse([{label:g}], [{output}]) = "
          f"{float(losses.mse([label], [output])):g}")


def mse_by_formula():
    heading("8.1 MSE of a batch: the formula and fastnn")
    squared = (Y_PRED - Y_TRUE) ** 2
    print(f"{'sample':>6} {'label (one-hot)':>16} {'prediction':>13} {'squared errors':>16} "
          f"{'mean':>7}")
    for i, (y, p, s) in enumerate(zip(Y_TRUE, Y_PRED, squared)):
        print(f"{i:>6} {str(y.astype(int).tolist()):>16} {f'[{p[0]:.2f}, {p[1]:.2f}]':>13} "
              f"{f'{s[0]:.4f}, {s[1]:.4f}':>16} {s.mean():>7.4f}")
    print(f"\nby the formula, mean of all squared errors:   {squared.mean():.6f}")
    print(f"losses.MeanSquaredError()(y_true, y_pred):     "
          f"{losses.MeanSquaredError()(Y_TRUE, Y_PRED):.6f}")
    print("losses.mse(y_true, y_pred), one per sample:    "
          + ", ".join(f"{v:.4f}" for v in losses.mse(Y_TRUE, Y_PRED)))
    print(f"losses.get('mean_squared_error'), as compile(loss='mean_squared_error') finds it: "
          f"{losses.get('mean_squared_error')(Y_TRUE, Y_PRED):.6f}")


def course_compile():
    heading("8.2 The loss in compile(): what evaluate reports")
    # the course's code (chapters 7.3 and 8.2), with the imports switched to fastnn
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
    x, labels = np.array([0.0, 0.0, 1.0, 1.0]), np.array([1, 1, 0, 0])
    p = model.predict(x)
    q = p / p.sum(axis=1, keepdims=True)          # sigmoid outputs, made to sum to 1
    by_hand = np.mean(-np.log(q[np.arange(len(q)), labels]))
    loss, accuracy = model.evaluate(x, labels, verbose=0)
    print(f"model.loss = {model.loss}")
    print(f"untrained predictions for x = {x.tolist()}: "
          + ", ".join(f"[{a:.3f}, {b:.3f}]" for a, b in p))
    print(f"mean of -log P(label), each row first divided by its sum: {by_hand:.6f}")
    print(f"model.evaluate(x, labels) -> loss                         {loss:.6f} "
          f"(accuracy {accuracy:.2f})")
    print("The two sigmoid outputs need not sum to 1, so crossentropy first makes them a "
          "distribution.")


def all_course_losses():
    heading("8.2 The loss functions the course lists, on the same 4 predictions")
    print("y_true: cat, dog, dog, cat (one-hot; integer labels 0, 1, 1, 0 for the sparse loss)")
    print("y_pred: " + ", ".join(f"[{a:.2f}, {b:.2f}]" for a, b in Y_PRED))
    print(f"\n{'name':<33} {'measures':<31} {'fastnn':>10} {'NumPy':>10}")
    for name, (meaning, formula) in COURSE_LOSSES.items():
        labels = CLASSES if name.startswith("sparse") else Y_TRUE
        value = losses.get(name)(labels, Y_PRED)
        by_hand = float(formula(Y_TRUE.astype(np.float64), Y_PRED.astype(np.float64)))
        print(f"{name:<33} {meaning:<31} {value:>10.4g} {by_hand:>10.4g}")
    print(f"{'is_categorical_crossentropy':<33} {'a test, not a loss':<31} "
          f"{str(losses.is_categorical_crossentropy('categorical_crossentropy')):>10}")
    try:
        losses.get("is_categorical_crossentropy")
    except ValueError as error:
        print(f"\ncompile(loss='is_categorical_crossentropy') -> ValueError: {error}")
    print("With 2 classes whose probabilities sum to 1, categorical, binary crossentropy and "
          f"the KL divergence\n(for one-hot labels) all reduce to the mean of -log P(true "
          f"class): the same {losses.CategoricalCrossentropy()(Y_TRUE, Y_PRED):.4f}.\n"
          "mean_absolute_percentage_error divides by the label: with labels of 0 it explodes "
          "- not a loss for classes.\n"
          "Crossentropy is the usual loss for classes; MSE and its relatives for numbers "
          "(regression).")


def confident_mistake():
    heading("One step further: a cat predicted more and more confidently as a dog")
    print(f"{'P(dog)':>7} {'MSE':>8} {'crossentropy':>13}")
    for p_dog in (0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999):
        prediction = np.array([[1 - p_dog, p_dog]], np.float32)
        cat = np.array([[1.0, 0.0]])
        print(f"{p_dog:>7} {losses.MeanSquaredError()(cat, prediction):>8.4f} "
              f"{losses.CategoricalCrossentropy()(cat, prediction):>13.4f}")
    print("MSE never exceeds 1 here; crossentropy, -log P(cat), grows without bound as the "
          "net gets surer of the\nwrong answer - a strong push for the gradient to fix it.")


def main():
    arguments(__doc__, fast="accepted for uniformity; no effect", pictures=False)
    set_random_seed(SEED)
    one_error()
    mse_by_formula()
    course_compile()
    all_course_losses()
    confident_mistake()


if __name__ == "__main__":
    main()
