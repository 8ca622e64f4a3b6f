"""Initializers: fans, the documented distributions (statistics of large seeded draws), seeds."""
import math

import numpy as np
import pytest

from fastnn import initializers, utils

DENSE = (300, 500)          # fan_in 300, fan_out 500
CONV = (3, 3, 40, 80)       # fan_in 360, fan_out 720


@pytest.mark.parametrize("shape, fans", [
    ((), (1, 1)), ((7,), (7, 7)), ((3, 4), (3, 4)), ((5, 16, 32), (80, 160)),
    ((3, 3, 2, 8), (18, 72)), ((2, 3, 3, 4, 5), (72, 90)),
])
def test_compute_fans(shape, fans):
    assert initializers.compute_fans(shape) == fans


def test_truncation_constant_is_the_std_of_a_normal_cut_at_two_sigma():
    phi2 = math.exp(-2.0) / math.sqrt(2 * math.pi)          # density at 2
    mass = math.erf(2 / math.sqrt(2))                       # P(|z| <= 2)
    assert math.sqrt(1 - 4 * phi2 / mass) == pytest.approx(initializers.TRUNCATED_NORMAL_STDDEV,
                                                           rel=1e-15)


def _expected(name, fan_in, fan_out):
    """(largest possible |w|, standard deviation) the reference prescribes."""
    n = {"glorot": (fan_in + fan_out) / 2, "he": fan_in, "lecun": fan_in}[name.split("_")[0]]
    scale = 2.0 if name.startswith("he") else 1.0
    std = math.sqrt(scale / n)
    if name.endswith("uniform"):
        return math.sqrt(3) * std, std                          # U(±limit) has std limit/√3
    return 2 * std / initializers.TRUNCATED_NORMAL_STDDEV, std  # cut at 2σ of the normal drawn


@pytest.mark.parametrize("shape", [DENSE, CONV], ids=["dense", "conv"])
@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                                  "lecun_uniform", "lecun_normal"])
def test_variance_scaling_statistics(name, shape):
    utils.set_random_seed(123)
    w = initializers.get(name)(shape)
    assert w.dtype == np.float32 and w.shape == shape
    bound, std = _expected(name, *initializers.compute_fans(shape))
    if name == "glorot_uniform":   # the documented form √(6 / (fan_in + fan_out))
        assert bound == pytest.approx(math.sqrt(6 / sum(initializers.compute_fans(shape))))
    assert np.abs(w).max() <= bound * (1 + 1e-6)
    assert np.abs(w).max() > 0.98 * bound                    # the whole range is used
    assert w.std() == pytest.approx(std, rel=0.02)
    assert abs(w.mean()) < 5 * std / math.sqrt(w.size)


def test_fixed_distributions():
    utils.set_random_seed(7)
    normal = initializers.RandomNormal()(DENSE)
    assert normal.mean() == pytest.approx(0.0, abs=5 * 0.05 / math.sqrt(normal.size))
    assert normal.std() == pytest.approx(0.05, rel=0.02)
    shifted = initializers.RandomNormal(mean=3.0, stddev=0.5)(DENSE)
    assert shifted.mean() == pytest.approx(3.0, abs=0.01)
    uniform = initializers.RandomUniform()(DENSE)
    assert uniform.min() >= -0.05 and uniform.max() <= 0.05
    assert uniform.std() == pytest.approx(0.1 / math.sqrt(12), rel=0.02)
    truncated = initializers.TruncatedNormal()(DENSE)
    assert np.abs(truncated).max() <= 0.1 and np.abs(truncated).max() > 0.099
    assert truncated.std() == pytest.approx(0.05 * initializers.TRUNCATED_NORMAL_STDDEV, rel=0.02)


def test_untruncated_variance_scaling():
    utils.set_random_seed(8)
    init = initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")
    w = init(DENSE)
    assert w.std() == pytest.approx(math.sqrt(2.0 / 500), rel=0.02)
    assert np.abs(w).max() > 3 * math.sqrt(2.0 / 500)       # tails beyond 2σ are kept


