"""Chapter 19: Convolution filters — the course's four 3x3 edge detectors slide over an image, then a CNN learns filters of its own.

What you see:
  1. The four 3x3 filters of 19.3 (-1 black, 0 grey, 1 white), convolved with
     fastnn.kernels.conv2d over a Fashion-MNIST trouser (the course uses an
     MNIST 7).  Each output channel, the feature map, is printed as text: its
     brightest pixels are the edges the filter detects (top, left, bottom,
     right).
  2. What one output pixel is (19.2.4.1): the dot product of the filter with
     one 3x3 block of the image, the sum of the element-wise products.
  3. A small CNN, Conv2D(8, 3) -> MaxPooling2D -> Dense(10, softmax), trained
     briefly: its eight first-layer filters are learned, not hand-made.
Pictures (in --out): the image, the four feature maps, the learned filters
and their feature maps.

Run:  python -m fastnn course 19 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch19_convolution_filters.py [--fast] [--out DIR])
"""
import numpy as np

import fastnn.plot
from fastnn.course import arguments
from fastnn.datasets import fashion_mnist
from fastnn.kernels import conv2d
from fastnn.layers import Conv2D, Dense, Flatten, MaxPooling2D
from fastnn.models import Sequential
from fastnn.optimizers import Adam
from fastnn.utils import set_random_seed

# --fast runs in seconds; the full run in well under a minute
SETTINGS = {
    "fast": dict(train=2000, test=1000, epochs=1),
    "full": dict(train=20000, test=10000, epochs=3),
}

# The four filters of the course, 19.3, and the edge each one responds to.
COURSE_FILTERS = {
    "top edges": [[-1, -1, -1],
                  [1, 1, 1],
                  [0, 0, 0]],
    "left edges": [[-1, 1, 0],
                   [-1, 1, 0],
                   [-1, 1, 0]],
    "bottom edges": [[0, 0, 0],
                     [1, 1, 1],
                     [-1, -1, -1]],
    "right edges": [[0, 1, -1],
                    [0, 1, -1],
                    [0, 1, -1]],
}
SHADES = " .:-=+*#%@"   # dark to bright, for printing an image as text
TROUSER = 1             # Fashion-MNIST class shown


def heading(text):
    print(f"\n=== {text} ===")


def as_text(image):
    """Rows of characters, brighter pixels as denser ones (negative values count as 0)."""
    image = np.maximum(image, 0.0)
    scale = image.max() or 1.0
    levels = np.minimum((image / scale * len(SHADES)).astype(int), len(SHADES) - 1)
    return ["".join(SHADES[level] for level in row) for row in levels]


def print_side_by_side(images, titles):
    columns = [as_text(image) for image in images]
    width = max(len(column[0]) for column in columns)
    print("   ".join(f"{title:<{width}}" for title in titles))
    for rows in zip(*columns):
        print("   ".join(f"{row:<{width}}" for row in rows))


def course_filters(image):
    heading("19.3 The course's four 3x3 filters on one image")
    kernel = np.stack([np.array(f, np.float32) for f in COURSE_FILTERS.values()], axis=-1)
    kernel = kernel[:, :, None, :]                  # (3, 3, 1 input channel, 4 filters)
    for name, values in COURSE_FILTERS.items():
        print(f"{name:<13}" + "   ".join(" ".join(f"{v:>2}" for v in row) for row in values))
    maps = conv2d(image[None, :, :, None], kernel)   # (1, 26, 26, 4): valid padding, 28 - 3 + 1
    print(f"\nimage {image.shape} convolved with kernel {kernel.shape} -> feature maps "
          f"{maps.shape[1:]}: one 26x26 map per filter.")
    print("The input, then each map's positive part (brightest = strongest response):\n")
    print_side_by_side([image], ["input"])
    names = list(COURSE_FILTERS)
    for pair in ((0, 2), (1, 3)):   # top and bottom, left and right
        print()
        print_side_by_side([maps[0, :, :, k] for k in pair], [names[k] for k in pair])
    return kernel, maps[0]


