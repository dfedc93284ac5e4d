"""Rank-k identification rate, CMC and the CMC picture."""

import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.metrics import top_k_accuracy_score

from skmitm.metrics import cmc_curve, plot_cmc, rank_k_identification_rate, true_subject_ranks

from conftest import REPO


def test_ranks_and_rates_by_hand():
    classes = ["a", "b", "c"]
    scores = [[0.9, 0.5, 0.1], [0.9, 0.5, 0.1], [0.2, 0.3, 0.1], [0.2, 0.2, 0.1]]
    y = ["a", "b", "c", "b"]
    # the last probe ties "a" with its true "b": ties count against it (rank 2)
    np.testing.assert_array_equal(true_subject_ranks(y, scores, classes), [1, 2, 3, 2])
    ranks, rates = cmc_curve(y, scores, classes)
    np.testing.assert_allclose(rates, [0.25, 0.75, 1.0])
    assert ranks.tolist() == [1, 2, 3]
    assert rank_k_identification_rate(y, scores, classes, k=2) == 0.75


def test_agrees_with_sklearn_top_k():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(200, 10))
    y = rng.integers(0, 10, size=200)
    for k in (1, 3, 5):
        ours = rank_k_identification_rate(y, scores, np.arange(10), k=k)
        assert ours == pytest.approx(top_k_accuracy_score(y, scores, k=k, labels=np.arange(10)))


def test_unenrolled_subject_never_matches():
    ranks = true_subject_ranks(["zed"], [[0.1, 0.2]], ["a", "b"])
    assert ranks.tolist() == [3]


def test_bad_input():
    with pytest.raises(ValueError, match="scores has shape"):
        cmc_curve(["a"], [0.1, 0.2], ["a", "b"])
    with pytest.raises(ValueError, match="classes has 1 subjects for 2"):
        cmc_curve(["a"], [[0.1, 0.2]], ["a"])
    with pytest.raises(ValueError, match="y_true has 2 labels for 1"):
        cmc_curve(["a", "b"], [[0.1, 0.2]], ["a", "b"])
    with pytest.raises(ValueError, match="k=0"):
        rank_k_identification_rate(["a"], [[0.1, 0.2]], ["a", "b"], k=0)


