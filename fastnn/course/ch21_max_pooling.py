"""Chapter 21: Max pooling — the largest value of each 2x2 window halves a feature map; average pooling takes the mean instead.

What you see:
  1. 21.3 The course's 4 x 4 example with a 2 x 2 pool and stride 2: each
     coloured region and its maximum, [[9, 8], [6, 5]], computed by
     fastnn.kernels.max_pool2d and by a MaxPooling2D layer.
  2. 21.4.2.1 Average pooling of the same input: [[4.25, 5.5], [4, 3.75]].
  2b. 21.5 "Keras also has 1-D and 3-D max pooling layers": MaxPooling1D on
     a row of 7 numbers (windows of 2 steps; "same" keeps the odd last one)
     and MaxPooling3D on a 2x4x4 block (2 slices, one 2x2x2 box per output),
     small enough to check every answer by eye; the averages too.
  3. 21.2 A real feature map: a 3x3 edge filter over a Fashion-MNIST image
     gives 26 x 26; max pooling shrinks it to 13 x 13 (printed like the
     course's table) and keeps the strongest responses.
  4. 21.5 The course's Keras model with its summary (68,770 parameters),
     and the same model without the pooling layer (21.4.1: more weights,
     four times the work in the next convolution).
  5. A small CNN on Fashion-MNIST with max pooling, average pooling and no
     pooling: feature map sizes, parameters, time and accuracy.
Pictures (in --out): the feature map before and after pooling.

Run:  python -m fastnn course 21 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch21_max_pooling.py [--fast] [--out DIR])
"""
import time

import numpy as np

import fastnn.plot
from fastnn.course import arguments
from fastnn.datasets import fashion_mnist
from fastnn.kernels import avg_pool2d, conv2d, max_pool2d
from fastnn.layers import (AveragePooling1D, AveragePooling2D, AveragePooling3D, Conv2D, Dense,
                           Flatten, MaxPooling1D, MaxPooling2D, MaxPooling3D)
from fastnn.models import Sequential
from fastnn.optimizers import Adam
from fastnn.utils import set_random_seed

# --fast runs in seconds; the full run in about a minute
SETTINGS = {
    "fast": dict(train=600, test=500, epochs=1),
    "full": dict(train=10000, test=5000, epochs=3),
}
SEED = 21
COURSE_INPUT = np.array([[4, 3, 8, 5],
                         [9, 1, 3, 6],
                         [6, 3, 5, 3],
                         [2, 5, 2, 5]], np.float32)
REGIONS = {"red (top left)": (0, 0), "green (top right)": (0, 2),
           "yellow (bottom left)": (2, 0), "blue (bottom right)": (2, 2)}
TOP_EDGES = np.array([[-1, -1, -1],     # chapter 19's filter for top edges
                      [1, 1, 1],
                      [0, 0, 0]], np.float32)


def heading(text):
    print(f"\n=== {text} ===")


def print_matrix(matrix, fmt):
    for row in matrix:
        print("   " + " ".join(fmt.format(v) for v in row))


def as_batch(image):
    """A 2-D image as a batch of one with one channel: (1, H, W, 1), the NHWC layout."""
    return image[None, :, :, None]


def small_example():
    heading("21.3 Max pooling, 2x2 pool, stride 2, on the course's 4x4 input")
    print_matrix(COURSE_INPUT, "{:>2.0f}")
    for name, (row, col) in REGIONS.items():
        region = COURSE_INPUT[row:row + 2, col:col + 2]
        print(f"  {name:<21} {region.astype(int).tolist()} -> max {region.max():.0f}")
    by_kernel = max_pool2d(as_batch(COURSE_INPUT), pool_size=(2, 2), strides=2)[0, :, :, 0]
    by_layer = MaxPooling2D(pool_size=(2, 2), strides=2, padding='valid')(as_batch(COURSE_INPUT))
    print(f"fastnn.kernels.max_pool2d: {by_kernel.astype(int).tolist()}")
    print(f"MaxPooling2D layer:        {by_layer[0, :, :, 0].astype(int).tolist()}   "
          f"(course: [[9, 8], [6, 5]])")

    heading("21.4.2.1 Average pooling of the same input: the mean of each region")
    for name, (row, col) in REGIONS.items():
        region = COURSE_INPUT[row:row + 2, col:col + 2]
        print(f"  {name:<21} ({' + '.join(f'{v:.0f}' for v in region.ravel())}) / 4 = "
              f"{region.mean():.2f}")
    by_kernel = avg_pool2d(as_batch(COURSE_INPUT), pool_size=(2, 2), strides=2)[0, :, :, 0]
    by_layer = AveragePooling2D(pool_size=(2, 2), strides=2)(as_batch(COURSE_INPUT))
    print(f"fastnn.kernels.avg_pool2d: {by_kernel.tolist()}")
    print(f"AveragePooling2D layer:    {by_layer[0, :, :, 0].tolist()}")
    print("Max pooling keeps the strongest activation of each region, average pooling "
          "blends it with the weak ones.")


