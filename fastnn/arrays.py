"""What users pass in (NumPy arrays, nested Python lists) as a NumPy array of
real numbers, or a clear error: the first check behind every entry point."""
import numpy as np

REAL_KINDS = "biuf"  # dtype kinds of real numbers: bool, signed, unsigned, float


def real_array(value, what):
    """``np.asarray(value)``, refusing ragged lists and non-numeric data.

    ``what`` starts the error message and names the argument, e.g.
    ``"conv2d: x"`` or ``"KMeans: x"``.  The dtype is left as it is:
    each caller converts to the precision it computes in.
    """
    try:
        array = np.asarray(value)
    except ValueError as err:  # nested lists of different lengths
        raise ValueError(f"{what} must be a rectangular array of numbers "
                         f"(rows of different lengths?): {err}") from None
    if array.dtype.kind not in REAL_KINDS:
        raise ValueError(f"{what} must hold real numbers, got dtype {array.dtype}")
    return array
