"""Chapter 27: Learnable parameters in a CNN — input channels x filters x filter size + biases per conv layer; the course's net has 56 + 57 + 2402 = 2515.

What you see:
  1. 27.3 The course's CNN: 20x20x3 images, Conv2D with 2 filters of 3x3
     (same padding), Conv2D with 3 filters of 3x3, Flatten, Dense(2).  Per
     layer the course's formula next to fastnn's count_params():
        conv 1: 3 inputs * (2*3*3) outputs + 2 biases  =   56
        conv 2: 2 inputs * (3*3*3) outputs + 3 biases  =   57
        dense:  20*20*3 = 1200 inputs * 2 + 2 biases   = 2402
     total 2515, and model.summary().
  2. Where the numbers live: each kernel has Keras's shape
     (filter height, filter width, input channels, filters).
  3. Why a CNN is cheap: the 54 weights of conv 1 are shared by all 400
     positions; a Dense layer from the same 20x20x3 input to the same
     20x20x2 output would need 960,800.
  4. Padding changes only the Dense layer (chapter 20): with 'valid' the
     second conv outputs 16x16x3 and the total is 1651.
  5. The same count for a small Fashion-MNIST CNN.
  6. GlobalAveragePooling2D instead of Flatten: one mean per feature map,
     so the Dense layer has 3*2 + 2 = 8 parameters instead of 2402,
     whatever the image size.

Run:  python -m fastnn course 27 [--fast] [--out DIR]
      (from a clone: python fastnn/course/ch27_learnable_parameters_cnn.py [--fast] [--out DIR])
"""
from fastnn.course import arguments
from fastnn.layers import Conv2D, Dense, Flatten, GlobalAveragePooling2D, MaxPooling2D
from fastnn.models import Sequential
from fastnn.utils import set_random_seed

SEED = 27


def heading(text):
    print(f"\n=== {text} ===")


def course_cnn(padding="same", head=Flatten):
    """The CNN of 27.3, written the Keras way (the course gives it as a table);
    ``head`` is the layer between the convolutions and the Dense layer."""
    return Sequential([
        Conv2D(2, (3, 3), padding=padding, activation="relu", input_shape=(20, 20, 3)),
        Conv2D(3, (3, 3), padding=padding, activation="relu"),
        head(),
        Dense(2, activation="softmax"),
    ])


def conv_formula(layer):
    """(text, count) of 27.2: inputs * (filters * f * f) outputs + filters biases."""
    kh, kw, inputs, filters = layer.kernel.shape
    outputs = filters * kh * kw
    count = inputs * outputs + filters
    return f"{inputs} inputs * ({filters}*{kh}*{kw} = {outputs}) + {filters} biases", count


def dense_formula(layer):
    inputs, units = layer.input_shape[-1], layer.units
    return f"{inputs} inputs * {units} + {units} biases", inputs * units + units


def per_layer_table(model):
    """Formula vs count_params() for every layer; returns the formula's total."""
    print(f"{'layer':<15} {'output shape':<14} {'formula':<42} {'=':>5} {'count_params()':>15}")
    total = 0
    for layer in model.layers:
        if isinstance(layer, Conv2D):
            text, count = conv_formula(layer)
        elif isinstance(layer, Dense):
            text, count = dense_formula(layer)
        elif isinstance(layer, Flatten):
            height, width, channels = layer.input_shape[1:]
            text, count = f"no weights: {height}*{width}*{channels} values in a row", 0
        elif isinstance(layer, GlobalAveragePooling2D):
            text, count = f"no weights: the mean of each of {layer.input_shape[-1]} maps", 0
        else:
            text, count = "no weights: the maximum of each window", 0
        total += count
        print(f"{layer.name:<15} {str(layer.output_shape[1:]):<14} {text:<42} {count:>5} "
              f"{layer.count_params():>15}")
    print(f"{'total':<15} {'':<14} {'':<42} {total:>5} {model.count_params():>15}")
    return total


def course_example():
    heading("27.3 The course's CNN: 20x20x3 -> conv 2@3x3 -> conv 3@3x3 -> Dense(2), "
            "padding='same'")
    model = course_cnn()
    total = per_layer_table(model)
    print(f"-> {total} learnable parameters (course: 56 + 57 + 2402 = 2515)")
    model.summary()
    return model


def kernel_shapes(model):
    heading("Where the numbers live: kernel (filter height, filter width, input channels, "
            "filters)")
    for layer in model.layers:
        if layer.variables:
            shapes = ", ".join(f"{v.name} {v.shape} = {v.value.size}" for v in layer.variables)
            print(f"{layer.name:<10} {shapes}")
    print("conv2d: each of the 2 filters is a 3x3 patch on each of the 3 input channels "
          "(3*3*3 = 27 weights per filter), plus one bias per filter.")


def weight_sharing(model):
    heading("Why a CNN is cheap: one filter slides over every position")
    conv = model.layers[0]
    inputs = 20 * 20 * 3
    outputs = 20 * 20 * 2
    dense = inputs * outputs + outputs
    print(f"conv 1 maps 20x20x3 = {inputs} values to 20x20x2 = {outputs} values with "
          f"{conv.count_params()} parameters.")
    print(f"A Dense layer doing the same mapping needs {inputs}*{outputs} + {outputs} = "
          f"{dense:,}: {dense // conv.count_params():,} times as many.")
    print("The conv layer reuses its 54 weights at all 400 positions and looks only at a 3x3 "
          "neighbourhood.")


def valid_padding():
    heading("Padding changes only the Dense layer (chapter 20)")
    model = course_cnn("valid")
    per_layer_table(model)
    print("20 -> 18 -> 16: the convolutions keep 56 and 57 parameters, the Dense layer sees "
          "16*16*3 = 768 inputs.")


def fashion_mnist_cnn():
    heading("The same count for a small Fashion-MNIST CNN (28x28x1 images, 10 classes)")
    model = Sequential([
        Conv2D(16, (3, 3), activation="relu", input_shape=(28, 28, 1)),
        MaxPooling2D(pool_size=(2, 2)),
        Conv2D(32, (3, 3), activation="relu"),
        MaxPooling2D(pool_size=(2, 2)),
        Flatten(),
        Dense(10, activation="softmax"),
    ])
    per_layer_table(model)


def global_pooling():
    heading("GlobalAveragePooling2D instead of Flatten: one number per feature map")
    model = course_cnn(head=lambda: GlobalAveragePooling2D(name="global_pool"))
    per_layer_table(model)
    print("The Dense layer now sees 3 inputs (the mean of each of conv 2's 3 maps) instead of "
          "20*20*3 = 1200:\n8 parameters instead of 2402, and the same 8 for images of any "
          "size.")


def main():
    arguments(__doc__, fast="accepted for uniformity: this example only counts (instant)", pictures=False)
    set_random_seed(SEED)
    model = course_example()
    kernel_shapes(model)
    weight_sharing(model)
    valid_padding()
    fashion_mnist_cnn()
    global_pooling()


if __name__ == "__main__":
    main()