SEQUENCE = np.array([3, 1, 4, 1, 5, 9, 2], np.float32)    # 7 steps, one channel
BLOCK = np.array([[[1, 2, 0, 3],                            # slice (depth) 0
                   [4, 0, 1, 1],
                   [2, 2, 8, 0],
                   [0, 1, 3, 5]],
                  [[0, 6, 1, 1],                            # slice (depth) 1
                   [1, 1, 2, 7],
                   [9, 0, 4, 4],
                   [3, 3, 0, 2]]], np.float32)


def other_dimensions():
    heading("21.5 Keras also has 1-D and 3-D pooling: MaxPooling1D and MaxPooling3D")
    print("1-D: a sequence (batch, steps, channels), e.g. a signal over time.  Input, 7 steps:")
    print("   " + " ".join(f"{v:.0f}" for v in SEQUENCE))
    sequence = SEQUENCE[None, :, None]
    for padding in ("valid", "same"):
        maxima = MaxPooling1D(pool_size=2, padding=padding)(sequence)[0, :, 0]
        means = AveragePooling1D(pool_size=2, padding=padding)(sequence)[0, :, 0]
        print(f"  pool_size=2, padding={padding + ':':<7} max {maxima.astype(int).tolist()}, "
              f"mean {means.tolist()}")
    print("  (windows [3 1] [4 1] [5 9]; 'valid' drops the lone 2 at the end, 'same' pools "
          "it on its own)")

    print("\n3-D: volumes (batch, depth, height, width, channels), e.g. the frames of a "
          "video.\nInput, 2 slices of 4x4:")
    for depth, matrix in enumerate(BLOCK):
        print(f"  slice {depth}:")
        print_matrix(matrix, "{:>2.0f}")
    block = BLOCK[None, :, :, :, None]
    maxima = MaxPooling3D(pool_size=(2, 2, 2))(block)[0, 0, :, :, 0]
    means = AveragePooling3D(pool_size=(2, 2, 2))(block)[0, 0, :, :, 0]
    print("pool_size=(2, 2, 2): each output is one 2x2x2 box, the same 2x2 region in both "
          "slices (8 numbers):")
    for name, (row, col) in REGIONS.items():
        box = BLOCK[:, row:row + 2, col:col + 2]
        print(f"  {name:<21} {box[0].astype(int).tolist()} + {box[1].astype(int).tolist()} "
              f"-> max {box.max():.0f}, mean {box.mean():.3f}")
    print(f"MaxPooling3D:     {maxima.astype(int).tolist()}   (depth 2 -> 1, 4x4 -> 2x2)")
    print(f"AveragePooling3D: {means.tolist()}")


def real_feature_map(image, name):
    heading(f"21.2 A real feature map: the top-edge filter over an image ({name}), then 2x2 "
            f"max pooling")
    kernel = TOP_EDGES[:, :, None, None]
    feature_map = np.maximum(conv2d(as_batch(image), kernel), 0.0)   # conv, then relu
    pooled = max_pool2d(feature_map, pool_size=(2, 2), strides=2)
    print(f"image 28x28 -> convolution (valid, 3x3) {feature_map.shape[1]}x"
          f"{feature_map.shape[2]} -> max pooling {pooled.shape[1]}x{pooled.shape[2]} "
          f"(26 / 2 = 13):")
    print_matrix(pooled[0, :, :, 0], "{:>4.1f}")
    kept = pooled.sum() / max(feature_map.sum(), 1e-9)
    print(f"{pooled.size} of {feature_map.size} values are left (a quarter); they hold the "
          f"largest responses, and {kept:.0%} of the map's total activation.")
    return feature_map[0], pooled[0]


def course_model(pooling=True):
    """The course's 'completely arbitrary' CNN of 21.5; pooling=False drops MaxPooling2D."""
    layers = [
        Dense(16, input_shape=(20, 20, 3), activation='relu'),
        Conv2D(32, (3, 3), activation='relu', padding='same'),
        MaxPooling2D(pool_size=(2, 2), strides=2, padding='valid'),
        Conv2D(64, (5, 5), activation='relu', padding='same'),
        Flatten(),
        Dense(2, activation='softmax')
    ]
    return Sequential(layers if pooling else layers[:2] + layers[3:])


def multiply_adds(conv):
    """Multiply-adds of one Conv2D layer for one image: output pixels x filter size."""
    _, height, width, filters = conv.output_shape
    kh, kw, channels, _ = conv.kernel.shape
    return height * width * filters * kh * kw * channels


