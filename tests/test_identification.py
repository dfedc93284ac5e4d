"""FusedNearestNeighborIdentifier: every fusion rule against a plain pair-by-pair reference."""

import os
import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import top_k_accuracy_score

from skmitm import FUSION_STRATEGIES, SIMILARITIES, FusedNearestNeighborIdentifier, HypothesisSet, make_meta

D = 12


def _set(rng, specs, center):
    """A template set: specs are (kind, scale, sigma, chain, size) tuples around a subject centre."""
    kinds, scales, sigmas, chains, sizes = zip(*specs)
    data = (center + 0.8 * rng.normal(size=(len(specs), D))).astype(np.float32)
    return HypothesisSet(data, make_meta(len(specs), kind=kinds, scale=scales, sigma=sigmas, chain=chains, size=sizes))


def _gallery_specs(chains=("noise", "blur>noise", "shear")):
    specs = [("original", 1, np.nan, "", 0)]
    for scale in (2, 4):
        specs.append(("matched", scale, np.nan, "", 24))
        specs += [("degraded", scale, np.nan, c, 24) for c in chains]
    return specs


def _probe_specs():
    specs = [("original", 1, np.nan, "", 24)]
    for scale in (2, 4):
        specs += [("super-resolved", scale, s, "", 24) for s in (0.0, 0.5, 1.0)]
    return specs


@pytest.fixture
def problem():
    rng = np.random.default_rng(1)
    centers = rng.normal(size=(5, D))
    subjects = ["a", "b", "c", "d", "e", "a", "c"]
    gallery = [_set(rng, _gallery_specs(), centers["abcde".index(s)]) for s in subjects]
    truth = ["b", "a", "e", "c", "d", "a"]
    probes = [_set(rng, _probe_specs(), centers["abcde".index(s)]) for s in truth]
    return gallery, np.array(subjects), probes, np.array(truth)


@pytest.fixture
def partial_problem():
    """Subjects missing hypothesis groups, probes of several sizes and of several sets of scales.

    Gallery hypotheses come in two probe-size buckets (16 and 24 px); some
    subjects lack originals, a scale or a size bucket, so some probe
    hypotheses have no counterpart for some subjects. Probes are 16, 18
    (bucket 16), 24 and 30 px (bucket 24) and hold different scales, so
    T_concat meets several key patterns and both buckets in one batch.
    """
    rng = np.random.default_rng(7)
    centers = rng.normal(size=(4, D))

    def gallery_specs(original, groups):
        specs = [("original", 1, np.nan, "", 0)] if original else []
        for scale, size in groups:
            specs.append(("matched", scale, np.nan, "", size))
            specs += [("degraded", scale, np.nan, c, size) for c in ("noise", "shear")]
        return specs

    enrolment = [
        ("a", True, [(2, 24), (4, 24), (2, 16)]),
        ("b", False, [(2, 24), (2, 16)]),  # no originals, no scale 4
        ("c", False, [(4, 24)]),  # scale 4 at 24 px only
        ("d", True, [(2, 16)]),
        ("a", False, [(4, 16)]),  # a second image of "a", one group only
    ]
    gallery = [_set(rng, gallery_specs(o, g), centers["abcd".index(s)]) for s, o, g in enrolment]

    def probe_specs(original, scales, size):
        specs = [("original", 1, np.nan, "", size)] if original else []
        for scale in scales:
            specs += [("super-resolved", scale, sigma, "", size) for sigma in (0.0, 1.0)]
        return specs

    probing = [
        ("a", True, (2, 4), 24),
        ("b", False, (2,), 16),
        ("c", False, (4,), 30),
        ("d", True, (2,), 18),
        ("b", False, (2, 4), 24),
        ("c", True, (4,), 24),
        ("a", False, (2, 4), 16),
    ]
    probes = [_set(rng, probe_specs(o, sc, sz), centers["abcd".index(s)]) for s, o, sc, sz in probing]
    subjects = [s for s, _, _ in enrolment]
    truth = [s for s, _, _, _ in probing]
    return gallery, np.array(subjects), probes, np.array(truth)


def _prep(t, similarity):
    t = np.asarray(t, dtype=np.float64)
    if similarity == "pearson":
        t = t - t.mean()
    return t / np.linalg.norm(t)


def _sim(a, b, similarity):
    return float(_prep(a, similarity) @ _prep(b, similarity))


def _centred_by_kind_and_scale(sets):
    """The mean-centred reading: subtract each side's mean template of every (kind, scale) group."""
    rows = [(t, (m["kind"], m["scale"])) for s in sets for t, m in zip(s.data, s.meta)]
    means = {key: np.mean([t for t, k in rows if k == key], axis=0) for _, key in rows}
    return [
        HypothesisSet(np.stack([t - means[(m["kind"], m["scale"])] for t, m in zip(s.data, s.meta)]), s.meta)
        for s in sets
    ]


def _reference(gallery, y, probes, fusion, similarity):
    """Pair-by-pair fusion written straight from the paper's description.

    A probe hypothesis of scale s and size z pairs with a subject's gallery
    originals and its hypotheses of scale s in the size bucket nearest z; a
    subject with no pair for any of a probe's hypotheses (or, under T_concat,
    for one of its blocks) scores -inf.
    """
    gallery_rule, probe_rule = FUSION_STRATEGIES[fusion]
    if similarity == "mean-centred":
        gallery, probes, similarity = _centred_by_kind_and_scale(gallery), _centred_by_kind_and_scale(probes), "cosine"
    classes = np.unique(y)
    buckets = sorted({int(m["size"]) for g in gallery for m in g.meta if m["kind"] != "original" and m["size"] > 0})
    out = np.zeros((len(probes), len(classes)))
    for i, p in enumerate(probes):
        for j, c in enumerate(classes):
            rows = [(t, m) for g, s in zip(gallery, y) if s == c for t, m in zip(g.data, g.meta)]

            def valid(pm, gm):
                bucket = min(buckets, key=lambda b: abs(b - int(pm["size"])))
                return gm["kind"] == "original" or (gm["scale"] == pm["scale"] and gm["size"] == bucket)

            if gallery_rule == "T_concat":
                p_parts, g_parts = [], []
                for scale in sorted(set(p.meta["scale"])):
                    pm0 = p.meta[p.meta["scale"] == scale][0]
                    partners = [t for t, m in rows if valid(pm0, m)]
                    if not partners:
                        break
                    p_parts.append(p.data[p.meta["scale"] == scale].mean(0))
                    g_parts.append(np.mean(partners, axis=0))
                else:
                    out[i, j] = _sim(np.concatenate(p_parts), np.concatenate(g_parts), similarity)
                    continue
                out[i, j] = -np.inf
                continue
            if probe_rule == "T_add":
                pt = p.data.mean(0)
                if gallery_rule == "T_add":
                    out[i, j] = _sim(pt, np.mean([t for t, _ in rows], 0), similarity)
                else:
                    sims = [_sim(pt, t, similarity) for t, _ in rows]
                    out[i, j] = max(sims) if gallery_rule == "S_max" else np.mean(sims)
                continue
            per_hyp = []
            for pt, pm in zip(p.data, p.meta):
                partners = [t for t, m in rows if valid(pm, m)]
                if not partners:
                    continue
                if gallery_rule == "T_add":
                    per_hyp.append(_sim(pt, np.mean(partners, 0), similarity))
                else:
                    sims = [_sim(pt, t, similarity) for t in partners]
                    per_hyp.append(max(sims) if gallery_rule == "S_max" else np.mean(sims))
            if not per_hyp:
                out[i, j] = -np.inf
            else:
                out[i, j] = max(per_hyp) if probe_rule == "S_max" else np.mean(per_hyp)
    return out


