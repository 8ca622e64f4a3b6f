"""conv2d with the ReLU fused into its kernel, the direct kernels, and Conv2D(activation="relu").

Which C code runs depends on the patch length K = kh * kw * in_c:

- K <= 75 on any channels, or K <= 484 (11x11x4) on at most 4 input channels
  (``direct_conv_takes``, fastnn_direct_conv_takes in csrc/fastnn.h): the direct
  kernels of csrc/conv2d_direct.c (forward in tiles of 8 or 16 pixels x 8 or 16
  channels over all K values; weight and bias gradient);
- the others: the GEMM-based kernels (K > 256 = FASTNN_KC: several reduction
  slices in the blocked GEMM).

Every result is compared with the float64 NumPy reference,
``reference.relu(reference.conv2d(...))``, with tolerance rtol 1e-5 and
atol 1e-5 * sqrt(terms summed).  NaN positions must match exactly (a fused
ReLU keeps NaN: only negative sums become 0).
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastnn import activations
from fastnn.kernels import conv2d, conv2d_backward, reference
from fastnn.kernels.convolution import DIRECT_ANY_C_MAX_K, DIRECT_FEW_C, direct_conv_takes
from fastnn.layers import Activation, Conv2D, Dense, Flatten, MaxPooling2D
from fastnn.layers import conv2d as conv_layer_module
from fastnn.models import Sequential
from fastnn.models.training import compute_gradients

from conftest import NATIVE_IMPLS, ConvCase, each_simd_path, f64, simd_path

GEMM_SLICE_K = 256
each_native = pytest.mark.parametrize("impl", NATIVE_IMPLS)


def assert_close(actual, expected, terms):
    assert isinstance(actual, np.ndarray) and actual.dtype == np.float32
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-5,
                               atol=1e-5 * math.sqrt(max(terms, 1)))


def case(batch, hw, in_c, k, out_c, strides=(1, 1), padding="valid", bias=True, seed=0):
    k = (k, k) if isinstance(k, int) else k
    return ConvCase(batch=batch, in_h=hw[0], in_w=hw[1], in_c=in_c, k_h=k[0], k_w=k[1],
                    out_c=out_c, strides=strides, padding=padding, bias=bias, seed=seed)


def patch_length(c):
    return c.k_h * c.k_w * c.in_c


def expected_fused(x, w, b, c):
    return reference.relu(reference.conv2d(f64(x), f64(w), f64(b), c.strides, c.padding))


def check_fused_forward(c, impl):
    x, w, b, _ = c.arrays()
    y = conv2d(x, w, b, strides=c.strides, padding=c.padding, impl=impl, activation="relu")
    expected = expected_fused(x, w, b, c)
    assert expected.shape == c.out_shape
    assert (expected == 0).any() and (expected > 0).any()  # the ReLU has work to do
    assert_close(y, expected, patch_length(c))
    # both sides of zero are right, not just close: no negative value survives
    assert (y >= 0).all()


def check_backward(c, impl):
    x, w, _, dy = c.arrays()
    dx, dw, db = conv2d_backward(x, w, dy, strides=c.strides, padding=c.padding, impl=impl)
    ex, ew, eb = reference.conv2d_backward(f64(x), f64(w), f64(dy), c.strides, c.padding)
    pixels = c.batch * c.out_shape[1] * c.out_shape[2]
    assert_close(dx, ex, c.k_h * c.k_w * c.out_c)
    assert_close(dw, ew, pixels)
    assert_close(db, eb, pixels)


# ---- shapes on each path ------------------------------------------------------------------

DIRECT_CASES = [
    case(1, (8, 8), 1, 3, 8),
    case(2, (9, 11), 1, 3, 5),                                     # out_c < 8: padded W
    case(3, (10, 13), 2, 3, 13, padding="same"),                   # two overlapping vectors
    case(4, (7, 12), 3, 3, 13, strides=(2, 2), padding="same"),
    case(2, (12, 9), 3, 3, 16, strides=(2, 1)),
    case(1, (13, 13), 1, 5, 5, padding="same"),                    # K = 25
    case(3, (11, 10), 1, 5, 32, strides=(2, 2)),
    case(2, (9, 9), 2, 4, 13, padding="same"),                     # K = 32
    case(2, (9, 9), 3, 5, 6, padding="same"),                      # K = 75: any channels
    # long patches on few channels
    case(2, (16, 15), 3, 7, 32, padding="same"),                   # K = 147: a 7x7x3 stem
    case(3, (17, 16), 1, 9, 5, strides=(2, 2), padding="same"),    # K = 81, out_c < 8
    case(2, (15, 14), 3, 11, 17),                                  # K = 363
    case(2, (13, 12), 4, 9, 33, strides=(2, 2), padding="same"),   # K = 324
    case(2, (12, 13), 4, 11, 1, padding="same", bias=False),       # K = 484: the largest
    case(2, (10, 11), 1, 7, 17, strides=(2, 2), padding="same"),   # K = 49
    case(4, (6, 17), 3, 3, 1, strides=(1, 2), padding="same", bias=False),
    case(1, (3, 3), 1, 3, 21, padding="valid"),                    # a single output pixel
    case(2, (8, 9), 1, (1, 1), 7),                                 # K = 1
]
GEMM_CASES = [
    case(2, (9, 10), 5, (4, 4), 5),                                # K = 80 on 5 channels
    case(2, (10, 9), 9, 3, 13, padding="same"),                    # K = 81
    case(3, (8, 10), 16, 3, 24, strides=(2, 2), padding="same"),   # K = 144
    case(2, (9, 8), 32, 3, 13, padding="same"),                    # K = 288 > 256: two slices
    case(2, (7, 9), 32, 3, 40, strides=(2, 1)),                    # K = 288, out_c > 32
    case(1, (8, 8), 64, 3, 17, padding="same", bias=False),        # K = 576: three slices
    case(2, (7, 7), 60, 3, 9, strides=(2, 2), padding="same"),     # K = 540, odd channels
    case(2, (15, 15), 4, (11, 12), 7),                             # K = 528 on 4 channels
]


def test_cases_hit_the_intended_paths():
    assert all(direct_conv_takes((c.k_h, c.k_w, c.in_c)) for c in DIRECT_CASES)
    assert not any(direct_conv_takes((c.k_h, c.k_w, c.in_c)) for c in GEMM_CASES)
    assert any(patch_length(c) > DIRECT_ANY_C_MAX_K and c.in_c == DIRECT_FEW_C
               for c in DIRECT_CASES)
    assert any(patch_length(c) > 2 * GEMM_SLICE_K for c in GEMM_CASES)
    assert {c.out_c % 8 for c in DIRECT_CASES} >= {0, 1, 5, 7}


def ids(cases):
    return [f"K{patch_length(c)}-{c.in_h}x{c.in_w}x{c.in_c}-k{c.k_h}x{c.k_w}-co{c.out_c}"
            f"-s{c.strides[0]}{c.strides[1]}-{c.padding}-n{c.batch}" for c in cases]


# ---- (a) fused forward --------------------------------------------------------------------

@each_native
@pytest.mark.parametrize("c", DIRECT_CASES, ids=ids(DIRECT_CASES))
def test_fused_relu_direct_path(c, impl):
    check_fused_forward(c, impl)


@each_native
@pytest.mark.parametrize("c", GEMM_CASES, ids=ids(GEMM_CASES))
def test_fused_relu_gemm_path(c, impl):
    check_fused_forward(c, impl)


@each_simd_path
@pytest.mark.parametrize("c", [DIRECT_CASES[2], DIRECT_CASES[7], *DIRECT_CASES[10:15],
                               GEMM_CASES[3]],
                         ids=ids([DIRECT_CASES[2], DIRECT_CASES[7], *DIRECT_CASES[10:15],
                                  GEMM_CASES[3]]))
def test_fused_relu_on_each_simd_path(c, simd):
    with simd_path(simd):
        check_fused_forward(c, "fast")
        check_backward(c, "fast")


@each_native
@pytest.mark.parametrize("c", [DIRECT_CASES[2], GEMM_CASES[3]], ids=ids([DIRECT_CASES[2],
                                                                         GEMM_CASES[3]]))
def test_without_activation_negative_values_stay(c, impl):
    """activation=None really is the plain convolution (negative sums kept)."""
    x, w, b, _ = c.arrays()
    y = conv2d(x, w, b, strides=c.strides, padding=c.padding, impl=impl)
    expected = reference.conv2d(f64(x), f64(w), f64(b), c.strides, c.padding)
    assert (expected < -0.1).any()
    assert_close(y, expected, patch_length(c))
    fused = conv2d(x, w, b, strides=c.strides, padding=c.padding, impl=impl, activation="relu")
    np.testing.assert_array_equal(fused, reference.relu(y))


@each_native
@pytest.mark.parametrize("bias", [None, 1.0])
def test_fused_relu_applies_to_the_full_sum_not_to_a_partial_one(impl, bias):
    """K = 288 > 256: a blocked GEMM sums the first 256 terms, then the last 32.
    All-ones x makes every output the plain sum of the kernel column, so a ReLU
    applied to a partial sum (or before the bias) gives a visibly wrong value."""
    x = np.ones((2, 6, 7, 32), np.float32)
    b = None if bias is None else np.full(13, bias, np.float32)
    extra = 0.0 if bias is None else bias
    w = np.empty((3, 3, 32, 13), np.float32)
    rows = w.reshape(-1, 13)                         # the K = (kh, kw, ci) order of the GEMM
    for first, last in [(0.05, -0.2), (0.05, -1.0), (-0.05, 1.0), (-0.05, 0.3)]:
        rows[:GEMM_SLICE_K], rows[GEMM_SLICE_K:] = first, last
        total = GEMM_SLICE_K * first + (rows.shape[0] - GEMM_SLICE_K) * last + extra
        y = conv2d(x, w, b, impl=impl, activation="relu")
        assert y.shape == (2, 4, 5, 13)
        np.testing.assert_allclose(y, max(total, 0.0), rtol=1e-5, atol=1e-5)


@st.composite
def direct_cases(draw):
    """Convolutions that take the direct path: up to 7x7 on at most 4 channels
    (K <= 196)."""
    in_c = draw(st.integers(1, DIRECT_FEW_C))
    k_h = draw(st.integers(1, 7))
    k_w = draw(st.integers(1, 7))
    padding = draw(st.sampled_from(["valid", "same"]))
    low_h, low_w = (k_h, k_w) if padding == "valid" else (1, 1)
    return case(batch=draw(st.integers(1, 4)),
                hw=(draw(st.integers(low_h, low_h + 10)), draw(st.integers(low_w, low_w + 12))),
                in_c=in_c, k=(k_h, k_w), out_c=draw(st.integers(1, 41)),  # any tail
                strides=(draw(st.integers(1, 2)), draw(st.integers(1, 2))), padding=padding,
                bias=draw(st.booleans()), seed=draw(st.integers(0, 2**32 - 1)))


@given(c=direct_cases())
def test_direct_path_forward_and_backward_any_shape(c):
    assert direct_conv_takes((c.k_h, c.k_w, c.in_c))
    x, w, b, _ = c.arrays()
    expected_plain = reference.conv2d(f64(x), f64(w), f64(b), c.strides, c.padding)
    for impl in NATIVE_IMPLS:
        y = conv2d(x, w, b, strides=c.strides, padding=c.padding, impl=impl, activation="relu")
        assert_close(y, reference.relu(expected_plain), patch_length(c))
        y = conv2d(x, w, b, strides=c.strides, padding=c.padding, impl=impl)
        assert_close(y, expected_plain, patch_length(c))
        check_backward(c, impl)


@pytest.mark.parametrize("activation", ["silu", "ReLU", "", 1, "softmax"])
def test_unknown_activation_is_refused(activation):
    x, w = np.ones((1, 4, 4, 1), np.float32), np.ones((3, 3, 1, 2), np.float32)
    for impl in ("fast", "naive", "numpy"):
        with pytest.raises(ValueError, match="activation"):
            conv2d(x, w, impl=impl, activation=activation)


# ---- (b) backward on the direct path --------------------------------------------------------

BACKWARD_CASES = [
    case(2, (9, 11), 1, 3, 5),
    case(3, (10, 13), 2, 3, 5, strides=(2, 2), padding="same"),
    case(4, (11, 12), 3, 3, 32, strides=(2, 2), padding="same"),
    case(2, (13, 13), 1, 5, 32, padding="same"),
    case(1, (12, 9), 1, 5, 5, strides=(2, 2)),
    case(3, (9, 9), 2, 4, 13, strides=(1, 2), padding="same"),     # K = 32
    case(2, (40, 40), 1, 3, 32, padding="same"),                   # many pixels: threads split
    case(2, (9, 10), 4, 3, 5, strides=(2, 2), padding="same"),     # K = 36: GEMM, for contrast
]


@each_native
@pytest.mark.parametrize("c", BACKWARD_CASES, ids=ids(BACKWARD_CASES))
def test_backward_matches_reference(c, impl):
    check_backward(c, impl)


@each_native
def test_backward_without_dx_gives_the_same_weight_gradients(impl):
    c = BACKWARD_CASES[2]
    x, w, _, dy = c.arrays()
    _, dw, db = conv2d_backward(x, w, dy, c.strides, c.padding, impl=impl)
    none, dw2, db2 = conv2d_backward(x, w, dy, c.strides, c.padding, impl=impl,
                                     compute_dx=False)
    assert none is None
    np.testing.assert_array_equal(dw2, dw)
    np.testing.assert_array_equal(db2, db)


# ---- (c) NaN propagates through the fused ReLU -----------------------------------------------

@each_native
@pytest.mark.parametrize("c", [DIRECT_CASES[2], DIRECT_CASES[3], GEMM_CASES[1], GEMM_CASES[3]],
                         ids=ids([DIRECT_CASES[2], DIRECT_CASES[3], GEMM_CASES[1],
                                  GEMM_CASES[3]]))
def test_nan_in_x_stays_nan_with_fused_relu(c, impl):
    x, w, b, _ = c.arrays()
    x[0, c.in_h // 2, c.in_w // 2, 0] = np.nan
    x[-1, 0, 0, c.in_c - 1] = np.nan                 # a corner: windows in the padding
    with np.errstate(invalid="ignore"):
        expected = expected_fused(x, w, b, c)
    y = conv2d(x, w, b, strides=c.strides, padding=c.padding, impl=impl, activation="relu")
    nan = np.isnan(expected)
    assert nan.any() and not nan.all()
    np.testing.assert_array_equal(np.isnan(y), nan)   # not turned into 0, not spread further
    assert_close(y[~nan], expected[~nan], patch_length(c))


# ---- (d) the Conv2D layer ------------------------------------------------------------------

def test_the_epilogue_takes_relu_and_the_activations_whose_backward_reads_y():
    assert Conv2D(4, 3, activation="relu").epilogue == ("relu", None)
    assert Conv2D(4, 3, activation=activations.relu).epilogue == ("relu", None)
    assert Conv2D(4, 3, activation="tanh").epilogue == ("tanh", 0.0)
    assert Conv2D(4, 3, activation="leaky_relu").epilogue == ("leaky_relu", 0.2)
    leaky = activations.get("relu").configure(negative_slope=0.1)
    assert Conv2D(4, 3, activation=leaky).epilogue == ("leaky_relu", 0.1)
    assert Conv2D(4, 3, activation=activations.get("elu").configure(alpha=0.5)).epilogue == (
        "elu", 0.5)
    assert not Conv2D(4, 3).fuses_activation
    capped = activations.get("relu").configure(max_value=6.0)
    for other in ("silu", "softmax", "gelu", "linear", capped):   # backward reads z, or no kernel
        assert not Conv2D(4, 3, activation=other).fuses_activation, other
    assert Conv2D(4, 3, activation="relu").epilogue_is_relu
    assert not Conv2D(4, 3, activation=leaky).epilogue_is_relu


def test_configured_relu_runs_as_leaky_relu_in_the_kernel():
    """A leaky ReLU must not run through the kernel's plain max(., 0)."""
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, (2, 6, 6, 1)).astype(np.float32)
    layer = Conv2D(5, 3, activation=activations.get("relu").configure(negative_slope=0.1))
    y = layer(x)
    z = reference.conv2d(f64(x), f64(layer.kernel.value), f64(layer.bias.value))
    assert (z < 0).any()
    np.testing.assert_allclose(y, np.where(z > 0, z, 0.1 * z), rtol=1e-5, atol=1e-5)


