"""TemplateExtractor: backends, input conventions, batching, caching, workers.

Most tests use tiny networks built here (an ONNX graph made with the ``onnx``
package, small torch modules) whose templates can be computed by hand, so the
loaders and the preprocessing are checked without ../shared; the real
MobileFaceNet and LFW are used where present.
"""

import hashlib
import pickle
from pathlib import Path

import cv2
import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import skmitm._degradation as degradation
from skmitm import GalleryDegrader, HypothesisSet, make_meta
from skmitm._templates import TemplateExtractor

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

torch = pytest.importorskip("torch")

# Projection of the tiny ONNX network: channel means (3) -> 4-D template.
W = np.array([[1.0, 0.0, 2.0, -1.0], [0.0, 1.0, -1.0, 3.0], [0.5, -2.0, 0.0, 1.0]], dtype=np.float32)


def make_tiny_onnx(path, *, size=16, dynamic=False, mxnet_style=False, rank3_output=False):
    """N×3×H×W → global average pool → matmul by W: template = W.T @ channel means."""
    hw = ["h", "w"] if dynamic else [size, size]
    nodes, inits = [], [numpy_helper.from_array(W, "W")]
    first = "input"
    if mxnet_style:
        # MXNet exports start by subtracting and scaling inside the graph.
        inits += [numpy_helper.from_array(np.float32(127.5), "m"), numpy_helper.from_array(np.float32(1 / 128), "s")]
        nodes += [
            helper.make_node("Sub", ["input", "m"], ["centred"], name="_minus0"),
            helper.make_node("Mul", ["centred", "s"], ["scaled"], name="_mul0"),
        ]
        first = "scaled"
    nodes += [
        helper.make_node("GlobalAveragePool", [first], ["pooled"], name="pool"),
        helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten"),
        helper.make_node("MatMul", ["flat", "W"], ["emb"], name="project"),
    ]
    out_shape = ["batch", 4]
    if rank3_output:
        inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "axis"))
        nodes.append(helper.make_node("Unsqueeze", ["emb", "axis"], ["emb3"], name="unsqueeze"))
        out_shape = ["batch", 1, 4]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, *hw])],
        [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, out_shape)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def tiny_expected(images, *, size=16, mean=127.5, std=127.5, bgr=False, interpolation=cv2.INTER_CUBIC):
    """Templates of the tiny ONNX network computed by hand (not L2-normalised)."""
    out = []
    for image in images:
        same = image.shape[:2] == (size, size)
        chip = image if same else cv2.resize(image, (size, size), interpolation=interpolation)
        chip = chip[..., ::-1] if bgr else chip
        means = ((chip.astype(np.float64) - mean) / std).mean(axis=(0, 1))
        out.append(means @ W)
    return np.array(out)


@pytest.fixture
def tiny_onnx(tmp_path):
    return make_tiny_onnx(tmp_path / "tiny.onnx")


@pytest.fixture
def faces():
    rng = np.random.default_rng(1)
    return [rng.integers(0, 256, (h, h + 3, 3), dtype=np.uint8) for h in (10, 16, 24, 40, 9)]


def multi_hypothesis_sets(faces):
    """Two samples with several hypotheses of different sizes and kinds."""
    first = HypothesisSet(
        faces[:3], make_meta(3, scale=[1, 2, 4], kind=["original", "super-resolved", "super-resolved"], sigma=0.5)
    )
    second = HypothesisSet(faces[3:], make_meta(2, kind=["original", "degraded"], chain=["", "gaussian_blur"], size=24))
    return [first, second]


