"""Chapter 04: Layers of a neural network — layer types, weights, and the 2-5-5-2 net's forward pass by model and by hand.

What you see:
  1. 4.1 Layer types: a dense, a convolution, a pooling, a recurrent and a
     normalization layer, each applied to a small input: what shape goes in
     and comes out, and how many weights it has.
  2. 4.6 The course's model: Dense(5, input_shape=(2,)) - Dense(5) - Dense(2),
     relu, relu, softmax; model.summary().
  3. 4.3 Its weights from model.get_weights(): one kernel (inputs, nodes) and
     one bias vector per layer.
  4. 4.3 One node in numbers: node output = activation(weighted sum of the
     inputs + bias).
  5. 4.4 The whole forward pass computed twice, by model.predict and by hand
     with NumPy (x @ kernel + bias, relu, softmax), layer by layer: they agree.
  6. 4.1 A recurrent layer on a time series: an LSTM reads the last 20 values
     of a noisy sine wave and predicts the next one.  After a few seconds of
     training it beats the guess "the next value is the last one", and
     ch04_time_series.png shows its predictions against the truth.

Run:  python -m fastnn course 4 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch04_layers_and_forward_pass.py [--fast] [--out DIR])
(--fast trains the LSTM for 3 epochs instead of 8.)
"""
import numpy as np

import fastnn.plot
from fastnn.backend import clear_session
from fastnn.course import arguments
from fastnn.layers import LSTM, BatchNormalization, Conv2D, Dense, MaxPooling2D
from fastnn.models import Sequential
from fastnn.utils import set_random_seed

SEED = 4
# Three samples with two features each (e.g. a cat/dog picture reduced to two numbers)
SAMPLES = np.array([[0.8, 0.3], [-1.2, 0.5], [0.1, -0.7]], np.float32)


def heading(text):
    print(f"\n=== {text} ===")


def numbers(values, decimals=2):
    """[0.80, 0.30]: a short vector with a fixed number of decimals."""
    return "[" + ", ".join(f"{v:.{decimals}f}" for v in values) + "]"


def layer_types():
    heading("4.1 Layer types: what each does to its input")
    examples = [
        ("dense (fully connected)", Dense(4), (None, 6),
         "each output sees every input"),
        ("convolution", Conv2D(8, 3), (None, 28, 28, 1),
         "3x3 filters slide over images (ch. 19)"),
        ("pooling", MaxPooling2D(2), (None, 26, 26, 8),
         "max of each 2x2 patch (ch. 21)"),
        ("recurrent", LSTM(8), (None, 20, 1),
         "reads a time series step by step"),
        ("normalization", BatchNormalization(), (None, 13, 13, 8),
         "rescales each channel (ch. 31)"),
    ]
    print(f"{'type':<24} {'layer':<20} {'input shape':<19} {'output shape':<19} "
          f"{'weights':>7}   use")
    for kind, layer, shape, use in examples:
        Sequential([layer]).build(shape)
        print(f"{kind:<24} {type(layer).__name__:<20} {str(shape):<19} "
              f"{str(layer.output_shape):<19} {layer.count_params():>7}   {use}")


def course_model():
    heading("4.6 The course's model: 2 inputs, 5 and 5 hidden nodes, 2 outputs")
    clear_session()   # layer names start again at "dense", as in a fresh Python session
    # the course's code, with the imports switched to fastnn
    layers = [
        Dense(5, input_shape=(2,), activation='relu'),
        Dense(5, activation='relu'),
        Dense(2, activation='softmax')
    ]
    model = Sequential(layers)
    model.summary()
    print("The first Dense object is the first *hidden* layer; input_shape=(2,) sets the "
          "input layer.")
    return model


def show_weights(model):
    heading("4.3 Layer weights: model.get_weights()")
    weights = model.get_weights()
    names = [f"{layer.name}.{kind}" for layer in model.layers for kind in ("kernel", "bias")]
    for name, array in zip(names, weights):
        print(f"{name:<15} shape {str(array.shape):<7} {array.size:>3} numbers")
    print(f"{len(weights)} arrays, {sum(a.size for a in weights)} numbers in all.  "
          f"kernel[i, j] is the weight of the connection from node i of the previous layer\n"
          f"to node j of this layer; biases start at 0, the kernel at small random values "
          f"(glorot_uniform, chapter 24).")
    return weights


