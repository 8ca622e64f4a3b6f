"""Clustering: grouping unlabeled samples by similarity (course, chapter 15).

``KMeans`` finds k cluster centres with Lloyd's algorithm (k-means++
seeding) and labels each sample with its nearest centre, with
scikit-learn's names: ``fit``, ``predict``, ``transform``, ``score``,
``cluster_centers_``, ``labels_``, ``inertia_``.
"""
from .k_means import KMeans, NotFittedError

__all__ = ["KMeans", "NotFittedError"]
