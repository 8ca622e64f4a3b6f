"""What every optimizer shares: how a gradient becomes a weight update (course, chapters 6, 7, 9).

Training (chapter 7) repeats four things per batch: forward pass, loss,
backward pass (which fills every ``Variable.grad``), and finally

    optimizer.apply_gradients([(grad, variable), ...])

which moves each weight a small step against its gradient.  The plain rule
of chapter 7,

    new weight = old weight - learning rate * gradient,

is SGD.  The other optimizers keep a little memory per weight array -- a
running mean of past gradients, of their squares, ... -- called *slots*; they
differ only in the formula that turns (gradient, slots) into a step.  So a
subclass states just its update rule (a ``kernels.UpdateRule`` with its
settings) and the numbers of each step (``_step_rates``: the learning rate
with the rule's bias correction); this base class does everything else:

- the learning rate η (chapter 9): a float, or a schedule ``f(iterations)``;
  ``opt.lr`` is the tf.keras 2 alias of ``opt.learning_rate`` and assigning
  either takes effect at the next step; ``decay`` shrinks it over time,
  η_t = η / (1 + decay · iterations);
- gradient clipping (``clipnorm``, ``clipvalue``) before every update;
- the slots, created on a variable's first update and saved/restored in a
  fixed order (``state_arrays`` / ``load_state_arrays``), so a reloaded model
  continues training exactly where it stopped;
- ``iterations``, the number of steps taken (Adam's t is iterations + 1);
- ``get_config`` / ``from_config`` for saving the settings as JSON.

Updates happen *in place*, so the layers' arrays stay the same objects: one
C kernel call per step updates every weight array and its slots, one pass
over memory each (fastnn/kernels/optimizer.py; csrc/optimizer.c has every
rule's formula).
"""
import numbers

import numpy as np


class default(float):
    """A default learning rate: a float that remembers the user did not give it.

    ``Adam(lr=0.01)`` is the course's spelling and fine; ``Adam(learning_rate=
    0.01, lr=0.01)`` is an error.  To tell "not given" from "given" the default
    is this float subclass; it prints as a plain number, so ``help(Adam)``
    still shows ``learning_rate=0.001``.
    """


class LearningRate(float):
    """The learning rate as ``opt.learning_rate`` (and ``opt.lr``) return it: a
    float that also knows its optimizer.

    In tf.keras 2 the rate is a variable, and tutorials change it through
    that: ``K.set_value(model.optimizer.lr, 0.001)``, ``model.optimizer.lr.
    assign(0.001)``.  This float makes those work: ``fastnn.backend.set_value``
    and ``assign`` set ``optimizer.learning_rate`` (exactly as assigning it
    does, effective from the next step); ``backend.get_value`` and ``numpy()``
    read the optimizer's current rate.  As a number it is the rate at the
    moment it was read, and copies or pickles are plain floats.
    """

    def __new__(cls, value, optimizer):
        rate = super().__new__(cls, value)
        rate.optimizer = optimizer
        return rate

    def assign(self, value):
        """Set the optimizer's learning rate to ``value`` (tf.Variable's method)."""
        self.optimizer.learning_rate = value

    def numpy(self):
        """The optimizer's current learning rate (tf.Variable's method)."""
        return float(self.optimizer.learning_rate)

    def __reduce__(self):
        return float, (float(self),)


