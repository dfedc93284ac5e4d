"""Property-based checks of the input contract: a clear error naming the input, or a valid result.

Whatever image array, image file, folder tree or parameter value comes in,
skmitm either returns a valid result (checked against an oracle written here)
or raises a ``ValueError`` or ``TypeError`` whose message names the input;
nothing else (no IndexError, no OpenCV error, no silent drop). Examples are
few and derandomised, so the suite stays fast and reproducible.
"""

import os
import tempfile
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from skmitm import FusedNearestNeighborIdentifier, MultiHypothesisUpsampler, check_images, load_image
from skmitm._io import MIN_FACE_SIZE, load_image_folder, to_rgb8

FAST = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

DTYPES = [np.uint8, np.uint16, np.int8, np.int16, np.int32, np.float32, np.float64, np.bool_, np.complex64]


def _contract(error, *names):
    """The error is a ValueError/TypeError and its message names one of ``names``."""
    assert isinstance(error, (ValueError, TypeError)), repr(error)
    assert any(n in str(error) for n in names), f"{error!r} names none of {names}"


def _image_arrays(max_side=12):
    shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=max_side)
    return st.sampled_from(DTYPES).flatmap(lambda dtype: hnp.arrays(dtype, shapes))


# ------------------------------------------------------------- image arrays


@FAST
@given(_image_arrays())
def test_any_array_in_a_list_is_an_image_or_a_named_error(arr):
    try:
        out = check_images([arr])
    except Exception as error:  # noqa: BLE001 - the contract is about every exception
        _contract(error, "X[0]")
        return
    # Valid only for a uint8 grey or RGB image of at least the minimum face size.
    assert arr.dtype == np.uint8 and (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3))
    assert min(arr.shape[:2]) >= MIN_FACE_SIZE
    expected = np.repeat(arr[:, :, None], 3, axis=2) if arr.ndim == 2 else arr
    assert len(out) == 1 and out[0].flags.c_contiguous
    np.testing.assert_array_equal(out[0], expected)


@FAST
@given(_image_arrays(max_side=10))
def test_any_array_as_X_is_a_batch_or_a_named_error(arr):
    try:
        out = check_images(arr)
    except Exception as error:  # noqa: BLE001
        _contract(error, "X")
        return
    # Only a non-empty 4-D uint8 batch of RGB faces is accepted as it is; a 3-D array never is.
    assert arr.ndim == 4 and arr.dtype == np.uint8 and arr.shape[3] == 3 and arr.shape[0] >= 1
    np.testing.assert_array_equal(np.stack(out), arr)


def _rule(image):
    """The documented 8-bit rule, written out independently of the code."""
    if image.dtype == np.uint16:
        image = (image // 256).astype(np.uint8)
    elif image.dtype.kind == "f":
        image = np.round(image.astype(np.float64) * 255).astype(np.uint8)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] in (1, 2):
        return np.concatenate([image[:, :, :1]] * 3, axis=2)
    b, g, r = image[:, :, 0], image[:, :, 1], image[:, :, 2]
    return np.stack([r, g, b], axis=2)


decoded = st.sampled_from([np.uint8, np.uint16, np.int16, np.float32, np.float64]).flatmap(
    lambda dtype: hnp.arrays(
        dtype,
        st.one_of(hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
                  st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 5))),
        elements=st.floats(-0.5, 1.5, width=32) if np.dtype(dtype).kind == "f" else None,
    )
)


@FAST
@given(decoded)
def test_decoded_images_follow_the_8_bit_rule_or_are_refused(image):
    out_of_range = image.dtype.kind == "f" and not (image.min() >= 0 and image.max() <= 1)
    refused = image.dtype == np.int16 or out_of_range or (image.ndim == 3 and image.shape[2] == 5)
    try:
        out = to_rgb8(image, name="probe.tiff")
    except Exception as error:  # noqa: BLE001
        _contract(error, "probe.tiff")
        assert refused, repr(error)
        return
    assert not refused
    assert out.dtype == np.uint8 and out.shape == image.shape[:2] + (3,)
    np.testing.assert_array_equal(out, _rule(image))


