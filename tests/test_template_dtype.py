"""Enrolled templates stored as float16: scores are those of the rounded templates, scored in float32."""

import pickle

import numpy as np
import pytest

from skmitm import FusedNearestNeighborIdentifier, HypothesisSet, enrol, load_gallery, make_mitm_pipeline, save_gallery
from skmitm._param_validation import InvalidParameterError

from test_enrolment import _faces, _Net, _pipe  # noqa: E402
from test_identification import _reference, partial_problem, problem  # noqa: E402,F401


def _rounded(sets):
    """The oracle's rounding: each template to the nearest float16, then back to float32."""
    return [HypothesisSet(s.data.astype(np.float16).astype(np.float32), s.meta) for s in sets]


def _scaled(sets, factor):
    return [HypothesisSet((s.data * factor).astype(np.float32), s.meta) for s in sets]


@pytest.mark.filterwarnings("ignore:only \\d+ probe")
@pytest.mark.parametrize("similarity", ["pearson", "mean-centred", "cosine"])
@pytest.mark.parametrize("fusion", ["T_concat", "S_max/S_add", "S_max", "T_add", "S_add/T_add"])
@pytest.mark.parametrize("data", ["problem", "partial_problem"])
def test_float16_scores_are_the_float32_scores_of_the_rounded_templates(request, data, fusion, similarity):
    gallery, y, probes, _ = request.getfixturevalue(data)
    # Values near 3,000 are stored by float16 to within 1 (relative 2^-11): large enough a change to see.
    gallery = _scaled(gallery, 3000.0)
    half = FusedNearestNeighborIdentifier(fusion, similarity=similarity, template_dtype="float16").fit(gallery, y)
    scores = half.decision_function(probes)
    # Oracle 1: the float32 identifier on templates rounded here, by numpy, before it sees them.
    full_on_rounded = FusedNearestNeighborIdentifier(fusion, similarity=similarity).fit(_rounded(gallery), y)
    np.testing.assert_array_equal(scores, full_on_rounded.decision_function(probes))
    # Oracle 2: the pair-by-pair float64 reference on the rounded templates, not on the originals.
    rounded_reference = _reference(_rounded(gallery), y, probes, fusion, similarity)
    np.testing.assert_allclose(scores, rounded_reference, rtol=1e-5, atol=2e-6)
    finite = np.isfinite(rounded_reference)
    exact_reference = _reference(gallery, y, probes, fusion, similarity)
    assert np.abs(scores[finite] - exact_reference[finite]).max() > 1e-5  # the rounding did happen
    # Probes are not rounded: scoring float16-rounded probes gives other scores.
    assert not np.array_equal(half.decision_function(_rounded(_scaled(probes, 3000.0))),
                              half.decision_function(_scaled(probes, 3000.0)))


def test_float16_storage_halves_the_stored_templates_and_survives_add_subjects(problem):
    gallery, y, probes, _ = problem
    full = FusedNearestNeighborIdentifier("S_max/S_add").fit(gallery, y)
    half = FusedNearestNeighborIdentifier("S_max/S_add", template_dtype="float16").fit(gallery, y)
    stored = sum(s.data.nbytes for s in gallery)
    assert stored == 7 * 9 * 12 * 4  # 7 images × 9 hypotheses × 12 features × 4 bytes
    # Pickled, the float16 identifier is smaller by half the stored templates (plus numpy's headers, under 2 KB).
    saved = len(pickle.dumps(full)) - len(pickle.dumps(half))
    assert stored // 2 - 2048 <= saved <= stored // 2 + 2048
    # Subjects added later are rounded too: the same as fitting everyone at once on rounded templates.
    grown = FusedNearestNeighborIdentifier("S_max/S_add", template_dtype="float16").fit(gallery[:4], y[:4])
    grown.add_subjects(gallery[4:], y[4:])
    everyone = FusedNearestNeighborIdentifier("S_max/S_add").fit(_rounded(gallery), y)
    np.testing.assert_array_equal(grown.decision_function(probes), everyone.decision_function(probes))


