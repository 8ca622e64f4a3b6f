"""fastnn.datasets: the IDX reader and the Keras-style MNIST / Fashion-MNIST loaders.

Test files are written here with ``struct`` and ``gzip`` directly, independently
of the code under test.  Only the ``real_data`` test reads the real dataset; the
download tests use a local HTTP server on 127.0.0.1, never the network.
"""
import gzip
import hashlib
import http.server
import os
import socket
import struct
import threading
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnn.datasets import fashion_mnist, mnist
from fastnn.datasets.idx import parse_idx, read_idx

# IDX type code -> (struct format letter, NumPy dtype read back, sample values)
TYPES = {
    0x08: ("B", np.uint8, [0, 1, 127, 128, 255]),
    0x09: ("b", np.int8, [-128, -1, 0, 1, 127]),
    0x0B: ("h", np.int16, [-32768, -2, 0, 258, 32767]),
    0x0C: ("i", np.int32, [-2**31, -70000, 0, 65536 + 3, 2**31 - 1]),
    0x0D: ("f", np.float32, [-1.5, 0.0, 0.25, 3.0e38, float("inf")]),
    0x0E: ("d", np.float64, [-1.5, 0.0, 1e-300, 1e300, 2.0**0.5]),
}


def idx_bytes(code, shape, values=None):
    """Bytes of an IDX file, written with struct (big-endian) only."""
    letter = TYPES[code][0]
    count = int(np.prod(shape, dtype=np.int64))
    values = list(values) if values is not None else [0] * count
    return (struct.pack(">BBBB", 0, 0, code, len(shape))
            + struct.pack(f">{len(shape)}I", *shape)
            + struct.pack(f">{len(values)}{letter}", *values))


def write(path, data):
    """Write ``data`` to ``path``, gzip-compressed if the name ends in .gz."""
    path = Path(path)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


# ---- IDX round trips ------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("code", sorted(TYPES))
@pytest.mark.parametrize("shape", [(5,), (1, 5), (5, 2), (2, 5, 3), (1, 2, 1, 5, 1), (0,), (3, 0, 2)])
def test_round_trip(tmp_path, code, shape, suffix):
    letter, dtype, samples = TYPES[code]
    count = int(np.prod(shape))
    values = [samples[i % len(samples)] for i in range(count)]
    path = write(tmp_path / f"a.idx{suffix}", idx_bytes(code, shape, values))

    got = read_idx(path)

    expected = np.array(values, dtype=dtype).reshape(shape)
    assert got.dtype == dtype and got.dtype.isnative
    assert got.shape == shape
    np.testing.assert_array_equal(got, expected)
    assert got.flags.writeable and got.flags.c_contiguous


def test_round_trip_mnist_like_uint8(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    path = write(tmp_path / "img.gz", idx_bytes(0x08, images.shape, images.ravel().tolist()))
    got = read_idx(str(path))  # str paths work as well as Path
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, images)


def test_parse_idx_on_bytes():
    np.testing.assert_array_equal(parse_idx(idx_bytes(0x0B, (2,), [1, -1])), [1, -1])


# ---- bad input: always a ValueError naming the file and the problem -------------------

GOOD = idx_bytes(0x08, (2, 3), range(6))

BAD_PLAIN = {
    "empty": (b"", "too short"),
    "short": (b"\x00\x00\x08", "too short"),
    "magic": (b"\x01\x00" + GOOD[2:], "magic"),
    "magic second byte": (b"\x00\x07" + GOOD[2:], "magic"),
    "gzip in plain file": (gzip.compress(GOOD), "gzip"),
    "type code": (b"\x00\x00\x0a\x02" + GOOD[4:], "unknown data type code 0x0A"),
    "type code 0xff": (b"\x00\x00\xff\x02" + GOOD[4:], "unknown data type"),
    "zero dims": (b"\x00\x00\x08\x00" + GOOD[4:], "zero dimensions"),
    "nine dims": (b"\x00\x00\x08\x09" + struct.pack(">9I", *[1] * 9) + b"\x00",
                  "absurd number of dimensions"),
    "255 dims": (b"\x00\x00\x08\xff", "absurd number of dimensions"),
    "truncated header": (GOOD[:10], "truncated header"),
    "truncated data": (GOOD[:-1], "truncated data"),
    "header only": (GOOD[:12], "truncated data"),
    "trailing bytes": (GOOD + b"\x00", "trailing bytes"),
    "int16 odd payload": (idx_bytes(0x0B, (2,), [1, 2]) + b"\x00", "trailing"),
    "absurd size": (b"\x00\x00\x08\x03" + struct.pack(">3I", 2**32 - 1, 2**32 - 1, 2**32 - 1)
                    + b"\x00" * 16, "absurdly large"),
    "absurd float64": (b"\x00\x00\x0e\x01" + struct.pack(">I", 2**32 - 1), "absurdly large"),
}


