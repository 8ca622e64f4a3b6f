"""The block cache (csrc/block_cache.c, fastnn.memory): freed big blocks come back.

NumPy arrays made inside ``fastnn.memory.cached_arrays()`` are the cache's
blocks, so these tests drive its malloc, calloc, realloc and free through
``np.empty``, ``np.zeros``, ``ndarray.resize`` and ``del``, and read its
counters with ``fastnn.memory.stats()``: a block handed out again is the
same address and a hit, and what the caller may see of it (zeroes after
calloc, the old contents after realloc) is checked against the garbage left
in it on purpose.  The cache is one per process, so every test compares
counters before and after and puts the limit back.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fastnn import memory

pytestmark = pytest.mark.native

BLOCK = memory.MIN_BLOCK_BYTES // 4 * 3  # floats in a cached block of 3 * the threshold

try:
    from numpy._core.multiarray import get_handler_name  # NumPy 2
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.multiarray import get_handler_name


@pytest.fixture
def empty_cache():
    """An empty cache with a limit of 64 MiB (the default is 0 in the
    AddressSanitizer build, make sanitize), and the default limit after."""
    limit = memory.stats()["limit_bytes"]
    memory.release()
    memory.set_cache_limit(64 << 20)
    yield
    memory.set_cache_limit(limit)
    memory.release()


def counted(**before):
    """The counters' changes since ``before`` (a stats() dict)."""
    now = memory.stats()
    return {key: now[key] - before[key] for key in ("hits", "misses")}


def test_a_freed_block_is_handed_out_again(empty_cache):
    before = memory.stats()
    with memory.cached_arrays():
        a = np.empty(BLOCK, np.float32)
        address = a.ctypes.data
        del a
        assert memory.stats()["cached_blocks"] == 1
        b = np.empty(BLOCK, np.float32)
        assert b.ctypes.data == address
        assert address % 64 == 0
        c = np.empty(BLOCK + 1024, np.float32)  # another size: a new block
        assert c.ctypes.data != address
    assert counted(**before) == {"hits": 1, "misses": 2}
    assert memory.stats()["cached_blocks"] == 0


