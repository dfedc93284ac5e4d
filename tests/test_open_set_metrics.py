"""Open-set and verification metrics against hand-computed cases and brute-force oracles."""

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from skmitm.metrics import (
    cmc_curve,
    detection_identification_rate,
    dir_fpir_curve,
    fmr_fnmr_curve,
    open_set_error_rates,
    plot_dir_fpir,
    plot_verification,
    rank_k_identification_rate,
    verification_error_rates,
)

LABELS = ["a", "b", "c"]
# probe 0: "a", first with 0.9.         probe 1: "b", tied with "c" at 0.6 (rank 2: ties count against it).
# probe 2: "c", second behind "a".      probe 3: "x", not enrolled, best 0.7.   probe 4: "y", best 0.4.
Y_TRUE = ["a", "b", "c", "x", "y"]
Y_SCORE = [
    [0.9, 0.2, 0.1],
    [0.1, 0.6, 0.6],
    [0.8, 0.3, 0.5],
    [0.7, 0.1, 0.2],
    [0.4, 0.4, 0.3],
]


def test_unenrolled_probe_is_never_a_rank_k_hit():
    assert rank_k_identification_rate(["x"], [[0.1]], ["a"], k=5) == 0.0
    # mixed: "a" is rank 1, "b" rank 2, "c" rank 2, "x" and "y" never
    assert rank_k_identification_rate(Y_TRUE, Y_SCORE, LABELS, k=1) == pytest.approx(1 / 5)
    assert rank_k_identification_rate(Y_TRUE, Y_SCORE, LABELS, k=2) == pytest.approx(3 / 5)
    assert rank_k_identification_rate(Y_TRUE, Y_SCORE, LABELS, k=10) == pytest.approx(3 / 5)
    ranks, rates = cmc_curve(Y_TRUE, Y_SCORE, LABELS, max_rank=6)
    assert ranks.tolist() == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(rates, [0.2, 0.6, 0.6, 0.6, 0.6, 0.6])


def test_open_set_error_rates_by_hand():
    # threshold 0.75: only "a" (0.9) is detected among the mated; "x" (0.7) stays below
    assert open_set_error_rates(Y_TRUE, Y_SCORE, LABELS, threshold=0.75) == pytest.approx((2 / 3, 0.0))
    # threshold 0.7: "x" reaches it exactly (at least counts); "b" is tied, so missed at rank 1
    assert open_set_error_rates(Y_TRUE, Y_SCORE, LABELS, threshold=0.7) == pytest.approx((2 / 3, 0.5))
    # rank 2 lets "b" (0.6) and "c" (0.5) count when above the threshold
    assert open_set_error_rates(Y_TRUE, Y_SCORE, LABELS, threshold=0.55, rank=2) == pytest.approx((1 / 3, 0.5))
    assert open_set_error_rates(Y_TRUE, Y_SCORE, LABELS, threshold=0.3) == pytest.approx((2 / 3, 1.0))
    # only mated probes: FPIR undefined
    fnir, fpir = open_set_error_rates(["a"], [[0.9, 0.1, 0.1]], LABELS, threshold=0.5)
    assert fnir == 0.0 and np.isnan(fpir)
    with pytest.raises(ValueError, match="rank"):
        open_set_error_rates(Y_TRUE, Y_SCORE, LABELS, threshold=0.5, rank=0)


def _oracle_rates(y_true, y_score, labels, threshold, rank):
    """FPIR and DIR by explicit loops over probes."""
    non_mated, hits, n_mated = 0, 0, 0
    for subject, row in zip(y_true, y_score):
        if subject in labels:
            n_mated += 1
            true = row[labels.index(subject)]
            rank_of_true = sum(1 for s in row if s >= true)
            hits += rank_of_true <= rank and true >= threshold
        else:
            non_mated += max(row) >= threshold
    n_non = len(y_true) - n_mated
    return non_mated / n_non, hits / n_mated


def _random_case(seed, n_subjects=5, n_probes=40):
    rng = np.random.default_rng(seed)
    labels = [f"s{i}" for i in range(n_subjects)]
    y_true = rng.choice(labels + ["u1", "u2", "u3"], n_probes).tolist()
    y_true[:2] = ["s0", "u1"]  # both kinds present
    y_score = np.round(rng.uniform(0, 1, (n_probes, n_subjects)), 1)  # coarse: many ties
    return y_true, y_score, labels


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("rank", [1, 2])
def test_dir_fpir_curve_matches_loops(seed, rank):
    y_true, y_score, labels = _random_case(seed)
    fpir, dir_, thresholds = dir_fpir_curve(y_true, y_score, labels, rank=rank)
    assert thresholds[0] == np.inf and np.all(np.diff(thresholds) < 0)
    assert np.all(np.diff(fpir) >= 0) and np.all(np.diff(dir_) >= 0)
    for f, d, t in zip(fpir, dir_, thresholds):
        assert (f, d) == pytest.approx(_oracle_rates(y_true, y_score.tolist(), labels, t, rank))


