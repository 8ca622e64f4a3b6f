"""The training plan: which fused fast paths a model's training step takes, decided once.

A training step is a list of calls: each layer's forward pass, the loss and
its gradient, each layer's backward pass.  Some neighbouring calls can be
done in one pass over the data, and fastnn's kernels offer such fused forms
(a ReLU applied by the convolution kernel as it writes each output, a max
pool's backward pass that takes the ReLU's along, ...).  Which of them a
model can use depends on its layers, their activations and shapes, which
ones are trainable, and the loss: all known once the model is built and
compiled.  So ``Plan`` turns the layers and the loss into an explicit list
of named steps, once, asking each fusion rule (``rules.py``) where it
applies; the model then just runs the steps (``Sequential.forward``,
``backward`` and the training loop).

``print(model.plan)`` shows the steps and every rule's verdict, with the
reason where a rule declined; ``model.compile(..., fuse=False)`` asks no
rule at all (every layer's plain forward and backward, each activation a
step of its own, the loss's plain gradient), so fused and plain can be
compared for speed and results.  See docs/plan.md.

``model.profile(x, y)`` (``profile.py``) times each step of the plan over a
few training steps: where the time goes, step by step.
"""
from .plan import Plan
from .profile import Profile
from .rules import RULES, Rule, Verdict

__all__ = ["Plan", "Profile", "RULES", "Rule", "Verdict"]