class TinyNet(torch.nn.Module):
    """Conv 3→2 (1×1) → global average → linear 2→5."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 2, 1)
        self.fc = torch.nn.Linear(2, 5)

    def forward(self, x):
        return self.fc(self.conv(x).mean(dim=(2, 3)))


class Rank3Net(torch.nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3))[:, :, None]


# ---------------------------------------------------------------- ONNX


def test_onnx_fit_resolves_convention_from_graph(tiny_onnx):
    ext = TemplateExtractor(tiny_onnx).fit()
    assert ext.backend_ == "onnx"
    assert ext.input_size_ == (16, 16)
    assert ext.channel_order_ == "RGB"
    np.testing.assert_array_equal(ext.mean_, [127.5] * 3)
    np.testing.assert_array_equal(ext.std_, [127.5] * 3)
    assert ext.template_dim_ == 4
    assert ext.model_sha256_ == hashlib.sha256(Path(tiny_onnx).read_bytes()).hexdigest()


def test_onnx_templates_match_hand_computation(tiny_onnx, faces):
    ext = TemplateExtractor(tiny_onnx, normalize=False).fit()
    got = np.concatenate([s.data for s in ext.transform(faces)])
    np.testing.assert_allclose(got, tiny_expected(faces), rtol=1e-4, atol=1e-5)


def test_channel_order_mean_std_and_interpolation_are_applied(tiny_onnx, faces):
    ext = TemplateExtractor(
        tiny_onnx, channel_order="BGR", mean=(10, 20, 30), std=50, interpolation="area", normalize=False
    ).fit()
    got = np.concatenate([s.data for s in ext.transform(faces)])
    # Only the 24×27 and 40×43 faces shrink (area); the others grow (bicubic).
    expected = []
    for face in faces:
        flag = cv2.INTER_AREA if min(face.shape[:2]) >= 16 else cv2.INTER_CUBIC
        expected.append(
            tiny_expected([face], mean=np.array([10, 20, 30]), std=50, bgr=True, interpolation=flag)[0]
        )
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    plain = np.concatenate([s.data for s in TemplateExtractor(tiny_onnx, normalize=False).fit().transform(faces)])
    assert not np.allclose(got, plain)


def test_mxnet_style_graph_gets_identity_normalisation(tmp_path):
    ext = TemplateExtractor(make_tiny_onnx(tmp_path / "mx.onnx", mxnet_style=True)).fit()
    np.testing.assert_array_equal(ext.mean_, [0.0] * 3)
    np.testing.assert_array_equal(ext.std_, [1.0] * 3)


def test_templates_are_float32_unit_norm_with_metadata_kept(tiny_onnx, faces):
    sets = multi_hypothesis_sets(faces)
    out = TemplateExtractor(tiny_onnx).fit().transform(sets)
    assert [len(s) for s in out] == [3, 2]
    for before, after in zip(sets, out):
        assert after.has_templates and after.data.dtype == np.float32 and after.data.shape[1] == 4
        np.testing.assert_allclose(np.linalg.norm(after.data, axis=1), 1.0, rtol=1e-5)
        assert after.meta.tobytes() == before.meta.tobytes()


def test_batches_mix_samples_without_changing_results(tiny_onnx, faces):
    sets = multi_hypothesis_sets(faces)
    whole = TemplateExtractor(tiny_onnx, batch_size=128).fit().transform(sets)
    split = TemplateExtractor(tiny_onnx, batch_size=2).fit().transform(sets)
    for a, b in zip(whole, split):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-5, atol=1e-6)


def test_an_image_listed_twice_goes_through_the_network_once(tiny_onnx, faces, monkeypatch):
    ext = TemplateExtractor(tiny_onnx, normalize=False, batch_size=2).fit()
    counted = count_network_inputs(monkeypatch, ext)
    a, b = faces[0], faces[1]
    meta = make_meta(5)
    out = ext.transform([HypothesisSet([a, b, a, a.copy(), b], meta)])[0].data
    # a, b and the copy of a (equal values, another object): three images, in batches of two.
    assert counted == [2, 1]
    expected = tiny_expected([a, b, a, a, b])
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_onnx_threads_sleep_between_batches(tiny_onnx):
    # Spinning intra-op threads would hold the cores the upsampler's torch threads need between batches.
    runner = TemplateExtractor(tiny_onnx).fit().model_
    for threads in (None, 1):
        options = runner.session(threads).get_session_options()
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_paths_and_4d_arrays_are_accepted(tiny_onnx, faces, tmp_path):
    paths = []
    for i, face in enumerate(faces[:2]):
        paths.append(tmp_path / f"{i}.png")
        cv2.imwrite(str(paths[-1]), face[..., ::-1])
    ext = TemplateExtractor(tiny_onnx).fit()
    from_paths = ext.transform(paths)
    from_arrays = ext.transform(faces[:2])
    for a, b in zip(from_paths, from_arrays):
        np.testing.assert_array_equal(a.data, b.data)
    batch = np.stack([faces[1], faces[1]])
    assert len(ext.transform(batch)) == 2


def test_input_size_that_contradicts_the_graph_is_an_error(tiny_onnx):
    with pytest.raises(ValueError, match=r"input_size=\(20, 20\) does not match the model, which takes 16×16"):
        TemplateExtractor(tiny_onnx, input_size=20).fit()


def test_dynamic_graph_needs_an_input_size(tmp_path):
    path = make_tiny_onnx(tmp_path / "dyn.onnx", dynamic=True)
    with pytest.raises(ValueError, match="does not fix its input size; pass input_size"):
        TemplateExtractor(path).fit()
    assert TemplateExtractor(path, input_size=(20, 18)).fit().input_size_ == (20, 18)


def test_non_2d_output_is_an_error(tmp_path):
    path = make_tiny_onnx(tmp_path / "rank3.onnx", rank3_output=True)
    with pytest.raises(ValueError, match=r"output has shape \(2, 1, 4\) for a batch of 2; expected \(2, D\)"):
        TemplateExtractor(path).fit()


def test_missing_model_file_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.onnx"):
        TemplateExtractor(tmp_path / "nothing.onnx").fit()


# ------------------------------------------------------- insightface packs


@pytest.mark.parametrize(
    "pack, layout",
    [("buffalo_l", "buffalo_l/w600k_r50.onnx"), ("antelopev2", "antelopev2/antelopev2/glintr100.onnx")],
)
def test_insightface_pack_by_name(tmp_path, pack, layout, faces):
    target = tmp_path / "models" / layout
    target.parent.mkdir(parents=True)
    make_tiny_onnx(target, dynamic=True)
    ext = TemplateExtractor(pack, model_root=tmp_path / "models").fit()
    assert ext.backend_ == "insightface"
    assert ext.model_path_ == str(target)
    # The pack's known convention: 112×112 RGB, (pixel - 127.5) / 127.5.
    assert ext.input_size_ == (112, 112) and ext.channel_order_ == "RGB"
    np.testing.assert_array_equal(ext.mean_, [127.5] * 3)
    got = np.concatenate([s.data for s in clone(ext).set_params(normalize=False).fit().transform(faces)])
    np.testing.assert_allclose(got, tiny_expected(faces, size=112), rtol=1e-4, atol=1e-5)


def test_pack_convention_matches_insightface_own_loader(tmp_path, faces):
    model_zoo = pytest.importorskip("insightface.model_zoo")
    (tmp_path / "buffalo_l").mkdir()
    path = make_tiny_onnx(tmp_path / "buffalo_l" / "w600k_r50.onnx", size=112)
    chips = [cv2.resize(face, (112, 112), interpolation=cv2.INTER_CUBIC) for face in faces]
    ours = TemplateExtractor("buffalo_l", model_root=tmp_path, normalize=False).fit().transform(chips)
    # insightface reads BGR images (OpenCV) and swaps them to RGB itself.
    theirs = model_zoo.ArcFaceONNX(str(path)).get_feat([chip[..., ::-1] for chip in chips])
    np.testing.assert_allclose(np.concatenate([s.data for s in ours]), theirs, rtol=1e-4, atol=1e-5)


def test_insightface_pack_folder_path(tmp_path):
    (tmp_path / "buffalo_s").mkdir()
    make_tiny_onnx(tmp_path / "buffalo_s" / "w600k_mbf.onnx", dynamic=True)
    ext = TemplateExtractor(tmp_path / "buffalo_s").fit()
    assert ext.backend_ == "insightface" and ext.model_path_.endswith("w600k_mbf.onnx")


def test_absent_pack_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"(?s)pack 'antelopev2' not found.*never downloads.*FaceAnalysis"):
        TemplateExtractor("antelopev2", model_root=tmp_path).fit()


def test_unknown_pack_name_is_an_error(tmp_path):
    with pytest.raises(ValueError, match=r"'buffalo_xl' is not a known insightface pack"):
        TemplateExtractor("buffalo_xl", model_root=tmp_path).fit()


# ---------------------------------------------------------------- dlib


def test_dlib_is_the_offline_default(faces):
    pytest.importorskip("dlib")
    ext = TemplateExtractor().fit()
    assert ext.backend_ == "dlib"
    assert ext.input_size_ == (150, 150) and ext.mean_ is None and ext.template_dim_ == 128
    assert ext.model_path_.endswith("dlib_face_recognition_resnet_model_v1.dat")
    first = ext.transform(faces[:2])
    np.testing.assert_allclose(np.linalg.norm(first[0].data, axis=1), 1.0, rtol=1e-5)
    second = ext.transform(faces[:2])
    np.testing.assert_array_equal(first[1].data, second[1].data)


def test_dlib_refuses_a_normalisation():
    pytest.importorskip("dlib")
    with pytest.raises(ValueError, match="dlib backend normalises inside its network"):
        TemplateExtractor(mean=127.5).fit()
    with pytest.raises(ValueError, match=r"input_size=\(112, 112\) does not match the model, which takes 150×150"):
        TemplateExtractor(input_size=112).fit()


# ---------------------------------------------------------------- torch


def torch_expected(net, images, size, mean=127.5, std=127.5):
    chips = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_CUBIC) for im in images])
    x = torch.from_numpy(((chips.astype(np.float32) - mean) / std).transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        return net(x).numpy()


def test_torch_module_instance(faces):
    net = TinyNet()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    ext = TemplateExtractor(net, input_size=20, normalize=False).fit()
    assert ext.backend_ == "torch" and ext.model_path_ is None and ext.template_dim_ == 5
    got = np.concatenate([s.data for s in ext.transform(faces)])
    np.testing.assert_allclose(got, torch_expected(net, faces, 20), rtol=1e-4, atol=1e-5)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    # The cache key of a module is its parameters: other weights, other key.
    other = TemplateExtractor(TinyNet(), input_size=20).fit()
    assert other.model_sha256_ != ext.model_sha256_


def test_torch_state_dict_is_loaded_with_weights_only(tmp_path, faces):
    trained = TinyNet()
    torch.save(trained.state_dict(), tmp_path / "w.pt")
    fresh = TinyNet()
    ext = TemplateExtractor(fresh, weights=tmp_path / "w.pt", input_size=20, normalize=False).fit()
    got = np.concatenate([s.data for s in ext.transform(faces)])
    np.testing.assert_allclose(got, torch_expected(trained, faces, 20), rtol=1e-4, atol=1e-5)
    assert not torch.equal(fresh.fc.weight, trained.fc.weight)
    with pytest.raises(ValueError, match="not a TorchScript archive"):
        TemplateExtractor(tmp_path / "w.pt").fit()


def test_torchscript_file_and_pickling(tmp_path, faces):
    net = TinyNet()
    with pytest.warns(DeprecationWarning):
        torch.jit.save(torch.jit.script(net), tmp_path / "net.pt")
    ext = TemplateExtractor(tmp_path / "net.pt", normalize=False).fit()
    assert ext.backend_ == "torch" and ext.input_size_ == (112, 112)
    got = np.concatenate([s.data for s in ext.transform(faces)])
    np.testing.assert_allclose(got, torch_expected(net, faces, 112), rtol=1e-4, atol=1e-5)
    (tmp_path / "net.pt").unlink()
    again = pickle.loads(pickle.dumps(ext))
    np.testing.assert_allclose(np.concatenate([s.data for s in again.transform(faces)]), got, rtol=1e-6)


def test_torch_non_2d_output_is_an_error():
    with pytest.raises(ValueError, match=r"output has shape \(2, 3, 1\) for a batch of 2; expected \(2, D\)"):
        TemplateExtractor(Rank3Net()).fit()


# ---------------------------------------------------------------- cache


def test_cache_returns_same_templates_without_running_the_network(tiny_onnx, faces, tmp_path, monkeypatch):
    ext = TemplateExtractor(tiny_onnx, memory=tmp_path / "cache").fit()
    sets = multi_hypothesis_sets(faces)
    first = ext.transform(sets)

    def fail(*args, **kwargs):
        raise AssertionError("the network ran although every template is cached")

    monkeypatch.setattr(ext.model_, "run", fail)
    # Reordered samples, a subset, plain images: all content seen before.
    second = ext.transform(sets[::-1])
    for a, b in zip(first, second[::-1]):
        np.testing.assert_array_equal(a.data, b.data)
        assert a.meta.tobytes() == b.meta.tobytes()
    subset = ext.transform([faces[3]])
    np.testing.assert_array_equal(subset[0].data, first[1].data[:1])
    # A fresh extractor with the same model and preprocessing shares the cache.
    monkeypatch.undo()
    shared = TemplateExtractor(tiny_onnx, memory=joblib.Memory(tmp_path / "cache", verbose=0)).fit()
    monkeypatch.setattr(shared.model_, "run", fail)
    np.testing.assert_array_equal(shared.transform(sets)[0].data, first[0].data)


def test_cache_key_includes_preprocessing_and_model(tiny_onnx, faces, tmp_path):
    cache = tmp_path / "cache"
    plain = TemplateExtractor(tiny_onnx, memory=cache, normalize=False).fit().transform(faces)
    shifted = TemplateExtractor(tiny_onnx, memory=cache, mean=0.0, normalize=False).fit().transform(faces)
    np.testing.assert_allclose(
        np.concatenate([s.data for s in shifted]), tiny_expected(faces, mean=0.0), rtol=1e-4, atol=1e-5
    )
    assert not np.allclose(plain[0].data, shifted[0].data)
    other_model = make_tiny_onnx(tmp_path / "other.onnx", mxnet_style=True)
    mx = TemplateExtractor(other_model, memory=cache, normalize=False).fit().transform(faces)
    assert not np.allclose(plain[0].data, mx[0].data)


def test_normalize_is_applied_after_the_cache(tiny_onnx, faces, tmp_path):
    raw = TemplateExtractor(tiny_onnx, memory=tmp_path, normalize=False).fit().transform(faces)
    unit = TemplateExtractor(tiny_onnx, memory=tmp_path, normalize=True).fit().transform(faces)
    for r, u in zip(raw, unit):
        np.testing.assert_allclose(u.data, r.data / np.linalg.norm(r.data, axis=1, keepdims=True), rtol=1e-6)


def degraded_gallery(probe_size=12, random_state=0):
    """Three gallery faces, each as 1 original + 1 matched + 2 degraded hypotheses at 2x."""
    rng = np.random.default_rng(3)
    faces = [rng.integers(0, 256, (40, 36, 3), dtype=np.uint8) for _ in range(3)]
    degrader = GalleryDegrader(
        probe_size,
        scales=(2,),
        degradations=["gaussian_blur", "gaussian_noise"],
        chain_lengths=(1,),
        n_chains=2,
        random_state=random_state,
    )
    return degrader.fit_transform(faces)


def count_network_inputs(monkeypatch, extractor):
    """Patch the extractor's network to record how many images each call gets."""
    counted, run = [], extractor.model_.run

    def counting(batch, *args):
        counted.append(len(batch))
        return run(batch, *args)

    monkeypatch.setattr(extractor.model_, "run", counting)
    return counted


