"""Identification metrics: rank-k identification rate and the CMC curve; open-set and verification rates.

A probe whose subject is not enrolled (not in ``classes``) is never a hit at
any rank. The open-set (DIR at FPIR, FNIR/FPIR) and 1:1 verification (FMR,
FNMR, ROC/DET) metrics are described in their own docstrings.
"""

import os

import numpy as np

from ._io import atomic_write
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
    "psnr",
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


def psnr(a, b):
    """Peak signal-to-noise ratio in dB between two images on the 0–255 scale.

    Parameters
    ----------
    a, b : array-like of the same shape
        uint8 images, or float arrays on the 0–255 scale.

    Returns
    -------
    psnr : float
        ``10 log10(255² / MSE)``; ``inf`` for identical images.

    Examples
    --------
    >>> import numpy as np
    >>> from skmitm.metrics import psnr
    >>> round(psnr(np.zeros((4, 4)), np.full((4, 4), 255.0)), 6), psnr(np.ones(3), np.ones(3))
    (0.0, inf)
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"images of shapes {a.shape} and {b.shape}; expected the same shape")
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def plot_cmc(curves, path=None, *, ax=None, max_rank=20, title="CMC"):
    """Draw one or more CMC curves on an Axes, and save them to a file if asked.

    matplotlib's backend and pyplot's global state are left alone: without
    ``ax``, the curves go on a new :class:`matplotlib.figure.Figure` that no
    pyplot window knows about.

    Parameters
    ----------
    curves : dict of str to (ranks, rates)
        Label of each curve and its :func:`cmc_curve` output.
    path : str or os.PathLike, default=None
        Image file to write the figure to (format from its suffix, e.g.
        ``.png``; its folder must exist). None writes nothing.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; None draws on a new Figure.
    max_rank : int, default=20
        Last rank shown.
    title : str, default="CMC"

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes drawn on (its figure is ``ax.figure``).

    Examples
    --------
    >>> from skmitm.metrics import cmc_curve, plot_cmc
    >>> ax = plot_cmc({"toy": cmc_curve(["a", "b"], [[0.9, 0.1], [0.8, 0.3]], ["a", "b"])}, max_rank=2)
    >>> [line.get_label() for line in ax.get_lines()]
    ['toy (rank-1 50.0%)']
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if not curves:
        raise ValueError("curves is empty; expected at least one (ranks, rates) pair")
    if ax is None:
        ax = Figure(figsize=(5.5, 4), dpi=120).add_subplot()
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
    if path is not None:
        ax.figure.tight_layout()
        with atomic_write(path, "wb") as f:
            ax.figure.savefig(f, format=os.path.splitext(os.fspath(path))[1].lstrip(".").lower() or "png")
    return ax
