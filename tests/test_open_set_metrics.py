"""Open-set and verification metrics against hand-computed cases and brute-force oracles."""

import re
import warnings

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


def test_open_set_error_rates_edges_by_hand():
    # a mated score exactly at the threshold is detected ("at least"): "a" at 0.9 is, "b" and "c" miss at rank 1
    assert open_set_error_rates(Y_TRUE, Y_SCORE, LABELS, threshold=0.9) == pytest.approx((2 / 3, 0.0))
    assert open_set_error_rates(["a", "x"], [[0.5], [0.1]], ["a"], threshold=0.5) == (0.0, 0.0)
    # only non-mated probes: FNIR undefined, and no "mean of empty slice" warning on the way
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fnir, fpir = open_set_error_rates(["x", "y"], [[0.9, 0.1, 0.1], [0.2, 0.3, 0.1]], LABELS, threshold=0.5)
        assert np.isnan(fnir) and fpir == 0.5
        fnir, fpir = open_set_error_rates(["a"], [[0.9, 0.1, 0.1]], LABELS, threshold=0.5)
        assert fnir == 0.0 and np.isnan(fpir)


def test_dir_fpir_curve_by_hand_with_default_rank():
    # rank 1 by default: "b" (tied) and "c" (second) are never detected; "a" at 0.9; non-mated best 0.7 and 0.4
    fpir, dir_, thresholds = dir_fpir_curve(Y_TRUE, Y_SCORE, LABELS)
    assert thresholds.tolist() == [np.inf, 0.9, 0.7, 0.4]
    np.testing.assert_allclose(fpir, [0, 0, 0.5, 1])
    np.testing.assert_allclose(dir_, [0, 1 / 3, 1 / 3, 1 / 3])
    # rank 2: "b" (0.6) and "c" (0.5) join
    fpir, dir_, thresholds = dir_fpir_curve(Y_TRUE, Y_SCORE, LABELS, rank=2)
    assert thresholds.tolist() == [np.inf, 0.9, 0.7, 0.6, 0.5, 0.4]
    np.testing.assert_allclose(fpir, [0, 0, 0.5, 0.5, 0.5, 1])
    np.testing.assert_allclose(dir_, [0, 1 / 3, 1 / 3, 2 / 3, 1, 1])


def test_curves_need_both_kinds_and_accept_a_single_mated_search():
    fpir, dir_, thresholds = dir_fpir_curve(["a", "x", "y"], [[0.8], [0.9], [0.1]], ["a"])
    assert thresholds.tolist() == [np.inf, 0.9, 0.8, 0.1]
    np.testing.assert_allclose(fpir, [0, 0.5, 0.5, 1])
    np.testing.assert_allclose(dir_, [0, 0, 1, 1])
    message = ("y_true has 1 mated and 0 non-mated searches; the curve needs both (a non-mated search is a probe "
               "whose subject is not in labels)")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        dir_fpir_curve(["a"], [[0.9]], ["a"])
    with pytest.raises(ValueError, match="^y_true has 0 mated and 2 non-mated searches; the curve needs both"):
        detection_identification_rate(["x", "y"], [[0.9], [0.1]], ["a"], fpir=0.1)


def test_dir_at_fpir_returns_a_float_for_one_target_and_rejects_bad_targets():
    rate = detection_identification_rate(Y_TRUE, Y_SCORE, LABELS, fpir=0.0)
    assert type(rate) is float and rate == pytest.approx(1 / 3)
    rates = detection_identification_rate(Y_TRUE, Y_SCORE, LABELS, fpir=[0.0])
    assert isinstance(rates, np.ndarray) and rates.shape == (1,)
    for bad in (-0.1, 1.0, [0.1, float("nan")], [[0.1]], [[[0.1]]], None):
        with pytest.raises(ValueError, match=f"^{re.escape(f'fpir={bad!r}; expected rate(s) in [0, 1)')}$"):
            detection_identification_rate(Y_TRUE, Y_SCORE, LABELS, fpir=bad)


def test_verification_accepts_zero_one_labels_and_names_bad_input():
    # 1/0 labels mean the same as True/False
    assert verification_error_rates([1, 1, 0, 0], [0.9, 0.4, 0.5, 0.1], threshold=0.5) == (0.5, 0.5)
    fmr, fnmr, _ = fmr_fnmr_curve(np.array([0, 1, 1]), [0.2, 0.9, 0.1])
    np.testing.assert_allclose(fmr, [0, 0, 1, 1])
    np.testing.assert_allclose(fnmr, [1, 0.5, 0.5, 0])
    labels_message = "^y_true must say True \\(or 1\\) for a mated pair and False \\(or 0\\) for a non-mated pair$"
    for bad in ([0, 2, 1], [1, 0, -1], ["yes", "no", "no"]):
        with pytest.raises(ValueError, match=labels_message):
            verification_error_rates(bad, [0.1, 0.2, 0.3], threshold=0.5)
    with pytest.raises(ValueError, match=r"^y_true has shape \(3,\) and y_score \(2,\); expected two 1-D arrays "
                                         r"of the same length$"):
        fmr_fnmr_curve([True, False, True], [0.1, 0.2])
    with pytest.raises(ValueError, match=r"^y_true has shape \(1, 2\) and y_score \(1, 2\); expected two 1-D"):
        fmr_fnmr_curve([[True, False]], [[0.9, 0.1]])
    with pytest.raises(ValueError, match="^y_score contains NaN$"):
        verification_error_rates([True, False], [0.9, float("nan")], threshold=0.5)
    with pytest.raises(ValueError, match="^y_true needs both mated and non-mated pairs$"):
        verification_error_rates([0, 0], [0.9, 0.1], threshold=0.5)


