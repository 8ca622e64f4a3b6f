"""The optimizer kernels (csrc/optimizer.c) against Keras's formulas in float64.

Every rule with every option runs 50 steps -- gradients large and small in
turn, so running averages, maxima and bias corrections all matter -- with
each implementation, on each SIMD path and on 1, 2 and 3 threads, and must
follow the float64 reference below: keras-reference §6 restated step by
step, the bias corrections written out as Keras writes them (not folded into
one rate as the kernels take them).

Tolerance.  The weights stay float32, so each step rounds w once (half an
ulp of |w|, a random walk over the steps) and the step itself carries a few
float32 roundings (relative 1e-6 or so, growing slowly through the running
averages): the bound is ``ROUNDS * ulp(|w|) + STEP_RTOL * (sum of |step|
over the steps)`` per weight.  The worst weight of all cases uses about half
of it.  A first step from w = 0 involves no rounding of w, so there the
tolerance is eight float32 roundings of the step alone (``FIRST_STEP_RTOL``;
the worst case uses 3.3).
"""
import math

import numpy as np
import pytest

import fastnn
from fastnn.kernels import UpdateRule
from fastnn.kernels._native import native
from fastnn.kernels.optimizer import RULES

from conftest import each_simd_path, simd_path

STEPS = 50
SCALES = [2.0, 0.1, 1.0, 0.01, 3.0, 0.5, 0.05, 1.0]   # gradient size per step, in turn
ROUNDS = 10
STEP_RTOL = 1e-5
FIRST_STEP_RTOL = 8 * 2.0**-24
THREAD_COUNTS = (1, 2, 3)

# (rule, settings, learning rate): every rule, every option
CASES = {
    "sgd": ("sgd", {}, 0.1),
    "sgd-momentum": ("sgd", {"momentum": 0.9}, 0.1),
    "sgd-nesterov": ("sgd", {"momentum": 0.8, "nesterov": True}, 0.1),
    "adam": ("adam", {}, 0.01),
    "adam-amsgrad": ("adam", {"beta_2": 0.9, "amsgrad": True}, 0.01),
    "rmsprop": ("rmsprop", {}, 0.01),
    "rmsprop-centered": ("rmsprop", {"rho": 0.8, "centered": True}, 0.01),
    "rmsprop-momentum": ("rmsprop", {"momentum": 0.9}, 0.01),
    "rmsprop-centered-momentum": ("rmsprop", {"momentum": 0.5, "centered": True}, 0.01),
    "adagrad": ("adagrad", {}, 0.1),
    "adadelta": ("adadelta", {}, 1.0),
    "adadelta-options": ("adadelta", {"rho": 0.5, "epsilon": 1e-4}, 0.5),
    "adamax": ("adamax", {}, 0.01),
    "adamax-betas": ("adamax", {"beta_1": 0.5, "beta_2": 0.9}, 0.01),
    "nadam": ("nadam", {}, 0.01),
    "nadam-betas": ("nadam", {"beta_1": 0.7, "beta_2": 0.99}, 0.01),
}
each_case = pytest.mark.parametrize("case", sorted(CASES))


# ---- the float64 reference: Keras's formulas, one step at a time ------------------------

