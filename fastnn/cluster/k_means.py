"""KMeans: group unlabeled samples around k centres (course, chapter 15).

Clustering is unsupervised learning: the data has no labels, and the task
is to group the samples so that samples in one group (cluster) are more
alike than samples in different groups.  The course's example measures the
height and weight of people without saying who is a man and who a woman;
plotted, the points form two clouds, and a clustering algorithm finds them
on its own.  k-means is the classic such algorithm: "alike" means "close"
in Euclidean distance, and each cluster is represented by its centre.
"""
import math
import numbers
from typing import NamedTuple

import numpy as np

from .. import random as fastnn_random
from ..arrays import real_array

INITS = ("k-means++", "random")

# Size of one (rows x clusters) block of squared distances: 2**20 float64
# values = 8 MiB, however many samples there are (60,000 x 784 included).
_BLOCK_ELEMENTS = 2**20


class NotFittedError(ValueError, AttributeError):
    """A method needs the cluster centres, but ``fit`` has not run yet.

    A ``ValueError`` and an ``AttributeError``, as scikit-learn's error of
    the same name, so either ``except`` catches it.
    """


class KMeans:
    """k-means clustering with Lloyd's algorithm and k-means++ seeding.

    >>> people = [[160, 55], [165, 58], [158, 52], [183, 82], [178, 79], [186, 90]]
    >>> kmeans = KMeans(n_clusters=2, random_state=0).fit(people)  # (height cm, weight kg)
    >>> kmeans.labels_                   # two groups; nobody told it which is which
    array([1, 1, 1, 0, 0, 0])
    >>> kmeans.cluster_centers_.round(1)
    array([[182.3,  83.7],
           [161. ,  55. ]])
    >>> kmeans.predict([[170, 60]])      # the cluster of a new person
    array([1])

    **What k-means minimises.**  Given k centres, every sample belongs to
    its nearest centre.  The *inertia* is the sum, over all samples, of the
    squared distance to that nearest centre: how far the samples lie from
    the centres that represent them.  k-means looks for the k centres with
    the lowest inertia.  Finding the very best ones is NP-hard, so Lloyd's
    algorithm improves a starting guess instead.

    **Lloyd's algorithm** repeats two steps:

    1. *assign*: give each sample the label of its nearest centre;
    2. *update*: move each centre to the mean of the samples assigned to it.

    Neither step can raise the inertia (the nearest centre is the best
    choice for a sample; the mean is the point with the smallest summed
    squared distance to a group), so it falls until the centres stop
    moving: until the sum of their squared moves in one update is at most
    ``tol`` times the mean variance of the features (scikit-learn's scaling,
    so ``tol`` means the same for data in metres or millimetres), or after
    ``max_iter`` rounds.  The result is a *local* minimum that depends on
    the starting centres; ``n_init`` runs from different starts and keeps
    the one with the lowest inertia.

    **Why k-means++ seeding.**  Random starting centres often put two
    centres in one true cluster and none in another, and Lloyd's algorithm
    rarely repairs that.  k-means++ picks the first centre uniformly at
    random and each next one with probability proportional to D(x)², the
    squared distance from x to the nearest centre picked so far: far-away,
    still uncovered regions are likely to get a centre.  This is the
    greedy variant scikit-learn uses: each step draws 2 + ⌊ln k⌋
    candidates that way and keeps the one that lowers the inertia most.

    **Empty clusters.**  If no sample is nearest to some centre, the update
    step has no mean to move it to.  That centre is then re-seeded with the
    sample farthest from its own centre (taken from a cluster that keeps at
    least one sample), and that sample moves to the new cluster, so after
    every update step each of the k clusters has at least one sample.

    Computation runs in float64 on a float64 copy of the data, so the
    inertia (a sum of up to millions of squared distances) keeps its digits;
    ``cluster_centers_`` and ``transform`` are float64 too.  Squared
    distances are computed as ||x||² − 2 x·c + ||c||² (one matrix product,
    clipped at 0 against rounding) in blocks of rows, so while fitting and
    predicting they take a few MiB whatever the number of samples.

    Args:
        n_clusters: k, the number of clusters (a positive int).
        init: "k-means++" (default), "random" (k distinct samples picked
            uniformly), or an array (k, n_features) of starting centres
            (then a single run, whatever ``n_init`` says).
        n_init: how many runs from different starting centres; the run with
            the lowest inertia wins; each run costs as much as a whole fit.
            "auto" means 1 for "k-means++" and 10 for "random", as in
            scikit-learn >= 1.4.
        max_iter: at most this many rounds of Lloyd's two steps per run.
        tol: convergence threshold (>= 0) on the centres' movement, relative
            to the mean feature variance (see above); 0 runs until the
            labels no longer change.
        random_state: None (fastnn's global generator, reseeded by
            ``fastnn.utils.set_random_seed``), an int >= 0 (the same int
            gives the same clustering), or a ``numpy.random.Generator``
            (each run draws its starting centres from it in turn).

    Attributes (after ``fit``):
        cluster_centers_: float64 (n_clusters, n_features), the centres.
        labels_: int (n_samples,), the cluster of each training sample:
            the index of its nearest centre.
        inertia_: sum of squared distances of the training samples to
            their nearest centre.
        n_iter_: rounds of Lloyd's algorithm the best run took.
        inertia_history_: list of the best run's inertia before its first
            round and after each round (length ``n_iter_ + 1``, ending with
            ``inertia_``); it never rises.
        n_features_in_: number of features seen in ``fit``.

    Raises:
        ValueError: an argument out of range or an unknown ``init`` name
            (here); in ``fit``, data that is not a finite, non-empty 2-D array
            with at least ``n_clusters`` samples, or an ``init`` array of the
            wrong shape; ``NotFittedError`` (a ValueError) from a method
            that needs ``fit`` first.
        TypeError: ``random_state`` of the wrong kind.
    """

    def __init__(self, n_clusters=8, *, init="k-means++", n_init=10, max_iter=300,
                 tol=1e-4, random_state=None):
        self.n_clusters = _positive_int("n_clusters", n_clusters)
        if isinstance(init, str):
            if init not in INITS:
                raise ValueError(f"KMeans: init must be one of {', '.join(map(repr, INITS))} "
                                 f"or an array of starting centres, got {init!r}")
        else:
            init = _finite_matrix("init", init, row="centre")
            if init.shape[0] != self.n_clusters:
                raise ValueError(f"KMeans: init has {init.shape[0]} centres but "
                                 f"n_clusters={self.n_clusters}")
        self.init = init
        if not (isinstance(n_init, str) and n_init == "auto"):
            n_init = _positive_int("n_init", n_init, 'a positive int or "auto"')
        self.n_init = n_init
        self.max_iter = _positive_int("max_iter", max_iter)
        if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not tol >= 0:
            raise ValueError(f"KMeans: tol must be a number >= 0, got {tol!r}")
        self.tol = float(tol)
        self.random_state = _random_state(random_state)

    # ---- fitting ------------------------------------------------------------

    def fit(self, x, y=None):
        """Cluster ``x`` (n_samples, n_features); returns self.

        ``y`` is ignored: clustering has no labels (it is accepted so that
        code written for scikit-learn runs unchanged).
        """
        x = _finite_matrix("x", x)
        n_samples, n_features = x.shape
        if n_samples < self.n_clusters:
            raise ValueError(f"KMeans: x has {n_samples} samples, fewer than "
                             f"n_clusters={self.n_clusters}")
        if isinstance(self.init, np.ndarray) and self.init.shape[1] != n_features:
            raise ValueError(f"KMeans: init centres have {self.init.shape[1]} features but x "
                             f"has {n_features}")
        x_squared = _row_norms_squared(x)
        threshold = self.tol * float(np.mean(np.var(x, axis=0)))
        rng = self._generator()
        best = None
        for _ in range(self._runs()):
            centers = self._initial_centers(x, x_squared, rng)
            run = _lloyd(x, x_squared, centers, self.max_iter, threshold)
            if best is None or run.inertia_history[-1] < best.inertia_history[-1]:
                best = run
        self.cluster_centers_ = best.centers
        self.labels_ = best.labels
        self.inertia_ = best.inertia_history[-1]
        self.inertia_history_ = best.inertia_history
        self.n_iter_ = best.n_iter
        self.n_features_in_ = n_features
        return self

    def fit_predict(self, x, y=None):
        """Cluster ``x`` and return ``labels_``."""
        return self.fit(x).labels_

    def _runs(self):
        if isinstance(self.init, np.ndarray):
            return 1
        if self.n_init == "auto":
            return 1 if self.init == "k-means++" else 10
        return self.n_init

    def _generator(self):
        if self.random_state is None:
            return fastnn_random.generator()
        if isinstance(self.random_state, np.random.Generator):
            return self.random_state
        return np.random.default_rng(self.random_state)

    def _initial_centers(self, x, x_squared, rng):
        if isinstance(self.init, np.ndarray):
            return self.init.copy()
        if self.init == "random":
            return x[rng.choice(len(x), self.n_clusters, replace=False)]
        return _k_means_plus_plus(x, x_squared, self.n_clusters, rng)

    # ---- using the centres --------------------------------------------------

    def predict(self, x):
        """The index of the nearest centre for each sample of ``x``."""
        x = self._check_features(x)
        return _assign(x, _row_norms_squared(x), self.cluster_centers_)[0]

    def transform(self, x):
        """Euclidean distances (n_samples, n_clusters) of ``x`` to each centre."""
        x = self._check_features(x)
        squared = _squared_distances(x, _row_norms_squared(x), self.cluster_centers_)
        return np.sqrt(squared, out=squared)

    def score(self, x, y=None):
        """Minus the inertia of ``x`` with these centres (higher is better)."""
        x = self._check_features(x)
        return -float(_assign(x, _row_norms_squared(x), self.cluster_centers_)[1].sum())

    def _check_features(self, x):
        if not hasattr(self, "cluster_centers_"):
            raise NotFittedError("KMeans: this instance is not fitted yet; call fit(x) first")
        x = _finite_matrix("x", x)
        if x.shape[1] != self.n_features_in_:
            raise ValueError(f"KMeans: x has {x.shape[1]} features, but the model was fitted "
                             f"on {self.n_features_in_}")
        return x

    def __repr__(self):
        init = "array" if isinstance(self.init, np.ndarray) else repr(self.init)
        return (f"KMeans(n_clusters={self.n_clusters}, init={init}, n_init={self.n_init!r}, "
                f"max_iter={self.max_iter}, tol={self.tol}, random_state={self.random_state!r})")


