"""Chapter 31: Batch normalization — normalise a layer's outputs over the batch, then scale by g and shift by b, both learned.

What you see:
  1. 31.4 The course's code: Dense(16, input_shape=(1, 5)), Dense(32),
     BatchNormalization(axis=1), Dense(2), with its summary.  On inputs of
     shape (batch, 1, 5) axis 1 has size 1: one feature, normalised over
     the batch and all 32 outputs together (4 parameters).  The usual
     choice for a Dense layer's outputs, axis=-1, normalises each of the 32
     outputs on its own (128 parameters).
  2. 31.3 The three steps by hand on a batch, next to the layer in
     training mode: z = (x - mean) / std; z * g; (z * g) + b.  (fastnn,
     like Keras, adds epsilon = 0.001 to the variance: std = sqrt(var + eps).)
  3. Moving mean and variance: each training batch moves them 1% of the way
     (momentum 0.99) towards the batch's statistics; predict and evaluate
     use them instead of the batch's own.
  4. The effect on training: a deep net (8 Dense layers of 64) trained with
     plain SGD on Fashion-MNIST with and without a BatchNormalization after
     every hidden layer: the loss after each epoch.
Pictures (in --out): the loss curves with and without batch norm.

Run:  python -m fastnn course 31 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch31_batch_normalization.py [--fast] [--out DIR])
"""
import numpy as np

import fastnn.plot
from fastnn.course import arguments
from fastnn.datasets import fashion_mnist
from fastnn.layers import BatchNormalization, Dense
from fastnn.models import Sequential
from fastnn.optimizers import SGD
from fastnn.utils import set_random_seed

# --fast runs in seconds; the full run in about a minute
SETTINGS = {
    "fast": dict(train=1000, validation=1000, epochs=3, activations=("relu",)),
    "full": dict(train=5000, validation=2000, epochs=5, activations=("relu", "sigmoid")),
}
SEED = 31
DEPTH, WIDTH = 8, 64   # part 4's deep net


def heading(text):
    print(f"\n=== {text} ===")


def vector(values, digits=3):
    return "[" + ", ".join(f"{v:.{digits}f}" for v in values) + "]"


def course_code():
    heading("31.4 The course's model: BatchNormalization(axis=1) after Dense(32)")
    model = Sequential([
        Dense(16, input_shape=(1, 5), activation='relu'),
        Dense(32, activation='relu'),
        BatchNormalization(axis=1),
        Dense(2, activation='softmax')
    ])
    model.summary()
    norm = model.layers[2]
    shapes = ", ".join(f"{v.name} {v.shape}" for v in norm.variables)
    print(f"Its input has shape {norm.input_shape}: axis 1 has size 1, so there is one "
          f"feature and {shapes}.\ngamma and beta are trainable (2), the moving statistics "
          f"are not (2): 4 parameters.")

    x = np.random.default_rng(SEED).normal(size=(8, 1, 5)).astype(np.float32)
    hidden = model.layers[1](model.layers[0](x))
    out = norm(hidden, training=True)
    print(f"On a batch of 8: the 8 x 32 values after Dense(32) have mean {hidden.mean():.3f}, "
          f"std {hidden.std():.3f};\nafter BatchNormalization(axis=1) in training mode mean "
          f"{out.mean():.3f}, std {out.std():.3f} (all 256 normalised together).")

    per_unit = Sequential([Dense(16, input_shape=(1, 5), activation='relu'),
                           Dense(32, activation='relu'),
                           BatchNormalization(axis=-1)])
    print(f"With axis=-1 (the default) each of the 32 outputs is a feature of its own: "
          f"gamma {per_unit.layers[2].gamma.shape}, {per_unit.layers[2].count_params()} "
          f"parameters.")


def by_hand():
    heading("31.3 The three steps by hand vs the layer in training mode (axis=-1, 3 features)")
    x = np.array([[1.0, 200.0, -3.0],
                  [2.0, 100.0, -1.0],
                  [4.0, 400.0, 0.0],
                  [9.0, 300.0, -4.0]], np.float32)
    g = np.array([1.0, 2.0, 0.5], np.float32)   # the course's g (gamma) ...
    b = np.array([0.0, 0.5, -1.0], np.float32)  # ... and b (beta), here not the defaults 1 and 0
    layer = BatchNormalization()
    layer.build((None, 3))
    layer.set_weights([g, b, np.zeros(3, np.float32), np.ones(3, np.float32)])
    print("a batch of 4 samples; the features have very different scales:")
    for row in x:
        print("   " + " ".join(f"{v:>7.1f}" for v in row))
    mean = x.mean(axis=0)
    var = x.var(axis=0)   # biased: divided by the batch size, 4
    std = np.sqrt(var + layer.epsilon)
    z = (x - mean) / std
    manual = z * g + b
    output = layer(x, training=True)
    print(f"mean per feature      {vector(mean)}")
    print(f"variance per feature  {vector(var)}  (divided by 4, the batch size)")
    print(f"std = sqrt(var + eps) {vector(std)}")
    print("step 1  z = (x - mean) / std        step 3  (z * g) + b        layer(x, training=True)")
    for z_row, m_row, o_row in zip(z, manual, output):
        print("   " + " ".join(f"{v:>6.3f}" for v in z_row) + "   "
              + " ".join(f"{v:>6.3f}" for v in m_row) + "   "
              + " ".join(f"{v:>6.3f}" for v in o_row))
    print(f"largest difference, by hand vs layer: {np.abs(manual - output).max():.1e}")
    print(f"after step 1 every feature has mean 0 and std ~1; after steps 2 and 3 its mean "
          f"is b and its std g:\n  mean {vector(output.mean(axis=0))}, "
          f"std {vector(output.std(axis=0))}")
    return layer, x, mean, var