@pytest.mark.parametrize("case", sorted(BAD_PLAIN))
def test_bad_plain_file(tmp_path, case):
    data, problem = BAD_PLAIN[case]
    path = write(tmp_path / "bad.idx", data)
    with pytest.raises(ValueError, match=problem) as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("case", sorted(set(BAD_PLAIN) - {"gzip in plain file"}))
def test_bad_content_inside_gzip(tmp_path, case):
    data, problem = BAD_PLAIN[case]
    path = write(tmp_path / "bad.idx.gz", data)
    with pytest.raises(ValueError, match=problem) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def _bad_crc(z):
    z = bytearray(z)
    z[-8] ^= 0xFF  # the CRC32 in the gzip trailer
    return bytes(z)


def _bad_deflate(z):
    z = bytearray(z)
    z[10:14] = b"\xff\xff\xff\xff"  # first bytes of the deflate stream
    return bytes(z)


BAD_GZIP = {
    "not gzip at all": lambda z: GOOD,
    "garbage": lambda z: b"this is not gzip data",
    "truncated stream": lambda z: z[:-12],
    "only gzip magic": lambda z: z[:2],
    "bad crc": _bad_crc,
    "bad deflate data": _bad_deflate,
    "trailing garbage": lambda z: z + b"garbage",
}