@pytest.mark.filterwarnings("ignore:only \\d+ probe")
@pytest.mark.parametrize("similarity", SIMILARITIES)
@pytest.mark.parametrize("fusion", sorted(FUSION_STRATEGIES))
@pytest.mark.parametrize("data", ["problem", "partial_problem"])
def test_every_fusion_matches_pairwise_reference(request, data, fusion, similarity):
    gallery, y, probes, _ = request.getfixturevalue(data)
    clf = FusedNearestNeighborIdentifier(fusion, similarity=similarity).fit(gallery, y)
    expected = _reference(gallery, y, probes, fusion, similarity)
    np.testing.assert_allclose(clf.decision_function(probes), expected, rtol=1e-4, atol=1e-5)


def _basis(*weights):
    """A 4-D template from weights on the unit axes (cosine similarities are then dot products)."""
    return np.asarray(weights, dtype=np.float32)


@pytest.mark.parametrize("fusion", ["S_add", "S_max/S_add", "T_add/S_add"])
def test_score_addition_averages_only_hypotheses_with_a_counterpart(fusion):
    # Probe: one hypothesis at scale 2 (axis 1), one at scale 4 (axis 2).
    # "x" is enrolled at scale 2 only, as the probe's scale-2 template itself (similarity 1);
    # "y" at both scales, each at similarity 0.6 with the probe's hypothesis of that scale.
    gallery = [
        HypothesisSet(_basis(1, 0, 0, 0)[None], make_meta(1, kind="matched", scale=2, size=24)),
        HypothesisSet(np.stack([_basis(0.6, 0, 0.8, 0), _basis(0, 0.6, 0, 0.8)]),
                      make_meta(2, kind="matched", scale=[2, 4], size=24)),
    ]
    probe = HypothesisSet(np.stack([_basis(1, 0, 0, 0), _basis(0, 1, 0, 0)]),
                          make_meta(2, kind="super-resolved", scale=[2, 4], sigma=0, size=24))
    only_4 = HypothesisSet(_basis(0, 1, 0, 0)[None], make_meta(1, kind="super-resolved", scale=4, sigma=0, size=24))
    clf = FusedNearestNeighborIdentifier(fusion, similarity="cosine").fit(gallery, ["x", "y"])
    # "x": the mean over its one comparable hypothesis is 1; "y": (0.6 + 0.6) / 2.
    # A probe whose hypotheses all lack a counterpart for "x" gives "x" the documented -inf.
    np.testing.assert_allclose(clf.decision_function([probe, only_4]), [[1.0, 0.6], [-np.inf, 0.6]], rtol=1e-6)
    assert clf.predict([probe, only_4]).tolist() == ["x", "y"]


def test_strategy_table_covers_paper():
    # Figure 4 / Table 3: single rules, template concatenation, all two-level orders.
    assert {"S_max", "S_add", "T_add", "T_concat", "S_max/S_add", "S_max/T_add", "T_add/S_max"} <= set(
        FUSION_STRATEGIES
    )
    assert len(FUSION_STRATEGIES) == 10


def test_identifies_and_ranks(problem):
    gallery, y, probes, truth = problem
    clf = FusedNearestNeighborIdentifier().fit(gallery, y)
    assert clf.score(probes, truth) == 1.0
    scores = clf.decision_function(probes)
    assert top_k_accuracy_score(truth, scores, k=1, labels=clf.classes_) == 1.0
    assert list(clf.classes_) == ["a", "b", "c", "d", "e"]


def test_chunking_does_not_change_scores(problem):
    gallery, y, probes, _ = problem
    whole = FusedNearestNeighborIdentifier("S_max/S_add").fit(gallery, y).decision_function(probes)
    one = FusedNearestNeighborIdentifier("S_max/S_add", chunk_size=1).fit(gallery, y).decision_function(probes)
    np.testing.assert_allclose(whole, one, rtol=1e-6)


def test_plain_arrays_are_one_nearest_neighbour():
    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(6, 8))
    probes = rng.normal(size=(9, 8))
    clf = FusedNearestNeighborIdentifier(similarity="cosine").fit(gallery, np.arange(6))
    g = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    p = probes / np.linalg.norm(probes, axis=1, keepdims=True)
    np.testing.assert_allclose(clf.decision_function(probes), p @ g.T, rtol=1e-5)
    np.testing.assert_array_equal(clf.predict(probes), np.argmax(p @ g.T, axis=1))


def test_selection_equals_filtering_the_sets_by_hand(problem):
    gallery, y, probes, _ = problem
    clf = FusedNearestNeighborIdentifier(
        "S_max", scales=[2], probe_kinds=["super-resolved"], probe_sigmas=[0.0], gallery_kinds=["matched"]
    ).fit(gallery, y)
    g_hand = [g.select((g.meta["kind"] == "matched") & (g.meta["scale"] == 2)) for g in gallery]
    p_hand = [p.select((p.meta["sigma"] == 0) & (p.meta["scale"] == 2)) for p in probes]
    hand = FusedNearestNeighborIdentifier("S_max").fit(g_hand, y)
    np.testing.assert_allclose(clf.decision_function(probes), hand.decision_function(p_hand), rtol=1e-6)
    assert clf.n_gallery_hypotheses_ == len(gallery)