@FAST
@given(st.binary(max_size=300), st.sampled_from([".png", ".jpg", ".tiff", ".pgm", ".bmp"]))
def test_any_file_bytes_are_an_image_or_a_named_error(data, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"face{suffix}"
        path.write_bytes(data)
        try:
            image = load_image(path, name="X[7]")
        except Exception as error:  # noqa: BLE001
            _contract(error, "X[7]")
            return
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert min(image.shape[:2]) >= MIN_FACE_SIZE


encodable = st.tuples(
    st.sampled_from([(".png", np.uint8), (".png", np.uint16), (".tiff", np.float32), (".tiff", np.int16),
                     (".tiff", np.uint16), (".bmp", np.uint8)]),
    st.integers(1, 12), st.integers(1, 12), st.sampled_from([1, 3, 4]), st.integers(0, 2**16),
)


@FAST
@given(encodable)
def test_encoded_images_load_by_the_rule_or_are_refused(spec):
    (suffix, dtype), height, width, channels, seed = spec
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        pixels = rng.random((height, width, channels)).astype(dtype)
    else:
        info = np.iinfo(dtype)
        pixels = rng.integers(info.min, info.max, (height, width, channels), endpoint=True).astype(dtype)
    pixels = pixels[:, :, 0] if channels == 1 else pixels
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"face{suffix}"
        if not cv2.imwrite(str(path), pixels):
            return  # the format cannot hold this dtype: nothing to read back
        try:
            image = load_image(path, name="gallery image 3")
        except Exception as error:  # noqa: BLE001
            _contract(error, "gallery image 3")
            assert dtype == np.int16 or min(height, width) < MIN_FACE_SIZE or (
                suffix == ".bmp" and channels == 4), repr(error)
            return
    assert min(height, width) >= MIN_FACE_SIZE
    expected = _rule(pixels if pixels.ndim == 2 or pixels.shape[2] != 4 else pixels[:, :, :3])
    assert image.shape == (height, width, 3)
    np.testing.assert_array_equal(image, expected)


# -------------------------------------------------------------- folder trees

entry = st.tuples(
    st.one_of(st.none(), st.sampled_from(["ann", "bob", "cy"])),  # subject folder, or flat
    st.sampled_from(["1", "2", "ann", "bob", ".hidden"]),  # file stem
    st.sampled_from(["png", "garbage", "tiny", "txt"]),
)


def _expected_tree(entries, links):
    """What a correct reader returns for the tree: (ids, subjects), or the reason it must refuse."""
    files = {}
    for subject, stem, kind in entries:
        name = f"{stem}.txt" if kind == "txt" else f"{stem}.png"
        files[f"{subject}/{name}" if subject else name] = kind
    for link, target in links:
        for key, kind in list(files.items()):
            if key.startswith(f"{target}/"):
                files[f"{link}/{key.split('/', 1)[1]}"] = kind
    images = {k: v for k, v in files.items() if k.endswith(".png") and not k.split("/")[-1].startswith(".")}
    if not images:
        return "no images"
    if any(kind in ("garbage", "tiny") for kind in images.values()):
        return "bad image"
    folders = {k.split("/")[0] for k in images if "/" in k}
    flat = {Path(k).stem for k in images if "/" not in k}
    if flat & folders:
        return "both"
    ids = sorted(images)
    return ids, [i.split("/")[0] if "/" in i else Path(i).stem for i in ids]


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(entry, max_size=6), st.lists(st.tuples(st.sampled_from(["dan", "eve"]),
                                                        st.sampled_from(["ann", "bob"])), max_size=2, unique_by=lambda t: t[0]))
