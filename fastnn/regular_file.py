"""Open a path the user gave for reading, but only if it is a regular file.

``load_model``, ``load_weights`` and ``read_idx`` read whatever path they
are given, and not every path holds bytes that end:

- ``/dev/zero`` (a character device) yields zeros forever: a reader that
  reads to the end never returns, and its memory grows until it runs out;
- opening a FIFO (named pipe) for reading waits until another process
  opens it for writing, which may be never;
- a directory or a socket has no bytes to read at all.

So the path must be a regular file (or a symbolic link to one) before
anything is opened or read; otherwise a ValueError names the path and what
it is::

    ValueError: /dev/zero is a character device, not a fastnn model file

The check is made twice: on ``os.stat`` before opening, and on the opened
file with ``os.fstat``, since the path may have been replaced in between.
The file is opened with ``O_NONBLOCK``, so that even a FIFO put there in
between is opened at once (and then refused) instead of blocking.
"""
import os
import stat

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISSOCK, "a socket"))
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)   # POSIX; Windows has no FIFOs to open


def kind(mode):
    """What a file of ``st_mode`` ``mode`` is, as words: "a directory", ..."""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((name for is_kind, name in _KINDS if is_kind(mode)), "not a regular file")


def _refuse_unless_regular(mode, path, what):
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path} is {kind(mode)}, not {what}: give the path of a file")


def open_regular_file(path, what):
    """``path`` opened for reading in binary mode, if it is a regular file.

    ``what`` names what the file should be ("a fastnn model file") for the
    ValueError raised when it is not a regular file.  A path that does not
    exist or may not be read raises the OSError of ``os.stat``
    (FileNotFoundError, PermissionError), as ``open`` would.
    """
    path = os.fspath(path)
    _refuse_unless_regular(os.stat(path).st_mode, path, what)
    fd = os.open(path, os.O_RDONLY | _NONBLOCK | getattr(os, "O_BINARY", 0))
    try:
        _refuse_unless_regular(os.fstat(fd).st_mode, path, what)
        if _NONBLOCK:
            os.set_blocking(fd, True)   # plain reads from here on
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