@pytest.mark.parametrize("case", sorted(BAD_GZIP))
def test_corrupt_gzip(tmp_path, case):
    path = tmp_path / "bad.idx.gz"
    path.write_bytes(BAD_GZIP[case](gzip.compress(GOOD)))
    with pytest.raises(ValueError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_size_limits(tmp_path):
    data = idx_bytes(0x08, (1000,))
    plain, packed = write(tmp_path / "a.idx", data), write(tmp_path / "a.idx.gz", data)
    assert read_idx(plain, max_bytes=2000).shape == read_idx(packed, max_bytes=2000).shape == (1000,)
    with pytest.raises(ValueError, match="limit"):
        read_idx(plain, max_bytes=500)
    with pytest.raises(ValueError, match="limit"):  # a gzip bomb stops at the limit
        read_idx(packed, max_bytes=500)
    with pytest.raises(ValueError, match="absurdly large"):  # header declares > limit
        parse_idx(data, max_bytes=999)


def test_missing_file_is_an_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope.gz")


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_the_start_is_checked_before_the_rest_is_read(tmp_path, suffix):
    """64 MiB after a start that is not IDX's (type code 0x0A): refused having read
    the first 4 bytes (plain) or the first 4 MiB chunk (gzip), not all of it.  (Paths
    that are not regular files: tests/test_faults.py.)"""
    import tracemalloc
    path = tmp_path / f"big.idx{suffix}"
    start, size = b"\x00\x00\x0a\x01", 64 << 20
    if suffix:
        path.write_bytes(gzip.compress(start + bytes(size - len(start)), 1))
    else:
        with open(path, "wb") as f:
            f.write(start)
            f.truncate(size)        # sparse: no disk space used
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=f"{path}: unknown data type code 0x0A"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"{peak:,} bytes allocated"


# ---- fuzzing: nothing but ValueError, and quickly -----------------------------------

FUZZ = settings(max_examples=100, deadline=timedelta(seconds=5), database=None)


def _read_bytes(data, suffix):
    """read_idx on ``data`` written verbatim to a temporary file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzz{suffix}"
        path.write_bytes(data)
        try:
            return read_idx(path)
        except ValueError as e:
            assert str(path) in str(e)
            return None


@FUZZ
@given(data=st.binary(max_size=80), suffix=st.sampled_from(["", ".gz"]),
       prefix=st.sampled_from([b"", b"\x00\x00", b"\x00\x00\x08", b"\x00\x00\x0d\x02"]))
def test_fuzz_random_bytes(data, suffix, prefix):
    _read_bytes(prefix + data, suffix)


@st.composite
def mutated_files(draw):
    code = draw(st.sampled_from(sorted(TYPES)))
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=3)))
    count = int(np.prod(shape))
    samples = TYPES[code][2]
    data = idx_bytes(code, shape, [samples[i % len(samples)] for i in range(count)])
    gz = draw(st.booleans())
    if gz:
        data = gzip.compress(data)
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["truncate", "flip", "set", "insert", "delete"]))
        at = draw(st.integers(0, len(data)))
        if kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif at < len(data):
            if kind == "flip":
                data[at] ^= 1 << draw(st.integers(0, 7))
            elif kind == "set":
                data[at] = draw(st.integers(0, 255))
            else:
                del data[at]
    return bytes(data), ".gz" if gz else ""


@FUZZ
@given(case=mutated_files())
def test_fuzz_mutated_valid_files(case):
    _read_bytes(*case)


# ---- load_data on synthetic files --------------------------------------------------

LOADERS = [pytest.param(fashion_mnist, id="fashion_mnist"), pytest.param(mnist, id="mnist")]
FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def make_dataset(folder, n_train=6, n_test=4, seed=0, image_shape=(28, 28), labels=None):
    """Write four synthetic IDX .gz files; return the arrays they hold."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = []
    for (images_name, labels_name), n in zip([FILES[:2], FILES[2:]], [n_train, n_test]):
        x = rng.integers(0, 256, (n, *image_shape), dtype=np.uint8)
        y = rng.integers(0, 10, n, dtype=np.uint8) if labels is None else np.asarray(labels, np.uint8)
        write(folder / images_name, idx_bytes(0x08, x.shape, x.ravel().tolist()))
        write(folder / labels_name, idx_bytes(0x08, y.shape, y.tolist()))
        arrays.append((x, y))
    return tuple(arrays)


def closed_port_url():
    """http://127.0.0.1:<port>/ with nothing listening on the port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No $FASTNN_DATASETS, HOME (so the cache) in a temp dir, Fashion-MNIST's system
    folder an empty temp dir, and base URLs on a closed local port: never the network."""
    monkeypatch.delenv("FASTNN_DATASETS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(fashion_mnist, "DEFAULT_DIR", str(tmp_path / "no-default"))
    for loader in (fashion_mnist, mnist):
        monkeypatch.setattr(loader, "BASE_URL", closed_port_url())
    return monkeypatch


def cache_of(tmp_path, loader):
    return tmp_path / "home" / ".fastnn" / "datasets" / loader.NAME


def files_under(folder):
    return sorted(p.name for p in Path(folder).rglob("*") if p.is_file()) if Path(folder).exists() else []


def test_env_var_is_shared():
    assert fashion_mnist.ENV_VAR == mnist.ENV_VAR == "FASTNN_DATASETS"
    assert (fashion_mnist.NAME, mnist.NAME) == ("fashion-mnist", "mnist")


@pytest.mark.parametrize("loader", LOADERS)
def test_load_data_synthetic(tmp_path, clean_env, loader):
    expected = make_dataset(tmp_path / "data", n_train=6, n_test=4)
    (x_train, y_train), (x_test, y_test) = loader.load_data(tmp_path / "data")
    assert x_train.shape == (6, 28, 28) and x_test.shape == (4, 28, 28)
    assert y_train.shape == (6,) and y_test.shape == (4,)
    for a in (x_train, y_train, x_test, y_test):
        assert a.dtype == np.uint8
    for got, want in zip((x_train, y_train, x_test, y_test), [a for pair in expected for a in pair]):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("loader", LOADERS)
def test_search_order(tmp_path, clean_env, loader):
    """path > $FASTNN_DATASETS/<name> > cache > system folder (Fashion-MNIST only)."""
    make_dataset(tmp_path / "arg", n_train=1)
    make_dataset(tmp_path / "env" / loader.NAME, n_train=2)
    make_dataset(cache_of(tmp_path, loader), n_train=3)
    make_dataset(tmp_path / "system", n_train=4)
    clean_env.setattr(fashion_mnist, "DEFAULT_DIR", str(tmp_path / "system"))
    clean_env.setenv("FASTNN_DATASETS", str(tmp_path / "env"))
    n = lambda *a: len(loader.load_data(*a, download=False)[0][0])  # noqa: E731
    assert n(str(tmp_path / "arg")) == 1
    assert n() == 2
    clean_env.delenv("FASTNN_DATASETS")
    assert n() == 3
    for f in FILES:
        (cache_of(tmp_path, loader) / f).unlink()
    if loader is fashion_mnist:
        assert n() == 4
    else:  # MNIST has no system folder
        with pytest.raises(FileNotFoundError):
            n()


@pytest.mark.parametrize("loader", LOADERS)
def test_incomplete_folder_falls_through(tmp_path, clean_env, loader):
    make_dataset(tmp_path / "env" / loader.NAME, n_train=2)
    (tmp_path / "env" / loader.NAME / FILES[1]).unlink()
    make_dataset(cache_of(tmp_path, loader), n_train=3)
    clean_env.setenv("FASTNN_DATASETS", str(tmp_path / "env"))
    assert len(loader.load_data(download=False)[0][0]) == 3


def test_path_argument_does_not_fall_back(tmp_path, clean_env):
    make_dataset(cache_of(tmp_path, fashion_mnist))
    with pytest.raises(FileNotFoundError, match="does not exist") as info:
        fashion_mnist.load_data(tmp_path / "typo")
    assert "typo" in str(info.value)


def test_fashion_missing_files_message(tmp_path, clean_env):
    with pytest.raises(FileNotFoundError) as info:
        fashion_mnist.load_data(download=False)
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "$FASTNN_DATASETS/fashion-mnist/" in message
    assert "~/.fastnn/datasets/fashion-mnist/" in message
    assert "download=False" in message
    for name in FILES:
        assert name in message


def test_missing_some_files_are_named(tmp_path, clean_env):
    make_dataset(tmp_path)
    (tmp_path / FILES[3]).unlink()
    with pytest.raises(FileNotFoundError, match="missing from .*t10k-labels-idx1-ubyte.gz"):
        fashion_mnist.load_data(tmp_path)


def test_mnist_missing_files_message(tmp_path, clean_env):
    with pytest.raises(FileNotFoundError) as info:
        mnist.load_data(download=False)
    message = str(info.value)
    assert "$FASTNN_DATASETS/mnist/" in message and "~/.fastnn/datasets/mnist/" in message
    assert "no Debian" in message
    with pytest.raises(FileNotFoundError, match="does not exist"):
        mnist.load_data(tmp_path / "absent")


# ---- downloading, from a local HTTP server only -------------------------------------

@pytest.fixture
def server(tmp_path):
    """A local HTTP server on 127.0.0.1 serving tmp_path/"served"; yields (url, folder, log)."""
    folder = tmp_path / "served"
    folder.mkdir()
    log = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(folder), **k)

        def log_message(self, format, *args):
            log.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", folder, log
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def content_sha256(folder):
    return {f: hashlib.sha256(gzip.decompress((folder / f).read_bytes())).hexdigest() for f in FILES}


@pytest.mark.parametrize("loader", LOADERS)
def test_download_success(tmp_path, clean_env, server, capsys, loader):
    url, served, log = server
    expected = make_dataset(served, n_train=5, n_test=3)
    clean_env.setattr(loader, "BASE_URL", url)
    clean_env.setattr(loader, "SHA256", content_sha256(served))

    (x_train, y_train), (x_test, y_test) = loader.load_data()

    for got, want in zip((x_train, y_train, x_test, y_test), [a for pair in expected for a in pair]):
        np.testing.assert_array_equal(got, want)
    assert files_under(cache_of(tmp_path, loader)) == sorted(FILES)  # no temp files left
    assert sorted(log) == sorted("/" + f for f in FILES)
    assert "Downloading " + url in capsys.readouterr().err
    loader.load_data()  # now served from the cache
    assert len(log) == 4


def test_download_fetches_only_missing_files(tmp_path, clean_env, server):
    url, served, log = server
    make_dataset(served)
    make_dataset(cache_of(tmp_path, mnist))
    (cache_of(tmp_path, mnist) / FILES[2]).unlink()
    clean_env.setattr(mnist, "BASE_URL", url)
    mnist.load_data()
    assert log == ["/" + FILES[2]]


def test_download_checksum_mismatch(tmp_path, clean_env, server):
    url, served, _ = server
    make_dataset(served)
    sums = content_sha256(served)
    sums[FILES[3]] = "0" * 64
    clean_env.setattr(fashion_mnist, "BASE_URL", url)
    clean_env.setattr(fashion_mnist, "SHA256", sums)
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz: SHA-256 checksum mismatch"):
        fashion_mnist.load_data()
    assert files_under(tmp_path / "home") == []


@pytest.mark.parametrize("bad", [b"", b"not gzip", gzip.compress(b"not idx")])
def test_download_invalid_file_without_checksum(tmp_path, clean_env, server, bad):
    url, served, _ = server
    make_dataset(served)
    (served / FILES[0]).write_bytes(bad)
    clean_env.setattr(mnist, "BASE_URL", url)
    assert all(v is None for v in mnist.SHA256.values())
    with pytest.raises(ValueError, match=FILES[0]):
        mnist.load_data()
    assert files_under(tmp_path / "home") == []


def test_download_http_error_is_file_not_found(tmp_path, clean_env, server):
    url, served, _ = server  # serves nothing: 404
    clean_env.setattr(mnist, "BASE_URL", url)
    with pytest.raises(FileNotFoundError, match="404"):
        mnist.load_data()
    assert files_under(tmp_path / "home") == []


@pytest.mark.parametrize("loader", LOADERS)
def test_download_unreachable(tmp_path, clean_env, loader):
    with pytest.raises(FileNotFoundError) as info:
        loader.load_data()  # BASE_URL is a closed port on 127.0.0.1
    message = str(info.value)
    assert loader.BASE_URL in message
    assert f"$FASTNN_DATASETS/{loader.NAME}/" in message
    assert f"~/.fastnn/datasets/{loader.NAME}/" in message
    if loader is fashion_mnist:
        assert "apt-get install dataset-fashion-mnist" in message
    assert files_under(tmp_path / "home") == []


def test_path_argument_never_downloads(tmp_path, clean_env, server):
    url, served, log = server
    make_dataset(served)
    clean_env.setattr(mnist, "BASE_URL", url)
    with pytest.raises(FileNotFoundError):
        mnist.load_data(tmp_path / "absent")
    assert log == []


@pytest.mark.parametrize("loader", LOADERS)
def test_load_data_count_mismatch(tmp_path, clean_env, loader):
    make_dataset(tmp_path)
    write(tmp_path / FILES[1], idx_bytes(0x08, (5,), [1] * 5))  # 6 images, 5 labels
    with pytest.raises(ValueError, match="6 images .* 5 labels") as info:
        loader.load_data(tmp_path)
    assert FILES[0] in str(info.value) and FILES[1] in str(info.value)


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("bad", [10, 255])
def test_load_data_label_out_of_range(tmp_path, clean_env, loader, bad):
    make_dataset(tmp_path, n_train=3, n_test=3, labels=[0, 9, 1])
    write(tmp_path / FILES[3], idx_bytes(0x08, (3,), [0, bad, 1]))
    with pytest.raises(ValueError, match=f"label {bad} at index 1 is outside 0..9") as info:
        loader.load_data(tmp_path)
    assert FILES[3] in str(info.value)


@pytest.mark.parametrize("loader", LOADERS)
def test_load_data_wrong_image_shape(tmp_path, clean_env, loader):
    make_dataset(tmp_path, image_shape=(27, 28))
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        loader.load_data(tmp_path)


@pytest.mark.parametrize("loader", LOADERS)
def test_load_data_wrong_label_type(tmp_path, clean_env, loader):
    make_dataset(tmp_path)
    write(tmp_path / FILES[1], idx_bytes(0x0C, (6,), [1] * 6))  # int32 labels
    with pytest.raises(ValueError, match="unsigned-byte labels"):
        loader.load_data(tmp_path)


def test_damaged_file_propagates_valueerror(tmp_path, clean_env):
    make_dataset(tmp_path)
    data = (tmp_path / FILES[2]).read_bytes()
    (tmp_path / FILES[2]).write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz: corrupt or truncated gzip"):
        fashion_mnist.load_data(tmp_path)


def test_class_names():
    assert fashion_mnist.CLASS_NAMES == (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


# ---- the real thing ----------------------------------------------------------------

REAL_DIR = "/usr/share/datasets/fashion-mnist"


@pytest.mark.real_data
@pytest.mark.skipif(not os.path.isdir(REAL_DIR),
                    reason=f"{REAL_DIR} absent: apt-get install dataset-fashion-mnist")
def test_real_fashion_mnist(monkeypatch, tmp_path):
    monkeypatch.delenv("FASTNN_DATASETS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no cache: the system folder must be found
    start = time.perf_counter()
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(download=False)  # system folder
    seconds = time.perf_counter() - start
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    for a in (x_train, y_train, x_test, y_test):
        assert a.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(y_train, minlength=10), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(y_test, minlength=10), [1000] * 10)
    assert list(y_train[:4]) == [9, 0, 0, 3]  # Ankle boot, T-shirt/top, T-shirt/top, Dress
    assert x_train.max() == 255 and x_train.min() == 0
    assert seconds < 10, f"load_data took {seconds:.2f} s"
