"""Chapter 03: Artificial neural networks — a Sequential model from a list of Dense layers, and what makes a net "deep".

What you see:
  1. 3.5.3 The course's first model, built exactly as the course writes it:
     a list of Dense layers with input_shape=(2,) passed to Sequential;
     model.summary() and what each constructor argument did (units,
     input_shape, activation).
  2. "Dense" means fully connected: the kernel of the first layer has one
     weight for every (input node, layer node) pair.
  3. 3.3 Input layer = one node per feature: a sample (height, weight) goes
     in and two class probabilities come out; a sample with the wrong number
     of features is refused with a clear message.
  4. 2.3 / 3.3 What "deep" means: input, hidden and output layers counted
     for the course's nets (2-3-2, 2-5-5-1, 2-5-5-2); more than one hidden
     layer makes a deep net.

Run:  python -m fastnn course 3 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch03_artificial_neural_networks.py [--fast] [--out DIR])
(--fast changes nothing here: the script runs in about a second.)
"""
import numpy as np

from fastnn.course import arguments
from fastnn.layers import Dense
from fastnn.models import Sequential
from fastnn.utils import set_random_seed

SEED = 3


def heading(text):
    print(f"\n=== {text} ===")


def course_model():
    heading("3.5.3 The course's Sequential model")
    # the course's code, with the imports switched to fastnn
    layers = [
        Dense(3, input_shape=(2, ), activation='relu'),
        Dense(2, activation='softmax')
    ]
    model = Sequential(layers)
    model.summary()
    first, last = model.layers
    print(f"Dense(3, ...): 1st argument units = {first.units} nodes in this layer\n"
          f"input_shape=(2,): the input layer has {model.input_shape[1]} nodes; only the "
          f"first Dense needs it\n"
          f"activation='relu' / 'softmax': {first.activation.name}, then "
          f"{last.activation.name} (chapter 5)\n"
          f"model.input_shape = {model.input_shape}, model.output_shape = "
          f"{model.output_shape} (None = any number of samples)")
    return model


def fully_connected(model):
    heading("Dense = fully connected: one weight per connection")
    kernel, bias = model.layers[0].get_weights()
    print(f"first layer's kernel: shape {kernel.shape} = (input nodes, layer nodes), "
          f"i.e. {kernel.size} connections, plus {bias.size} biases")
    print("kernel[i, j] = weight of the connection input node i -> hidden node j:")
    for i, row in enumerate(kernel):
        print(f"  input {i}: " + "  ".join(f"-> h{j}: {w:+.3f}" for j, w in enumerate(row)))


def one_sample(model):
    heading("3.3 One node per feature: (height, weight) in, 2 classes out")
    sample = np.array([[1.72, 0.68]], np.float32)   # height in m, weight in 100 kg
    probabilities = model.predict(sample)[0]
    print(f"input  [{sample[0, 0]:.2f}, {sample[0, 1]:.2f}]  ->  output "
          f"[{probabilities[0]:.4f}, {probabilities[1]:.4f}]\n"
          f"2 output nodes = 2 prediction classes (e.g. underweight / overweight); softmax "
          f"makes them sum to {probabilities.sum():.4f}.")
    print("The weights are still random, so these probabilities mean nothing yet: "
          "training (chapters 6-7) will fix that.")
    try:
        model.predict(np.array([[1.72, 0.68, 35.0]], np.float32))
    except ValueError as error:
        print(f"3 features for a 2-node input layer -> ValueError: {error}")


def describe(name, inputs, units):
    model = Sequential([Dense(units[0], input_shape=(inputs,), activation="relu")]
                       + [Dense(n, activation="relu") for n in units[1:]])
    hidden = len(model.layers) - 1
    kind = "deep" if hidden > 1 else "shallow"
    nodes = " - ".join(str(n) for n in [inputs] + units)
    print(f"{name:<22} {nodes:<16} {inputs:>5} {hidden:>7} {units[-1]:>7}   {kind}")


def deep_or_not():
    heading("2.3 / 3.3 Input, hidden and output layers: what makes a net deep")
    print(f"{'net':<22} {'nodes':<16} {'input':>5} {'hidden':>7} {'output':>7}   kind")
    describe("course model above", 2, [3, 2])
    describe("picture of 3.3", 2, [5, 5, 1])
    describe("chapter 4's model", 2, [5, 5, 2])
    describe("chapter 7's model", 1, [16, 32, 2])
    print("Every Dense layer but the last is a hidden layer; the input layer is not a Dense\n"
          "object at all, it is set by input_shape.  More than one hidden layer = a deep net.")


def main():
    arguments(__doc__, fast="accepted for uniformity; no effect", pictures=False)
    set_random_seed(SEED)
    model = course_model()
    fully_connected(model)
    one_sample(model)
    deep_or_not()


if __name__ == "__main__":
    main()