class Optimizer:
    """Base class: owns the learning rate, clipping, step count and slots.

    Args:
        learning_rate: η, a float >= 0, or a schedule: a function of the step
            count returning a float, e.g. ``lambda step: 0.01 * 0.9 ** (step // 100)``.
        lr: the tf.keras 2 alias of ``learning_rate`` (``Adam(lr=0.0001)``, chapter 7).
        decay: η_t = η / (1 + decay · iterations); 0 keeps η constant.
        clipnorm: rescale each gradient array whose L2 norm exceeds this, so
            its norm becomes ``clipnorm`` (direction unchanged).
        clipvalue: clip every gradient element into [-clipvalue, clipvalue]
            (applied after ``clipnorm`` if both are given).
        name: defaults to the class name, e.g. "Adam".

    Subclasses set ``_rule`` (a ``kernels.UpdateRule``; its ``slot_names``
    are the per-variable state arrays, in saving order) and, if the rule has
    a bias correction, override ``_step_rates``.
    """

    # Optimizer-wide numbers saved before the slots (Nadam adds one).
    _scalar_state = ("iterations",)

    def __init__(self, learning_rate, lr=None, decay=0.0, clipnorm=None, clipvalue=None,
                 name=None, **unknown):
        owner = type(self).__name__
        if unknown:
            raise TypeError(f"{owner}: unexpected keyword argument(s) "
                            f"{', '.join(repr(k) for k in sorted(unknown))}; besides its own "
                            f"settings an optimizer accepts lr, decay, clipnorm, clipvalue, name")
        if lr is not None:
            if not isinstance(learning_rate, default):
                raise TypeError(f"{owner}: give learning_rate= or its alias lr=, not both")
            learning_rate = lr
        self.name = owner if name is None else str(name)
        self.learning_rate = learning_rate
        self.decay = self._hyper("decay", decay)
        self.clipnorm = None if clipnorm is None else self._hyper("clipnorm", clipnorm)
        self.clipvalue = None if clipvalue is None else self._hyper("clipvalue", clipvalue)
        self.iterations = 0
        self._slots = {}

    def _hyper(self, name, value, high=None):
        """``value`` as a float, or ValueError unless 0 <= value (<= high)."""
        owner = type(self).__name__
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{owner}: {name} must be a number, got {value!r}")
        value = float(value)
        if not value >= 0.0 or (high is not None and value > high):  # "not >=" rejects NaN
            bounds = ">= 0" if high is None else f"in [0, {high:g}]"
            raise ValueError(f"{owner}: {name} must be {bounds}, got {value!r}")
        return value

    def _decay_rate(self, name, value):
        """A moving-average rate (β1, β2, ρ): a float in [0, 1)."""
        value = self._hyper(name, value, high=1.0)
        if value == 1.0:
            raise ValueError(f"{type(self).__name__}: {name} must be below 1, got 1.0")
        return value

    # ---- learning rate (chapter 9) ---------------------------------------------------

    @property
    def learning_rate(self):
        """The base rate η as a float (a schedule is evaluated at ``iterations``).

        Assign a float or a schedule to change it; the next ``apply_gradients``
        uses the new value.  ``opt.lr`` is the same property (tf.keras 2).  The
        float is a ``LearningRate``, which ``backend.set_value`` can change.
        """
        rate = self._learning_rate
        return LearningRate(rate(self.iterations) if callable(rate) else rate, self)

    @learning_rate.setter
    def learning_rate(self, value):
        if callable(value):
            self._learning_rate = value
        else:
            self._learning_rate = self._hyper("learning_rate", value)

    lr = learning_rate

    # ---- one training step -----------------------------------------------------------

    def apply_gradients(self, grads_and_vars):
        """One step: update every variable in place from its gradient.

        Args:
            grads_and_vars: (gradient array, Variable) pairs; pairs whose
                gradient is None are skipped.  ``iterations`` grows by one
                per call.
        """
        rate = self._learning_rate
        if callable(rate):
            rate = float(rate(self.iterations))
        learning_rate = rate / (1.0 + self.decay * self.iterations)
        pairs = [(grad, variable) for grad, variable in grads_and_vars if grad is not None]
        if self.clipnorm is not None or self.clipvalue is not None:
            pairs = [(self._clip(self._checked_gradient(grad, variable)), variable)
                     for grad, variable in pairs]
        rates = self._step_rates(learning_rate, self.iterations + 1)
        try:  # the kernel checks every array (and converts gradients) before it updates any
            self._rule.apply([variable.value for _, variable in pairs], [grad for grad, _ in pairs],
                             [self._slots_of(variable) for _, variable in pairs], *rates)
        except ValueError:
            for grad, variable in pairs:  # a gradient that does not fit its variable: name both
                self._checked_gradient(grad, variable)
            raise
        self.iterations += 1

    @property
    def slot_names(self):
        """The per-variable state arrays, in the order they are saved."""
        return self._rule.slot_names

    def _step_rates(self, learning_rate, step):
        """The kernel's numbers for update number ``step`` (t = 1, 2, ...) at
        learning rate η_t (schedule and decay applied), in double precision:
        (rate,), or Nadam's (rate, rate_g, v_scale); see ``UpdateRule.apply``.
        Without a bias correction (SGD, RMSprop, Adagrad, Adadelta) the rate is η_t."""
        return (learning_rate,)

    def _checked_gradient(self, grad, variable):
        if type(grad) is not np.ndarray or grad.dtype != np.float32:
            grad = np.asarray(grad, dtype=np.float32)
        if grad.shape != variable.value.shape:
            raise ValueError(f"{self.name}: gradient of shape {grad.shape} for variable "
                             f"{variable.name!r} of shape {variable.value.shape}")
        return grad

    def _clip(self, grad):
        """Limit a gradient's size (new arrays: the caller's gradient is never modified)."""
        if self.clipnorm is not None:
            norm = float(np.sqrt(np.sum(np.square(grad, dtype=np.float64))))
            if norm > self.clipnorm:
                grad = grad * np.float32(self.clipnorm / norm)
        if self.clipvalue is not None:
            grad = np.clip(grad, -self.clipvalue, self.clipvalue)
        return grad

    # ---- per-variable state ----------------------------------------------------------

    def _slots_of(self, variable):
        """The variable's slot arrays, in ``slot_names`` order (made on first use)."""
        slots = self._slots.get(variable)
        if slots is None:
            slots = tuple(self._new_slot(name, variable) for name in self.slot_names)
            self._slots[variable] = slots
        return slots

    def _new_slot(self, name, variable):
        """A slot's starting value; zeros unless the optimizer says otherwise."""
        return np.zeros_like(variable.value)

    def state_arrays(self, variables):
        """The optimizer's state as arrays, for saving a model mid-training.

        Order: ``iterations`` (and any other optimizer-wide number), then for
        each variable in the given order its slots in ``slot_names`` order.
        Variables not updated yet contribute their starting slots.
        """
        arrays = [np.array(getattr(self, name)) for name in self._scalar_state]
        for variable in variables:
            arrays.extend(slot.copy() for slot in self._slots_of(variable))
        return arrays

    def load_state_arrays(self, variables, arrays):
        """Restore what ``state_arrays(variables)`` returned (same variable order)."""
        arrays = list(arrays)
        scalars = len(self._scalar_state)
        expected = scalars + len(variables) * len(self.slot_names)
        if len(arrays) != expected:
            raise ValueError(f"{self.name}: expected {expected} state arrays ({scalars} + "
                             f"{len(variables)} variables x slots {list(self.slot_names)}), "
                             f"got {len(arrays)}")
        slots = {}
        values = iter(arrays[scalars:])
        for variable in variables:
            own = []
            for name in self.slot_names:
                value = np.array(next(values), dtype=np.float32)
                if value.shape != variable.value.shape:
                    raise ValueError(f"{self.name}: slot {name!r} of variable {variable.name!r} "
                                     f"has shape {value.shape}, expected {variable.value.shape}")
                own.append(value)
            slots[variable] = tuple(own)
        scalar_values = [np.asarray(a).item() for a in arrays[:scalars]]
        self._slots = slots
        for name, value in zip(self._scalar_state, scalar_values):
            setattr(self, name, value)

    # ---- settings --------------------------------------------------------------------

    def get_config(self):
        """The constructor arguments as a JSON-serialisable dict.

        A learning-rate schedule (arbitrary Python code) cannot be stored:
        its current value is saved instead.
        """
        return {"name": self.name, "learning_rate": float(self.learning_rate), "decay": self.decay,
                "clipnorm": self.clipnorm, "clipvalue": self.clipvalue}

    @classmethod
    def from_config(cls, config):
        """A new optimizer with the settings of ``get_config()`` (fresh state)."""
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name} learning_rate={self.learning_rate:g}>"
