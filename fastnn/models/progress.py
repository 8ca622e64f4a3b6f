"""What fit and evaluate print, in tf.keras 2.0's format (the course's).

verbose=2, one line per epoch (chapter 7)::

    Epoch 2/20
    40/40 - 0s - loss: 0.7090 - accuracy: 0.5000

verbose=1, a progress bar redrawn in place on a terminal; when the output
is not a terminal (a log file, a notebook capture) only each epoch's final
line is printed::

    40/40 [==============================] - 0s 2ms/sample - loss: 0.7090 - accuracy: 0.5000
"""
import sys
import time

BAR_WIDTH = 30


def format_logs(logs):
    """" - loss: 0.7090 - accuracy: 0.5000": 4 decimals, or scientific when tiny."""
    return "".join(f" - {key}: {value:.4f}" if value > 1e-3 else f" - {key}: {value:.4e}"
                   for key, value in logs.items())


def _duration(seconds):
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds)}s"


def _per_sample(seconds):
    if seconds >= 1:
        return f"{seconds:.0f}s/sample"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/sample"
    return f"{seconds * 1e6:.0f}us/sample"


class Progress:
    """Prints the progress of one pass (an epoch, or an evaluation) over `total` samples."""

    def __init__(self, total, verbose, stream=None):
        self.total = total
        self.verbose = verbose
        self.stream = stream or sys.stdout
        self.live = verbose == 1 and getattr(self.stream, "isatty", lambda: False)()
        self.start = time.perf_counter()
        self.width = len(str(total))

    def _bar(self, seen):
        filled = int(BAR_WIDTH * seen / self.total) if self.total else BAR_WIDTH
        bar = ""
        if filled > 0:
            bar = "=" * (filled - 1) + (">" if seen < self.total else "=")
        return f"{seen:>{self.width}}/{self.total} [{bar}{'.' * (BAR_WIDTH - len(bar))}]"

    def update(self, seen, logs):
        """After each batch: redraw the live bar (terminal, verbose=1 only)."""
        if not self.live or seen >= self.total:
            return
        elapsed = time.perf_counter() - self.start
        eta = elapsed / seen * (self.total - seen) if seen else 0
        self.stream.write(f"\r{self._bar(seen)} - ETA: {_duration(eta)}{format_logs(logs)}")
        self.stream.flush()

    def finish(self, logs):
        """At the end of the pass: the final line."""
        if not self.verbose:
            return
        elapsed = time.perf_counter() - self.start
        if self.verbose == 2:
            line = f"{self.total}/{self.total} - {elapsed:.0f}s{format_logs(logs)}"
        else:
            line = (f"{self._bar(self.total)} - {elapsed:.0f}s "
                    f"{_per_sample(elapsed / max(self.total, 1))}{format_logs(logs)}")
        self.stream.write(("\r" if self.live else "") + line + "\n")
        self.stream.flush()
