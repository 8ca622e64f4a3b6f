"""Regularizers: Keras's penalties (no ½, no 1/m), gradients against finite differences."""
import numpy as np
import pytest
from conftest import numerical_gradient

from fastnn import regularizers

W = np.array([[0.5, -1.5, 0.0], [2.0, -0.25, 1.0]])


def test_course_l2_factory():
    # chapter 28: kernel_regularizer=regularizers.l2(0.01) adds 0.01·Σw² to the loss
    reg = regularizers.l2(0.01)
    assert isinstance(reg, regularizers.L2)
    assert reg(W) == pytest.approx(0.01 * (0.25 + 2.25 + 0 + 4 + 0.0625 + 1))


@pytest.mark.parametrize("reg, expected", [
    (regularizers.L1(), 0.01 * 5.25),
    (regularizers.L2(), 0.01 * 7.5625),
    (regularizers.l1(0.1), 0.1 * 5.25),
    (regularizers.L1L2(l1=0.1, l2=0.2), 0.1 * 5.25 + 0.2 * 7.5625),
    (regularizers.L1L2(), 0.0),
    (regularizers.l1_l2(), 0.01 * 5.25 + 0.01 * 7.5625),
])
def test_penalties(reg, expected):
    value = reg(W.astype(np.float32))
    assert isinstance(value, float) and value == pytest.approx(expected)


@pytest.mark.parametrize("reg", [regularizers.L1(0.3), regularizers.L2(0.3),
                                 regularizers.L1L2(0.2, 0.7)], ids=["l1", "l2", "l1_l2"])
def test_gradient_matches_finite_differences(reg):
    w = np.random.default_rng(0).uniform(-2, 2, (4, 5))
    w[np.abs(w) < 1e-3] = 0.5                                    # away from |w|'s kink
    np.testing.assert_allclose(reg.gradient(w), numerical_gradient(reg, w, eps=1e-6),
                               rtol=1e-6, atol=1e-8)
    assert reg.gradient(w.astype(np.float32)).dtype == np.float32


def test_l1_gradient_at_zero_is_zero():
    np.testing.assert_array_equal(regularizers.L1(0.5).gradient(np.zeros(3)), np.zeros(3))


def test_configs_and_get():
    assert regularizers.L2(0.001).get_config() == {"l2": 0.001}
    assert regularizers.L1().get_config() == {"l1": 0.01}
    assert regularizers.L1L2(l1=0.5).get_config() == {"l1": 0.5, "l2": 0.0}
    for reg in (regularizers.L1(0.2), regularizers.L2(0.3), regularizers.L1L2(0.1, 0.4)):
        again = regularizers.get(regularizers.serialize(reg))
        assert type(again) is type(reg) and again.get_config() == reg.get_config()
    assert regularizers.get("l2").get_config() == {"l2": 0.01}
    assert regularizers.get("L1").get_config() == {"l1": 0.01}
    assert regularizers.get("l1_l2").get_config() == {"l1": 0.01, "l2": 0.01}
    assert regularizers.get("L1L2").get_config() == {"l1": 0.0, "l2": 0.0}
    reg = regularizers.L2()
    assert regularizers.get(reg) is reg
    assert regularizers.get(None) is None

    def custom(w):
        return float(np.sum(w ** 4))

    assert regularizers.get(custom) is custom
    assert regularizers.serialize(custom) is custom
    assert regularizers.serialize(None) is None


def test_bad_input_raises():
    with pytest.raises(ValueError, match="Unknown regularizer 'l3'.*l1, l2, l1_l2"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match="Unknown regularizer"):
        regularizers.get({"class_name": "Dropout", "config": {}})
    with pytest.raises(ValueError, match="l2 must be"):
        regularizers.L2(-0.1)
    with pytest.raises(ValueError, match="l1 must be"):
        regularizers.L1("0.1")
    with pytest.raises(TypeError):
        regularizers.get(0.01)
