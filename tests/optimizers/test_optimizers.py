"""Optimizers against independent float64 re-implementations of the Keras formulas.

Each reference below restates one update rule of keras-reference §6 in plain
float64 NumPy, one step at a time; fastnn's float32 in-place updates must
follow them over several steps with varying gradient sizes (so running
averages, maxima and bias corrections all matter).  We compare displacements
w - w0, so tiny steps (Adadelta) are checked as strictly as large ones.
"""
import json
import math

import numpy as np
import pytest

from fastnn import optimizers
from fastnn.optimizers import SGD, Adadelta, Adagrad, Adam, Adamax, Nadam, RMSprop
from fastnn.variables import Variable

SHAPES = [(3, 4), (5,)]
# Gradient scale per step: large and small in turn.
SCALES = [2.0, 0.1, 1.0, 0.01, 3.0, 0.5, 0.05, 1.0]


# ---- float64 references (g gradient, t step from 1, lr learning rate) -------------------

def sgd_ref(w, grads, lr, momentum=0.0, nesterov=False):
    m = np.zeros_like(w)
    for g in grads:
        m = momentum * m - lr * g
        w = w + (momentum * m - lr * g if nesterov else m)
    return w


def adam_ref(w, grads, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    m, v, v_max = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g * g
        v_max = np.maximum(v_max, v)
        alpha = lr * math.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
        w = w - alpha * m / (np.sqrt(v_max if amsgrad else v) + epsilon)
    return w


def rmsprop_ref(w, grads, lr, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    s, a, velocity = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    for g in grads:
        s = rho * s + (1 - rho) * g * g
        a = rho * a + (1 - rho) * g
        denominator = np.sqrt(s - a * a + epsilon) if centered else np.sqrt(s + epsilon)
        delta = lr * g / denominator
        if momentum:
            velocity = momentum * velocity + delta
            w = w - velocity
        else:
            w = w - delta
    return w


def adagrad_ref(w, grads, lr, initial_accumulator_value=0.1, epsilon=1e-7):
    accumulator = np.full_like(w, initial_accumulator_value)
    for g in grads:
        accumulator = accumulator + g * g
        w = w - lr * g / np.sqrt(accumulator + epsilon)
    return w


def adadelta_ref(w, grads, lr, rho=0.95, epsilon=1e-7):
    eg, ed = np.zeros_like(w), np.zeros_like(w)
    for g in grads:
        eg = rho * eg + (1 - rho) * g * g
        delta = -np.sqrt(ed + epsilon) / np.sqrt(eg + epsilon) * g
        ed = rho * ed + (1 - rho) * delta * delta
        w = w + lr * delta
    return w


def adamax_ref(w, grads, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    m, u = np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        m = beta_1 * m + (1 - beta_1) * g
        u = np.maximum(beta_2 * u, np.abs(g))
        w = w - lr * m / ((1 - beta_1 ** t) * (u + epsilon))
    return w


def nadam_ref(w, grads, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    m, v, product = np.zeros_like(w), np.zeros_like(w), 1.0
    for t, g in enumerate(grads, start=1):
        mu, mu_next = beta_1 * (1 - 0.5 * 0.96 ** t), beta_1 * (1 - 0.5 * 0.96 ** (t + 1))
        product *= mu
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g * g
        m_hat = mu_next * m / (1 - product * mu_next) + (1 - mu) * g / (1 - product)
        v_hat = v / (1 - beta_2 ** t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + epsilon)
    return w


# (optimizer class, its keyword arguments, reference, the reference's keyword arguments)
CASES = {
    "sgd": (SGD, {"learning_rate": 0.1}, sgd_ref, {}),
    "sgd-momentum": (SGD, {"learning_rate": 0.1, "momentum": 0.9}, sgd_ref, {"momentum": 0.9}),
    "sgd-nesterov": (SGD, {"learning_rate": 0.1, "momentum": 0.8, "nesterov": True}, sgd_ref,
                     {"momentum": 0.8, "nesterov": True}),
    "adam": (Adam, {"learning_rate": 0.05}, adam_ref, {}),
    "adam-amsgrad": (Adam, {"learning_rate": 0.05, "beta_2": 0.9, "amsgrad": True}, adam_ref,
                     {"beta_2": 0.9, "amsgrad": True}),
    "rmsprop": (RMSprop, {"learning_rate": 0.01}, rmsprop_ref, {}),
    "rmsprop-centered": (RMSprop, {"learning_rate": 0.01, "rho": 0.8, "centered": True},
                         rmsprop_ref, {"rho": 0.8, "centered": True}),
    "rmsprop-momentum": (RMSprop, {"learning_rate": 0.01, "momentum": 0.9}, rmsprop_ref,
                         {"momentum": 0.9}),
    "rmsprop-centered-momentum": (RMSprop, {"learning_rate": 0.01, "momentum": 0.5,
                                            "centered": True},
                                  rmsprop_ref, {"momentum": 0.5, "centered": True}),
    "adagrad": (Adagrad, {"learning_rate": 0.1}, adagrad_ref, {}),
    "adagrad-initial": (Adagrad, {"learning_rate": 0.1, "initial_accumulator_value": 1.5},
                        adagrad_ref, {"initial_accumulator_value": 1.5}),
    "adadelta": (Adadelta, {"learning_rate": 1.0}, adadelta_ref, {}),
    "adadelta-options": (Adadelta, {"learning_rate": 0.5, "rho": 0.5, "epsilon": 1e-4},
                         adadelta_ref, {"rho": 0.5, "epsilon": 1e-4}),
    "adamax": (Adamax, {"learning_rate": 0.05}, adamax_ref, {}),
    "adamax-betas": (Adamax, {"learning_rate": 0.05, "beta_1": 0.5, "beta_2": 0.9}, adamax_ref,
                     {"beta_1": 0.5, "beta_2": 0.9}),
    "nadam": (Nadam, {"learning_rate": 0.05}, nadam_ref, {}),
    "nadam-betas": (Nadam, {"learning_rate": 0.05, "beta_1": 0.7, "beta_2": 0.99}, nadam_ref,
                    {"beta_1": 0.7, "beta_2": 0.99}),
}
each_case = pytest.mark.parametrize("case", sorted(CASES))


def make_problem(seed=0, steps=len(SCALES)):
    """Float32 starting weights (one Variable per shape) and per-step gradients."""
    rng = np.random.default_rng(seed)
    variables = [Variable(f"w{i}", rng.normal(size=shape)) for i, shape in enumerate(SHAPES)]
    grads = [[(rng.normal(size=shape) * SCALES[k % len(SCALES)]).astype(np.float32)
              for shape in SHAPES] for k in range(steps)]
    return variables, grads


def run(optimizer, variables, grads):
    for step_grads in grads:
        optimizer.apply_gradients(list(zip(step_grads, variables)))


def assert_follows(variables, start, expected):
    """The float32 displacement equals the float64 reference's displacement."""
    for variable, w0, w in zip(variables, start, expected):
        assert variable.value.dtype == np.float32
        np.testing.assert_allclose(variable.value - w0, w - w0, rtol=1e-4, atol=1e-6)


# ---- update rules --------------------------------------------------------------------------

@each_case
def test_update_matches_reference(case):
    """50 steps (the gradient sizes of SCALES in turn)."""
    cls, kwargs, reference, ref_kwargs = CASES[case]
    variables, grads = make_problem(steps=50)
    start = [v.value.astype(np.float64) for v in variables]
    arrays = [v.value for v in variables]
    optimizer = cls(**kwargs)
    run(optimizer, variables, grads)
    lr = kwargs["learning_rate"]
    expected = [reference(w0, [np.float64(g[i]) for g in grads], lr, **ref_kwargs)
                for i, w0 in enumerate(start)]
    assert_follows(variables, start, expected)
    assert all(v.value is a for v, a in zip(variables, arrays)), "updates must be in place"
    assert optimizer.iterations == len(grads)


@each_case
def test_a_first_step_from_zero_is_the_float64_formula(case):
    """No rounding of w here, so every constant of the step shows: Adam took
    1 - β2 in float32 (1 - 0.999f is 1.3e-5 low) and its first steps were
    6.4e-6 too long.  Tolerance: eight float32 roundings (the worst uses 3.3)."""
    cls, kwargs, reference, ref_kwargs = CASES[case]
    _, grads = make_problem(steps=1)
    variables = [Variable(f"w{i}", np.zeros(shape)) for i, shape in enumerate(SHAPES)]
    run(cls(**kwargs), variables, grads)
    for i, variable in enumerate(variables):
        expected = reference(np.zeros(SHAPES[i]), [np.float64(grads[0][i])],
                             kwargs["learning_rate"], **ref_kwargs)
        np.testing.assert_allclose(variable.value, expected, rtol=8 * 2.0**-24, atol=0)


@pytest.mark.parametrize("cls, common, option", [
    (Adam, {"beta_2": 0.9}, {"amsgrad": True}),
    (RMSprop, {}, {"centered": True}),
    (RMSprop, {}, {"momentum": 0.9}),
    (SGD, {"momentum": 0.9}, {"nesterov": True})])
def test_options_change_the_result(cls, common, option):
    """Guards the reference comparison against an option being silently ignored."""
    results = []
    for options in ({}, option):
        variables, grads = make_problem()
        run(cls(learning_rate=0.05, **common, **options), variables, grads)
        results.append(variables[0].value)
    assert not np.allclose(results[0], results[1])


def test_defaults_follow_keras():
    assert SGD().get_config() == {"name": "SGD", "learning_rate": 0.01, "decay": 0.0,
                                  "clipnorm": None, "clipvalue": None, "momentum": 0.0,
                                  "nesterov": False}
    adam = Adam().get_config()
    assert (adam["learning_rate"], adam["beta_1"], adam["beta_2"], adam["epsilon"],
            adam["amsgrad"]) == (0.001, 0.9, 0.999, 1e-7, False)
    rms = RMSprop().get_config()
    assert (rms["learning_rate"], rms["rho"], rms["momentum"], rms["epsilon"],
            rms["centered"]) == (0.001, 0.9, 0.0, 1e-7, False)
    assert Adagrad().get_config()["initial_accumulator_value"] == 0.1
    assert Adadelta().get_config()["rho"] == 0.95
    for cls in (Adagrad, Adadelta, Adamax, Nadam):
        assert cls().learning_rate == 0.001
        assert cls().get_config()["epsilon"] == 1e-7


# ---- learning rate (course chapters 7 and 9) -----------------------------------------------

def test_lr_is_an_alias_of_learning_rate():
    adam = Adam(lr=0.0001)                      # chapter 7
    assert adam.learning_rate == adam.lr == 0.0001
    assert Adam(learning_rate=0.5).lr == 0.5
    with pytest.raises(TypeError, match="not both"):
        Adam(learning_rate=0.01, lr=0.01)
    with pytest.raises(TypeError, match="not both"):
        Adam(learning_rate=0.001, lr=0.01)      # even when learning_rate equals the default


@pytest.mark.parametrize("attribute", ["lr", "learning_rate"])
def test_assigning_the_rate_takes_effect_at_the_next_step(attribute):
    """``model.optimizer.lr = 0.01`` (chapter 9)."""
    w = Variable("w", np.zeros(2))
    sgd = SGD(lr=0.0001)
    g = np.ones(2, np.float32)
    sgd.apply_gradients([(g, w)])
    setattr(sgd, attribute, 0.01)
    assert sgd.lr == sgd.learning_rate == 0.01
    sgd.apply_gradients([(g, w)])
    np.testing.assert_allclose(w.value, -(0.0001 + 0.01), rtol=1e-6)


def test_decay_divides_the_rate_by_one_plus_decay_times_iterations():
    w = Variable("w", np.zeros(1))
    sgd = SGD(learning_rate=0.1, decay=0.5)
    for _ in range(4):
        sgd.apply_gradients([(np.ones(1, np.float32), w)])
    expected = -sum(0.1 / (1 + 0.5 * k) for k in range(4))
    np.testing.assert_allclose(w.value, expected, rtol=1e-6)
    assert sgd.learning_rate == 0.1                # decay does not rewrite the base rate


def test_learning_rate_schedule_is_called_with_the_step_count():
    w = Variable("w", np.zeros(1))
    sgd = SGD(learning_rate=lambda step: 0.1 * 0.5 ** step)
    assert sgd.learning_rate == 0.1
    for _ in range(3):
        sgd.apply_gradients([(np.ones(1, np.float32), w)])
    np.testing.assert_allclose(w.value, -(0.1 + 0.05 + 0.025), rtol=1e-6)
    assert sgd.learning_rate == pytest.approx(0.0125)
    assert json.loads(json.dumps(sgd.get_config()))["learning_rate"] == pytest.approx(0.0125)


# ---- clipping ------------------------------------------------------------------------------

def clip_by_norm(g, clipnorm):
    norm = np.sqrt(np.sum(g * g))
    return g * clipnorm / norm if norm > clipnorm else g


@pytest.mark.parametrize("cls, reference", [(SGD, sgd_ref), (Adam, adam_ref)])
@pytest.mark.parametrize("clip", [{"clipnorm": 1.0}, {"clipvalue": 0.3},
                                  {"clipnorm": 2.0, "clipvalue": 0.3}])
def test_gradients_are_clipped_before_the_update(cls, reference, clip):
    variables, grads = make_problem()
    originals = [[g.copy() for g in step] for step in grads]
    start = [v.value.astype(np.float64) for v in variables]
    run(cls(learning_rate=0.05, **clip), variables, grads)

    def clipped(g):
        if "clipnorm" in clip:
            g = clip_by_norm(g, clip["clipnorm"])
        if "clipvalue" in clip:
            g = np.clip(g, -clip["clipvalue"], clip["clipvalue"])
        return g

    expected = [reference(w0, [clipped(np.float64(g[i])) for g in grads], 0.05)
                for i, w0 in enumerate(start)]
    assert_follows(variables, start, expected)
    for step, original in zip(grads, originals):
        for g, g0 in zip(step, original):
            np.testing.assert_array_equal(g, g0)   # the caller's gradients are untouched


def test_clipnorm_is_per_tensor():
    small, large = Variable("small", np.zeros(2)), Variable("large", np.zeros(2))
    SGD(learning_rate=1.0, clipnorm=1.0).apply_gradients(
        [(np.array([0.3, 0.4], np.float32), small), (np.array([3.0, 4.0], np.float32), large)])
    np.testing.assert_allclose(small.value, [-0.3, -0.4], rtol=1e-6)   # norm 0.5: unchanged
    np.testing.assert_allclose(large.value, [-0.6, -0.8], rtol=1e-6)   # norm 5 -> 1


# ---- apply_gradients contract --------------------------------------------------------------

def test_none_gradients_are_skipped_and_iterations_count_calls():
    a, b = Variable("a", np.ones(2)), Variable("b", np.ones(2))
    adam = Adam()
    adam.apply_gradients([(np.ones(2, np.float32), a), (None, b)])
    adam.apply_gradients([(None, a), (None, b)])
    assert adam.iterations == 2
    np.testing.assert_array_equal(b.value, 1.0)
    assert a.value[0] < 1.0


def test_state_is_created_lazily_per_variable():
    a, b = Variable("a", np.ones(2)), Variable("b", np.ones(3))
    adam = Adam()
    adam.apply_gradients([(np.ones(2, np.float32), a)])
    assert list(adam._slots) == [a]
    adam.apply_gradients([(np.ones(2, np.float32), a), (np.ones(3, np.float32), b)])
    assert list(adam._slots) == [a, b]


def test_gradient_shape_must_match_the_variable():
    w = Variable("kernel", np.zeros((2, 3)))
    with pytest.raises(ValueError, match="kernel"):
        SGD().apply_gradients([(np.ones(3, np.float32), w)])


def test_float64_gradients_keep_the_weights_float32():
    w = Variable("w", np.ones(3))
    Adam().apply_gradients([(np.ones(3, np.float64), w)])
    assert w.value.dtype == np.float32


# ---- saving and resuming -------------------------------------------------------------------

@each_case
@pytest.mark.parametrize("decay", [0.0, 0.1])
def test_restored_state_resumes_training_exactly(case, decay):
    """N steps, save, restore into a fresh optimizer, M steps == N + M steps straight."""
    cls, kwargs, _, _ = CASES[case]
    n, m = 5, 4
    straight, grads = make_problem(seed=3, steps=n + m)
    resumed, _ = make_problem(seed=3, steps=n + m)
    run(cls(decay=decay, **kwargs), straight, grads)

    first = cls(decay=decay, **kwargs)
    run(first, resumed, grads[:n])
    config = json.loads(json.dumps(first.get_config()))
    state = first.state_arrays(resumed)
    assert state[0] == n
    copies = [Variable(v.name, v.value) for v in resumed]
    second = cls.from_config(config)
    second.load_state_arrays(copies, state)
    run(second, copies, grads[n:])
    for a, b in zip(straight, copies):
        np.testing.assert_array_equal(a.value, b.value)
    assert second.iterations == n + m


def test_state_arrays_order_is_iterations_then_slots_per_variable():
    a, b = Variable("a", np.ones(2)), Variable("b", np.ones(3))
    adam = Adam(amsgrad=True)
    adam.apply_gradients([(np.ones(3, np.float32), b)])       # a has no slots yet
    state = adam.state_arrays([a, b])
    assert [s.shape for s in state] == [(), (2,), (2,), (2,), (3,), (3,), (3,)]
    assert int(state[0]) == 1
    np.testing.assert_array_equal(state[1], 0.0)               # a's fresh momentum
    np.testing.assert_allclose(state[4], 0.1)                  # b's momentum after one step
    state[4][...] = 99.0                                        # copies, not the live slots
    assert adam.state_arrays([a, b])[4][0] == pytest.approx(0.1)
    assert [s.shape for s in Adagrad().state_arrays([a])] == [(), (2,)]
    np.testing.assert_allclose(Adagrad().state_arrays([a])[1], 0.1)


def test_load_state_arrays_checks_count_and_shapes():
    a = Variable("a", np.ones(2))
    adam = Adam()
    with pytest.raises(ValueError, match="expected 3 state arrays"):
        adam.load_state_arrays([a], [np.array(0)])
    with pytest.raises(ValueError, match="shape"):
        adam.load_state_arrays([a], [np.array(0), np.zeros(3), np.zeros(2)])
    assert adam.iterations == 0                                 # nothing half-loaded


@pytest.mark.parametrize("cls", [SGD, Adam, RMSprop, Adagrad, Adadelta, Adamax, Nadam])
def test_config_round_trip(cls):
    optimizer = cls(lr=0.25, decay=0.01, clipnorm=1.5, name="mine")
    config = json.loads(json.dumps(optimizer.get_config()))
    assert config["name"] == "mine" and config["learning_rate"] == 0.25
    assert isinstance(config["learning_rate"], float)
    clone = cls.from_config(config)
    assert type(clone) is cls and clone.get_config() == config


# ---- convergence -----------------------------------------------------------------------------

@pytest.mark.parametrize("optimizer", [
    SGD(learning_rate=0.05, momentum=0.9), SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
    Adam(learning_rate=0.05), Adam(learning_rate=0.05, amsgrad=True),
    RMSprop(learning_rate=0.01), RMSprop(learning_rate=0.01, centered=True, momentum=0.5),
    Adagrad(learning_rate=0.5), Adadelta(learning_rate=1.0, epsilon=1e-4),
    Adamax(learning_rate=0.05), Nadam(learning_rate=0.05)], ids=lambda o: repr(o))
def test_minimises_an_ill_conditioned_quadratic(optimizer):
    """f(w) = ½ Σ a_i (w_i - c_i)², curvatures 1 and 20: every optimizer finds c."""
    a = np.array([1.0, 20.0], np.float32)
    c = np.array([3.0, -2.0], np.float32)
    w = Variable("w", np.zeros(2))

    def loss():
        return 0.5 * float(np.sum(a * (w.value - c) ** 2))

    start = loss()
    for _ in range(1500):
        optimizer.apply_gradients([(a * (w.value - c), w)])
    assert loss() < 1e-3 * start


# ---- threads -----------------------------------------------------------------------------

@each_case
def test_training_gives_the_same_bits_on_one_and_two_threads(case, restore_threads):
    """A Dense layer of 50,000 weights: its update is split between threads."""
    from fastnn.layers import Dense
    from fastnn.models import Sequential
    from fastnn.runtime import get_num_threads, set_num_threads
    from fastnn.utils import set_random_seed

    cls, kwargs, _, _ = CASES[case]
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(64, 200)).astype(np.float32), rng.integers(0, 4, 64)
    weights = {}
    for threads in (1, 2):
        set_num_threads(threads)
        if get_num_threads() != threads:
            pytest.skip("built without OpenMP: the kernels run on one thread")
        set_random_seed(0)
        model = Sequential([Dense(250, activation="relu", input_shape=(200,)),
                            Dense(4, activation="softmax")])
        model.compile(cls(**kwargs), "sparse_categorical_crossentropy")
        start = model.get_weights()
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        weights[threads] = model.get_weights()
    assert not np.array_equal(weights[1][0], start[0])
    for one, two in zip(weights[1], weights[2]):
        assert one.tobytes() == two.tobytes()


# ---- get() and argument checks ------------------------------------------------------------------

@pytest.mark.parametrize("name, cls", [("sgd", SGD), ("Adam", Adam), ("RMSPROP", RMSprop),
                                       ("adagrad", Adagrad), ("adadelta", Adadelta),
                                       ("adamax", Adamax), ("Nadam", Nadam)])
def test_get_by_name_is_case_insensitive(name, cls):
    optimizer = optimizers.get(name)
    assert type(optimizer) is cls and optimizer.iterations == 0
    assert optimizers.get(name) is not optimizer                   # a new instance each time


def test_get_returns_instances_unchanged_and_builds_from_dicts():
    adam = Adam(lr=0.0001)
    assert optimizers.get(adam) is adam
    sgd = optimizers.get({"class_name": "SGD", "config": {"learning_rate": 0.3, "momentum": 0.5}})
    assert isinstance(sgd, SGD) and sgd.learning_rate == 0.3 and sgd.momentum == 0.5
    assert isinstance(optimizers.get({"class_name": "adam"}), Adam)


@pytest.mark.parametrize("identifier", ["adamw", "", {"class_name": "Foo"}, {"config": {}},
                                        None, 3])
def test_get_rejects_unknown_identifiers_listing_the_valid_names(identifier):
    with pytest.raises(ValueError, match="sgd, adam, rmsprop, adagrad, adadelta, adamax, nadam"):
        optimizers.get(identifier)


def test_unknown_keywords_are_named_in_the_error():
    with pytest.raises(TypeError, match="'betaa'"):
        Adam(betaa=0.9)
    with pytest.raises(TypeError, match="'weight_decay'"):
        SGD(momentum=0.9, weight_decay=0.1)


@pytest.mark.parametrize("make", [
    lambda: SGD(learning_rate=-0.1), lambda: SGD(lr="fast"), lambda: SGD(momentum=1.5),
    lambda: Adam(beta_1=1.0), lambda: Adam(beta_2=-0.1), lambda: RMSprop(rho=float("nan")),
    lambda: Adagrad(initial_accumulator_value=-1), lambda: Adam(decay=-1),
    lambda: Adam(clipnorm=-1.0), lambda: Nadam(epsilon=True)])
def test_invalid_settings_raise_value_error(make):
    with pytest.raises(ValueError):
        make()