def keras_model():
    heading("21.5 The course's model, with MaxPooling2D(pool_size=(2, 2), strides=2)")
    model = course_model()
    model.summary()
    print(f"total {model.count_params():,} parameters (course: 68,770); 20x20 -> 10x10 at the "
          f"pooling layer")

    heading("21.4.1 Less to compute: the same model without the pooling layer")
    unpooled = course_model(pooling=False)
    rows = [("with max pooling", model), ("without pooling", unpooled)]
    print(f"{'model':<18} {'parameters':>11} {'last conv output':>18} "
          f"{'its multiply-adds / image':>26}")
    for name, net in rows:
        conv = [layer for layer in net.layers if isinstance(layer, Conv2D)][-1]
        print(f"{name:<18} {net.count_params():>11,} {str(conv.output_shape[1:]):>18} "
              f"{multiply_adds(conv):>26,}")
    print("Pooling halves height and width: the next convolution does a quarter of the work, "
          "and the Dense layer after Flatten needs a quarter of the weights.")


def scaled(images):
    return (images[..., None] / 255.0).astype(np.float32)


def small_cnn(pooling):
    """Conv -> pool -> conv -> pool -> Dense(10); ``pooling`` is a pooling class or None."""
    def pool():
        return [pooling(pool_size=(2, 2))] if pooling else []

    return Sequential([Conv2D(16, (3, 3), activation="relu", input_shape=(28, 28, 1)),
                       *pool(),
                       Conv2D(32, (3, 3), activation="relu"),
                       *pool(),
                       Flatten(),
                       Dense(10, activation="softmax")])


def pooling_on_fashion_mnist(data, settings):
    heading("Pooling in a CNN on Fashion-MNIST: max vs average vs none")
    (x_train, y_train), (x_test, y_test) = data
    x_train, y_train = scaled(x_train[:settings["train"]]), y_train[:settings["train"]]
    x_test, y_test = scaled(x_test[:settings["test"]]), y_test[:settings["test"]]
    print(f"{len(x_train)} training images, {settings['epochs']} epoch(s), batch 32, "
          f"Adam(0.001); accuracy on {len(x_test)} test images")
    print(f"{'pooling':<16} {'feature map sizes (height x width)':<36} {'parameters':>10} "
          f"{'train time':>10} {'test accuracy':>14}")
    results = {}
    for name, pooling in (("MaxPooling2D", MaxPooling2D), ("AveragePooling2D", AveragePooling2D),
                          ("none", None)):
        set_random_seed(SEED)   # the same start for each
        model = small_cnn(pooling)
        sizes = " -> ".join(f"{layer.output_shape[1]}" for layer in model.layers[:-2])
        model.compile(optimizer=Adam(learning_rate=0.001), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        start = time.perf_counter()
        model.fit(x_train, y_train, batch_size=32, epochs=settings["epochs"], verbose=0)
        seconds = time.perf_counter() - start
        _, accuracy = model.evaluate(x_test, y_test, verbose=0)
        print(f"{name:<16} {'28 -> ' + sizes:<36} {model.count_params():>10,} "
              f"{seconds:>9.1f}s {accuracy:>14.3f}")
        results[name] = (model.count_params(), seconds, accuracy)
    (pooled_params, pooled_time, pooled_acc), (params, seconds, acc) = (results["MaxPooling2D"],
                                                                         results["none"])
    print(f"Odd sizes round down with padding='valid': 26 -> 13 -> (conv) 11 -> 5.\n"
          f"Without pooling the second convolution runs on 26x26 instead of 13x13: "
          f"{seconds / pooled_time:.1f} times the training time here, and\n"
          f"{params / pooled_params:.0f} times the weights (mostly in the Dense layer).  "
          f"Its test accuracy is {acc - pooled_acc:+.3f} against max pooling: pooling buys "
          f"speed and\na smaller net, and whether the smaller net also scores as high "
          f"depends on the data and the training time.")


def main():
    args = arguments(__doc__, fast="small data, one epoch (seconds)")
    settings = SETTINGS["fast" if args.fast else "full"]
    set_random_seed(SEED)
    data = fashion_mnist.load_data()
    _, (x_test, y_test) = data
    image = (x_test[0] / 255.0).astype(np.float32)

    small_example()
    other_dimensions()
    feature_map, pooled = real_feature_map(image, fashion_mnist.CLASS_NAMES[y_test[0]])
    keras_model()
    pooling_on_fashion_mnist(data, settings)

    heading("Pictures")
    if not fastnn.plot.available():
        print("pictures skipped: matplotlib is not installed (pip install fastnn[plot])")
        return
    path = fastnn.plot.images(
        np.stack([image, np.pad(feature_map[:, :, 0], 1),          # framed to 28x28
                  np.pad(np.kron(pooled[:, :, 0], np.ones((2, 2))), 1)]),   # each value as 2x2
        args.out / "ch21_pooling.png",
        titles=["input 28x28", "top edges 26x26", "max pooled 13x13"], ncols=3,
        title="a feature map before and after 2x2 max pooling")
    print(f"picture: {path}")


if __name__ == "__main__":
    main()
