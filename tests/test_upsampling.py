"""MultiHypothesisUpsampler: probes become SR hypotheses in transform; the gallery passes through."""

import pickle

import cv2
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_set_params,
)

from skmitm import (
    FusedNearestNeighborIdentifier,
    HypothesisSet,
    MultiHypothesisUpsampler,
    TemplateExtractor,
    make_meta,
)
from skmitm._edsr import FaceEDSR
from skmitm._param_validation import InvalidParameterError

from conftest import benchmark
from test_templates import TinyNet


@pytest.fixture
def net():
    torch.manual_seed(0)
    return FaceEDSR((2, 4, 8), n_feats=8, n_blocks=1).eval()


def probes(n, size=(24, 24), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(n)]


def test_transform_gives_every_scale_and_sigma_plus_the_original(net):
    up = MultiHypothesisUpsampler(net, scales=(2, 4, 8), sigmas=16).fit()
    probe = probes(1)[0]
    (hs,) = up.transform([probe])
    assert len(hs) == up.n_hypotheses_ == 49
    meta = hs.meta
    assert meta["kind"][0] == "original" and meta["scale"][0] == 1 and np.isnan(meta["sigma"][0])
    assert np.array_equal(hs.data[0], probe)
    assert (meta["kind"][1:] == "super-resolved").all()
    assert meta["scale"][1:].tolist() == [2.0] * 16 + [4.0] * 16 + [8.0] * 16
    np.testing.assert_allclose(meta["sigma"][1:], np.tile(np.linspace(0, 1, 16), 3), atol=1e-6)
    assert (meta["size"] == 24).all()
    shapes = [im.shape for im in hs.data[1:]]
    assert shapes == [(48, 48, 3)] * 16 + [(96, 96, 3)] * 16 + [(192, 192, 3)] * 16
    assert all(im.dtype == np.uint8 and im.flags.c_contiguous for im in hs.data)


def test_fit_transform_passes_the_gallery_through_unchanged(net):
    gallery = probes(3, size=(126, 126))
    up = MultiHypothesisUpsampler(net, sigmas=4)
    sets = up.fit_transform(gallery)
    assert len(sets) == 3
    for image, hs in zip(gallery, sets):
        assert len(hs) == 1 and hs.meta["kind"][0] == "original"
        assert np.array_equal(hs.data[0], image)
    already = [HypothesisSet([gallery[0]], make_meta(1, size=126))]
    assert up.fit_transform(already)[0] is already[0]


def test_fit_then_transform_differs_from_fit_transform(net):
    X = probes(2)
    up = MultiHypothesisUpsampler(net, scales=(2,), sigmas=2)
    assert [len(hs) for hs in up.fit_transform(X)] == [1, 1]
    assert [len(hs) for hs in up.fit(X).transform(X)] == [3, 3]


def test_sigma_zero_is_the_network_on_the_plain_probe(net):
    probe = probes(1)[0]
    up = MultiHypothesisUpsampler(net, scales=(4,), sigmas=[0.0, 0.5], include_original=False).fit()
    hs = up.transform([probe])[0]
    x = torch.from_numpy(probe).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        y = net(x, scales=(4,))[4]
    expected = (y[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    assert np.array_equal(hs.data[0], expected)
    assert not np.array_equal(hs.data[1], expected)


def test_more_blur_gives_smoother_hypotheses(net):
    up = MultiHypothesisUpsampler(net, scales=(2,), sigmas=[0.0, 0.5, 1.0], include_original=False)
    images = up.fit().transform(probes(1))[0].data
    detail = [cv2.Laplacian(im.astype(np.float32), cv2.CV_32F).std() for im in images]
    assert detail[0] > detail[1] > detail[2]


def test_batching_and_size_groups_do_not_change_results(net):
    X = probes(3) + probes(2, size=(16, 20), seed=1) + probes(1, seed=2)
    X = [X[0], X[3], X[1], X[4], X[2], X[5]]
    one_by_one = MultiHypothesisUpsampler(net, scales=(2, 8), sigmas=3, batch_size=1).fit().transform(X)
    together = MultiHypothesisUpsampler(net, scales=(2, 8), sigmas=3, batch_size=64).fit().transform(X)
    for probe, a, b in zip(X, one_by_one, together):
        assert np.array_equal(a.data[0], probe)
        assert a.meta["size"][0] == probe.shape[0]
        assert a.data[-1].shape == (8 * probe.shape[0], 8 * probe.shape[1], 3)
        # Batch size changes the order of float sums, so a rounding may flip.
        for p, q in zip(a.data, b.data):
            assert np.abs(p.astype(int) - q).max() <= 1


def test_each_probe_goes_through_the_network_with_the_rest_of_its_batch(net):
    calls = []
    up = MultiHypothesisUpsampler(net, sigmas=16, batch_size=64).fit()
    up.net_.body.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape[0]))
    X = probes(5)
    X[0][:3] = 0  # black rows, where the faintest blurs are not lost in float32 rounding
    sets = up.transform(X)
    assert calls == []  # super-resolution waits until the images are read
    for hs in sets:
        list(hs.data)
    # Blocks of 64 // gcd(64, 16) = 4 probes. Of the 16 sigmas (0, 1/15, ..., 1),
    # 1/15 and 2/15 (below 0.1666) blur nothing, so each probe sends 14
    # distinct copies: 4 × 14, then 1 × 14.
    assert calls == [56, 14]


