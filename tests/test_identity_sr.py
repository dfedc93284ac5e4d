"""The torch copy of ONNX face networks and the identity loss of super-resolution training."""

import json

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from skmitm import TemplateExtractor
from skmitm._backends import file_sha256
from skmitm._edsr import DEFAULT_WEIGHTS, FaceEDSR, load_edsr, save_edsr
from skmitm._onnx_torch import OnnxGraphModule
from skmitm.__main__ import main
from skmitm.sr_training import IdentityLoss, make_identity_batch, train

from conftest import SHARED, shared_path
from test_edsr import TINY, make_lfw, smooth_faces


def _init(rng, name, shape):
    return numpy_helper.from_array(rng.normal(0, 0.5, shape).astype(np.float32), name)


def make_face_net(path, *, head="reshape", size=16, dim=5, seed=0):
    """A small ONNX 'face network' using the operators MobileFaceNet-style graphs use.

    ``head="reshape"`` flattens through Shape/Gather/Unsqueeze/Concat/Reshape and
    a Gemm, as insightface's exports do; ``"flatten"`` through Flatten and MatMul.
    """
    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array(np.float32(0.25), "offset"),
        numpy_helper.from_array(np.float32(1.5), "gain"),
        _init(rng, "w1", (4, 3, 3, 3)), _init(rng, "b1", (4,)),
        numpy_helper.from_array(rng.uniform(0.5, 1.5, 4).astype(np.float32), "bn_scale"),
        _init(rng, "bn_bias", (4,)), _init(rng, "bn_mean", (4,)),
        numpy_helper.from_array(rng.uniform(0.5, 2.0, 4).astype(np.float32), "bn_var"),
        numpy_helper.from_array(rng.uniform(0.05, 0.3, (4, 1, 1)).astype(np.float32), "slope"),
        _init(rng, "w2", (4, 1, 3, 3)),
        numpy_helper.from_array(np.float32(0.0), "lo"), numpy_helper.from_array(np.float32(0.6), "hi"),
    ]
    nodes = [
        helper.make_node("Sub", ["input", "offset"], ["a"]),
        helper.make_node("Mul", ["a", "gain"], ["b"]),
        # Asymmetric padding, as TF-style exports write it.
        helper.make_node("Conv", ["b", "w1", "b1"], ["c"], strides=[2, 2], pads=[0, 0, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("BatchNormalization", ["c", "bn_scale", "bn_bias", "bn_mean", "bn_var"], ["d"],
                         epsilon=1e-3),
        helper.make_node("PRelu", ["d", "slope"], ["e"]),
        helper.make_node("Conv", ["e", "w2"], ["f"], group=4, pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Clip", ["f", "lo", "hi"], ["g"]),
        helper.make_node("Add", ["g", "e"], ["h"]),
        helper.make_node("Relu", ["h"], ["i"]),
    ]
    features = 4 * (size // 2) ** 2
    if head == "reshape":
        inits += [numpy_helper.from_array(np.array(0, np.int64), "zero"),
                  numpy_helper.from_array(np.array([-1], np.int64), "minus_one"),
                  _init(rng, "fc", (dim, features)), _init(rng, "fc_b", (dim,))]
        nodes += [
            helper.make_node("Shape", ["i"], ["shape"]),
            helper.make_node("Gather", ["shape", "zero"], ["n"], axis=0),
            helper.make_node("Unsqueeze", ["n"], ["n1"], axes=[0]),
            helper.make_node("Concat", ["n1", "minus_one"], ["new_shape"], axis=0),
            helper.make_node("Reshape", ["i", "new_shape"], ["flat"]),
            helper.make_node("Gemm", ["flat", "fc", "fc_b"], ["emb"], transB=1, alpha=0.5, beta=2.0),
        ]
    else:
        inits += [_init(rng, "fc", (features, dim))]
        nodes += [helper.make_node("Flatten", ["i"], ["flat"], axis=1),
                  helper.make_node("MatMul", ["flat", "fc"], ["emb"])]
    graph = helper.make_graph(
        nodes, "face", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("emb", TensorProto.FLOAT, ["batch", dim])], inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def extractor_templates(path, images):
    """Templates of uint8 images through TemplateExtractor (onnxruntime and OpenCV), one row each."""
    sets = TemplateExtractor(model=path, backend="onnx").fit().transform(list(images))
    return np.vstack([s.data for s in sets]).astype(np.float64)


def onnxruntime_output(path, batch):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: batch})[0]


# ---------------------------------------------------------------- torch copy of the graph


@pytest.mark.parametrize("head", ["reshape", "flatten"])
def test_torch_copy_computes_what_onnxruntime_computes(tmp_path, head):
    path = make_face_net(tmp_path / "net.onnx", head=head)
    batch = np.random.default_rng(3).uniform(-1, 1, (3, 3, 16, 16)).astype(np.float32)
    expected = onnxruntime_output(path, batch)
    got = OnnxGraphModule(path)(torch.from_numpy(batch)).numpy()
    assert got.shape == expected.shape == (3, 5)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_torch_copy_of_mobilefacenet_computes_what_onnxruntime_computes():
    path = shared_path("models/mobilefacenet.onnx")
    batch = np.random.default_rng(0).uniform(-1, 1, (2, 3, 112, 112)).astype(np.float32)
    expected = onnxruntime_output(path, batch)
    got = OnnxGraphModule(path)(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_gradients_reach_the_input_and_the_weights_stay_fixed(tmp_path):
    net = OnnxGraphModule(make_face_net(tmp_path / "net.onnx")).double()
    assert not any(b.requires_grad for b in net.buffers()) and not list(net.parameters())
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.uniform(-1, 1, (2, 3, 16, 16))).requires_grad_()
    direction = torch.from_numpy(rng.normal(size=x.shape))
    weights = torch.from_numpy(rng.normal(size=(2, 5)))
    (net(x) * weights).sum().backward()
    # The directional derivative by central differences, in double precision.
    eps = 1e-6
    with torch.no_grad():
        numeric = ((net(x + eps * direction) - net(x - eps * direction)) * weights).sum() / (2 * eps)
    assert float((x.grad * direction).sum()) == pytest.approx(float(numeric), rel=1e-5)
    assert float(x.grad.abs().sum()) > 0


def test_unsupported_operators_are_refused_by_name(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 1, 1])],
    )
    path = tmp_path / "pool.onnx"
    onnx.save(helper.make_model(graph), path)
    with pytest.raises(ValueError, match=r"pool\.onnx: operators \['GlobalAveragePool'\] have no torch copy"):
        OnnxGraphModule(path)