def test_plot_cmc_writes_a_png(tmp_path):
    curve = cmc_curve(["a", "b"], [[0.9, 0.1], [0.8, 0.3]], ["a", "b"])
    ax = plot_cmc({"toy": curve}, tmp_path / "cmc.png", max_rank=2)
    assert (tmp_path / "cmc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [50.0, 100.0])
    with pytest.raises(ValueError, match="curves is empty"):
        plot_cmc({}, tmp_path / "none.png")


def test_plot_cmc_draws_on_a_given_axes_and_leaves_the_backend_alone():
    from matplotlib.figure import Figure

    # A caller's backend (here svg, chosen through the environment) survives plotting.
    backend = subprocess.run(
        [sys.executable, "-c", "import matplotlib, skmitm.metrics as m; m.plot_cmc({'x': ([1, 2], [0.25, 0.75])}); "
         "print(matplotlib.get_backend())"],
        capture_output=True, text=True, check=True, env={**os.environ, "MPLBACKEND": "svg"}, cwd=REPO,
    )
    assert backend.stdout.strip() == "svg"
    fig = Figure()
    first, second = fig.subplots(1, 2)
    assert plot_cmc({"a": ([1, 2, 3], [0.2, 0.4, 1.0])}, ax=second, max_rank=3, title="right") is second
    assert not first.get_lines() and second.get_title() == "right"
    np.testing.assert_allclose(second.get_lines()[0].get_ydata(), [20.0, 40.0, 100.0])
def test_rank_one_is_the_default_and_max_rank_one_is_allowed():
    classes = ["a", "b", "c"]
    scores = [[0.9, 0.5, 0.1], [0.9, 0.5, 0.1], [0.2, 0.3, 0.1]]
    y = ["a", "b", "c"]  # true ranks 1, 2, 3
    assert rank_k_identification_rate(y, scores, classes) == pytest.approx(1 / 3)
    ranks, rates = cmc_curve(y, scores, classes, max_rank=1)
    assert ranks.tolist() == [1] and rates.tolist() == [pytest.approx(1 / 3)]


@pytest.mark.parametrize("max_rank", [0, 1.5, "2"])
def test_max_rank_must_be_a_positive_integer(max_rank):
    with pytest.raises(ValueError, match=rf"^max_rank={max_rank!r}; expected an integer >= 1$"):
        cmc_curve(["a"], [[0.1, 0.2]], ["a", "b"], max_rank=max_rank)


@pytest.mark.parametrize("scores", [[[np.nan, 0.2]], [[None, 0.2]]], ids=["nan", "missing"])
def test_missing_scores_are_refused(scores):
    with pytest.raises(ValueError, match=r"^scores contains NaN; expected similarities \(higher is more similar\)$"):
        true_subject_ranks(["a"], scores, ["a", "b"])


def test_plot_cmc_draws_the_curves_it_is_given(tmp_path, monkeypatch):
    """What a reader sees: each curve's points up to max_rank in percent, its rank-1 in the legend,
    labelled axes from rank 1 and 0-100 %, the title, and the PNG itself."""
    import matplotlib.figure

    drawn = {}
    save = matplotlib.figure.Figure.savefig

    def spy(fig, path, *args, **kwargs):
        ax = fig.axes[0]
        drawn.update(
            lines=[(line.get_xdata().tolist(), line.get_ydata().tolist()) for line in ax.get_lines()],
            legend=[t.get_text() for t in ax.get_legend().get_texts()],
            xlabel=ax.get_xlabel(), ylabel=ax.get_ylabel(), title=ax.get_title(),
            xlim=ax.get_xlim(), ylim=ax.get_ylim(),
            xticks=[t for t in ax.get_xticks() if 1 <= t <= 3],
        )
        return save(fig, path, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    curves = {"ours": ([1, 2, 3, 4], [0.5, 0.75, 1.0, 1.0]), "theirs": ([1, 2, 3, 4], [0.25, 0.5, 0.5, 1.0])}
    ax = plot_cmc(curves, tmp_path / "cmc.png", max_rank=3, title="Moderate 24 px")
    path = tmp_path / "cmc.png"
    assert ax.figure.axes == [ax]
    assert drawn["lines"] == [([1, 2, 3], [50.0, 75.0, 100.0]), ([1, 2, 3], [25.0, 50.0, 50.0])]
    assert drawn["legend"] == ["ours (rank-1 50.0%)", "theirs (rank-1 25.0%)"]
    assert (drawn["xlabel"], drawn["ylabel"], drawn["title"]) == ("rank", "identification rate (%)", "Moderate 24 px")
    assert drawn["xlim"] == (1, 3) and drawn["ylim"] == (0, 100)
    assert all(float(t).is_integer() for t in drawn["xticks"])
    with open(path, "rb") as f:
        header = f.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    # 5.5 × 4 inches at 120 dpi
    assert int.from_bytes(header[16:20], "big") == 660 and int.from_bytes(header[20:24], "big") == 480
    # defaults: the first 20 ranks, titled "CMC"
    plot_cmc({"long": (np.arange(1, 31), np.linspace(0.1, 1, 30))}, tmp_path / "long.png")
    assert drawn["lines"][0][0] == list(range(1, 21)) and drawn["title"] == "CMC" and drawn["xlim"] == (1, 20)


def test_psnr_against_hand_computed_values():
    from skmitm.metrics import psnr

    dark = np.zeros((4, 6, 3), np.uint8)
    # uint8 differences in both directions, without wrapping: every pixel off by 5 -> MSE 25
    assert psnr(dark, np.full_like(dark, 5)) == pytest.approx(10 * math.log10(255**2 / 25), rel=1e-12)
    assert psnr(np.full_like(dark, 5), dark) == pytest.approx(34.151403521, abs=1e-8)
    half = dark.copy()
    half[:2] = 10  # half the pixels off by 10 -> MSE 50
    assert psnr(half, dark) == pytest.approx(10 * math.log10(255**2 / 50), rel=1e-12)
    assert psnr([0.0, 255.0], [255.0, 0.0]) == pytest.approx(0.0, abs=1e-12)
    assert psnr(dark, np.ones_like(dark)) == pytest.approx(20 * math.log10(255), rel=1e-12)  # MSE 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # identical images: inf without dividing by zero
        assert psnr(half, half.copy()) == math.inf
    with pytest.raises(ValueError) as error:
        psnr(np.zeros((2, 3)), np.zeros((3, 2)))
    assert str(error.value) == "images of shapes (2, 3) and (3, 2); expected the same shape"


def test_plot_cmc_writes_the_format_its_suffix_names(tmp_path):
    curves = {"toy": cmc_curve(["a", "b"], [[0.9, 0.1], [0.8, 0.3]], ["a", "b"])}
    # a PDF for .pdf and for .PDF (the suffix's case does not matter); PNG without a suffix
    for name, magic in (("cmc.pdf", b"%PDF"), ("CMC.PDF", b"%PDF"), ("cmc.svg", b"<?xml"), ("cmc", b"\x89PNG")):
        plot_cmc(curves, tmp_path / name, max_rank=2)
        assert (tmp_path / name).read_bytes().startswith(magic), name
    with pytest.raises(ValueError) as error:
        plot_cmc({})
    assert str(error.value) == "curves is empty; expected at least one (ranks, rates) pair"