def test_cache_rereads_a_degraded_gallery_without_resizing_it(tiny_onnx, tmp_path, monkeypatch):
    gallery = degraded_gallery()
    plain = TemplateExtractor(tiny_onnx).fit().transform(gallery)
    resized = []
    match = degradation._match
    monkeypatch.setattr(degradation, "_match", lambda image, shape: resized.append(shape) or match(image, shape))
    first = TemplateExtractor(tiny_onnx, memory=tmp_path).fit().transform(gallery)
    assert len(resized) == 9  # every matched and degraded hypothesis, built once to compute it

    def fail(*args, **kwargs):
        raise AssertionError("an image was built or the network ran although every template is cached")

    again = degraded_gallery()  # the same recipes in new objects
    monkeypatch.setattr(degradation, "_match", fail)
    extractor = TemplateExtractor(tiny_onnx, memory=tmp_path).fit()
    monkeypatch.setattr(extractor.model_, "run", fail)
    second = extractor.transform(again)
    for a, b, c in zip(plain, first, second):
        np.testing.assert_array_equal(a.data, b.data)
        np.testing.assert_array_equal(b.data, c.data)
        assert b.meta.tobytes() == c.meta.tobytes()


def test_another_recipe_misses_the_cache(tiny_onnx, tmp_path, monkeypatch):
    extractor = TemplateExtractor(tiny_onnx, memory=tmp_path, normalize=False).fit()
    extractor.transform(degraded_gallery())
    counted = count_network_inputs(monkeypatch, extractor)
    # Only the three originals hit for other target sizes; another seed
    # changes the noisy chain's outputs only (blurring draws nothing).
    for gallery, misses in ((degraded_gallery(probe_size=10), 9), (degraded_gallery(random_state=1), 3)):
        counted.clear()
        got = extractor.transform(gallery)
        assert sum(counted) == misses
        expected = TemplateExtractor(tiny_onnx, normalize=False).fit().transform(gallery)
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a.data, b.data)
    counted.clear()
    monkeypatch.setattr(degradation, "_MATCH_VERSION", degradation._MATCH_VERSION + 1)
    extractor.transform(degraded_gallery())
    assert sum(counted) == 9