def test_fused_layer_calls_the_fused_kernel(monkeypatch):
    import fastnn.layers.conv2d as conv_module

    seen = []
    real = conv_module.conv2d

    def spy(*args, **kwargs):
        seen.append(kwargs.get("activation"))
        return real(*args, **kwargs)

    monkeypatch.setattr(conv_module, "conv2d", spy)
    x = np.ones((1, 5, 5, 1), np.float32)
    Conv2D(3, 3, activation="relu")(x)
    Conv2D(3, 3, activation="tanh")(x)
    Conv2D(3, 3, activation="silu")(x)
    Conv2D(3, 3)(x)
    assert seen == ["relu", "tanh", None, None]


def twin_models(in_c, filters, strides, padding, hw=(9, 10)):
    """A 1x1 Conv2D (so that the tested layer's input gradient is needed and shows in
    its kernel gradient), then Conv2D(relu) -- fused -- or Conv2D + Activation("relu")."""
    fused = Sequential([
        Conv2D(in_c, 1, input_shape=hw + (in_c,)),
        Conv2D(filters, 3, strides=strides, padding=padding, activation="relu",
               bias_initializer="random_uniform")])
    separate = Sequential([
        Conv2D(in_c, 1, input_shape=hw + (in_c,)),
        Conv2D(filters, 3, strides=strides, padding=padding, bias_initializer="random_uniform"),
        Activation("relu")])
    for model in (fused, separate):
        model.compile(optimizer="sgd", loss="mse")
    separate.set_weights(fused.get_weights())
    return fused, separate