@pytest.mark.parametrize("sigma,blurs", [(1 / 15, False), (2 / 15, False), (0.16, False), (0.2, True),
                                         (0.2, True)])
def test_sigmas_below_float32_resolution_blur_nothing(net, sigma, blurs):
    up = MultiHypothesisUpsampler(net, scales=(2,), sigmas=[sigma]).fit()
    probe = probes(1)[0]
    probe[:4] = 0
    probe[4:8] = 255
    image = probe.astype(np.float32) / 255
    (copy_,) = up.blurred_copies(probe)
    # OpenCV's own blur, the reference: where it moves no pixel by more than
    # float32's rounding near 1 (2⁻²³), the copy is the probe itself.
    reference = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT_101)
    moved = np.abs(reference - image).max()
    if blurs:
        assert moved > 2.0**-23 and np.array_equal(copy_, reference)
    else:
        assert moved <= 2.0**-23 and np.array_equal(copy_, image)


def test_copies_the_smallest_blurs_leave_unchanged_share_one_image(net):
    sigmas = [0.0, 1 / 15, 2 / 15, 0.5, 0.5]
    up = MultiHypothesisUpsampler(net, scales=(2, 4), sigmas=sigmas).fit()
    probe = probes(1)[0]
    probe[:2] = 0
    images = list(up.transform([probe])[0].data)
    assert np.array_equal(images[0], probe)
    for scale in range(2):
        first = 1 + 5 * scale
        same = images[first : first + 5]
        # Sigmas 0, 1/15 and 2/15 are one object; sigma 0.5, listed twice, another.
        assert same[0] is same[1] is same[2] and same[3] is same[4] and same[3] is not same[0]
    # The shared image is what the network makes of the unblurred probe alone.
    alone = MultiHypothesisUpsampler(net, scales=(2, 4), sigmas=[0.0]).fit().transform([probe])[0].data
    assert np.abs(alone[1].astype(int) - images[1]).max() <= 1
    assert np.abs(alone[2].astype(int) - images[6]).max() <= 1


def test_n_threads_is_set_during_transform_and_restored(net):
    seen = []
    up = MultiHypothesisUpsampler(net, scales=(2,), sigmas=1, n_threads=1).fit()
    up.net_.body.register_forward_hook(lambda *args: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    list(up.transform(probes(1))[0].data)
    assert seen == [1] and torch.get_num_threads() == before


def test_shipped_weights_are_the_default():
    up = MultiHypothesisUpsampler(sigmas=2, n_threads=1).fit()
    assert up.net_.scales == (2, 4, 8)
    assert up.card_["degradation"] == "realistic" and len(up.card_["sha256"]) == 64
    (hs,) = up.transform(probes(1))
    assert len(hs) == 7 and hs.data[-1].shape == (192, 192, 3)


def test_weights_card_path_is_accepted(net, tmp_path):
    from skmitm._edsr import save_edsr

    card = save_edsr(net, tmp_path / "tiny.pt")
    up = MultiHypothesisUpsampler(str(card), scales=(2,), sigmas=1).fit()
    direct = MultiHypothesisUpsampler(net, scales=(2,), sigmas=1).fit()
    X = probes(1)
    assert np.array_equal(up.transform(X)[0].data[1], direct.transform(X)[0].data[1])


@pytest.mark.parametrize(
    "params, message",
    [
        ({"scales": (2, 3)}, r"no tail for \[3\]"),
        ({"scales": ()}, r"scales=\(\); expected a non-empty sequence of distinct items, each an integer in \[2, inf\)"),
        ({"scales": (2, 2)}, r"scales=\(2, 2\); expected .*distinct"),
        ({"scales": "24"}, "scales='24'"),
        ({"sigmas": 0}, r"sigmas=0; expected an integer in \[1, inf\) or an array-like"),
        ({"sigmas": "x"}, "sigmas='x'"),
        ({"include_original": "x"}, "include_original='x'; expected a bool"),
        ({"sigmas": [0.0, -1.0]}, "non-negative finite"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"n_threads": 0}, "n_threads=0"),
        ({"weights": 3}, "weights=3; expected None or an instance of str or an instance of os.PathLike"),
    ],
)
def test_bad_parameters_are_refused_in_fit(net, params, message):
    up = MultiHypothesisUpsampler(**{"weights": net, **params})
    with pytest.raises(InvalidParameterError, match=message):
        up.fit()


