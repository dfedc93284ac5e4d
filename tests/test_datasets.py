"""LFW-style folders, scikit-learn's fetcher as fallback, and the public benchmark builder."""

import cv2
import numpy as np
import pytest

from skmitm import datasets
from skmitm.datasets import LFW_CROP, LFW_CROPS, degrade_probe, load_lfw_folder, make_cross_resolution_benchmark

from conftest import benchmark


def _folder(root, counts, seed=0):
    rng = np.random.default_rng(seed)
    for name, n in counts.items():
        (root / name).mkdir(parents=True)
        for k in range(1, n + 1):
            img = rng.integers(0, 256, (250, 250, 3), dtype=np.uint8)
            img[55:181, 62:188] = 30 * k  # the face box, so the crop is recognisable
            cv2.imwrite(str(root / name / f"{name}_{k:04d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 100])
    (root / "README.txt").write_text("not a person")
    return root


def test_loader_filters_crops_and_orders(tmp_path):
    root = _folder(tmp_path, {"Zoe_Z": 6, "Adam_A": 2, "Mia_M": 5})
    lfw = load_lfw_folder(root, min_images_per_subject=5, max_images_per_subject=5)
    assert sorted(set(lfw.subjects)) == ["Mia_M", "Zoe_Z"]
    assert lfw.subjects.tolist() == ["Mia_M"] * 5 + ["Zoe_Z"] * 5
    assert lfw.image_numbers.tolist() == [1, 2, 3, 4, 5] * 2
    x0, y0, x1, y1 = LFW_CROP
    assert lfw.images[0].shape == (y1 - y0, x1 - x0, 3) == (126, 126, 3)
    # the face box was painted 30*k: the crop holds exactly it
    assert abs(int(np.median(lfw.images[2])) - 90) <= 2
    full = load_lfw_folder(root, crop=False)
    assert full.images[0].shape == (250, 250, 3) and len(full.images) == 13


def test_loader_named_and_explicit_crops(tmp_path):
    root = _folder(tmp_path, {"Mia_M": 2})
    spec = load_lfw_folder(root, crop="spec")
    assert spec.crop == LFW_CROP and spec.images[0].shape == (126, 126, 3)
    dlib = load_lfw_folder(root, crop="dlib")
    x0, y0, x1, y1 = LFW_CROPS["dlib"]
    assert dlib.crop == LFW_CROPS["dlib"] and dlib.images[0].shape == (y1 - y0, x1 - x0, 3) == (116, 116, 3)
    full = load_lfw_folder(root, crop=False)
    np.testing.assert_array_equal(dlib.images[1], full.images[1][y0:y1, x0:x1])
    box = load_lfw_folder(root, crop=(10, 20, 40, 60))
    assert box.images[0].shape == (40, 30, 3) and box.crop == (10, 20, 40, 60)
    assert full.crop is None
    bench = make_cross_resolution_benchmark(root, n_probes_per_subject=1, crop="dlib")
    assert bench.crop == LFW_CROPS["dlib"] and bench.gallery_images[0].shape == (116, 116, 3)
    for bad, match in [("tight", "expected one of"), ((1, 2, 3), "box of 4 integers"), ((5, 5, 5, 9), "x0 < x1"),
                       ((0, 0, 300, 300), "at least 300×300")]:
        with pytest.raises(ValueError, match=match):
            load_lfw_folder(root, crop=bad)


def test_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_lfw_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no NAME/NAME_NNNN.jpg"):
        load_lfw_folder(tmp_path / "empty")
    root = _folder(tmp_path / "few", {"Ann_A": 2})
    with pytest.raises(ValueError, match="at least 5 images"):
        load_lfw_folder(root, min_images_per_subject=5)
    with pytest.raises(ValueError, match="min_images_per_subject=0"):
        load_lfw_folder(root, min_images_per_subject=0)


def test_without_a_folder_uses_sklearn_fetcher(tmp_path, monkeypatch):
    """No folder given: scikit-learn's fetcher is asked once, then its cached folder is read."""
    calls = []

    def fake_fetch(data_home=None, download_if_missing=True, **kwargs):
        calls.append(data_home)
        _folder(tmp_path / "lfw_home" / "lfw_funneled", {"Bea_B": 3})

    import sklearn.datasets

    monkeypatch.setattr(sklearn.datasets, "fetch_lfw_people", fake_fetch)
    lfw = load_lfw_folder(data_home=tmp_path)
    assert calls == [tmp_path] and lfw.subjects.tolist() == ["Bea_B"] * 3
    load_lfw_folder(data_home=tmp_path)  # cached now: no second fetch
    assert len(calls) == 1


def test_degrade_probe_is_seeded_and_sized():
    face = np.random.default_rng(0).integers(0, 256, (126, 126, 3), dtype=np.uint8)
    a = degrade_probe(face, size=24, rng=np.random.default_rng(5))
    b = degrade_probe(face, size=24, rng=np.random.default_rng(5))
    c = degrade_probe(face, size=24, rng=np.random.default_rng(6))
    assert a.shape == (24, 24, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert degrade_probe(face, size=(29, 22), severity="harsh", rng=0).shape == (29, 22, 3)
    with pytest.raises(ValueError, match="severity='foggy'"):
        degrade_probe(face, severity="foggy")


@pytest.mark.parametrize("vertical", [True, False], ids=["vertical", "horizontal"])
@pytest.mark.parametrize("sigma", [0.6, 2.5])
def test_degrade_probe_blurs_before_area_downsampling(sigma, vertical):
    """With noise off and JPEG at its best, a probe is the blurred face averaged over 4×4 cells."""
    from scipy.ndimage import gaussian_filter

    # Grey stripes 4 px wide: area downsampling by 4 alone keeps them at full contrast,
    # blurring first washes them out; so the probe shows whether (and how much) blur was
    # applied, across the stripes in either direction.
    stripes = np.tile(np.where(np.arange(96) // 4 % 2 == 0, 230.0, 30.0), (96, 1))
    face = np.repeat((stripes if vertical else stripes.T)[..., None], 3, axis=2).astype(np.uint8)
    settings = {"blur_sigma": (sigma, sigma), "noise_std": (0.0, 0.0), "jpeg_quality": (100, 100)}
    probe = degrade_probe(face, size=24, severity=settings, rng=0).astype(float)
    blurred = gaussian_filter(face.astype(float), sigma=(sigma, sigma, 0), mode="mirror")
    expected = blurred.reshape(24, 4, 24, 4, 3).mean(axis=(1, 3))
    assert np.abs(probe - expected).mean() < 3 and np.abs(probe - expected).max() < 8


def test_degrade_probe_compresses_at_the_drawn_quality():
    face = cv2.GaussianBlur(np.random.default_rng(3).integers(0, 256, (96, 96, 3), dtype=np.uint8), (0, 0), 2)
    settings = {"blur_sigma": (0.5, 0.5), "noise_std": (0.0, 0.0)}
    best = degrade_probe(face, size=48, severity={**settings, "jpeg_quality": (100, 100)}, rng=0).astype(float)
    worst = degrade_probe(face, size=48, severity={**settings, "jpeg_quality": (10, 10)}, rng=0).astype(float)
    assert np.abs(worst - best).mean() > 2  # quality 10 blocks and smears what quality 100 keeps
    assert degrade_probe(face, rng=0).shape == (24, 24, 3)  # the default size


def test_harsh_probes_are_further_from_the_truth():
    """More blur, noise and compression: harsh probes differ more from a clean downsampling."""
    rng = np.random.default_rng(0)
    faces = [cv2.GaussianBlur(rng.integers(0, 256, (126, 126, 3), dtype=np.uint8), (0, 0), 3) for _ in range(20)]
    clean = [cv2.resize(f, (24, 24), interpolation=cv2.INTER_AREA).astype(float) for f in faces]
    err = {}
    for severity in ("moderate", "harsh"):
        probes = [degrade_probe(f, size=24, severity=severity, rng=i) for i, f in enumerate(faces)]
        err[severity] = np.mean([np.abs(p - c).mean() for p, c in zip(probes, clean)])
    assert err["harsh"] > err["moderate"] > 0


def test_benchmark_builder(tmp_path):
    root = _folder(tmp_path, {"Ann_A": 5, "Bob_B": 7, "Cy_C": 3})
    bench = make_cross_resolution_benchmark(root, probe_size=16, severity="harsh", random_state=3)
    assert bench.gallery_subjects.tolist() == ["Ann_A", "Bob_B"]
    assert bench.probe_subjects.tolist() == ["Ann_A"] * 4 + ["Bob_B"] * 4
    assert all(p.shape == (16, 16, 3) for p in bench.probe_images)
    assert all(h.shape == (126, 126, 3) for h in bench.hr_probe_images)
    again = make_cross_resolution_benchmark(root, probe_size=16, severity="harsh", random_state=3)
    assert all(np.array_equal(a, b) for a, b in zip(bench.probe_images, again.probe_images))
    # probe i is rebuilt alone from (seed, i)
    alone = degrade_probe(bench.hr_probe_images[5], size=16, severity="harsh", rng=np.random.default_rng([3, 5]))
    np.testing.assert_array_equal(alone, bench.probe_images[5])
    with pytest.raises(ValueError, match="random_state=None"):
        make_cross_resolution_benchmark(root, random_state=None)


def test_real_lfw_benchmark_shape(lfw_dir):
    lfw = load_lfw_folder(lfw_dir, min_images_per_subject=5, max_images_per_subject=5)
    bench = make_cross_resolution_benchmark(lfw, probe_size=24)
    assert len(bench.gallery_subjects) == 423 and len(bench.probe_subjects) == 1692
    assert datasets.SEVERITIES["moderate"]["jpeg_quality"] == (60, 90)


def test_dlib_box_is_where_dlib_chips_fall(lfw_dir):
    """LFW_CROPS['dlib'] is the mean box of dlib's chips, and it serves dlib's network better than the SPEC box."""
    run = benchmark("dlib_face_box").run

    r = run(lfw=lfw_dir, box_people=40, subjects=20)
    assert r["n_found"] >= 35
    np.testing.assert_allclose(r["mean_box"], LFW_CROPS["dlib"], atol=4)
    assert r["rank1"]["dlib box"] > r["rank1"]["SPEC box"] + 10


def _fixed(sigma=0.5, noise=0.0, quality=100):
    return {"blur_sigma": (sigma, sigma), "noise_std": (noise, noise), "jpeg_quality": (quality, quality)}


def test_degrade_probe_keeps_the_colour_order():
    # a flat orange face: red 200, green 100, blue 30 (RGB); blur, area downsampling and a best-quality JPEG
    # keep a flat colour, so the probe is the same orange, channel for channel
    face = np.empty((96, 96, 3), np.uint8)
    face[...] = (200, 100, 30)
    probe = degrade_probe(face, size=24, severity=_fixed(), rng=0).reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(probe, [200, 100, 30], atol=3)


def test_degrade_probe_noise_has_the_drawn_spread_around_the_face():
    """Mid-grey face, noise of standard deviation 20 at JPEG quality 100: the probe scatters around 128."""
    face = np.full((384, 384, 3), 128, np.uint8)
    probe = degrade_probe(face, size=96, severity=_fixed(noise=20.0), rng=1).astype(float)
    assert abs(probe.mean() - 128) < 0.5  # zero-mean noise: 27,648 values put the mean within about 0.12
    # JPEG's halved colour resolution averages away part of the channel noise (the spread is about 14
    # here), never adds to it; a noise of deviation 1, or none, would leave it near 1 or 0
    assert 10 < probe.std() < 20.5
    assert np.array_equal(degrade_probe(face, size=96, severity=_fixed(), rng=1), np.full((96, 96, 3), 128))


def test_degrade_probe_clips_noise_at_black_and_white():
    """Noise past 0 or 255 is clipped, not wrapped round: a black face stays dark, a white one bright."""
    black, white = np.zeros((96, 96, 3), np.uint8), np.full((96, 96, 3), 255, np.uint8)
    assert np.array_equal(degrade_probe(black, size=24, severity=_fixed(), rng=0), np.zeros((24, 24, 3)))
    assert np.array_equal(degrade_probe(white, size=24, severity=_fixed(), rng=0), np.full((24, 24, 3), 255))
    # about half the noisy values fall below 0 (above 255): clipped, the mean stays within a noise
    # deviation of the edge (|N(0, 10)| averages 4); wrapped round, those values would land at the other end
    assert degrade_probe(black, size=48, severity=_fixed(noise=10.0), rng=0).mean() < 10
    assert degrade_probe(white, size=48, severity=_fixed(noise=10.0), rng=0).mean() > 245


def test_degrade_probe_draws_jpeg_quality_from_both_ends_inclusive():
    """Quality drawn from (10, 11): each probe is the face JPEG-compressed at 10 or at 11, never 12, and both occur."""
    face = cv2.GaussianBlur(np.random.default_rng(3).integers(0, 256, (96, 96, 3), dtype=np.uint8), (0, 0), 2)
    small = cv2.resize(cv2.GaussianBlur(face, (0, 0), 0.5), (48, 48), interpolation=cv2.INTER_AREA)

    def jpeg(q):  # a plain RGB round trip through OpenCV's JPEG at quality q
        _, data = cv2.imencode(".jpg", small[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
        return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]

    by_quality = {q: jpeg(q) for q in (10, 11, 12)}
    assert not np.array_equal(by_quality[10], by_quality[11]) and not np.array_equal(by_quality[11], by_quality[12])
    seen = []
    for seed in range(16):
        probe = degrade_probe(face, size=48, severity={**_fixed(), "jpeg_quality": (10, 11)}, rng=seed)
        seen.append([q for q, image in by_quality.items() if np.array_equal(probe, image)])
    assert all(len(q) == 1 and q[0] in (10, 11) for q in seen) and {q[0] for q in seen} == {10, 11}


def test_degrade_probe_says_when_jpeg_encoding_fails(monkeypatch):
    monkeypatch.setattr(cv2, "imencode", lambda *args, **kwargs: (False, None))
    with pytest.raises(RuntimeError) as error:
        degrade_probe(np.zeros((32, 32, 3), np.uint8), size=16, rng=0)
    assert str(error.value) == "OpenCV failed to JPEG-encode a probe"


def test_other_camera_is_seeded_keeps_colours_and_blurs_vertically():
    rng = np.random.default_rng(40)
    face = cv2.resize(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), (126, 126), interpolation=cv2.INTER_CUBIC)
    a = degrade_probe(face, size=(20, 16), severity="other-camera", rng=3)
    assert a.shape == (20, 16, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, degrade_probe(face, size=(20, 16), severity="other-camera", rng=3))
    assert not np.array_equal(a, degrade_probe(face, size=(20, 16), severity="other-camera", rng=4))
    # The Bayer mosaic is demosaiced the right way round: a red face stays red, a blue one blue.
    for channel in (0, 2):
        flat = np.zeros((126, 126, 3), np.uint8)
        flat[..., channel] = 200
        means = degrade_probe(flat, size=24, severity="other-camera", rng=0).astype(float).mean(axis=(0, 1))
        assert means[channel] > 150 and np.delete(means, channel).max() < 30
    # Motion is vertical: the edges of horizontal stripes are smeared, those of vertical ones survive.
    stripes = np.zeros((120, 120, 3), np.uint8)
    stripes[(np.arange(120) // 30) % 2 == 1] = 255
    settings = {"motion_length": (11, 11), "photons": (1e6, 1e6), "jpeg_quality": (95, 95)}
    horizontal = degrade_probe(stripes, size=120, severity=settings, rng=0).astype(float)
    vertical = degrade_probe(stripes.transpose(1, 0, 2).copy(), size=120, severity=settings, rng=0).astype(float)
    edge_rows = horizontal[25:36, 60, 1]  # across a horizontal edge: a ramp 11 px long
    edge_cols = vertical[60, 25:36, 1]  # across a vertical edge: still a step
    assert np.sum((edge_rows > 40) & (edge_rows < 215)) >= 8 and np.sum((edge_cols > 40) & (edge_cols < 215)) <= 2
    # Shot noise: fewer photons, noisier
    grey = np.full((126, 126, 3), 128, np.uint8)
    spread = [degrade_probe(grey, size=32, severity={**settings, "photons": (p, p), "motion_length": (1, 1)},
                            rng=1).astype(float).std() for p in (20, 2000)]
    assert spread[0] > 2 * spread[1]