def test_n_degraded_keeps_first_chains(problem):
    gallery, y, probes, _ = problem
    clf = FusedNearestNeighborIdentifier("S_max", n_degraded=1, gallery_kinds=["degraded"]).fit(gallery, y)
    # one chain ("noise") at two scales per gallery image
    assert clf.n_gallery_hypotheses_ == 2 * len(gallery)
    hand = [g.select(g.meta["chain"] == "noise") for g in gallery]
    ref = FusedNearestNeighborIdentifier("S_max").fit(hand, y)
    np.testing.assert_allclose(clf.decision_function(probes), ref.decision_function(probes), rtol=1e-6)


def test_size_buckets_pick_the_nearest():
    rng = np.random.default_rng(3)
    center = rng.normal(size=D)
    other = rng.normal(size=D)
    # Subject "x" looks like the probe only in the 16 px bucket; "y" only in the 32 px bucket.
    def gallery_set(near16, near32):
        data = np.stack([near16, near32]).astype(np.float32)
        return HypothesisSet(data, make_meta(2, kind="matched", scale=2, size=[16, 32]))

    gallery = [gallery_set(center, other), gallery_set(other, center)]
    clf = FusedNearestNeighborIdentifier("S_max").fit(gallery, ["x", "y"])
    probe16 = HypothesisSet(center[None].astype(np.float32), make_meta(1, kind="super-resolved", scale=2, size=18))
    probe32 = HypothesisSet(center[None].astype(np.float32), make_meta(1, kind="super-resolved", scale=2, size=30))
    assert clf.predict([probe16, probe32]).tolist() == ["x", "y"]


def test_clone_pickle_and_params(problem):
    gallery, y, probes, _ = problem
    clf = FusedNearestNeighborIdentifier("T_concat", similarity="cosine", scales=(2, 4))
    assert clone(clf).get_params() == clf.get_params()
    clf.fit(gallery, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.decision_function(probes), clf.decision_function(probes))
    # set_params reaches scoring: a refit under another rule scores like a fresh identifier of that rule
    refit = clf.set_params(fusion="S_add", similarity="pearson", scales=None).fit(gallery, y).decision_function(probes)
    np.testing.assert_allclose(refit, _reference(gallery, y, probes, "S_add", "pearson"), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"fusion": "S_min"}, "fusion='S_min'"),
        ({"similarity": "euclid"}, "similarity='euclid'"),
        ({"probe_kinds": ["blurry"]}, "probe_kinds"),
        ({"scales": 2}, "scales=2"),
        ({"n_degraded": -1}, "n_degraded=-1"),
        ({"chunk_size": 0}, "chunk_size=0"),
    ],
)
def test_bad_parameters_raise_in_fit(problem, params, message):
    gallery, y, _, _ = problem
    clf = FusedNearestNeighborIdentifier(**params)
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        clf.fit(gallery, y)


def test_bad_input_errors_name_the_sample(problem):
    gallery, y, probes, _ = problem
    with pytest.raises(ValueError, match="7 samples"):
        FusedNearestNeighborIdentifier().fit(gallery, y[:-1])
    images = [HypothesisSet.from_image(np.zeros((8, 8, 3), np.uint8))]
    with pytest.raises(TypeError, match=r"X\[0\] holds images"):
        FusedNearestNeighborIdentifier().fit(images, ["a"])
    with pytest.raises(ValueError, match="NaN"):
        FusedNearestNeighborIdentifier().fit(np.array([[0.0, np.nan]]), ["a"])
    with pytest.raises(ValueError, match="X is empty"):
        FusedNearestNeighborIdentifier().fit([], [])
    clf = FusedNearestNeighborIdentifier().fit(gallery, y)
    with pytest.raises(ValueError, match="X has 3 features"):
        clf.decision_function(np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"X\[0\] has templates of 3 features"):
        clf.decision_function([HypothesisSet.from_template(np.ones(3))])
    with pytest.raises(ValueError, match="no gallery hypothesis left"):
        FusedNearestNeighborIdentifier(gallery_kinds=["degraded"], scales=[8]).fit(gallery, y)
    with pytest.raises(ValueError, match=r"X\[0\] has no hypothesis left"):
        FusedNearestNeighborIdentifier(probe_kinds=["matched"]).fit(gallery, y).predict(probes)


def test_cache_blocks_do_not_change_scores(problem, monkeypatch):
    import skmitm._identification as module

    gallery, y, probes, _ = problem
    expected = FusedNearestNeighborIdentifier("S_add/S_max").fit(gallery, y).decision_function(probes)
    # Blocks of a few rows split the uneven subjects ("a" and "c" have two images) at subject boundaries.
    monkeypatch.setattr(module, "_CACHE_FLOATS", 20)
    blocked = FusedNearestNeighborIdentifier("S_add/S_max").fit(gallery, y).decision_function(probes)
    np.testing.assert_allclose(blocked, expected, rtol=1e-6)


def test_mean_centred_warns_for_small_probe_batches(problem):
    gallery, y, probes, _ = problem
    clf = FusedNearestNeighborIdentifier(similarity="mean-centred").fit(gallery, y)
    assert set(clf.gallery_means_) == {"original@1.0", "matched@2.0", "matched@4.0", "degraded@2.0", "degraded@4.0"}
    with pytest.warns(UserWarning, match="only 6 probe"):
        clf.decision_function(probes)
    many = probes * 2  # 12 probes per group: no warning, and duplicated probes score as before
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = clf.decision_function(many)
    np.testing.assert_allclose(scores[:6], scores[6:], rtol=1e-6)


def test_probe_means_score_each_probe_on_its_own(problem):
    """Means estimated once from a reference set: a probe scores the same alone as in any batch."""
    gallery, y, probes, _ = problem
    clf = FusedNearestNeighborIdentifier("T_concat", similarity="mean-centred").fit(gallery, y)
    reference = probes * 2
    means = clf.estimate_probe_means(reference)
    assert set(means) == {"original@1.0", "super-resolved@2.0", "super-resolved@4.0"}
    # the batch's own means as probe_means reproduce batch scoring exactly
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batch = clf.decision_function(reference)
        clf.set_params(probe_means=clf.estimate_probe_means(reference))  # no refit needed
        np.testing.assert_allclose(clf.decision_function(reference), batch, rtol=1e-5, atol=1e-6)
        alone = np.vstack([clf.decision_function([p]) for p in probes])  # no small-batch warning either
    np.testing.assert_allclose(alone, batch[: len(probes)], rtol=1e-5, atol=1e-6)
    # the probe side is centred on the given means: shifting them changes the scores
    shifted = {k: v + 1.0 for k, v in means.items()}
    assert not np.allclose(clf.set_params(probe_means=shifted).decision_function(probes), batch[: len(probes)])