def test_dir_at_fpir_by_hand():
    # non-mated best scores: 0.7 ("x"), 0.4 ("y"); rank-1 hits: "a" at 0.9 only
    assert detection_identification_rate(Y_TRUE, Y_SCORE, LABELS, fpir=0.0) == pytest.approx(1 / 3)
    y_true = ["a", "b", "c", "x", "y"]
    y_score = [[0.9, 0.0, 0.0], [0.0, 0.7, 0.0], [0.0, 0.0, 0.4], [0.7, 0.0, 0.0], [0.0, 0.4, 0.0]]
    # FPIR 0: the threshold must pass 0.7; "b" scores exactly 0.7, so only "a" is detected
    # FPIR 0.5: one of two non-mated may pass: above 0.4; "c" at exactly 0.4 is not detected
    np.testing.assert_allclose(detection_identification_rate(y_true, y_score, LABELS, fpir=[0.0, 0.5, 0.99]),
                               [1 / 3, 2 / 3, 2 / 3])
    with pytest.raises(ValueError, match="fpir"):
        detection_identification_rate(y_true, y_score, LABELS, fpir=1.0)
    with pytest.raises(ValueError, match="non-mated"):
        detection_identification_rate(["a"], [[0.9, 0.1, 0.1]], LABELS, fpir=0.1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dir_at_fpir_is_the_best_rate_within_the_target(seed):
    """Oracle: try every threshold (each score and the float just above it); keep those within the target."""
    y_true, y_score, labels = _random_case(seed)
    candidates = np.unique(y_score)
    candidates = np.concatenate([candidates, np.nextafter(candidates, np.inf), [np.inf]])
    for target in (0.0, 0.05, 0.1, 0.3, 0.5):
        best = max(d for f, d in (_oracle_rates(y_true, y_score.tolist(), labels, t, 1) for t in candidates)
                   if f <= target + 1e-12)
        assert detection_identification_rate(y_true, y_score, labels, fpir=target) == pytest.approx(best)


def test_verification_rates_by_hand_and_against_sklearn():
    y_true = [True, True, True, False, False, False]
    y_score = [0.9, 0.5, 0.3, 0.5, 0.2, 0.1]
    # at 0.5: non-mated 0.5 accepted (at least), mated 0.3 rejected
    assert verification_error_rates(y_true, y_score, threshold=0.5) == pytest.approx((1 / 3, 1 / 3))
    assert verification_error_rates(y_true, y_score, threshold=0.95) == pytest.approx((0.0, 1.0))
    fmr, fnmr, thresholds = fmr_fnmr_curve(y_true, y_score)
    assert thresholds.tolist() == [np.inf, 0.9, 0.5, 0.3, 0.2, 0.1]
    np.testing.assert_allclose(fmr, [0, 0, 1 / 3, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(fnmr, [1, 2 / 3, 1 / 3, 0, 0, 0])
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300).astype(bool)
    scores = np.round(rng.normal(labels, 1.0), 1)
    fmr, fnmr, thresholds = fmr_fnmr_curve(labels, scores)
    fpr, tpr, sk_thresholds = roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(thresholds, sk_thresholds)
    np.testing.assert_allclose(fmr, fpr)
    np.testing.assert_allclose(fnmr, 1 - tpr)
    with pytest.raises(ValueError, match="both"):
        fmr_fnmr_curve([True, True], [0.1, 0.2])


def test_plots_draw_on_the_given_axes_and_leave_pyplot_alone():
    backend = matplotlib.get_backend()
    import matplotlib.pyplot as plt

    figures_before = plt.get_fignums()
    ax = Figure().subplots()
    fpir, dir_, _ = dir_fpir_curve(Y_TRUE, Y_SCORE, LABELS)
    assert plot_dir_fpir({"one": (fpir, dir_), "two": (fpir, dir_ / 2)}, ax=ax) is ax
    assert len(ax.get_lines()) == 2 and ax.get_xscale() == "log"
    fmr, fnmr, _ = fmr_fnmr_curve([True, False, True], [0.9, 0.3, 0.2])
    det = plot_verification({"m": (fmr, fnmr)}, kind="det")
    roc = plot_verification({"m": (fmr, fnmr)}, kind="roc")
    assert det.get_yscale() == "log" and roc.get_ylabel() == "true match rate (%)"
    np.testing.assert_allclose(roc.get_lines()[0].get_ydata(), 100 * (1 - fnmr))
    assert matplotlib.get_backend() == backend and plt.get_fignums() == figures_before
    with pytest.raises(ValueError, match="kind"):
        plot_verification({"m": (fmr, fnmr)}, kind="cmc")
