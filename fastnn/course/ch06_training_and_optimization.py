"""Chapter 06: Training a neural network — training is optimisation: SGD lowers the loss (MSE) by moving the weights.

What you see:
  1. 6.1 The task: find the weights that map the inputs to the right
     outputs.  A tiny problem: a one-node net, prediction = w*x + b, must
     learn the rule y = 2x - 1 from 8 examples.  Untrained, w is random and
     b is 0.
  2. 6.3 The loss: mean squared error of the predictions, computed by the
     formula and by fastnn (model.evaluate).
  3. 6.2 One step of SGD for the weight w, in numbers: the gradient dL/dw by
     its formula and as the measured slope of the loss, then
     w_new = w - lr * dL/dw, and the w fastnn has after one step of fit().
  4. Training: many such steps; the loss goes down epoch by epoch and w, b
     approach 2 and -1.  Then the same with mini-batches of 2 shuffled
     examples (the "stochastic" in SGD): more, noisier steps.
Picture (in --out): the loss per epoch.

Run:  python -m fastnn course 6 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch06_training_and_optimization.py [--fast] [--out DIR])
"""
import numpy as np

import fastnn.plot
from fastnn.course import arguments
from fastnn.layers import Dense
from fastnn.models import Sequential
from fastnn.optimizers import SGD
from fastnn.utils import set_random_seed

SEED = 6
LEARNING_RATE = 0.1
EPOCHS = {"fast": 15, "full": 40}
X = np.linspace(-1.0, 1.0, 8, dtype=np.float32)
Y = 2.0 * X - 1.0                   # the rule the net must find: w = 2, b = -1


def heading(text):
    print(f"\n=== {text} ===")


def new_model():
    """prediction = w*x + b: one Dense node without activation, trained by plain SGD on MSE."""
    model = Sequential([Dense(1, input_shape=(1,))])
    model.compile(optimizer=SGD(learning_rate=LEARNING_RATE), loss="mean_squared_error")
    return model


def weights_of(model):
    kernel, bias = model.get_weights()
    return float(kernel[0, 0]), float(bias[0])


def mse(w, b):
    """6.3 / 8.1: the mean over the examples of (prediction - label)^2."""
    return float(np.mean((w * X + b - Y) ** 2))


def the_task(model):
    heading("6.1 The task: find w and b with w*x + b = y for every example")
    w, b = weights_of(model)
    print(f"{'x':>6} {'label y':>8} {'prediction':>11}")
    for x, y, p in zip(X, Y, model.predict(X)[:, 0]):
        print(f"{x:>6.2f} {y:>8.2f} {p:>11.2f}")
    print(f"Untrained: w = {w:.4f} (random), b = {b:.4f} (zero).  The right answer is "
          f"w = 2, b = -1.")


def the_loss(model):
    heading("6.3 The loss: mean squared error (MSE)")
    w, b = weights_of(model)
    print(f"by the formula: mean((w*x + b - y)^2) = {mse(w, b):.4f}")
    print(f"by fastnn:      model.evaluate(x, y)  = {model.evaluate(X, Y, verbose=0):.4f}")
    print("Training must make this number small; 0 would mean every prediction is right.")


def one_step(model):
    heading("6.2 One SGD step for the weight w, in numbers")
    w, b = weights_of(model)
    errors = w * X + b - Y
    gradient = float(np.mean(2.0 * errors * X))            # d/dw of mean((w*x + b - y)^2)
    h = 1e-3
    slope = (mse(w + h, b) - mse(w - h, b)) / (2 * h)      # the loss measured left and right of w
    expected = w - LEARNING_RATE * gradient
    model.fit(X, Y, batch_size=len(X), epochs=1, shuffle=False, verbose=0)  # one step on all 8
    print(f"dL/dw by the formula mean(2 * (w*x + b - y) * x) = {gradient:+.4f}")
    print(f"dL/dw measured: (L(w + {h:g}) - L(w - {h:g})) / {2 * h:g}  = {slope:+.4f}")
    print(f"The gradient is {'positive' if gradient > 0 else 'negative'}: a "
          f"{'smaller' if gradient > 0 else 'larger'} w gives a smaller loss, so the step "
          f"{'lowers' if gradient > 0 else 'raises'} w.")
    print(f"w_new = w - lr * dL/dw = {w:.4f} - {LEARNING_RATE:g} * ({gradient:+.4f}) "
          f"= {expected:.4f}")
    print(f"fastnn after one step of fit(batch_size=8): w = {weights_of(model)[0]:.4f}, "
          f"loss {mse(w, b):.4f} -> {model.evaluate(X, Y, verbose=0):.4f}")


def train(model, epochs):
    heading(f"Training: {epochs} epochs of SGD (lr = {LEARNING_RATE:g}), one step per epoch")
    history = model.fit(X, Y, batch_size=len(X), epochs=epochs, shuffle=False, verbose=0)
    losses = history.history["loss"]
    print(f"{'epoch':>5} {'loss':>9}")
    for epoch in sorted({0, 1, 2, 4, 9, epochs // 2, epochs - 1}):
        print(f"{epoch + 1:>5} {losses[epoch]:>9.5f}")
    w, b = weights_of(model)
    print(f"(the loss of each epoch is measured before its step)\n"
          f"after training: w = {w:.4f}, b = {b:.4f}, loss {model.evaluate(X, Y, verbose=0):.6f}"
          f" (target w = 2, b = -1)")
    return history


def stochastic(epochs):
    heading("The 'stochastic' in SGD: mini-batches of 2 shuffled examples")
    set_random_seed(SEED)
    model = new_model()
    history = model.fit(X, Y, batch_size=2, epochs=epochs, shuffle=True, verbose=0)
    w, b = weights_of(model)
    print(f"{len(X) // 2} steps per epoch instead of 1, each from only 2 examples: after the "
          f"same {epochs} epochs ({model.optimizer.iterations} steps)\n"
          f"w = {w:.4f}, b = {b:.4f}, loss {model.evaluate(X, Y, verbose=0):.6f}.  Each "
          f"step is cheaper and noisier; mini-batches are the topic of chapter 29.")
    return history


def main():
    args = arguments(__doc__, fast="fewer epochs")
    epochs = EPOCHS["fast" if args.fast else "full"]
    set_random_seed(SEED)
    model = new_model()
    the_task(model)
    the_loss(model)
    one_step(model)
    history = train(model, epochs)
    stochastic(epochs)

    heading("Picture")
    if not fastnn.plot.available():
        print("pictures skipped: matplotlib is not installed (pip install fastnn[plot])")
        return
    path = fastnn.plot.history(history, args.out / "ch06_loss.png",
                               title="Chapter 6: SGD lowers the MSE epoch by epoch")
    print(f"picture: {path}")


if __name__ == "__main__":
    main()
