"""Tests of the gallery degradations (Table 1), chains (Eq. 1), resolution matching and GalleryDegrader."""

import pickle
import warnings

import cv2
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_set_params,
)

from skmitm import (
    DEGRADATIONS,
    GalleryDegrader,
    HypothesisSet,
    apply_chain,
    brightness_jitter,
    color_jitter,
    degradation_chains,
    disk_blur,
    down_up_rescale,
    gaussian_blur,
    gaussian_noise,
    match_resolution,
    motion_blur,
    patch_shuffle,
    random_perspective,
    random_shear,
    speckle_noise,
)
from skmitm._degradation import _disk_kernel, _gaussian_kernel, _halve, _motion_kernel
from skmitm._param_validation import InvalidParameterError

from conftest import benchmark

RANDOM = ["gaussian_noise", "speckle_noise", "color_jitter", "brightness_jitter",
          "random_perspective", "random_shear", "down_up_rescale", "patch_shuffle"]
DETERMINISTIC = ["motion_blur", "gaussian_blur", "disk_blur"]


def _face(h=126, w=126, seed=0):
    """A smooth, colourful stand-in for a face: random noise blurred into blobs."""
    noise = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    blobs = cv2.GaussianBlur(noise, (0, 0), 2.0).astype(float)
    stretched = (blobs - blobs.min()) / max(np.ptp(blobs), 1) * 255
    return stretched.round().astype(np.uint8)


def _same_meta(a, b):
    # Byte equality, because the NaN sigmas of gallery hypotheses never compare equal.
    return a.shape == b.shape and a.tobytes() == b.tobytes()


def _materialise(hs):
    return [np.array(im) for im in hs.data]


# --------------------------------------------------------------- the eleven functions


def test_registry_holds_table_1_in_order():
    assert list(DEGRADATIONS) == [
        "gaussian_noise", "speckle_noise", "color_jitter", "brightness_jitter", "motion_blur",
        "gaussian_blur", "disk_blur", "random_perspective", "random_shear", "down_up_rescale", "patch_shuffle",
    ]
    assert sorted(RANDOM + DETERMINISTIC) == sorted(DEGRADATIONS)


@pytest.mark.parametrize("name", list(DEGRADATIONS))
@pytest.mark.parametrize("shape", [(126, 126, 3), (63, 40, 3), (5, 3, 3), (1, 1, 3)])
def test_uint8_in_uint8_out_shape_kept(name, shape):
    image = _face(*shape[:2])
    out = DEGRADATIONS[name](image, np.random.default_rng(1))
    assert out.dtype == np.uint8 and out.shape == shape
    assert out is not image


@pytest.mark.parametrize("name", RANDOM)
def test_random_degradations_follow_the_generator(name):
    image = _face(40, 40)
    first = DEGRADATIONS[name](image, np.random.default_rng(7))
    again = DEGRADATIONS[name](image, np.random.default_rng(7))
    other = DEGRADATIONS[name](image, np.random.default_rng(8))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_blurs_ignore_the_generator_and_keep_flat_images(name):
    image = _face(40, 40)
    assert np.array_equal(DEGRADATIONS[name](image, np.random.default_rng(1)), DEGRADATIONS[name](image, 2))
    flat = np.full((30, 30, 3), 91, np.uint8)
    assert (DEGRADATIONS[name](flat) == 91).all()


def test_gaussian_noise_has_the_table_variance():
    grey = np.full((256, 256, 3), 128, np.uint8)
    diff = (gaussian_noise(grey, np.random.default_rng(0)).astype(float) - 128) / 255
    assert diff.var() == pytest.approx(0.02, abs=0.0008)
    assert abs(diff.mean()) < 0.002
    shifted = (gaussian_noise(grey, np.random.default_rng(0), mean=0.1, var=0.001).astype(float) - 128) / 255
    assert shifted.mean() == pytest.approx(0.1, abs=0.002)
    assert shifted.var() == pytest.approx(0.001, abs=0.0002)


def test_speckle_noise_is_multiplicative_with_the_table_variance():
    image = np.full((256, 256, 3), 100, np.uint8)
    image[:128] = 0
    out = speckle_noise(image, np.random.default_rng(0)).astype(float)
    assert (out[:128] == 0).all()
    ratio = out[128:] / 100 - 1
    assert ratio.var() == pytest.approx(0.02, abs=0.0008)
    assert abs(ratio.mean()) < 0.003


def test_blur_kernels_sum_to_one():
    assert _motion_kernel(20).shape == (1, 20)
    assert _gaussian_kernel(1.1, 5).shape == (5, 5)
    disk = _disk_kernel(5)
    assert disk.shape == (11, 11)
    for kernel in (_motion_kernel(20), _gaussian_kernel(1.1, 5), disk):
        assert kernel.sum() == pytest.approx(1, abs=1e-5)
        assert (kernel >= 0).all()
    # Centre cells lie fully inside the disk, corners fully outside.
    assert disk[5, 5] == disk[5, 1] > 0 and disk[0, 0] == 0
    assert np.allclose(disk, disk.T) and np.allclose(disk, disk[::-1])


def test_motion_blur_changes_rows_only_over_its_window():
    image = _face(20, 60)
    out = motion_blur(image)
    for r in (0, 7, 19):
        assert np.array_equal(out[r : r + 1], motion_blur(image[r : r + 1]))
    rows_constant = np.repeat(image[:, :1], 60, axis=1)
    assert np.array_equal(motion_blur(rows_constant), rows_constant)
    dot = np.zeros((3, 60, 3), np.uint8)
    dot[1, 30] = 200
    spread = motion_blur(dot)[1, :, 0]
    assert np.count_nonzero(spread) == 20 and set(spread[spread > 0]) == {10}
    assert np.count_nonzero(motion_blur(dot, window=5)[1, :, 0]) == 5