def test_transform_before_fit_is_refused():
    with pytest.raises(NotFittedError):
        MultiHypothesisUpsampler().transform(probes(1))


def test_probes_must_be_single_images(net):
    up = MultiHypothesisUpsampler(net, scales=(2,), sigmas=1).fit()
    two = HypothesisSet(probes(2), make_meta(2, size=24))
    with pytest.raises(ValueError, match=r"X\[0\] is a HypothesisSet of 2 images; expected one probe image"):
        up.transform([two])
    with pytest.raises(ValueError, match="expected images, not a 2-D array of templates"):
        up.transform(np.zeros((2, 128), np.float32))
    with pytest.raises(ValueError, match=r"X\[0\] has shape \(24, 24, 4\)"):
        up.transform([np.zeros((24, 24, 4), np.uint8)])


def test_sklearn_parameter_conventions(net):
    up = MultiHypothesisUpsampler(net, scales=(2,), sigmas=[0.0, 1.0])
    check_get_params_invariance("MultiHypothesisUpsampler", up)
    check_set_params("MultiHypothesisUpsampler", up)
    check_no_attributes_set_in_init("MultiHypothesisUpsampler", up)
    cloned = clone(up)
    assert cloned.get_params()["sigmas"] == [0.0, 1.0]
    assert all(torch.equal(a, b) for a, b in zip(cloned.weights.state_dict().values(), net.state_dict().values()))
    net.train()
    up.fit()
    assert net.training and up.net_ is not net and not up.net_.training
    assert up.__sklearn_tags__().input_tags.two_d_array is False


def test_speed_benchmark_compares_with_the_raw_forward():
    measure = benchmark("upsampler_speed").measure

    result = measure(n_probes=2, repeats=1, threads=1)
    assert result["hypotheses_per_probe"] == 49
    # the raw forward it times computes the very hypotheses the upsampler returns
    assert result["max_abs_difference"] == 0


def test_sr_quality_metrics_are_ssim_and_psnr():
    quality = benchmark("sr_quality")
    luma, psnr, ssim = quality.luma, quality.psnr, quality.ssim

    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.uniform(0, 255, (48, 48, 3)), (0, 0), 2).astype(np.uint8)
    noisy = np.clip(image + rng.normal(0, 10, image.shape), 0, 255).astype(np.uint8)
    noisier = np.clip(image + rng.normal(0, 30, image.shape), 0, 255).astype(np.uint8)
    assert ssim(luma(image), luma(image)) == pytest.approx(1.0)
    assert 1 > ssim(luma(image), luma(noisy)) > ssim(luma(image), luma(noisier))
    assert psnr(image, noisy) == pytest.approx(28.1, abs=0.5)


def _all_at_once(up, X):
    """Reference: every probe of a size through the network in the batches of one pass over all of them."""
    by_size = {}
    for i, probe in enumerate(X):
        by_size.setdefault(probe.shape[:2], []).append(i)
    out = [None] * len(X)
    with torch.inference_mode():
        for indices in by_size.values():
            lr = np.concatenate([up.blurred_copies(X[i]) for i in indices])
            per_scale = {s: [] for s in up.scales_}
            for start in range(0, len(lr), up.batch_size):
                x = torch.from_numpy(lr[start : start + up.batch_size]).permute(0, 3, 1, 2)
                features = up.net_.features(x)
                for s in up.scales_:
                    y = up.net_.upsample(x, features, s).clamp(0, 1).mul(255).round().to(torch.uint8)
                    per_scale[s] += list(y.permute(0, 2, 3, 1).numpy())
            n = len(up.sigmas_)
            for k, i in enumerate(indices):
                out[i] = [X[i]] + [per_scale[s][k * n + j] for s in up.scales_ for j in range(n)]
    return out


