"""The recurrent time loop (fastnn.kernels.rnn_forward / rnn_backward, csrc/recurrent.c).

The NumPy spec (``reference.rnn_forward`` / ``rnn_backward``) is checked
against central differences in float64; the C kernels, fast and naive,
against that spec in float64 for every cell and activation, with and
without a recurrent dropout mask.  Thread counts and SIMD paths: the cases
in tests/threaded_cases.py.  The layers against Keras's formulas:
tests/test_layers_recurrent.py.
"""
import itertools

import numpy as np
import pytest

from fastnn import kernels
from fastnn.kernels import reference
from fastnn.kernels.recurrent import ACTIVATIONS

from conftest import each_simd_path, simd_path

CELLS = ("simple_rnn", "lstm", "gru", "gru_reset_before")
# (activation, recurrent_activation): Keras's default first, then every kind
# in both places; a gate without a bounded activation only in the LSTM (a
# GRU's state grows without bound through a linear or relu update gate)
PAIRS = [("tanh", "sigmoid"), ("relu", "hard_sigmoid"), ("linear", "sigmoid"),
         ("sigmoid", "tanh"), ("hard_sigmoid", "hard_sigmoid")]
UNBOUNDED_GATES = [("sigmoid", "linear"), ("hard_sigmoid", "relu")]
CASES = list(itertools.product(CELLS, PAIRS)) + [("lstm", pair) for pair in UNBOUNDED_GATES]


def problem(cell, batch=3, steps=5, units=4, masked=False, dc_last=False, seed=0, scale=1.0):
    """Random inputs; ``scale`` < 1 keeps gates without a bounded activation
    (a GRU's linear update gate) from blowing the state up over the steps."""
    rng = np.random.default_rng(seed)
    gates = reference.RNN_GATES[cell]
    keep = rng.random((batch, units)) < 0.6
    return dict(z=scale * rng.normal(size=(batch, steps, gates * units)),
                u_kernel=rng.normal(size=(units, gates * units)) / np.sqrt(units),
                rbias=rng.normal(size=gates * units) if cell == "gru" else None,
                mask=keep / 0.6 if masked else None,
                dy=rng.normal(size=(batch, steps, units)),
                dc_last=rng.normal(size=(batch, units)) if dc_last and cell == "lstm" else None)


def loss(p, cell, act, ract):
    """Σ dy·h + Σ dc_last·c_last: its gradient is what rnn_backward starts from."""
    _, h, c, _ = reference.rnn_forward(p["z"], p["u_kernel"], cell, act, ract, p["rbias"],
                                       p["mask"])
    value = np.sum(p["dy"] * h)
    return value if p["dc_last"] is None else value + np.sum(p["dc_last"] * c[:, -1])


def central_difference(f, array, eps=1e-6):
    grad = np.zeros_like(array)
    for i in np.ndindex(array.shape):
        keep = array[i]
        array[i] = keep + eps
        up = f()
        array[i] = keep - eps
        down = f()
        array[i] = keep
        grad[i] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize("cell, pair", CASES)
def test_the_numpy_spec_has_the_gradient_of_its_forward_pass(cell, pair):
    act, ract = pair
    p = problem(cell, masked=True, dc_last=True, scale=1.0 if pair == PAIRS[0] else 0.4)
    gates, h, c, rh = reference.rnn_forward(p["z"], p["u_kernel"], cell, act, ract, p["rbias"],
                                            p["mask"])
    dz, dr = reference.rnn_backward(gates, h, c, rh, p["u_kernel"], p["dy"], cell, act, ract,
                                    p["mask"], p["dc_last"])
    f = lambda: loss(p, cell, act, ract)  # noqa: E731
    np.testing.assert_allclose(dz, central_difference(f, p["z"]), rtol=1e-5, atol=1e-7)
    du, drbias = reference.rnn_recurrent_kernel_gradient(h, rh, dr, cell, p["mask"])
    np.testing.assert_allclose(du, central_difference(f, p["u_kernel"]), rtol=1e-5, atol=1e-7)
    if cell == "gru":
        np.testing.assert_allclose(drbias, central_difference(f, p["rbias"]),
                                   rtol=1e-5, atol=1e-7)
    else:
        assert drbias is None


OUTPUTS = ("gates", "h", "c", "rh", "dz", "du", "drbias")


def spec(p, cell, act="tanh", ract="sigmoid"):
    """The float64 spec's RnnSteps and (dz, du, drbias) for a problem."""
    want = reference.rnn_forward(p["z"], p["u_kernel"], cell, act, ract, p["rbias"], p["mask"])
    dz, dr = reference.rnn_backward(*want, p["u_kernel"], p["dy"], cell, act, ract,
                                    p["mask"], p["dc_last"])
    return want, (dz, *reference.rnn_recurrent_kernel_gradient(want[1], want[3], dr, cell,
                                                                p["mask"]))


