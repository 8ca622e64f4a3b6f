"""Chapter 15: Unsupervised learning — KMeans clusters and autoencoders that rebuild and denoise images.

What you see:
  1. Clustering (15.2.1): KMeans finds the two groups in unlabeled height/weight
     data, then ten groups in Fashion-MNIST pixels; "purity" tells how well the
     clusters match the true classes, which KMeans never saw.
  2. Autoencoders (15.2.2): a dense autoencoder 784-64-784 squeezes every image
     into 64 numbers and rebuilds it; its loss is the reconstruction error.
     Clustering those 64-number codes instead of the pixels is compared.
  3. A convolutional autoencoder (Conv2D + MaxPooling2D encoder, Conv2DTranspose
     decoder) and a denoising one (UpSampling2D + Conv2D decoder) trained on
     noisy images with the clean images as targets (15.2.2.1): the test-set
     error of the noisy input against that of the denoised output.
Pictures (in --out): the height/weight clusters, the Fashion-MNIST cluster
centres, and original / noisy / denoised test images.

Run:  python -m fastnn course 15 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch15_unsupervised_learning.py [--fast] [--out DIR])
"""
import time

import numpy as np

import fastnn
import fastnn.plot
from fastnn.cluster import KMeans
from fastnn.course import arguments
from fastnn.datasets import fashion_mnist
from fastnn.layers import (Conv2D, Conv2DTranspose, Dense, Flatten, MaxPooling2D, Reshape,
                           UpSampling2D)
from fastnn.models import Sequential
from fastnn.optimizers import Adam
from fastnn.random import generator

# how much data and training: --fast runs in seconds, the full run in a few minutes
SETTINGS = {
    "fast": dict(train=200, test=100, cluster=300, dense_epochs=1, conv_epochs=1),
    "full": dict(train=12000, test=10000, cluster=10000, dense_epochs=5, conv_epochs=2),
}
NOISE = 0.5          # standard deviation of the Gaussian noise added to the pixels
SHOWN = 8            # test images in the original / noisy / denoised picture


def heading(text):
    print(f"\n=== {text} ===")


def picture(draw, *args, **kwargs):
    """Draw with fastnn.plot and say where the PNG went."""
    print(f"picture: {draw(*args, **kwargs)}")


def purity(clusters, labels):
    """Share of points whose cluster's most common true class is their own class."""
    return sum(np.bincount(labels[clusters == k]).max()
               for k in np.unique(clusters)) / len(labels)


# ---- 1. clustering ----------------------------------------------------------------------

def height_weight_data(rng, per_group=100):
    """Two unlabeled groups, as in 15.2.1: (height cm, weight kg) of two kinds of people."""
    smaller = rng.normal([165.0, 60.0], [6.0, 6.0], (per_group, 2))
    taller = rng.normal([182.0, 82.0], [6.0, 7.0], (per_group, 2))
    groups = np.repeat([0, 1], per_group)          # the hidden truth, only used to check
    return np.concatenate([smaller, taller]).astype(np.float32), groups


def cluster_height_weight(out, can_plot):
    heading("15.2.1 Clustering: height and weight, no labels")
    points, groups = height_weight_data(generator())
    kmeans = KMeans(n_clusters=2, random_state=0).fit(points)
    for k, (height, weight) in enumerate(kmeans.cluster_centers_):
        size = np.sum(kmeans.labels_ == k)
        print(f"cluster {k}: centre {height:5.1f} cm, {weight:5.1f} kg   ({size} people)")
    print(f"the clusters match the two hidden groups for "
          f"{purity(kmeans.labels_, groups):.0%} of the people")
    if can_plot:
        picture(fastnn.plot.clusters, points, kmeans.labels_, out / "ch15_height_weight.png",
                centers=kmeans.cluster_centers_, title="KMeans: height (cm) vs weight (kg)")


def cluster_pixels(x, y, out, can_plot):
    heading("KMeans on Fashion-MNIST pixels (10 clusters, labels unused)")
    pixels = x.reshape(len(x), -1)
    start = time.perf_counter()
    kmeans = KMeans(n_clusters=10, n_init="auto", random_state=0).fit(pixels)
    print(f"{len(x)} images, {time.perf_counter() - start:.1f} s")
    names = fashion_mnist.CLASS_NAMES
    majority = [names[np.bincount(y[kmeans.labels_ == k], minlength=10).argmax()]
                for k in range(10)]
    sizes = np.bincount(kmeans.labels_, minlength=10)
    print("cluster sizes:  " + " ".join(f"{s:5d}" for s in sizes))
    print("mostly:         " + ", ".join(majority))
    chance = np.bincount(y).max() / len(y)      # everything in one cluster
    print(f"purity: {purity(kmeans.labels_, y):.3f}  (one single cluster: {chance:.3f})")
    if can_plot:
        picture(fastnn.plot.images, kmeans.cluster_centers_.reshape(10, 28, 28),
                out / "ch15_cluster_centres.png", titles=majority, ncols=5,
                title="KMeans cluster centres (mean image of each cluster)")
    return purity(kmeans.labels_, y)


# ---- 2. a dense autoencoder ----------------------------------------------------------------

