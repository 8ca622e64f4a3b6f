"""A strict, safe reader for the IDX file format (the format of MNIST).

An IDX file is a tiny header followed by one flat block of numbers::

    offset  size      meaning
    0       2 bytes   0x00 0x00               (the "magic" start)
    2       1 byte    type code of the data   (see below)
    3       1 byte    number of dimensions n  (1 for labels, 3 for images)
    4       4*n       the n dimension sizes, each a big-endian uint32
    4+4n    ...       the data, row-major (C order), big-endian

    type code   NumPy dtype   meaning
    0x08        uint8         unsigned byte (MNIST pixels and labels)
    0x09        int8          signed byte
    0x0B        >i2           16-bit integer
    0x0C        >i4           32-bit integer
    0x0D        >f4           32-bit float
    0x0E        >f8           64-bit float

For example the MNIST training images start with ``00 00 08 03 | 00 00 ea 60
| 00 00 00 1c | 00 00 00 1c``: unsigned bytes, 3 dimensions, 60000 x 28 x 28,
and then exactly 60000*28*28 = 47,040,000 bytes of pixels.  The files are
usually shipped gzip-compressed (``train-images-idx3-ubyte.gz``).

The header is untrusted: every size it declares is checked against the bytes
actually present *before* NumPy looks at them, so a damaged or hostile file
gives a ``ValueError`` naming the file and the problem -- never a crash, a
hang or a huge allocation.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np

from ..regular_file import open_regular_file

__all__ = ["MAX_BYTES", "TYPE_CODES", "parse_idx", "read_idx"]

#: IDX type code -> NumPy dtype of the stored (big-endian) data.
TYPE_CODES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

#: Refuse files (after decompression) larger than this: 1 GiB, 20x MNIST.
MAX_BYTES = 1 << 30

_MAX_DIMS = 8
_CHUNK = 1 << 22  # decompress 4 MiB at a time


def read_idx(path, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """Read the IDX file at ``path`` (gzip-compressed if it ends in ``.gz``).

    Returns a NumPy array of the declared shape, in native byte order
    (``uint8`` for type 0x08).  Raises ``ValueError`` naming the file if it
    is not a regular file (a directory, a FIFO, a device such as
    ``/dev/zero``: see ``fastnn.regular_file``) or its content is not a
    well-formed IDX file, and the usual ``OSError`` (e.g.
    ``FileNotFoundError``) if it cannot be opened.  The first bytes are
    checked before the rest is read.
    """
    path = os.fsdecode(path)
    with open_regular_file(path, "an IDX file") as f:
        if path.endswith(".gz"):
            data = _gunzip(f, path, max_bytes)
        else:
            size = os.fstat(f.fileno()).st_size
            if size > max_bytes:
                raise ValueError(f"{path}: file is {size:,} bytes, over the {max_bytes:,}-byte limit")
            start = f.read(4)
            _check_start(start, path)   # before reading up to max_bytes of something else
            data = start + f.read()
    return parse_idx(data, source=path, max_bytes=max_bytes)


def _gunzip(f, path, max_bytes: int) -> bytes:
    """Decompress an open gzip file holding an IDX file, refusing more than
    ``max_bytes`` of output.  Two starts are checked before the rest is
    read: gzip's own (1f 8b, by gzip) and IDX's, in the first chunk."""
    chunks, total = [], 0
    try:
        with gzip.GzipFile(fileobj=f, mode="rb") as z:
            while True:
                chunk = z.read(_CHUNK)
                if not chunk:
                    break
                if not chunks:
                    _check_start(chunk, path)
                total += len(chunk)
                if total > max_bytes:
                    raise ValueError(f"{path}: decompresses to over the {max_bytes:,}-byte limit")
                chunks.append(chunk)
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: corrupt or truncated gzip stream ({e})") from None
    return b"".join(chunks)


def _check_start(data: bytes, source: str) -> None:
    """ValueError unless ``data`` starts as an IDX file does: magic 00 00, a
    known type code, 1 to 8 dimensions (its first 4 bytes are enough)."""
    def bad(problem: str) -> ValueError:
        return ValueError(f"{source}: {problem}")

    if len(data) < 4:
        raise bad(f"too short for an IDX header: {len(data)} bytes, need at least 4")
    if data[0] != 0 or data[1] != 0:
        hint = " (it looks gzip-compressed: name it *.gz)" if data[:2] == b"\x1f\x8b" else ""
        raise bad(f"bad magic number: an IDX file starts with bytes 00 00, "
                  f"got {data[0]:02x} {data[1]:02x}{hint}")
    code, ndim = data[2], data[3]
    if code not in TYPE_CODES:
        known = ", ".join(f"0x{c:02X}" for c in TYPE_CODES)
        raise bad(f"unknown data type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise bad("zero dimensions declared (byte 3 of the header is 0)")
    if ndim > _MAX_DIMS:
        raise bad(f"absurd number of dimensions: {ndim} (at most {_MAX_DIMS} accepted)")


def parse_idx(data: bytes, source: str = "<bytes>", max_bytes: int = MAX_BYTES) -> np.ndarray:
    """Decode the bytes of an (uncompressed) IDX file; see the module docstring.

    ``source`` names the data in error messages.
    """
    def bad(problem: str) -> ValueError:
        return ValueError(f"{source}: {problem}")

    _check_start(data, source)
    code, ndim = data[2], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise bad(f"truncated header: {ndim} dimensions need {header} header bytes, "
                  f"file has {len(data)}")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = TYPE_CODES[code]
    count = spread = 1
    for n in shape:  # Python ints: no overflow, however large the header claims
        count *= n
        spread *= max(n, 1)
    declared, present = count * dtype.itemsize, len(data) - header
    if declared > max_bytes:
        raise bad(f"declared size absurdly large: shape {shape} of {dtype.itemsize}-byte "
                  f"items is {declared:,} bytes (limit {max_bytes:,}), file has {present:,}")
    if spread * dtype.itemsize > max_bytes:
        # empty because of a 0, but NumPy cannot even represent such a shape
        raise bad(f"declared shape {shape} is absurd: its non-zero sizes alone multiply to "
                  f"{spread * dtype.itemsize:,} bytes (limit {max_bytes:,})")
    if declared > present:
        raise bad(f"truncated data: shape {shape} needs {declared:,} bytes, "
                  f"only {present:,} present")
    if declared < present:
        raise bad(f"{present - declared:,} trailing bytes after the {declared:,} bytes "
                  f"of data declared by shape {shape}")

    # Lengths verified: now it is safe to let NumPy view the buffer.  astype()
    # copies into a writable array in native byte order.
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=header)
    return flat.astype(dtype.newbyteorder("="), copy=True).reshape(shape)