def reference_gradients(x, t, weights, strides, padding):
    """The fused model's loss gradients in float64 NumPy: MSE = mean((y - t)^2)."""
    w0, b0, w1, b1 = (f64(w) for w in weights)
    h = reference.conv2d(f64(x), w0, b0)
    y = reference.relu(reference.conv2d(h, w1, b1, strides, padding))
    dy = 2.0 * (y - t) / y.size
    dz = reference.relu_backward(y, dy)
    dh, dw1, db1 = reference.conv2d_backward(h, w1, dz, strides, padding)
    _, dw0, db0 = reference.conv2d_backward(f64(x), w0, dh)
    return y, [dw0, db0, dw1, db1], dh


@pytest.mark.parametrize("in_c, filters, strides, padding", [
    (1, 13, (1, 1), "valid"),    # K = 9: direct path
    (1, 5, (2, 2), "same"),
    (32, 13, (1, 1), "same"),    # K = 288: GEMM path, two reduction slices
    (16, 8, (2, 1), "valid"),    # K = 144
], ids=["direct-valid", "direct-same-s2", "gemm-K288-same", "gemm-K144-s21"])
def test_fused_layer_equals_conv_then_activation(in_c, filters, strides, padding,
                                                 fresh_session):
    fused, separate = twin_models(in_c, filters, strides, padding)
    rng = np.random.default_rng(in_c * 100 + filters)
    x = rng.uniform(-1, 1, (3, 9, 10, in_c)).astype(np.float32)
    out_shape = fused.layers[-1].compute_output_shape(x.shape)
    t = rng.uniform(0, 0.5, out_shape).astype(np.float32)

    loss_f, y_f = compute_gradients(fused, x, t)
    loss_s, y_s = compute_gradients(separate, x, t)
    np.testing.assert_array_equal(y_f, y_s)
    assert loss_f == loss_s
    grads_f = [v.grad for v in fused.trainable_variables]
    grads_s = [v.grad for v in separate.trainable_variables]
    assert len(grads_f) == len(grads_s) == 4
    for g_f, g_s in zip(grads_f, grads_s):
        np.testing.assert_array_equal(g_f, g_s)

    # and both are right, not merely equal
    ref_y, ref_grads, _ = reference_gradients(x, t, fused.get_weights(), strides, padding)
    assert (ref_y == 0).any() and (ref_y > 0).any()
    np.testing.assert_allclose(y_f, ref_y, rtol=1e-5, atol=1e-5 * math.sqrt(9 * in_c))
    for g, ref in zip(grads_f, ref_grads):
        np.testing.assert_allclose(g, ref, rtol=1e-4, atol=1e-7 + 1e-5 * np.abs(ref).max())

    # the input gradient of the tested layer itself
    conv_f = fused.layers[1]
    conv_s, act_s = separate.layers[1], separate.layers[2]
    h = fused.layers[0](x)
    dy = rng.uniform(-1, 1, out_shape).astype(np.float32)
    conv_f.input_gradient_needed = conv_s.input_gradient_needed = True
    z_f = conv_f.forward(h, training=True)
    z_s = act_s.forward(conv_s.forward(h, training=True), training=True)
    np.testing.assert_array_equal(z_f, z_s)
    dx_f = conv_f.backward(dy)
    dx_s = conv_s.backward(act_s.backward(dy))
    np.testing.assert_array_equal(dx_f, dx_s)
    ex, _, _ = reference.conv2d_backward(f64(h), f64(conv_f.kernel.value),
                                         reference.relu_backward(f64(z_f), f64(dy)),
                                         strides, padding)
    np.testing.assert_allclose(dx_f, ex, rtol=1e-5, atol=1e-5 * math.sqrt(9 * filters))