def test_probe_means_errors(problem):
    gallery, y, probes, _ = problem
    clf = FusedNearestNeighborIdentifier(similarity="mean-centred").fit(gallery, y)
    means = clf.estimate_probe_means(probes * 2)
    with pytest.raises(ValueError, match="no mean template for the probe hypothesis group 'super-resolved@4.0'"):
        clf.set_params(probe_means={k: v for k, v in means.items() if k != "super-resolved@4.0"})
        clf.decision_function(probes)
    with pytest.raises(ValueError, match=r"has shape \(3,\); expected \(\d+,\)"):
        clf.set_params(probe_means={**means, "original@1.0": np.zeros(3)}).decision_function(probes)
    with pytest.raises(ValueError, match="non-empty dict"):
        clf.set_params(probe_means=[1, 2]).decision_function(probes)
    with pytest.raises(ValueError, match="only under similarity='mean-centred'"):
        FusedNearestNeighborIdentifier(similarity="pearson", probe_means=means).fit(gallery, y)
    with pytest.warns(UserWarning, match="only 6 probe"):
        clf.set_params(probe_means=None).estimate_probe_means(probes)
    with pytest.raises(ValueError, match="only one probe in hypothesis group"):
        clf.decision_function(probes[:1])  # batch centring would leave it a zero template
    clf.set_params(probe_means=means).decision_function(probes[:1])  # with reference means it is fine


