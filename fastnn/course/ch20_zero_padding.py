"""Chapter 20: Zero padding — why a valid convolution shrinks its input to (n - f + 1) and how padding='same' keeps the size.

What you see:
  1. 20.1 The formula: an n x n input and an f x f filter give an
     (n - f + 1) x (n - f + 1) output.  The course's 4 x 4 input and 3 x 3
     filter (-> 2 x 2), checked against fastnn's conv2d, and a table of
     output sizes for a few n and f, valid and same.
  2. 20.2 Why shrinking hurts: how often each input pixel is looked at by a
     3 x 3 filter.  Without padding a corner pixel takes part in 1 window,
     a centre pixel in 9: the border counts for less, and a stack of valid
     convolutions eats the image from the outside in.
  3. 20.3 Zero padding: the 4 x 4 input framed with a ring of zeros, so the
     3 x 3 filter fits in 4 x 4 places; padding='same' does exactly this.
  4. 20.4 The course's two Keras models (Dense, three Conv2D, Flatten,
     Dense), padding='valid' then 'same', with their summaries: 473,890 and
     559,906 parameters, and where the difference comes from.
  5. The same three convolutions on a real Fashion-MNIST image: 28 x 28
     shrinks to 16 x 16 with valid padding and stays 28 x 28 with same.
Pictures (in --out): the feature maps of the real image, valid vs same.

Run:  python -m fastnn course 20 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch20_zero_padding.py [--fast] [--out DIR])
"""
import numpy as np

import fastnn.plot
from fastnn.course import arguments
from fastnn.datasets import fashion_mnist
from fastnn.kernels import conv2d
from fastnn.layers import Conv2D, Dense, Flatten
from fastnn.models import Sequential
from fastnn.utils import set_random_seed

# Everything here is shape arithmetic and one forward pass: --fast only
# shortens the table of output sizes.
SETTINGS = {
    "fast": dict(sizes=(4, 20, 28), filters=(3, 5, 7)),
    "full": dict(sizes=(4, 7, 20, 28, 32, 64), filters=(1, 3, 5, 7)),
}
SEED = 20
# The course's 3x3 filter of 20.1 (the numbers shown next to the MNIST 7).
COURSE_FILTER = np.array([[0.98, 0.28, 0.94],
                          [0.71, 0.05, 0.56],
                          [0.60, 0.33, 0.85]], np.float32)


def heading(text):
    print(f"\n=== {text} ===")


def print_matrix(name, matrix, fmt="{:>5.2f}"):
    print(f"{name} ({matrix.shape[0]}x{matrix.shape[1]}):")
    for row in matrix:
        print("   " + " ".join(fmt.format(v) for v in row))


def convolve(image, kernel, padding):
    """One 2-D image and one 2-D filter through fastnn's conv2d (NHWC, one channel)."""
    return conv2d(image[None, :, :, None], kernel[:, :, None, None], padding=padding)[0, :, :, 0]


def output_size_formula(settings):
    heading("20.1 Output size: (n - f + 1) x (n - f + 1)")
    image = np.arange(1, 17, dtype=np.float32).reshape(4, 4)
    print_matrix("input", image, "{:>5.0f}")
    print_matrix("filter", COURSE_FILTER)
    valid = convolve(image, COURSE_FILTER, "valid")
    print(f"n = 4, f = 3: n - f + 1 = {4 - 3 + 1}; the filter fits in 2 x 2 places, and "
          f"conv2d(padding='valid') returns {valid.shape[0]} x {valid.shape[1]}:")
    print_matrix("output", valid, "{:>6.2f}")

    print("\nOutput height/width for an n x n input and an f x f filter (stride 1):")
    print(f"{'n':>4} {'f':>3} {'valid: n-f+1':>13} {'same':>5}   checked by conv2d")
    for n in settings["sizes"]:
        for f in settings["filters"]:
            if f > n:
                continue
            x = np.zeros((n, n), np.float32)
            kernel = np.zeros((f, f), np.float32)
            measured = (convolve(x, kernel, "valid").shape[0], convolve(x, kernel, "same").shape[0])
            formula = (n - f + 1, n)
            print(f"{n:>4} {f:>3} {formula[0]:>13} {formula[1]:>5}   "
                  f"{'yes' if measured == formula else f'NO: {measured}'}")


def window_counts(n, f, padding):
    """How many f x f windows of a stride-1 convolution contain each pixel of an n x n input.

    Each output pixel "looks back" at its window: spreading a 1 from every
    output position over its f x f window (a convolution of the outputs,
    framed with f - 1 zeros for valid or (f - 1) / 2 for same, with a filter
    of ones) adds up, per input pixel, the windows that contain it."""
    out = convolve(np.zeros((n, n), np.float32), np.zeros((f, f), np.float32), padding).shape[0]
    pad = (f - 1) if padding == "valid" else (f - 1) // 2
    ones_out = np.pad(np.ones((out, out), np.float32), pad)
    return convolve(ones_out, np.ones((f, f), np.float32), "valid")


