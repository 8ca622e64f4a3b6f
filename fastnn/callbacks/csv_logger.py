"""CSVLogger: every epoch's logs as one row of a CSV file."""
import csv
import os

from .base import Callback


class CSVLogger(Callback):
    """Write the epoch number (from 0) and every value of the epoch logs to ``filename``.

    The columns are ``epoch`` and then the log keys in alphabetical order, as
    in tf.keras 2, e.g.::

        epoch,accuracy,loss,val_accuracy,val_loss
        0,0.5,0.6931471824645996,0.5,0.6925390362739563

    The file is written as training goes, row by row, so it can be read (or
    plotted) while ``fit`` runs.  A key of the first epoch that is missing
    from a later one is written as ``NA``.

    Args:
        filename: the CSV file; missing folders are not created.
        separator: the field separator.
        append: add to an existing file (no second header) instead of
            starting it anew.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = append
        self.keys = None
        self._file = self._writer = None
        self._needs_header = True

    def on_train_begin(self, logs=None):
        self.keys = None
        self._writer = None
        self._needs_header = not (self.append and os.path.exists(self.filename)
                                  and os.path.getsize(self.filename) > 0)
        self._file = open(self.filename, "a" if self.append else "w", newline="",
                          encoding="utf-8")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + self.keys,
                                          delimiter=self.separator, lineterminator="\n")
            if self._needs_header:
                self._writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, logs.get(key, "NA")) for key in self.keys)
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
        self._file = self._writer = None
