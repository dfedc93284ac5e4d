"""Open-set identification and 1:1 verification metrics, with plots that take an ``ax``.

Open-set search (NIST FRVT 1:N, IJB-S, QMUL-SurvFace): a *mated* search is
one whose subject is enrolled, a *non-mated* search one whose subject is not.
At a threshold ``t``:

- FPIR(t), the false-positive identification rate: the fraction of
  non-mated searches whose best score is at least ``t`` (somebody is named);
- DIR(t), the detection and identification rate (also TPIR): the fraction of
  mated searches whose true subject is within rank ``rank`` and scores at
  least ``t``; FNIR(t) = 1 − DIR(t).

Ranks count ties against the true subject, as
:func:`skmitm.metrics.true_subject_ranks` does. Verification (1:1) pairs are
``y_true`` (True for a mated pair) and ``y_score``: FMR(t) is the fraction of
non-mated pairs scoring at least ``t``, FNMR(t) the fraction of mated pairs
scoring below it.
"""

import numpy as np

from ._validation import is_integer

__all__ = [
    "detection_identification_rate",
    "dir_fpir_curve",
    "fmr_fnmr_curve",
    "open_set_error_rates",
    "plot_dir_fpir",
    "plot_verification",
    "verification_error_rates",
]


def _open_set_scores(y_true, y_score, labels, rank):
    """Best score of each non-mated search; true-subject score of each mated search (-inf past ``rank``)."""
    from .metrics import _check_scores, true_subject_ranks

    if not is_integer(rank) or rank < 1:
        raise ValueError(f"rank={rank!r}; expected an integer >= 1")
    y_true, y_score, labels = _check_scores(y_true, y_score, labels)
    mated = np.isin(y_true, labels)
    column = {c: j for j, c in enumerate(labels.tolist())}
    true_scores = np.array([y_score[i, column[s]] for i, s in enumerate(y_true.tolist()) if s in column])
    hit = true_subject_ranks(y_true[mated], y_score[mated], labels) <= rank
    mated_scores = np.where(hit, true_scores, -np.inf) if mated.any() else np.empty(0)
    return mated_scores, y_score[~mated].max(axis=1)


def open_set_error_rates(y_true, y_score, labels, *, threshold, rank=1):
    """FNIR and FPIR of an open-set search at one threshold.

    Parameters
    ----------
    y_true : array-like of shape (n_probes,)
        True subject of each probe; a subject not in ``labels`` makes a
        non-mated search.
    y_score : array-like of shape (n_probes, n_subjects)
        Similarity of each probe to each enrolled subject (higher is more
        similar), e.g. ``decision_function``.
    labels : array-like of shape (n_subjects,)
        Subject of each score column (the identifier's ``classes_``).
    threshold : float
        A candidate is returned when its score is at least ``threshold``.
    rank : int, default=1
        A mated search is a hit when its true subject is within this rank.

    Returns
    -------
    fnir : float
        Fraction of mated searches missed (NaN when there are none).
    fpir : float
        Fraction of non-mated searches that name somebody (NaN when there
        are none).

    Examples
    --------
    >>> from skmitm.metrics import open_set_error_rates
    >>> open_set_error_rates(["a", "b", "x"], [[0.9, 0.1], [0.6, 0.4], [0.2, 0.7]], ["a", "b"], threshold=0.5)
    (0.5, 1.0)
    """
    mated, non_mated = _open_set_scores(y_true, y_score, labels, rank)
    fnir = float(np.mean(mated < threshold)) if mated.size else float("nan")
    fpir = float(np.mean(non_mated >= threshold)) if non_mated.size else float("nan")
    return fnir, fpir


def _both_kinds(mated, non_mated):
    if mated.size == 0 or non_mated.size == 0:
        raise ValueError(f"y_true has {mated.size} mated and {non_mated.size} non-mated searches; the curve "
                         "needs both (a non-mated search is a probe whose subject is not in labels)")


def dir_fpir_curve(y_true, y_score, labels, *, rank=1):
    """The open-set ROC: DIR against FPIR over every threshold.

    Parameters
    ----------
    y_true : array-like of shape (n_probes,)
        True subject of each probe; subjects not in ``labels`` are
        non-mated searches. Both kinds must occur.
    y_score : array-like of shape (n_probes, n_subjects)
    labels : array-like of shape (n_subjects,)
    rank : int, default=1
        Rank within which a mated search counts (the open-set CMC at rank
        ``rank``).

    Returns
    -------
    fpir : ndarray
        Increasing false-positive identification rates, from 0.
    dir : ndarray
        Detection and identification rate at each threshold.
    thresholds : ndarray
        Decreasing thresholds, the first ``inf`` (nothing returned).

    Examples
    --------
    >>> from skmitm.metrics import dir_fpir_curve
    >>> fpir, dir_, thr = dir_fpir_curve(["a", "b", "x"], [[0.9, 0.1], [0.6, 0.4], [0.2, 0.7]], ["a", "b"])
    >>> fpir.tolist(), dir_.tolist(), thr.tolist()  # "b" is second for its own probe: never detected
    ([0.0, 0.0, 1.0], [0.0, 0.5, 0.5], [inf, 0.9, 0.7])
    """
    mated, non_mated = _open_set_scores(y_true, y_score, labels, rank)
    _both_kinds(mated, non_mated)
    values = np.concatenate([mated[np.isfinite(mated)], non_mated])
    thresholds = np.concatenate([[np.inf], np.unique(values)[::-1]])
    fpir = _fraction_at_least(non_mated, thresholds)
    dir_ = _fraction_at_least(mated, thresholds)
    return fpir, dir_, thresholds