def test_gaussian_and_disk_blur_spread_an_impulse_over_their_support():
    dot = np.zeros((21, 21, 3), np.uint8)
    dot[10, 10] = 250
    gauss = gaussian_blur(dot)[..., 0]
    assert np.count_nonzero(gauss) == 25 and np.count_nonzero(gauss[8:13, 8:13]) == 25
    assert abs(int(gauss.sum()) - 250) <= 12
    dot[10, 10] = 255
    disk = disk_blur(dot)[..., 0].astype(int)
    rows, cols = np.nonzero(disk)
    assert ((rows - 10) ** 2 + (cols - 10) ** 2).max() <= 5.5**2
    assert disk[10, 10] == disk[10, 6] > 0 and disk[10, 15] < disk[10, 10]


def test_patch_shuffle_keeps_each_patch_pixels_and_the_remainder():
    image = _face(9, 11)
    out = patch_shuffle(image, np.random.default_rng(0), patch_size=2)
    assert not np.array_equal(out, image)
    for r in range(0, 8, 2):
        for c in range(0, 10, 2):
            before = sorted(map(tuple, image[r : r + 2, c : c + 2].reshape(-1, 3)))
            after = sorted(map(tuple, out[r : r + 2, c : c + 2].reshape(-1, 3)))
            assert before == after
    assert np.array_equal(out[8], image[8]) and np.array_equal(out[:, 10], image[:, 10])
    assert np.array_equal(patch_shuffle(image, 0, patch_size=1), image)
    big = patch_shuffle(image, 0, patch_size=4)
    assert sorted(map(tuple, big[:8, :8].reshape(-1, 3))) == sorted(map(tuple, image[:8, :8].reshape(-1, 3)))


def test_geometric_degradations_keep_shape_and_are_identity_at_zero_strength():
    image = _face(50, 40)
    assert np.array_equal(random_perspective(image, 0, distortion=0), image)
    assert np.array_equal(random_shear(image, 0, max_angle=0), image)
    assert np.array_equal(down_up_rescale(image, 0, factor=1), image)
    for out in (random_perspective(image, 0), random_shear(image, 0)):
        assert out.shape == image.shape and not np.array_equal(out, image)
    # Warps move pixels but keep the overall colour content.
    assert abs(random_shear(image, 0).mean() - image.mean()) < 10


def test_down_up_rescale_removes_detail():
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    out = down_up_rescale(image, 0, factor=(3, 3))
    assert np.abs(np.diff(out.astype(int), axis=1)).mean() < 0.5 * np.abs(np.diff(image.astype(int), axis=1)).mean()


def _dot(h, w, x, y):
    """A black image with a bright 3×3 square centred on pixel (x, y)."""
    image = np.zeros((h, w, 3), np.uint8)
    image[y - 1 : y + 2, x - 1 : x + 2] = 255
    return image


def _centroid(image):
    """Brightness-weighted (x, y) centre of an image."""
    weight = image[..., 0].astype(float)
    ys, xs = np.mgrid[: image.shape[0], : image.shape[1]]
    return np.array([(xs * weight).sum(), (ys * weight).sum()]) / weight.sum()


