"""Chapter 24: Weight initialization — why N(0, 1) weights blow up the weighted sum z, and how Glorot and He scaling keep it in range.

What you see:
  1. The course's example (24.1.1): a node with 250 inputs, each equal to 1.
     With weights drawn from N(0, 1), z is the sum of 250 weights: variance
     250, standard deviation 15.81, so sigmoid(z) is nearly always 0 or 1 and
     its slope nearly 0 (24.1.2).  With variance 1/n (Xavier/Glorot, 24.2)
     z has variance 1; with 2/n (He, for relu) variance 2.
  2. The same through a deep net: the spread of the activations of 10 Dense
     layers of 256 units for N(0, 1), Glorot and He starts, with tanh and
     relu.  Only the scaled starts keep it from saturating, exploding or
     dying out layer after layer.
  3. The Keras code of 24.3: kernel_initializer='glorot_uniform' (also the
     default of every layer), and the numbers it draws.
Pictures (in --out): histograms of the weights and of z for each start.

Run:  python -m fastnn course 24 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch24_weight_initialization.py [--fast] [--out DIR])
"""
import numpy as np

import fastnn.plot
from fastnn import activations, backend, initializers
from fastnn.course import arguments
from fastnn.layers import Dense
from fastnn.models import Sequential
from fastnn.utils import set_random_seed

# --fast draws fewer nodes; everything runs in seconds either way
SETTINGS = {
    "fast": dict(layers_drawn=8, samples=200),
    "full": dict(layers_drawn=40, samples=1000),
}
N = 250          # inputs per node, as in the course
DEPTH = 10       # layers in part 2
WIDTH = 256      # units per layer in part 2

# name -> (initializer, variance of one weight for a layer with N inputs and N outputs)
STARTS = {
    "random_normal(0, 1)": (initializers.RandomNormal(mean=0.0, stddev=1.0), 1.0),
    "glorot_uniform": ("glorot_uniform", 2.0 / (N + N)),
    "glorot_normal": ("glorot_normal", 2.0 / (N + N)),
    "he_normal": ("he_normal", 2.0 / N),
}


def heading(text):
    print(f"\n=== {text} ===")


def weighted_sums(initializer, layers_drawn):
    """z of every node of ``layers_drawn`` freshly initialised N x N kernels, all inputs 1."""
    kernels = [initializers.get(initializer)((N, N)) for _ in range(layers_drawn)]
    ones = np.ones(N, np.float32)
    return np.concatenate([ones @ kernel for kernel in kernels]), kernels[0]


def variance_of_z(settings):
    heading(f"24.1.1 / 24.2 One node, {N} inputs all equal to 1: z = sum of {N} weights")
    print(f"Var(z) = {N} · Var(w) (the variance of a sum of independent numbers is the sum of "
          f"their variances); {settings['layers_drawn'] * N:,} nodes drawn per start.")
    print(f"{'start':<20} {'Var(w)':>9} {'Var(z) expected':>16} {'measured':>9} {'std(z)':>7} "
          f"{'sigmoid saturated':>18} {'mean sigmoid slope':>19}")
    sigmoid = activations.get("sigmoid")
    kernels, sums = {}, {}
    for name, (initializer, variance) in STARTS.items():
        z, kernels[name] = weighted_sums(initializer, settings["layers_drawn"])
        sums[name] = z
        y = sigmoid.forward(z)
        saturated = np.mean((y < 0.01) | (y > 0.99))
        slope = sigmoid.backward(z, y, np.ones_like(z)).mean()
        print(f"{name:<20} {variance:>9.5f} {N * variance:>16.3f} {z.var():>9.3f} {z.std():>7.3f} "
              f"{saturated:>17.1%} {slope:>19.4f}")
    print(f"N(0, 1): std(z) = sqrt({N}) = {np.sqrt(N):.3f}, so sigmoid(z) is stuck at 0 or 1 "
          f"where its slope is ~0 and SGD barely moves the weights (24.1.2).")
    print(f"Glorot: Var(w) = 2 / (fan_in + fan_out) = 1/n for n = {N} inputs and outputs "
          f"(the course's 1/n); He: 2/n, for relu.")
    return kernels, sums


def through_depth(settings):
    heading(f"Activations through depth: {DEPTH} Dense layers of {WIDTH} units, inputs N(0, 1)")
    x0 = np.random.default_rng(24).normal(size=(settings["samples"], WIDTH)).astype(np.float32)
    print("standard deviation of each layer's output:")
    print(f"{'activation, start':<28}" + "".join(f"{layer:>9}" for layer in range(1, DEPTH + 1)))
    for activation in ("tanh", "relu"):
        for name in ("random_normal(0, 1)", "glorot_uniform", "he_normal"):
            model = Sequential([Dense(WIDTH, activation=activation, input_shape=(WIDTH,),
                                      kernel_initializer=STARTS[name][0])
                                for _ in range(DEPTH)])
            x, spreads = x0, []
            for layer in model.layers:
                x = layer(x)
                spreads.append(x.std())
            print(f"{activation + ', ' + name:<28}" + "".join(f"{s:>9.3g}" for s in spreads))
    print("tanh with N(0, 1) saturates at ±1 (std ~1, slope ~0); relu with N(0, 1) grows by "
          f"~sqrt({WIDTH}/2) = {np.sqrt(WIDTH / 2):.1f} per layer and explodes; relu with "
          "Glorot shrinks by ~sqrt(1/2) per layer; He's 2/n keeps relu's spread steady.")


def keras_initializer():
    heading("24.3 Weight initialization in Keras: kernel_initializer='glorot_uniform'")
    backend.clear_session()   # layer names start over, as in a fresh session
    model = Sequential([
        Dense(16, input_shape=(1, 5), activation='relu'),
        Dense(32, activation='relu', kernel_initializer='glorot_uniform'),
        Dense(2, activation='softmax')
    ])
    model.summary()
    kernel = model.layers[1].get_weights()[0]
    fan_in, fan_out = kernel.shape
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    print(f"second layer: kernel {kernel.shape}, glorot_uniform draws from "
          f"U(-{limit:.4f}, {limit:.4f}), limit = sqrt(6 / (fan_in + fan_out))")
    print(f"  drawn: min {kernel.min():.4f}, max {kernel.max():.4f}, variance "
          f"{kernel.var():.4f} (expected 2 / (fan_in + fan_out) = {2.0 / (fan_in + fan_out):.4f})")
    print(f"The default needs no argument: the first layer's initializer is "
          f"{model.layers[0].kernel_initializer!r}; 'glorot_normal' is the normal variant.")


def main():
    args = arguments(__doc__, fast="fewer random draws (seconds)")
    settings = SETTINGS["fast" if args.fast else "full"]
    set_random_seed(24)
    kernels, sums = variance_of_z(settings)
    through_depth(settings)
    keras_initializer()

    heading("Pictures")
    if not fastnn.plot.available():
        print("pictures skipped: matplotlib is not installed (pip install fastnn[plot])")
        return
    for path in (
            fastnn.plot.weight_histograms(kernels, args.out / "ch24_weights.png",
                                          title=f"weights of a {N}x{N} kernel"),
            fastnn.plot.weight_histograms(sums, args.out / "ch24_weighted_sums.png",
                                          title=f"z = sum of {N} weights (all inputs 1)")):
        print(f"picture: {path}")


if __name__ == "__main__":
    main()