def test_max_pool_folds_the_relu_below_it(fresh_session, monkeypatch):
    """Conv2D(relu) -> MaxPooling2D, twice (the demo CNN): the second pool takes
    its ReLU's backward pass (max_pool2d_backward(through_relu=True)), and the
    first convolution, which needs no input gradient, takes its weight
    gradients straight from the first pool's output gradient
    (conv2d_pooled_weight_gradient): no relu_backward call at all.  The
    gradients equal those of the same model with the ReLUs as separate
    Activation layers: bit for bit above the first layer, to rounding in it
    (its sums run window by window, in another order)."""
    def cnn(fused):
        def conv_relu(filters, **kwargs):
            if fused:
                return [Conv2D(filters, 3, activation="relu", **kwargs)]
            return [Conv2D(filters, 3, **kwargs), Activation("relu")]
        return Sequential([*conv_relu(4, input_shape=(10, 10, 1)), MaxPooling2D(2),
                           *conv_relu(6), MaxPooling2D(2),
                           Flatten(), Dense(3, activation="softmax")])
    fused, separate = cnn(True), cnn(False)
    for model in (fused, separate):
        model.compile("sgd", "sparse_categorical_crossentropy")
    separate.set_weights(fused.get_weights())
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-1, 1, (5, 10, 10, 1)).astype(np.float32), rng.integers(0, 3, 5)

    calls = []
    monkeypatch.setattr(activations.kernels, "relu_backward",
                        lambda *args: calls.append("relu") or reference.relu_backward(*args))
    pooled = conv_layer_module.conv2d_pooled_weight_gradient
    monkeypatch.setattr(conv_layer_module, "conv2d_pooled_weight_gradient",
                        lambda *args, **kwargs: (calls.append("pooled")
                                                 or pooled(*args, **kwargs)))
    compute_gradients(fused, x, y)
    assert calls == ["pooled"]
    compute_gradients(separate, x, y)
    assert calls == ["pooled", "relu", "relu"]
    grads = [(f.grad, s.grad) for f, s in zip(fused.trainable_variables,
                                              separate.trainable_variables)]
    for g_f, g_s in grads[:2]:  # the first convolution's kernel and bias
        np.testing.assert_allclose(g_f, g_s, rtol=1e-5, atol=1e-6 * np.abs(g_s).max())
    for g_f, g_s in grads[2:]:
        np.testing.assert_array_equal(g_f, g_s)
    assert all(np.any(g_f != 0) for g_f, _ in grads)


@pytest.mark.parametrize("pool, first", [(MaxPooling2D(2, strides=1), True),
                                         (MaxPooling2D(2, padding="same"), True),
                                         (MaxPooling2D(2), False)])
def test_the_pooled_shortcut_only_where_it_applies(pool, first, fresh_session, monkeypatch):
    """Overlapping or padded pools, and a convolution that must pass a gradient
    down, take the general path, with the same gradients."""
    layers = [Conv2D(3, 3, activation="relu"), pool, Flatten(), Dense(2, activation="softmax")]
    if not first:
        layers.insert(0, Conv2D(2, 1, input_shape=(8, 9, 1)))
    else:
        layers[0] = Conv2D(3, 3, activation="relu", input_shape=(8, 9, 1))
    model = Sequential(layers)
    model.compile("sgd", "sparse_categorical_crossentropy")
    monkeypatch.setattr(conv_layer_module, "conv2d_pooled_weight_gradient",
                        lambda *args: pytest.fail("the pooled shortcut ran"))
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-1, 1, (4, 8, 9, 1)).astype(np.float32), rng.integers(0, 2, 4)
    compute_gradients(model, x, y)
    assert all(np.any(v.grad != 0) for v in model.trainable_variables)
