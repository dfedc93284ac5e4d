"""The enrolled gallery keeps only what the fusion uses: selected rows, or per-subject sums under T_concat/T_add."""

import numpy as np
import pytest

from skmitm import FusedNearestNeighborIdentifier, HypothesisSet, add_subjects, enrol, load_gallery, save_gallery
from skmitm._enrolment import StageTimer, _gallery_templates, read_gallery_header
from skmitm._identification import _KeptGallery
from skmitm._io import save_array_file

from test_enrolment import _faces, _Net, _pipe  # noqa: E402
from test_identification import _reference, partial_problem, problem  # noqa: E402,F401

SELECTION = dict(gallery_kinds=["original", "degraded"], n_degraded=1)


def _by_hand(gallery, y):
    """The selection of SELECTION done by hand: originals, and the degraded copies of each image's first chain."""
    kept = []
    for g in gallery:
        degraded = g.meta["kind"] == "degraded"
        first_chain = g.meta["chain"] == (g.meta["chain"][degraded][0] if degraded.any() else "")
        kept.append(g.select((g.meta["kind"] == "original") | (degraded & first_chain)))
    return kept


def _sums_by_hand(sets, y):
    """{(subject, kind, scale, size): (sum in float64, count)} over every template, by plain loops."""
    out = {}
    for s, subject in zip(sets, y):
        for template, m in zip(s.data, s.meta):
            key = (subject, str(m["kind"]), float(m["scale"]), int(m["size"]))
            total, count = out.get(key, (0.0, 0))
            out[key] = (total + template.astype(np.float64), count + 1)
    return out


def _kept_by_key(clf):
    kept = clf._gallery
    cells = kept.cells[kept.cell_of]
    return {(clf.classes_[s].item(), str(c["kind"]), float(c["scale"]), int(c["size"])): (row, n)
            for s, c, row, n in zip(kept.subjects, cells, kept.data, kept.counts)}


@pytest.mark.parametrize("fusion", ["T_concat", "T_add", "T_add/S_max"])
def test_template_fusions_keep_one_sum_per_subject_and_cell_of_the_selected_templates(partial_problem, fusion):
    gallery, y, _, _ = partial_problem  # "a" has two images, with unequal numbers of templates per cell
    clf = FusedNearestNeighborIdentifier(fusion, **SELECTION).fit(gallery, y)
    expected = _sums_by_hand(_by_hand(gallery, y), y)
    kept = _kept_by_key(clf)
    assert sorted(kept) == sorted(expected)  # nothing matched, nothing of a second chain
    for key, (total, count) in expected.items():
        assert kept[key][1] == count
        np.testing.assert_allclose(kept[key][0], total, rtol=1e-6, atol=1e-6)
    assert kept[("a", "original", 1.0, 0)][1] == 1 and kept[("a", "degraded", 2.0, 16)][1] == 1
    assert clf._gallery.data.dtype == np.float32 and clf.n_gallery_hypotheses_ == sum(c for _, c in kept.values())


def test_score_fusions_keep_every_selected_template_and_no_other(partial_problem):
    gallery, y, _, _ = partial_problem
    clf = FusedNearestNeighborIdentifier("S_max/S_add", **SELECTION).fit(gallery, y)
    hand = _by_hand(gallery, y)
    rows = np.concatenate([s.data for s in hand])
    assert (clf._gallery.counts == 1).all()
    np.testing.assert_array_equal(np.sort(clf._gallery.data, axis=0), np.sort(rows, axis=0))
    kept = _kept_by_key(FusedNearestNeighborIdentifier("T_concat", **SELECTION).fit(gallery, y))
    counts = {}
    for s, subject in zip(clf._gallery.subjects, clf._gallery.cells[clf._gallery.cell_of]):
        key = (clf.classes_[s].item(), str(subject["kind"]), float(subject["scale"]), int(subject["size"]))
        counts[key] = counts.get(key, 0) + 1
    assert counts == {key: n for key, (_, n) in kept.items()}


