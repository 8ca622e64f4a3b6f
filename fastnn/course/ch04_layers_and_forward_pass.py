"""Chapter 04: Layers of a neural network — layer types, weights, and the 2-5-5-2 net's forward pass by model and by hand.

What you see:
  1. 4.1 Layer types: a dense, a convolution, a pooling and a normalization
     layer, each applied to a small input: what shape goes in and comes out,
     and how many weights it has.  (Recurrent layers, for time series, are
     named by the course but not part of fastnn.)
  2. 4.6 The course's model: Dense(5, input_shape=(2,)) - Dense(5) - Dense(2),
     relu, relu, softmax; model.summary().
  3. 4.3 Its weights from model.get_weights(): one kernel (inputs, nodes) and
     one bias vector per layer.
  4. 4.3 One node in numbers: node output = activation(weighted sum of the
     inputs + bias).
  5. 4.4 The whole forward pass computed twice, by model.predict and by hand
     with NumPy (x @ kernel + bias, relu, softmax), layer by layer: they agree.

Run:  python -m fastnn course 4 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch04_layers_and_forward_pass.py [--fast] [--out DIR])
(--fast changes nothing here: the script runs in about a second.)
"""
import numpy as np

from fastnn.backend import clear_session
from fastnn.course import arguments
from fastnn.layers import BatchNormalization, Conv2D, Dense, MaxPooling2D
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
        ("normalization", BatchNormalization(), (None, 13, 13, 8),
         "rescales each channel (ch. 31)"),
    ]
    print(f"{'type':<24} {'layer':<20} {'input shape':<19} {'output shape':<19} "
          f"{'weights':>7}   use")
    for kind, layer, shape, use in examples:
        Sequential([layer]).build(shape)
        print(f"{kind:<24} {type(layer).__name__:<20} {str(shape):<19} "
              f"{str(layer.output_shape):<19} {layer.count_params():>7}   {use}")
    print(f"{'recurrent':<24} {'-':<20} {'':<19} {'':<19} {'':>7}   for time series; "
          f"not in fastnn")


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


def main():
    arguments(__doc__, fast="accepted for uniformity; no effect", pictures=False)
    set_random_seed(SEED)
    layer_types()
    model = course_model()
    weights = show_weights(model)
    one_node(weights, SAMPLES[0])
    forward_by_hand(model, weights, SAMPLES)


if __name__ == "__main__":
    main()