def keras_steps(rule, settings, lr, w, grads, initial_accumulator=0.1):
    """w after len(grads) steps, and the sum of |step| per weight (float64)."""
    s = {**RULES[rule][1], **settings}
    w = w.astype(np.float64)
    zeros = np.zeros_like(w)
    m, v, v_max, a, velocity, product = zeros, zeros, zeros, zeros, zeros, 1.0
    accumulator = np.full_like(w, initial_accumulator)
    path = np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        g = g.astype(np.float64)
        before = w
        if rule == "sgd":
            if s["momentum"] > 0:
                m = s["momentum"] * m - lr * g
                w = w + (s["momentum"] * m - lr * g if s["nesterov"] else m)
            else:
                w = w - lr * g
        elif rule == "adam":
            m = s["beta_1"] * m + (1 - s["beta_1"]) * g
            v = s["beta_2"] * v + (1 - s["beta_2"]) * g * g
            v_max = np.maximum(v_max, v)
            alpha = lr * math.sqrt(1 - s["beta_2"] ** t) / (1 - s["beta_1"] ** t)
            w = w - alpha * m / (np.sqrt(v_max if s["amsgrad"] else v) + s["epsilon"])
        elif rule == "rmsprop":
            v = s["rho"] * v + (1 - s["rho"]) * g * g
            a = s["rho"] * a + (1 - s["rho"]) * g
            spread = v - a * a if s["centered"] else v
            delta = lr * g / np.sqrt(spread + s["epsilon"])
            if s["momentum"] > 0:
                velocity = s["momentum"] * velocity + delta
                delta = velocity
            w = w - delta
        elif rule == "adagrad":
            accumulator = accumulator + g * g
            w = w - lr * g / np.sqrt(accumulator + s["epsilon"])
        elif rule == "adadelta":
            m = s["rho"] * m + (1 - s["rho"]) * g * g                  # E[g²]
            delta = -np.sqrt(v + s["epsilon"]) / np.sqrt(m + s["epsilon"]) * g
            v = s["rho"] * v + (1 - s["rho"]) * delta * delta          # E[Δ²]
            w = w + lr * delta
        elif rule == "adamax":
            m = s["beta_1"] * m + (1 - s["beta_1"]) * g
            v = np.maximum(s["beta_2"] * v, np.abs(g))                 # u
            w = w - lr * m / ((1 - s["beta_1"] ** t) * (v + s["epsilon"]))
        elif rule == "nadam":
            mu = s["beta_1"] * (1 - 0.5 * 0.96 ** t)
            mu_next = s["beta_1"] * (1 - 0.5 * 0.96 ** (t + 1))
            product *= mu
            m = s["beta_1"] * m + (1 - s["beta_1"]) * g
            v = s["beta_2"] * v + (1 - s["beta_2"]) * g * g
            m_hat = mu_next * m / (1 - product * mu_next) + (1 - mu) * g / (1 - product)
            v_hat = v / (1 - s["beta_2"] ** t)
            w = w - lr * m_hat / (np.sqrt(v_hat) + s["epsilon"])
        path += np.abs(w - before)
    return w, path


def step_numbers(rule, settings, lr, t, product):
    """The kernel's per-step numbers (rate, rate_g, v_scale) for step t, and the new P_t."""
    s = {**RULES[rule][1], **settings}
    if rule == "adam":
        return (lr * math.sqrt(1 - s["beta_2"] ** t) / (1 - s["beta_1"] ** t),), product
    if rule == "adamax":
        return (lr / (1 - s["beta_1"] ** t),), product
    if rule == "nadam":
        mu = s["beta_1"] * (1 - 0.5 * 0.96 ** t)
        mu_next = s["beta_1"] * (1 - 0.5 * 0.96 ** (t + 1))
        product *= mu
        return (lr * mu_next / (1 - product * mu_next), lr * (1 - mu) / (1 - product),
                1 / math.sqrt(1 - s["beta_2"] ** t)), product
    return (lr,), product


def new_slots(update, w, initial_accumulator=0.1):
    fill = initial_accumulator if update.rule == "adagrad" else 0.0
    return tuple(np.full_like(w, fill) for _ in update.slot_names)


def run_kernel(case, w, grads, impl="fast"):
    """w (a copy) and its slots after one kernel call per gradient of ``grads``."""
    rule, settings, lr = CASES[case]
    update = UpdateRule(rule, **settings)
    w = w.copy()
    slots = new_slots(update, w)
    product = 1.0
    for t, g in enumerate(grads, start=1):
        numbers, product = step_numbers(rule, settings, lr, t, product)
        update.apply([w], [g], [slots], *numbers, impl=impl)
    return w, slots


def problem(size, seed=0, steps=STEPS):
    """Float32 starting weights and ``steps`` gradients of changing size."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=size).astype(np.float32)
    grads = [(rng.normal(size=size) * SCALES[k % len(SCALES)]).astype(np.float32)
             for k in range(steps)]
    return w, grads


def assert_follows_keras(case, got, w0, grads, what=""):
    """``got`` (float32) is w0 after ``grads`` by Keras's formulas, within rounding."""
    assert got.dtype == np.float32
    rule, settings, lr = CASES[case]
    want, path = keras_steps(rule, settings, lr, w0, grads)
    bound = ROUNDS * np.spacing(np.abs(want).astype(np.float32)) + STEP_RTOL * path
    error = np.abs(got - want)
    worst = int(np.argmax(error - bound))
    assert np.all(error <= bound), (
        f"{case}{what}: weight {worst} is {got[worst]!r}, Keras's formulas give "
        f"{want[worst]!r} (error {error[worst]:.3g} > bound {bound[worst]:.3g})")


# ---- every rule, option and implementation -----------------------------------------------

@each_case
@pytest.mark.parametrize("impl", ["fast", "naive", "numpy"])
def test_fifty_steps_follow_keras_in_float64(case, impl):
    w0, grads = problem(1001)                                 # odd: no vector comes out even
    w, _ = run_kernel(case, w0, grads, impl)
    assert_follows_keras(case, w, w0, grads)


