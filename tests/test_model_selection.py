"""RRSSV splitter and the identifier inside Pipeline / GridSearchCV / cross_val_score."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from skmitm import FusedNearestNeighborIdentifier, HypothesisSet, RepeatedSubjectSubsampling, make_meta


def _toy(n_subjects=12, probes_per_subject=3, seed=0, n_one_role=2):
    """``n_subjects`` subjects with a gallery sample and probes, then ``n_one_role`` gallery-only
    subjects and ``n_one_role`` probe-only subjects, which a split must never draw."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_subjects + 2 * n_one_role, 16))
    X, y, roles = [], [], []
    for s in range(n_subjects + 2 * n_one_role):
        gallery = s < n_subjects + n_one_role
        probes = probes_per_subject if (s < n_subjects or not gallery) else 0
        if gallery:
            X.append(centers[s] + 0.3 * rng.normal(size=16))
            y.append(f"s{s:02d}")
            roles.append("gallery")
        for _ in range(probes):
            X.append(centers[s] + 0.9 * rng.normal(size=16))
            y.append(f"s{s:02d}")
            roles.append("probe")
    return np.asarray(X), np.asarray(y), np.asarray(roles)


def test_splits_are_subject_disjoint_roles():
    X, y, roles = _toy()
    cv = RepeatedSubjectSubsampling(5, n_repeats=4, random_state=0)
    splits = list(cv.split(X, y, roles))
    assert len(splits) == cv.get_n_splits() == 4
    for train, test in splits:
        assert (roles[train] == "gallery").all() and (roles[test] == "probe").all()
        assert set(y[train]) == set(y[test]) and len(set(y[train])) == 5
        assert len(test) == 5 * 3
    # different draws across repeats, identical across calls with an int seed
    assert len({tuple(sorted(set(y[tr]))) for tr, _ in splits}) > 1
    again = list(cv.split(X, y, roles))
    assert all((a[0] == b[0]).all() and (a[1] == b[1]).all() for a, b in zip(splits, again))


def test_only_subjects_with_both_roles_are_drawn():
    X, y, roles = _toy()
    both = {f"s{s:02d}" for s in range(12)}  # s12, s13 have only a gallery sample; s14, s15 only probes
    cv = RepeatedSubjectSubsampling(12, n_repeats=3, random_state=0)
    for train, test in cv.split(X, y, roles):
        assert set(y[train]) == set(y[test]) == both
        assert len(train) == 12 and len(test) == 12 * 3
    for train, test in RepeatedSubjectSubsampling(4, n_repeats=20, random_state=1).split(X, y, roles):
        assert set(y[train]) <= both and set(y[test]) == set(y[train])


def test_fraction_and_bool_roles():
    X, y, roles = _toy()
    cv = RepeatedSubjectSubsampling(0.5, n_repeats=1, random_state=1)
    train, test = next(cv.split(X, y, roles == "gallery"))
    assert len(set(y[train])) == 6


@pytest.mark.parametrize(
    "kwargs, groups, message",
    [
        ({"n_subjects": 13}, "roles", "n_subjects=13 but 12 subjects"),
        ({"n_subjects": 1.5}, "roles", "n_subjects=1.5"),
        ({"n_repeats": 0}, "roles", "n_repeats=0"),
        ({}, None, "groups is None"),
        ({"n_subjects": 2}, "bad", r"groups\[0\] is 'camera'"),
    ],
)
def test_bad_splitter_input(kwargs, groups, message):
    X, y, roles = _toy()
    groups = {"roles": roles, None: None, "bad": np.where(roles == "gallery", "camera", roles)}[groups]
    with pytest.raises(ValueError, match=message):
        list(RepeatedSubjectSubsampling(**kwargs).split(X, y, groups))


def test_cross_val_score_with_rrssv():
    X, y, roles = _toy()
    cv = RepeatedSubjectSubsampling(8, n_repeats=3, random_state=0)
    scores = cross_val_score(FusedNearestNeighborIdentifier(), X, y, groups=roles, cv=cv)
    assert scores.shape == (3,)
    assert (scores > 0.5).all()  # 8 well-separated subjects: far above chance (1/8)


