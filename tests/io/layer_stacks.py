"""Small Sequential models covering every layer that fastnn and Keras share,
written as plain data so that fastnn and Keras build the same model.

Each stack is (input shape, [(layer class name, constructor arguments), ...]);
the names and arguments are Keras's, so ``getattr(keras.layers, name)(**kwargs)``
builds the Keras twin.  Together they use padding "same" and "valid",
strides of 1 to 3 (with odd sizes, where "same" pads unevenly), every
activation both sides compute alike, BatchNormalization on images and on
feature axes, transposed convolutions with kernel larger and smaller than
the stride, both upsampling interpolations, every augmentation layer
(identity at inference), 1-D, 3-D and global pooling with Conv1D (causal
padding too) and Conv3D, and the three recurrent layers (GRU with
reset_after both ways); all of them go to ONNX too.
"""
import numpy as np

from fastnn import layers
from fastnn.models import Sequential

STACKS = {
    "mlp": ((5,), [
        ("Dense", dict(units=6, activation="relu")), ("Dropout", dict(rate=0.3)),
        ("Dense", dict(units=4, activation="tanh")),
        ("Dense", dict(units=3, activation="softmax"))]),
    "cnn_valid": ((8, 8, 2), [
        ("Conv2D", dict(filters=4, kernel_size=3, activation="relu")),
        ("MaxPooling2D", dict(pool_size=2)), ("Flatten", {}),
        ("Dense", dict(units=3, activation="softmax"))]),
    "cnn_same_strided": ((9, 9, 2), [
        ("Conv2D", dict(filters=3, kernel_size=3, strides=2, padding="same", activation="elu")),
        ("AveragePooling2D", dict(pool_size=3, strides=2, padding="same")),
        ("Conv2D", dict(filters=2, kernel_size=(2, 3), strides=(1, 2), padding="same",
                        activation="selu")),
        ("MaxPooling2D", dict(pool_size=(2, 1), strides=1, padding="same")),
        ("Flatten", {}), ("Dense", dict(units=4, activation="sigmoid"))]),
    "batch_norm": ((7, 7, 3), [
        ("Conv2D", dict(filters=4, kernel_size=3, padding="same")),
        ("BatchNormalization", {}), ("Activation", dict(activation="relu")),
        ("MaxPooling2D", dict(pool_size=3, strides=2, padding="same")),
        ("Conv2D", dict(filters=3, kernel_size=2, strides=3, padding="valid",
                        activation="leaky_relu")),
        ("Flatten", {}), ("BatchNormalization", dict(center=False, scale=False)),
        ("Dense", dict(units=2, activation="softplus"))]),
    "decoder": ((3, 4, 3), [
        ("Conv2DTranspose", dict(filters=4, kernel_size=3, strides=2, padding="same",
                                 activation="relu")),
        ("UpSampling2D", dict(size=2)),
        ("Conv2DTranspose", dict(filters=3, kernel_size=3, strides=2, activation="sigmoid")),
        ("Conv2DTranspose", dict(filters=2, kernel_size=2, strides=3)),
        ("Conv2DTranspose", dict(filters=2, kernel_size=3, strides=2, padding="same",
                                 output_padding=0)),
        ("Conv2D", dict(filters=1, kernel_size=3, padding="same", activation="softsign"))]),
    "bilinear": ((5, 4, 2), [
        ("UpSampling2D", dict(size=(2, 3), interpolation="bilinear")),
        ("Conv2D", dict(filters=2, kernel_size=3, activation="gelu")),
        ("Reshape", dict(target_shape=(-1, 2))), ("Dense", dict(units=3, activation="silu")),
        ("BatchNormalization", dict(axis=1)), ("Flatten", {}),
        ("Dense", dict(units=2, activation="exponential"))]),
    "augmentation": ((6, 6, 3), [
        ("RandomFlip", dict(mode="horizontal")), ("RandomRotation", dict(factor=0.1)),
        ("RandomZoom", dict(height_factor=0.1)),
        ("RandomTranslation", dict(height_factor=0.1, width_factor=0.2)),
        ("RandomContrast", dict(factor=0.2)), ("RandomBrightness", dict(factor=0.1)),
        ("RandomCrop", dict(height=6, width=6)),
        ("Conv2D", dict(filters=2, kernel_size=3, activation="linear")),
        ("Flatten", {}), ("Dense", dict(units=3))]),
    # 1-D, 3-D and global pooling (issue 18)
    "sequence_1d": ((11, 3), [
        ("Conv1D", dict(filters=4, kernel_size=3, padding="causal", activation="relu")),
        ("MaxPooling1D", dict(pool_size=3, strides=2, padding="same")),
        ("Conv1D", dict(filters=3, kernel_size=2, strides=2, padding="same", activation="tanh")),
        ("AveragePooling1D", dict(pool_size=2, padding="same")),
        ("Conv1D", dict(filters=3, kernel_size=2, dilation_rate=2, padding="causal")),
        ("GlobalMaxPooling1D", {}), ("Dense", dict(units=2, activation="softmax"))]),
    "global_pooling": ((5, 6, 2), [
        ("Conv2D", dict(filters=3, kernel_size=3, padding="same", dilation_rate=(1, 2),
                        activation="relu")),
        ("GlobalAveragePooling2D", dict(keepdims=True)),
        ("Conv2D", dict(filters=4, kernel_size=1)), ("GlobalMaxPooling2D", {}),
        ("Reshape", dict(target_shape=(2, 2))), ("GlobalAveragePooling1D", dict(keepdims=True)),
        ("GlobalMaxPooling1D", dict(keepdims=True)), ("Flatten", {}), ("Dense", dict(units=3))]),
    "volume_3d": ((5, 6, 7, 2), [
        ("Conv3D", dict(filters=3, kernel_size=(2, 3, 2), strides=(1, 2, 1), padding="same",
                        activation="relu")),
        ("MaxPooling3D", dict(pool_size=2, padding="same")),
        ("AveragePooling3D", dict(pool_size=(1, 2, 3), strides=(1, 1, 2))),
        ("MaxPooling3D", dict(pool_size=(3, 1, 1), strides=(1, 1, 1))),
        ("AveragePooling3D", dict(pool_size=(2, 3, 2), strides=(2, 2, 1), padding="same")),
        ("Flatten", {}), ("Dense", dict(units=3, activation="sigmoid"))]),
    "global_pooling_3d": ((3, 4, 5, 2), [
        ("Conv3D", dict(filters=3, kernel_size=2, padding="same", dilation_rate=(2, 1, 2),
                        activation="relu")),
        ("GlobalAveragePooling3D", dict(keepdims=True)),
        ("Conv3D", dict(filters=4, kernel_size=1)), ("GlobalMaxPooling3D", {}),
        ("Dense", dict(units=3))]),
    "recurrent": ((6, 3), [
        ("SimpleRNN", dict(units=4, activation="relu", return_sequences=True)),
        ("GRU", dict(units=5, return_sequences=True, go_backwards=True)),
        ("GRU", dict(units=4, reset_after=False, return_sequences=True)),
        ("LSTM", dict(units=3, recurrent_activation="tanh")),
        ("Dense", dict(units=2))]),
}


