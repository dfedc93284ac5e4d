"""FaceEDSR, its weights files and the training command."""

import hashlib
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from skmitm._edsr import DEFAULT_WEIGHTS, FaceEDSR, bicubic_upsample, load_edsr, save_edsr
from skmitm.datasets import degrade_probe
from skmitm.__main__ import main
from skmitm.metrics import psnr
from skmitm.sr_training import degrade_face, load_training_faces, make_batch, train

from conftest import shared_path


def smooth_faces(n, size=64, seed=0):
    """Random images with face-like low-frequency content (blurred noise), uint8."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, (n, size, size, 3)).astype(np.float32)
    return np.stack([np.clip(cv2.GaussianBlur(im, (0, 0), size / 16), 0, 255) for im in noise]).astype(np.uint8)


def tiny_net(scales=(2, 4, 8)):
    return FaceEDSR(scales, n_feats=8, n_blocks=1)


# ---------------------------------------------------------------- network


@pytest.mark.parametrize("shape", [(2, 3, 12, 12), (1, 3, 10, 7)])
def test_every_scale_gives_its_size(shape):
    out = tiny_net()(torch.rand(*shape))
    n, c, h, w = shape
    assert {s: tuple(y.shape) for s, y in out.items()} == {s: (n, c, s * h, s * w) for s in (2, 4, 8)}


def test_shared_body_runs_once_for_all_scales():
    net = tiny_net()
    x = torch.rand(1, 3, 8, 8)
    calls = []
    net.body.register_forward_hook(lambda *args: calls.append(1))
    out_all = net(x)
    assert len(calls) == 1
    assert torch.allclose(out_all[4], net(x, scales=(4,))[4])


def test_output_is_bicubic_plus_a_learned_residual():
    net = tiny_net((2,))
    for p in net.tails["x2"].out.parameters():
        torch.nn.init.zeros_(p)
    x = torch.rand(1, 3, 9, 9)
    expected = F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
    assert torch.allclose(net(x)[2], expected)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("shape,scale", [((2, 3, 24, 24), 8), ((1, 3, 20, 26), 4), ((3, 3, 7, 5), 2),
                                         ((1, 1, 9, 9), 4), ((1, 3, 1, 6), 2)])
def test_bicubic_upsample_is_pytorchs_bicubic(shape, scale, channels_last):
    x = torch.rand(*shape)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    got = bicubic_upsample(x, scale)
    expected = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    assert got.shape == expected.shape
    # Float rounding only: the products sum the same four taps in another order.
    assert (got - expected).abs().max() < 2e-6
    if channels_last and shape[1] > 1:
        assert got.is_contiguous(memory_format=torch.channels_last)


def test_bicubic_upsample_is_opencvs_cubic_enlargement():
    # A second, independent reference: OpenCV's INTER_CUBIC (the same kernel,
    # a = -0.75, pixel centres at +0.5, border taps replicated) on the HWC image.
    image = np.random.default_rng(3).random((11, 14, 3), dtype=np.float32)
    x = torch.from_numpy(image).permute(2, 0, 1)[None]
    got = bicubic_upsample(x, 4)[0].permute(1, 2, 0).numpy()
    expected = cv2.resize(image, (56, 44), interpolation=cv2.INTER_CUBIC)
    assert np.abs(got - expected).max() < 1e-4


def test_bicubic_upsample_backpropagates_like_interpolate():
    x = torch.rand(2, 3, 10, 12)
    weight = torch.rand(2, 3, 40, 48)
    grads = []
    for resize in (lambda t: bicubic_upsample(t, 4),
                   lambda t: F.interpolate(t, scale_factor=4, mode="bicubic", align_corners=False)):
        leaf = x.clone().requires_grad_(True)
        (resize(leaf) * weight).sum().backward()
        grads.append(leaf.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-4)
    # Its matrices, first made under inference mode (as transform runs), still train.
    with torch.inference_mode():
        bicubic_upsample(torch.rand(1, 3, 13, 13), 2)
    leaf = torch.rand(1, 3, 13, 13, requires_grad=True)
    bicubic_upsample(leaf, 2).sum().backward()
    assert leaf.grad is not None and torch.isfinite(leaf.grad).all()


@pytest.mark.parametrize("scale", [3, 1, 6])
def test_scale_must_be_a_power_of_two(scale):
    with pytest.raises(ValueError, match=f"scale {scale} is not a power of two"):
        FaceEDSR((2, scale))


# ---------------------------------------------------------------- weights files


def test_save_and_load_round_trip(tmp_path):
    net = tiny_net().eval()
    card_path = save_edsr(net, tmp_path / "w.pt", card={"note": "test"})
    loaded, card = load_edsr(card_path)
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        a, b = net(x), loaded(x)
    assert all(torch.equal(a[s], b[s]) for s in a)
    assert card["note"] == "test" and card["config"] == net.config
    assert not loaded.training


def test_tampered_weights_are_refused(tmp_path):
    card_path = save_edsr(tiny_net(), tmp_path / "w.pt")
    weights = tmp_path / "w.pt"
    data = bytearray(weights.read_bytes())
    data[-20] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="has sha256 .* expects"):
        load_edsr(card_path)


def test_weights_are_loaded_without_arbitrary_unpickling(tmp_path):
    # A file whose hash matches its card but which holds a pickled object
    # that is not tensors must still be refused by weights_only loading.
    card_path = save_edsr(tiny_net(), tmp_path / "w.pt")
    torch.save({"payload": Path("not-a-tensor")}, tmp_path / "w.pt")
    card = json.loads(card_path.read_text())
    card["sha256"] = hashlib.sha256((tmp_path / "w.pt").read_bytes()).hexdigest()
    card_path.write_text(json.dumps(card))
    with pytest.raises(Exception, match="[Ww]eights only load failed"):
        load_edsr(card_path)


def test_missing_card_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="weights card .* does not exist"):
        load_edsr(tmp_path / "absent.json")


def test_shipped_weights_are_small_verified_and_complete():
    weights_dir = DEFAULT_WEIGHTS.parent
    total = sum(f.stat().st_size for f in weights_dir.iterdir() if f.suffix in (".pt", ".json"))
    assert total <= 10 * 2**20
    net, card = load_edsr()
    assert net.scales == (2, 4, 8)
    assert card["degradation"] == "realistic"
    assert card["training"]["steps"] > 0


def test_shipped_weights_beat_bicubic_on_moderate_probes_of_evaluation_people():
    lfw = shared_path("data/lfw-deepfunneled")
    people = sorted(p for p in os.listdir(lfw) if len(os.listdir(lfw / p)) >= 5)[:12]
    faces = [cv2.imread(str(lfw / p / f"{p}_0002.jpg"))[55:181, 62:188, ::-1] for p in people]
    net, _ = load_edsr()
    gains = []
    for i, face in enumerate(faces):
        lr = degrade_probe(np.ascontiguousarray(face), size=24, severity="moderate", rng=i)
        with torch.no_grad():
            y = net(torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255, scales=(4,))[4]
        ours = (y[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
        target = cv2.resize(face, (96, 96), interpolation=cv2.INTER_AREA)
        bicubic = cv2.resize(lr, (96, 96), interpolation=cv2.INTER_CUBIC)
        gains.append(psnr(ours, target) - psnr(bicubic, target))
    assert np.mean(gains) > 0.5


# ---------------------------------------------------------------- training data


def test_degradations_are_seeded_and_realistic_ones_vary():
    face = smooth_faces(1)[0]
    a = degrade_face(face, 20, np.random.default_rng(3))
    b = degrade_face(face, 20, np.random.default_rng(3))
    c = degrade_face(face, 20, np.random.default_rng(4))
    assert a.shape == (20, 20, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_plain_degradation_is_bicubic_downsampling():
    face = smooth_faces(1)[0]
    expected = cv2.resize(face, (16, 16), interpolation=cv2.INTER_CUBIC)
    assert np.array_equal(degrade_face(face, 16, np.random.default_rng(0), degradation="plain"), expected)


def test_unknown_degradation_is_refused():
    with pytest.raises(ValueError, match="degradation='bicubic'; expected one of"):
        degrade_face(smooth_faces(1)[0], 16, np.random.default_rng(0), degradation="bicubic")


def test_batch_patches_are_aligned_across_scales():
    faces = smooth_faces(6)
    rng = np.random.default_rng(0)
    lr, hr = make_batch(faces, rng, batch_size=6, scales=(2, 4), patch=8, lr_sizes=(12, 16), degradation="plain")
    assert lr.shape == (6, 3, 8, 8)
    assert hr[2].shape == (6, 3, 16, 16) and hr[4].shape == (6, 3, 32, 32)
    for s in (2, 4):
        pooled = F.avg_pool2d(hr[s], s)
        aligned = (pooled - lr).abs().mean()
        shifted = (pooled.roll(2, dims=3) - lr).abs().mean()
        assert aligned < 0.3 * shifted, (s, aligned, shifted)


# ---------------------------------------------------------------- training loop

TINY = dict(scales=(2, 4), n_feats=8, n_blocks=1, batch_size=4, patch=8, lr_sizes=(12, 16), lr=2e-3, progress=False)


def test_training_lowers_the_loss():
    faces = smooth_faces(8)
    _, history = train(faces, steps=60, checkpoint_every=20, degradation="plain", **TINY)
    losses = [loss for _, loss in history["loss"]]
    assert history["steps"] == 60 and len(losses) == 3
    assert losses[-1] < losses[0]


class _Interrupt(Exception):
    pass


def test_resumed_training_matches_an_uninterrupted_run(tmp_path):
    faces = smooth_faces(8)
    uninterrupted, _ = train(faces, steps=20, checkpoint=tmp_path / "a.pt", checkpoint_every=5, **TINY)

    def crash_after_step_10(line):
        if line.startswith("step 10/"):
            raise _Interrupt

    checkpoint = tmp_path / "b.pt"
    with pytest.raises(_Interrupt):
        train(faces, steps=20, checkpoint=checkpoint, checkpoint_every=5, log=crash_after_step_10, **TINY)
    assert torch.load(checkpoint, weights_only=True)["history"]["steps"] == 10
    lines = []
    resumed, history = train(faces, steps=20, checkpoint=checkpoint, checkpoint_every=5, log=lines.append, **TINY)
    assert [line.split()[1] for line in lines] == ["15/20", "20/20"]
    assert history["steps"] == 20 and len(history["loss"]) == 4
    for (name, a), b in zip(uninterrupted.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_training_refuses_a_checkpoint_of_another_network(tmp_path):
    faces = smooth_faces(4)
    checkpoint = tmp_path / "ckpt.pt"
    train(faces, steps=2, checkpoint=checkpoint, checkpoint_every=2, **TINY)
    with pytest.raises(ValueError, match="checkpoint .* holds a network"):
        train(faces, steps=4, checkpoint=checkpoint, **{**TINY, "n_feats": 12})


def test_training_validates_faces():
    with pytest.raises(ValueError, match=r"faces has shape \(4, 32, 16, 3\)"):
        train(np.zeros((4, 32, 16, 3), np.uint8), steps=1, **TINY)


# ---------------------------------------------------------------- training data and command


def make_lfw(root, counts, size=250):
    rng = np.random.default_rng(0)
    for name, n in counts.items():
        (root / name).mkdir(parents=True)
        for k in range(1, n + 1):
            image = smooth_faces(1, size, seed=int(rng.integers(1 << 30)))[0]
            cv2.imwrite(str(root / name / f"{name}_{k:04d}.jpg"), image)


def test_evaluation_people_are_never_loaded(tmp_path):
    make_lfw(tmp_path, {"Ann_A": 1, "Bob_B": 4, "Eve_E": 5, "Zed_Z": 7})
    faces, subjects = load_training_faces(tmp_path)
    assert faces.shape == (5, 126, 126, 3)
    assert sorted(set(subjects)) == ["Ann_A", "Bob_B"]


def test_real_lfw_training_people_exclude_every_evaluation_person():
    lfw = shared_path("data/lfw-deepfunneled")
    faces, subjects = load_training_faces(lfw, max_faces=300)
    assert len(faces) == 300
    assert all(len(os.listdir(lfw / person)) < 5 for person in set(subjects))


def test_command_trains_resumes_and_exports(tmp_path, capsys):
    lfw = tmp_path / "lfw"
    make_lfw(lfw, {f"P{i:02d}_X": 1 + i % 3 for i in range(12)} | {"Many_M": 6})
    out = tmp_path / "run"
    args = ["train-sr", "--lfw", str(lfw), "--out", str(out), "--scales", "2", "4", "--n-feats", "8", "--n-blocks", "1",
            "--batch-size", "2", "--patch", "8", "--lr-sizes", "12", "16", "--val-people", "3",
            "--checkpoint-every", "2", "--no-progress"]  # fmt: skip
    assert main(args + ["--steps", "2"]) == 0
    assert main(args + ["--steps", "4"]) == 0
    log = (out / "train.log").read_text()
    assert "step 2/2" in log and "step 4/4" in log and "step 2/4" not in log
    net, card = load_edsr(out / "face_edsr_realistic.json")
    assert net.scales == (2, 4)
    assert card["training"]["steps"] == 4
    # Many_M (six images) is an evaluation-sized person: never read. The three
    # held-out people give one validation face each and no training face.
    assert card["data"]["train_people"] == 9 and card["data"]["val_faces"] == 3
    assert card["data"]["train_faces"] + 3 <= sum(1 + i % 3 for i in range(12))
    assert set(card["validation_psnr_lr24"]) == {"2", "4"}
    # The card records the whole command, every option written out.
    assert card["command"].startswith(f"skmitm train-sr --lfw {lfw} --out {out}") and "--steps 4" in card["command"]


def test_command_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train-sr", "--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    for option in ("--lfw", "--degradation", "--steps", "--export", "--threads"):
        assert option in help_text


def test_shipped_weights_load_by_name():
    weights_dir = DEFAULT_WEIGHTS.parent
    by_name, card = load_edsr("plain")
    by_path, same_card = load_edsr(weights_dir / "face_edsr_plain.json")
    assert card == same_card and card["weights"] == "face_edsr_plain.pt"
    for a, b in zip(by_name.state_dict().values(), by_path.state_dict().values()):
        assert torch.equal(a, b)
    assert load_edsr("realistic")[1]["sha256"] == load_edsr()[1]["sha256"]
    with pytest.raises(FileNotFoundError, match=r"'sharp' is neither a file nor the name of shipped weights; "
                                                r"shipped: \[.*'plain'.*'realistic'"):
        load_edsr("sharp")


def test_a_file_named_like_shipped_weights_is_read_as_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_edsr(tiny_net(), tmp_path / "mine.pt")
    # "mine" is no shipped name, but a card with that stem exists here: with a suffix it is a path.
    assert load_edsr("mine.json")[0].config == tiny_net().config
    with pytest.raises(FileNotFoundError, match="neither a file nor the name"):
        load_edsr("mine")