# ---- the algorithm ----------------------------------------------------------

class _Run(NamedTuple):
    """The outcome of one run; ``labels`` and the last inertia belong to ``centers``."""
    centers: np.ndarray
    labels: np.ndarray
    inertia_history: list
    n_iter: int


def _lloyd(x, x_squared, centers, max_iter, threshold):
    """One run of Lloyd's algorithm from ``centers``."""
    history = []
    for rounds in range(1, max_iter + 1):
        labels, distances = _assign(x, x_squared, centers)          # step 1
        history.append(float(distances.sum()))
        sums, counts = _cluster_sums(x, labels, len(centers))
        _reseed_empty_clusters(x, labels, distances, sums, counts)
        new_centers = sums / counts[:, None]                          # step 2
        shift = float(np.sum((new_centers - centers) ** 2))
        centers = new_centers
        if shift <= threshold:
            break
    labels, distances = _assign(x, x_squared, centers)
    history.append(float(distances.sum()))
    return _Run(centers, labels, history, rounds)


def _k_means_plus_plus(x, x_squared, n_clusters, rng):
    """Greedy k-means++: D²-weighted candidates, the best of 2 + ⌊ln k⌋ each step."""
    n_candidates = 2 + int(math.log(n_clusters))
    centers = np.empty((n_clusters, x.shape[1]))
    centers[0] = x[rng.integers(len(x))]
    closest = _squared_distances(x, x_squared, centers[:1])[:, 0]
    for c in range(1, n_clusters):
        total = closest.sum()
        if total > 0:
            candidates = np.searchsorted(np.cumsum(closest), rng.random(n_candidates) * total,
                                         side="right")
            candidates = np.minimum(candidates, len(x) - 1)  # rounding at the top end
        else:  # every sample sits on a centre already: any sample will do
            candidates = rng.integers(len(x), size=n_candidates)
        improved = np.minimum(closest[:, None],
                              _squared_distances(x, x_squared, x[candidates]))
        best = int(np.argmin(improved.sum(axis=0)))
        centers[c] = x[candidates[best]]
        closest = improved[:, best]
    return centers