@each_case
@pytest.mark.parametrize("impl", ["fast", "naive", "numpy"])
def test_a_first_step_from_zero_is_the_float64_formula(case, impl):
    """Every per-step number counts here, e.g. Adam's 1 - β2 taken in float32
    (1 - 0.999f is 1.3e-5 low, so the first steps were 6.4e-6 too long)."""
    _, grads = problem(257)
    w0 = np.zeros(257, np.float32)
    w, _ = run_kernel(case, w0, grads[:1], impl)
    rule, settings, lr = CASES[case]
    want, _ = keras_steps(rule, settings, lr, w0, grads[:1])
    np.testing.assert_allclose(w, want, rtol=FIRST_STEP_RTOL, atol=0)


@pytest.fixture(scope="module")
def large_problem():
    """Above every split threshold: 10 operations per weight, 3 threads from 60,000 weights."""
    return problem(100_003, seed=1)


@each_simd_path
@each_case
def test_every_path_and_thread_count_follows_keras_with_the_same_bits(
        case, simd, large_problem, restore_threads):
    w0, grads = large_problem
    grads = grads[:10]
    results = {}
    with simd_path(simd):
        for threads in THREAD_COUNTS:
            fastnn.set_num_threads(threads)
            if fastnn.get_num_threads() != threads:
                pytest.skip("built without OpenMP: the kernels run on one thread")
            results[threads] = run_kernel(case, w0, grads)
    assert_follows_keras(case, results[3][0], w0, grads, f" [{simd}, 3 threads]")
    for threads in THREAD_COUNTS[1:]:
        for got, one in zip((results[threads][0], *results[threads][1]),
                            (results[1][0], *results[1][1])):
            assert got.tobytes() == one.tobytes(), \
                f"{case} [{simd}]: {threads} threads give other bits than 1 thread"
    assert results[3][0][-1] != w0[-1], "the last weight did not move"


# ---- the arrays: several at once, any shape, none left half updated ----------------------

def fresh(update, shapes, seed=0):
    rng = np.random.default_rng(seed)
    ws = [rng.normal(size=shape).astype(np.float32) for shape in shapes]
    gs = [rng.normal(size=shape).astype(np.float32) for shape in shapes]
    return ws, gs, [new_slots(update, w) for w in ws]


@pytest.mark.parametrize("impl", ["fast", "naive", "numpy"])
@pytest.mark.parametrize("case", ["adam-amsgrad", "rmsprop-centered-momentum", "nadam"])
def test_many_arrays_in_one_call_equal_one_call_each(case, impl):
    rule, settings, lr = CASES[case]
    update = UpdateRule(rule, **settings)
    numbers, _ = step_numbers(rule, settings, lr, 1, 1.0)
    shapes = [(3, 16), (16,), (0,), (16, 32), (32,), (5, 5, 1, 4)]
    together, alone = fresh(update, shapes), fresh(update, shapes)
    update.apply(*together, *numbers, impl=impl)
    for w, g, slots in zip(*alone):
        update.apply([w], [g], [slots], *numbers, impl=impl)
    for got, want in zip(together[0] + [s for slots in together[2] for s in slots],
                         alone[0] + [s for slots in alone[2] for s in slots]):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(together[0][0], fresh(update, shapes)[0][0])  # w did move


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_slot_count_of_c_and_python_agree(case):
    rule, settings, _ = CASES[case]
    update = UpdateRule(rule, **settings)
    assert native.update_slots(update._native) == len(update.slot_names)


def test_slot_names_are_the_keras_ones_in_kernel_order():
    assert UpdateRule("sgd").slot_names == ()
    assert UpdateRule("sgd", momentum=0.5, nesterov=True).slot_names == ("momentum",)
    assert UpdateRule("adam", amsgrad=True).slot_names == ("momentum", "velocity",
                                                            "velocity_hat")
    assert UpdateRule("rmsprop", momentum=0.1, centered=True).slot_names == (
        "velocity", "average_gradient", "momentum")
    assert UpdateRule("adadelta").slot_names == ("accumulated_grad", "accumulated_delta_var")


# ---- bad input: named, and refused before any weight changes ------------------------------

