"""Chapter 26: Learnable parameters in a dense net — inputs x outputs + biases per layer; the course's 2-3-2 net has 17.

What you see:
  1. 26.3 The course's fully connected net with 2 inputs, 3 hidden and 2
     output nodes: per layer the formula inputs * outputs + biases
     (hidden 2*3 + 3 = 9, output 3*2 + 2 = 8, total 17) next to fastnn's
     count_params(), then model.summary().
  2. The 17 numbers themselves: each layer's kernel (inputs, outputs) and
     bias (outputs,), as get_weights() returns them.
  3. 26.1 They are learnable: one training step on a few examples changes
     every one of the 17 (none is fixed).
  4. Without biases (use_bias=False) only the weights remain: 6 + 6 = 12.
  5. The same formula on bigger nets: the course's 1-16-32-2 net of
     chapter 7 and a 784-128-10 net for Fashion-MNIST images.

Run:  python -m fastnn course 26 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch26_learnable_parameters_dense.py [--fast] [--out DIR])
"""
import numpy as np

from fastnn.course import arguments
from fastnn.layers import Dense
from fastnn.models import Sequential
from fastnn.optimizers import SGD
from fastnn.utils import set_random_seed

SEED = 26
# Nets of part 5 as (inputs, [units of each layer]); --fast shows fewer
NETS = {
    "fast": {"course 2-3-2 (26.3)": (2, [3, 2]),
             "course 1-16-32-2 (7.3)": (1, [16, 32, 2])},
    "full": {"course 2-3-2 (26.3)": (2, [3, 2]),
             "course 1-16-32-2 (7.3)": (1, [16, 32, 2]),
             "Fashion-MNIST 784-128-10": (784, [128, 10]),
             "Fashion-MNIST 784-512-512-10": (784, [512, 512, 10])},
}


def heading(text):
    print(f"\n=== {text} ===")


def dense_net(inputs, units, use_bias=True):
    """A fully connected net: ``inputs`` input nodes, then one Dense layer per entry of units."""
    layers = [Dense(units[0], input_shape=(inputs,), activation="relu", use_bias=use_bias)]
    layers += [Dense(n, activation="relu", use_bias=use_bias) for n in units[1:-1]]
    if len(units) > 1:
        layers.append(Dense(units[-1], activation="softmax", use_bias=use_bias))
    return Sequential(layers)


def formula(inputs, outputs, use_bias=True):
    """Learnable parameters of one Dense layer (26.2): inputs * outputs (+ outputs biases)."""
    return inputs * outputs + (outputs if use_bias else 0)


def per_layer_table(model, use_bias=True):
    """Print the formula and count_params() for each layer; return the formula's total."""
    print(f"{'layer':<10} {'inputs':>6} {'outputs':>7}   {'formula':<22} {'count_params()':>14}")
    total = 0
    for layer in model.layers:
        inputs, outputs = layer.input_shape[-1], layer.units
        count = formula(inputs, outputs, use_bias)
        text = f"{inputs}*{outputs}" + (f" + {outputs}" if use_bias else "") + f" = {count}"
        print(f"{layer.name:<10} {inputs:>6} {outputs:>7}   {text:<22} {layer.count_params():>14}")
        total += count
    print(f"{'total':<10} {'':>6} {'':>7}   {total:<22} {model.count_params():>14}")
    return total


def course_net():
    heading("26.3 The course's net: input 2, hidden 3, output 2, with biases")
    model = dense_net(2, [3, 2])
    print("The input layer has no learnable parameters: it only holds the data.")
    total = per_layer_table(model)
    print(f"-> {total} learnable parameters (course: 17 = 9 in the hidden layer + 8 in the "
          f"output layer; its text swaps 8 and 9 once)")
    model.summary()
    return model


def the_numbers(model):
    heading("The 17 numbers: get_weights(), layer by layer")
    for layer in model.layers:
        for variable in layer.variables:
            values = np.array2string(variable.value, precision=2, separator=", ",
                                     suppress_small=True).replace("\n", "\n" + " " * 24)
            print(f"{layer.name + '.' + variable.name:<16} {str(variable.shape):<7} {values}")
    print("kernel[i, j] weights the connection from input i to node j; the biases start at 0 "
          "(bias_initializer='zeros').")


def learnable(model):
    heading("26.1 Learnable: one SGD step on 4 examples moves them")
    x = np.array([[0.5, -1.0], [1.0, 2.0], [-0.5, 0.3], [2.0, -0.7]], np.float32)
    y = np.array([0, 1, 1, 0])
    before = model.get_weights()
    model.compile(optimizer=SGD(learning_rate=0.1), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    changed = sum(int(np.count_nonzero(a != b)) for a, b in zip(before, model.get_weights()))
    trainable = sum(v.value.size for v in model.trainable_variables)
    print(f"{changed} of {model.count_params()} parameters changed after one gradient step "
          f"({trainable} are trainable: model.trainable_weights holds "
          f"{len(model.trainable_variables)} arrays, 2 kernels and 2 biases).\n"
          f"(A relu node that outputs 0 for every example would pass no gradient and keep its "
          f"weights for this step.)")


def without_bias():
    heading("use_bias=False: weights only")
    model = dense_net(2, [3, 2], use_bias=False)
    total = per_layer_table(model, use_bias=False)
    print(f"-> {total}: the 5 biases (3 hidden + 2 output) are gone")


def bigger_nets(nets):
    heading("The same formula for bigger nets")
    print(f"{'net':<30} {'per layer (inputs*outputs + biases)':<48} {'total':>9} "
          f"{'count_params()':>14}")
    for name, (inputs, units) in nets.items():
        sizes = [inputs] + units
        parts = [formula(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
        text = " + ".join(f"{a}*{b}+{b}" for a, b in zip(sizes[:-1], sizes[1:]))
        print(f"{name:<30} {text:<48} {sum(parts):>9,} {dense_net(inputs, units).count_params():>14,}")


def main():
    args = arguments(__doc__, fast="fewer example nets", pictures=False)
    set_random_seed(SEED)
    model = course_net()
    the_numbers(model)
    learnable(model)
    without_bias()
    bigger_nets(NETS["fast" if args.fast else "full"])


if __name__ == "__main__":
    main()
