"""scikit-learn conformance of every estimator.

The identifier accepts plain 2-D template arrays, so scikit-learn's full
battery of checks runs on it, with the expected failures listed and explained.
The image transformers take lists of images, which scikit-learn's checks
cannot generate, so they get the checks that need no fitting plus image-based
checks written here.
"""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (
    check_classifiers_classes,
    check_classifiers_train,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
    parametrize_with_checks,
)

from skmitm import (
    FaceCropper,
    FusedNearestNeighborIdentifier,
    GalleryDegrader,
    HypothesisSet,
    MultiHypothesisUpsampler,
    TemplateExtractor,
)

IDENTIFIER_EXPECTED_FAILURES = {
    "check_classifiers_train": (
        "decision_function returns one column per subject also for two subjects: rank-k identification "
        "needs a score for every enrolled subject, where scikit-learn's binary convention gives one column; "
        "the whole check runs in test_identifier_classifier_checks_under_the_binary_convention"
    ),
    "check_classifiers_classes": "same reason: two-subject decision_function has two columns; run there too",
}


class _OneColumnForTwoSubjects(FusedNearestNeighborIdentifier):
    """The identifier read through scikit-learn's binary convention: for two subjects, one score
    column (the second subject's score minus the first's); unchanged for more subjects."""

    _predicting = False

    def decision_function(self, X):
        scores = super().decision_function(X)
        if self._predicting or scores.shape[1] != 2:
            return scores
        return scores[:, 1] - scores[:, 0]

    def predict(self, X):
        # the identifier's own predict, on its own per-subject scores
        self._predicting = True
        try:
            return super().predict(X)
        finally:
            self._predicting = False


@parametrize_with_checks(
    [FusedNearestNeighborIdentifier(), FusedNearestNeighborIdentifier("T_concat", similarity="cosine")],
    expected_failed_checks=lambda estimator: IDENTIFIER_EXPECTED_FAILURES,
)
def test_identifier_passes_sklearn_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("readonly_memmap", [False, True])
@pytest.mark.parametrize("check", [check_classifiers_train, check_classifiers_classes], ids=lambda c: c.__name__)
@pytest.mark.parametrize("params", [{}, {"fusion": "T_concat", "similarity": "cosine"}], ids=["default", "T_concat"])
def test_identifier_classifier_checks_under_the_binary_convention(params, check, readonly_memmap):
    """The two checks the identifier is expected to fail, run in full: their multiclass halves on the
    identifier's own scores, their binary halves on its two columns read as one."""
    estimator = _OneColumnForTwoSubjects(**params)
    if check is check_classifiers_train:
        check("FusedNearestNeighborIdentifier", estimator, readonly_memmap=readonly_memmap)
    elif not readonly_memmap:
        check("FusedNearestNeighborIdentifier", estimator)


def _image_transformers():
    return [
        GalleryDegrader(probe_size=16, scales=(2,), n_chains=3, random_state=0),
        MultiHypothesisUpsampler(scales=(2,), sigmas=2),
        TemplateExtractor(),
        FaceCropper(),
    ]


def _ids(estimators):
    return [type(e).__name__ for e in estimators]


def _faces(n=3, size=40, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]


@pytest.mark.parametrize("estimator", _image_transformers(), ids=_ids(_image_transformers()))
@pytest.mark.parametrize(
    "check",
    [check_get_params_invariance, check_set_params, check_no_attributes_set_in_init, check_parameters_default_constructible],
    ids=lambda c: c.__name__,
)
def test_image_transformers_parameter_checks(estimator, check):
    check(type(estimator).__name__, estimator)


@pytest.mark.filterwarnings("ignore:no face found")
@pytest.mark.parametrize("estimator", _image_transformers(), ids=_ids(_image_transformers()))
def test_image_transformers_return_one_set_per_sample(estimator):
    faces = _faces()
    fitted = clone(estimator)
    out = fitted.fit_transform(faces)
    assert isinstance(out, list) and len(out) == len(faces)
    again = fitted.transform(faces)
    assert len(again) == len(faces)
    restored = pickle.loads(pickle.dumps(fitted))
    if isinstance(estimator, FaceCropper):
        # the cropper runs before the hypothesis steps: images in, images out
        assert all(im.ndim == 3 and im.dtype == np.uint8 for im in out + again)
        for a, b in zip(restored.transform(faces), again):
            np.testing.assert_array_equal(a, b)
        return
    assert all(isinstance(s, HypothesisSet) and len(s) >= 1 for s in out + again)
    # a fitted estimator survives pickling and gives the same output
    for a, b in zip(restored.transform(faces), again):
        for field in a.meta.dtype.names:  # field by field: NaN sigmas compare equal
            np.testing.assert_array_equal(a.meta[field], b.meta[field])
        if a.has_templates:
            np.testing.assert_allclose(a.data, b.data, rtol=1e-5, atol=1e-6)
        else:
            for x, y in zip(a.data, b.data):
                np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("estimator", _image_transformers(), ids=_ids(_image_transformers()))
def test_image_transformers_refuse_transform_before_fit(estimator):
    with pytest.raises(NotFittedError):
        clone(estimator).transform(_faces(1))


@pytest.mark.parametrize("estimator", _image_transformers(), ids=_ids(_image_transformers()))
def test_image_transformers_name_bad_samples(estimator):
    faces = _faces(2)
    faces[1] = np.zeros((12, 12, 4), np.uint8)
    with pytest.raises(ValueError, match=r"X\[1\].*\(12, 12, 4\)"):
        clone(estimator).fit_transform(faces) if isinstance(estimator, GalleryDegrader) else clone(
            estimator
        ).fit(_faces(1)).transform(faces)


@pytest.mark.parametrize("estimator", _image_transformers(), ids=_ids(_image_transformers()))
def test_image_transformers_tell_sklearn_their_input(estimator):
    tags = estimator.__sklearn_tags__()
    assert not tags.input_tags.two_d_array and tags.input_tags.string
    assert tags.transformer_tags.preserves_dtype == []