@pytest.mark.filterwarnings("ignore:only \\d+ probe")
@pytest.mark.parametrize("similarity", ["mean-centred", "pearson"])
@pytest.mark.parametrize("fusion", ["T_concat", "T_add", "T_add/S_max", "S_max/T_add", "S_max/S_add"])
@pytest.mark.parametrize("selected", [True, False])
def test_fit_and_add_subjects_score_like_the_reference_on_the_selected_whole_gallery(partial_problem, fusion,
                                                                                     similarity, selected):
    gallery, y, probes, _ = partial_problem
    # The reference: the pair-by-pair fusion on the gallery filtered by hand. Unselected, a subject has two
    # degraded copies per cell, so each sum holds several templates (and mean-centring subtracts its mean twice).
    selection = SELECTION if selected else {}
    expected = _reference(_by_hand(gallery, y) if selected else gallery, y, probes, fusion, similarity)
    whole = FusedNearestNeighborIdentifier(fusion, similarity=similarity, **selection).fit(gallery, y)
    np.testing.assert_allclose(whole.decision_function(probes), expected, rtol=1e-4, atol=1e-5)
    # Enrolled as "a", "d", "c", then "b" (new) and a second image of "a" (known): the same scores.
    order = [0, 3, 2]
    grown = FusedNearestNeighborIdentifier(fusion, similarity=similarity, **selection).fit(
        [gallery[i] for i in order], y[order])
    grown.add_subjects([gallery[1], gallery[4]], y[[1, 4]])
    assert grown.classes_.tolist() == ["a", "b", "c", "d"] and len(grown._gallery_y) == 5
    np.testing.assert_allclose(grown.decision_function(probes), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grown.decision_function(probes), whole.decision_function(probes), atol=1e-6)
    if similarity == "mean-centred":
        for group, mean in whole.gallery_means_.items():
            np.testing.assert_allclose(grown.gallery_means_[group], mean, atol=1e-6)


def test_subject_mean_template_by_hand_after_adding_an_image_to_a_known_subject():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(6, 8)).astype(np.float32)
    y = np.array(["x", "y", "x", "z", "x", "y"])
    clf = FusedNearestNeighborIdentifier("T_add", similarity="cosine").fit(X[:4], y[:4])
    clf.add_subjects(X[4:], y[4:])  # a third image of "x", a second of "y"
    probe = rng.normal(size=(1, 8))
    means = np.stack([X[y == s].astype(np.float64).mean(axis=0) for s in ("x", "y", "z")])
    expected = (means @ probe[0]) / np.linalg.norm(means, axis=1) / np.linalg.norm(probe)
    np.testing.assert_allclose(clf.decision_function(probe)[0], expected, rtol=1e-5)
    assert clf._gallery.counts.tolist() == [3, 2, 1] and len(clf._gallery.data) == 3


def test_float16_templates_are_rounded_before_they_are_summed(problem):
    gallery, y, probes, _ = problem
    big = [HypothesisSet((s.data * 3000).astype(np.float32), s.meta) for s in gallery]
    half = FusedNearestNeighborIdentifier("T_concat", template_dtype="float16").fit(big[:4], y[:4])
    half.add_subjects(big[4:], y[4:])
    rounded = [HypothesisSet(s.data.astype(np.float16).astype(np.float64), s.meta) for s in big]
    for key, (total, count) in _sums_by_hand(rounded, y).items():
        row, n = _kept_by_key(half)[key]
        assert n == count
        np.testing.assert_allclose(row, total, rtol=1e-6)  # the rounded values' sum, not the originals'
    unrounded = _sums_by_hand(big, y)
    assert max(np.abs(_kept_by_key(half)[k][0] - t).max() for k, (t, _) in unrounded.items()) > 0.01
    np.testing.assert_allclose(half.decision_function([HypothesisSet(p.data * 3000, p.meta) for p in probes]),
                               _reference(rounded, y, [HypothesisSet(p.data * 3000, p.meta) for p in probes],
                                          "T_concat", "pearson"), rtol=1e-5, atol=2e-6)