def one_node(weights, x):
    heading("4.3 One node: output = activation(weighted sum of the inputs + bias)")
    kernel, bias = weights[0], weights[1]
    terms = " + ".join(f"({x[i]:+.2f})*({kernel[i, 0]:+.4f})" for i in range(len(x)))
    weighted = float(x @ kernel[:, 0] + bias[0])
    print(f"sample x = {numbers(x)}; node 0 of the first hidden layer:")
    print(f"  weighted sum = {terms} + {bias[0]:.1f} = {weighted:+.4f}")
    print(f"  relu({weighted:+.4f}) = {max(weighted, 0.0):.4f}"
          + ("   (negative sums are cut to 0: this node is silent for x)"
             if weighted < 0 else ""))


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def forward_by_hand(model, weights, x):
    heading("4.4 The forward pass, by fastnn and by hand with NumPy")
    activations = [lambda z: np.maximum(z, 0.0), lambda z: np.maximum(z, 0.0), softmax]
    names = ["relu", "relu", "softmax"]
    print(f"a starts as the {len(x)} samples x, shape {x.shape}; each layer's output is "
          f"the next layer's a.")
    a = x
    for index, (layer, activation, name) in enumerate(zip(model.layers, activations, names)):
        kernel, bias = weights[2 * index], weights[2 * index + 1]
        a = activation(a @ kernel + bias)
        print(f"{layer.name:<8} {name}(a @ kernel{kernel.shape} + bias) -> shape {a.shape}; "
              f"sample 0: {numbers(a[0], 4)}")
    by_model = model.predict(x)
    print(f"\n{'sample':<16} {'model.predict':<22} {'by hand':<22} largest difference")
    for sample, p, h in zip(x, by_model, a):
        print(f"{numbers(sample):<16} {numbers(p, 4):<22} {numbers(h, 4):<22} "
              f"{np.abs(p - h).max():.1e}")
    print("They agree to float32 rounding (< 1e-6): model.predict is this chain of matrix "
          "products.\nEach row sums to 1 (softmax): the probabilities of the 2 classes, "
          "e.g. cat and dog.\nThe weights are untrained, so these probabilities are arbitrary; "
          "finding the weights that make them right is training (chapter 6).")
    assert np.allclose(by_model, a, atol=1e-6)


WINDOW = 20   # the LSTM sees this many past values


def noisy_sine(steps, rng):
    """sin(t) for t = 0, 0.1, 0.2, ... plus a little noise: a time series."""
    t = 0.1 * np.arange(steps)
    return (np.sin(t) + 0.1 * rng.standard_normal(steps)).astype(np.float32)


def windows(series):
    """Inputs (samples, WINDOW, 1): each run of WINDOW values; targets: the value after it."""
    x = np.stack([series[i:i + WINDOW] for i in range(len(series) - WINDOW)])
    return x[..., None], series[WINDOW:, None]


def time_series(args):
    heading("4.1 A recurrent layer on a time series: predict the next value of a noisy sine")
    series = noisy_sine(1400, np.random.default_rng(SEED))
    x, y = windows(series)
    split = 1000   # train on the first 1,000 windows, test on the later ones
    model = Sequential([LSTM(16, input_shape=(WINDOW, 1)), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    print(f"{len(x)} windows of {WINDOW} values -> the next value; LSTM(16) + Dense(1), "
          f"{model.count_params()} weights")
    model.fit(x[:split], y[:split], epochs=3 if args.fast else 8, batch_size=32, verbose=2)
    predicted = model.predict(x[split:], verbose=0)
    mse = float(np.mean((predicted - y[split:]) ** 2))
    last_value = float(np.mean((x[split:, -1] - y[split:]) ** 2))
    print(f"test MSE of the LSTM: {mse:.4f};  of 'the next value is the last one': "
          f"{last_value:.4f}  (the noise alone costs 0.01)")
    if not fastnn.plot.available():
        print("picture skipped: matplotlib is not installed (pip install fastnn[plot])")
        return
    path = fastnn.plot.series({"truth": y[split:split + 200, 0],
                               "LSTM prediction": predicted[:200, 0]},
                              args.out / "ch04_time_series.png",
                              title="next value of a noisy sine: truth vs LSTM")
    print(f"saved {path}")


def main():
    args = arguments(__doc__, fast="train the LSTM for 3 epochs instead of 8")
    set_random_seed(SEED)
    layer_types()
    model = course_model()
    weights = show_weights(model)
    one_node(weights, SAMPLES[0])
    forward_by_hand(model, weights, SAMPLES)
    time_series(args)


if __name__ == "__main__":
    main()
