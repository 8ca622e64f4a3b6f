"""Keras-style automatic names: dense, dense_1, dense_2, ... per base name.

One process-wide counter per base name, shared by all models; the first
layer of a kind gets the bare name.  ``clear_session()`` starts over (also
available as ``fastnn.backend.clear_session``, the course's spelling).
"""
import re
from collections import defaultdict

_counters = defaultdict(int)


def snake_case(class_name):
    """"MaxPooling2D" -> "max_pooling2d", "Conv2D" -> "conv2d", "Dense" -> "dense"."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base):
    """``base`` the first time, then ``base_1``, ``base_2``, ..."""
    count = _counters[base]
    _counters[base] += 1
    return base if count == 0 else f"{base}_{count}"


def clear_session():
    """Forget every name handed out so far: the next Dense is "dense" again."""
    _counters.clear()
