"""Repeated random sub-sampling validation (RRSSV) over subjects."""

from numbers import Integral, Real

import numpy as np
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import check_random_state

from ._param_validation import InvalidParameterError, Interval, ParamValidationMixin
from ._validation import check_subjects, is_integer

__all__ = ["RepeatedSubjectSubsampling"]

_ROLES = ("gallery", "probe")


def _roles(groups, n_samples):
    if groups is None:
        raise ValueError(
            "groups is None; expected the role of each sample: 'gallery' or 'probe' (or True for gallery)"
        )
    roles = np.asarray(groups)
    if roles.shape != (n_samples,):
        raise ValueError(f"groups has shape {roles.shape}; expected one role per sample, ({n_samples},)")
    if roles.dtype == bool:
        return roles
    bad = ~np.isin(roles, _ROLES)
    if bad.any():
        raise ValueError(f"groups[{np.flatnonzero(bad)[0]}] is {roles[bad].tolist()[0]!r}; expected 'gallery' or 'probe'")
    return roles == "gallery"


class RepeatedSubjectSubsampling(ParamValidationMixin, BaseCrossValidator):
    """Repeated random sub-sampling of subjects: gallery to train, probes to test.

    Each repetition draws ``n_subjects`` subjects without replacement; the
    training set is their gallery samples and the test set their probe
    samples. This is the paper's protocol for SCFace (10 repetitions of 80
    out of 130 subjects). Like :class:`~sklearn.model_selection.GroupShuffleSplit`
    it counts subjects, not samples.

    Parameters
    ----------
    n_subjects : int or float, default=80
        Subjects per repetition; a float in (0, 1) is a fraction of the
        subjects that have both gallery and probe samples.
    n_repeats : int, default=10
        Number of repetitions.
    random_state : int, RandomState instance or None, default=None
        Controls the draws. Pass an int for the same splits on every call to
        ``split``.

    Notes
    -----
    ``split`` reads the subject of each sample from ``y`` and its role from
    ``groups``: ``"gallery"``/``"probe"`` strings, or booleans (True for
    gallery). Only subjects with at least one sample of each role are drawn.

    Examples
    --------
    >>> from skmitm import RepeatedSubjectSubsampling
    >>> y = ["a", "a", "b", "b", "c", "c"]
    >>> roles = ["gallery", "probe"] * 3
    >>> cv = RepeatedSubjectSubsampling(2, n_repeats=3, random_state=0)
    >>> for train, test in cv.split(y, y, roles):
    ...     print(sorted(y[i] for i in train) == sorted(y[i] for i in test), len(train))
    True 2
    True 2
    True 2
    """

    _parameter_constraints = {
        "n_subjects": [Interval(Integral, 1, None, closed="left"), Interval(Real, 0, 1, closed="neither")],
        "n_repeats": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, n_subjects=80, *, n_repeats=10, random_state=None):
        self.n_subjects = n_subjects
        self.n_repeats = n_repeats
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of repetitions."""
        self._validate_params()
        return self.n_repeats

    def _count(self, available):
        n = self.n_subjects
        if is_integer(n):
            if n > available:
                raise InvalidParameterError(f"n_subjects={n} but {available} subjects have gallery and probe samples")
            return int(n)
        return max(1, int(round(n * available)))

    def split(self, X, y=None, groups=None):
        """Generate (train, test) index arrays: gallery and probe samples of the drawn subjects.

        Parameters
        ----------
        X : sequence of length n_samples
            The samples (only their number is used).
        y : array-like of shape (n_samples,)
            Subject of each sample.
        groups : array-like of shape (n_samples,)
            Role of each sample: ``"gallery"``/``"probe"`` or True/False.

        Yields
        ------
        train : ndarray
            Indices of the drawn subjects' gallery samples.
        test : ndarray
            Indices of the drawn subjects' probe samples.
        """
        n_splits = self.get_n_splits()
        n_samples = len(X)
        y = check_subjects(y, n_samples)
        is_gallery = _roles(groups, n_samples)
        subjects = np.intersect1d(np.unique(y[is_gallery]), np.unique(y[~is_gallery]))
        count = self._count(len(subjects))
        rng = check_random_state(self.random_state)
        for _ in range(n_splits):
            chosen = rng.choice(len(subjects), size=count, replace=False)
            member = np.isin(y, subjects[chosen])
            yield np.flatnonzero(member & is_gallery), np.flatnonzero(member & ~is_gallery)

    def _iter_test_indices(self, X=None, y=None, groups=None):
        raise NotImplementedError("RepeatedSubjectSubsampling overrides split")