def test_a_changed_selection_is_refused_and_a_score_fusion_gallery_serves_a_template_fusion(partial_problem):
    gallery, y, probes, _ = partial_problem
    clf = FusedNearestNeighborIdentifier("T_concat", **SELECTION).fit(gallery[:4], y[:4])
    clf.set_params(n_degraded=2)
    with pytest.raises(ValueError, match=r"^cannot add subjects: n_degraded=2 \(fitted with 1\); the identifier "
                                         "keeps only the gallery hypotheses its fit selected"):
        clf.add_subjects(gallery[4:], y[4:])
    tail = "; the identifier keeps only the gallery hypotheses its fit selected, as its fusion uses them: fit again on "
    tail += "every template"
    clf.set_params(template_dtype="float16")  # every change is named, in the order of the parameters
    with pytest.raises(ValueError) as error:
        clf.add_subjects(gallery[4:], y[4:])
    assert str(error.value) == ("cannot add subjects: n_degraded=2 (fitted with 1); template_dtype='float16' (fitted "
                                "with 'float32')" + tail)
    clf.set_params(n_degraded=1, template_dtype="float32", fusion="S_max")
    with pytest.raises(ValueError) as error:
        clf.add_subjects(gallery[4:], y[4:])
    assert str(error.value) == ("cannot add subjects: fusion='S_max', which needs every gallery hypothesis, where the "
                                "fitted fusion kept each subject's sum per hypothesis group" + tail)
    assert clf.classes_.tolist() == ["a", "b", "c", "d"] and len(clf._gallery_y) == 4  # left as it was
    rows = FusedNearestNeighborIdentifier("S_max", **SELECTION).fit(gallery[:4], y[:4])
    rows.set_params(fusion="T_concat").add_subjects(gallery[4:], y[4:])
    assert rows._gallery.summed
    np.testing.assert_allclose(rows.decision_function(probes), FusedNearestNeighborIdentifier(
        "T_concat", **SELECTION).fit(gallery, y).decision_function(probes), atol=1e-6)


def test_a_refused_new_subject_leaves_the_identifier_as_it_was(partial_problem):
    gallery, y, probes, _ = partial_problem
    clf = FusedNearestNeighborIdentifier("T_concat", gallery_kinds=["original", "matched"]).fit(gallery[:4], y[:4])
    before = clf.decision_function(probes)
    only_degraded = gallery[0].select(gallery[0].meta["kind"] == "degraded")
    with pytest.raises(ValueError, match="subject 'e' has no gallery hypothesis left after selection"):
        clf.add_subjects([only_degraded], ["e"])
    assert clf.classes_.tolist() == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(clf.decision_function(probes), before)