def test_a_broken_file_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x08\x07not a protobuf at all" * 3)
    with pytest.raises(ValueError, match=r"broken\.onnx: not a readable ONNX file"):
        OnnxGraphModule(path)


# ---------------------------------------------------------------- identity loss


def test_identity_targets_are_the_extractors_templates(tmp_path):
    path = make_face_net(tmp_path / "net.onnx")
    faces = smooth_faces(4, size=40, seed=2)
    expected = extractor_templates(path, faces)
    expected = expected / np.linalg.norm(expected, axis=1, keepdims=True)
    got = IdentityLoss(path).targets(faces).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_identity_loss_is_one_minus_the_cosine_of_extractor_templates(tmp_path):
    path = make_face_net(tmp_path / "net.onnx")
    loss = IdentityLoss(path)
    hr = smooth_faces(3, size=40, seed=4)
    sr = smooth_faces(3, size=16, seed=5)  # already the network's input size: no resize on either path
    a, b = extractor_templates(path, sr), extractor_templates(path, hr)
    cosines = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    images = torch.from_numpy(sr).permute(0, 3, 1, 2).float() / 255
    assert float(loss(images, loss.targets(hr))) == pytest.approx(float(np.mean(1 - cosines)), abs=1e-5)
    # A face against its own template loses nothing.
    assert float(loss(images, loss.targets(sr))) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("size", [10, 40])