def random_weights(shapes_and_names, seed):
    """Weights of the given (name, shape) list: normal(0, 0.5), variances in [0.5, 1.5]."""
    rng = np.random.default_rng(seed)
    return [(rng.uniform(0.5, 1.5, shape) if "variance" in name else
             rng.normal(0.0, 0.5, shape)).astype(np.float32)
            for name, shape in shapes_and_names]


def fastnn_model(stack, seed=0):
    """The stack built in fastnn, with random weights (moving statistics too)."""
    input_shape, specs = STACKS[stack]
    model = Sequential([layers.Input(shape=input_shape)] +
                       [getattr(layers, cls)(**kwargs) for cls, kwargs in specs], name=stack)
    model.set_weights(random_weights([(v.name, v.shape) for v in model.variables], seed))
    return model


def inputs(stack, seed=1, n=3):
    """A batch of n random samples for the stack (pixel-like values in [0, 1))."""
    return np.random.default_rng(seed).random((n,) + STACKS[stack][0], dtype=np.float32)

#: Keras models with a layer fastnn does not have (built on the Keras side only).
KERAS_ONLY = {
    "leaky_relu_layer": ((4,), [("Dense", dict(units=3)), ("LeakyReLU", dict(negative_slope=0.1)),
                                ("Dense", dict(units=2))]),
}