def dense_autoencoder(x_train, x_test, x_cluster, y_cluster, epochs):
    heading("15.2.2 Dense autoencoder 784-64-784")
    encoder = Sequential([Flatten(input_shape=(28, 28, 1)), Dense(64, activation="relu")])
    decoder = [Dense(784, activation="sigmoid"), Reshape((28, 28, 1))]
    autoencoder = Sequential(encoder.layers + decoder)
    autoencoder.summary()
    autoencoder.compile(Adam(learning_rate=1e-3), loss="binary_crossentropy", metrics=["mse"])
    print("reconstruction loss per epoch (the target is the input itself):")
    autoencoder.fit(x_train, x_train, batch_size=128, epochs=epochs, verbose=2,
                    validation_data=(x_test, x_test))
    mse = mean_squared_error(autoencoder.predict(x_test, batch_size=256), x_test)
    print(f"test reconstruction error (mean squared, pixels in [0, 1]): {mse:.4f}")
    codes = encoder.predict(x_cluster, batch_size=256)
    kmeans = KMeans(n_clusters=10, n_init="auto", random_state=0).fit(codes)
    print(f"KMeans on the 64-number codes instead of 784 pixels: purity "
          f"{purity(kmeans.labels_, y_cluster):.3f}")


# ---- 3. convolutional and denoising autoencoders ----------------------------------------------

def encoder_layers():
    """28x28x1 -> 14x14x16 -> 7x7x8: the image squeezed to 392 numbers."""
    return [Conv2D(16, 3, activation="relu", padding="same", input_shape=(28, 28, 1)),
            MaxPooling2D(2),
            Conv2D(8, 3, activation="relu", padding="same"),
            MaxPooling2D(2)]


def transpose_decoder():
    """7x7x8 -> 14x14x8 -> 28x28x16 -> 28x28x1: learned upsampling (stride-2 transposes)."""
    return [Conv2DTranspose(8, 3, strides=2, activation="relu", padding="same"),
            Conv2DTranspose(16, 3, strides=2, activation="relu", padding="same"),
            Conv2D(1, 3, activation="sigmoid", padding="same")]


def upsampling_decoder():
    """The same sizes by fixed upsampling, each followed by a convolution that fills in detail."""
    return [UpSampling2D(2), Conv2D(8, 3, activation="relu", padding="same"),
            UpSampling2D(2), Conv2D(16, 3, activation="relu", padding="same"),
            Conv2D(1, 3, activation="sigmoid", padding="same")]


def train_conv_autoencoder(title, decoder, inputs, targets, epochs):
    heading(title)
    model = Sequential(encoder_layers() + decoder)
    model.compile(Adam(learning_rate=2e-3), loss="binary_crossentropy")
    print(f"{model.count_params()} parameters; output shape {model.output_shape}")
    start = time.perf_counter()
    model.fit(inputs, targets, batch_size=64, epochs=epochs, verbose=2)
    print(f"trained in {time.perf_counter() - start:.1f} s")
    return model


def add_noise(x, rng):
    return np.clip(x + rng.normal(0.0, NOISE, x.shape), 0.0, 1.0).astype(np.float32)


def mean_squared_error(images, clean):
    return float(np.mean((images - clean) ** 2))


def conv_autoencoders(x_train, x_test, epochs, out, can_plot):
    rng = generator()
    plain = train_conv_autoencoder("Convolutional autoencoder (Conv2DTranspose decoder)",
                                   transpose_decoder(), x_train, x_train, epochs)
    print(f"test reconstruction error: "
          f"{mean_squared_error(plain.predict(x_test, batch_size=256), x_test):.4f}")

    noisy_train, noisy_test = add_noise(x_train, rng), add_noise(x_test, rng)
    denoiser = train_conv_autoencoder(
        "15.2.2.1 Denoising autoencoder (UpSampling2D decoder): noisy in, clean out",
        upsampling_decoder(), noisy_train, x_train, epochs)

    heading(f"Test set: mean squared error to the clean images (noise std {NOISE})")
    denoised = denoiser.predict(noisy_test, batch_size=256)
    rows = [("noisy input", noisy_test),
            ("plain autoencoder on the noisy input", plain.predict(noisy_test, batch_size=256)),
            ("denoising autoencoder output", denoised)]
    for name, images in rows:
        print(f"{name:<38} {mean_squared_error(images, x_test):.4f}")
    if can_plot:
        shown = np.concatenate([x_test[:SHOWN], noisy_test[:SHOWN], denoised[:SHOWN]])
        titles = ["original"] * SHOWN + ["noisy"] * SHOWN + ["denoised"] * SHOWN
        picture(fastnn.plot.images, shown, out / "ch15_denoising.png", titles=titles,
                ncols=SHOWN, title="Denoising autoencoder on test images")


def scaled(images):
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1]."""
    return (images[..., None] / 255.0).astype(np.float32)


def main():
    args = arguments(__doc__, fast="a few hundred images and one epoch (seconds)")
    size = SETTINGS["fast" if args.fast else "full"]
    fastnn.utils.set_random_seed(15)
    args.out.mkdir(parents=True, exist_ok=True)
    can_plot = fastnn.plot.available()
    if not can_plot:
        print("matplotlib is not installed: pictures are skipped "
              "(install with `pip install fastnn[plot]`)")

    (x_train, y_train), (x_test, _) = fashion_mnist.load_data()
    x_cluster, y_cluster = scaled(x_train[-size["cluster"]:]), y_train[-size["cluster"]:]
    x_train, x_test = scaled(x_train[:size["train"]]), scaled(x_test[:size["test"]])
    print(f"Fashion-MNIST: {len(x_train)} training images for the autoencoders, "
          f"{len(x_test)} test images, {len(x_cluster)} images to cluster")
    if args.fast:
        print("--fast: far too little data and training for good results; "
              "run without --fast to see what the models can learn")

    cluster_height_weight(args.out, can_plot)
    cluster_pixels(x_cluster, y_cluster, args.out, can_plot)
    dense_autoencoder(x_train, x_test, x_cluster, y_cluster, size["dense_epochs"])
    conv_autoencoders(x_train, x_test, size["conv_epochs"], args.out, can_plot)


if __name__ == "__main__":
    main()
