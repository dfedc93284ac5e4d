"""Hypothesis sets: metadata, selection, concatenation, sklearn indexing and pickling."""

import pickle

import numpy as np
import pytest
from sklearn.model_selection import train_test_split
from sklearn.utils import _safe_indexing

from skmitm import KINDS, HypothesisSet, as_hypothesis_sets, make_meta


def _image_set(n=3, size=10):
    images = [np.full((size, size + i, 3), i, np.uint8) for i in range(n)]
    meta = make_meta(n, kind="super-resolved", scale=[2, 4, 8][:n], sigma=np.linspace(0, 1, n), size=size)
    return HypothesisSet(images, meta)


def test_meta_fields_and_validation():
    meta = make_meta(2, kind=["matched", "degraded"], scale=2, chain=["", "gaussian_noise>motion_blur"], size=24)
    assert meta["kind"].tolist() == ["matched", "degraded"]
    assert meta["chain"][1] == "gaussian_noise>motion_blur"
    assert meta["size"].tolist() == [24, 24]
    assert np.isnan(meta["sigma"]).all()
    with pytest.raises(ValueError, match="unknown hypothesis kind 'blurred'"):
        make_meta(1, kind="blurred")
    with pytest.raises(ValueError, match="scales must be positive"):
        make_meta(1, scale=0)
    assert set(KINDS) == {"original", "matched", "degraded", "super-resolved"}


def test_constructor_checks_shapes():
    with pytest.raises(ValueError, match="meta has shape"):
        HypothesisSet([np.zeros((4, 4, 3), np.uint8)], make_meta(2))
    with pytest.raises(ValueError, match="templates have shape"):
        HypothesisSet(np.zeros((2, 3, 4), np.float32), make_meta(2))
    with pytest.raises(TypeError, match="META_DTYPE"):
        HypothesisSet(np.zeros((1, 3), np.float32), np.zeros(1))


def test_select_with_data_and_concatenate():
    hs = _image_set()
    part = hs.select(hs.meta["scale"] > 2)
    assert len(part) == 2 and part.meta["scale"].tolist() == [4.0, 8.0]
    assert part.data[0].shape == (10, 11, 3)
    templates = hs.with_data(np.arange(6, dtype=np.float32).reshape(3, 2))
    assert templates.has_templates and not hs.has_templates
    joined = HypothesisSet.concatenate([templates, templates.select([0])])
    assert joined.data.shape == (4, 2) and len(joined.meta) == 4
    with pytest.raises(TypeError, match="images with sets of templates"):
        HypothesisSet.concatenate([hs, templates])


def test_survive_sklearn_indexing_and_pickling():
    sets = [_image_set(size=s) for s in (8, 9, 10, 11)]
    picked = _safe_indexing(sets, [3, 1])
    assert [s.meta["size"][0] for s in picked] == [11, 9]
    train, test = train_test_split(sets, test_size=0.5, random_state=0)
    assert len(train) == len(test) == 2
    restored = pickle.loads(pickle.dumps(sets))
    for a, b in zip(restored, sets):
        assert all(np.array_equal(x, y) for x, y in zip(a.data, b.data))
        np.testing.assert_array_equal(a.meta["chain"], b.meta["chain"])
        np.testing.assert_array_equal(a.meta["sigma"], b.meta["sigma"])


def test_as_hypothesis_sets_accepts_every_input(tmp_path):
    images = as_hypothesis_sets([np.zeros((24, 20, 3), np.uint8)])
    assert images[0].meta["kind"][0] == "original" and images[0].meta["size"][0] == 24
    templates = as_hypothesis_sets(np.ones((3, 5)))
    assert len(templates) == 3 and templates[0].data.dtype == np.float32
    sets = [_image_set()]
    assert as_hypothesis_sets(sets)[0] is sets[0]
    with pytest.raises(TypeError, match="mixes HypothesisSet"):
        as_hypothesis_sets([sets[0], np.zeros((4, 4, 3), np.uint8)])
    with pytest.raises(ValueError, match="NaN or infinity"):
        as_hypothesis_sets(np.array([[1.0, np.inf]]))
    with pytest.raises(ValueError, match="expected images"):
        as_hypothesis_sets(np.ones((2, 3)), allow_templates=False)
