"""The open-set benchmark's pooling over enrolment splits, on hand-made scores (no networks).

Three splits of the same six probes (subjects a, b, x, y, z, w), each with its
own enrolled subjects, scores and calibrated thresholds. Every expected count
below is read off the arrays by hand.
"""

import numpy as np
import pytest

from conftest import benchmark

TRUTH = np.array(["a", "b", "x", "y", "z", "w"])

# Split 0 enrols a and b: non-mated best scores x 0.5, y 0.2, z 0.7, w 0.35.
# FPIR thresholds 0.8 / 0.6 / 0.4 -> false alarms 0 / 1 (z) / 2 (x, z) of 4.
SPLIT0 = {
    "labels": np.array(["a", "b"]),
    "y_score": np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.3], [0.1, 0.2], [0.7, 0.4], [0.35, 0.0]]),
    "fpir_thresholds": [0.8, 0.6, 0.4],
    "fmr_thresholds": [0.95, 0.6, 0.3],
}
# Split 1 enrols b and x: a and y..w are non-mated, best scores a 0.95, y 0.65, z 0.1, w 0.5.
# Thresholds 0.9 / 0.6 / 0.55 -> false alarms 1 (a) / 2 (a, y) / 2 (a, y) of 4.
# Probe x scores b (0.7) above x (0.6): a rank-1 miss, so rank-1 is 1/2.
SPLIT1 = {
    "labels": np.array(["b", "x"]),
    "y_score": np.array([[0.3, 0.95], [0.9, 0.1], [0.7, 0.6], [0.65, 0.1], [0.1, 0.1], [0.5, 0.45]]),
    "fpir_thresholds": [0.9, 0.6, 0.55],
    "fmr_thresholds": [0.95, 0.6, 0.3],
}
# Split 2 enrols a alone: five non-mated searches, best scores b 0.7, x 0.2, y 0.1, z 0.6, w 0.3.
# Thresholds 0.65 / 0.5 / 0.25 -> false alarms 1 (b) / 2 (b, z) / 3 (b, z, w) of 5.
SPLIT2 = {
    "labels": np.array(["a"]),
    "y_score": np.array([[0.9], [0.7], [0.2], [0.1], [0.6], [0.3]]),
    "fpir_thresholds": [0.65, 0.5, 0.25],
    "fmr_thresholds": [0.95, 0.6, 0.3],
}
# Synthetic searches of two photos, two probes each: photo 0 (0.85, 0.1), photo 1 (0.5, 0.62).
SEARCHES = np.array([0.85, 0.1, 0.5, 0.62])


@pytest.fixture(scope="module")
def open_set():
    return benchmark("open_set")


def _split_row(open_set, split):
    return open_set.evaluate_split(
        TRUTH, split["y_score"], split["labels"], fpir_thresholds=split["fpir_thresholds"],
        calibration_searches=SEARCHES, n_calibration=2, pair_scores=split["y_score"],
        fmr_thresholds=split["fmr_thresholds"])


def test_one_split_counts_false_alarms_and_the_photos_above(open_set):
    row = _split_row(open_set, SPLIT0)
    assert (row["n_mated"], row["n_non_mated"]) == (2, 4)
    assert [c["false_alarms"] for c in row["calibrated"]] == [0, 1, 2]
    assert [c["fpir"] for c in row["calibrated"]] == [0, 0.25, 0.5]
    # Thresholds 0.8 / 0.6 / 0.4 over the searches: 1 / 2 / 3 searches, from 1 / 2 / 2 photos.
    assert [c["n_searches_above"] for c in row["calibrated"]] == [1, 2, 3]
    assert [c["n_photos_above"] for c in row["calibrated"]] == [1, 2, 2]


def test_pooled_fpir_weights_splits_by_their_searches(open_set):
    pooled = open_set.pool_splits([_split_row(open_set, s) for s in (SPLIT0, SPLIT1, SPLIT2)])
    cells = pooled["calibrated"]
    assert [c["target"] for c in cells] == [0.01, 0.1, 0.3]
    # False alarms 0+1+1, 1+2+2, 2+2+3 over 4+4+5 non-mated searches (a mean of the rates would give 0.15 at 0.01).
    assert [(c["false_alarms"], c["non_mated"]) for c in cells] == [(2, 13), (5, 13), (7, 13)]
    assert [c["fpir"] for c in cells] == pytest.approx([2 / 13, 5 / 13, 7 / 13])
    # Per split: 0, 1/4, 1/5 at 0.01 (split 0 has no false alarm); 1/4, 2/4, 2/5; 2/4, 2/4, 3/5.
    assert [c["fpir_split"][end] for c in cells for end in ("min", "max")] == \
        pytest.approx([0, 0.25, 0.25, 0.5, 0.5, 0.6])