@pytest.mark.parametrize("make, message", [
    (lambda: UpdateRule("adamw"), "unknown rule 'adamw'; valid rules: sgd, adam, rmsprop"),
    (lambda: UpdateRule("adam", rho=0.9), "adam takes the settings beta_1, beta_2, epsilon, "
                                          "amsgrad; got 'rho'"),
    (lambda: UpdateRule("adam", beta_1=1.0), r"adam beta_1 must be a number in \[0, 1\), got 1.0"),
    (lambda: UpdateRule("rmsprop", rho=float("nan")), "rmsprop rho must be a number in"),
    (lambda: UpdateRule("sgd", momentum=1.5), r"sgd momentum must be a number in \[0, 1\]"),
    (lambda: UpdateRule("adagrad", epsilon=-1e-7), "adagrad epsilon must be a finite number >= 0"),
    (lambda: UpdateRule("sgd", nesterov="yes"), "sgd nesterov must be True or False, got 'yes'"),
])
def test_bad_settings_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def arrays_for(rule="adam", shapes=((4, 3), (6,))):
    update = UpdateRule(rule)
    ws, gs, slots = fresh(update, shapes)
    return update, ws, gs, [list(s) for s in slots]


def bad_call(change):
    """(update, ws, gs, slots, rate, kwargs) for Adam with one thing spoiled by ``change``."""
    update, ws, gs, slots = arrays_for()
    call = {"ws": ws, "gs": gs, "slots": slots, "rate": 1e-3, "kwargs": {}}
    change(call)
    return update, call


def set_slot(i, k, value):
    def change(call):
        call["slots"][i][k] = value
    return change


def set_w(i, value):
    def change(call):
        call["ws"][i] = value
    return change


BAD_CALLS = {
    "lengths": (lambda c: c["gs"].pop(), "ws, gs and slots must be lists of one length, got 2, 1, 2"),
    "slot count": (lambda c: c["slots"][1].pop(), "variable 1 has 1 slot arrays, but this rule "
                                                  "keeps 2: momentum, velocity"),
    "slot shape": (set_slot(0, 1, np.zeros((3, 4), np.float32)),
                   r"slot 'velocity' of variable 0 must have the shape of w \(4, 3\), got \(3, 4\)"),
    "g shape": (lambda c: c["gs"].__setitem__(1, np.zeros(5, np.float32)),
                r"g of variable 1 must have the shape of w \(6,\), got \(5,\)"),
    "float64 slot": (set_slot(1, 0, np.zeros(6)), "slot 'momentum' of variable 1 must be a "
                                                  "writeable C-contiguous float32 array"),
    "strided w": (set_w(0, np.zeros((4, 6), np.float32)[:, ::2]),
                  "w of variable 0 must be a writeable C-contiguous float32 array"),
    "read-only w": (lambda c: c["ws"][1].setflags(write=False),
                    "w of variable 1 must be a writeable C-contiguous float32"),
    "slot is w": (lambda c: set_slot(1, 1, c["ws"][1])(c),
                  "w and slot 'velocity' of variable 1 share memory"),
    "slot is g": (lambda c: set_slot(0, 0, c["gs"][0])(c),
                  "g and slot 'momentum' of variable 0 share memory"),
    "rate": (lambda c: c.update(rate=float("inf")), "adam_update: rate must be a finite number, "
                                                    "got inf"),
    "nadam numbers": (lambda c: c["kwargs"].update(rate_g=0.1, v_scale=1.0),
                      "rate_g and v_scale are Nadam's numbers; this rule takes only rate"),
    "impl": (lambda c: c["kwargs"].update(impl="blas"), "impl must be one of"),
}


@pytest.mark.parametrize("impl", ["fast", "naive"])
@pytest.mark.parametrize("bad", sorted(BAD_CALLS))
def test_bad_arrays_are_named_before_any_update(bad, impl):
    change, message = BAD_CALLS[bad]
    update, call = bad_call(change)
    before = [w.copy() for w in call["ws"]] + [s.copy() for slots in call["slots"] for s in slots]
    kwargs = {"impl": impl, **call["kwargs"]}
    with pytest.raises(ValueError, match=message):
        update.apply(call["ws"], call["gs"], call["slots"], call["rate"], **kwargs)
    after = list(call["ws"]) + [s for slots in call["slots"] for s in slots]
    for a, b in zip(after, before):
        np.testing.assert_array_equal(a, b)


def test_nadam_needs_its_numbers():
    update = UpdateRule("nadam")
    ws, gs, slots = fresh(update, [(3,)])
    with pytest.raises(ValueError, match="nadam_update: rate_g must be a finite number, got None"):
        update.apply(ws, gs, slots, 1e-3)


def test_gradients_of_other_layouts_and_dtypes_give_the_same_numbers():
    update = UpdateRule("rmsprop", centered=True)
    ws, gs, slots = fresh(update, [(4, 6)])
    twins = fresh(update, [(4, 6)])
    update.apply(ws, [np.asfortranarray(gs[0]).astype(np.float64)], slots, 1e-2)
    update.apply(*twins, 1e-2)
    np.testing.assert_array_equal(ws[0], twins[0][0])