def test_small_arrays_are_not_cached(empty_cache):
    before = memory.stats()
    with memory.cached_arrays():
        for _ in range(3):
            a = np.ones(memory.MIN_BLOCK_BYTES // 4 - 64, np.float32)
            assert a.ctypes.data % 64 == 0
            del a
    assert counted(**before) == {"hits": 0, "misses": 0}
    assert memory.stats()["cached_bytes"] == 0


def test_calloc_zeroes_a_reused_block(empty_cache):
    with memory.cached_arrays():
        a = np.empty(BLOCK, np.float32)
        a.fill(np.nan)
        address = a.ctypes.data
        del a
        b = np.zeros(BLOCK, np.float32)
    assert b.ctypes.data == address
    np.testing.assert_array_equal(b, np.zeros(BLOCK, np.float32))


@pytest.mark.parametrize("new_size", [BLOCK * 2, BLOCK // 2, 1000])
def test_realloc_keeps_the_contents(empty_cache, new_size):
    """Growing, shrinking within the cached sizes, and shrinking below them."""
    expected = np.arange(BLOCK, dtype=np.float32)
    with memory.cached_arrays():
        a = expected.copy()
        a.resize(new_size, refcheck=False)
    kept = min(BLOCK, new_size)
    np.testing.assert_array_equal(a[:kept], expected[:kept])


def test_realloc_grows_a_small_array_into_a_cached_block(empty_cache):
    with memory.cached_arrays():
        a = np.arange(1000, dtype=np.float32)
        a.resize(BLOCK, refcheck=False)
        a[-1] = 7
        del a
        assert memory.stats()["cached_blocks"] == 1
        b = np.arange(1000, dtype=np.float32)
        b.resize(BLOCK, refcheck=False)
    np.testing.assert_array_equal(b[:1000], np.arange(1000, dtype=np.float32))


def test_the_cached_bytes_stay_within_the_limit_oldest_dropped_first(empty_cache):
    block_bytes = BLOCK * 4
    memory.set_cache_limit(3 * block_bytes)
    with memory.cached_arrays():
        arrays = [np.empty(BLOCK + 16 * i, np.float32) for i in range(6)]
        addresses = [a.ctypes.data for a in arrays]
        sizes = [a.size for a in arrays]
        while arrays:
            arrays.pop(0)  # freed in order: the first is the oldest
            assert memory.stats()["cached_bytes"] <= 3 * block_bytes
        assert memory.stats()["cached_blocks"] == 2  # sizes grow: the third would not fit
        before = memory.stats()
        newest = np.empty(sizes[5], np.float32)
        oldest = np.empty(sizes[0], np.float32)
    assert newest.ctypes.data == addresses[5]
    assert counted(**before) == {"hits": 1, "misses": 1}
    assert oldest is not None


def test_a_lower_limit_gives_back_at_once_and_zero_caches_nothing(empty_cache):
    with memory.cached_arrays():
        arrays = [np.empty(BLOCK, np.float32) for _ in range(4)]
        del arrays
        assert memory.stats()["cached_blocks"] == 4
        memory.set_cache_limit(2 * BLOCK * 4)
        assert memory.stats()["cached_blocks"] == 2
        memory.set_cache_limit(0)
        assert memory.stats()["cached_bytes"] == 0
        del_me = np.empty(BLOCK, np.float32)
        del del_me
    assert memory.stats()["cached_bytes"] == 0


def test_release_empties_the_cache(empty_cache):
    with memory.cached_arrays():
        arrays = [np.empty(BLOCK * (i + 1), np.float32) for i in range(3)]
    del arrays
    assert memory.stats()["cached_blocks"] == 3
    assert memory.stats()["cached_bytes"] >= 6 * BLOCK * 4
    memory.release()
    assert memory.stats()["cached_blocks"] == memory.stats()["cached_bytes"] == 0


def test_arrays_cross_the_scope_both_ways(empty_cache):
    """Each array is freed by the allocator it came from, inside or outside."""
    outside = np.ones(BLOCK, np.float32)
    with memory.cached_arrays():
        assert get_handler_name() == "fastnn_block_cache"
        inside = np.full(BLOCK, 2.0, np.float32)
        assert get_handler_name(inside) == "fastnn_block_cache"
        assert get_handler_name(outside) == "default_allocator"
        del outside  # NumPy's own free: nothing enters the cache
        assert memory.stats()["cached_blocks"] == 0
    assert get_handler_name() == "default_allocator"
    np.testing.assert_array_equal(inside, 2.0)
    del inside  # the cache's free, outside the scope
    assert memory.stats()["cached_blocks"] == 1


def test_the_allocator_is_restored_when_the_block_raises():
    with pytest.raises(KeyError):
        with memory.cached_arrays():
            raise KeyError("inside")
    assert get_handler_name() == "default_allocator"
    with memory.cached_arrays():
        with memory.cached_arrays():
            pass
        assert get_handler_name() == "fastnn_block_cache"  # nested: the outer one's
    assert get_handler_name() == "default_allocator"


@pytest.mark.parametrize("limit", [-1, 1.5, True, "1 GiB"])
def test_set_cache_limit_names_what_it_expects(limit):
    with pytest.raises(ValueError, match=r"limit_bytes must be an int >= 0, got"):
        memory.set_cache_limit(limit)


FORK = """
import os, sys
import numpy as np
from fastnn import memory

block = memory.MIN_BLOCK_BYTES
memory.set_cache_limit(64 << 20)
with memory.cached_arrays():
    kept = [np.full(block, i, np.float32) for i in range(4)]
    del kept  # the child inherits four cached blocks
    pid = os.fork()
    if pid == 0:
        before = memory.stats()
        arrays = [np.zeros(block, np.float32) for _ in range(6)]
        ok = all(not a.any() for a in arrays) and memory.stats()["hits"] - before["hits"] == 4
        del arrays
        memory.release()
        os._exit(0 if ok and memory.stats()["cached_blocks"] == 0 else 3)
    _, status = os.waitpid(pid, 0)
    a = np.empty(block, np.float32)  # the parent's cache still works
sys.exit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_allocates_and_frees():
    """In a fresh process under a timeout: a child stuck on a lock fails the test."""
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(FORK)], timeout=60,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


THREADS = """
import sys, threading
import numpy as np
from fastnn import kernels, memory

memory.set_cache_limit(64 << 20)
rng = np.random.default_rng(0)
a = rng.random((256, 512), dtype=np.float32)
b = rng.random((512, 256), dtype=np.float32)
expected = a.astype(np.float64) @ b
wrong = []


def products():  # each packs B into a 256 KiB block: the threads share the cache
    for _ in range(200):
        if not np.allclose(kernels.matmul(a, b), expected, rtol=1e-5):
            wrong.append(1)


threads = [threading.Thread(target=products) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
sys.exit(1 if wrong else 0)
"""


def test_threads_share_the_cache():
    """Four threads multiply at once (the GIL released in C, so the cache's
    lists are taken and given back concurrently); every product is right.
    In a fresh process under a timeout: lists torn by a race hang or crash."""
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(THREADS)], timeout=120,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
