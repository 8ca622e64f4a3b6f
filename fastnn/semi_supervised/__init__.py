"""Semi-supervised learning: a few labeled samples, many unlabeled ones (course, chapter 16).

``PseudoLabeler`` trains a classifier on the labeled samples, labels the
unlabeled ones it is confident about with its own predictions, and trains
again on both.
"""
from .pseudo_labeler import PseudoLabeler

__all__ = ["PseudoLabeler"]
