"""Chapter 09: Learning rate — the step size of each update: too small crawls, too large overshoots; model.optimizer.lr.

What you see:
  1. 9.2 new weight = old weight - (learning rate * gradient) for a single
     weight whose best value is 3, with five learning rates: crawling,
     converging, jumping straight there, overshooting back and forth,
     and overshooting ever further (divergence).
  2. 9.3 The course's code: Adam(lr=0.0001) in compile, then
     model.optimizer.lr = 0.01 and the printed learning rate.
  3. The course's 1-16-32-2 net trained on chapter 7's data with several
     learning rates from the same starting weights: final loss and accuracy.
  4. One step further: the learning rate changed in the middle of training
     takes effect at the next update.
(No picture: fastnn.plot draws one run per panel, and five panels with five
different scales would hide the very differences this chapter is about.)

Run:  python -m fastnn course 9 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch09_learning_rate.py [--fast] [--out DIR])
"""
import numpy as np

from fastnn.course import arguments
from fastnn.layers import Dense
from fastnn.models import Sequential
from fastnn.optimizers import SGD, Adam
from fastnn.utils import set_random_seed

SEED = 9
EPOCHS = {"fast": 8, "full": 20}
ONE_WEIGHT_RATES = {0.01: "too small", 0.1: "good", 0.5: "just right here", 0.9: "too large",
                    1.1: "far too large"}
NET_RATES = {0.00001: "too small", 0.0001: "the course's", 0.001: "Adam's default",
             0.01: "good here", 1.0: "too large"}
# Chapter 7's data: 0 must become 1, 1 must become 0
EXAMPLES = np.array([0] * 20 + [1] * 20)
LABELS = 1 - EXAMPLES


def heading(text):
    print(f"\n=== {text} ===")


def one_weight():
    heading("9.2 new weight = old weight - (learning rate * gradient), one weight")
    print("The net w*x with x = 1 and label 3 has the loss (w - 3)^2 and the gradient "
          "2*(w - 3).\nStarting from w = 0, plain SGD takes these steps:")
    steps = 6
    print(f"{'lr':>5}  " + "".join(f"{f'step {k}':>9}" for k in range(1, steps + 1))
          + "   verdict")
    x, y = np.ones((1, 1), np.float32), np.full((1, 1), 3.0, np.float32)
    for rate, verdict in ONE_WEIGHT_RATES.items():
        model = Sequential([Dense(1, input_shape=(1,), use_bias=False,
                                  kernel_initializer="zeros")])
        model.compile(SGD(lr=rate), loss="mean_squared_error")
        values = []
        for _ in range(steps):
            model.fit(x, y, epochs=1, verbose=0)
            values.append(float(model.get_weights()[0][0, 0]))
        print(f"{rate:>5g}  " + "".join(f"{w:>9.3f}" for w in values) + f"   {verdict}")
    print("First step with lr 0.1: w = 0 - 0.1 * 2*(0 - 3) = 0.6.  With lr 0.9 every step "
          "jumps over the minimum\nand lands on the other side; with lr 1.1 each jump is "
          "longer than the last: the weight runs away.")


def course_snippet():
    heading("9.3 Learning rates in Keras: the course's code")
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
    print(f"after compile(Adam(lr=0.0001), ...):  model.optimizer.lr = {model.optimizer.lr}")
    model.optimizer.lr = 0.01
    print(f"after model.optimizer.lr = 0.01:      model.optimizer.lr = {model.optimizer.lr}")
    print(f"without lr= each optimizer has its default: Adam() {Adam().lr:g}, "
          f"SGD() {SGD().lr:g}")


def course_model(rate):
    model = Sequential([Dense(16, input_shape=(1,), activation="relu"),
                        Dense(32, activation="relu"),
                        Dense(2, activation="sigmoid")])
    model.compile(Adam(lr=rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def compare_rates(epochs):
    heading(f"The course's net, {epochs} epochs with Adam at five learning rates")
    print(f"{'lr':>7} {'':<15} {'loss epoch 1':>13} {f'loss epoch {epochs}':>14} "
          f"{'accuracy':>9}")
    for rate, verdict in NET_RATES.items():
        set_random_seed(SEED)            # the same starting weights and batches for every rate
        model = course_model(rate)
        logs = model.fit(EXAMPLES, LABELS, batch_size=2, epochs=epochs, shuffle=True,
                         verbose=0).history
        print(f"{rate:>7g} {verdict:<15} {logs['loss'][0]:>13.4f} {logs['loss'][-1]:>14.4f} "
              f"{logs['accuracy'][-1]:>9.2f}")
    print("Too small: the loss hardly moves.  Larger rates get lower in the same number of "
          "epochs - up to a point:\nat lr = 1 the first steps overshoot so far that the "
          "weights grow huge and both outputs saturate at\nexactly 1 and 0 for every input: "
          "one constant answer, right for half the examples.  There the loss\nis flat (its "
          "gradient is 0), so no later step can repair it.\n"
          "Accuracy only asks which output is larger - easy on this tiny task even at lr "
          "1e-05; the loss shows\nhow sure and how right the net is.")


def change_mid_training(epochs):
    heading("One step further: model.optimizer.lr = 0.01 in the middle of training")
    set_random_seed(SEED)
    model = course_model(0.0001)
    first = model.fit(EXAMPLES, LABELS, batch_size=2, epochs=epochs, verbose=0).history["loss"]
    model.optimizer.lr = 0.01
    second = model.fit(EXAMPLES, LABELS, batch_size=2, epochs=epochs, verbose=0).history["loss"]
    print(f"{epochs} epochs at lr 0.0001: loss {first[0]:.4f} -> {first[-1]:.4f}")
    print(f"{epochs} epochs at lr 0.01:   loss {second[0]:.4f} -> {second[-1]:.4f}")
    print("The model, its weights and Adam's memory stay; only the step size changes, from "
          "the next update on.\n(Lowering the rate during training is what the callbacks "
          "LearningRateScheduler and\nReduceLROnPlateau automate.)")


def main():
    args = arguments(__doc__, fast="fewer epochs", pictures=False)
    epochs = EPOCHS["fast" if args.fast else "full"]
    set_random_seed(SEED)
    one_weight()
    course_snippet()
    compare_rates(epochs)
    change_mid_training(epochs // 2)


if __name__ == "__main__":
    main()