def _reseed_empty_clusters(x, labels, distances, sums, counts):
    """Give each empty cluster the sample farthest from its centre (in place).

    The sample is taken only from a cluster with two or more samples, so no
    new cluster empties; n_samples >= n_clusters guarantees one exists.
    """
    for empty in np.flatnonzero(counts == 0):
        can_move = counts[labels] > 1
        far = int(np.argmax(np.where(can_move, distances, -1.0)))
        donor = labels[far]
        sums[donor] -= x[far]
        counts[donor] -= 1
        sums[empty] = x[far]
        counts[empty] = 1
        labels[far] = empty


def _assign(x, x_squared, centers):
    """Nearest centre of each row and the squared distance to it."""
    labels = np.empty(len(x), dtype=np.int64)
    distances = np.empty(len(x))
    for rows in _row_blocks(len(x), len(centers)):
        block = _squared_distances(x[rows], x_squared[rows], centers)
        labels[rows] = np.argmin(block, axis=1)
        distances[rows] = np.take_along_axis(block, labels[rows, None], axis=1)[:, 0]
    return labels, distances


def _cluster_sums(x, labels, n_clusters):
    """Per cluster: the sum of its rows (as one-hot matrix products) and their count.

    The product is formed as x.T @ one_hot, (features, clusters): threaded
    OpenBLAS slows down about 10x on one_hot.T @ x when the cores are busy,
    but not on this shape.
    """
    sums = np.zeros((x.shape[1], n_clusters))
    for rows in _row_blocks(len(x), n_clusters):
        one_hot = (labels[rows, None] == np.arange(n_clusters)).astype(np.float64)
        sums += x[rows].T @ one_hot
    return sums.T, np.bincount(labels, minlength=n_clusters).astype(np.float64)