def test_lazy_hypotheses_equal_an_all_at_once_pass(net):
    """Made a block at a time on first read, in any order, the images are those of one pass over all probes."""
    X = probes(7) + probes(5, size=(16, 20), seed=1)
    X = [X[i] for i in np.random.default_rng(3).permutation(len(X))]
    up = MultiHypothesisUpsampler(net, scales=(2, 4), sigmas=3, batch_size=4).fit()
    expected = _all_at_once(up, X)
    sets = up.transform(X)
    for i in [11, 0, 5, 3, 8, 1, 2, 4, 6, 7, 9, 10]:  # read out of order, some twice after a release
        hs = sets[i]
        assert len(hs.data) == len(expected[i]) == 7
        assert all(np.array_equal(a, b) for a, b in zip(hs.data, expected[i]))
        hs.data.release()
        assert np.array_equal(hs.data[-1], expected[i][-1])
    copy = pickle.loads(pickle.dumps(sets[0]))
    assert isinstance(copy.data, list) and all(np.array_equal(a, b) for a, b in zip(copy.data, expected[0]))


def test_templates_hold_a_bounded_number_of_probe_images(net, monkeypatch):
    """While templates are made, only a group's probes (plus one block) have images in memory; none after."""
    import skmitm._templates as templates_module

    X = probes(40, size=(8, 8))
    up = MultiHypothesisUpsampler(net, scales=(2,), sigmas=2, batch_size=4).fit()  # blocks of 2 probes
    sets = up.transform(X)
    blocks = {id(hs.data.block): hs.data.block for hs in sets}.values()

    def live():
        return sum(images is not None for block in blocks for images in block.images)

    peaks = []
    compute = templates_module.TemplateExtractor._compute

    def spy(self, images, bar=None):
        peaks.append(live())
        return compute(self, images, bar)

    monkeypatch.setattr(templates_module, "_STREAM_IMAGES", 9)  # groups of 3 probes of 3 hypotheses
    monkeypatch.setattr(templates_module.TemplateExtractor, "_compute", spy)
    out = TemplateExtractor(TinyNet(), input_size=8).fit().transform(sets)
    assert len(out) == 40 and len(peaks) == 14
    assert max(peaks) <= 3 + 1  # a group of 3 probes, and the rest of the block its last probe shares
    assert live() == 0


def test_pipeline_scores_do_not_change_when_probes_stream(net, monkeypatch):
    """Scores from streamed probes equal those from probes super-resolved all at once, held, then scored."""
    import skmitm._templates as templates_module

    rng = np.random.default_rng(5)
    gallery = [rng.integers(0, 256, (48, 48, 3), dtype=np.uint8) for _ in range(6)]
    subjects = [0, 1, 2, 0, 1, 2]
    X = probes(24, size=(12, 12))
    pipe = Pipeline([
        ("upsample", MultiHypothesisUpsampler(net, scales=(2, 4), sigmas=3, batch_size=4)),
        ("templates", TemplateExtractor(TinyNet(), input_size=16)),
        ("identify", FusedNearestNeighborIdentifier("T_concat", similarity="mean-centred")),
    ]).fit(gallery, subjects)
    up, extractor, identifier = (step for _, step in pipe.steps)
    held = [HypothesisSet(images, hs.meta) for images, hs in zip(_all_at_once(up, X), up.transform(X))]
    expected = identifier.decision_function(extractor.transform(held))
    monkeypatch.setattr(templates_module, "_STREAM_IMAGES", 10)
    streamed = pipe.decision_function(X)
    assert np.isfinite(expected).all() and np.array_equal(streamed, expected)


def test_distinct_copies_index_every_blurred_copy(net):
    up = MultiHypothesisUpsampler(net, scales=(2,), sigmas=[0.0, 0.1, 0.5, 0.5, 1.0]).fit()
    X = probes(2)
    X.append(X[0].copy())  # a repeated probe still gets copies of its own
    copies, rows = up.distinct_copies(X)
    assert rows.shape == (3, 5)
    for k, probe in enumerate(X):
        expected = up.blurred_copies(probe)
        for j in range(5):
            assert np.array_equal(copies[rows[k, j]], expected[j])
    # Per probe: sigma 0 and 0.1 (which blurs nothing) are one copy, 0.5 listed twice is one.
    assert rows.tolist() == [[0, 0, 1, 1, 2], [3, 3, 4, 4, 5], [6, 6, 7, 7, 8]]
    assert copies.shape == (9, 24, 24, 3) and copies.dtype == np.float32


def test_sr_variants_labels_its_weights():
    parse = benchmark("sr_variants").parse_weights
    assert parse("realistic") == ("realistic", "realistic")
    assert parse("runs/a/face_edsr_identity.json") == ("identity", "runs/a/face_edsr_identity.json")
    assert parse("longer=runs/b/face_edsr_realistic.json") == ("longer", "runs/b/face_edsr_realistic.json")
