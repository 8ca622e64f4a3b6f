"""Every optimizer's update step as a kernel: one pass over each weight array.

An optimizer (``fastnn.optimizers``) keeps a few arrays of state per weight
array -- its *slots*: running averages of the gradient, of its square, a
velocity -- and turns each gradient into a step with a short formula per
weight (Keras's, csrc/optimizer.c lists them all).  RMSprop's

    s ← ρ·s + (1 − ρ)·g²
    w ← w − η·g / √(s + ε)

is nine NumPy passes over memory and as many temporary arrays; the C kernel
reads w, g and s once and writes w and s once.

``UpdateRule`` holds an optimizer's fixed settings (ρ, β₁, ε, momentum, the
options), checked once when the optimizer is made; ``apply`` then runs one
step on a whole model's arrays in one call, given the numbers that change
every step (the learning rate with its bias corrections folded in, computed
by the optimizer in double precision).
"""
import numpy as np

from . import reference
from ._native import native
from .validation import check_impl, finite_number, is_float32_c

# rule: (its number in csrc/fastnn.h, its settings with Keras's defaults)
RULES = {
    "sgd": (0, {"momentum": 0.0, "nesterov": False}),
    "adam": (1, {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False}),
    "rmsprop": (2, {"rho": 0.9, "momentum": 0.0, "epsilon": 1e-7, "centered": False}),
    "adagrad": (3, {"epsilon": 1e-7}),
    "adadelta": (4, {"rho": 0.95, "epsilon": 1e-7}),
    "adamax": (5, {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}),
    "nadam": (6, {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}),
}
OPTIONS = ("nesterov", "amsgrad", "centered")   # the settings that are switches
DECAYS = ("beta_1", "beta_2", "rho")            # moving-average rates, in [0, 1)


def slot_names(rule, settings):
    """The slots ``rule`` keeps with these settings, in the order the kernel takes them
    (and optimizers save them)."""
    momentum = settings.get("momentum", 0.0) > 0
    return {
        "sgd": ("momentum",) * momentum,
        "adam": ("momentum", "velocity") + ("velocity_hat",) * settings.get("amsgrad", False),
        "rmsprop": (("velocity",) + ("average_gradient",) * settings.get("centered", False)
                    + ("momentum",) * momentum),
        "adagrad": ("accumulator",),
        "adadelta": ("accumulated_grad", "accumulated_delta_var"),
        "adamax": ("m", "u"),
        "nadam": ("momentum", "velocity"),
    }[rule]