def _drawn(ax):
    """The x and y data, draw style and label of each line, as a reader sees them."""
    return [(line.get_xdata().tolist(), line.get_ydata().tolist(), line.get_drawstyle(), line.get_label())
            for line in ax.get_lines()]


def _legend(ax):
    legend = ax.get_legend()
    return [text.get_text() for text in legend.get_texts()], {text.get_fontsize() for text in legend.get_texts()}


def _grid(axis):
    """Alpha and visibility of the first major and minor grid line of an axis."""
    major, minor = axis.get_major_ticks()[0].gridline, axis.get_minor_ticks()[0].gridline
    return major.get_visible(), major.get_alpha(), minor.get_visible()


def test_plot_dir_fpir_draws_what_a_reader_sees():
    ax = Figure().subplots()
    curves = {"one": ([0, 0.25, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0]), "two": (np.array([0.0, 0.1, 1.0]), [0.2, 0.4, 0.6])}
    assert plot_dir_fpir(curves, ax=ax, title="open set") is ax
    # the smallest positive FPIR over all curves is 0.1: zero is drawn at half of it, on a log axis
    assert _drawn(ax) == [
        ([0.05, 0.25, 0.5, 1.0], [0.0, 50.0, 50.0, 100.0], "steps-post", "one"),
        ([0.05, 0.1, 1.0], [20.0, 40.0, 60.0], "steps-post", "two"),
    ]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    assert ax.get_xlim() == pytest.approx((0.05, 1)) and ax.get_ylim() == (0, 100)
    assert ax.get_xlabel() == "false-positive identification rate (FPIR)"
    assert ax.get_ylabel() == "detection and identification rate (%)"
    assert ax.get_title() == "open set"
    assert _legend(ax) == (["one", "two"], {7})
    assert _grid(ax.xaxis) == (True, 0.3, True)
    assert ax.yaxis.get_major_ticks()[0].gridline.get_alpha() == 0.3
    ax.figure.draw_without_rendering()  # the legend sits in the lower right corner
    frame, legend = ax.get_window_extent(), ax.get_legend().get_window_extent()
    assert frame.x1 - legend.x1 < 0.1 * frame.width and legend.x0 > frame.x0 + frame.width / 2
    assert legend.y0 - frame.y0 < 0.1 * frame.height and legend.y1 < frame.y0 + frame.height / 2


def test_plot_dir_fpir_all_zero_rates_and_no_title():
    ax = plot_dir_fpir({"z": ([0.0, 0.0], [0.5, 1.0])})  # nothing positive: the axis starts at 1/2
    assert _drawn(ax) == [([0.5, 0.5], [50.0, 100.0], "steps-post", "z")]
    assert ax.get_xlim() == (0.5, 1) and ax.get_title() == ""
    with pytest.raises(ValueError, match=r"^curves is empty; expected at least one \(fpir, dir\) pair$"):
        plot_dir_fpir({})


def test_plot_verification_det_and_roc_draw_what_a_reader_sees():
    curves = {"A": ([0.0, 0.0, 0.5, 0.5, 1.0], [1.0, 0.5, 0.5, 0.0, 0.0]), "B": ([0.0, 0.2, 1.0], [0.4, 0.1, 0.0])}
    ax = Figure().subplots()
    assert plot_verification(curves, ax=ax, title="pairs") is ax  # DET by default
    assert _drawn(ax) == [
        ([0.1, 0.1, 0.5, 0.5, 1.0], [100.0, 50.0, 50.0, 0.0, 0.0], "steps-post", "A"),
        ([0.1, 0.2, 1.0], [40.0, 10.0, 0.0], "steps-post", "B"),
    ]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlim() == pytest.approx((0.1, 1))
    assert ax.get_xlabel() == "false match rate (FMR)" and ax.get_ylabel() == "false non-match rate (%)"
    assert ax.get_title() == "pairs" and _legend(ax) == (["A", "B"], {7})
    assert _grid(ax.xaxis) == (True, 0.3, True)
    roc = plot_verification(curves, kind="roc")
    assert _drawn(roc) == [
        ([0.1, 0.1, 0.5, 0.5, 1.0], [0.0, 50.0, 50.0, 100.0, 100.0], "steps-post", "A"),
        ([0.1, 0.2, 1.0], [60.0, 90.0, 100.0], "steps-post", "B"),
    ]
    assert roc.get_xscale() == "log" and roc.get_yscale() == "linear"
    assert roc.get_xlim() == pytest.approx((0.1, 1)) and roc.get_ylim() == (0, 100)
    assert roc.get_xlabel() == "false match rate (FMR)" and roc.get_ylabel() == "true match rate (%)"
    assert roc.get_title() == "" and _legend(roc) == (["A", "B"], {7})
    zero = plot_verification({"z": ([0.0, 0.0], [0.5, 0.0])})
    assert _drawn(zero) == [([0.5, 0.5], [50.0, 0.0], "steps-post", "z")] and zero.get_xlim() == (0.5, 1)
    with pytest.raises(ValueError, match=r"^curves is empty; expected at least one \(fmr, fnmr\) pair$"):
        plot_verification({})
    with pytest.raises(ValueError, match=r"^kind='DET'; expected 'det' or 'roc'$"):
        plot_verification(curves, kind="DET")


def test_plots_without_ax_make_a_figure_of_fixed_size():
    for ax in (plot_dir_fpir({"z": ([0.0, 1.0], [0.5, 1.0])}), plot_verification({"z": ([0.0, 1.0], [0.5, 0.0])})):
        assert isinstance(ax.figure, Figure)
        assert ax.figure.get_size_inches().tolist() == [5.5, 4.0] and ax.figure.dpi == 120
