"""Train a small CNN on Fashion-MNIST with fastnn (what "make demo" runs).

The model is the canonical small CNN of the course's chapters 19-21: two
3x3 convolutions with ReLU, each followed by 2x2 max pooling, then dropout
and a softmax classifier over the 10 clothing classes.  After training it
is saved, loaded back, and the reloaded model classifies a few test images.

    python examples/demo.py              # 1 epoch on all 60,000 images
    python examples/demo.py --epochs 3 --samples 6000
    python examples/demo.py --save /tmp/cnn.fastnn

The model file goes to ``--save``, by default ``fashion_mnist_cnn.fastnn``
in the current folder (for ``make demo``, the clone's top folder, where
``.gitignore`` keeps it out of commits); the demo prints its full path.
"""
import argparse
import time
from pathlib import Path

import numpy as np

import fastnn
from fastnn.datasets import fashion_mnist
from fastnn.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from fastnn.models import Sequential, load_model
from fastnn.optimizers import Adam


def build_model():
    return Sequential([
        Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)),
        MaxPooling2D(2),
        Conv2D(64, 3, activation="relu"),
        MaxPooling2D(2),
        Flatten(),
        Dropout(0.5),
        Dense(10, activation="softmax"),
    ])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--samples", type=int, default=60000, help="training images to use")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--save", type=Path, default=Path("fashion_mnist_cnn.fastnn"),
                        help="where to save the trained model (default: "
                             "fashion_mnist_cnn.fastnn in the current folder)")
    args = parser.parse_args()

    fastnn.utils.set_random_seed(args.seed)
    info = fastnn.build_info()
    print(f"fastnn {info['version']}: OpenMP {'on' if info['openmp'] else 'off'}, "
          f"{info['threads']} threads, SIMD path {info['simd']}")

    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    x_train = (x_train[:args.samples, ..., None] / 255.0).astype(np.float32)
    y_train = y_train[:args.samples]
    x_test = (x_test[..., None] / 255.0).astype(np.float32)
    print(f"Fashion-MNIST: {len(x_train)} training and {len(x_test)} test images\n")

    model = build_model()
    model.summary()
    model.compile(optimizer=Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=1)
    seconds = time.perf_counter() - start
    trained = len(x_train) * args.epochs
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    print(f"\ntest loss {loss:.4f}, test accuracy {accuracy:.4f}")
    print(f"training: {seconds:.1f} s for {trained} images ({trained / seconds:,.0f} images/s)")

    saved = args.save.resolve()
    saved.parent.mkdir(parents=True, exist_ok=True)
    model.save(saved)
    reloaded = load_model(saved)
    print(f"\nsaved to {saved} and loaded back; the reloaded model says:")
    names = fashion_mnist.CLASS_NAMES
    predictions = reloaded.predict(x_test[:8]).argmax(axis=1)
    for guess, truth in zip(predictions, y_test[:8]):
        print(f"  predicted {names[guess]:<12} true {names[truth]:<12}"
              f"{'' if guess == truth else '  <- wrong'}")


if __name__ == "__main__":
    main()