def moving_statistics(layer, x, mean, var):
    heading("Moving mean and variance: what predict() uses")
    print(f"after the one training call above (momentum {layer.momentum}):")
    expected_mean = 0.99 * 0.0 + 0.01 * mean
    expected_var = 0.99 * 1.0 + 0.01 * var
    print(f"  moving_mean     {vector(layer.moving_mean.value)}   by hand 0.99 * 0 + 0.01 * "
          f"mean = {vector(expected_mean)}")
    print(f"  moving_variance {vector(layer.moving_variance.value)}   by hand 0.99 * 1 + "
          f"0.01 * var  = {vector(expected_var)}")
    print(f"  inference output, first sample: {vector(layer(x, training=False)[0])} "
          f"(the moving statistics are still far from the batch's)")
    for _ in range(999):
        layer(x, training=True)
    print("after 1000 training calls on this batch:")
    print(f"  moving_mean     {vector(layer.moving_mean.value)}   (batch mean {vector(mean)})")
    print(f"  moving_variance {vector(layer.moving_variance.value)}   (batch var  {vector(var)})")
    print(f"  inference output, first sample: {vector(layer(x, training=False)[0])}; "
          f"training output {vector(layer(x, training=True)[0])}")
    print("In training each batch is normalised by its own statistics; at inference a single "
          "sample has none,\nso the averages collected during training stand in for them.")


def deep_net(activation, batch_norm):
    """DEPTH Dense layers of WIDTH units, each followed by BatchNormalization if asked."""
    layers = []
    for i in range(DEPTH):
        layers.append(Dense(WIDTH, activation=activation,
                            **({"input_shape": (784,)} if i == 0 else {})))
        if batch_norm:
            layers.append(BatchNormalization())
    return Sequential(layers + [Dense(10, activation="softmax")])


def effect_on_training(settings):
    (x, y), (x_val, y_val) = fashion_mnist.load_data()
    train, val = settings["train"], settings["validation"]
    x = (x[:train].reshape(train, -1) / 255.0).astype(np.float32)
    x_val = (x_val[:val].reshape(val, -1) / 255.0).astype(np.float32)
    y, y_val = y[:train], y_val[:val]
    epochs = settings["epochs"]
    heading(f"Batch norm in a deep net: {DEPTH} x Dense({WIDTH}) on {train} Fashion-MNIST "
            f"images, SGD(0.01), {epochs} epochs")
    print(f"{'hidden activation':<18} {'batch norm':<11} "
          + " ".join(f"{'loss ' + str(e + 1):>7}" for e in range(epochs))
          + f" {'val_acc':>8}")
    runs = {}
    for activation in settings["activations"]:
        for batch_norm in (False, True):
            set_random_seed(SEED)   # the same Dense weights and batches in both
            model = deep_net(activation, batch_norm)
            model.compile(optimizer=SGD(learning_rate=0.01),
                          loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            logs = model.fit(x, y, batch_size=32, epochs=epochs, validation_data=(x_val, y_val),
                             verbose=0).history
            print(f"{activation:<18} {'yes' if batch_norm else 'no':<11} "
                  + " ".join(f"{v:>7.4f}" for v in logs["loss"])
                  + f" {logs['val_accuracy'][-1]:>8.3f}")
            runs[(activation, batch_norm)] = logs
    print("With batch norm every layer gets inputs of a steady scale, so plain SGD makes "
          "progress from the first\nepoch; without it the deep net learns slowly"
          + (" (relu) or not at all (sigmoid: vanishing gradients, chapter 23)."
             if "sigmoid" in settings["activations"] else "."))
    steps = epochs * -(-train // 32)
    print(f"val_acc is measured in inference mode, with the moving statistics: after {steps} "
          f"training batches they\ncarry 0.99^{steps} = {0.99 ** steps:.1%} of their "
          f"starting values (mean 0, variance 1)"
          + (", too much for a fair validation score." if 0.99 ** steps > 0.05 else "."))
    return runs


def main():
    args = arguments(__doc__, fast="small data, few epochs (seconds)")
    settings = SETTINGS["fast" if args.fast else "full"]
    set_random_seed(SEED)
    course_code()
    layer, x, mean, var = by_hand()
    moving_statistics(layer, x, mean, var)
    runs = effect_on_training(settings)

    heading("Pictures")
    if not fastnn.plot.available():
        print("pictures skipped: matplotlib is not installed (pip install fastnn[plot])")
        return
    for (activation, batch_norm), logs in runs.items():
        name = f"{activation}_{'with' if batch_norm else 'without'}_batch_norm"
        path = fastnn.plot.history(logs, args.out / f"ch31_{name}.png",
                                   metrics=("loss", "accuracy"),
                                   title=name.replace("_", " "))
        print(f"picture: {path}")


if __name__ == "__main__":
    main()
