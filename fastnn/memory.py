"""Memory for training and inference: big blocks kept for the next batch.

A training step allocates the same big arrays every batch -- activations,
their gradients, the kernels' scratch (a vgg_bn activation at batch 64 is
8 MiB) -- and frees them again by the end of the step.  The C library gives
freed big blocks back to the operating system, so the next step gets fresh
pages and the processor takes a page fault for each 4 KiB it touches first:
on vgg_bn about 1,250 faults per step, 10-15 ms of a 75 ms step on the
virtual machine fastnn is measured on.  PyTorch keeps freed memory in a
caching allocator for the same reason.

fastnn's block cache (csrc/block_cache.c) keeps each freed block of 256 KiB
or more in a free list by its exact size, and the next request of that size
takes it back: no system call, no fault.  The kernels' scratch always comes
from it.  NumPy arrays come from it inside ``cached_arrays()``, which
``fit``, ``evaluate``, ``predict``, ``train_on_batch``, ``test_on_batch``,
``predict_on_batch`` and ``profile`` enter: it installs the cache as NumPy's
data allocator (NEP 49) for the calling thread, until the call returns or
raises.  An array remembers the allocator it came from, so an array made
inside (a model's predictions) is freed correctly after the call, and one
made outside is freed by NumPy's own allocator, wherever that happens.

The cache is kept between calls: ``fit(epochs=1)`` called again and again,
or a loop of ``train_on_batch``, finds the blocks of the last call.  It is
bounded: the blocks waiting in it (not the arrays in use) stay within
``stats()["limit_bytes"]``, by default an eighth of the physical memory and
at most 1 GiB (0 in an AddressSanitizer build, which must see every free),
and the block freed longest ago goes first.  ``release()``
gives every cached block back (after training, before other work that
needs the memory); ``set_cache_limit(0)`` stops caching altogether.  The
results never depend on the cache: a reused block is handed out as NumPy or
the kernel would get a new one (zeroed where zeroes were asked for).
"""
import contextlib
import numbers

from .kernels._native import native

MIN_BLOCK_BYTES = native.BLOCK_CACHE_MIN_BYTES


@contextlib.contextmanager
def cached_arrays():
    """NumPy arrays created in this thread inside the ``with`` block come
    from the block cache; the allocator before it is back on exit, also
    when the block raises.  Also a decorator (``@cached_arrays()``)."""
    previous = native.set_array_allocator()
    try:
        yield
    finally:
        native.set_array_allocator(previous)


def release():
    """Give every block waiting in the cache back to the operating system."""
    native.block_cache_release()


def set_cache_limit(limit_bytes):
    """Keep at most ``limit_bytes`` (an int >= 0) of freed blocks; 0 keeps
    none.  Blocks over the new limit are given back at once, oldest first."""
    if (isinstance(limit_bytes, bool) or not isinstance(limit_bytes, numbers.Integral)
            or limit_bytes < 0):
        raise ValueError(f"set_cache_limit: limit_bytes must be an int >= 0, got "
                         f"{limit_bytes!r}")
    native.block_cache_set_limit(int(limit_bytes))


def stats():
    """The cache's counters, a dict: ``hits`` and ``misses`` (requests of at
    least MIN_BLOCK_BYTES served from the cache, or by the C library, since
    the process started), ``cached_bytes`` and ``cached_blocks`` (waiting
    now) and ``limit_bytes``."""
    return native.block_cache_stats()
