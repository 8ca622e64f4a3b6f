"""Chapter 22: Backpropagation — the chain rule in numbers, and a gradient check that catches broken layers.

What you see:
  1. 22.2 Forward propagation by hand (NumPy) through a tiny 2-3-2 network
     (sigmoid hidden layer, softmax output): weighted sums, activations, loss.
  2. 22.3 Backpropagation by hand: the chain rule from the loss back to the
     first layer, one step per line — and the same gradients from fastnn's
     backward passes.
  3. 22.1 What SGD does with them: one training step with SGD(lr=0.1) moves
     every weight by exactly −0.1 × its gradient.
  4. Gradient checking: fastnn.utils.gradient_check nudges weights of a small
     CNN (trained for one short epoch) by ±ε on a few Fashion-MNIST images and
     compares the slope of the loss with backprop's gradient: every weight
     passes.
  5. The same check, same weights, with two deliberately broken layers: a
     flipped kernel gradient fails only its own weight; a forgotten ReLU
     derivative fails that layer and every layer below it.
No pictures in this chapter (--out is accepted as in every chapter script).

Run:  python -m fastnn course 22 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch22_backpropagation.py [--fast] [--out DIR])
"""
import time

import numpy as np

from fastnn import backend
from fastnn.course import arguments
from fastnn.datasets import fashion_mnist
from fastnn.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from fastnn.models import Sequential
from fastnn.optimizers import SGD
from fastnn.utils import gradient_check, set_random_seed

SEED = 22
# the gradient check: a one-epoch warm-up, then a few images, full size or (--fast) every
# second pixel
SETTINGS = {"fast": dict(warm_up=256, images=4, stride=2),
            "full": dict(warm_up=2000, images=16, stride=1)}

# the 2-3-2 network's weights, chosen to give readable numbers
X = np.array([[0.5, -1.0]], np.float32)       # one sample with two features
LABEL = np.array([1])                          # its class
W1 = np.array([[0.2, -0.4, 0.6], [0.5, 0.1, -0.3]], np.float32)
B1 = np.array([0.1, 0.0, -0.1], np.float32)
W2 = np.array([[0.7, -0.2], [-0.5, 0.4], [0.3, 0.8]], np.float32)
B2 = np.array([0.0, 0.1], np.float32)


def heading(text):
    print(f"\n=== {text} ===")


def show(name, values):
    label = f"  {name:<32} "
    print(label + np.array2string(np.asarray(values), precision=4, suppress_small=True,
                                  prefix=label))


def forward_by_hand():
    heading("22.2 Forward propagation by hand: 2 inputs -> 3 sigmoid units -> 2 softmax units")
    z1 = X @ W1 + B1
    a1 = 1 / (1 + np.exp(-z1))
    z2 = a1 @ W2 + B2
    p = np.exp(z2) / np.exp(z2).sum()
    loss = -np.log(p[0, LABEL[0]])
    show("input x", X)
    show("z1 = x·W1 + b1", z1)
    show("a1 = sigmoid(z1)", a1)
    show("z2 = a1·W2 + b2", z2)
    show("p = softmax(z2)", p)
    show(f"loss = -log p[label {LABEL[0]}]", loss)
    return a1, p


def backward_by_hand(a1, p):
    heading("22.3 Backpropagation by hand: the chain rule, from the loss to the first layer")
    one_hot = np.eye(2)[LABEL]
    dz2 = p - one_hot                     # softmax + crossentropy: dLoss/dz2 = p - y
    dw2, db2 = a1.T @ dz2, dz2[0]         # z2 = a1·W2 + b2
    da1 = dz2 @ W2.T                      # ... and how z2 depends on a1
    dz1 = da1 * a1 * (1 - a1)             # sigmoid'(z1) = a1·(1 - a1)
    dw1, db1 = X.T @ dz1, dz1[0]          # z1 = x·W1 + b1
    show("dLoss/dz2 = p - y", dz2)
    show("dLoss/dW2 = a1ᵀ·dLoss/dz2", dw2)
    show("dLoss/db2 = dLoss/dz2", db2)
    show("dLoss/da1 = dLoss/dz2·W2ᵀ", da1)
    show("dLoss/dz1 = dLoss/da1·a1(1-a1)", dz1)
    show("dLoss/dW1 = xᵀ·dLoss/dz1", dw1)
    show("dLoss/db1 = dLoss/dz1", db1)
    return [dw1, db1, dw2, db2]


def tiny_network():
    model = Sequential([Dense(3, activation="sigmoid", input_shape=(2,)),
                        Dense(2, activation="softmax")])
    model.compile(SGD(learning_rate=0.1), loss="sparse_categorical_crossentropy")
    model.set_weights([W1, B1, W2, B2])
    return model


def compare_with_fastnn(by_hand):
    print("\nThe same from fastnn: model.backward runs every layer's backward pass, last layer")
    print("first, and leaves dLoss/dw in each weight's .grad:")
    model = tiny_network()
    y_pred = model.forward(X, training=True)
    model.backward(model.loss.gradient(LABEL, y_pred))   # starts from dLoss/dy_pred
    print(f"  {'weight':<18} {'largest |by hand - fastnn|':>28}")
    for layer in model.layers:
        for variable, hand in zip(layer.trainable_weights, by_hand):
            print(f"  {layer.name + '/' + variable.name:<18} "
                  f"{np.max(np.abs(variable.grad - hand)):>28.1e}")
        by_hand = by_hand[len(layer.trainable_weights):]
    return model


