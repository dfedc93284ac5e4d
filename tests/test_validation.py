"""Image input: arrays of different sizes, 4-D batches, files; every bad input named."""

import cv2
import numpy as np
import pytest

from skmitm import check_images, load_image
from skmitm._validation import check_subjects


def _rgb(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_list_of_different_sizes_and_4d_batch():
    images = check_images([_rgb(24, 20), _rgb(112, 96)])
    assert [im.shape for im in images] == [(24, 20, 3), (112, 96, 3)]
    batch = np.stack([_rgb(16, 16, s) for s in range(3)])
    out = check_images(batch)
    assert len(out) == 3 and all(np.array_equal(a, b) for a, b in zip(out, batch))


def test_greyscale_array_promoted_to_rgb():
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    (rgb,) = check_images([grey])
    assert rgb.shape == (8, 8, 3)
    assert all(np.array_equal(rgb[:, :, c], grey) for c in range(3))


def test_files_png_jpeg_pgm_read_as_rgb(tmp_path):
    # smooth, channel-distinct content, so JPEG stays close and a channel swap would show
    yy, xx = np.mgrid[0:20, 0:30]
    img = np.stack([200 + 0 * xx, 5 * xx, 8 * yy], axis=-1).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp_path / "b.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 100])
    grey = img[:, :, 0].copy()
    cv2.imwrite(str(tmp_path / "c.pgm"), grey)
    png, jpg, pgm = check_images([tmp_path / "a.png", str(tmp_path / "b.jpg"), tmp_path / "c.pgm"])
    np.testing.assert_array_equal(png, img)  # lossless, and channels in RGB order
    assert jpg.shape == (20, 30, 3) and np.abs(jpg.astype(int) - img).mean() < 4
    np.testing.assert_array_equal(pgm, np.repeat(grey[:, :, None], 3, axis=2))


def test_real_orl_pgm(orl_dir):
    face = load_image(orl_dir / "s1" / "1.pgm")
    assert face.shape == (112, 92, 3) and face.dtype == np.uint8
    assert (face[:, :, 0] == face[:, :, 2]).all()


@pytest.mark.parametrize(
    "bad, error, message",
    [
        ([_rgb(8, 8), np.zeros((12, 12, 4), np.uint8)], ValueError, r"X\[1\] has shape \(12, 12, 4\); expected H×W×3"),
        ([np.zeros((8, 8, 3), np.float32)], TypeError, r"X\[0\] has dtype float32"),
        ([np.full((8, 8, 3), np.nan)], ValueError, r"X\[0\] contains NaN"),
        ([np.zeros((2, 8, 8, 3), np.uint8)], ValueError, r"X\[0\] has shape \(2, 8, 8, 3\)"),
        ([np.zeros((0, 8, 3), np.uint8)], ValueError, r"X\[0\] has shape \(0, 8, 3\)"),
        ([], ValueError, "X is empty"),
        (np.zeros((0, 8, 8, 3), np.uint8), ValueError, "X is empty"),
        (np.zeros((8, 8), np.uint8), ValueError, r"X has shape \(8, 8\)"),
        ("face.png", TypeError, "single path"),
        (42, TypeError, "not a sequence"),
    ],
)
def test_bad_images_are_named(bad, error, message):
    with pytest.raises(error, match=message):
        check_images(bad)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"X\[0\]: no image file"):
        check_images([tmp_path / "nope.png"])
    (tmp_path / "bad.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(ValueError, match=r"X\[1\]: .*bad.jpg' is not a readable image"):
        check_images([_rgb(8, 8), tmp_path / "bad.jpg"])
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ValueError, match="not a readable image"):
        check_images([tmp_path / "empty.png"])


def test_subject_labels():
    assert check_subjects(["a", "b"], 2).tolist() == ["a", "b"]
    assert check_subjects(np.array([[1], [2]]), 2).tolist() == [1, 2]
    with pytest.raises(ValueError, match="y has 1 labels for 2 samples"):
        check_subjects(["a"], 2)
    with pytest.raises(ValueError, match="y is None"):
        check_subjects(None, 2)
    with pytest.raises(ValueError, match="y contains NaN"):
        check_subjects([1.0, np.nan], 2)
    with pytest.raises(ValueError, match=r"y has shape \(2, 2\)"):
        check_subjects([[1, 2], [3, 4]], 2)