def _homography(src, dst):
    """The 3×3 perspective map taking four points ``src`` to ``dst``, from the textbook 8-unknown system."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        rhs += [u, v]
    return np.append(np.linalg.solve(np.array(rows, float), np.array(rhs, float)), 1.0).reshape(3, 3)


@pytest.mark.parametrize("seed", range(5))
def test_random_shear_keeps_the_image_centre_in_place(seed):
    # 41 rows by 61 columns: the centre is pixel (x=30, y=20), and swapping the axes would move it.
    out = random_shear(_dot(41, 61, 30, 20), seed, max_angle=30)
    np.testing.assert_allclose(_centroid(out), [30, 20], atol=0.25)


@pytest.mark.parametrize("seed", range(4))
def test_random_shear_moves_a_point_by_the_drawn_angles(seed):
    # Angles drawn as documented: horizontal then vertical, U(-max_angle, max_angle) degrees.
    sx, sy = np.tan(np.radians(np.random.default_rng(seed).uniform(-20, 20, 2)))
    out = random_shear(_dot(41, 61, 40, 14), seed, max_angle=20)
    offset = np.array([40 - 30, 14 - 20])
    expected = np.array([30, 20]) + np.array([[1, sx], [sy, 1]]) @ offset
    np.testing.assert_allclose(_centroid(out), expected, atol=0.3)


@pytest.mark.parametrize("seed", range(4))
def test_random_perspective_moves_corners_within_the_documented_range(seed):
    h, w, distortion = 60, 80, 0.4
    # Corner offsets drawn as documented: each corner (clockwise from top left) moves by
    # U(-1, 1) × distortion / 2 of the width horizontally and of the height vertically.
    moves = np.random.default_rng(seed).uniform(-1, 1, (4, 2)) * distortion / 2 * np.array([w, h])
    corners = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
    warp = _homography(corners, corners + moves)
    for x, y in [(40, 30), (20, 15), (60, 45)]:
        u, v, t = warp @ [x, y, 1.0]
        out = random_perspective(_dot(h, w, x, y), seed, distortion=distortion)
        np.testing.assert_allclose(_centroid(out), [u / t, v / t], atol=0.4)


@pytest.mark.parametrize("factor", [2, 4])
def test_down_up_rescale_averages_areas(factor):
    # A one-pixel checkerboard averages to mid-grey over every 2×2 (or 4×4) cell;
    # picking one pixel per cell (nearest) would give black or white instead.
    checker = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    image = np.repeat(checker[..., None], 3, axis=2)
    out = down_up_rescale(image, 0, factor=(factor, factor))
    assert np.abs(out.astype(float) - 127.5).max() <= 1


@pytest.mark.parametrize("seed", range(4))
def test_brightness_jitter_pivots_contrast_on_the_mean_luma_of_the_brightened_image(seed):
    # Channels of very different levels, so that the mean luma (ITU-R 601 weights) is not the mean of RGB.
    rng = np.random.default_rng(100 + seed)
    image = np.stack([rng.integers(150, 230, (20, 20)), rng.integers(20, 100, (20, 20)),
                      rng.integers(60, 140, (20, 20))], axis=-1).astype(np.uint8)
    # Factors drawn as documented: brightness first, then contrast.
    b, c = np.random.default_rng(seed).uniform(0.6, 1.4, 2)
    bright = b * image.astype(float)
    luma = (bright @ [0.299, 0.587, 0.114]).mean()
    expected = np.clip(c * bright + (1 - c) * luma, 0, 255)
    out = brightness_jitter(image, np.random.default_rng(seed))
    assert np.abs(out - expected).max() <= 1.0


def test_colour_and_brightness_jitter():
    grey = np.full((16, 16, 3), 120, np.uint8)
    assert np.array_equal(color_jitter(grey, 3), grey)
    image = _face(32, 32)
    assert np.abs(color_jitter(image, 0, hue=0, saturation=0).astype(int) - image).max() <= 8
    shifted = color_jitter(image, 0, hue=0.5, saturation=0)
    assert np.abs(shifted.astype(int) - image).mean() > 5
    out = brightness_jitter(image, np.random.default_rng(4))
    # Brightness and contrast act through one increasing map of grey levels.
    flat_in, flat_out = image.ravel(), out.ravel()
    order = np.argsort(flat_in, kind="stable")
    assert (np.diff(flat_out[order].astype(int)) >= 0).all()
    assert not np.array_equal(out, image)


@pytest.mark.parametrize("name", list(DEGRADATIONS))
def test_bad_images_raise_clear_errors(name):
    func = DEGRADATIONS[name]
    with pytest.raises(TypeError, match=r"image has dtype float64; expected H×W×3 RGB uint8"):
        func(np.zeros((8, 8, 3)))
    with pytest.raises(ValueError, match=r"image has shape \(8, 8\); expected H×W×3 RGB uint8"):
        func(np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"shape \(8, 8, 4\)"):
        func(np.zeros((8, 8, 4), np.uint8))
    with pytest.raises(ValueError, match="non-empty"):
        func(np.zeros((0, 8, 3), np.uint8))


def test_bad_parameters_raise_clear_errors():
    image = _face(8, 8)
    with pytest.raises(ValueError, match="var=-1"):
        gaussian_noise(image, var=-1)
    with pytest.raises(ValueError, match="window=4; expected an odd"):
        gaussian_blur(image, window=4)
    with pytest.raises(ValueError, match="window=0"):
        motion_blur(image, window=0)
    with pytest.raises(TypeError, match="window=2.5"):
        motion_blur(image, window=2.5)
    with pytest.raises(ValueError, match="radius=0"):
        disk_blur(image, radius=0)
    with pytest.raises(ValueError, match="hue=0.7"):
        color_jitter(image, hue=0.7)
    with pytest.raises(ValueError, match="max_angle=90"):
        random_shear(image, max_angle=90)
    with pytest.raises(ValueError, match="factor=0.5"):
        down_up_rescale(image, factor=0.5)
    with pytest.raises(TypeError, match="factor='x'"):
        down_up_rescale(image, factor="x")


# --------------------------------------------------------------- chains


def test_chain_sets_count_every_path():
    assert len(degradation_chains()) == 11 + 11**2 + 11**3 == 1463
    assert len(degradation_chains(allow_repeats=False)) == 11 + 11 * 10 + 11 * 10 * 9
    chains = degradation_chains(["motion_blur", "patch_shuffle", "disk_blur"], lengths=(3, 1))
    assert len(chains) == 3 + 27 and len(set(chains)) == 30
    assert [len(c) for c in chains] == [1] * 3 + [3] * 27
    assert all(len(set(c)) == len(c) for c in degradation_chains(allow_repeats=False))


def test_chain_parameters_are_checked():
    with pytest.raises(ValueError, match="unknown degradation 'jpeg'"):
        degradation_chains(["motion_blur", "jpeg"])
    with pytest.raises(ValueError, match="chain length 0"):
        degradation_chains(lengths=(0, 1))
    with pytest.raises(TypeError, match="expected a sequence of chain lengths"):
        degradation_chains(lengths=3)
    with pytest.raises(TypeError, match="single|sequence of degradation names"):
        degradation_chains("motion_blur")
    with pytest.raises(ValueError, match="empty"):
        degradation_chains([])
    with pytest.raises(ValueError, match="unknown degradation 'blur'"):
        apply_chain(_face(8, 8), "motion_blur>blur")
    with pytest.raises(ValueError, match="non-empty"):
        apply_chain(_face(8, 8), ())


def test_apply_chain_downsamples_bicubically_between_links():
    face = _face()
    assert [apply_chain(face, ["gaussian_noise"] * k, 0).shape for k in (1, 2, 3)] == [
        (126, 126, 3), (63, 63, 3), (32, 32, 3)
    ]
    expected = disk_blur(_halve(motion_blur(_halve(gaussian_blur(face)))))
    assert np.array_equal(apply_chain(face, ("gaussian_blur", "motion_blur", "disk_blur")), expected)
    assert np.array_equal(_halve(face), cv2.resize(face, (63, 63), interpolation=cv2.INTER_CUBIC))
    assert np.array_equal(apply_chain(face, "gaussian_noise>random_shear", 5),
                          apply_chain(face, ("gaussian_noise", "random_shear"), 5))
    assert np.array_equal(apply_chain(face, ["motion_blur"], params={"motion_blur": {"window": 3}}),
                          motion_blur(face, window=3))


def test_match_resolution():
    image = _face(126, 100)
    assert match_resolution(image, 48).shape == (48, 38, 3)
    assert match_resolution(image, (24, 24)).shape == (24, 24, 3)
    assert np.array_equal(match_resolution(image, 48), cv2.resize(image, (38, 48), interpolation=cv2.INTER_AREA))
    assert np.array_equal(match_resolution(image, 192), cv2.resize(image, (152, 192), interpolation=cv2.INTER_CUBIC))
    with pytest.raises(TypeError, match="size="):
        match_resolution(image, 2.5)
    with pytest.raises(ValueError, match="size=0"):
        match_resolution(image, 0)


# --------------------------------------------------------------- GalleryDegrader


def test_fit_transform_layout_and_metadata():
    gallery = [_face(seed=0), _face(seed=1)]
    degrader = GalleryDegrader(24, n_chains=10, random_state=0)
    sets = degrader.fit_transform(gallery)
    assert len(sets) == 2 and len(degrader.chains_) == 10
    for hs, image in zip(sets, gallery):
        assert len(hs) == 1 + 3 + 10 * 3 and not hs.has_templates
        meta = hs.meta
        assert meta[0]["kind"] == "original" and meta[0]["scale"] == 1 and meta[0]["size"] == 0
        assert np.array_equal(hs.data[0], image)
        assert meta["kind"][1:4].tolist() == ["matched"] * 3 and (meta["kind"][4:] == "degraded").all()
        assert meta["scale"][1:].tolist() == [2.0, 4.0, 8.0] * 11
        assert (meta["size"][1:] == 24).all()
        assert meta["chain"][4::3].tolist() == [">".join(c) for c in degrader.chains_]
        assert [im.shape for im in hs.data[1:7]] == [(48, 48, 3), (96, 96, 3), (192, 192, 3)] * 2
    assert np.array_equal(sets[0].data[2], match_resolution(gallery[0], 96))
    # Each image gets its own random degradations.
    assert not np.array_equal(sets[0].data[4], match_resolution(sets[1].data[4], 48))


def test_degraded_hypotheses_are_eq_1_then_resolution_matched():
    face = _face()
    names = ["gaussian_blur", "motion_blur", "disk_blur"]
    degrader = GalleryDegrader(24, degradations=names, n_chains=None, random_state=0)
    hs = degrader.fit_transform([face])[0]
    assert sorted(degrader.chains_) == sorted(degradation_chains(names)) and len(degrader.chains_) == 39
    for i, chain in enumerate(degrader.chains_):
        chained = apply_chain(face, chain)
        for j, scale in enumerate((2, 4, 8)):
            k = 4 + 3 * i + j
            assert hs.meta["chain"][k] == ">".join(chain) and hs.meta["scale"][k] == scale
            assert np.array_equal(hs.data[k], match_resolution(chained, 24 * scale))


def test_fit_then_transform_passes_probes_through_unlike_fit_transform():
    gallery = np.stack([_face(seed=s) for s in range(3)])
    degrader = GalleryDegrader(n_chains=4, random_state=0)
    passed = degrader.fit(gallery).transform(gallery)
    assert [len(hs) for hs in passed] == [1, 1, 1]
    assert all(np.array_equal(hs.data[0], im) for hs, im in zip(passed, gallery))
    assert [hs.meta["kind"][0] for hs in passed] == ["original"] * 3
    assert [len(hs) for hs in clone(degrader).fit_transform(gallery)] == [1 + 3 + 4 * 3] * 3
    sets = [HypothesisSet.from_image(im) for im in gallery]
    assert all(a is b for a, b in zip(degrader.transform(sets), sets))
    with pytest.raises(Exception, match="not fitted"):
        GalleryDegrader().transform(gallery)


def test_same_random_state_same_output_and_subsets_nest():
    gallery = [_face(seed=0), _face(60, 50, seed=1)]
    a = GalleryDegrader(n_chains=64, random_state=3).fit_transform(gallery)
    b = GalleryDegrader(n_chains=64, random_state=3).fit_transform(gallery)
    small = GalleryDegrader(n_chains=16, random_state=3).fit_transform(gallery)
    for x, y, s in zip(a, b, small):
        assert _same_meta(x.meta, y.meta)
        assert all(np.array_equal(p, q) for p, q in zip(_materialise(x), _materialise(y)))
        n = len(s)
        assert _same_meta(s.meta, x.meta[:n])
        assert all(np.array_equal(p, q) for p, q in zip(_materialise(s), _materialise(x.select(np.arange(n)))))
    other = GalleryDegrader(n_chains=64, random_state=4)
    other.fit(gallery)
    assert other.chains_ != GalleryDegrader(n_chains=64, random_state=3).fit(gallery).chains_
    generator = GalleryDegrader(n_chains=8, random_state=np.random.default_rng(1)).fit(gallery).chains_
    assert generator == GalleryDegrader(n_chains=8, random_state=np.random.default_rng(1)).fit(gallery).chains_


def test_size_buckets_non_square_sizes_and_options():
    face = _face(126, 100)
    hs = GalleryDegrader([16, (24, 20)], scales=(2, 4), n_chains=2, random_state=0).fit_transform([face])[0]
    assert len(hs) == 1 + 2 * 2 * 3
    assert hs.meta["size"][1:5].tolist() == [16, 16, 24, 24]
    assert [im.shape[:2] for im in hs.data[1:5]] == [(32, 25), (64, 51), (48, 40), (96, 80)]
    only_matched = GalleryDegrader(n_chains=0, random_state=0).fit_transform([face])[0]
    assert only_matched.meta["kind"].tolist() == ["original"] + ["matched"] * 3
    no_matched = GalleryDegrader(n_chains=3, include_matched=False, random_state=0).fit_transform([face])[0]
    assert no_matched.meta["kind"].tolist() == ["original"] + ["degraded"] * 9
    everything = GalleryDegrader(degradations=["motion_blur", "patch_shuffle"], chain_lengths=(2,), n_chains=100,
                                 allow_repeats=False, random_state=0).fit([face])
    assert sorted(everything.chains_) == [("motion_blur", "patch_shuffle"), ("patch_shuffle", "motion_blur")]
    windows = GalleryDegrader(degradations=["motion_blur"], chain_lengths=(1,), include_matched=False, scales=(1,),
                              probe_size=126, degradation_params={"motion_blur": {"window": 3}}, random_state=0)
    assert np.array_equal(windows.fit_transform([face])[0].data[1], motion_blur(face, window=3))


def test_lazy_images_bound_memory_and_behave_as_a_sequence():
    hs = GalleryDegrader(n_chains=64, random_state=0).fit_transform([_face()])[0]
    images = _materialise(hs)
    assert hs.data.nbytes * 20 < sum(im.nbytes for im in images)
    assert len(hs.data) == len(images) == 1 + 3 + 64 * 3
    assert np.array_equal(hs.data[-1], images[-1]) and np.array_equal(hs.data[5:7][1], images[6])
    picked = hs.select(hs.meta["scale"] == 4)
    assert len(picked) == 65 and all(im.shape == (96, 96, 3) for im in picked.data)
    restored = pickle.loads(pickle.dumps(hs))
    assert all(np.array_equal(p, q) for p, q in zip(_materialise(restored), images))


def test_gallery_input_forms():
    face = _face(40, 40)
    from_sets = GalleryDegrader(n_chains=2, random_state=0).fit_transform([HypothesisSet.from_image(face)])
    from_arrays = GalleryDegrader(n_chains=2, random_state=0).fit_transform([face])
    assert _same_meta(from_sets[0].meta, from_arrays[0].meta)
    grey = GalleryDegrader(n_chains=2, random_state=0).fit_transform([face[..., 0]])
    assert grey[0].data[0].shape == (40, 40, 3)
    with pytest.raises(ValueError, match=r"X has shape \(40, 40\)"):
        GalleryDegrader().fit_transform(face[..., 0])
    with pytest.raises(TypeError, match=r"X\[0\] has dtype float64"):
        GalleryDegrader().fit_transform([face.astype(float)])
    with pytest.raises(ValueError, match="X is empty"):
        GalleryDegrader().fit([])
    with pytest.raises(ValueError, match="2-D array of templates"):
        GalleryDegrader().fit(np.zeros((3, 128), np.float32))
    two = HypothesisSet.concatenate([HypothesisSet.from_image(face)] * 2)
    with pytest.raises(ValueError, match=r"X\[0\] has 2 'original' hypotheses"):
        GalleryDegrader().fit([two])


@pytest.mark.parametrize(
    "params, match",
    [
        ({"degradations": ["motion_blur", "jpeg"]},
         r"GalleryDegrader: degradations=\['motion_blur', 'jpeg'\]; expected None or a non-empty sequence of "
         r"distinct items, each one of \{'brightness_jitter'"),
        ({"chain_lengths": (1, 0)}, r"chain_lengths=\(1, 0\); expected .*an integer in \[1, inf\)"),
        ({"chain_lengths": ()}, r"chain_lengths=\(\); expected a non-empty sequence"),
        ({"n_chains": -1}, r"n_chains=-1; expected None or an integer in \[0, inf\)"),
        ({"n_chains": 2.5}, "n_chains=2.5"),
        ({"n_chains": "64"}, "n_chains='64'"),
        ({"probe_size": 0}, "probe_size=0"),
        ({"probe_size": "24"}, "probe_size='24'"),
        ({"probe_size": (24, 24, 3)}, "probe_size="),
        ({"probe_size": [24, (24, 30)]}, "same height"),
        ({"probe_size": []}, "empty list"),
        ({"scales": (2, -1)}, r"scales=\(2, -1\); expected a non-empty sequence of distinct items, each a real number "
         r"in \(0, inf\)"),
        ({"scales": 2}, "scales=2"),
        ({"scales": (2, 2)}, r"scales=\(2, 2\); expected .*distinct"),
        ({"allow_repeats": "no"}, "allow_repeats='no'; expected a bool"),
        ({"include_matched": "x"}, "include_matched='x'; expected a bool"),
        ({"random_state": "seed"}, "random_state='seed'"),
        ({"degradation_params": {"disk_blur": {"radius": 3}}, "degradations": ["motion_blur"]},
         "not among the degradations"),
        ({"degradation_params": {"motion_blur": {"size": 3}}}, r"degradation_params\['motion_blur'\]"),
        ({"degradation_params": {"motion_blur": {"window": 0}}}, "window=0"),
    ],
)
def test_bad_parameters_raise_in_fit(params, match):
    degrader = GalleryDegrader(**params)
    # One error type for every bad parameter, both a ValueError and a TypeError.
    with pytest.raises(InvalidParameterError, match=match) as caught:
        degrader.fit([_face(16, 16)])
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, TypeError)
    assert not hasattr(degrader, "chains_")


def test_sklearn_parameter_conventions():
    degrader = GalleryDegrader(16, n_chains=3, degradation_params={"motion_blur": {"window": 5}}, random_state=0)
    for check in (check_get_params_invariance, check_set_params, check_no_attributes_set_in_init):
        check("GalleryDegrader", degrader)
    assert clone(degrader).get_params() == degrader.get_params()
    assert degrader.__sklearn_tags__().input_tags.two_d_array is False
    with pytest.raises(TypeError):
        GalleryDegrader(24, (2, 4))


def test_speed_benchmark_reports_consistent_memory_figures():
    gallery = benchmark("degrader_speed").gallery

    figures = gallery(n_faces=3, n_chains=4)
    assert figures["hypotheses"] == 3 * (1 + 3 + 4 * 3) and figures["chains"] == 4
    assert 0 < figures["retained_traced_bytes"] <= figures["peak_traced_bytes"]
    # The lazy sets keep less than their hypotheses would take as plain arrays.
    assert figures["retained_traced_bytes"] < figures["plain_array_bytes"]


def test_recipe_digests_key_each_matched_hypothesis_by_source_and_target():
    from skmitm._degradation import _MatchedImages

    a = np.zeros((4, 6, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 1
    same_bytes = a.reshape(6, 4, 3)
    matched = _MatchedImages([a, b, same_bytes], [0, 0, 1, 0, 2], [(0, 0), (8, 12), (8, 12), (4, 6), (8, 12)])
    digests = matched.recipe_digests()
    assert digests[0] is None  # the original is keyed on its content instead
    # another target, other source bytes, another source shape: four different recipes
    assert len(set(digests[1:])) == 4 and all(len(d) == 32 for d in digests[1:])
    # the same recipe, wherever it sits, gives the same digest
    assert _MatchedImages([b, a.copy()], [1], [(8, 12)]).recipe_digests() == [digests[1]]


_RANGES = [  # function, parameter, lowest allowed, highest allowed (None: no bound), lower bound open
    (gaussian_noise, "var", 0, None, False),
    (speckle_noise, "var", 0, None, False),
    (color_jitter, "hue", 0, 0.5, False),
    (color_jitter, "saturation", 0, 1, False),
    (brightness_jitter, "brightness", 0, 1, False),
    (brightness_jitter, "contrast", 0, 1, False),
    (gaussian_blur, "sigma", 0, None, True),
    (disk_blur, "radius", 0, None, True),
    (random_perspective, "distortion", 0, 1, False),
    (random_shear, "max_angle", 0, None, False),
    (motion_blur, "window", 1, None, False),
    (gaussian_blur, "window", 1, None, False),
    (patch_shuffle, "patch_size", 1, None, False),
]


@pytest.mark.parametrize("func, name, low, high, low_open", _RANGES,
                         ids=[f"{f.__name__}-{n}" for f, n, *_ in _RANGES])
def test_parameter_ranges_are_enforced_at_their_bounds(func, name, low, high, low_open):
    image = _face(12, 12)
    integer = name in ("window", "patch_size")
    edge = low + 0.5 if low_open else low
    func(image, 0, **{name: edge})  # the lower bound itself, or just above an open one
    below = low if low_open else low - (1 if integer else 0.1)
    kind = "an integer" if integer else "a number"
    with pytest.raises(ValueError) as error:
        func(image, 0, **{name: below})
    assert str(error.value) == f"{name}={below!r}; expected {kind} {'>' if low_open else '>='} {low}"
    if high is not None:
        func(image, 0, **{name: high})  # the highest value allowed
        with pytest.raises(ValueError) as error:
            func(image, 0, **{name: high + 0.1})
        assert str(error.value) == f"{name}={high + 0.1!r}; expected a number <= {high}"
    with pytest.raises(TypeError, match=rf"^{name}=True; expected "):
        func(image, 0, **{name: True})
    if not integer:
        with pytest.raises(TypeError, match=rf"^{name}=nan; expected a finite real number$"):
            func(image, 0, **{name: float("nan")})


def test_down_up_rescale_factor_range():
    image = _face(16, 16)
    with pytest.raises(ValueError, match=r"^factor=1\.5; expected a number >= 2\.0$"):
        down_up_rescale(image, 0, factor=(2, 1.5))
    with pytest.raises(ValueError, match=r"^factor=0\.5; expected a number >= 1$"):
        down_up_rescale(image, 0, factor=(0.5, 2))
    # an 8 px image shrunk 16 times still keeps one pixel, and comes back at its size, flat
    tiny = _face(8, 8)
    out = down_up_rescale(tiny, 0, factor=16)
    assert out.shape == tiny.shape and np.ptp(out.reshape(-1, 3), axis=0).max() <= 1


@pytest.mark.parametrize("radius", [0.001, 0.05, 0.5])
def test_disk_blur_within_one_pixel_leaves_the_image_unchanged(radius):
    # A disk no wider than a pixel spreads no light to the neighbours; tiny radii
    # once missed every sub-sample of the kernel and gave NaN weights.
    image = np.random.default_rng(0).integers(0, 256, size=(12, 10, 3), dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = disk_blur(image, radius=radius)
    np.testing.assert_array_equal(out, image)
# ------------------------------------------------- resolution matching: area or cubic, per axis


def _even_image(h, w, seed=0):
    # even grey levels: the mean of two pixels is a whole level, so area averaging is exact
    return 2 * np.random.default_rng(seed).integers(0, 128, (h, w, 3), dtype=np.uint8)


def test_match_shrinking_one_axis_keeping_the_other_averages_pixel_pairs():
    wide = _even_image(10, 20)
    pairs = (wide[:, 0::2].astype(int) + wide[:, 1::2]) // 2  # height kept, width halved
    assert np.array_equal(match_resolution(wide, (10, 10)), pairs)
    tall = _even_image(20, 10, seed=1)
    pairs = (tall[0::2].astype(int) + tall[1::2]) // 2  # width kept, height halved
    assert np.array_equal(match_resolution(tall, (10, 10)), pairs)


def test_match_enlarging_one_axis_is_cubic_and_overshoots_an_edge():
    # A 10 x 40 image, dark above and bright below, matched to 20 x 20: the height grows, so
    # the resize is bicubic, whose kernel has negative lobes: it rings past both levels at the
    # edge. Area averaging (meant for shrinking) never leaves the range of its inputs.
    image = np.full((10, 40, 3), 50, np.uint8)
    image[5:] = 200
    out = match_resolution(image, (20, 20)).astype(int)
    assert out.min() < 50 and out.max() > 200


def test_speckle_noise_multiplies_by_one_plus_the_generators_draws():
    # n is the generator's standard normal draws (float32) times sqrt(var), added to 1, not taken from it.
    image = np.full((64, 64, 3), 100, np.uint8)
    draws = np.random.default_rng(3).standard_normal(image.shape, dtype=np.float32)
    change = speckle_noise(image, np.random.default_rng(3), var=0.01).astype(float) - 100
    assert np.allclose(change, 100 * 0.1 * draws, atol=0.51)


@pytest.mark.parametrize("warp", [random_shear, random_perspective])
def test_warps_reflect_at_the_border_so_a_flat_image_stays_flat(warp):
    # Pixels pulled from outside the image come from its reflection, never a black fill.
    flat = np.full((40, 40, 3), 180, np.uint8)
    strength = {"max_angle": 30.0} if warp is random_shear else {"distortion": 0.5}
    for seed in range(3):
        assert (warp(flat, seed, **strength) == 180).all()


def test_identical_gallery_images_get_independent_noise():
    # Each gallery image has its own seeds: two copies of one photo get different noise.
    face = _face(32, 32)
    degrader = GalleryDegrader(16, scales=(2,), degradations=["gaussian_noise"], chain_lengths=(1,),
                               include_matched=False, random_state=0)
    first, second = degrader.fit_transform([face, face.copy()])
    assert first.meta["kind"].tolist() == ["original", "degraded"]
    assert np.array_equal(first.data[0], second.data[0])
    assert not np.array_equal(first.data[1], second.data[1])


def test_the_original_is_the_gallery_image_even_without_matched_copies():
    face = _face(40, 30)
    hs = GalleryDegrader(8, scales=(1,), degradations=["gaussian_noise"], chain_lengths=(1,),
                         include_matched=False, random_state=0).fit_transform([face])[0]
    assert np.array_equal(hs.data[0], face) and hs.data[1].shape == (8, 6, 3)


def test_a_one_pixel_probe_matches_the_gallery_to_its_mean_colour():
    # probe size 1 at scale 1: one pixel, the area average of the whole 8 x 8 image
    image = np.zeros((8, 8, 3), np.uint8)
    image[:, :4] = (2, 40, 100)
    image[:, 4:] = (30, 0, 60)
    hs = GalleryDegrader((1, 1), scales=(1,), n_chains=0, random_state=0).fit_transform([image])[0]
    assert hs.data[1].shape == (1, 1, 3)
    assert hs.data[1][0, 0].tolist() == [16, 20, 80]
    tall = GalleryDegrader(1, scales=(1,), n_chains=0, random_state=0).fit_transform([_face(40, 10)])[0]
    assert tall.data[1].shape == (1, 1, 3)  # a width of 0.25 px rounds to none, and is kept at one


@pytest.mark.parametrize("state", [int, np.random.default_rng], ids=["int", "Generator"])
def test_chain_draws_spread_over_many_seeds(state):
    # 300 random states give 300 different draws of 4 chains among 1463: a seed space of a few
    # hundred values would make two of them agree (and chance agreement has odds under 1e-7).
    face = _face(16, 16)
    draws = {tuple(GalleryDegrader(n_chains=4, random_state=state(s)).fit([face]).chains_) for s in range(300)}
    assert len(draws) == 300


def test_transform_names_the_probes_in_its_errors():
    degrader = GalleryDegrader(n_chains=1, random_state=0).fit([_face(16, 16)])
    with pytest.raises(ValueError, match=r"^X is empty; expected at least one sample$"):
        degrader.transform(np.zeros((0, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"^X is empty; expected at least one sample$"):
        GalleryDegrader(n_chains=1).fit(np.zeros((0, 8, 8, 3), np.uint8))


def test_gaussian_noise_adds_255_times_the_scaled_draws_and_the_mean():
    # On the 0-1 scale: 255 levels. The change regressed on the generator's draws has slope 255 sqrt(var)
    # and intercept 255 mean (rounding to whole levels adds only a small uniform error).
    image = np.full((64, 64, 3), 100, np.uint8)
    draws = np.random.default_rng(5).standard_normal(image.shape, dtype=np.float32).ravel()
    change = gaussian_noise(image, np.random.default_rng(5), mean=0.1, var=0.01).astype(float).ravel() - 100
    slope, intercept = np.polyfit(draws, change, 1)
    assert slope == pytest.approx(25.5, abs=0.03) and intercept == pytest.approx(25.5, abs=0.03)
    with pytest.raises(TypeError, match=r"^mean=nan; expected a finite real number$"):
        gaussian_noise(image, 0, mean=float("nan"))


@pytest.mark.parametrize("seed", range(6))
def test_colour_jitter_rotates_hue_and_scales_saturation_by_the_drawn_amounts(seed):
    # Drawn as documented: a hue shift from U(-hue, hue) of a full turn (256 levels in OpenCV's
    # _FULL HSV), then a saturation factor from U(1 - saturation, 1 + saturation).
    u_hue, u_sat = np.random.default_rng(seed).uniform(size=2)
    shift = (2 * u_hue - 1) * 0.3 * 256
    factor = 1 + (2 * u_sat - 1) * 0.6
    image = np.empty((8, 8, 3), np.uint8)
    image[:] = (200, 140, 120)  # hue 21 of 256, saturation 102 of 255, value 200
    before = cv2.cvtColor(image, cv2.COLOR_RGB2HSV_FULL)[0, 0].astype(float)
    after = cv2.cvtColor(color_jitter(image, seed, hue=0.3, saturation=0.6), cv2.COLOR_RGB2HSV_FULL)[0, 0]
    turned = (after[0] - before[0] + 128) % 256 - 128
    assert abs(turned - shift) <= 2.5
    assert after[1] == pytest.approx(min(255, before[1] * factor), abs=3)


def test_patch_shuffle_moves_pixels_in_every_whole_patch_including_a_single_row_or_column_of_patches():
    image = np.random.default_rng(0).integers(0, 256, (8, 16, 3), dtype=np.uint8)
    moved = np.zeros((4, 8), bool)
    for seed in range(6):
        out = patch_shuffle(image, seed, patch_size=2)
        moved |= (out != image).any(axis=2).reshape(4, 2, 8, 2).any(axis=(1, 3))
    assert moved.all()  # every 2 x 2 patch, up to the last column, was shuffled by some seed
    wide, tall = image, image.transpose(1, 0, 2).copy()  # 8 x 16: one row of 8 x 8 patches; 16 x 8: one column
    for single in (wide, tall):
        assert not np.array_equal(patch_shuffle(single, 0, patch_size=8), single)


def test_chain_parameter_checks_give_their_exact_messages():
    names = "('gaussian_noise', 'speckle_noise', 'color_jitter', 'brightness_jitter', 'motion_blur', " \
            "'gaussian_blur', 'disk_blur', 'random_perspective', 'random_shear', 'down_up_rescale', 'patch_shuffle')"
    cases = [
        (dict(lengths=3), TypeError, "lengths=3; expected a sequence of chain lengths such as (1, 2, 3)"),
        (dict(lengths="12"), TypeError, "lengths='12'; expected a sequence of chain lengths such as (1, 2, 3)"),
        (dict(lengths=()), ValueError, "lengths is empty; expected at least one chain length"),
        (dict(lengths=[1, 2.0]), TypeError, "lengths holds chain length 2.0; expected integers >= 1"),
        (dict(lengths=[2, 1, 2]), ValueError, "lengths=(2, 1, 2) repeats a length; expected distinct lengths"),
        (dict(degradations="motion_blur"), TypeError,
         "degradations='motion_blur'; expected a sequence of degradation names or None"),
        (dict(degradations=["motion_blur", "disk_blur", "motion_blur"]), ValueError,
         "degradations=('motion_blur', 'disk_blur', 'motion_blur') repeats a degradation; expected distinct names"),
        (dict(degradations=["jpeg"]), ValueError, f"degradations holds unknown degradation 'jpeg'; expected names "
                                                   f"from {names}"),
    ]
    for kwargs, kind, message in cases:
        with pytest.raises(kind) as error:
            degradation_chains(**kwargs)
        assert str(error.value) == message
    assert degradation_chains(["disk_blur"], lengths=[2, 1]) == [("disk_blur",), ("disk_blur", "disk_blur")]


def test_gallery_hypothesis_size_is_bounded_by_the_pixel_limit_at_its_edge(monkeypatch):
    face = _face(16, 16)
    # probe 10 x 10 at scale 4: 40 x 40 = 1600 pixels; probe (10, 6) at scale 4: 40 x 24 = 960 pixels
    monkeypatch.setenv("SKMITM_MAX_PIXELS", "1600")
    GalleryDegrader(10, scales=(2, 4), n_chains=0).fit([face])  # at the limit: allowed
    monkeypatch.setenv("SKMITM_MAX_PIXELS", "960")
    GalleryDegrader([(10, 6)], scales=(4,), n_chains=0).fit([face])
    monkeypatch.setenv("SKMITM_MAX_PIXELS", "1599")
    with pytest.raises(ValueError) as error:
        GalleryDegrader(10, scales=(2, 4), n_chains=0).fit([face])
    assert str(error.value) == ("probe_size=10 at scale 4 makes 1600-pixel gallery hypotheses, "
                                "more than the pixel limit of 1599")


def test_gallery_degrader_defaults_metadata_and_messages():
    face = _face(16, 16)
    assert len(GalleryDegrader(random_state=0).fit([face]).chains_) == 64  # the default number of chains
    hs = GalleryDegrader(8, scales=(1,), n_chains=1, random_state=0).fit_transform([face])[0]
    assert hs.meta["kind"].tolist() == ["original", "matched", "degraded"]
    assert hs.meta["chain"][:2].tolist() == ["", ""]  # neither the original nor a matched copy has a chain
    with pytest.raises(ValueError) as error:
        GalleryDegrader([]).fit([face])
    assert str(error.value) == "probe_size is an empty list; expected at least one probe size"
    with pytest.raises(TypeError) as error:
        apply_chain(face, "motion_blur", params=[("motion_blur", {})])
    assert str(error.value) == ("degradation_params=[('motion_blur', {})]; "
                                "expected a dict of {name: {keyword: value}}")
    with pytest.raises(TypeError) as error:
        apply_chain(face, "motion_blur", params={"motion_blur": 3})
    assert str(error.value) == "degradation_params['motion_blur']=3; expected a dict of keyword arguments"


def test_gallery_of_template_sets_is_refused_with_its_index():
    from skmitm._hypotheses import make_meta

    sets = [HypothesisSet.from_image(_face(16, 16)), HypothesisSet(np.ones((1, 4), np.float32), make_meta(1))]
    with pytest.raises(TypeError) as error:
        GalleryDegrader(n_chains=1).fit_transform(sets)
    assert str(error.value) == "X[1] holds templates; GalleryDegrader needs gallery images"


def test_recipe_digests_change_with_the_matching_code_and_opencv_versions(monkeypatch):
    from skmitm import _degradation
    from skmitm._degradation import _MatchedImages

    matched = _MatchedImages([np.zeros((4, 6, 3), np.uint8)], [0, 0], [(0, 0), (8, 12)])
    before = matched.recipe_digests()[1]
    monkeypatch.setattr(_degradation, "_MATCH_VERSION", _degradation._MATCH_VERSION + 1)
    bumped = matched.recipe_digests()[1]
    monkeypatch.setattr(_degradation.cv2, "__version__", "0.0.0-other")
    assert len({before, bumped, matched.recipe_digests()[1]}) == 3