def sgd_step(model, by_hand):
    heading("22.1 What SGD does with the gradients: new weight = old - lr · gradient")
    before = model.get_weights()
    model.fit(X, LABEL, batch_size=1, epochs=1, verbose=0)
    steps = [(old - new) / 0.1 for old, new in zip(before, model.get_weights())]
    worst = max(np.max(np.abs(step - grad)) for step, grad in zip(steps, by_hand))
    show("W2 before", before[2])
    show("W2 after one step", model.get_weights()[2])
    print(f"  (before - after) / lr equals the hand-made gradient of every weight "
          f"to {worst:.1e}")


def check_data(settings):
    """Training images for the short warm-up and the few images the check uses."""
    (x_train, y_train), _ = fashion_mnist.load_data()
    stride = settings["stride"]
    x = (x_train[:, ::stride, ::stride, np.newaxis] / np.float32(255)).astype(np.float32)
    warm_up, count = settings["warm_up"], settings["images"]
    return (x[:warm_up], y_train[:warm_up]), (x[-count:], y_train[-count:])


class FlippedKernelGradient(Conv2D):
    """A bug: hands back the kernel gradient flipped, as if the layer computed
    a convolution instead of a cross-correlation (chapter 19)."""

    def call_backward(self, dz):
        dx = super().call_backward(dz)
        self.kernel.grad = np.ascontiguousarray(self.kernel.grad[::-1, ::-1])
        return dx


class ForgottenReluDerivative(Conv2D):
    """A bug: backward skips the activation's derivative (relu'(z) = 0 for z < 0)."""

    def backward(self, dy):
        return self.call_backward(dy)


def small_cnn(input_shape, weights=None, second_conv=Conv2D):
    backend.clear_session()   # layer names start over: conv2d, conv2d_1, ...
    set_random_seed(SEED)
    model = Sequential([Conv2D(4, 3, activation="relu", input_shape=input_shape),
                        MaxPooling2D(2),
                        second_conv(8, 3, activation="relu"),
                        Flatten(),
                        Dropout(0.5),
                        Dense(10, activation="softmax")])
    model.compile("adam", loss="sparse_categorical_crossentropy")
    if weights is not None:
        model.set_weights(weights)
    return model


def gradient_checks(settings):
    heading("Gradient check: backprop against the measured slope of the loss")
    (x_warm_up, y_warm_up), (x, y) = check_data(settings)
    model = small_cnn(x.shape[1:])
    model.fit(x_warm_up, y_warm_up, epochs=1, verbose=0)
    print(f"A small CNN, trained for one epoch on {len(x_warm_up)} images first: right after")
    print("initialization its biases are exactly 0, and every black background pixel then")
    print("sits exactly on a ReLU's kink, which makes the loss too rough to measure.")
    print(f"The check uses {len(x)} other Fashion-MNIST images of {x.shape[1]}x{x.shape[2]} "
          f"pixels.")
    print("Each checked weight is moved by ±ε and the model runs forward twice:")
    print("(Loss(w + ε) - Loss(w - ε)) / 2ε must match backprop's dLoss/dw.")
    print("The check runs in inference mode, so Dropout does nothing and the loss is a fixed")
    print("function of the weights.  'kinks' counts entries where a ReLU switched or a")
    print("max-pooling window changed its winner inside the step.\n")
    start = time.perf_counter()
    report = gradient_check(model, x, y, seed=SEED)
    print(report)
    print(f"({time.perf_counter() - start:.1f} s)")
    weights = model.get_weights()

    heading("Gradient check of a broken layer: a flipped kernel gradient")
    print("The same weights, but the second Conv2D returns its kernel gradient flipped.\n")
    print(gradient_check(small_cnn(x.shape[1:], weights, FlippedKernelGradient), x, y,
                         seed=SEED))
    print("Only that layer's kernel fails: the layer still passes the right dLoss/dx down,")
    print("so the layers below it get correct gradients.")

    heading("Gradient check of a broken layer: a forgotten ReLU derivative")
    print("The same weights, but the second Conv2D's backward skips relu'(z).\n")
    print(gradient_check(small_cnn(x.shape[1:], weights, ForgottenReluDerivative), x, y,
                         seed=SEED))
    print("Now the wrong gradient flows on: the broken layer and every layer below it fail,")
    print("the layers above pass.  The bug sits in the highest failing layer.")


def main():
    args = arguments(__doc__, fast="smaller images for the check", pictures=False)
    set_random_seed(SEED)
    a1, p = forward_by_hand()
    by_hand = backward_by_hand(a1, p)
    model = compare_with_fastnn(by_hand)
    sgd_step(model, by_hand)
    gradient_checks(SETTINGS["fast" if args.fast else "full"])


if __name__ == "__main__":
    main()
