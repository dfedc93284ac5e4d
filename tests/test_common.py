"""scikit-learn conformance of every estimator.

The identifier accepts plain 2-D template arrays, so scikit-learn's full
battery of checks runs on it, with the expected failures listed and explained;
the multiclass halves of the two checks it fails for two subjects run on their
own. The image transformers take lists of images, which scikit-learn's checks
cannot generate: their tags say so, and scikit-learn would skip them. So the
battery runs on each as if it took 2-D arrays, with every check it fails
listed with the reason (as imbalanced-learn lists its samplers' deviations),
and image-based checks written here cover what those checks cannot.
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
    RepeatedSubjectSubsampling,
    TemplateExtractor,
)
from skmitm._param_validation import InvalidParameterError, Interval

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


_IMAGES = (
    "takes images (H×W×3 uint8 arrays, image paths or HypothesisSets); it refuses the 2-D numeric arrays this "
    "check makes, or names them differently than the check expects"
)
_LEARNS_NOTHING = (
    "fit learns nothing from X: it checks the parameters and loads the network or detector, so it accepts any X "
    "(empty, NaN, complex, sparse) and sets no n_features_in_; transform checks the images"
)
_RETURNS_SETS = "transform returns a list of HypothesisSet (one per sample), not an array"

IMAGE_TRANSFORMER_EXPECTED_FAILURES = {
    "GalleryDegrader": dict.fromkeys([
        "check_complex_data", "check_dont_overwrite_parameters", "check_dtype_object", "check_estimator_sparse_array",
        "check_estimator_sparse_matrix", "check_estimator_sparse_tag", "check_estimators_dtypes",
        "check_estimators_empty_data_messages", "check_estimators_fit_returns_self", "check_estimators_nan_inf",
        "check_estimators_overwrite_params", "check_estimators_pickle", "check_f_contiguous_array_estimator",
        "check_fit2d_1feature", "check_fit2d_1sample", "check_fit2d_predict1d",
        "check_fit_check_is_fitted", "check_fit_idempotent", "check_fit_score_takes_y",
        "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_n_features_in",
        "check_n_features_in_after_fitting", "check_pipeline_consistency", "check_positive_only_tag_during_fit",
        "check_readonly_memmap_input", "check_transformer_data_not_an_array", "check_transformer_general",
        "check_dict_unchanged",
    ], _IMAGES),
}


def _learning_nothing(extra=()):
    failures = dict.fromkeys([
        "check_dtype_object", "check_estimators_dtypes", "check_f_contiguous_array_estimator", "check_fit2d_predict1d",
        "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_dict_unchanged",
        "check_fit_idempotent", "check_transformer_data_not_an_array", "check_pipeline_consistency",
        "check_transformer_general", "check_estimators_pickle", *extra,
    ], _IMAGES)
    failures.update(dict.fromkeys([
        "check_complex_data", "check_estimators_empty_data_messages", "check_estimators_nan_inf",
        "check_estimator_sparse_tag", "check_fit1d", "check_n_features_in", "check_n_features_in_after_fitting",
    ], _LEARNS_NOTHING))
    return failures


IMAGE_TRANSFORMER_EXPECTED_FAILURES["MultiHypothesisUpsampler"] = {
    **_learning_nothing(),
    "check_pipeline_consistency": _RETURNS_SETS,
    "check_transformer_general": _RETURNS_SETS,
}
IMAGE_TRANSFORMER_EXPECTED_FAILURES["TemplateExtractor"] = _learning_nothing(["check_fit_score_takes_y"])
IMAGE_TRANSFORMER_EXPECTED_FAILURES["FaceCropper"] = _learning_nothing(["check_fit_score_takes_y"])


def _two_d_tags(self):
    tags = type(self).__mro__[1].__sklearn_tags__(self)
    tags.input_tags.two_d_array = True
    tags.input_tags.string = False
    return tags


def _as_if_two_d(estimator):
    """The estimator, as an instance of a subclass whose tags claim 2-D input, so that every check runs.

    The subclass changes the tags only; it is a module attribute so that the
    pickling checks can find it.
    """
    cls = type(estimator)
    name = f"_TwoD{cls.__name__}"
    if name not in globals():
        globals()[name] = type(cls.__name__, (cls,), {"__sklearn_tags__": _two_d_tags, "__module__": __name__,
                                                     "__qualname__": name})
    return globals()[name](**estimator.get_params())


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


@pytest.mark.filterwarnings("ignore:no face found")
@parametrize_with_checks(
    [_as_if_two_d(e) for e in _image_transformers()],
    expected_failed_checks=lambda estimator: IMAGE_TRANSFORMER_EXPECTED_FAILURES[type(estimator).__name__],
)
def test_image_transformers_under_sklearn_checks(estimator, check):
    check(estimator)


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


def _every_estimator():
    return _image_transformers() + [FusedNearestNeighborIdentifier(), RepeatedSubjectSubsampling(2, n_repeats=2)]


def _fit(estimator):
    """Call the method that validates the parameters, on valid data."""
    if isinstance(estimator, FusedNearestNeighborIdentifier):
        return estimator.fit(np.eye(3), ["a", "b", "c"])
    if isinstance(estimator, RepeatedSubjectSubsampling):
        return list(estimator.split(np.zeros(6), list("aabbcc"), ["gallery", "probe"] * 3))
    return estimator.fit(_faces(1))


class _BadType:
    """A value no constraint accepts."""


def _copy(estimator):
    """A fresh copy: clone for estimators, a copy of the constructor arguments for the splitter."""
    if hasattr(estimator, "get_params"):
        return clone(estimator)
    return type(estimator)(**{name: getattr(estimator, name) for name in type(estimator)._parameter_constraints})


@pytest.mark.parametrize("estimator", _every_estimator(), ids=_ids(_every_estimator()))
def test_every_parameter_has_a_declared_constraint(estimator):
    params = estimator.get_params(deep=False) if hasattr(estimator, "get_params") else vars(estimator)
    assert set(type(estimator)._parameter_constraints) == set(params)


@pytest.mark.parametrize("estimator", _every_estimator(), ids=_ids(_every_estimator()))
def test_a_value_of_no_accepted_type_is_refused_by_name(estimator):
    name = type(estimator).__name__
    for param, constraints in type(estimator)._parameter_constraints.items():
        if constraints == "no_validation":
            continue
        bad = _copy(estimator)
        setattr(bad, param, _BadType())
        with pytest.raises(InvalidParameterError, match=rf"^{name}: {param}=<.*_BadType object .*>; expected "):
            _fit(bad)


@pytest.mark.parametrize("estimator", _every_estimator(), ids=_ids(_every_estimator()))
def test_a_string_for_a_numeric_parameter_is_an_invalid_parameter_error(estimator):
    numeric = [p for p, constraints in type(estimator)._parameter_constraints.items()
               if constraints != "no_validation" and any(isinstance(c, Interval) for c in constraints)]
    assert numeric
    for param in numeric:
        bad = _copy(estimator)
        setattr(bad, param, "12")
        with pytest.raises(InvalidParameterError, match=f"{param}='12'") as caught:
            _fit(bad)
        # One error type: it is both what a wrong value and what a wrong type raise.
        assert isinstance(caught.value, ValueError) and isinstance(caught.value, TypeError)


@pytest.mark.parametrize(
    "estimator, param",
    [(MultiHypothesisUpsampler(), "include_original"), (TemplateExtractor(), "normalize"),
     (GalleryDegrader(), "include_matched"), (FaceCropper(), "square")],
)
def test_a_string_for_a_flag_is_refused(estimator, param):
    with pytest.raises(InvalidParameterError, match=rf"{param}='x'; expected a bool"):
        _fit(clone(estimator).set_params(**{param: "x"}))