def test_recipe_keys_and_content_keys_never_meet(tiny_onnx, tmp_path, monkeypatch):
    gallery = degraded_gallery()
    extractor = TemplateExtractor(tiny_onnx, memory=tmp_path).fit()
    cache = extractor._cache()
    recipes = gallery[0].data.recipe_digests()
    # The original is stored as it is and keyed on its content like a plain image.
    assert recipes[0] is None and None not in recipes[1:]
    recipe_keys = {cache.recipe_key(r) for r in recipes[1:]}
    assert len(recipe_keys) == 3 and recipe_keys.isdisjoint(cache.key(image) for image in gallery[0].data)
    extractor.transform(gallery)
    counted = count_network_inputs(monkeypatch, extractor)
    # The same pixels, materialised into plain lists, share only the originals.
    extractor.transform([HypothesisSet(list(hs.data), hs.meta) for hs in gallery])
    assert sum(counted) == 9


def test_an_image_keyed_again_and_again_misses_the_cache_once_changed_in_place(tiny_onnx, faces, tmp_path, monkeypatch):
    # The same image objects transformed repeatedly (a grid search's settings and folds) are
    # compared with a copy rather than rehashed: a change in place must still miss.
    extractor = TemplateExtractor(tiny_onnx, memory=tmp_path, normalize=False).fit()
    for _ in range(3):
        extractor.transform(faces)
    counted = count_network_inputs(monkeypatch, extractor)
    faces[1][2:5, 1:4] += 1  # uint8 arithmetic, wraps
    got = np.concatenate([s.data for s in extractor.transform(faces)])
    assert sum(counted) == 1
    np.testing.assert_allclose(got, tiny_expected(faces), rtol=1e-4, atol=1e-5)
    counted.clear()
    extractor.transform(faces)
    assert sum(counted) == 0
    # Another preprocessing of the same remembered objects misses them all.
    shifted = TemplateExtractor(tiny_onnx, memory=tmp_path, mean=0.0, normalize=False).fit()
    counted = count_network_inputs(monkeypatch, shifted)
    got = np.concatenate([s.data for s in shifted.transform(faces)])
    assert sum(counted) == len(faces)
    np.testing.assert_allclose(got, tiny_expected(faces, mean=0.0), rtol=1e-4, atol=1e-5)