def _squared_distances(x, x_squared, centers):
    """||x||² − 2 x·c + ||c||² for every row and centre, clipped at 0."""
    block = x @ (-2.0 * centers.T)
    block += x_squared[:, None]
    block += _row_norms_squared(centers)
    return np.maximum(block, 0.0, out=block)


def _row_norms_squared(x):
    return np.einsum("ij,ij->i", x, x)


def _row_blocks(n_rows, n_columns):
    """Slices of rows such that a (rows x n_columns) block holds <= _BLOCK_ELEMENTS."""
    step = max(1, _BLOCK_ELEMENTS // n_columns)
    return [slice(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]


# ---- argument checks --------------------------------------------------------

def _positive_int(name, value, expected="a positive int"):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"KMeans: {name} must be {expected}, got {value!r}")
    return int(value)


def _random_state(value):
    """None, an int >= 0 or a numpy Generator, as given."""
    if value is None or isinstance(value, np.random.Generator):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"KMeans: random_state must be None, an int >= 0 or a "
                        f"numpy.random.Generator, got {value!r}")
    if value < 0:
        raise ValueError(f"KMeans: random_state must be an int >= 0, got {value}")
    return int(value)


def _finite_matrix(name, value, row="sample"):
    """``value`` as a C-contiguous float64 (rows, features) array, both >= 1, all finite."""
    array = real_array(value, f"KMeans: {name}")
    if array.ndim != 2:
        hint = f" (one feature? use {name}.reshape(-1, 1))" if array.ndim == 1 else ""
        raise ValueError(f"KMeans: {name} must be 2-D ({row}s, features), "
                         f"got shape {array.shape}{hint}")
    if 0 in array.shape:
        raise ValueError(f"KMeans: {name} is empty (shape {array.shape}); it needs at least "
                         f"one {row} and one feature")
    array = np.ascontiguousarray(array, dtype=np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"KMeans: {name} contains NaN or infinity")
    return array