def one_dot_product(image, kernel, maps):
    heading("19.2.4.1 One output pixel = filter · 3x3 block (sum of element-wise products)")
    row, col = np.unravel_index(np.argmax(maps[:, :, 1]), maps.shape[:2])
    block = image[row:row + 3, col:col + 3]
    weights = kernel[:, :, 0, 1]
    print(f"the strongest 'left edges' response is at output pixel ({row}, {col}):")
    for name, values in (("image block", block), ("filter", weights),
                         ("products", block * weights + 0.0)):   # + 0.0 prints -0 as 0
        print(f"  {name:<12}" + " | ".join(" ".join(f"{v:>5.2f}" for v in r) for r in values))
    print(f"  sum of the products = {np.sum(block * weights):.4f}; conv2d computed "
          f"{maps[row, col, 1]:.4f}")


def scaled(images):
    """uint8 images (N, 28, 28) as float32 in [0, 1] with a channel axis, (N, 28, 28, 1)."""
    return (images[..., None] / 255.0).astype(np.float32)


def learned_filters(data, settings, image):
    heading("A CNN learns its own filters")
    (x_train, y_train), (x_test, y_test) = data
    x_train, y_train = scaled(x_train[:settings["train"]]), y_train[:settings["train"]]
    x_test, y_test = scaled(x_test[:settings["test"]]), y_test[:settings["test"]]
    model = Sequential([
        Conv2D(8, (3, 3), activation="relu", input_shape=(28, 28, 1)),
        MaxPooling2D(pool_size=(2, 2)),
        Flatten(),
        Dense(10, activation="softmax"),
    ])
    model.summary()
    model.compile(optimizer=Adam(learning_rate=0.001), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    start = model.layers[0].get_weights()[0]
    model.fit(x_train, y_train, batch_size=32, epochs=settings["epochs"], verbose=2)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    kernel = model.layers[0].get_weights()[0]
    print(f"test accuracy after {settings['epochs']} epoch(s) on {len(x_train)} images: "
          f"{accuracy:.3f}")
    print(f"the filters started as random glorot_uniform numbers in ±{np.abs(start).max():.2f}; "
          f"training moved each weight by {np.abs(kernel - start).mean():.3f} on average")
    maps = model.layers[0](image[None, :, :, None])[0]   # the trained layer's 8 feature maps
    return kernel, maps


def main():
    args = arguments(__doc__, fast="small data, one epoch (seconds)")
    settings = SETTINGS["fast" if args.fast else "full"]
    set_random_seed(19)
    data = fashion_mnist.load_data()
    _, (x_test, y_test) = data
    index = int(np.flatnonzero(y_test == TROUSER)[0])
    image = scaled(x_test[index:index + 1])[0, :, :, 0]
    print(f"Fashion-MNIST test image {index}: a {fashion_mnist.CLASS_NAMES[TROUSER]}, "
          f"28x28 grey pixels in [0, 1], one input channel")

    kernel, maps = course_filters(image)
    one_dot_product(image, kernel, maps)
    learned_kernel, learned_maps = learned_filters(data, settings, image)

    heading("Pictures")
    if not fastnn.plot.available():
        print("pictures skipped: matplotlib is not installed (pip install fastnn[plot])")
        return
    out = args.out
    for path in (
            fastnn.plot.images(image[None], out / "ch19_input.png", titles=["input"]),
            fastnn.plot.filters(kernel, out / "ch19_course_filters.png",
                                title="the course's edge filters (red +1, blue -1)"),
            fastnn.plot.feature_maps(maps, out / "ch19_course_feature_maps.png",
                                     title="feature maps: " + ", ".join(COURSE_FILTERS)),
            fastnn.plot.filters(learned_kernel, out / "ch19_learned_filters.png",
                                title="learned first-layer filters"),
            fastnn.plot.feature_maps(learned_maps, out / "ch19_learned_feature_maps.png",
                                     title="feature maps of the learned filters (after relu)")):
        print(f"picture: {path}")


if __name__ == "__main__":
    main()