def _fraction_at_least(scores, thresholds):
    ordered = np.sort(scores)
    return (len(ordered) - np.searchsorted(ordered, thresholds, side="left")) / len(ordered)


def detection_identification_rate(y_true, y_score, labels, *, fpir, rank=1):
    """DIR (TPIR) at a false-positive identification rate.

    The threshold is the lowest at which at most a fraction ``fpir`` of the
    non-mated searches name somebody: just above the (m+1)-th highest
    non-mated best score, ``m = floor(fpir * n_non_mated)``. DIR is then the
    fraction of mated searches whose true subject is within ``rank`` and
    scores *above* that non-mated score.

    Parameters
    ----------
    y_true : array-like of shape (n_probes,)
    y_score : array-like of shape (n_probes, n_subjects)
    labels : array-like of shape (n_subjects,)
    fpir : float or array-like of float
        Target rate(s) in [0, 1).
    rank : int, default=1

    Returns
    -------
    dir : float or ndarray
        One rate per target.

    Examples
    --------
    >>> from skmitm.metrics import detection_identification_rate
    >>> y_true = ["a", "b", "x", "y"]
    >>> y_score = [[0.9, 0.1], [0.3, 0.6], [0.2, 0.7], [0.5, 0.1]]
    >>> detection_identification_rate(y_true, y_score, ["a", "b"], fpir=0.0)  # above 0.7: only "a"
    0.5
    >>> detection_identification_rate(y_true, y_score, ["a", "b"], fpir=0.5)  # above 0.5: both
    1.0
    """
    mated, non_mated = _open_set_scores(y_true, y_score, labels, rank)
    _both_kinds(mated, non_mated)
    targets = np.asarray(fpir, dtype=np.float64)
    if targets.ndim > 1 or np.any(targets < 0) or np.any(targets >= 1) or np.isnan(targets).any():
        raise ValueError(f"fpir={fpir!r}; expected rate(s) in [0, 1)")
    ordered = np.sort(non_mated)[::-1]
    m = np.floor(targets * len(ordered) + 1e-9).astype(np.int64)
    cut = ordered[m]
    rates = (mated[:, None] > np.atleast_1d(cut)[None, :]).mean(axis=0)
    return float(rates[0]) if targets.ndim == 0 else rates


def _check_pairs(y_true, y_score):
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_true.ndim != 1 or y_score.shape != y_true.shape:
        raise ValueError(f"y_true has shape {y_true.shape} and y_score {y_score.shape}; expected two 1-D arrays "
                         "of the same length")
    if y_true.dtype != bool and not np.isin(y_true, [0, 1]).all():
        raise ValueError("y_true must say True (or 1) for a mated pair and False (or 0) for a non-mated pair")
    if np.isnan(y_score).any():
        raise ValueError("y_score contains NaN")
    y_true = y_true.astype(bool)
    if y_true.all() or not y_true.any():
        raise ValueError("y_true needs both mated and non-mated pairs")
    return y_score[y_true], y_score[~y_true]


def verification_error_rates(y_true, y_score, *, threshold):
    """FMR and FNMR of 1:1 comparisons at one threshold (accept when the score is at least ``threshold``).

    Parameters
    ----------
    y_true : array-like of shape (n_pairs,)
        True for a mated pair (same person).
    y_score : array-like of shape (n_pairs,)
        Similarity of each pair.
    threshold : float

    Returns
    -------
    fmr, fnmr : float

    Examples
    --------
    >>> from skmitm.metrics import verification_error_rates
    >>> verification_error_rates([True, True, False, False], [0.9, 0.4, 0.5, 0.1], threshold=0.5)
    (0.5, 0.5)
    """
    mated, non_mated = _check_pairs(y_true, y_score)
    return float(np.mean(non_mated >= threshold)), float(np.mean(mated < threshold))