@pytest.mark.parametrize("impl", ["fast", "naive"])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("cell, pair", CASES)
def test_the_c_kernels_agree_with_the_spec_in_float64(cell, pair, masked, impl):
    act, ract = pair
    p = problem(cell, batch=6, steps=7, units=19, masked=masked, dc_last=True, seed=3,
                scale=1.0 if pair == PAIRS[0] else 0.4)
    want, want_grads = spec(p, cell, act, ract)
    f32 = {k: None if v is None else v.astype(np.float32) for k, v in p.items()}
    got = kernels.rnn_forward(f32["z"], f32["u_kernel"], cell, act, ract, f32["rbias"],
                              f32["mask"], impl=impl)
    grads = kernels.rnn_backward(got, f32["u_kernel"], f32["dy"], cell, act, ract,
                                 f32["mask"], f32["dc_last"], impl=impl)
    for name, g, w in zip(OUTPUTS, [*got, *grads], [*want, *want_grads]):
        if w is None:
            assert g is None, name
            continue
        assert g.dtype == np.float32 and g.shape == w.shape, name
        scale = max(1.0, float(np.abs(w).max()))
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=2e-5 * scale, err_msg=name)


@each_simd_path
@pytest.mark.parametrize("impl", ["fast", "naive"])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_tanh_and_sigmoid_are_within_two_float32_roundings(activation, impl, simd):
    """The fast kernels' branch-free tanh and sigmoid (csrc/activation_math.h)
    against float64, over every value a gate sees: relative error below 2.5e-7
    (a float32 rounding is at most 6e-8), absolute below 2.5e-37 where the
    result is too small for float32 to be relative (sigmoid(-90)).  A SimpleRNN of one unit with a
    zero recurrent kernel is act(z) for each z."""
    z = np.concatenate([np.linspace(-30, 30, 120_001), [1e-30, -1e-20, 1e-6, -3e-4, 90, -90]])
    z = z.astype(np.float32)
    z64 = z.astype(np.float64)
    want = np.tanh(z64) if activation == "tanh" else 1 / (1 + np.exp(-z64))
    with simd_path(simd):
        got = kernels.rnn_forward(z.reshape(-1, 1, 1), np.zeros((1, 1), np.float32),
                                  "simple_rnn", activation, impl=impl).h.ravel()
    relative = np.abs(got - want) / np.maximum(np.abs(want), 1e-30)
    assert relative.max() < 2.5e-7, z[np.argmax(relative)]


@each_simd_path
def test_the_fast_gates_are_the_activation_kernels_tanh_and_sigmoid_bit_for_bit(simd):
    """The time loop's gates share csrc/activation_math.h with the activation
    kernels (no second copy of exp and tanh): an LSTM with a zero recurrent
    kernel has the gates sigmoid(z_i,f,o), tanh(z_c) and h = o*tanh(i*g), each
    the same float32 bits as kernels.activation's on that SIMD path (and h
    computed in that order)."""
    z = np.random.default_rng(5).normal(scale=4.0, size=(37, 1, 4 * 45)).astype(np.float32)
    with simd_path(simd):
        got = kernels.rnn_forward(z, np.zeros((45, 4 * 45), np.float32), "lstm")
        gates = z.reshape(37, 4, 45)
        sig = [kernels.activation("sigmoid", np.ascontiguousarray(gates[:, k]))
               for k in (0, 1, 3)]
        g = kernels.activation("tanh", np.ascontiguousarray(gates[:, 2]))
        c = sig[0] * g
        h = kernels.activation("tanh", c) * sig[2]
    want = np.stack([sig[0], sig[1], g, sig[2]], axis=1).reshape(z.shape)
    assert got.gates.tobytes() == want.tobytes()
    assert got.c.tobytes() == c.reshape(got.c.shape).tobytes()
    assert got.h.tobytes() == h.reshape(got.h.shape).tobytes()


def test_the_forward_pass_leaves_its_input_unchanged():
    p = problem("lstm")
    z = p["z"].astype(np.float32)
    before = z.copy()
    kernels.rnn_forward(z, p["u_kernel"], "lstm")
    np.testing.assert_array_equal(z, before)


def test_overwrite_z_puts_the_same_gates_into_z_itself():
    p = problem("gru", batch=5, steps=4, units=21, seed=2)
    z = p["z"].astype(np.float32)
    u_kernel, rbias = p["u_kernel"].astype(np.float32), p["rbias"].astype(np.float32)
    copied = kernels.rnn_forward(z, u_kernel, "gru", rbias=rbias)
    in_place = kernels.rnn_forward(z, u_kernel, "gru", rbias=rbias, overwrite_z=True)
    assert in_place.gates is z
    for a, b in zip(copied, in_place):
        np.testing.assert_array_equal(a, b)


def test_the_fast_gates_stay_finite_and_saturate_for_huge_inputs():
    """exp is clamped: sigmoid(±1000) is 0 and 1, tanh ±1, never NaN."""
    z = np.array([[[1000.0, -1000.0, 1000.0, -1000.0]], [[-1000.0, 1000.0, -1000.0, 1000.0]]],
                 np.float32)
    got = kernels.rnn_forward(z, np.zeros((1, 4), np.float32), "lstm")
    np.testing.assert_allclose(got.gates.reshape(2, 4), [[1, 0, 1, 0], [0, 1, -1, 1]], atol=1e-7)
    assert np.all(np.isfinite(got.h))