def test_a_degraded_source_changed_in_place_misses_the_cache(tiny_onnx, tmp_path, monkeypatch):
    gallery = degraded_gallery()
    extractor = TemplateExtractor(tiny_onnx, memory=tmp_path).fit()
    for _ in range(3):
        extractor.transform(gallery)
    counted = count_network_inputs(monkeypatch, extractor)
    source = gallery[0].data.sources[2]  # the first degraded chain output of the first face
    source[:4] = 255 - source[:4]
    got = extractor.transform(gallery)
    assert sum(counted) == 1  # its one resolution-matched hypothesis
    expected = TemplateExtractor(tiny_onnx).fit().transform(gallery)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-5, atol=1e-6)


def test_checked_rows_are_reread_from_the_file_after_any_change(tiny_onnx, faces, tmp_path, monkeypatch):
    import sqlite3

    from skmitm._templates import _TemplateCache

    extractor = TemplateExtractor(tiny_onnx, memory=tmp_path, normalize=False).fit()
    extractor.transform(faces)
    first = np.concatenate([s.data for s in extractor.transform(faces)])
    np.testing.assert_allclose(first, tiny_expected(faces), rtol=1e-4, atol=1e-5)

    def fail(self):
        raise AssertionError("the cache file was opened although it has not changed since its rows were checked")

    with monkeypatch.context() as patched:
        patched.setattr(_TemplateCache, "_connect", fail)
        np.testing.assert_array_equal(np.concatenate([s.data for s in extractor.transform(faces)]), first)
    # One row altered behind its checksum, by a connection left open: the change sits in the
    # write-ahead log, the database file itself is untouched; the rows are read and checked again.
    connection = sqlite3.connect(tmp_path / _TemplateCache.FILENAME)
    (key,) = connection.execute(f"SELECT key FROM {_TemplateCache._TABLE} LIMIT 1").fetchone()
    with connection:
        connection.execute(f"UPDATE {_TemplateCache._TABLE} SET template = ? WHERE key = ?", (bytes(16), key))
    with pytest.warns(UserWarning, match="1 cached template"):
        again = np.concatenate([s.data for s in extractor.transform(faces)])
    connection.close()
    np.testing.assert_allclose(again, tiny_expected(faces), rtol=1e-4, atol=1e-5)
    # The file deleted: every template is computed again.
    for path in tmp_path.glob(_TemplateCache.FILENAME + "*"):
        path.unlink()
    counted = count_network_inputs(monkeypatch, extractor)
    extractor.transform(faces)
    assert sum(counted) == len(faces)


