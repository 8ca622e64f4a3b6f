"""What a layer's forward pass keeps for its backward pass, one copy per thread.

A training step runs ``forward(x, training=True)`` and then ``backward(dy)``
on every layer, and backward needs things only forward saw: the input x
(a Dense layer's dW = xᵀ·dy), the activation's output, Dropout's mask, the
random transforms an augmentation layer drew.  Forward writes them to the
layer (``self._x = x``) and backward reads them back (``self._x``).

In plain attributes those caches would be one per layer, shared by every
thread: a ``predict`` in another thread, between a training step's forward
and its backward, would overwrite them, and the backward pass would compute
the gradient of the predict's batch (or fail on its shape).  Serving
predictions from one thread while fine-tuning in another must be safe, as in
Keras.  So each cached attribute is declared on the layer class as a
``BackwardCache``::

    class Dense(KernelBiasLayer):
        _x = BackwardCache("the input: dW = xᵀ·dy; dx gets its shape")

and its value lives in a ``threading.local`` the layer owns: each thread
reads back only what it wrote itself.  The code of forward and backward does
not change (``self._x = x``, then ``self._x``), and forward then backward in
one thread (fit, the gradient check) works as before.  The declarations also
tell a reader, in one place, everything backward depends on.

Backward runs in the thread that ran the forward pass: in any other thread
the cache is empty and reading it raises an AttributeError naming the layer.

Copies (``copy.copy``, ``copy.deepcopy``, pickle) start with empty caches:
a ``threading.local`` cannot be copied, and a copy has not run forward yet
(``Layer.__getstate__`` leaves the caches out with ``without_caches``).
"""
import threading

_CACHES = "_backward_caches"   # the key of the layer's threading.local in its __dict__


def _caches(layer):
    """The layer's ``threading.local``, made on first use.  ``dict.setdefault``
    is atomic, so two threads that get here at once share one object."""
    caches = layer.__dict__.get(_CACHES)
    if caches is None:
        caches = layer.__dict__.setdefault(_CACHES, threading.local())
    return caches


class BackwardCache:
    """A layer attribute written by forward and read by backward, kept per thread.

    Args:
        doc: what is cached and what backward does with it.
    """

    def __init__(self, doc):
        self.__doc__ = doc
        self.name = None

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, layer, owner=None):
        if layer is None:   # looked up on the class: the declaration itself
            return self
        try:
            return getattr(_caches(layer), self.name)
        except AttributeError:
            raise AttributeError(
                f"layer {layer.name!r} ({type(layer).__name__}) has no {self.name} "
                f"({self.__doc__}) cached in this thread: call backward in the thread that "
                f"ran forward, after forward") from None

    def __set__(self, layer, value):
        setattr(_caches(layer), self.name, value)

    def __repr__(self):
        return f"<BackwardCache {self.name}: {self.__doc__}>"


def without_caches(state):
    """A layer's ``__dict__`` without its per-thread caches: what a copy or a
    pickle takes (the copy makes its own caches when it runs forward)."""
    return {key: value for key, value in state.items() if key != _CACHES}