def test_identity_loss_resizes_as_the_extractor_does(tmp_path, size):
    path = make_face_net(tmp_path / "net.onnx")
    # Noise, and sizes that are no integer multiple of the input: the resize kernel shows.
    images = np.random.default_rng(size).integers(0, 256, (3, size, size, 3), dtype=np.uint8)
    expected = extractor_templates(path, images)
    expected = expected / np.linalg.norm(expected, axis=1, keepdims=True)
    got = IdentityLoss(path).embed(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255).numpy()
    # torch's bicubic is OpenCV's INTER_CUBIC except for the uint8 rounding the loss leaves out
    # (a bilinear resize is off by about 0.25 here).
    np.testing.assert_allclose(got, expected, atol=0.02)


def test_identity_batches_are_whole_seeded_faces():
    faces = smooth_faces(6, size=64)
    lr, hr = make_identity_batch(faces, np.random.default_rng(0), batch_size=5, lr_sizes=(12, 20))
    again, hr_again = make_identity_batch(faces, np.random.default_rng(0), batch_size=5, lr_sizes=(12, 20))
    assert torch.equal(lr, again) and np.array_equal(hr, hr_again)
    assert lr.shape[:2] == (5, 3) and lr.shape[2] == lr.shape[3] and 12 <= lr.shape[2] <= 20
    assert hr.shape == (5, 64, 64, 3)
    # Every HR face is a training face or its mirror image.
    for face in hr:
        assert any(np.array_equal(face, f) or np.array_equal(face, f[:, ::-1]) for f in faces)


# ---------------------------------------------------------------- training


def test_identity_loss_leaves_the_pixel_batches_alone(tmp_path):
    path = make_face_net(tmp_path / "net.onnx")
    faces = smooth_faces(8)
    _, plain = train(faces, steps=1, checkpoint_every=1, **TINY)
    _, with_identity = train(faces, steps=1, checkpoint_every=1, identity_model=path, identity_batch=2, **TINY)
    # The first step's pixel loss is computed before any update: same batch, same value.
    assert with_identity["loss"][0][1] == pytest.approx(plain["loss"][0][1], rel=1e-6)
    assert plain["identity"] == [] and len(with_identity["identity"]) == 1


def test_identity_loss_brings_super_resolved_templates_closer(tmp_path):
    path = make_face_net(tmp_path / "net.onnx")
    faces = smooth_faces(8)
    loss = IdentityLoss(path)
    options = dict(TINY, steps=1, seed=1, lr=1e-3)
    # The identity batch of step 0 (its own generator, see train).
    lr, hr = make_identity_batch(faces, np.random.default_rng([1, 0, 1]), batch_size=4, lr_sizes=TINY["lr_sizes"])
    wanted = loss.targets(hr)

    def identity_loss(net):
        with torch.no_grad():
            return float(sum(loss(net(lr)[s], wanted) for s in TINY["scales"]))

    before, _ = train(faces, **{**options, "lr": 0.0})
    plain, _ = train(faces, **options)
    identity_trained, _ = train(faces, identity_model=path, identity_weight=100.0, identity_batch=4, **options)
    # From the same starting weights, one step with the identity loss lowers it on its batch; a
    # pixel-only step does not do as well.
    assert identity_loss(identity_trained) < identity_loss(before)
    assert identity_loss(identity_trained) < identity_loss(plain)


