"""Write a file so that nobody ever sees half of it: temporary file, then rename.

Saving a model (``model.save``, ``ModelCheckpoint``) or downloading a dataset
can be interrupted at any moment -- Ctrl+C, a full disk, the process killed,
the machine losing power.  Writing straight into ``model.fnn`` would then
leave a truncated file *in place of the previous good one*.  Instead:

1. write everything into a new temporary file in the same folder, named
   ``.fastnn-<random>.tmp`` (hidden, and never a name a loader looks for);
2. ``fsync`` it: the bytes are on the disk, not just in the page cache;
3. ``os.replace`` it onto the target name.  Within one file system a rename
   is atomic: every reader sees either the old file or the new one;
4. ``fsync`` the folder, so that the rename itself survives a power cut.

If the writing fails with an exception the temporary file is removed.  A
process killed outright (SIGKILL, power loss) cannot clean up: its
``.fastnn-*.tmp`` file stays behind.  Such leftovers are harmless -- no
loader reads them, the target still holds the last complete version -- and
may be deleted by hand; fastnn does not delete them itself, since one may
belong to another process writing at this very moment.

The temporary file is created with the usual permissions (0666 minus the
umask), as ``open(path, "wb")`` would, so the result is readable like any
other file the user writes.
"""
import contextlib
import os
import secrets

TEMP_PREFIX = ".fastnn-"
TEMP_SUFFIX = ".tmp"


def open_temporary(folder):
    """A new, empty temporary file in ``folder``: (binary file object, its path)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        path = os.path.join(folder, f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}")
        try:
            fd = os.open(path, flags, 0o666)
        except FileExistsError:   # 2**64 names: practically never
            continue
        return os.fdopen(fd, "wb"), path


def flush_to_disk(f):
    """Push an open file's bytes through Python's buffer and the OS cache to the disk."""
    f.flush()
    os.fsync(f.fileno())


def commit(temporary, target):
    """Atomically put the finished (flushed) ``temporary`` file in place of ``target``."""
    os.replace(temporary, target)
    _sync_folder(os.path.dirname(os.path.abspath(target)))


def _sync_folder(folder):
    """fsync a folder so a rename in it is durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


@contextlib.contextmanager
def atomic_write(target):
    """``with atomic_write(path) as f: f.write(...)``: ``path`` changes only if the block finishes.

    The file object is a temporary file beside ``path``; on leaving the block
    normally it is flushed to disk and renamed onto ``path``.  On an
    exception (KeyboardInterrupt included) it is removed and ``path`` keeps
    its previous content.
    """
    target = os.fspath(target)
    f, temporary = open_temporary(os.path.dirname(os.path.abspath(target)))
    try:
        with f:
            yield f
            flush_to_disk(f)
        commit(temporary, target)
    except BaseException:
        remove_quietly(temporary)
        raise