def test_checked_rows_stay_within_their_budget_and_go_with_a_changed_file(tmp_path):
    from skmitm._templates import _CheckedRows

    path = str(tmp_path / "file")
    (tmp_path / "file").write_bytes(b"one")
    memo = _CheckedRows(budget=40)
    templates = {bytes([i]) * 32: np.full(4, i, np.float32) for i in range(3)}  # 16 bytes each
    rows = memo.rows(path)
    memo.add(path, rows, templates)
    assert sorted(memo.rows(path)) == sorted(templates)[:2] and memo.used == 32  # the third is over the budget
    assert memo.rows(path)[bytes(32)].tolist() == [0, 0, 0, 0]
    (tmp_path / "file").write_bytes(b"three")
    assert memo.rows(path) == {} and memo.used == 0
    memo.add(path, rows, templates)  # rows of the file as it was: not kept
    assert memo.rows(path) == {} and memo.used == 0


# ------------------------------------------------------ workers, progress


def test_n_jobs_gives_the_same_templates(tiny_onnx, faces):
    many = faces * 4
    serial = TemplateExtractor(tiny_onnx, batch_size=3).fit().transform(many)
    parallel = TemplateExtractor(tiny_onnx, batch_size=3, n_jobs=2).fit().transform(many)
    for a, b in zip(serial, parallel):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-6)


class ThreadCountNet(torch.nn.Module):
    """Returns the number of torch threads it runs with and the input's mean, as a 2-D template.

    The mean makes the output depend on the input, as fit requires of a face network.
    """

    def forward(self, x):
        threads = torch.full((x.shape[0],), float(torch.get_num_threads()))
        return torch.stack([threads, x.mean(dim=(1, 2, 3))], dim=1)


def test_workers_run_the_network_with_a_share_of_the_cpus(faces, monkeypatch):
    import skmitm._templates

    # Pretend to have more CPUs than there are, shared by 2 workers: each worker's share is then
    # more threads than torch or joblib would choose inside a worker on this machine.
    share = joblib.cpu_count() + 3
    monkeypatch.setattr(skmitm._templates, "cpu_count", lambda: 2 * share)
    extractor = TemplateExtractor(ThreadCountNet(), batch_size=2, n_jobs=2, normalize=False).fit()
    threads = np.concatenate([s.data for s in extractor.transform(faces)])[:, 0]
    np.testing.assert_array_equal(threads, share)


def test_progress_bar_goes_to_stderr(tiny_onnx, faces, capsys):
    TemplateExtractor(tiny_onnx, batch_size=2, progress=True).fit().transform(faces)
    assert f"{len(faces)}/{len(faces)}" in capsys.readouterr().err  # counted in hypothesis images
    TemplateExtractor(tiny_onnx, batch_size=2).fit().transform(faces)
    assert capsys.readouterr().err == ""


# ------------------------------------------------- errors, sklearn contract


def test_transform_before_fit(tiny_onnx, faces):
    with pytest.raises(NotFittedError):
        TemplateExtractor(tiny_onnx).transform(faces)


def test_bad_input_names_the_sample(tiny_onnx, faces):
    ext = TemplateExtractor(tiny_onnx).fit()
    with pytest.raises(ValueError, match=r"X\[0\] already holds templates"):
        ext.transform([HypothesisSet.from_template(np.ones(4))])
    bad = HypothesisSet([faces[0], faces[1].astype(np.float32)], make_meta(2))
    with pytest.raises(TypeError, match=r"X\[1\] hypothesis 1 has dtype float32; expected H×W×3 RGB uint8"):
        ext.transform([HypothesisSet([faces[0]], make_meta(1)), bad])
    with pytest.raises(ValueError, match=r"X\[2\] has shape \(8, 8, 4\)"):
        ext.transform([faces[0], faces[1], np.zeros((8, 8, 4), np.uint8)])
    with pytest.raises(ValueError, match="expected images, not a 2-D array of templates"):
        ext.transform(np.ones((3, 4)))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"backend": "caffe"}, "backend='caffe'"),
        ({"interpolation": "lanczos"}, "interpolation='lanczos'"),
        ({"channel_order": "GRB"}, "channel_order='GRB'"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"n_jobs": 0}, "n_jobs=0"),
        ({"std": (1, 0, 1)}, "expected positive values"),
        ({"mean": (1, 2)}, r"mean=\(1, 2\); expected a finite number or 3 numbers"),
        ({"input_size": (16, -1)}, r"input_size=\(16, -1\); expected a positive integer or a \(height, width\) pair"),
        ({"weights": "w.pt"}, "weights= is for the torch backend only"),
        ({"backend": "onnx", "model": "buffalo_l"}, "not an .onnx file"),
    ],
)
def test_bad_parameters_raise_in_fit(tiny_onnx, params, match):
    params = {"model": tiny_onnx, **params}
    ext = TemplateExtractor(**params)
    with pytest.raises(ValueError, match=match):
        ext.fit()