def _as_sets(X):
    """Two hypotheses per sample (the template and a noisy copy at scale 2) to exercise selection."""
    rng = np.random.default_rng(0)
    out = []
    for x in X:
        data = np.stack([x, x + 3.0 * rng.normal(size=x.shape)]).astype(np.float32)
        out.append(HypothesisSet(data, make_meta(2, kind=["original", "super-resolved"], scale=[1, 2], sigma=[np.nan, 0])))
    return out


def test_grid_search_over_fusion_and_selection_in_a_pipeline():
    X, y, roles = _toy(seed=3)
    pipe = Pipeline([("sets", FunctionTransformer(_as_sets)), ("id", FusedNearestNeighborIdentifier())])
    grid = {
        "id__fusion": ["S_max", "S_add", "T_add", "T_concat", "S_max/S_add"],
        "id__probe_kinds": [None, ["original"]],
    }
    cv = RepeatedSubjectSubsampling(10, n_repeats=2, random_state=0)
    search = GridSearchCV(pipe, grid, cv=cv).fit(X, y, groups=roles)
    assert len(search.cv_results_["params"]) == 10
    # The noisy scale-2 copy can only hurt: keeping the originals alone wins.
    assert search.best_params_["id__probe_kinds"] == ["original"]
    # Every setting's score equals the rank-1 rate computed by hand on the same splits.
    splits = list(cv.split(X, y, roles))
    for params, mean_score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
        rates = []
        for train, test in splits:
            clf = FusedNearestNeighborIdentifier(params["id__fusion"], probe_kinds=params["id__probe_kinds"])
            clf.fit(_as_sets(X[train]), y[train])
            rates.append(np.mean(clf.predict(_as_sets(X[test])) == y[test]))
        assert mean_score == pytest.approx(np.mean(rates))


def test_defaults_are_the_papers_scface_protocol():
    cv = RepeatedSubjectSubsampling()
    assert (cv.n_subjects, cv.n_repeats, cv.random_state) == (80, 10, None)


def test_subject_count_bounds():
    X, y, roles = _toy()
    one = list(RepeatedSubjectSubsampling(1, n_repeats=5, random_state=0).split(X, y, roles))
    assert all(len(set(y[train])) == 1 and len(test) == 3 for train, test in one)
    # a fraction too small for one subject still draws one
    train, _ = next(RepeatedSubjectSubsampling(0.01, n_repeats=1, random_state=0).split(X, y, roles))
    assert len(set(y[train])) == 1
    for bad in (0, 0.0, 1.0, -0.5):
        with pytest.raises(ValueError) as error:
            list(RepeatedSubjectSubsampling(bad).split(X, y, roles))
        assert str(error.value) == (f"RepeatedSubjectSubsampling: n_subjects={bad!r}; "
                                    "expected an integer in [1, inf) or a real number in (0, 1)")


def test_bad_roles_are_named():
    X, y, roles = _toy()
    groups = roles.astype(object)  # as a pandas column of strings arrives
    groups[[3, 5]] = ["camera", "mugshot"]
    with pytest.raises(ValueError, match=r"^groups\[3\] is 'camera'; expected 'gallery' or 'probe'$"):
        list(RepeatedSubjectSubsampling(2).split(X, y, groups))
    with pytest.raises(ValueError, match=r"^groups is None; expected the role of each sample"):
        list(RepeatedSubjectSubsampling(2).split(X, y))
    with pytest.raises(ValueError, match=rf"^groups has shape \(3,\); expected one role per sample, \({len(y)},\)$"):
        list(RepeatedSubjectSubsampling(2).split(X, y, roles[:3]))


def test_splitting_is_only_through_split():
    with pytest.raises(NotImplementedError, match="^RepeatedSubjectSubsampling overrides split$"):
        next(RepeatedSubjectSubsampling()._iter_test_indices())