def fmr_fnmr_curve(y_true, y_score):
    """FMR and FNMR over every threshold: the data of the ROC and DET curves of 1:1 verification.

    Parameters
    ----------
    y_true : array-like of shape (n_pairs,)
        True for a mated pair.
    y_score : array-like of shape (n_pairs,)

    Returns
    -------
    fmr : ndarray
        Increasing false-match rates, from 0.
    fnmr : ndarray
        False non-match rate at each threshold (1 − FNMR is sklearn's TPR).
    thresholds : ndarray
        Decreasing thresholds, the first ``inf``.

    Examples
    --------
    >>> from skmitm.metrics import fmr_fnmr_curve
    >>> fmr, fnmr, thr = fmr_fnmr_curve([True, True, False, False], [0.9, 0.4, 0.5, 0.1])
    >>> fmr.tolist(), fnmr.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [1.0, 0.5, 0.5, 0.0, 0.0])
    """
    mated, non_mated = _check_pairs(y_true, y_score)
    thresholds = np.concatenate([[np.inf], np.unique(np.concatenate([mated, non_mated]))[::-1]])
    return _fraction_at_least(non_mated, thresholds), 1 - _fraction_at_least(mated, thresholds), thresholds


def _axes(ax):
    """``ax``, or the axes of a new :class:`matplotlib.figure.Figure` (pyplot and its backend untouched)."""
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    return Figure(figsize=(5.5, 4), dpi=120).subplots()


def plot_dir_fpir(curves, *, ax=None, title=None):
    """Draw DIR against FPIR (log scale) for one or more open-set searches.

    Parameters
    ----------
    curves : dict of str to (fpir, dir)
        Label of each curve and its :func:`dir_fpir_curve` rates.
    ax : matplotlib.axes.Axes, default=None
        Where to draw; None draws on a new :class:`matplotlib.figure.Figure`
        (save it with ``ax.figure.savefig``). The pyplot state and the
        backend are left alone.
    title : str, default=None

    Returns
    -------
    ax : matplotlib.axes.Axes

    Examples
    --------
    >>> from skmitm.metrics import dir_fpir_curve, plot_dir_fpir
    >>> fpir, dir_, _ = dir_fpir_curve(["a", "x"], [[0.9], [0.2]], ["a"])
    >>> plot_dir_fpir({"toy": (fpir, dir_)}).get_xlabel()
    'false-positive identification rate (FPIR)'
    """
    if not curves:
        raise ValueError("curves is empty; expected at least one (fpir, dir) pair")
    ax = _axes(ax)
    floor = min(np.min(np.asarray(f)[np.asarray(f) > 0], initial=1.0) for f, _ in curves.values())
    for label, (fpir, dir_) in curves.items():
        fpir = np.asarray(fpir, dtype=np.float64)
        ax.step(np.maximum(fpir, floor / 2), 100 * np.asarray(dir_), where="post", label=label)
    ax.set_xscale("log")
    ax.set_xlim(floor / 2, 1)
    ax.set_ylim(0, 100)
    ax.set_xlabel("false-positive identification rate (FPIR)")
    ax.set_ylabel("detection and identification rate (%)")
    ax.grid(alpha=0.3, which="both")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    return ax


def plot_verification(curves, *, kind="det", ax=None, title=None):
    """Draw 1:1 verification curves: DET (FNMR against FMR) or ROC (TMR against FMR), log FMR.

    Parameters
    ----------
    curves : dict of str to (fmr, fnmr)
        Label of each curve and its :func:`fmr_fnmr_curve` rates.
    kind : {"det", "roc"}, default="det"
    ax : matplotlib.axes.Axes, default=None
        Where to draw; None draws on a new :class:`matplotlib.figure.Figure`.
    title : str, default=None

    Returns
    -------
    ax : matplotlib.axes.Axes

    Examples
    --------
    >>> from skmitm.metrics import fmr_fnmr_curve, plot_verification
    >>> fmr, fnmr, _ = fmr_fnmr_curve([True, False], [0.9, 0.2])
    >>> plot_verification({"toy": (fmr, fnmr)}, kind="roc").get_ylabel()
    'true match rate (%)'
    """
    if kind not in ("det", "roc"):
        raise ValueError(f"kind={kind!r}; expected 'det' or 'roc'")
    if not curves:
        raise ValueError("curves is empty; expected at least one (fmr, fnmr) pair")
    ax = _axes(ax)
    floor = min(np.min(np.asarray(f)[np.asarray(f) > 0], initial=1.0) for f, _ in curves.values())
    for label, (fmr, fnmr) in curves.items():
        fmr, fnmr = np.maximum(np.asarray(fmr, np.float64), floor / 2), np.asarray(fnmr, np.float64)
        ax.step(fmr, 100 * (fnmr if kind == "det" else 1 - fnmr), where="post", label=label)
    ax.set_xscale("log")
    ax.set_xlim(floor / 2, 1)
    ax.set_xlabel("false match rate (FMR)")
    if kind == "det":
        ax.set_yscale("log")
        ax.set_ylabel("false non-match rate (%)")
    else:
        ax.set_ylim(0, 100)
        ax.set_ylabel("true match rate (%)")
    ax.grid(alpha=0.3, which="both")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7)
    return ax