def border_pixels():
    heading("20.2 The border counts for less: windows that see each input pixel (n = 6, f = 3)")
    for padding in ("valid", "same"):
        print_matrix(f"padding='{padding}'", window_counts(6, 3, padding), "{:>2.0f}")
    print("Without padding a corner pixel is seen by 1 window, a centre pixel by 9.  With zero "
          "padding every pixel is the centre of one window,\nso a corner pixel is seen by 4 "
          "and an edge pixel by 6.")
    print("\nA stack of valid 3x3 convolutions eats a 28x28 image from the outside in:")
    sizes = [28]
    while sizes[-1] - 3 + 1 >= 1:
        sizes.append(sizes[-1] - 3 + 1)
    print("  " + " -> ".join(str(s) for s in sizes) + f"   (after {len(sizes) - 1} layers a "
          f"3x3 filter no longer fits;\n  a 4x4 image is 2x2 after one layer and cannot take a "
          f"second)")


def zero_padding():
    heading("20.3 Zero padding: a ring of zeros around the 4x4 input")
    image = np.arange(1, 17, dtype=np.float32).reshape(4, 4)
    padded = np.pad(image, 1)
    print_matrix("padded input", padded, "{:>5.0f}")
    by_hand = convolve(padded, COURSE_FILTER, "valid")
    same = convolve(image, COURSE_FILTER, "same")
    print(f"the 3x3 filter now fits in (6 - 3 + 1) = 4 x 4 places.  conv2d(padding='same') on "
          f"the 4x4 input gives the same {same.shape[0]}x{same.shape[1]} output: "
          f"{'identical' if np.allclose(by_hand, same) else 'DIFFERENT'} to the hand-padded one")
    print_matrix("output", same, "{:>6.2f}")
    print("Its inner 2x2 is the valid output of 20.1; the new outer ring comes from windows "
          "that overlap the zeros.")
    print("For an f x f filter (f odd) 'same' adds (f - 1) / 2 rings: 1 for 3x3, 2 for 5x5, "
          "3 for 7x7.")


def course_model(padding):
    """The course's 'completely arbitrary' CNN of 20.4 (tf.keras imports switched to fastnn)."""
    return Sequential([
        Dense(16, input_shape=(20, 20, 3), activation='relu'),
        Conv2D(32, (3, 3), activation='relu', padding=padding),
        Conv2D(64, (5, 5), activation='relu', padding=padding),
        Conv2D(128, (7, 7), activation='relu', padding=padding),
        Flatten(),
        Dense(2, activation='softmax')
    ])


def keras_models():
    totals = {}
    for padding, expected in (("valid", 473_890), ("same", 559_906)):
        heading(f"20.4 The course's model with padding='{padding}'")
        model = course_model(padding)
        model.summary()
        totals[padding] = model.count_params()
        sizes = [layer.output_shape[1] for layer in model.layers[1:4]]
        print("height/width: 20 -> " + " -> ".join(map(str, sizes)) +
              f"; total {totals[padding]:,} parameters (course: {expected:,})")
    flat = {"valid": 8 * 8 * 128, "same": 20 * 20 * 128}
    print(f"\nThe convolutions have the same weights in both models (a filter's size does not "
          f"depend on the image size).\nOnly the last Dense layer differs: valid flattens "
          f"8*8*128 = {flat['valid']:,} values -> {flat['valid']:,}*2 + 2 = "
          f"{flat['valid'] * 2 + 2:,} weights; same flattens 20*20*128 = {flat['same']:,} -> "
          f"{flat['same'] * 2 + 2:,}.\nDifference {totals['same'] - totals['valid']:,} = "
          f"{flat['same'] * 2 + 2:,} - {flat['valid'] * 2 + 2:,}.")


def real_image():
    heading("The same three convolutions on a real Fashion-MNIST image (28x28x1)")
    _, (x_test, y_test) = fashion_mnist.load_data()
    image = (x_test[:1, :, :, None] / 255.0).astype(np.float32)
    print(f"test image 0, class {fashion_mnist.CLASS_NAMES[y_test[0]]!r}; three conv layers "
          f"with 3x3, 5x5 and 7x7 filters, 8 each:")
    maps = {}
    for padding in ("valid", "same"):
        set_random_seed(SEED)   # both stacks start from the same random filters
        stack = Sequential([Conv2D(8, (3, 3), activation="relu", padding=padding,
                                   input_shape=(28, 28, 1)),
                            Conv2D(8, (5, 5), activation="relu", padding=padding),
                            Conv2D(8, (7, 7), activation="relu", padding=padding)])
        shapes = " -> ".join(str(layer.output_shape[1:]) for layer in stack.layers)
        print(f"  padding='{padding}': (28, 28, 1) -> {shapes}")
        maps[padding] = stack.predict(image)[0]
    return maps


def main():
    args = arguments(__doc__, fast="a shorter table (seconds)")
    settings = SETTINGS["fast" if args.fast else "full"]
    set_random_seed(SEED)
    output_size_formula(settings)
    border_pixels()
    zero_padding()
    keras_models()
    maps = real_image()

    heading("Pictures")
    if not fastnn.plot.available():
        print("pictures skipped: matplotlib is not installed (pip install fastnn[plot])")
        return
    for padding, fmap in maps.items():
        path = fastnn.plot.feature_maps(
            fmap, args.out / f"ch20_feature_maps_{padding}.png",
            title=f"after three convolutions, padding='{padding}': {fmap.shape[0]}x{fmap.shape[1]}")
        print(f"picture: {path}")


if __name__ == "__main__":
    main()