class UpdateRule:
    """One optimizer's update rule with its fixed settings, checked once.

    Args:
        rule: "sgd", "adam", "rmsprop", "adagrad", "adadelta", "adamax" or "nadam".
        **settings: the rule's Keras settings (``RULES`` lists them with their
            defaults): decays β₁, β₂, ρ in [0, 1); momentum in [0, 1];
            epsilon >= 0; nesterov, amsgrad, centered True or False.

    Attributes:
        slot_names: the slots one weight array needs, in the order ``apply``
            takes them.

    Example:
        >>> rmsprop = UpdateRule("rmsprop", rho=0.9)
        >>> s = np.zeros_like(w)                   # rmsprop.slot_names == ("velocity",)
        >>> rmsprop.apply([w], [g], [(s,)], rate=0.001)
    """

    def __init__(self, rule, **settings):
        if rule not in RULES:
            raise ValueError(f"UpdateRule: unknown rule {rule!r}; valid rules: "
                             f"{', '.join(RULES)}")
        number, defaults = RULES[rule]
        unknown = sorted(set(settings) - set(defaults))
        if unknown:
            raise ValueError(f"UpdateRule: {rule} takes the settings {', '.join(defaults)}; "
                             f"got {', '.join(map(repr, unknown))}")
        settings = {**defaults, **settings}
        for name, value in settings.items():
            _check_setting(rule, name, value)
        self.rule, self.settings = rule, settings
        self.slot_names = slot_names(rule, settings)
        # csrc/fastnn.h's fastnn_update: averages of g decay with beta_1, those of
        # squares with beta_2 (RMSprop's and Adadelta's rho); 1 - beta in double
        beta_1 = settings.get("beta_1", 0.0)
        beta_2 = settings.get("beta_2", settings.get("rho", 0.0))
        self._native = (number, beta_1, 1.0 - beta_1, beta_2, 1.0 - beta_2,
                        settings.get("momentum", 0.0), settings.get("epsilon", 0.0),
                        settings.get("nesterov", False), settings.get("centered", False),
                        settings.get("amsgrad", False))

    def apply(self, ws, gs, slots, rate, rate_g=None, v_scale=None, impl="fast"):
        """One step on every weight array of ``ws``, in place, and on its slots.

        Args:
            ws: the weight arrays.  For "fast" and "naive" they, and the
                slots, must be float32 and C-contiguous (an in-place update
                of a converted copy would be lost); "numpy" takes any float
                arrays.
            gs: their gradients, one per weight array, same shapes
                (converted to float32 if needed).
            slots: per weight array a sequence of its slot arrays, in the
                order of ``slot_names``, same shape as the weights.
            rate: this step's learning rate with the rule's bias correction
                folded in: η for SGD, RMSprop, Adagrad, Adadelta;
                η·√(1 − β₂ᵗ)/(1 − β₁ᵗ) for Adam; η/(1 − β₁ᵗ) for Adamax;
                η·μ_{t+1}/(1 − P_t·μ_{t+1}), the factor of m, for Nadam.
            rate_g, v_scale: Nadam's other two numbers (and only Nadam's):
                η·(1 − μ_t)/(1 − P_t), the factor of g, and 1/√(1 − β₂ᵗ).
            impl: "fast", "naive" or "numpy".

        All arrays are checked before the first one is updated: a bad one
        leaves every weight as it was.
        """
        kernel = f"{self.rule}_update"
        check_impl(kernel, impl)
        numbers = self._step_numbers(kernel, rate, rate_g, v_scale)
        if not len(ws) == len(gs) == len(slots):
            raise ValueError(f"{kernel}: ws, gs and slots must be lists of one length, got "
                             f"{len(ws)}, {len(gs)}, {len(slots)}")
        if impl == "numpy":
            gs = _float32(gs)
            self._explain(kernel, ws, gs, slots, layout=False)
            for w, g, own in zip(ws, gs, slots):
                reference.optimizer_update(self.rule, w, g, own, *numbers, **self.settings)
            return
        naive = impl == "naive"
        try:  # the bridge checks shapes, dtype, layout, writeability, overlap: all before any update
            native.optimizer_update(ws, gs, slots, self._native, *numbers, naive)
        except (ValueError, TypeError, BufferError):
            # gradients of another dtype or layout are converted and the call
            # repeated; any other argument the kernel cannot take is named
            gs = _float32(gs)
            self._explain(kernel, ws, gs, slots, layout=True)
            native.optimizer_update(ws, gs, slots, self._native, *numbers, naive)

    def _step_numbers(self, kernel, rate, rate_g, v_scale):
        """(rate, rate_g, v_scale) as the kernel takes them, checked: finite
        numbers, the last two given for Nadam and only for Nadam."""
        if self.rule != "nadam":
            if rate_g is not None or v_scale is not None:
                raise ValueError(f"{kernel}: rate_g and v_scale are Nadam's numbers; this "
                                 f"rule takes only rate")
            rate_g, v_scale = 0.0, 1.0
        for name, value in (("rate", rate), ("rate_g", rate_g), ("v_scale", v_scale)):
            if not finite_number(value):
                raise ValueError(f"{kernel}: {name} must be a finite number, got {value!r}")
        return rate, rate_g, v_scale

    def _explain(self, kernel, ws, gs, slots, layout):
        """ValueError naming the first argument the kernel cannot take."""
        names = self.slot_names
        for i, (w, g, own) in enumerate(zip(ws, gs, slots)):
            own = tuple(own)
            if len(own) != len(names):
                raise ValueError(f"{kernel}: variable {i} has {len(own)} slot arrays, but "
                                 f"this rule keeps {len(names)}: {', '.join(names) or 'none'}")
            shape = np.shape(w)
            arrays = (("g", g),) + tuple((f"slot {n!r}", s) for n, s in zip(names, own))
            for name, array in arrays:
                if np.shape(array) != shape:
                    raise ValueError(f"{kernel}: {name} of variable {i} must have the shape "
                                     f"of w {shape}, got {np.shape(array)}")
            if not layout:
                continue
            for name, array in (("w", w),) + arrays[1:]:
                if not in_place_ready(array):
                    raise ValueError(f"{kernel}: {name} of variable {i} must be a writeable "
                                     f"C-contiguous float32 array (it is updated in place), "
                                     f"got {getattr(array, 'dtype', type(array).__name__)}")
            everything = (("w", w),) + arrays
            for a, (name, array) in enumerate(everything):
                for other, other_array in everything[:a]:
                    if np.shares_memory(array, other_array):
                        raise ValueError(f"{kernel}: {other} and {name} of variable {i} "
                                         f"share memory; each must be an array of its own")


def _check_setting(rule, name, value):
    if name in OPTIONS:
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"UpdateRule: {rule} {name} must be True or False, got {value!r}")
        return
    high = "1)" if name in DECAYS else "1]" if name == "momentum" else None
    ok = finite_number(value) and value >= 0
    if ok and high == "1)":
        ok = value < 1
    elif ok and high == "1]":
        ok = value <= 1
    if not ok:
        bounds = f"a number in [0, {high}" if high else "a finite number >= 0"
        raise ValueError(f"UpdateRule: {rule} {name} must be {bounds}, got {value!r}")


def _float32(gs):
    """The gradients as C-contiguous float32 arrays (converted where they are not)."""
    return [g if is_float32_c(g) else np.ascontiguousarray(g, dtype=np.float32) for g in gs]


def in_place_ready(array):
    """Whether the C kernel can update ``array`` in place."""
    return is_float32_c(array) and array.flags.writeable