def test_fine_tuning_starts_from_the_given_weights(tmp_path):
    faces = smooth_faces(4)
    start = FaceEDSR((2, 4), n_feats=8, n_blocks=1)
    torch.nn.init.normal_(start.head.weight)
    card = save_edsr(start, tmp_path / "start.pt")
    # A zero learning rate keeps the starting point: the result is the saved network itself.
    net, _ = train(faces, steps=1, init_weights=card, **{**TINY, "lr": 0.0})
    for (name, a), b in zip(start.state_dict().items(), net.state_dict().values()):
        assert torch.equal(a, b), name
    scratch, _ = train(faces, steps=1, **{**TINY, "lr": 0.0})
    assert not torch.equal(scratch.head.weight, start.head.weight)
    with pytest.raises(ValueError, match="init_weights .* holds a network"):
        train(faces, steps=1, init_weights=card, **{**TINY, "n_feats": 12})


@pytest.mark.parametrize("weight", [-0.1, float("nan"), "1"])
def test_bad_identity_weights_are_refused(weight):
    with pytest.raises(ValueError, match="identity_weight="):
        train(smooth_faces(2), steps=1, identity_weight=weight, **TINY)


def test_command_records_the_identity_loss_and_the_starting_weights(tmp_path):
    lfw = tmp_path / "lfw"
    make_lfw(lfw, {f"P{i:02d}_X": 1 + i % 3 for i in range(8)})
    face_net = make_face_net(tmp_path / "net.onnx")
    start = save_edsr(FaceEDSR((2, 4), n_feats=8, n_blocks=1), tmp_path / "start.pt")
    out = tmp_path / "run"
    args = ["train-sr", "--lfw", str(lfw), "--out", str(out), "--scales", "2", "4", "--n-feats", "8", "--n-blocks", "1",
            "--batch-size", "2", "--patch", "8", "--lr-sizes", "12", "16", "--val-people", "2", "--steps", "2",
            "--checkpoint-every", "2", "--identity-model", str(face_net), "--identity-weight", "0.3",
            "--identity-batch", "2", "--init-weights", str(start), "--no-progress"]  # fmt: skip
    assert main(args) == 0
    _, card = load_edsr(out / "face_edsr_realistic.json")
    identity = card["training"]["identity_loss"]
    assert identity["model_sha256"] == file_sha256(face_net) and identity["weight"] == 0.3 and identity["batch"] == 2
    assert 0.0 <= identity["final"] <= 2.0
    assert card["training"]["init_weights"]["sha256"] == json.loads(start.read_text())["sha256"]
    assert "--identity-model" in card["command"] and "--init-weights" in card["command"]
    assert "identity" in (out / "train.log").read_text()


# ---------------------------------------------------------------- choosing the weights in a pipeline


