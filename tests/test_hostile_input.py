"""Hostile and broken input: one test per finding of the review, named for it.

Each test builds the bad input the review used (a crafted pickle, a full disk,
a symlinked subject, a 20000×20000 PNG header, an altered cache row, a rotated
phone photo, a closed pipe, ...) and checks the new behaviour against an
expectation computed independently of the code under test.
"""

import errno
import hashlib
import json
import os
import pickle
import re
import sqlite3
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import skmitm._io as skio
from skmitm import (
    FusedNearestNeighborIdentifier,
    HypothesisSet,
    MultiHypothesisUpsampler,
    TemplateExtractor,
    check_images,
    load_image,
    make_meta,
)
from skmitm.__main__ import main
from skmitm._ablation import load_ablation_templates, run_ablation, save_ablation_templates
from skmitm._io import atomic_write, csv_cell, list_images, load_image_folder
from skmitm.datasets import load_lfw_folder

REPO = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(0)


def _noise(h=32, w=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _write_png(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image[:, :, ::-1])


def _probe_folder(root, n=10, prefix="p"):
    """A flat folder of n probes: ten or more, so that the mean-centred similarity has its probe mean."""
    for j in range(n):
        _write_png(root / f"{prefix}{j}.png", _noise(seed=1000 + j))


def _faces_tree(root, subjects, per_subject=1, size=32):
    for k, subject in enumerate(subjects):
        for j in range(per_subject):
            _write_png(root / subject / f"{j}.png", _noise(size, size, seed=100 * k + j))


class LinearNet(torch.nn.Module):
    """A tiny face 'network' for fast extraction tests: a fixed random projection of a 16×16 chip."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(3 * 16 * 16, 8)

    def forward(self, x):
        return self.fc(x.flatten(1))


class WhiteIsNaNNet(LinearNet):
    """Sound on the grey and ramp chips of fit, NaN for a white face."""

    bad = float("nan")

    def forward(self, x):
        out = self.fc(x.flatten(1))
        white = x.mean(dim=(1, 2, 3)) > 0.9
        return torch.where(white[:, None], torch.full_like(out, self.bad), out)


class WhiteIsZeroNet(WhiteIsNaNNet):
    bad = 0.0


class ConstantNet(LinearNet):
    def forward(self, x):
        return self.fc.bias.expand(x.shape[0], -1) + 0 * x.flatten(1)[:, :1]


class ZeroNet(LinearNet):
    def forward(self, x):
        return 0 * self.fc(x.flatten(1))


def _extractor(net=None, **params):
    return TemplateExtractor(net if net is not None else LinearNet(), input_size=16, **params)


def _one_line_error(capsys):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# ------------------------------------------------------------- 1. code execution


class _Payload:
    """Unpickling this creates a marker file: the proof that a file ran code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.fixture
def tiny_lfw(tmp_path):
    root = tmp_path / "lfw"
    for k, name in enumerate(["Ada_A", "Bob_B", "Cy_C"]):
        for j in range(1, 6):
            _write_png(root / name / f"{name}_{j:04d}.jpg", _noise(250, 250, seed=10 * k + j))
    return root


def _run_small_ablation(tiny_lfw, out, templates, monkeypatch):
    # The smallest real ablation: 3 subjects, one scale, one chain, one sigma, the tiny network.
    import skmitm._ablation as ablation

    monkeypatch.setattr(ablation, "TemplateExtractor",
                        lambda model, n_jobs=None, memory=None: _extractor(n_jobs=n_jobs))
    return run_ablation(lfw=tiny_lfw, out=out, scales=(2,), n_chains=1, sigmas=1, templates_path=templates,
                        progress=False, crop="spec")


def test_finding_1_templates_file_cannot_run_code(tiny_lfw, tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    templates = tmp_path / "templates.npz"
    templates.write_bytes(pickle.dumps({"key": _Payload(marker)}))
    with pytest.warns(UserWarning, match="templates file .* recomputed"):
        results = _run_small_ablation(tiny_lfw, tmp_path / "out", templates, monkeypatch)
    assert not marker.exists()
    # The crafted file was replaced by a valid arrays+JSON file holding the computed templates.
    stored = load_ablation_templates(templates)
    assert len(stored["gallery"]) == 3 and len(stored["probes"]) == 12
    assert results["settings"]["n_probes"] == 12


def test_finding_1_truncated_templates_file_is_recomputed(tiny_lfw, tmp_path, monkeypatch):
    templates = tmp_path / "templates.npz"
    first = _run_small_ablation(tiny_lfw, tmp_path / "a", templates, monkeypatch)
    data = templates.read_bytes()
    templates.write_bytes(data[: len(data) // 2])
    with pytest.warns(UserWarning, match="recomputed"):
        second = _run_small_ablation(tiny_lfw, tmp_path / "b", templates, monkeypatch)
    assert [r["rank1"] for r in second["rows"]] == [r["rank1"] for r in first["rows"]]
    assert templates.read_bytes() != data[: len(data) // 2]
    load_ablation_templates(templates)  # valid again


def test_finding_1_altered_or_foreign_templates_file_is_refused(tmp_path):
    sets = [HypothesisSet(np.ones((2, 4), np.float32), make_meta(2))]
    path = tmp_path / "t.npz"
    save_ablation_templates(path, "key", sets, sets, {"gallery": 1.0, "probes": 2.0})
    stored = load_ablation_templates(path)
    assert stored["key"] == "key" and np.array_equal(stored["gallery"][0].data, sets[0].data)
    # Another format version: refused by name.
    arrays = dict(np.load(path, allow_pickle=False))
    header = json.loads(arrays["__header__"].tobytes())
    header["format"] = "skmitm-ablation-templates/0"
    arrays["__header__"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(tmp_path / "old.npz", **arrays)
    with pytest.raises(ValueError, match=r"old\.npz.*format"):
        load_ablation_templates(tmp_path / "old.npz")
    # Same header, altered template values: the checksum catches it.
    arrays = dict(np.load(path, allow_pickle=False))
    arrays["gallery_templates"] = arrays["gallery_templates"] * 2
    np.savez(tmp_path / "altered.npz", **arrays)
    with pytest.raises(ValueError, match=r"altered\.npz.*checksum"):
        load_ablation_templates(tmp_path / "altered.npz")


def test_finding_1_no_unpickling_of_user_files_in_the_package():
    pattern = re.compile(r"pickle\.loads?\(|joblib\.load\(|allow_pickle\s*=\s*True|weights_only\s*=\s*False")
    offenders = [f"{p.relative_to(REPO)}:{n}" for p in (REPO / "skmitm").rglob("*.py")
                 for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == []


# --------------------------------------------------------------- 2. lost output


def test_finding_2_full_disk_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "candidates.csv"
    path.write_text("old,complete\n" * 121)

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        with atomic_write(path) as f:
            f.write("new,partial\n" * 93)
    assert path.read_text() == "old,complete\n" * 121
    assert os.listdir(tmp_path) == ["candidates.csv"]


def test_finding_2_identify_json_survives_a_full_disk(tmp_path, monkeypatch, capsys):
    gallery, probes = tmp_path / "g", tmp_path / "p"
    _faces_tree(gallery, ["ann", "bob"])
    _probe_folder(probes)
    out = tmp_path / "c.json"
    out.write_text('["old"]\n')
    monkeypatch.setattr("skmitm._pipeline.TemplateExtractor", lambda model=None, **kw: _extractor(**kw))
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left")))
    rc = main(["identify", str(gallery), str(probes), "--method", "baseline", "--out", str(out), "--no-progress"])
    assert rc == 2 and "No space left" in _one_line_error(capsys)
    assert json.loads(out.read_text()) == ["old"]
    assert sorted(os.listdir(tmp_path)) == ["c.json", "g", "p"]


def test_finding_2_every_writer_goes_through_the_atomic_writer():
    pattern = re.compile(r"\.write_text\(|\.write_bytes\(|open\([^)]*[\"']w|savefig\(path|torch\.save\([^)]*, (path|tmp)")
    offenders = [f"{p.relative_to(REPO)}:{n}" for p in (REPO / "skmitm").rglob("*.py") if p.name != "_io.py"
                 for n, line in enumerate(p.read_text().splitlines(), 1)
                 if pattern.search(line) and ">>>" not in line and "..." not in line.lstrip()[:3]]
    assert offenders == []


# ---------------------------------------------------------- 3. folder reading


def test_finding_3_symlinked_subject_folders_are_followed(tmp_path):
    real, gallery = tmp_path / "real", tmp_path / "gallery"
    _faces_tree(real, ["s1", "s2", "s3", "s4", "s5"])
    _faces_tree(gallery, ["s0"])
    for s in ["s1", "s2", "s3", "s4", "s5"]:
        (gallery / s).symlink_to(real / s, target_is_directory=True)
    _, subjects, ids = load_image_folder(gallery, labelled=True, name="gallery folder")
    assert sorted(set(subjects)) == ["s0", "s1", "s2", "s3", "s4", "s5"]
    # A probe folder that is itself a symlink is read too.
    (tmp_path / "probes").symlink_to(real / "s1", target_is_directory=True)
    images, _, ids = load_image_folder(tmp_path / "probes", labelled=False)
    assert ids == ["0.png"] and images[0].shape == (32, 32, 3)


def test_finding_3_symlink_loop_is_read_once_with_a_warning(tmp_path):
    _faces_tree(tmp_path / "g", ["ann"])
    (tmp_path / "g" / "ann" / "again").symlink_to(tmp_path / "g", target_is_directory=True)
    with pytest.warns(UserWarning, match=r"1 symbolic link loop\(s\) not followed: .*ann/again"):
        _, subjects, ids = load_image_folder(tmp_path / "g", labelled=True)
    assert ids == ["ann/0.png"] and subjects.tolist() == ["ann"]
    # Not a loop: one folder linked under a second subject name is read under both names.
    (tmp_path / "g" / "ann" / "again").unlink()
    (tmp_path / "g" / "bob").symlink_to(tmp_path / "g" / "ann", target_is_directory=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, subjects, ids = load_image_folder(tmp_path / "g", labelled=True)
    assert ids == ["ann/0.png", "bob/0.png"] and subjects.tolist() == ["ann", "bob"]


def test_finding_3_unreadable_entries_are_named(tmp_path, monkeypatch):
    _faces_tree(tmp_path / "g", ["ann", "bob"])
    (tmp_path / "g" / "cy").symlink_to(tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"1 entries cannot be read: .*cy \(broken symbolic link\)"):
        load_image_folder(tmp_path / "g", labelled=True, name="gallery folder")
    (tmp_path / "g" / "cy").unlink()
    # A folder that cannot be listed (no permission) is named, not skipped.
    scandir = os.scandir

    def denied(path):
        if Path(path).name == "bob":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", denied)
    with pytest.raises(ValueError, match=r"gallery folder .*bob \(Permission denied\)"):
        load_image_folder(tmp_path / "g", labelled=True, name="gallery folder")


def test_finding_3_subject_both_file_and_folder_is_an_error(tmp_path):
    _faces_tree(tmp_path / "g", ["X", "Y"])
    _write_png(tmp_path / "g" / "X.png", _noise(seed=5))
    with pytest.raises(ValueError, match="subject 'X' is both an image file and a sub-folder"):
        load_image_folder(tmp_path / "g", labelled=True)


def test_finding_3_flat_unlabelled_probe_folder_is_refused_by_evaluate(tmp_path, capsys):
    _faces_tree(tmp_path / "g", ["ann", "bob"])
    _write_png(tmp_path / "p" / "ann.png", _noise(seed=3))
    rc = main(["evaluate", str(tmp_path / "g"), str(tmp_path / "p"), "--method", "baseline",
               "--out", str(tmp_path / "r"), "--no-progress"])
    assert rc == 2
    assert "outside a subject sub-folder (first: 'ann.png')" in _one_line_error(capsys)


def test_finding_3_lfw_loader_and_folder_reader_agree_on_symlinks(tmp_path):
    lfw = tmp_path / "lfw"
    _write_png(lfw / "Ada_A" / "Ada_A_0001.jpg", _noise(250, 250))
    _write_png(tmp_path / "elsewhere" / "Bob_B" / "Bob_B_0001.jpg", _noise(250, 250, seed=2))
    (lfw / "Bob_B").symlink_to(tmp_path / "elsewhere" / "Bob_B", target_is_directory=True)
    assert load_lfw_folder(lfw, crop=False).subjects.tolist() == ["Ada_A", "Bob_B"]
    assert load_image_folder(lfw, labelled=True)[1].tolist() == ["Ada_A", "Bob_B"]


# ------------------------------------------------------ 4. resource exhaustion


def _png_header_only(path, width, height):
    """A valid PNG signature and IHDR announcing width×height, with one tiny IDAT: a few bytes."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
                     + chunk(b"IEND", b""))


def test_finding_4_huge_png_is_refused_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    _png_header_only(path, 20000, 20000)
    assert path.stat().st_size < 1000
    monkeypatch.setattr(skio.cv2, "imdecode", lambda *a: pytest.fail("the pixels were decoded"))
    with pytest.raises(ValueError, match=r"bomb\.png.* pixels, more than the limit of 40000000"):
        load_image(path)


def test_finding_4_pixel_limit_is_configurable(tmp_path, monkeypatch):
    path = tmp_path / "face.png"
    _write_png(path, _noise(100, 100))
    assert load_image(path).shape == (100, 100, 3)
    with pytest.raises(ValueError, match="more than the limit of 5000"):
        load_image(path, max_pixels=5000)
    monkeypatch.setenv("SKMITM_MAX_PIXELS", "9999")
    with pytest.raises(ValueError, match="more than the limit of 9999"):
        load_image(path)


def test_finding_4_huge_probe_size_exits_2_before_any_work(tmp_path, capsys, monkeypatch):
    _faces_tree(tmp_path / "g", ["ann"])
    _faces_tree(tmp_path / "p", ["ann"])
    monkeypatch.setattr(skio, "load_image_folder", lambda *a, **k: pytest.fail("folders were read"))
    rc = main(["identify", str(tmp_path / "g"), str(tmp_path / "p"), "--probe-size", "100000"])
    assert rc == 2 and "--probe-size 100000 is out of range; expected 8 to 512" in _one_line_error(capsys)


def test_finding_4_super_resolution_size_is_bounded_before_allocation():
    up = MultiHypothesisUpsampler(scales=(8,), sigmas=1).fit()
    with pytest.raises(ValueError, match=r"X\[1\] is 1000×1000 pixels: super-resolved 8× it exceeds"):
        up.transform([_noise(24, 24), np.zeros((1000, 1000, 3), np.uint8)])


def test_finding_4_gallery_matching_size_is_bounded_before_allocation():
    from skmitm import GalleryDegrader

    with pytest.raises(ValueError, match=r"probe_size=100000 at scale 8 makes 640000000000-pixel gallery hypotheses"):
        GalleryDegrader(probe_size=100000, n_chains=1).fit([_noise()])


# --------------------------------------------------------- 5. template cache


def _cache_rows(folder):
    return sqlite3.connect(folder / "skmitm-templates.sqlite3")


@pytest.mark.parametrize("damage", ["random floats, right length", "cut to 5 floats"])
def test_finding_5_altered_cache_rows_are_recomputed_and_counted(tmp_path, damage):
    faces = [_noise(seed=s) for s in range(12)]
    expected = np.stack([s.data[0] for s in _extractor().fit().transform(faces)])  # no cache: the oracle
    _extractor(memory=tmp_path).fit().transform(faces)
    with _cache_rows(tmp_path) as db:
        keys = [k for (k,) in db.execute("SELECT key FROM templates_v3")]
        assert len(keys) == 12
        for k in keys[:11]:
            n = 8 if damage.startswith("random") else 5
            db.execute("UPDATE templates_v3 SET template=? WHERE key=?",
                       (RNG.normal(size=n).astype(np.float32).tobytes(), k))
    with pytest.warns(UserWarning, match="11 cached template"):
        got = np.stack([s.data[0] for s in _extractor(memory=tmp_path).fit().transform(faces)])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # repaired: no further warning
        _extractor(memory=tmp_path).fit().transform(faces)


def test_finding_5_read_only_cache_serves_hits(tmp_path, monkeypatch):
    faces = [_noise(seed=s) for s in range(4)]
    cache = tmp_path / "cache"
    expected = [s.data for s in _extractor(memory=cache).fit().transform(faces)]
    db = cache / "skmitm-templates.sqlite3"
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in cache.iterdir()}
    db.chmod(0o444)
    cache.chmod(0o555)
    if os.geteuid() == 0:  # root writes anyway: make the cache look read-only as it would to a user
        monkeypatch.setattr(os, "access", lambda path, mode: mode != os.W_OK)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # every lookup a hit: no warning at all
            got = [s.data for s in _extractor(memory=cache).fit().transform(faces)]
        for g, e in zip(got, expected):
            np.testing.assert_array_equal(g, e)
        with pytest.warns(UserWarning, match="read-only: 1 new template"):
            _extractor(memory=cache).fit().transform(faces + [_noise(seed=99)])
        after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in cache.iterdir()}
        assert after == before
    finally:
        cache.chmod(0o755)
        db.chmod(0o644)


# --------------------------------------------------------------- 6. images


def test_finding_6_exif_orientation_is_applied(tmp_path):
    from PIL import Image, ImageOps

    image = _noise(12, 20)
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        path = tmp_path / f"o{orientation}.png"
        Image.fromarray(image).save(path, exif=exif)
        expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
        np.testing.assert_array_equal(load_image(path), expected, err_msg=f"orientation {orientation}")
    # A phone JPEG rotated 90° clockwise: the stripe on the left ends up on top.
    photo = np.zeros((20, 40, 3), np.uint8)
    photo[:, :10] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(photo).save(tmp_path / "phone.jpg", exif=exif)
    upright = load_image(tmp_path / "phone.jpg")
    assert upright.shape == (40, 20, 3)
    assert upright[:10].mean() > 200 and upright[12:].mean() < 30


def test_finding_6_float_tiff_becomes_8_bit_by_the_rule(tmp_path):
    values = np.random.default_rng(1).random((10, 12, 3)).astype(np.float32)
    cv2.imwrite(str(tmp_path / "f.tiff"), values)
    got = load_image(tmp_path / "f.tiff")
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, np.rint(values[:, :, ::-1] * 255).astype(np.uint8))
    cv2.imwrite(str(tmp_path / "g.tiff"), values * 300)
    with pytest.raises(ValueError, match=r"g\.tiff.*floating-point image with values in \[0"):
        load_image(tmp_path / "g.tiff")


def test_finding_6_int16_tiff_is_refused_clearly(tmp_path):
    cv2.imwrite(str(tmp_path / "i.tiff"), (np.arange(100).reshape(10, 10) - 50).astype(np.int16))
    with pytest.raises(ValueError, match=r"i\.tiff.*has int16 pixels; expected 8- or 16-bit unsigned"):
        load_image(tmp_path / "i.tiff")


def test_finding_6_16_bit_png_keeps_the_high_byte(tmp_path):
    values = np.array([[0, 255, 256, 65535] * 3] * 9, np.uint16)
    cv2.imwrite(str(tmp_path / "u.png"), values)
    got = load_image(tmp_path / "u.png")
    assert got[0, :4, 0].tolist() == [0, 0, 1, 255]


def test_finding_6_images_below_the_minimum_face_size_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"X\[0\] of shape \(1, 1, 3\) is 1×1 pixels; expected a face of at least 8×8"):
        check_images([np.zeros((1, 1, 3), np.uint8)])
    _write_png(tmp_path / "dot.png", np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(ValueError, match=r"dot\.png.*1×1 pixels"):
        load_image(tmp_path / "dot.png")
    assert check_images([np.zeros((8, 8, 3), np.uint8)])[0].shape == (8, 8, 3)


def test_finding_6_single_3d_array_is_refused_with_a_hint(tmp_path):
    image = _noise(24, 24)
    with pytest.raises(ValueError, match=r"single 3-D array of shape \(24, 24, 3\); pass a list of images"):
        _extractor().fit().transform(image)
    with pytest.raises(ValueError, match=r"pass a list of images \(\[image\]\)"):
        MultiHypothesisUpsampler(scales=(2,), sigmas=1).fit().transform(image)
    assert len(_extractor().fit().transform([image])) == 1


# ------------------------------------------------------------------ 7. CLI


def test_finding_7_file_errors_exit_2_with_one_line(tmp_path, capsys, monkeypatch):
    _faces_tree(tmp_path / "g", ["ann"])
    _faces_tree(tmp_path / "p", ["ann"])
    g, p = str(tmp_path / "g"), str(tmp_path / "p")
    # IsADirectoryError's case: --out is a folder.
    assert main(["identify", g, p, "--out", str(tmp_path)]) == 2
    assert "is a folder; expected a file" in _one_line_error(capsys)
    # FileExistsError's case: the report folder is a file.
    (tmp_path / "taken").write_text("x")
    assert main(["evaluate", g, p, "--out", str(tmp_path / "taken")]) == 2
    assert "is a file; expected a folder" in _one_line_error(capsys)
    # PermissionError: an output folder nobody may write.
    monkeypatch.setattr(os, "access", lambda path, mode: mode != os.W_OK)
    assert main(["evaluate", g, p, "--out", str(tmp_path / "r")]) == 2
    assert "cannot be created" in _one_line_error(capsys)
    monkeypatch.undo()
    # Any OSError raised while running is one line with rc 2, not a traceback.
    import skmitm.__main__ as cli

    monkeypatch.setattr(cli, "_fit_folders", lambda *a, **k: (_ for _ in ()).throw(
        PermissionError(errno.EACCES, "Permission denied", "g/ann/0.png")))
    assert main(["identify", g, p]) == 2
    assert _one_line_error(capsys).endswith("[Errno 13] Permission denied: 'g/ann/0.png'")


def test_finding_7_corrupt_model_file_exits_2_with_one_line(tmp_path, capsys):
    _faces_tree(tmp_path / "g", ["ann", "bob"])
    _faces_tree(tmp_path / "p", ["ann"])
    (tmp_path / "m.onnx").write_bytes(b"not a protobuf at all")
    rc = main(["identify", str(tmp_path / "g"), str(tmp_path / "p"), "--method", "baseline", "--no-progress",
               "--model", str(tmp_path / "m.onnx")])
    assert rc == 2
    line = _one_line_error(capsys)
    assert "m.onnx' cannot be loaded by the onnx backend" in line
    assert main(["identify", str(tmp_path / "g"), str(tmp_path / "p"), "--model", str(tmp_path / "no.onnx")]) == 2
    assert "--model" in _one_line_error(capsys)


def test_finding_7_corrupt_image_exits_2_with_one_line(tmp_path, capsys):
    _faces_tree(tmp_path / "g", ["ann", "bob"])
    (tmp_path / "g" / "bob" / "0.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    _faces_tree(tmp_path / "p", ["ann"])
    rc = main(["identify", str(tmp_path / "g"), str(tmp_path / "p"), "--method", "baseline", "--no-progress"])
    assert rc == 2 and "bob/0.png" in _one_line_error(capsys)


def test_finding_7_bad_out_and_fusion_fail_before_enrolment(tmp_path, capsys, monkeypatch):
    _faces_tree(tmp_path / "g", ["ann"])
    _faces_tree(tmp_path / "p", ["ann"])
    monkeypatch.setattr(skio, "load_image_folder", lambda *a, **k: pytest.fail("enrolment started"))
    g, p = str(tmp_path / "g"), str(tmp_path / "p")
    # The parser knows the fusion strategies: a usage error, exit status 2, one line.
    with pytest.raises(SystemExit) as exit_info:
        main(["identify", g, p, "--fusion", "S_maxx"])
    assert exit_info.value.code == 2
    assert "argument --fusion: invalid choice: 'S_maxx'" in _one_line_error(capsys)
    assert main(["identify", g, p, "--out", str(tmp_path / "missing" / "c.csv")]) == 2
    assert "does not exist" in _one_line_error(capsys)
    assert main(["identify", g, p, "--model", str(tmp_path / "absent.dat")]) == 2
    assert "absent.dat" in _one_line_error(capsys)


def test_finding_7_closed_pipe_ends_quietly(tmp_path):
    _faces_tree(tmp_path / "g", ["ann", "bob"])
    _probe_folder(tmp_path / "p")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-m", "skmitm", "identify", str(tmp_path / "g"), str(tmp_path / "p"), "--method",
         "baseline", "--no-progress"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()  # the reader goes away before any output, as `| head -0` would
    err = child.stderr.read().decode()
    assert child.wait(timeout=300) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err and err.strip() == ""


# -------------------------------------------------------------- 8. answers


def _sets(templates, **meta):
    return [HypothesisSet(np.asarray(t, np.float32)[None], make_meta(1, **meta)) for t in templates]


def test_finding_8_one_subject_gallery_under_mean_centred_is_refused():
    gallery = RNG.normal(size=(3, 8))
    clf = FusedNearestNeighborIdentifier(similarity="mean-centred")
    with pytest.raises(ValueError, match="gallery holds one subject \\('ann'\\); the mean-centred similarity"):
        clf.fit(gallery, ["ann"] * 3)
    # The other similarities are well defined for one subject.
    assert FusedNearestNeighborIdentifier().fit(gallery, ["ann"] * 3).predict(gallery[:1]).tolist() == ["ann"]


def test_finding_8_probe_sigmas_that_select_nothing_are_an_error():
    rng = np.random.default_rng(3)
    gallery = FusedNearestNeighborIdentifier(probe_sigmas=[0.333]).fit(rng.normal(size=(2, 8)), ["a", "b"])
    probe = [HypothesisSet(rng.normal(size=(3, 8)).astype(np.float32),
                           make_meta(3, scale=2.0, kind="super-resolved", sigma=[0.0, 0.33, 0.67]))]
    with pytest.raises(ValueError, match=r"0\.333 matches no super-resolved probe hypothesis; the probes hold "
                                         r"sigmas \[0\.0, 0\.33, 0\.67\]"):
        gallery.decision_function(probe)
    # Partial: one good, one missing sigma is still an error.
    with pytest.raises(ValueError, match="0.5 matches no"):
        gallery.set_params(probe_sigmas=[0.0, 0.5]).decision_function(probe)
    # Float32 rounding is not a mismatch: the upsampler's linspace sigmas select themselves.
    sigmas = np.linspace(0, 1, 4)
    probe = [HypothesisSet(rng.normal(size=(4, 8)).astype(np.float32),
                           make_meta(4, scale=2.0, kind="super-resolved", sigma=sigmas))]
    full = gallery.set_params(probe_sigmas=None).decision_function([probe[0].select([1])])
    one = gallery.set_params(probe_sigmas=[1 / 3]).decision_function(probe)
    np.testing.assert_allclose(one, full, rtol=1e-6)


def test_finding_8_boolean_sigmas_are_refused():
    with pytest.raises(TypeError, match="sigmas=True; expected an integer in \\[1, inf\\) or an array-like"):
        MultiHypothesisUpsampler(sigmas=True).fit()
    with pytest.raises(TypeError, match="not booleans"):
        MultiHypothesisUpsampler(sigmas=[True, False]).fit()
    with pytest.raises(ValueError, match="probe_sigmas=\\[True\\]"):
        FusedNearestNeighborIdentifier(probe_sigmas=[True]).fit(RNG.normal(size=(2, 4)), [0, 1])


def test_finding_8_mixed_label_types_are_refused():
    templates = RNG.normal(size=(2, 4))
    with pytest.raises(TypeError, match=r"y mixes label types \(number, str\)"):
        FusedNearestNeighborIdentifier().fit(templates, [1, "1"])
    with pytest.raises(TypeError, match="mixes label types"):
        FusedNearestNeighborIdentifier().fit(templates, np.array([1, "1"], dtype=object))
    assert FusedNearestNeighborIdentifier().fit(templates, ["1", "2"]).classes_.tolist() == ["1", "2"]


@pytest.mark.parametrize("net, match", [
    (ConstantNet(), "same template for a grey chip and a ramp chip"),
    (ZeroNet(), "same template for a grey chip and a ramp chip"),
])
def test_finding_8_constant_or_zero_network_is_detected_at_fit(net, match):
    with pytest.raises(ValueError, match=match):
        _extractor(net).fit()


@pytest.mark.parametrize("net, match", [
    (WhiteIsNaNNet(), "NaN or infinite templates for 1 of 3 inputs"),
    (WhiteIsZeroNet(), "all-zero templates for 1 of 3 inputs"),
])
def test_finding_8_network_nan_or_zero_is_detected_at_extraction(net, match):
    extractor = _extractor(net).fit()
    faces = [_noise(seed=1), np.full((20, 20, 3), 255, np.uint8), _noise(seed=2)]
    with pytest.raises(ValueError, match=match):
        extractor.transform(faces)


def test_finding_8_csv_cells_are_escaped(tmp_path, monkeypatch):
    assert [csv_cell(v) for v in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "ann", 0.5]] == [
        "'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\tx", "'\rx", "ann", 0.5]
    _faces_tree(tmp_path / "g", ["=HYPERLINK(\"http:x\")", "bob"])
    _probe_folder(tmp_path / "p", prefix="-probe")
    monkeypatch.setattr("skmitm._pipeline.TemplateExtractor", lambda model=None, **kw: _extractor(**kw))
    out = tmp_path / "c.csv"
    assert main(["identify", str(tmp_path / "g"), str(tmp_path / "p"), "--method", "baseline", "--out", str(out),
                 "--no-progress"]) == 0
    import csv

    rows = list(csv.DictReader(out.open(newline="")))
    assert {r["probe"] for r in rows} == {f"'-probe{j}.png" for j in range(10)}
    assert sorted({r["subject"] for r in rows}) == ["'=HYPERLINK(\"http:x\")", "bob"]