def test_means_over_splits_with_their_range(open_set):
    pooled = open_set.pool_splits([_split_row(open_set, s) for s in (SPLIT0, SPLIT1, SPLIT2)])
    assert pooled["n_splits"] == 3
    assert pooled["n_non_mated"] == [4, 4, 5]
    assert (pooled["rank1"]["mean"], pooled["rank1"]["min"], pooled["rank1"]["max"]) == pytest.approx((2.5 / 3, 0.5, 1))
    # DIR at each calibrated threshold: split 0 finds a (0.9) and b (0.8) at 0.8, 0.6 and 0.4; split 1 finds
    # only b (0.9, at 0.9 and below; x is a rank-1 miss); split 2 finds a. Means 2.5/3 at every target.
    assert [c["dir"]["mean"] for c in pooled["calibrated"]] == pytest.approx([2.5 / 3] * 3)
    assert [c["dir"][end] for c in pooled["calibrated"] for end in ("min", "max")] == [0.5, 1] * 3


def test_verification_pools_false_matches_over_all_pairs(open_set):
    pooled = open_set.pool_splits([_split_row(open_set, s) for s in (SPLIT0, SPLIT1, SPLIT2)])
    v = pooled["verification"]
    # Mated pairs: 2 + 2 + 1; non-mated: 10 + 10 + 5.
    assert (v["n_mated"], v["n_non_mated"]) == (5, 25)
    # Non-mated pairs at or above 0.95 / 0.6 / 0.3: split 0 -> 0 / 1 (z-a 0.7) / 5 (0.5, 0.3, 0.7, 0.4, 0.35);
    # split 1 -> 1 (a-x 0.95) / 3 (0.95, y-b 0.65, x-b 0.7) / 6 (those, a-b 0.3, w 0.5 and 0.45);
    # split 2 -> 0 / 2 (b 0.7, z 0.6) / 3 (b 0.7, z 0.6, w 0.3).
    assert [c["fmr"] for c in v["calibrated"]] == pytest.approx([1 / 25, 6 / 25, 14 / 25])
    # Mated pairs 0.9, 0.8 | 0.9, 0.6 | 0.9: all below 0.95, none below 0.6 or 0.3.
    assert [c["fnmr"] for c in v["calibrated"]] == pytest.approx([1, 0, 0])


def _scores(open_set):
    """What compute_scores would store for two splits of one condition and method."""
    scores = {"probe_subjects": TRUTH, "conditions": np.array(["moderate 24 px"]),
              "enrolled": np.array([["a", "b"], ["b", "x"]])}
    for split, data in enumerate((SPLIT0, SPLIT1)):
        key = f"moderate 24 px|full method|{split}"
        scores.update({f"{key}|scores": data["y_score"], f"{key}|pair_scores": data["y_score"],
                       f"{key}|fpir_thresholds": np.array(data["fpir_thresholds"]),
                       f"{key}|fmr_thresholds": np.array(data["fmr_thresholds"]),
                       f"{key}|calibration_searches": SEARCHES,
                       f"full method|{split}|classes": data["labels"]})
    return scores


def test_evaluate_reads_the_split_layout_and_prints_the_pooled_cells(open_set):
    (row,) = open_set.evaluate(_scores(open_set), n_calibration=2)
    assert (row["condition"], row["method"], row["n_splits"]) == ("moderate 24 px", "full method", 2)
    # Splits 0 and 1: false alarms 0+1, 1+2, 2+2 of 8 searches.
    assert [(c["false_alarms"], c["non_mated"]) for c in row["calibrated"]] == [(1, 8), (3, 8), (4, 8)]
    table = open_set.markdown([row], {"seed": 0, "n_enrolled": 2, "n_subjects": 6, "chains": 16, "sigmas": 4,
                                      "calibration_probes": 2})
    # Photos above: split 0's thresholds 0.8 / 0.4 have 1 / 2 photos above, split 1's 0.9 / 0.55 have 0 / 2.
    # DIR at the calibrated thresholds: 1 in split 0, 1/2 in split 1.
    assert "| 0.01 | 1 / 8 | 0.1250 | 12.50 | 0.0000–0.2500 | 0–1 | 75.0 (50.0–100.0) |" in table
    assert "| 0.3 | 4 / 8 | 0.5000 | 1.67 | 0.5000 | 2 | 75.0 (50.0–100.0) |" in table
    assert "seeds 0 to 1" in table


def test_pooled_searches_keep_each_split_on_its_own_columns(open_set):
    truth, y_score, labels = open_set._pooled_searches(_scores(open_set), "moderate 24 px", "full method")
    # Split 0: a, b in columns 0, 1; split 1: b, x in columns 0, 1; everybody else is not enrolled (-1).
    assert truth.tolist() == [0, 1, -1, -1, -1, -1] + [-1, 0, 1, -1, -1, -1]
    assert y_score.shape == (12, 2) and labels.tolist() == [0, 1]
    # At 0.6, the non-mated searches of both splits: z (0.7) in split 0, a (0.95) and y (0.65) in split 1.
    fnir, fpir = open_set.open_set_error_rates(truth, y_score, labels, threshold=0.6)
    assert fpir == pytest.approx(3 / 8)
    # Mated at 0.6: a, b of split 0 and b of split 1 are found; x of split 1 is a rank-1 miss.
    assert fnir == pytest.approx(1 / 4)