def test_pipeline_and_command_line_choose_the_sr_weights(tmp_path, capsys):
    from skmitm import make_mitm_pipeline

    from test_adapter_pipeline import _Net

    # The cards' own record, read directly.
    shipped = {name: json.loads((DEFAULT_WEIGHTS.parent / f"face_edsr_{name}.json").read_text())["sha256"]
               for name in ("plain", "realistic")}
    assert make_mitm_pipeline(sr_weights="plain").named_steps["upsample"].fit().card_["sha256"] == shipped["plain"]
    assert make_mitm_pipeline().named_steps["upsample"].fit().card_["sha256"] == shipped["realistic"]

    torch.jit.trace(_Net(0), torch.zeros(1, 3, 112, 112)).save(str(tmp_path / "net.pt"))
    rng = np.random.default_rng(3)
    for i in range(6):
        image = cv2.resize(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8), (64, 64), interpolation=cv2.INTER_CUBIC)
        probe = cv2.resize(image, (16, 16), interpolation=cv2.INTER_AREA)
        for folder, picture in ((tmp_path / "gallery" / f"p{i}", image), (tmp_path / "probes" / f"p{i}", probe)):
            folder.mkdir(parents=True)
            cv2.imwrite(str(folder / "1.png"), picture)
    common = ["--model", str(tmp_path / "net.pt"), "--chains", "2", "--sigmas", "2", "--scales", "2",
              "--probe-size", "16", "--no-progress"]
    gallery, probes = str(tmp_path / "gallery"), str(tmp_path / "probes")

    def scores(name):
        return {(r["probe"], r["subject"]): r["score"] for r in json.loads((tmp_path / name).read_text())}

    for name, extra in (("default.json", []), ("plain.json", ["--sr-weights", "plain"])):
        assert main(["identify", gallery, probes, "--top", "6", "--out", str(tmp_path / name), *extra, *common]) == 0
    default, plain = scores("default.json"), scores("plain.json")
    assert default.keys() == plain.keys()
    assert not np.allclose(list(default.values()), list(plain.values()), atol=1e-4)
    # A gallery file keeps the weights its synthetic probe means were made with.
    assert main(["enrol", gallery, "--out", str(tmp_path / "g.npz"), "--sr-weights", "plain", *common]) == 0
    assert main(["identify", "--gallery", str(tmp_path / "g.npz"), probes, "--top", "6", "--sr-weights", "plain",
                 "--model", str(tmp_path / "net.pt"), "--out", str(tmp_path / "file.json"), "--no-progress"]) == 0
    from_file = scores("file.json")
    np.testing.assert_allclose([from_file[k] for k in plain], list(plain.values()), atol=1e-5)
    # Without --sr-weights the file's own (shipped) weights are used; other weights are refused.
    assert main(["identify", "--gallery", str(tmp_path / "g.npz"), probes, "--top", "6", "--model",
                 str(tmp_path / "net.pt"), "--out", str(tmp_path / "auto.json"), "--no-progress"]) == 0
    auto = scores("auto.json")
    np.testing.assert_allclose([auto[k] for k in plain], list(plain.values()), atol=1e-5)
    capsys.readouterr()
    assert main(["identify", "--gallery", str(tmp_path / "g.npz"), probes, "--model", str(tmp_path / "net.pt"),
                 "--sr-weights", "realistic", "--no-progress"]) == 2
    assert "was enrolled with super-resolution weights sha256" in capsys.readouterr().err


def test_auto_sr_weights_follow_the_network_the_identity_loss_used(tmp_path, monkeypatch):
    import hashlib

    from skmitm import _edsr, make_mitm_pipeline
    from skmitm._enrolment import load_gallery, save_gallery

    from test_adapter_pipeline import _Net

    ours, other = tmp_path / "ours.pt", tmp_path / "other.pt"
    torch.jit.trace(_Net(0), torch.zeros(1, 3, 112, 112)).save(str(ours))
    torch.jit.trace(_Net(1), torch.zeros(1, 3, 112, 112)).save(str(other))
    # A weights folder holding the shipped cards and one more, trained "against" ours.
    folder = tmp_path / "weights"
    folder.mkdir()
    for path in DEFAULT_WEIGHTS.parent.glob("face_edsr_*"):
        (folder / path.name).write_bytes(path.read_bytes())
    card = json.loads((folder / "face_edsr_plain.json").read_text())
    card["training"]["identity_loss"] = {"model": "ours.pt",
                                         "model_sha256": hashlib.sha256(ours.read_bytes()).hexdigest()}
    (folder / "face_edsr_ours.json").write_text(json.dumps(card))
    monkeypatch.setattr(_edsr, "_WEIGHTS_DIR", folder)
    assert make_mitm_pipeline(model=ours).named_steps["upsample"].weights == "ours"
    assert make_mitm_pipeline(model=str(ours), sr_weights="auto").named_steps["upsample"].weights == "ours"
    # Another network, a network that is not a file, and dlib's default: the upsampler's default.
    assert make_mitm_pipeline(model=other).named_steps["upsample"].weights is None
    assert make_mitm_pipeline(model=_Net(0)).named_steps["upsample"].weights is None
    assert make_mitm_pipeline().named_steps["upsample"].weights is None
    # Given outright, the weights are taken as given.
    assert make_mitm_pipeline(model=ours, sr_weights="realistic").named_steps["upsample"].weights == "realistic"
    assert make_mitm_pipeline(model=ours, sr_weights=None).named_steps["upsample"].weights is None
    # The baseline has no upsampler to choose for.
    assert "upsample" not in make_mitm_pipeline("baseline", model=ours).named_steps

    # An enrolled gallery reopens with the weights it was enrolled with, found by their sha256.
    rng = np.random.default_rng(4)
    faces = [cv2.resize(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8), (64, 64)) for _ in range(3)]
    pipe = make_mitm_pipeline(model=ours, probe_size=16, scales=(2,), n_chains=2, sigmas=2).fit(faces, ["a", "b", "c"])
    save_gallery(pipe, tmp_path / "g.npz")
    loaded = load_gallery(tmp_path / "g.npz")
    assert loaded.named_steps["upsample"].card_["sha256"] == card["sha256"]
    assert loaded.named_steps["upsample"].weights == "ours"  # (the first name, in order, with that sha256)