def test_any_folder_tree_is_read_completely_or_refused_by_name(entries, links):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "gallery"
        root.mkdir()
        for subject, stem, kind in entries:
            parent = root / subject if subject else root
            parent.mkdir(exist_ok=True)
            if kind == "txt":
                (parent / f"{stem}.txt").write_text("notes")
            elif kind == "garbage":
                (parent / f"{stem}.png").write_bytes(b"\x89PNG garbage")
            else:
                side = 3 if kind == "tiny" else 12
                cv2.imwrite(str(parent / f"{stem}.png"), np.full((side, side, 3), 7, np.uint8))
        for link, target in links:
            (root / target).mkdir(exist_ok=True)
            os.symlink(root / target, root / link, target_is_directory=True)
        expected = _expected_tree(entries, links)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                images, subjects, ids = load_image_folder(root, labelled=True, name="gallery folder")
        except Exception as error:  # noqa: BLE001
            _contract(error, "gallery folder")
            assert isinstance(expected, str), f"refused a good tree: {error}"
            return
    assert not isinstance(expected, str), f"accepted a tree that must be refused ({expected})"
    assert not caught, [str(w.message) for w in caught]  # no loops here, so no warning
    assert sorted(ids) == expected[0]
    assert [s for _, s in sorted(zip(ids, subjects))] == expected[1]
    assert all(im.shape == (12, 12, 3) for im in images)


# ---------------------------------------------------------------- parameters

anything = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 5), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6), st.sampled_from(["S_max", "T_add/S_max", "T_concat", "cosine", "mean-centred", "pearson"]),
    st.lists(st.one_of(st.floats(-1, 9), st.booleans(), st.integers(0, 8), st.text(max_size=2)), max_size=3),
    st.sampled_from([[1.0], [0.0], ["original"], ["super-resolved", "original"]]),
)
IDENTIFIER_PARAMS = ["fusion", "similarity", "scales", "probe_kinds", "gallery_kinds", "probe_sigmas", "n_degraded",
                     "chunk_size"]


@FAST
@given(st.dictionaries(st.sampled_from(IDENTIFIER_PARAMS), anything, max_size=3))
def test_any_identifier_parameters_give_a_ranking_or_a_named_error(params):
    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(6, 8))
    subjects = ["a", "a", "b", "b", "c", "c"]
    probes = gallery[[1, 3, 5] * 4] + 0.01 * rng.normal(size=(12, 8))
    try:
        clf = FusedNearestNeighborIdentifier(**params).fit(gallery, subjects)
        scores = clf.decision_function(probes)
    except Exception as error:  # noqa: BLE001
        _contract(error, *params, "X[", "X ")
        return
    assert scores.shape == (12, 3) and np.isfinite(scores).all()
    # Nearly identical templates: every valid setting finds its subject.
    assert clf.classes_[scores.argmax(1)].tolist() == ["a", "b", "c"] * 4


@settings(max_examples=25, deadline=None, derandomize=True)
@given(anything)
def test_any_sigmas_give_hypotheses_or_a_named_error(sigmas):
    try:
        up = MultiHypothesisUpsampler(scales=(2,), sigmas=sigmas).fit()
    except Exception as error:  # noqa: BLE001
        _contract(error, "sigmas")
        return
    assert not isinstance(sigmas, bool) and not (isinstance(sigmas, list) and any(isinstance(v, bool) for v in sigmas))
    assert up.sigmas_.ndim == 1 and up.sigmas_.size >= 1 and (up.sigmas_ >= 0).all()
    assert np.isfinite(up.sigmas_).all()


@pytest.mark.parametrize("size", [MIN_FACE_SIZE - 1, MIN_FACE_SIZE])
def test_minimum_face_size_boundary(size):
    image = np.zeros((size, size, 3), np.uint8)
    if size < MIN_FACE_SIZE:
        with pytest.raises(ValueError, match=r"X\[0\]"):
            check_images([image])
    else:
        assert check_images([image])[0].shape == (size, size, 3)