def valid(cell="lstm"):
    p = problem(cell)
    return {k: None if v is None else v.astype(np.float32) for k, v in p.items()}


@pytest.mark.parametrize("change, message", [
    (dict(cell="rnn"),
     "cell must be one of 'simple_rnn', 'lstm', 'gru', 'gru_reset_before', got 'rnn'"),
    (dict(activation="elu"), "activation must be one of 'linear', 'tanh'"),
    (dict(recurrent_activation="softmax"), "recurrent_activation must be one of"),
    (dict(impl="blas"), "impl must be one of"),
    (dict(z=np.zeros((3, 5, 15), np.float32)), "z must have 4 x 4 = 16 values per step"),
    (dict(z=np.zeros((3, 16), np.float32)), "z must be 3-D (batch, steps, gate units)"),
    (dict(u_kernel=np.zeros((4, 12), np.float32)), "u_kernel must have shape (4, 16)"),
    (dict(rbias=np.zeros(16, np.float32)), "rbias is the reset_after GRU's recurrent bias"),
    (dict(mask=np.ones((3, 5), np.float32)), "mask must have shape (3, 4), got (3, 5)"),
])
def test_rnn_forward_names_what_is_wrong(change, message):
    p = valid()
    args = {**dict(z=p["z"], u_kernel=p["u_kernel"], cell="lstm"), **change}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        kernels.rnn_forward(**args)


def test_rnn_backward_names_what_is_wrong():
    p = valid()
    steps = kernels.rnn_forward(p["z"], p["u_kernel"], "lstm")
    with pytest.raises(ValueError, match=r"rnn_backward: dy must have shape \(3, 5, 4\)"):
        kernels.rnn_backward(steps, p["u_kernel"], p["dy"][:, :4], "lstm")
    with pytest.raises(ValueError, match="dc_last is the gradient of the LSTM's cell state"):
        kernels.rnn_backward(steps, p["u_kernel"], p["dy"], "gru", dc_last=p["dy"][:, 0])
    with pytest.raises(TypeError, match="steps must be the RnnSteps rnn_forward returned"):
        kernels.rnn_backward(tuple(steps), p["u_kernel"], p["dy"], "lstm")


def test_every_activation_the_kernels_name_is_tested():
    assert {a for _, pair in CASES for a in pair} == set(ACTIVATIONS)


# ---- the fast loop's split between threads ---------------------------------------------

# (batch, units): units no multiple of the 16-unit slices the threads own, one
# batch row (a panel of the packed h_prev that is mostly padding), 65 rows (a
# partial last panel), 300 units (past the 256 reduction indices of one
# packed block: two blocks forward, five backward for the LSTM) and 300 rows
# (two blocks of the batch, which dU's per-step products sum over)
ODD_SIZES = [(1, 37), (65, 37), (65, 130), (17, 300), (300, 37)]


@each_simd_path
@pytest.mark.parametrize("cell", CELLS)
def test_teams_of_one_to_four_threads_give_the_same_bits_on_odd_sizes(cell, simd,
                                                                       restore_threads):
    """csrc/recurrent.c splits the units between the threads of one team for
    the whole loop; each output must be summed in the same order whatever
    thread owns it, so 1, 2, 3 and 4 threads agree bit for bit -- and with
    the float64 spec."""
    import fastnn
    for batch, units in ODD_SIZES:
        p = problem(cell, batch=batch, steps=3, units=units, masked=True, dc_last=True,
                    seed=units)
        want, want_grads = spec(p, cell)
        f32 = {k: None if v is None else v.astype(np.float32) for k, v in p.items()}
        runs = {}
        with simd_path(simd):
            for threads in (1, 2, 3, 4):
                fastnn.set_num_threads(threads)
                if fastnn.get_num_threads() != threads:
                    pytest.skip("built without OpenMP: the kernels run on one thread")
                got = kernels.rnn_forward(f32["z"], f32["u_kernel"], cell, rbias=f32["rbias"],
                                          mask=f32["mask"])
                grads = kernels.rnn_backward(got, f32["u_kernel"], f32["dy"], cell,
                                             mask=f32["mask"], dc_last=f32["dc_last"])
                runs[threads] = [*got, *grads]
        for name, g, w in zip(OUTPUTS, runs[1], [*want, *want_grads]):
            if w is None:
                continue
            scale = max(1.0, float(np.abs(w).max()))
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=2e-5 * scale,
                                       err_msg=f"{name}, batch {batch}, units {units}")
        for threads in (2, 3, 4):
            for name, a, b in zip(OUTPUTS, runs[1], runs[threads]):
                assert (a is None and b is None) or a.tobytes() == b.tobytes(), \
                    f"{name}, batch {batch}, units {units}: {threads} threads differ from 1"