def test_a_refit_on_the_kept_gallery_scores_like_the_reference_and_leaves_the_identifier_alone(partial_problem):
    gallery, y, probes, _ = partial_problem
    clf = FusedNearestNeighborIdentifier("S_max/S_add").fit(gallery, y)
    before = clf.decision_function(probes)
    other = clf._refitted(fusion="T_concat", similarity="cosine")  # what open-set calibration does per fold
    assert other is not clf and (other.fusion, other.similarity, clf.fusion) == ("T_concat", "cosine", "S_max/S_add")
    np.testing.assert_allclose(other.decision_function(probes), _reference(gallery, y, probes, "T_concat", "cosine"),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(clf.decision_function(probes), before)
    with pytest.raises(ValueError) as error:
        clf._refitted(scales=[2], gallery_kinds=["original"], n_degraded=1)
    assert str(error.value) == ("cannot refit on the kept gallery: scales=(2,) (fitted with None); gallery_kinds="
                                "('original',) (fitted with None); n_degraded=1 (fitted with None); the identifier "
                                "keeps only the gallery hypotheses its fit selected, as its fusion uses them: fit "
                                "again on every template")


@pytest.mark.parametrize("fusion", ["T_concat", "S_max/S_add"])
def test_gallery_means_over_some_subjects_by_hand(partial_problem, fusion):
    gallery, y, _, _ = partial_problem
    clf = FusedNearestNeighborIdentifier(fusion, similarity="mean-centred").fit(gallery, y)
    keep = np.isin(clf.classes_, ["a", "c"])  # the subjects outside one fold of open-set calibration
    rows = [(t.astype(np.float64), f"{m['kind']}@{float(m['scale'])}")
            for g, s in zip(gallery, y) if s in ("a", "c") for t, m in zip(g.data, g.meta)]
    expected = {group: np.mean([t for t, g in rows if g == group], axis=0) for _, group in rows}
    means = clf._gallery.group_means(keep=keep)
    assert sorted(means) == sorted(expected)
    for group, mean in expected.items():
        np.testing.assert_allclose(means[group], mean, rtol=1e-6, atol=1e-6)


_CELLS = np.dtype([("kind", "U14"), ("scale", "f4"), ("size", "i4")])  # the layout of a gallery file's cells


def _arrays(**changes):
    """A gallery file's arrays by hand: three summed rows of two subjects in two cells."""
    arrays = {"templates": np.arange(12, dtype=np.float32).reshape(3, 4), "counts": np.array([2, 1, 3]),
              "subject_of": np.array([0, 1, 1]), "cells": np.array([("original", 1, 0), ("matched", 2, 24)], _CELLS),
              "cell_of": np.array([0, 0, 1])}
    return {**arrays, **changes}


def test_the_arrays_of_a_gallery_file_are_checked_one_by_one():
    for changes, summed, message in (
            ({}, False, "templates of shape (3, 4) and dtype float32; expected 2-D float16 templates"),
            ({"cells": np.array([("original", 1, 0), ("blurry", 2, 24)], _CELLS)}, True,
             "hypothesis cells of another kind or layout than skmitm writes"),
            ({"cells": np.array([("original", 1, 0), ("matched", 2, 24)], [("kind", "U14"), ("scale", "f8"),
                                                                            ("size", "i4")])}, True,
             "hypothesis cells of another kind or layout than skmitm writes"),
            ({"cell_of": np.array([0, 0, 2])}, True, "cell_of must hold 3 integers in [0, 2)"),
            ({"subject_of": np.array([0, 1, 1, 1])}, True, "subject_of must hold 3 integers in [0, 2)"),
            ({"subject_of": np.array([0.0, 1.0, 1.0])}, True, "subject_of must hold 3 integers in [0, 2)"),
            ({"counts": np.array([2, 1, 3, 1])}, True, "counts must hold 3 positive integers"),
            ({"counts": np.array([2.0, 1.0, 3.0])}, True, "counts must hold 3 positive integers"),
            ({"counts": np.array([2, 0, 3])}, True, "counts must hold 3 positive integers")):
        with pytest.raises(ValueError) as error:
            _KeptGallery.from_arrays(_arrays(**changes), 2, summed=summed, dtype="float16")
        assert str(error.value) == message, changes


def test_a_gallery_file_of_one_row_loads_and_what_it_gives_back_loads_again():
    one = _arrays(templates=np.ones((1, 4), np.float32), counts=np.array([5], np.int32),
                  subject_of=np.array([0], np.int32), cell_of=np.array([0], np.int32))
    kept = _KeptGallery.from_arrays(one, 1, summed=True, dtype="float32")
    again = _KeptGallery.from_arrays(kept.to_arrays(), 1, summed=True, dtype="float32")
    assert again.counts.tolist() == [5] and again.subjects.tolist() == [0] and again.cell_of.tolist() == [0]
    np.testing.assert_array_equal(again.data, one["templates"])


def _version_1_file(pipe, images, path, old):
    """A gallery file as version 1 wrote it: every enrolled template with its metadata, per image."""
    sets = _gallery_templates(pipe, images, StageTimer(), False)
    arrays, header = read_gallery_header(path)
    probe_means = {k: v for k, v in arrays.items() if k.startswith("probe_mean_")}
    header = {k: v for k, v in header.items() if k not in ("format", "sha256", "summed")}
    save_array_file(old, {"templates": np.concatenate([s.data for s in sets]),
                          "meta": np.concatenate([s.meta for s in sets]),
                          "offsets": np.cumsum([0] + [len(s) for s in sets]), "subjects": arrays["subjects"],
                          **probe_means}, header, format="skmitm-gallery/1")


@pytest.mark.parametrize("fusion", ["T_concat", "S_max/S_add"])
def test_files_of_version_1_load_and_the_compact_file_is_smaller(tmp_path, fusion):
    images, net = _faces(8, seed=6), _Net()
    subjects = np.array([f"r{i}" for i in range(8)])
    probes = [img[::4, ::4] for img in images[:4]]
    pipe = enrol(_pipe(net, fusion=fusion), images, subjects)
    path, old = tmp_path / "new.npz", tmp_path / "old.npz"
    save_gallery(pipe, path)
    _version_1_file(pipe, images, path, old)
    from_old, from_new = load_gallery(old, model=net), load_gallery(path, model=net)
    np.testing.assert_allclose(from_old.decision_function(probes), pipe.decision_function(probes), atol=1e-6)
    np.testing.assert_allclose(from_new.decision_function(probes), pipe.decision_function(probes), atol=1e-6)
    with np.load(path, allow_pickle=False) as archive:
        assert len(archive["templates"]) == (3 * 8 if fusion == "T_concat" else 4 * 8)  # 4 templates per image
    assert path.stat().st_size < old.stat().st_size  # also under S_max/S_add: no chain names per template
    # Either file's gallery grows like one enrolment of everyone
    more, more_subjects = _faces(2, seed=8), np.array(["r8", "r9"])
    whole = enrol(_pipe(net, fusion=fusion), images + more, np.concatenate([subjects, more_subjects]))
    for loaded in (from_old, from_new):
        add_subjects(loaded, more, more_subjects)
        np.testing.assert_allclose(loaded.decision_function(probes), whole.decision_function(probes), atol=1e-5)


def test_a_compact_file_of_impossible_content_is_refused(tmp_path):
    images, net = _faces(4, seed=7), _Net()
    path = tmp_path / "g.npz"
    save_gallery(enrol(_pipe(net), images, ["a", "b", "c", "d"]), path)
    arrays, header = read_gallery_header(path)
    header = {k: v for k, v in header.items() if k not in ("format", "sha256")}
    for change, message in ((lambda a, h: a["subject_of"].__setitem__(0, 4), r"subject_of must hold 12 integers "
                             r"in \[0, 4\)"),
                            (lambda a, h: a["counts"].__setitem__(1, 0), "counts must hold 12 positive integers"),
                            (lambda a, h: h.__setitem__("summed", False),
                             "counts must hold 12 positive integers equal to 1"),
                            (lambda a, h: a.__setitem__("templates", a["templates"][:, :3].astype(np.float16)),
                             "expected 2-D float32 sums")):
        bad_arrays, bad_header = {k: v.copy() for k, v in arrays.items()}, dict(header)
        change(bad_arrays, bad_header)
        save_array_file(tmp_path / "bad.npz", bad_arrays, bad_header, format="skmitm-gallery/2")
        with pytest.raises(ValueError, match="is not a valid enrolled gallery .*" + message):
            load_gallery(tmp_path / "bad.npz", model=net)


def test_kept_bytes_by_hand():
    X, y = np.arange(24, dtype=np.float32).reshape(6, 4), np.array([0, 1, 2, 0, 1, 2])
    # One cell ("original", 1.0, 0): 14 four-byte characters, a float32 and an int32, 64 bytes. Per kept row: its
    # four float32 values, an int64 count, int32 subject and cell codes (32 bytes). Per image: its int64 subject.
    assert FusedNearestNeighborIdentifier("S_max").fit(X, y).gallery_nbytes_ == 64 + 6 * 32 + 6 * 8
    assert FusedNearestNeighborIdentifier("T_add").fit(X, y).gallery_nbytes_ == 64 + 3 * 32 + 6 * 8  # one sum each


def test_kept_bytes_grow_with_the_chains_only_where_the_fusion_compares_every_hypothesis(problem):
    gallery, y, _, _ = problem  # three degradation chains per scale
    with pytest.raises(AttributeError):
        FusedNearestNeighborIdentifier().gallery_nbytes_
    for fusion, grows in (("T_concat", False), ("T_add", False), ("S_max/S_add", True)):
        one_chain = FusedNearestNeighborIdentifier(fusion, n_degraded=1).fit(gallery, y).gallery_nbytes_
        three_chains = FusedNearestNeighborIdentifier(fusion).fit(gallery, y).gallery_nbytes_
        assert (three_chains > one_chain) == grows and one_chain > 0