def test_sklearn_contract(tiny_onnx):
    ext = TemplateExtractor(tiny_onnx, batch_size=7, mean=(1, 2, 3))
    assert clone(ext).get_params() == ext.get_params()
    assert not hasattr(TemplateExtractor(), "model_")
    tags = ext.__sklearn_tags__()
    assert not tags.input_tags.two_d_array


def test_fitted_extractor_pickles(tiny_onnx, faces):
    ext = TemplateExtractor(tiny_onnx).fit()
    again = pickle.loads(pickle.dumps(ext))
    np.testing.assert_array_equal(again.transform(faces)[2].data, ext.transform(faces)[2].data)


# ------------------------------------------------- real models (../shared)


@pytest.mark.shared
def test_mobilefacenet_reproduces_the_spec_preprocessing(mobilefacenet_path, lfw_dir):
    import onnxruntime as ort

    names = ["George_W_Bush", "Colin_Powell"]
    crops = []
    for name in names:
        for k in (1, 2, 3):
            image = cv2.imread(str(lfw_dir / name / f"{name}_{k:04d}.jpg"))[..., ::-1]
            crops.append(np.ascontiguousarray(image[55:181, 62:188]))
    crops.append(cv2.resize(crops[0], (24, 24), interpolation=cv2.INTER_AREA))
    ext = TemplateExtractor(mobilefacenet_path).fit()
    assert ext.input_size_ == (112, 112) and ext.template_dim_ == 128
    assert ext.model_sha256_ == "0c9ad2a83969fc82155706f7020e6926b4a1a90a5476fff4a5588dfe207f64a4"
    got = np.concatenate([s.data for s in ext.transform(crops)])
    # The SPEC §5 script: bicubic to 112, ImageNet normalisation on [0, 1], onnxruntime.
    chips = np.stack([cv2.resize(c, (112, 112), interpolation=cv2.INTER_CUBIC) for c in crops]) / 255.0
    x = ((chips - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]).transpose(0, 3, 1, 2).astype(np.float32)
    ref = ort.InferenceSession(str(mobilefacenet_path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(got, ref, atol=1e-4)
    sim = got[:6] @ got[:6].T
    same = [sim[i, j] for i in range(6) for j in range(6) if i < j and i // 3 == j // 3]
    different = [sim[i, j] for i in range(3) for j in range(3, 6)]
    assert min(same) > max(different)


@pytest.mark.shared
def test_dlib_same_person_is_closer(lfw_dir):
    pytest.importorskip("dlib")
    names = ["George_W_Bush", "Colin_Powell", "Tony_Blair"]
    crops = [
        np.ascontiguousarray(cv2.imread(str(lfw_dir / n / f"{n}_{k:04d}.jpg"))[55:181, 62:188, ::-1])
        for n in names
        for k in (1, 2)
    ]
    t = np.concatenate([s.data for s in TemplateExtractor().fit().transform(crops)])
    dist = np.linalg.norm(t[:, None] - t[None], axis=2)
    for i in range(0, 6, 2):
        others = [dist[i, j] for j in range(6) if j // 2 != i // 2]
        assert dist[i, i + 1] < min(others)


def test_memory_of_the_wrong_type_is_an_error(tiny_onnx):
    with pytest.raises(TypeError, match="memory=3; expected None or an instance of str .* joblib.memory.Memory"):
        TemplateExtractor(tiny_onnx, memory=3).fit()


def test_transform_streams_sets_in_groups(monkeypatch):
    """Large inputs are processed group by group, with the same templates as in one go."""
    import skmitm._templates as module

    rng = np.random.default_rng(7)
    faces = [rng.integers(0, 256, (20, 20, 3), dtype=np.uint8) for _ in range(7)]
    sets = [HypothesisSet(faces[i : i + 3], make_meta(len(faces[i : i + 3]))) for i in range(0, 7, 3)]
    extractor = TemplateExtractor().fit()
    whole = extractor.transform(sets)
    seen = []
    original = module.TemplateExtractor._transform_group

    def spy(self, group, bar):
        seen.append(len(group))
        return original(self, group, bar)

    monkeypatch.setattr(module, "_STREAM_IMAGES", 2)
    monkeypatch.setattr(module.TemplateExtractor, "_transform_group", spy)
    streamed = extractor.transform(sets)
    assert seen == [1, 1, 1]
    for a, b in zip(whole, streamed):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-5, atol=1e-6)


def test_cache_keys_tell_apart_images_of_the_same_bytes_but_another_shape(tmp_path):
    from skmitm._templates import _TemplateCache

    cache = _TemplateCache(tmp_path, "config", 128)
    image = np.arange(2 * 6 * 3, dtype=np.uint8).reshape(2, 6, 3)
    assert cache.key(image) != cache.key(image.reshape(6, 2, 3))
    assert cache.key(image) == cache.key(image.copy())


def test_template_cache_counts_rows_that_fail_their_check_and_leaves_a_read_only_folder_alone(tmp_path, monkeypatch):
    import sqlite3

    from skmitm import _templates
    from skmitm._templates import _TemplateCache

    cache = _TemplateCache(tmp_path, "config", 4)
    keys = [b"a" * 32, b"b" * 32]
    cache.put(keys, np.arange(8, dtype=np.float32).reshape(2, 4))
    with sqlite3.connect(cache.path) as connection:  # one row's template bytes changed behind its checksum
        connection.execute(f"UPDATE {cache._TABLE} SET template = ? WHERE key = ?", (bytes(16), keys[1]))
    connection.close()
    fresh = _TemplateCache(tmp_path, "config", 4)
    found = fresh.get(keys)
    assert list(found) == [keys[0]] and found[keys[0]].tolist() == [0, 1, 2, 3]
    assert fresh.n_bad == 1
    monkeypatch.setattr(_templates, "_writable", lambda path: False)
    elsewhere = _TemplateCache(tmp_path / "read-only", "config", 4)
    elsewhere.put(keys[:1], np.ones((1, 4), np.float32))
    assert not (tmp_path / "read-only").exists() and elsewhere.get(keys) == {}


# ---------------------------------------------------------------- the flip test


class SideNet(torch.nn.Module):
    """Channel means of the left and of the right half → linear 6→5: tells a face from its mirror image."""

    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.fc = torch.nn.Linear(6, 5)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(5, 6, generator=generator))
            self.fc.bias.copy_(torch.randn(5, generator=generator))

    def forward(self, x):
        half = x.shape[3] // 2
        return self.fc(torch.cat([x[..., :half].mean(dim=(2, 3)), x[..., half:].mean(dim=(2, 3))], dim=1))


def _unit(rows):
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _flip_expected(net, images, size=20):
    """unit(t(x)) + unit(t(mirror of x)), by hand: the mirror image made here, the network run by torch_expected."""
    mirrored = [np.ascontiguousarray(im[:, ::-1]) for im in images]
    return _unit(torch_expected(net, images, size)) + _unit(torch_expected(net, mirrored, size))


def test_flip_adds_the_unit_templates_of_the_image_and_its_mirror_image(faces):
    net = SideNet()
    flip = TemplateExtractor(net, input_size=20, flip=True).fit()
    got = np.concatenate([s.data for s in flip.transform(faces)])
    np.testing.assert_allclose(got, _unit(_flip_expected(net, faces)), atol=1e-5)
    # A face and its mirror image get the same template with flip, different ones without.
    mirrored = [np.ascontiguousarray(f[:, ::-1]) for f in faces]
    np.testing.assert_allclose(np.concatenate([s.data for s in flip.transform(mirrored)]), got, atol=1e-5)
    plain = TemplateExtractor(net, input_size=20).fit()
    assert not np.allclose(np.concatenate([s.data for s in plain.transform(mirrored)]),
                           np.concatenate([s.data for s in plain.transform(faces)]), atol=1e-2)
    # normalize=False: the sum, not scaled again.
    raw = TemplateExtractor(net, input_size=20, flip=True, normalize=False).fit().transform(faces)
    np.testing.assert_allclose(np.concatenate([s.data for s in raw]), _flip_expected(net, faces), atol=1e-5)


def test_flip_on_lazy_super_resolved_and_recipe_keyed_gallery_hypotheses(tmp_path, monkeypatch):
    from skmitm import MultiHypothesisUpsampler

    net = SideNet()
    ext = TemplateExtractor(net, input_size=20, flip=True, memory=tmp_path / "cache").fit()
    rng = np.random.default_rng(5)
    probes = [rng.integers(0, 256, (12, 11, 3), dtype=np.uint8) for _ in range(2)]
    upsampler = MultiHypothesisUpsampler(scales=(2,), sigmas=2).fit()
    for sets in (degraded_gallery(), upsampler.transform(probes)):
        # The hypotheses' images, materialised here from a second, identical transform.
        images = [[np.array(im) for im in s.data] for s in
                  (degraded_gallery() if sets[0].meta["kind"][-1] == "degraded" else upsampler.transform(probes))]
        got = ext.transform(sets)
        for s, ims, made in zip(got, images, sets):
            np.testing.assert_allclose(s.data, _unit(_flip_expected(net, ims)), atol=1e-5)
            assert s.meta.tobytes() == made.meta.tobytes()

    def fail(*args, **kwargs):
        raise AssertionError("the network ran although every template and mirror template is cached")

    # Both halves of every flip template were stored: a rerun reads them all back.
    monkeypatch.setattr(ext, "_compute", fail)
    again = ext.transform(degraded_gallery())
    np.testing.assert_allclose(again[0].data, _unit(_flip_expected(net, [np.array(i) for i in degraded_gallery()[0].data])),
                               atol=1e-5)


def test_a_gallery_file_from_before_flip_reads_as_flip_false():
    from skmitm import make_mitm_pipeline
    from skmitm._enrolment import _differences, pipeline_settings

    pipe = make_mitm_pipeline(model=TinyNet(), probe_size=16, scales=(2,), n_chains=2, sigmas=2)
    older = pipeline_settings(pipe)
    for name, _, params in older:
        if name == "templates":
            del params["flip"]
    assert _differences(older, pipeline_settings(pipe)) == []
    flipped = pipeline_settings(pipe.set_params(templates__flip=True))
    assert _differences(older, flipped) == ["templates__flip: file None, given True"]