def test_template_dtype_is_checked(problem):
    gallery, y, _, _ = problem
    with pytest.raises(InvalidParameterError, match="template_dtype"):
        FusedNearestNeighborIdentifier(template_dtype="float64").fit(gallery, y)
    with pytest.raises(InvalidParameterError, match="template_dtype"):
        FusedNearestNeighborIdentifier(template_dtype=np.float16).fit(gallery, y)
    too_large = [HypothesisSet(s.data.copy(), s.meta) for s in gallery]
    too_large[3].data[2, 5] = -7e4  # float16 holds magnitudes up to 65,504
    with pytest.raises(ValueError, match=r"X\[3\] holds a template value of magnitude 70000"):
        FusedNearestNeighborIdentifier(template_dtype="float16").fit(too_large, y)
    # Templates added later are checked too, and a refused one leaves the gallery as it was.
    half = FusedNearestNeighborIdentifier(template_dtype="float16").fit(gallery, y)
    with pytest.raises(ValueError) as error:
        half.add_subjects(too_large, y)
    assert str(error.value) == ("X[3] holds a template value of magnitude 70000, beyond float16's largest (65504); "
                                "use template_dtype='float32' or rescale the templates")
    assert len(half._gallery_y) == len(y)
    # float32 storage takes the same templates.
    FusedNearestNeighborIdentifier().fit(too_large, y)
    # float16's largest value itself is taken, and stored exactly.
    at_limit = [HypothesisSet(s.data.copy(), s.meta) for s in gallery]
    at_limit[3].data[2, 5] = -65504.0
    stored = FusedNearestNeighborIdentifier(template_dtype="float16").fit(at_limit, y)._gallery.data  # every row
    assert stored.dtype == np.float16 and np.sum(stored == -65504.0) == 1


@pytest.mark.parametrize("fusion", ["T_concat", "S_max/S_add"])
def test_gallery_file_keeps_float16_templates_and_the_setting(tmp_path, fusion):
    from skmitm._enrolment import StageTimer, _gallery_templates

    images = _faces(10, seed=3)
    subjects = np.array([f"q{i}" for i in range(10)])
    probes = [img[::4, ::4] for img in images[:5]]  # 16×16
    net = _Net()
    pipe = enrol(_pipe(net, fusion=fusion).set_params(identify__template_dtype="float16"), images, subjects)
    path = tmp_path / "half.npz"
    save_gallery(pipe, path)
    with np.load(path, allow_pickle=False) as archive:
        stored, counts = archive["templates"], archive["counts"]
    # Oracle: the gallery's templates computed again, rounded to float16 here.
    sets = _gallery_templates(pipe, images, StageTimer(), False)
    rounded = np.concatenate([s.data for s in sets]).astype(np.float16)
    if fusion == "T_concat":
        # One float32 sum per subject and hypothesis group (the 2 degraded, the matched and the original), over the
        # rounded templates: together they add up to the total of every rounded template.
        assert stored.dtype == np.float32 and len(stored) == 3 * len(images) and counts.tolist() == [2, 1, 1] * 10
        np.testing.assert_allclose(stored.astype(np.float64).sum(axis=0), rounded.astype(np.float64).sum(axis=0),
                                   rtol=1e-5)
    else:  # every template, as float16
        assert stored.dtype == np.float16 and (counts == 1).all()
        np.testing.assert_array_equal(np.sort(stored, axis=0), np.sort(rounded, axis=0))
    loaded = load_gallery(path, model=net)
    assert loaded.named_steps["identify"].template_dtype == "float16"
    np.testing.assert_array_equal(loaded.decision_function(probes), pipe.decision_function(probes))
    with pytest.raises(ValueError, match="identify__template_dtype: file 'float16', given 'float32'"):
        load_gallery(path, model=net, pipeline=make_mitm_pipeline(model=net, n_chains=2, sigmas=2, scales=(2,),
                                                                  probe_size=16, fusion=fusion))
