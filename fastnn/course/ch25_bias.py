"""Chapter 25: Bias — the bias shifts the threshold at which a neuron fires; without it a net cannot move its decision away from 0.

What you see:
  1. 25.2.3 The course's worked example in numbers: inputs 1 and 2, weights
     -0.55 and 0.10.  The weighted sum is -0.35 and relu(-0.35) = 0: the
     neuron does not fire.  With a bias of 1 (threshold moved from 0 to -1)
     the sum becomes 0.65 and relu gives 0.65: it fires.  The same neuron
     as a fastnn Dense(1, activation='relu') layer with those weights.
  2. The threshold shift: which weighted sums make the neuron fire for
     bias 0, 1 and -5 (25.2.3: "fires only from 5 on" needs bias = -5).
  3. use_bias=False vs True: the weights each layer has.
  4. 25.3 Biases are learned: one sigmoid neuron learns "x >= 3" from data.
     With a bias it finds the threshold; without one its boundary is stuck
     at x = 0 — and so is any relu net without biases, however deep, since
     scaling its input scales its output.

Run:  python -m fastnn course 25 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch25_bias.py [--fast] [--out DIR])
"""
import numpy as np

from fastnn.course import arguments
from fastnn.layers import Dense
from fastnn.models import Sequential
from fastnn.optimizers import Adam
from fastnn.utils import set_random_seed

# --fast trains for fewer epochs; both run in seconds
SETTINGS = {
    "fast": dict(epochs=60),
    "full": dict(epochs=300),
}
SEED = 25
INPUTS = np.array([[1.0, 2.0]], np.float32)      # the course's two input nodes
WEIGHTS = np.array([[-0.55], [0.10]], np.float32)  # the connections to one hidden neuron
THRESHOLD = 3.0                                  # part 4: class 1 when x >= 3


def heading(text):
    print(f"\n=== {text} ===")


def course_neuron(bias):
    """A Dense(1, relu) layer on 2 inputs holding the course's weights and ``bias``."""
    layer = Dense(1, activation='relu', input_shape=(2,))
    model = Sequential([layer])
    layer.set_weights([WEIGHTS, np.array([bias], np.float32)])
    return model


def worked_example():
    heading("25.2.3 The course's example: inputs (1, 2), weights (-0.55, 0.10), relu")
    weighted_sum = float((INPUTS @ WEIGHTS)[0, 0])
    print(f"weighted sum            (1 * -0.55) + (2 * 0.10)     = {weighted_sum:+.2f}")
    print(f"without bias            relu({weighted_sum:+.2f})                  = "
          f"{max(weighted_sum, 0):.2f}  -> the neuron does not fire")
    bias = 1.0
    print(f"bias {bias:+.0f} (threshold -1)  (1 * -0.55) + (2 * 0.10) + 1 = "
          f"{weighted_sum + bias:+.2f}")
    print(f"with bias               relu({weighted_sum + bias:+.2f})                  = "
          f"{max(weighted_sum + bias, 0):.2f}  -> it fires")
    print("(The course's script prints -0.35 on the line with '+ 1'; the sum is 0.65, as its "
          "next line says.)")
    for b in (0.0, 1.0):
        output = course_neuron(b).predict(INPUTS)[0, 0]
        print(f"fastnn Dense(1, activation='relu') with these weights, bias {b:.0f}: "
              f"output {output:.2f}")


def threshold_shift():
    heading("The bias is minus the threshold: relu(sum + b) > 0 exactly when sum > -b")
    sums = np.array([-2.0, -1.0, -0.35, 0.0, 0.65, 3.0, 5.0, 6.0], np.float32)
    print(f"{'weighted sum':>14} " + " ".join(f"{s:>6.2f}" for s in sums))
    for bias, note in ((0.0, "threshold 0 (no bias)"), (1.0, "threshold -1"),
                       (-5.0, "threshold 5: fires only above 5 (25.2.3)")):
        fired = np.maximum(sums + bias, 0)
        print(f"{'bias ' + format(bias, '+.0f'):>14} "
              + " ".join(f"{v:>6.2f}" for v in fired) + f"   {note}")
    print("A positive bias lets the neuron fire for smaller sums, a negative one only for "
          "larger sums.")


def use_bias_switch():
    heading("use_bias=True (the default) vs use_bias=False")
    for use_bias in (True, False):
        layer = Dense(3, input_shape=(2,), use_bias=use_bias)
        Sequential([layer])
        shapes = ", ".join(f"{v.name} {v.shape}" for v in layer.variables)
        print(f"Dense(3, input_shape=(2,), use_bias={use_bias!s:<5}): {shapes}; "
              f"{layer.count_params()} parameters")


def threshold_data():
    """x evenly in [0, 6]; label 1 when x >= THRESHOLD."""
    x = np.linspace(0.0, 6.0, 121, dtype=np.float32).reshape(-1, 1)
    return x, (x[:, 0] >= THRESHOLD).astype(np.float32)


def train(layers, x, y, settings):
    set_random_seed(SEED)
    model = Sequential(layers)
    model.compile(optimizer=Adam(learning_rate=0.05), loss="binary_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, batch_size=16, epochs=settings["epochs"], verbose=0)
    return model, history.history


def learned_threshold(settings):
    heading(f"25.3 Biases are learned: a neuron learns 'x >= {THRESHOLD:.0f}' from 121 points "
            f"in [0, 6]")
    x, y = threshold_data()
    print(f"Adam(0.05), binary crossentropy, {settings['epochs']} epochs, batch 16.")
    print(f"{'model':<44} {'loss':>7} {'accuracy':>9}   decision boundary")
    for use_bias in (True, False):
        model, logs = train([Dense(1, activation="sigmoid", input_shape=(1,),
                                   use_bias=use_bias)], x, y, settings)
        weights = model.get_weights()
        w = float(weights[0][0, 0])
        if use_bias:
            b = float(weights[1][0])
            boundary = f"w·x + b = 0 at x = {-b / w:.2f} (w = {w:.2f}, b = {b:.2f})"
        else:
            boundary = f"w·x = 0 at x = 0 (w = {w:.2f}, no b)"
        print(f"{f'Dense(1, sigmoid, use_bias={use_bias})':<44} {logs['loss'][-1]:>7.4f} "
              f"{logs['accuracy'][-1]:>9.3f}   {boundary}")
    deep = [Dense(16, activation="relu", input_shape=(1,), use_bias=False),
            Dense(16, activation="relu", use_bias=False),
            Dense(1, activation="sigmoid", use_bias=False)]
    model, logs = train(deep, x, y, settings)
    p = model.predict(x)[:, 0]
    print(f"{'1-16-16-1 relu net, all use_bias=False':<44} {logs['loss'][-1]:>7.4f} "
          f"{logs['accuracy'][-1]:>9.3f}   predicts class "
          f"{sorted(set((p[1:] > 0.5).astype(int).tolist()))} for every x > 0")
    print("Without biases the value fed to the sigmoid is 0 at x = 0, and for x > 0 it is x "
          "times its value at x = 1\n(relu(c·z) = c·relu(z) for c > 0): its sign, and so the "
          "predicted class, is the same for every positive x.\nOnly a bias can put the "
          "threshold at 3.")


def main():
    args = arguments(__doc__, fast="fewer epochs (seconds)", pictures=False)
    settings = SETTINGS["fast" if args.fast else "full"]
    set_random_seed(SEED)
    worked_example()
    threshold_shift()
    use_bias_switch()
    learned_threshold(settings)


if __name__ == "__main__":
    main()