def test_set_random_seed_makes_draws_repeatable():
    init = initializers.GlorotUniform()
    utils.set_random_seed(42)
    first, second = init((4, 5)), init((4, 5))
    utils.set_random_seed(42)
    np.testing.assert_array_equal(init((4, 5)), first)
    np.testing.assert_array_equal(init((4, 5)), second)
    assert not np.array_equal(first, second)


def test_a_seeded_initializer_has_its_own_generator():
    a, b = initializers.HeNormal(seed=5), initializers.HeNormal(seed=5)
    utils.set_random_seed(1)
    first = a((6, 6))
    utils.set_random_seed(2)                                  # the global seed does not matter
    np.testing.assert_array_equal(b((6, 6)), first)
    assert not np.array_equal(a((6, 6)), first)               # later calls continue the stream
    assert a.get_config() == {"seed": 5}


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (3, 3, 4, 8)])
def test_orthogonal(shape):
    utils.set_random_seed(3)
    w = initializers.Orthogonal(gain=2.0)(shape)
    assert w.shape == shape and w.dtype == np.float32
    flat = w.reshape(-1, shape[-1]).astype(np.float64)
    gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(len(gram)), atol=1e-5)
    with pytest.raises(ValueError, match="2-D"):
        initializers.Orthogonal()((5,))


def test_constants_and_identity():
    np.testing.assert_array_equal(initializers.Zeros()((2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(initializers.Ones()(4), np.ones(4))
    assert initializers.Constant(0.5)((2,), dtype="float64").dtype == np.float64
    np.testing.assert_array_equal(initializers.Constant(0.5)((2,)), [0.5, 0.5])
    np.testing.assert_array_equal(initializers.Identity(gain=2.0)((2, 3)),
                                  [[2, 0, 0], [0, 2, 0]])
    with pytest.raises(ValueError, match="2-D"):
        initializers.Identity()((2, 2, 2))


def test_variance_scaling_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        initializers.VarianceScaling(mode="fan_sum")
    with pytest.raises(ValueError, match="distribution"):
        initializers.VarianceScaling(distribution="normal")
    with pytest.raises(ValueError, match="scale"):
        initializers.VarianceScaling(scale=0)


# ---- get / config ----------------------------------------------------------------------

@pytest.mark.parametrize("name", initializers.names())
def test_every_name_resolves_and_round_trips_its_config(name):
    init = initializers.get(name)
    assert isinstance(init, initializers.Initializer)
    assert initializers.get(type(init).__name__).get_config() == init.get_config()
    again = initializers.get(initializers.serialize(init))
    assert type(again) is type(init) and again.get_config() == init.get_config()
    assert init((3, 3)).shape == (3, 3)


def test_get_accepts_dicts_instances_classes_callables_and_none():
    init = initializers.get({"class_name": "RandomNormal", "config": {"stddev": 0.1, "seed": 4}})
    assert init.get_config() == {"mean": 0.0, "stddev": 0.1, "seed": 4}
    assert isinstance(initializers.get({"class_name": "he_normal"}), initializers.HeNormal)
    assert initializers.get(init) is init
    assert isinstance(initializers.get(initializers.Zeros), initializers.Zeros)

    def halves(shape, dtype="float32"):
        return np.full(shape, 0.5, dtype)

    assert initializers.get(halves) is halves
    assert initializers.serialize(halves) is halves
    assert initializers.serialize(None) is None
    assert initializers.get(None) is None
    assert isinstance(initializers.get("GLOROT_UNIFORM"), initializers.GlorotUniform)
    assert initializers.get("normal").get_config()["stddev"] == 0.05


def test_unknown_initializers_list_the_valid_names():
    with pytest.raises(ValueError, match="Unknown initializer 'xavier'.*glorot_uniform.*zeros"):
        initializers.get("xavier")
    with pytest.raises(ValueError, match="class_name"):
        initializers.get({"config": {}})
    with pytest.raises(TypeError):
        initializers.get(1.5)