def test_small_probe_batch_warning_starts_below_ten_and_points_at_the_caller():
    rng = np.random.default_rng(5)
    clf = FusedNearestNeighborIdentifier(similarity="mean-centred").fit(rng.normal(size=(4, D)), [0, 1, 2, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.decision_function(rng.normal(size=(10, D)))  # ten probes: no warning
    # mutmut's trampolines add a stack frame, so where a warning points is checked outside mutation runs only
    here = os.environ.get("MUTANT_UNDER_TEST") is None
    with pytest.warns(UserWarning) as caught:
        clf.decision_function(rng.normal(size=(9, D)))
    assert len(caught) == 1 and (caught[0].filename == __file__ or not here)
    assert str(caught[0].message) == (
        "only 9 probe(s) in hypothesis group 'original@1.0': under the mean-centred similarity its mean "
        "template is mostly the probes themselves; score more probes together, or pass probe_means "
        "estimated from a reference set (estimate_probe_means)"
    )
    with pytest.raises(ValueError) as error:
        clf.decision_function(rng.normal(size=(1, D)))
    assert str(error.value) == (
        "only one probe in hypothesis group 'original@1.0': centred on its own mean it has no template left "
        "under the mean-centred similarity; score more probes together, pass probe_means estimated from a "
        "reference set (estimate_probe_means), or enrol the gallery with skmitm.enrol, which estimates them from "
        "synthetic probes made from the gallery"
    )
    # a one-probe reference set is noisy but allowed: a warning, attributed to the caller
    with pytest.warns(UserWarning, match=r"^only 1 probe\(s\) in hypothesis group 'original@1.0'") as caught:
        means = clf.estimate_probe_means(rng.normal(size=(1, D)))
    assert (caught[0].filename == __file__ or not here) and set(means) == {"original@1.0"}


def test_probe_means_shape_error_names_the_group(problem):
    gallery, y, probes, _ = problem
    clf = FusedNearestNeighborIdentifier(similarity="mean-centred").fit(gallery, y)
    means = clf.estimate_probe_means(probes * 2)
    with pytest.raises(ValueError, match=r"^probe_means\['super-resolved@2.0'\] has shape \(3,\); expected \(12,\)"):
        clf.set_params(probe_means={**means, "super-resolved@2.0": np.zeros(3)}).decision_function(probes)


@pytest.mark.parametrize("n_probes, rows_per_probe, gallery_rows", [(50, 7.0, 1000), (50_000, 1.0, 1), (30, 2.5, 40000)])
def test_score_chunks_cover_every_probe_in_the_largest_blocks_under_the_bound(
    monkeypatch, n_probes, rows_per_probe, gallery_rows
):
    import skmitm._identification as module

    monkeypatch.setattr(module, "_MAX_SCORE_FLOATS", 40_000)
    chunks = FusedNearestNeighborIdentifier()._chunks(n_probes, rows_per_probe, gallery_rows)
    floats_per_probe = int(np.ceil(rows_per_probe)) * gallery_rows
    sizes = [stop - start for start, stop in chunks]
    assert [start for start, _ in chunks] == list(np.cumsum([0] + sizes[:-1])) and sum(sizes) == n_probes
    largest = max(1, 40_000 // floats_per_probe)  # one probe per chunk when even one exceeds the bound
    assert sizes[:-1] == [largest] * (len(sizes) - 1) and 1 <= sizes[-1] <= largest
    assert FusedNearestNeighborIdentifier(chunk_size=4)._chunks(10, 7.0, 10) == [(0, 4), (4, 8), (8, 10)]


@pytest.mark.filterwarnings("ignore:only \\d+ probe")
@pytest.mark.parametrize("fusion", sorted(FUSION_STRATEGIES))
def test_chunks_of_several_probes_score_as_one_batch(partial_problem, fusion):
    gallery, y, probes, _ = partial_problem
    whole = FusedNearestNeighborIdentifier(fusion).fit(gallery, y).decision_function(probes)
    for size in (2, 3):
        chunked = FusedNearestNeighborIdentifier(fusion, chunk_size=size).fit(gallery, y).decision_function(probes)
        np.testing.assert_allclose(chunked, whole, rtol=1e-6)


def test_selections_combine(problem):
    """Each selection parameter narrows what the others kept; none replaces them."""
    gallery, y, probes, _ = problem
    clf = FusedNearestNeighborIdentifier("S_max/S_add", scales=[2], probe_kinds=["super-resolved"],
                                         probe_sigmas=[0.5]).fit(gallery, y)
    keep = [p.select((p.meta["kind"] == "super-resolved") & (p.meta["scale"] == 2) & (p.meta["sigma"] == 0.5))
            for p in probes]
    g_keep = [g.select((g.meta["kind"] == "original") | (g.meta["scale"] == 2)) for g in gallery]
    hand = FusedNearestNeighborIdentifier("S_max/S_add").fit(g_keep, y)
    np.testing.assert_allclose(clf.decision_function(probes), hand.decision_function(keep), rtol=1e-6)


def test_fitted_attributes_describe_the_gallery(partial_problem):
    gallery, y, _, _ = partial_problem
    clf = FusedNearestNeighborIdentifier().fit(gallery, y)
    assert clf.gallery_scales_.tolist() == [2.0, 4.0] and clf.gallery_sizes_.tolist() == [16, 24]
    assert clf.gallery_means_ == {} and clf.n_gallery_hypotheses_ == sum(len(g) for g in gallery)
    # a hypothesis of unknown size (0) is no size bucket
    unsized = [HypothesisSet(np.eye(2, D, dtype=np.float32), make_meta(2, kind="matched", scale=2, size=[0, 24]))]
    assert FusedNearestNeighborIdentifier().fit(unsized, ["a"]).gallery_sizes_.tolist() == [24]
    assert FusedNearestNeighborIdentifier().__sklearn_tags__().classifier_tags.poor_score is True


@pytest.mark.parametrize(
    "params, message",
    [
        ({"gallery_kinds": ["blurry"]}, r"gallery_kinds=\['blurry'\]"),
        ({"scales": []}, r"scales=\[\]"),
        ({"probe_sigmas": ["a"]}, r"probe_sigmas=\['a'\]"),
        ({"probe_sigmas": 0.5}, "probe_sigmas=0.5"),
        ({"n_degraded": 1.5}, "n_degraded=1.5"),
    ],
)
def test_every_selection_parameter_is_checked(problem, params, message):
    gallery, y, _, _ = problem
    with pytest.raises(ValueError, match=f"^FusedNearestNeighborIdentifier: {message}; expected"):
        FusedNearestNeighborIdentifier(**params).fit(gallery, y)


def test_no_degraded_chains_keeps_the_other_hypotheses(problem):
    gallery, y, probes, _ = problem
    clf = FusedNearestNeighborIdentifier("S_max", n_degraded=0).fit(gallery, y)
    hand = FusedNearestNeighborIdentifier("S_max").fit([g.select(g.meta["kind"] != "degraded") for g in gallery], y)
    assert clf.n_gallery_hypotheses_ == 3 * len(gallery)  # the original and two matched
    np.testing.assert_allclose(clf.decision_function(probes), hand.decision_function(probes), rtol=1e-6)


def test_input_errors_name_the_first_culprit(problem):
    gallery, y, probes, _ = problem
    message = "X holds images; expected templates (put a TemplateExtractor before the identifier)"
    for images in (np.zeros((2, 8, 8, 3)), [np.zeros((8, 8, 3)), np.zeros((8, 8, 3))], ["a.png", "b.png"]):
        with pytest.raises(TypeError) as error:
            FusedNearestNeighborIdentifier().fit(images, ["a", "b"])
        assert str(error.value) == message
    mixed = [HypothesisSet.from_template(np.ones(3)), HypothesisSet.from_template(np.ones(4))]
    with pytest.raises(ValueError, match=r"^X holds templates of different dimensions \[3, 4\]; expected one dimension$"):
        FusedNearestNeighborIdentifier().fit(mixed, ["a", "b"])
    with pytest.raises(ValueError, match="^subject 'a' has no gallery hypothesis left"):
        FusedNearestNeighborIdentifier(gallery_kinds=["degraded"], scales=[8]).fit(gallery, y)
    clf = FusedNearestNeighborIdentifier(gallery_kinds=["matched"], scales=[2]).fit(gallery, y)
    lost = [p.select(p.meta["scale"] == 1) for p in probes[:2]]  # originals only, and no gallery originals
    with pytest.raises(ValueError, match=r"^X\[0\] has no hypothesis with a gallery counterpart"):
        FusedNearestNeighborIdentifier(gallery_kinds=["matched"]).fit(gallery, y).decision_function(lost)
    assert clf.n_gallery_hypotheses_ == len(gallery)


@pytest.mark.filterwarnings("ignore:only")
@pytest.mark.parametrize("fusion", ["T_concat", "T_add", "T_add/S_max"])
def test_mean_fusions_keep_no_hypotheses_and_refit_forgets_the_old_gallery(problem, fusion):
    """Fusions that compare with subject means drop the hypotheses; a refit on another gallery scores like a
    fresh identifier fitted on it, in chunks of one probe or all together (the fused gallery is made once)."""
    gallery, y, probes, _ = problem
    clf = FusedNearestNeighborIdentifier(fusion, similarity="pearson").fit(gallery, y)
    assert all(group.raw is None for group in clf._groups.values())
    clf.decision_function(probes)
    other = gallery[:5]
    clf.set_params(chunk_size=1).fit(other, y[:5])
    expected = _reference(other, y[:5], probes, fusion, "pearson")
    np.testing.assert_allclose(clf.decision_function(probes), expected, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------------------
# Paths the fixtures above do not reach: the strategy table itself, degenerate templates, galleries
# of unknown size, open-set thresholds, enrolment growth and the error messages of the checks.
# Every expectation is written out by hand.

def test_strategy_table_is_every_rule_and_every_two_level_order():
    from skmitm._identification import _fusion_table

    rules = ("T_add", "S_add", "S_max")
    expected = {"T_concat": ("T_concat", "T_concat"), "T_add": ("T_add", "T_add"), "S_add": ("S_add", "S_add"),
                "S_max": ("S_max", "S_max"), "T_add/S_add": ("T_add", "S_add"), "T_add/S_max": ("T_add", "S_max"),
                "S_add/T_add": ("S_add", "T_add"), "S_add/S_max": ("S_add", "S_max"),
                "S_max/T_add": ("S_max", "T_add"), "S_max/S_add": ("S_max", "S_add")}
    assert _fusion_table() == expected == FUSION_STRATEGIES
    assert all(g in rules + ("T_concat",) and p in rules + ("T_concat",) for g, p in expected.values())


@pytest.mark.parametrize("fusion", sorted(FUSION_STRATEGIES))
def test_subjects_with_equal_hypothesis_counts_match_the_reference(problem, fusion):
    """One image per subject: every subject has as many hypotheses in each group (the even-block path)."""
    gallery, y, probes, _ = problem
    clf = FusedNearestNeighborIdentifier(fusion, similarity="cosine").fit(gallery[:5], y[:5])
    expected = _reference(gallery[:5], y[:5], probes, fusion, "cosine")
    np.testing.assert_allclose(clf.decision_function(probes), expected, rtol=1e-4, atol=1e-5)


def test_short_and_zero_templates_score_by_direction_only():
    # cosine by hand: the probe (0.3, 0.4, 0) against "a" (0.5, 0, 0) is 0.3 / 0.5 = 0.6; the zero
    # template of "b" has no direction and scores 0, not NaN
    clf = FusedNearestNeighborIdentifier(similarity="cosine").fit(np.array([[0.5, 0, 0], [0, 0, 0]]), ["a", "b"])
    scores = clf.decision_function(np.array([[0.3, 0.4, 0.0], [0.0, 0.0, 0.2]]))
    np.testing.assert_allclose(scores, [[0.6, 0.0], [0.0, 0.0]], atol=1e-6)
    assert scores.dtype == np.float32  # one float32 score per probe and subject, also at scale


def test_gallery_hypotheses_of_unknown_size_pair_with_probes_of_any_size():
    # matched hypotheses of size 0 (unknown): no size buckets, every probe of scale 2 meets them
    gallery = [HypothesisSet(_basis(1, 0, 0, 0)[None], make_meta(1, kind="matched", scale=2, size=0)),
               HypothesisSet(_basis(0.6, 0.8, 0, 0)[None], make_meta(1, kind="matched", scale=2, size=0))]
    clf = FusedNearestNeighborIdentifier("S_max", similarity="cosine").fit(gallery, ["x", "y"])
    assert clf.gallery_sizes_.tolist() == []
    probes = [HypothesisSet(_basis(1, 0, 0, 0)[None], make_meta(1, kind="super-resolved", scale=2, size=s))
              for s in (16, 40)]
    np.testing.assert_allclose(clf.decision_function(probes), [[1.0, 0.6], [1.0, 0.6]], atol=1e-6)
    # a one-pixel bucket is a bucket like any other: a 1 px probe meets only its hypotheses
    sized = [HypothesisSet(np.eye(2, D, dtype=np.float32), make_meta(2, kind="matched", scale=2, size=[1, 24]))]
    one_px = FusedNearestNeighborIdentifier("S_max", similarity="cosine").fit(sized, ["a"])
    assert one_px.gallery_sizes_.tolist() == [1, 24]
    row_1 = HypothesisSet(np.eye(2, D, dtype=np.float32)[1:], make_meta(1, kind="super-resolved", scale=2, size=1))
    np.testing.assert_allclose(one_px.decision_function([row_1]), [[0.0]], atol=1e-6)  # the 24 px row is not met


def test_one_probe_without_counterpart_in_a_batch_is_named(problem):
    gallery, y, probes, _ = problem
    clf = FusedNearestNeighborIdentifier(gallery_kinds=["matched"]).fit(gallery, y)
    lost = probes[1].select(probes[1].meta["scale"] == 1)  # its original only, and no gallery originals
    with pytest.raises(ValueError, match=r"^X\[1\] has no hypothesis with a gallery counterpart: its scales do not "
                                         r"occur in the gallery \(gallery scales \[2.0, 4.0\]\)"):
        clf.decision_function([probes[0], lost, probes[2]])


def test_fit_checks_labels_and_refits_on_another_dimension():
    from sklearn.exceptions import DataConversionWarning

    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 30 subjects of one image each is normal: no "unique classes" hint
        clf = FusedNearestNeighborIdentifier().fit(X, np.arange(30))
    refit = clf.fit(X[:, :4], np.arange(30))  # a refit starts over, whatever the old dimension
    assert refit.n_features_in_ == 4
    with pytest.warns(DataConversionWarning):
        FusedNearestNeighborIdentifier().fit(X[:3], np.array([[0], [1], [2]]))
    with pytest.raises(TypeError, match=r"^y mixes label types \(number, str\)"):
        FusedNearestNeighborIdentifier().fit(X[:2], [1, "1"])
    with pytest.raises(ValueError, match="^X is empty; expected at least one sample$"):
        FusedNearestNeighborIdentifier().fit([], [])
    good = HypothesisSet.from_template(np.ones(3))
    bad = HypothesisSet(np.array([[1.0, np.nan, 0.0]], np.float32), make_meta(1))
    with pytest.raises(ValueError, match=r"^X\[1\] has NaN or infinite templates$"):
        FusedNearestNeighborIdentifier().fit([good, bad], ["a", "b"])
    # nested lists of numbers are templates, not images
    lists = FusedNearestNeighborIdentifier(similarity="cosine").fit([[1.0, 0.0], [0.0, 2.0]], ["a", "b"])
    np.testing.assert_allclose(lists.decision_function([[3.0, 4.0]]), [[0.6, 0.8]], atol=1e-6)


def test_mean_centred_gallery_checks_name_the_subject_and_group(problem):
    gallery, y, _, _ = problem
    X = np.random.default_rng(4).normal(size=(2, D))
    with pytest.raises(ValueError) as error:
        FusedNearestNeighborIdentifier(similarity="mean-centred").fit(X, ["ref", "ref"])
    assert str(error.value) == (
        "the gallery holds one subject ('ref'); the mean-centred similarity needs at least two, since one "
        "subject's templates minus their own mean are zero; use 'pearson' or 'cosine', or pass gallery_means from "
        "a gallery of other people (as skmitm.verify does)"
    )
    assert FusedNearestNeighborIdentifier(similarity="mean-centred").fit(X, ["a", "b"]).classes_.tolist() == ["a", "b"]
    # only "b" has a degraded hypothesis at scale 4: centred on its own mean it would be noise
    lonely = [g.select(g.meta["kind"] != "degraded") if s != "b" else g for g, s in zip(gallery, y)]
    lonely = [g.select((g.meta["kind"] != "degraded") | (g.meta["scale"] == 4)) for g in lonely]
    with pytest.raises(ValueError) as error:
        FusedNearestNeighborIdentifier(similarity="mean-centred").fit(lonely, y)
    assert str(error.value) == (
        "only subject 'b' has gallery hypotheses in group 'degraded@4.0': centred on its own mean, its template is "
        "rounding noise under the mean-centred similarity; pass gallery_means from an identifier fitted on a "
        "background gallery (its gallery_means_), as skmitm.verify does"
    )


def test_given_gallery_means_centre_a_one_subject_gallery_by_hand():
    rng = np.random.default_rng(6)
    reference, probes = rng.normal(size=(1, 5)) + 2.0, rng.normal(size=(12, 5)) + 2.0
    g_mean, p_mean = np.linspace(1.5, 2.5, 5), np.full(5, 2.0)
    clf = FusedNearestNeighborIdentifier(similarity="mean-centred", gallery_means={"original@1.0": g_mean},
                                         probe_means={"original@1.0": p_mean}).fit(reference, ["ref"])
    assert list(clf.gallery_means_) == ["original@1.0"] and clf.gallery_means_["original@1.0"].dtype == np.float32
    np.testing.assert_allclose(clf.gallery_means_["original@1.0"], g_mean, rtol=1e-6)
    g, p = reference[0] - g_mean, probes - p_mean
    expected = p @ g / np.linalg.norm(p, axis=1) / np.linalg.norm(g)
    np.testing.assert_allclose(clf.decision_function(probes)[:, 0], expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError) as error:
        clf.set_params(gallery_means={"matched@2.0": g_mean}).fit(reference, ["ref"])
    assert str(error.value) == ("gallery_means has no mean template for the gallery hypothesis group "
                                "'original@1.0'; it holds ['matched@2.0']")


@pytest.mark.parametrize(
    "params, message",
    [
        ({"gallery_means": {}}, "gallery_means must be None or a non-empty dict of hypothesis group to mean "
                                "template, as another identifier's gallery_means_"),
        ({"gallery_means": {"original@1.0": np.zeros(3)}}, "gallery_means is set but similarity='pearson'; gallery "
                                                           "means are used only under similarity='mean-centred'"),
        ({"probe_means": {}}, "probe_means must be None or a non-empty dict of hypothesis group to mean template, "
                              "as estimate_probe_means returns"),
        ({"threshold": float("nan")}, "threshold=nan; expected None, a finite number, or a non-empty dict of probe "
                                      "size (a positive integer) to a finite number"),
        ({"threshold": float("inf")}, "threshold=inf; expected None"),
        ({"threshold": True}, "threshold=True; expected None"),
        ({"threshold": {}}, r"threshold={}; expected None"),
        ({"threshold": {0: 0.5}}, "threshold={0: 0.5}; expected None"),
        ({"threshold": {-3: 0.5}}, "threshold={-3: 0.5}; expected None"),
        ({"threshold": {24.5: 0.5}}, "threshold={24.5: 0.5}; expected None"),
        ({"threshold": {24: True}}, "threshold={24: True}; expected None"),
        ({"threshold": {24: float("inf")}}, "threshold={24: inf}; expected None"),
        ({"threshold": 0.5, "unknown_label": True}, "unknown_label=True; expected a string or a number"),
    ],
)
def test_open_set_parameters_are_refused_with_their_value(params, message):
    """Checked at fit (gallery means) and again when set after fit, at predict (the others)."""
    clf = FusedNearestNeighborIdentifier(similarity="cosine").fit(np.eye(3), ["a", "b", "c"])
    with pytest.raises(ValueError) as error:
        if "gallery_means" in params:
            FusedNearestNeighborIdentifier(**params).fit(np.eye(3), ["a", "b", "c"])
        else:
            clf.set_params(**params).predict(np.eye(3))
    assert str(error.value).startswith(message)


def test_thresholds_of_the_nearest_probe_size_by_hand():
    gallery = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    # best cosine: p (1, 0, 0) -> a at 1.0; q (0.6, 0.8, 0) -> b at 0.8; r (0.8, 0.6, 0) -> a at 0.8
    p, q, r = [1.0, 0, 0], [0.6, 0.8, 0], [0.8, 0.6, 0]

    def sized(rows_and_sizes):
        return [HypothesisSet(np.float32([t]), make_meta(1, size=s)) for t, s in rows_and_sizes]

    clf = FusedNearestNeighborIdentifier(similarity="cosine", threshold={32: 0.95, 16: 0.5, 24: 0.85})
    clf.fit(gallery, ["a", "b"])
    # sizes 30 -> 32 (0.95), 18 -> 16 (0.5), 26 -> 24 (0.85), 34 -> 32 (0.95), 1 -> 16 (0.5), 21 -> 24 (0.85)
    probes = sized([(p, 30), (q, 18), (r, 26), (q, 34), (r, 1), (q, 21)])
    assert clf.predict(probes).tolist() == ["a", "b", "unknown", "unknown", "a", "unknown"]
    with pytest.raises(ValueError) as error:
        clf.predict(sized([(p, 30), (p, 0)]))
    assert str(error.value) == (
        "X[1] carries no probe size (its hypotheses have size 0), so none of the thresholds for sizes [16, 24, 32] "
        "can be chosen; pass probes through the pipeline's upsampler or use a single threshold"
    )
    with pytest.raises(ValueError, match=r"^X\[0\] carries no probe size .* sizes \[16, 32\]"):
        clf.set_params(threshold={16: 0.5, 32: 0.9}).predict(sized([(p, 0)]))
    # a 1 px probe size is a size like any other
    assert clf.set_params(threshold={1: 0.5}).predict(sized([(q, 1)])).tolist() == ["b"]
    # one size serves every probe, sized or not; a plain number serves every probe too
    assert clf.set_params(threshold={24: 0.9}).predict(sized([(p, 0), (q, 40)])).tolist() == ["a", "unknown"]
    assert clf.set_params(threshold=0.8).predict(np.array([p, q, [0, 0, 1.0]])).tolist() == ["a", "b", "unknown"]
    # a score equal to the threshold is accepted: p's cosine with "a" is exactly 1
    assert clf.set_params(threshold=1.0).predict(np.array([p, q])).tolist() == ["a", "unknown"]


def test_unknown_label_keeps_the_subjects_type_where_it_can():
    gallery = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    probes = np.array([[1.0, 0, 0], [0, 0, 1.0]])
    words = FusedNearestNeighborIdentifier(similarity="cosine", threshold=0.5, unknown_label="nobody")
    out = words.fit(gallery, ["a", "b"]).predict(probes)
    assert out.dtype.kind == "U" and out.tolist() == ["a", "nobody"]  # not cut to the subjects' one character
    numbers = FusedNearestNeighborIdentifier(similarity="cosine", threshold=0.5, unknown_label=-1)
    out = numbers.fit(gallery, [7, 9]).predict(probes)
    assert out.dtype.kind == "i" and out.tolist() == [7, -1]
    out = numbers.set_params(unknown_label="unknown").predict(probes)
    assert out.dtype == object and out.tolist() == [7, "unknown"]
    short = words.set_params(unknown_label="?").fit(gallery, ["alice", "bob"]).predict(probes)
    assert short.tolist() == ["alice", "?"]  # nor the subjects cut to the label's one character


def test_probe_sigma_typos_are_refused_with_the_sigmas_held():
    gallery = np.eye(2, D, dtype=np.float32)
    meta = make_meta(2, kind="super-resolved", scale=1, sigma=[0.0, 1 / 3])
    probes = [HypothesisSet(np.eye(2, D, dtype=np.float32), meta)]
    clf = FusedNearestNeighborIdentifier(probe_sigmas=[0.333]).fit(gallery, ["a", "b"])
    with pytest.raises(ValueError) as error:
        clf.predict(probes)
    assert str(error.value) == ("probe_sigmas=[0.333]: 0.333 matches no super-resolved probe hypothesis; the probes "
                                "hold sigmas [0.0, 0.333333]")
    assert clf.set_params(probe_sigmas=[1 / 3]).predict(probes).tolist() == ["b"]  # float32 rounding matches
    lone = [HypothesisSet(np.eye(1, D, dtype=np.float32), make_meta(1, kind="super-resolved", scale=1, sigma=0.5))]
    with pytest.raises(ValueError, match=r"^probe_sigmas=\[0.25\]: 0.25 matches no"):
        clf.set_params(probe_sigmas=[0.25]).predict(lone)
    # probes without super-resolved hypotheses have no sigma to match
    assert clf.predict(np.eye(2, D)).tolist() == ["a", "b"]
    # each listed sigma adds its hypotheses: cosine S_max/S_add by hand, the sigma-0 row is "a", the other "b"
    both = FusedNearestNeighborIdentifier(similarity="cosine", probe_sigmas=[0.0, 1 / 3]).fit(gallery, ["a", "b"])
    np.testing.assert_allclose(both.decision_function(probes), [[0.5, 0.5]], atol=1e-6)
    np.testing.assert_allclose(both.set_params(probe_sigmas=[1 / 3]).decision_function(probes), [[0.0, 1.0]],
                               atol=1e-6)
    # the tolerance is float32 rounding: an absolute 1e-6 near zero, a relative 1e-6 elsewhere
    np.testing.assert_allclose(both.set_params(probe_sigmas=[1e-7]).decision_function(probes), [[1.0, 0.0]],
                               atol=1e-6)
    with pytest.raises(ValueError, match="0.500004 matches no super-resolved"):
        both.set_params(probe_sigmas=[0.500004]).predict(lone)


def test_add_subjects_scores_like_the_reference_on_the_whole_gallery(partial_problem):
    from sklearn.exceptions import NotFittedError

    gallery, y, probes, _ = partial_problem
    with pytest.raises(NotFittedError):
        FusedNearestNeighborIdentifier().add_subjects(gallery, y)
    clf = FusedNearestNeighborIdentifier("S_max/S_add", similarity="cosine").fit(gallery[:2], y[:2])
    assert clf.add_subjects(gallery[2:], y[2:]) is clf  # "c", "d" and a second image of "a"
    assert clf.classes_.tolist() == ["a", "b", "c", "d"]
    assert clf.n_gallery_hypotheses_ == sum(len(g) for g in gallery)
    expected = _reference(gallery, y, probes, "S_max/S_add", "cosine")
    np.testing.assert_allclose(clf.decision_function(probes), expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError) as error:
        clf.add_subjects(gallery[:1], [3])
    assert str(error.value) == ("y holds 'i'-kind subjects and the gallery 'U'-kind ones; expected subjects of one "
                                "kind (all strings or all integers)")
    plain = FusedNearestNeighborIdentifier().fit(np.eye(3), [0, 1, 2])
    with pytest.raises(ValueError, match="X has 2 features, but FusedNearestNeighborIdentifier is expecting 3"):
        plain.add_subjects(np.ones((1, 2)), [3])
    with pytest.raises(ValueError, match="y has 2 labels for 1 samples"):
        plain.add_subjects(np.ones((1, 3)), [3, 4])
    with pytest.raises(ValueError) as error:
        plain.add_subjects([HypothesisSet.from_template(np.ones(3)), HypothesisSet.from_template(np.ones(2))], [3, 4])
    assert str(error.value) == "X[1] has templates of 2 features; the gallery has 3"


def test_mean_templates_are_summed_in_float64():
    # Rows of 1e8 and -1e8 cancel: summed in float64, the mean of each side is (1/3, 1/3, 0); summed in float32,
    # 1e8 + 1 rounds back to 1e8 (float32 steps by 8 there) and the 1 is lost.
    gallery = np.array([[1e8, 0, 0], [1, 1, 0], [-1e8, 0, 0], [0, 0, 1]], dtype=np.float32)
    probe = HypothesisSet(np.array([[0, 1e8, 0], [1, 1, 0], [0, -1e8, 0]], dtype=np.float32), make_meta(3))
    clf = FusedNearestNeighborIdentifier("T_add", similarity="cosine").fit(gallery, ["x", "x", "x", "y"])
    # Both means point along (1, 1, 0): cosine 1 with "x", 0 with "y" (whose one template is (0, 0, 1)).
    np.testing.assert_allclose(clf.decision_function([probe]), [[1.0, 0.0]], atol=1e-6)


def test_n_degraded_chooses_the_chains_of_each_image_on_its_own():
    rng = np.random.default_rng(11)
    centers = rng.normal(size=(2, D))
    # The two images were degraded by different chains: the first chain of each is its own.
    gallery = [_set(rng, [("degraded", 2, np.nan, c, 24) for c in chains], center)
               for chains, center in ((("noise", "shear"), centers[0]), (("blur", "noise"), centers[1]))]
    probes = [_set(rng, _probe_specs(), center) for center in centers]
    clf = FusedNearestNeighborIdentifier("S_max", n_degraded=1).fit(gallery, ["x", "y"])
    hand = [g.select(g.meta["chain"] == first) for g, first in zip(gallery, ("noise", "blur"))]
    expected = _reference(hand, np.array(["x", "y"]), probes, "S_max", "pearson")
    np.testing.assert_allclose(clf.decision_function(probes), expected, rtol=1e-5, atol=1e-6)
