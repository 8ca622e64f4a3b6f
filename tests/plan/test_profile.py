"""model.profile and ``python -m fastnn profile`` (fastnn/plan/profile.py).

The rows follow the plan step by step; a step known to take 30 ms shows
up where it runs; the FLOP counts are the hand-computed ones; the model
profiled is left as it was (only a copy trains).
"""
import time

import numpy as np
import pytest

import fastnn
from fastnn import random
from fastnn.__main__ import main
from fastnn.layers import (GRU, LSTM, BatchNormalization, Conv2D, Dense, Dropout, Flatten,
                           Layer, MaxPooling2D)
from fastnn.models import Sequential
from fastnn.plan.profile import Profile

from conftest import uniform


def small_cnn(fuse=True, optimizer="adam"):
    model = Sequential([Conv2D(4, 3, activation="relu", input_shape=(8, 7, 2)),
                        BatchNormalization(), MaxPooling2D(2), Flatten(), Dropout(0.5),
                        Dense(3, activation="softmax")])
    model.compile(optimizer, "sparse_categorical_crossentropy", fuse=fuse)
    return model


def data(samples=12, shape=(8, 7, 2)):
    rng = np.random.default_rng(0)
    return uniform(rng, (samples,) + shape), rng.integers(0, 3, samples)


def test_the_rows_follow_the_plan_in_order(fresh_session):
    model = small_cnn()
    x, y = data()
    profile = model.profile(x, y, batch_size=4, steps=3, warmup=1)
    assert isinstance(profile, Profile)
    plan = model.plan
    names = [(row.section, row.name) for row in profile.rows]
    assert names == ([("forward", step.name) for step in plan.forward_steps]
                     + [("loss", "softmax+crossentropy")]
                     + [("backward", step.name) for step in plan.backward_steps]
                     + [("optimizer", "Adam update"),
                        ("rest", "regularizers, Python between steps")])
    numbered = [row.number for row in profile.rows if row.number is not None]
    assert numbered == list(range(1, len(plan.forward_steps) + len(plan.backward_steps) + 2))
    assert all(row.ms >= 0 for row in profile.rows)
    assert sum(profile.percent(row) for row in profile.rows) == pytest.approx(100)
    text = str(profile)
    assert text.splitlines()[0] == (
        f"Profile of {model.name}: batch 4, median of 3 training steps after 1 warm-up, "
        f"{fastnn.get_num_threads()} thread{'s' * (fastnn.get_num_threads() != 1)}, "
        f"SIMD {fastnn.runtime.get_simd_path()}")
    for row in profile.rows:
        assert row.name in text
    assert "images/s" in text.splitlines()[-1]


def test_fuse_false_has_more_rows(fresh_session):
    x, y = data()
    fused = small_cnn().profile(x, y, batch_size=4, steps=1, warmup=0)
    plain = small_cnn(fuse=False).profile(x, y, batch_size=4, steps=1, warmup=0)
    assert len(plain.rows) > len(fused.rows)
    assert "relu" in [row.name for row in plain.rows]


class Sleeper(Layer):
    """The identity, 30 ms forward and 10 ms backward: a step of known cost."""

    def call(self, x, training=False):
        time.sleep(0.03)
        return x

    def call_backward(self, dz):
        time.sleep(0.01)
        return dz


def test_the_time_goes_to_the_step_that_takes_it(fresh_session):
    model = Sequential([Dense(4, input_shape=(3,)), Sleeper(), Dense(2)])
    model.compile("sgd", "mse")
    x, y = uniform(np.random.default_rng(1), (8, 3)), np.zeros((8, 2), np.float32)
    profile = model.profile(x, y, batch_size=8, steps=3, warmup=0)
    rows = {(row.section, row.name): row for row in profile.rows}
    forward, backward = rows["forward", "sleeper"], rows["backward", "sleeper backward"]
    assert 30 <= forward.ms < 300 and 10 <= backward.ms < 100
    assert profile.step_ms >= 40 and profile.images_per_second <= 8 / 0.04
    others = [row.ms for row in profile.rows if row not in (forward, backward)]
    assert max(others) < 10   # a Dense of 3 -> 4 on 8 rows: microseconds


def test_flops_are_counted_from_the_shapes(fresh_session):
    """conv: 2·N·out_h·out_w·kh·kw·in_c·out_c forward, once more for dW,
    again for dx; dense: 2·N·in·out likewise (its backward step with the sigmoid's
    derivative inside); nothing for the rest."""
    model = Sequential([Conv2D(4, 3, input_shape=(8, 7, 2)), Conv2D(5, (2, 3), strides=2),
                        Flatten(), Dense(6, activation="sigmoid")])
    model.compile("sgd", "mse")
    x = uniform(np.random.default_rng(2), (3, 8, 7, 2))
    profile = model.profile(x, np.zeros((3, 6), np.float32), batch_size=3, steps=1, warmup=0)
    conv = 2 * 3 * (6 * 5) * (3 * 3 * 2 * 4)          # 6x5 outputs, 3x3x2 -> 4
    conv_1 = 2 * 3 * (3 * 2) * (2 * 3 * 4 * 5)        # (6-2)//2+1 x (5-3)//2+1 outputs
    dense = 2 * 3 * (3 * 2 * 5) * 6
    flops = {(row.section, row.layers): row.flops for row in profile.rows}
    assert flops == {
        ("forward", "conv2d"): conv, ("forward", "conv2d_1"): conv_1,
        ("forward", "flatten"): None, ("forward", "dense"): dense,
        ("loss", "mean_squared_error"): None,
        ("backward", "dense"): 2 * dense, ("backward", "flatten"): None,
        ("backward", "conv2d_1"): 2 * conv_1,
        ("backward", "conv2d"): conv,                   # first layer: dW only
        ("optimizer", "6 weight arrays"): None, ("rest", ""): None}
    row = next(r for r in profile.rows if r.layers == "dense" and r.section == "forward")
    assert row.gflops() == pytest.approx(dense / (row.ms * 1e6))


