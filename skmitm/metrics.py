"""Identification metrics: rank-k identification rate and the CMC curve; open-set and verification rates.

A probe whose subject is not enrolled (not in ``classes``) is never a hit at
any rank. The open-set (DIR at FPIR, FNIR/FPIR) and 1:1 verification (FMR,
FNMR, ROC/DET) metrics are described in their own docstrings.
"""

import numpy as np

from ._open_set_metrics import (
    detection_identification_rate,
    dir_fpir_curve,
    fmr_fnmr_curve,
    open_set_error_rates,
    plot_dir_fpir,
    plot_verification,
    verification_error_rates,
)
from ._validation import check_subjects, is_integer

__all__ = [
    "cmc_curve",
    "detection_identification_rate",
    "dir_fpir_curve",
    "fmr_fnmr_curve",
    "open_set_error_rates",
    "plot_cmc",
    "plot_dir_fpir",
    "plot_verification",
    "rank_k_identification_rate",
    "true_subject_ranks",
    "verification_error_rates",
]


def _check_scores(y_true, scores, classes):
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"scores has shape {scores.shape}; expected (n_probes, n_subjects)")
    if np.isnan(scores).any():
        raise ValueError("scores contains NaN; expected similarities (higher is more similar)")
    classes = np.asarray(classes)
    if classes.ndim != 1 or len(classes) != scores.shape[1]:
        raise ValueError(f"classes has {classes.size} subjects for {scores.shape[1]} score columns")
    y_true = check_subjects(y_true, scores.shape[0], name="y_true")
    return y_true, scores, classes


def true_subject_ranks(y_true, scores, classes):
    """Rank (1 = best) of each probe's true subject among all subjects.

    Ties are counted against the true subject: a subject scoring exactly as
    high as the true one is ranked ahead of it, so ties never flatter.

    Parameters
    ----------
    y_true : array-like of shape (n_probes,)
        True subject of each probe.
    scores : array-like of shape (n_probes, n_subjects)
        Similarity of each probe to each subject (``decision_function``).
    classes : array-like of shape (n_subjects,)
        Subject of each score column (the identifier's ``classes_``).

    Returns
    -------
    ranks : ndarray of shape (n_probes,), dtype int
        The true subject's rank; ``n_subjects + 1`` when it is not enrolled.
    """
    y_true, scores, classes = _check_scores(y_true, scores, classes)
    column = {c: j for j, c in enumerate(classes.tolist())}
    ranks = np.full(len(y_true), len(classes) + 1, dtype=np.int64)
    for i, subject in enumerate(y_true.tolist()):
        j = column.get(subject)
        if j is not None:
            ranks[i] = int((scores[i] >= scores[i, j]).sum())
    return ranks


def cmc_curve(y_true, scores, classes, *, max_rank=None):
    """Cumulative match characteristic: identification rate at ranks 1..max_rank.

    Parameters
    ----------
    y_true : array-like of shape (n_probes,)
    scores : array-like of shape (n_probes, n_subjects)
    classes : array-like of shape (n_subjects,)
    max_rank : int, default=None
        Last rank on the curve; None means the number of subjects.

    Returns
    -------
    ranks : ndarray of shape (max_rank,)
        1, 2, …, max_rank.
    rates : ndarray of shape (max_rank,)
        Fraction of probes whose true subject is within each rank.

    Examples
    --------
    >>> from skmitm.metrics import cmc_curve
    >>> ranks, rates = cmc_curve(["a", "b"], [[0.9, 0.1], [0.8, 0.3]], ["a", "b"])
    >>> rates.tolist()
    [0.5, 1.0]
    """
    true_ranks = true_subject_ranks(y_true, scores, classes)
    n_subjects = np.asarray(scores).shape[1]
    if max_rank is None:
        max_rank = n_subjects
    if not is_integer(max_rank) or max_rank < 1:
        raise ValueError(f"max_rank={max_rank!r}; expected an integer >= 1")
    ranks = np.arange(1, max_rank + 1)
    # An unenrolled subject's rank (n_subjects + 1) must stay a miss past the last rank.
    rates = (true_ranks[None, :] <= np.minimum(ranks, n_subjects)[:, None]).mean(axis=1)
    return ranks, rates


def rank_k_identification_rate(y_true, scores, classes, *, k=1):
    """Fraction of probes whose true subject is among the ``k`` most similar.

    Parameters
    ----------
    y_true : array-like of shape (n_probes,)
    scores : array-like of shape (n_probes, n_subjects)
    classes : array-like of shape (n_subjects,)
    k : int, default=1

    Returns
    -------
    rate : float
        A probe whose subject is not in ``classes`` counts as a miss.

    Examples
    --------
    >>> from skmitm.metrics import rank_k_identification_rate
    >>> rank_k_identification_rate(["a", "b"], [[0.9, 0.1], [0.8, 0.3]], ["a", "b"], k=1)
    0.5
    """
    if not is_integer(k) or k < 1:
        raise ValueError(f"k={k!r}; expected an integer >= 1")
    # An unenrolled subject's rank is n_subjects + 1: never a hit, whatever k.
    return float((true_subject_ranks(y_true, scores, classes) <= min(k, np.shape(scores)[1])).mean())


def plot_cmc(curves, path, *, max_rank=20, title="CMC"):
    """Draw one or more CMC curves to a PNG file.

    Parameters
    ----------
    curves : dict of str to (ranks, rates)
        Label of each curve and its :func:`cmc_curve` output.
    path : str or os.PathLike
        The PNG file to write (its folder must exist).
    max_rank : int, default=20
        Last rank shown.
    title : str, default="CMC"

    Returns
    -------
    path : str
        The file written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    if not curves:
        raise ValueError("curves is empty; expected at least one (ranks, rates) pair")
    fig, ax = plt.subplots(figsize=(5.5, 4), dpi=120)
    try:
        for label, (ranks, rates) in curves.items():
            ranks, rates = np.asarray(ranks)[:max_rank], np.asarray(rates)[:max_rank]
            ax.plot(ranks, 100 * rates, marker="o", markersize=3, label=f"{label} (rank-1 {100 * rates[0]:.1f}%)")
        ax.set_xlabel("rank")
        ax.set_ylabel("identification rate (%)")
        ax.set_ylim(0, 100)
        ax.set_xlim(1, max_rank)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.set_title(title)
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return str(path)