@pytest.mark.skipif(not (SHARED / "models/mobilefacenet.onnx").is_file(),
                    reason="needs models/mobilefacenet.onnx under the shared folder (see docs/data_and_models.md)")
def test_auto_sr_weights_pick_the_identity_weights_for_mobilefacenet():
    from skmitm import make_mitm_pipeline

    network = SHARED / "models/mobilefacenet.onnx"
    upsampler = make_mitm_pipeline(model=network).named_steps["upsample"]
    assert upsampler.weights == "identity"
    identity = json.loads((DEFAULT_WEIGHTS.parent / "face_edsr_identity.json").read_text())
    assert upsampler.fit().card_["sha256"] == identity["sha256"]


# ---------------------------------------------------------------- the shipped identity-trained weights


def test_shipped_identity_weights_are_verified_and_record_their_training():
    net, card = load_edsr("identity")
    assert net.config == load_edsr("realistic")[0].config
    training = card["training"]
    realistic = json.loads((DEFAULT_WEIGHTS.parent / "face_edsr_realistic.json").read_text())
    assert training["init_weights"]["sha256"] == realistic["sha256"]
    assert training["identity_loss"]["model"] == "mobilefacenet.onnx" and training["identity_loss"]["weight"] > 0
    shared = SHARED / "models" / "mobilefacenet.onnx"
    if shared.is_file():  # the network it was trained against, where it is at hand
        assert training["identity_loss"]["model_sha256"] == file_sha256(shared)


def test_identity_weights_bring_evaluation_faces_closer_to_their_photos():
    lfw = shared_path("data/lfw-deepfunneled")
    model = shared_path("models/mobilefacenet.onnx")
    from skmitm.datasets import degrade_probe

    people = sorted(p.name for p in lfw.iterdir() if len(list(p.iterdir())) >= 5)[:40]
    faces = [np.ascontiguousarray(cv2.imread(str(lfw / p / f"{p}_0002.jpg"))[55:181, 62:188, ::-1]) for p in people]
    probes = [degrade_probe(f, size=24, severity="moderate", rng=i) for i, f in enumerate(faces)]
    photos = extractor_templates(model, faces)
    cosines = {}
    for name in ("realistic", "identity"):
        net, _ = load_edsr(name)
        with torch.no_grad():
            out = [net(torch.from_numpy(p).permute(2, 0, 1)[None].float() / 255, scales=(4,))[4] for p in probes]
        images = [(y[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy() for y in out]
        sr = extractor_templates(model, images)
        cosines[name] = np.sum(sr * photos, 1) / np.linalg.norm(sr, axis=1) / np.linalg.norm(photos, axis=1)
    # The same 40 faces of evaluation people (never trained on): closer to their own photos on average
    # and for most faces.
    assert cosines["identity"].mean() > cosines["realistic"].mean() + 0.02
    assert np.mean(cosines["identity"] > cosines["realistic"]) > 0.6