def test_a_first_layer_with_its_pool_counts_the_convolution(fresh_session):
    """Conv2D(relu) + MaxPooling2D in one forward step, and the pooled weight
    gradient: each counts the convolution's 2·N·out_h·out_w·kh·kw·in_c·out_c."""
    model = Sequential([Conv2D(4, 3, activation="relu", input_shape=(8, 7, 2)),
                        MaxPooling2D(2), Flatten(), Dense(3)])
    model.compile("sgd", "mse")
    x = uniform(np.random.default_rng(2), (3, 8, 7, 2))
    profile = model.profile(x, np.zeros((3, 3), np.float32), batch_size=3, steps=1, warmup=0)
    conv = 2 * 3 * (6 * 5) * (3 * 3 * 2 * 4)
    flops = {(row.section, row.name): row.flops for row in profile.rows}
    assert flops["forward", "conv2d+bias+relu+max_pool"] == conv
    assert flops["backward", "pooled first-layer weight gradient"] == conv


def test_a_first_layer_with_its_activation_folded_in_counts_dw(fresh_session):
    """The first Conv2D's weight gradient through its activation: dW alone,
    2·N·out_h·out_w·kh·kw·in_c·out_c."""
    model = Sequential([Conv2D(4, 3, activation="tanh", input_shape=(8, 7, 2)), Flatten(),
                        Dense(3)])
    model.compile("sgd", "mse")
    x = uniform(np.random.default_rng(2), (3, 8, 7, 2))
    profile = model.profile(x, np.zeros((3, 3), np.float32), batch_size=3, steps=1, warmup=0)
    flops = {(row.section, row.name): row.flops for row in profile.rows}
    assert flops["backward", "conv2d dW, db through tanh"] == 2 * 3 * (6 * 5) * (3 * 3 * 2 * 4)


def test_recurrent_layers_count_both_kernels_at_every_step(fresh_session):
    """2·N·steps·(features + units)·G·units forward (x·W and h·U); backward
    dW and dU, the product through Uᵀ, and dx unless the layer is first."""
    model = Sequential([GRU(5, return_sequences=True, input_shape=(7, 3)), LSTM(4),
                        Dense(2)])
    model.compile("sgd", "mse")
    x = uniform(np.random.default_rng(3), (6, 7, 3))
    profile = model.profile(x, np.zeros((6, 2), np.float32), batch_size=6, steps=1, warmup=0)
    flops = {(row.section, row.layers): row.flops for row in profile.rows}
    gru_w, gru_u = 3 * 15, 5 * 15                     # kernel 3 x 3·5, recurrent 5 x 3·5
    lstm_w, lstm_u = 5 * 16, 4 * 16                   # kernel 5 x 4·4, recurrent 4 x 4·4
    assert flops[("forward", "gru")] == 2 * 6 * 7 * (gru_w + gru_u)
    assert flops[("forward", "lstm")] == 2 * 6 * 7 * (lstm_w + lstm_u)
    assert flops[("backward", "lstm")] == 2 * 6 * 7 * (2 * lstm_w + 2 * lstm_u)
    assert flops[("backward", "gru")] == 2 * 6 * 7 * (gru_w + 2 * gru_u)   # first: no dx


def test_the_model_is_left_as_it_was(fresh_session):
    """Weights, optimizer state, moving averages and the random generator:
    a fit after profiling is the fit without it."""
    x, y = data(16)
    profiled, control = small_cnn(), small_cnn()
    control.set_weights(profiled.get_weights())
    for model in (profiled, control):   # Adam's moments and the moving averages move
        random.set_seed(3)
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    before = profiled.get_weights()
    state = random.generator().bit_generator.state
    profiled.profile(x, y, batch_size=8, steps=2, warmup=1)
    for after, was in zip(profiled.get_weights(), before):
        np.testing.assert_array_equal(after, was)
    assert random.generator().bit_generator.state == state
    for model in (profiled, control):
        random.set_seed(5)
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    for a, b in zip(profiled.get_weights(), control.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_bad_arguments_are_named(fresh_session):
    x, y = data()
    model = small_cnn()
    with pytest.raises(ValueError, match="x has 12 samples, fewer than batch_size=13"):
        model.profile(x, y, batch_size=13)
    with pytest.raises(ValueError, match="steps"):
        model.profile(x, y, batch_size=4, steps=0)
    with pytest.raises(RuntimeError, match="compile your model before profile"):
        Sequential([Dense(2, input_shape=(3,))]).profile(x, y)


def test_the_command_line_profiles_the_demo_cnn(capsys):
    assert main(["profile", "--batch-size", "8", "--steps", "2", "--warmup", "0"]) == 0
    out = capsys.readouterr().out
    assert "Profile of demo_cnn: batch 8, median of 2 training steps" in out
    assert "pooled first-layer weight gradient" in out and "Adam update" in out
