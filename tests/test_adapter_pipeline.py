"""The template adapter inside the default pipeline: probes mapped, gallery kept, gallery files that remember it."""

import hashlib

import cv2
import numpy as np
import pytest
import torch

from skmitm import TemplateAdapter, enrol, load_gallery, make_mitm_pipeline, save_gallery
from skmitm.adapter_training import save_adapter
from skmitm.datasets import degrade_probe

SETTINGS = dict(n_chains=2, sigmas=2, scales=(2,), probe_size=16)
D = 24


class _Net(torch.nn.Module):
    """A small fixed face network: pooled pixels through a seeded linear map."""

    def __init__(self, seed=0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.proj = torch.nn.Parameter(torch.randn(3 * 8 * 8, D, generator=generator), requires_grad=False)

    def forward(self, x):
        return torch.nn.functional.adaptive_avg_pool2d(x, 8).flatten(1) @ self.proj


def _maps(seed):
    rng = np.random.default_rng(seed)
    return {"groups": np.array(["original@1.0", "super-resolved@2.0"]),
            "mean": rng.normal(size=(2, D)).astype(np.float32),
            "index": np.array([0, 1]),
            "coef": rng.normal(size=(2, D, D)).astype(np.float32),
            "intercept": rng.normal(size=(2, D)).astype(np.float32)}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A TorchScript network file, two adapters for it, twelve smooth 64 px faces and six 16 px probes."""
    root = tmp_path_factory.mktemp("adapted")
    torch.jit.trace(_Net(0), torch.zeros(1, 3, 112, 112)).save(str(root / "net.pt"))
    sha256 = hashlib.sha256((root / "net.pt").read_bytes()).hexdigest()
    maps = _maps(1)
    save_adapter(root / "adapter.npz", maps, network_sha256=sha256)
    save_adapter(root / "other.npz", _maps(2), network_sha256=sha256)
    rng = np.random.default_rng(3)
    images = [cv2.resize(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8), (64, 64), interpolation=cv2.INTER_CUBIC)
              for _ in range(12)]
    subjects = np.array([f"p{i:02d}" for i in range(12)])
    probes = [cv2.resize(img, (16, 16), interpolation=cv2.INTER_AREA) for img in images[:6]]
    return root, maps, images, subjects, probes


def _by_hand(sets, maps):
    """The documented map, written out per row: unit(unit(t - mean_g) @ W_g + b_g) for the probe kinds."""
    out = []
    for s in sets:
        rows = s.data.astype(np.float64).copy()
        for r, (kind, scale) in enumerate(zip(s.meta["kind"], s.meta["scale"])):
            g = list(maps["groups"]).index(f"{kind}@{float(scale)}")
            z = rows[r] - maps["mean"][g]
            y = z / np.linalg.norm(z) @ maps["coef"][g] + maps["intercept"][g]
            rows[r] = y / np.linalg.norm(y)
        out.append(s.with_data(rows.astype(np.float32)))
    return out


def test_the_adapt_step_is_opt_in(tmp_path):
    assert [name for name, _ in make_mitm_pipeline().steps] == ["degrade", "upsample", "templates", "identify"]
    names = [name for name, _ in make_mitm_pipeline(adapter="auto").steps]
    assert names == ["degrade", "upsample", "templates", "adapt", "identify"]
    auto = make_mitm_pipeline(model="net.onnx", adapter="auto").named_steps["adapt"]
    assert auto.get_params() == {"model": "net.onnx", "weights": None, "adapt_gallery": False, "required": False}
    given = make_mitm_pipeline(model="net.onnx", adapter=tmp_path / "a.npz").named_steps["adapt"]
    assert given.get_params() == {"model": "net.onnx", "weights": tmp_path / "a.npz", "adapt_gallery": False,
                                  "required": True}
    assert "adapt" not in make_mitm_pipeline("baseline", adapter="auto").named_steps


def test_probes_are_mapped_by_the_documented_formula_and_the_gallery_is_kept(setup):
    root, maps, images, subjects, probes = setup
    common = dict(model=root / "net.pt", probe_means="batch", similarity="cosine", **SETTINGS)
    adapted = make_mitm_pipeline(adapter=root / "adapter.npz", **common).fit(images, subjects)
    plain = make_mitm_pipeline(adapter=None, **common).fit(images, subjects)
    assert adapted.named_steps["adapt"].active_
    for key, value in plain[-1]._gallery.to_arrays().items():  # the gallery's templates are not mapped
        np.testing.assert_array_equal(adapted[-1]._gallery.to_arrays()[key], value)
    expected = plain[-1].decision_function(_by_hand(plain[:-1].transform(probes), maps))
    np.testing.assert_allclose(adapted.decision_function(probes), expected, atol=1e-5)
    assert not np.allclose(plain.decision_function(probes), expected, atol=1e-3)  # the map did change the scores


def test_synthetic_probe_means_are_taken_after_the_adapter(setup):
    root, maps, images, subjects, probes = setup
    adapted = make_mitm_pipeline(model=root / "net.pt", adapter=root / "adapter.npz", random_state=5,
                                 **SETTINGS).fit(images, subjects)
    plain = make_mitm_pipeline(model=root / "net.pt", adapter=None, random_state=5, **SETTINGS).fit(images, subjects)
    for key, value in plain[-1]._gallery.to_arrays().items():  # enrolment keeps the gallery as it is too
        np.testing.assert_array_equal(adapted[-1]._gallery.to_arrays()[key], value)
    synthetic = [degrade_probe(img, size=16, rng=np.random.default_rng([5, i])) for i, img in enumerate(images)]
    sets = _by_hand(plain[:-1].transform(synthetic), maps)
    rows, meta = np.concatenate([s.data for s in sets]), np.concatenate([s.meta for s in sets])
    for kind, group in (("original", "original@1.0"), ("super-resolved", "super-resolved@2.0")):
        np.testing.assert_allclose(adapted[-1].probe_means[group], rows[meta["kind"] == kind].mean(axis=0),
                                   atol=1e-5)


def test_a_gallery_file_remembers_its_adapter(setup, tmp_path):
    root, maps, images, subjects, probes = setup
    pipe = enrol(make_mitm_pipeline(model=root / "net.pt", adapter=root / "adapter.npz", **SETTINGS), images,
                 subjects)
    save_gallery(pipe, tmp_path / "g.npz")
    loaded = load_gallery(tmp_path / "g.npz", model=root / "net.pt", adapter=root / "adapter.npz")
    np.testing.assert_allclose(loaded.decision_function(probes), pipe.decision_function(probes), atol=1e-6)
    recorded = pipe.named_steps["adapt"].weights_sha256_
    other = hashlib.sha256((root / "other.npz").read_bytes()).hexdigest()
    with pytest.raises(ValueError) as error:
        load_gallery(tmp_path / "g.npz", model=root / "net.pt", adapter=root / "other.npz")
    assert str(error.value) == (
        f"gallery file {str(tmp_path / 'g.npz')!r} was enrolled with template adapter weights sha256 {recorded}; "
        f"the adapter given has sha256 {other} ({root / 'other.npz'})")
    with pytest.raises(ValueError, match="^no template adapter ships for the face network 'net.pt'"):
        load_gallery(tmp_path / "g.npz", model=root / "net.pt")  # the file's step requires one

    # A pipeline whose adapter passed templates through (none ships for this network) records none.
    auto = enrol(make_mitm_pipeline(model=root / "net.pt", adapter="auto", **SETTINGS), images, subjects)
    assert not auto.named_steps["adapt"].active_
    save_gallery(auto, tmp_path / "auto.npz")
    reloaded = load_gallery(tmp_path / "auto.npz", model=root / "net.pt")
    np.testing.assert_allclose(reloaded.decision_function(probes), auto.decision_function(probes), atol=1e-6)
    with pytest.raises(ValueError, match=r"enrolled with template adapter weights sha256 None; the adapter given"):
        load_gallery(tmp_path / "auto.npz", model=root / "net.pt", adapter=root / "adapter.npz")


def test_an_optional_adapter_passes_templates_through_for_a_network_none_ships_for(setup):
    root, maps, images, subjects, probes = setup
    plain = make_mitm_pipeline(model=root / "net.pt", adapter=None, **SETTINGS).fit(images, subjects)
    sets = plain[:-1].transform(probes)
    step = TemplateAdapter(root / "net.pt", required=False).fit()
    assert not step.active_ and step.groups_ == [] and step.weights_path_ is None
    assert step.network_sha256_ == hashlib.sha256((root / "net.pt").read_bytes()).hexdigest()
    for before, after in zip(sets, step.transform(sets)):
        np.testing.assert_array_equal(after.data, before.data)
    with pytest.raises(ValueError, match="^adapt_gallery=True but no template adapter ships for this face network"):
        TemplateAdapter(root / "net.pt", required=False, adapt_gallery=True).fit()
    # weights given are used whatever required says
    assert TemplateAdapter(root / "net.pt", weights=root / "adapter.npz", required=False).fit().active_


def test_command_line_adapter_option_and_gallery_files(setup, tmp_path, capsys):
    import json

    from skmitm.__main__ import main

    root, maps, images, subjects, probes = setup
    for i, (image, probe) in enumerate(zip(images, probes)):
        for folder, picture in ((tmp_path / "gallery" / f"p{i:02d}", image),
                                (tmp_path / "probes" / f"p{i:02d}", probe)):
            folder.mkdir(parents=True)
            cv2.imwrite(str(folder / "1.png"), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    common = ["--model", str(root / "net.pt"), "--chains", "2", "--sigmas", "2", "--scales", "2", "--probe-size", "16",
              "--no-progress"]

    def scores(path):
        return {(r["probe"], r["subject"]): r["score"] for r in json.loads(path.read_text())}

    gallery, probe_folder = str(tmp_path / "gallery"), str(tmp_path / "probes")
    for name, adapter in (("adapted", str(root / "adapter.npz")), ("plain", "none")):
        assert main(["identify", gallery, probe_folder, "--top", "6", "--adapter", adapter,
                     "--out", str(tmp_path / f"{name}.json"), *common]) == 0
    adapted, plain = scores(tmp_path / "adapted.json"), scores(tmp_path / "plain.json")
    assert adapted.keys() == plain.keys() and not np.allclose(list(adapted.values()), list(plain.values()), atol=1e-3)
    # an enrolled gallery keeps the adapter: the same scores from the file, and another adapter is refused
    assert main(["enrol", gallery, "--out", str(tmp_path / "g.npz"), "--adapter", str(root / "adapter.npz"),
                 *common]) == 0
    assert main(["identify", "--gallery", str(tmp_path / "g.npz"), probe_folder, "--top", "6", "--model",
                 str(root / "net.pt"), "--adapter", str(root / "adapter.npz"), "--out", str(tmp_path / "file.json"),
                 "--no-progress"]) == 0
    from_file = scores(tmp_path / "file.json")
    np.testing.assert_allclose([from_file[k] for k in adapted], list(adapted.values()), atol=1e-5)
    capsys.readouterr()
    for adapter, message in ((str(root / "other.npz"), "was enrolled with template adapter weights sha256"),
                             ("none", "was enrolled with other settings: --adapter none (the file: adapter sha256")):
        assert main(["identify", "--gallery", str(tmp_path / "g.npz"), probe_folder, "--model", str(root / "net.pt"),
                     "--adapter", adapter, "--no-progress"]) == 2
        assert message in capsys.readouterr().err


def test_an_adapter_is_refused_beside_other_sr_weights_than_it_was_trained_through(setup, tmp_path):
    root, maps, images, subjects, probes = setup
    from skmitm._edsr import DEFAULT_WEIGHTS

    sha256 = hashlib.sha256((root / "net.pt").read_bytes()).hexdigest()
    # The sha256 of the shipped plain weights' file, read from the bytes.
    plain = hashlib.sha256((DEFAULT_WEIGHTS.parent / "face_edsr_plain.pt").read_bytes()).hexdigest()
    save_adapter(tmp_path / "plain.npz", maps, network_sha256=sha256, sr_sha256=plain)
    assert TemplateAdapter(root / "net.pt", weights=tmp_path / "plain.npz").fit().sr_sha256_ == plain
    assert TemplateAdapter(root / "net.pt", weights=root / "adapter.npz").fit().sr_sha256_ is None
    # Beside the default weights: refused before any template is computed, naming the weights to pass.
    pipe = make_mitm_pipeline(model=root / "net.pt", adapter=tmp_path / "plain.npz", **SETTINGS)
    with pytest.raises(ValueError, match=r"trained through the super-resolution weights with sha256 "
                                         rf"{plain} \(shipped as 'plain'\).*--sr-weights plain"):
        pipe.fit(images, subjects)
    # Beside the weights it was trained through, it fits and maps the probes as without the record.
    recorded = make_mitm_pipeline(model=root / "net.pt", adapter=tmp_path / "plain.npz", sr_weights="plain",
                                  **SETTINGS).fit(images, subjects)
    save_adapter(tmp_path / "unrecorded.npz", maps, network_sha256=sha256)
    unrecorded = make_mitm_pipeline(model=root / "net.pt", adapter=tmp_path / "unrecorded.npz", sr_weights="plain",
                                    **SETTINGS).fit(images, subjects)
    np.testing.assert_allclose(recorded.decision_function(probes), unrecorded.decision_function(probes), atol=1e-6)
    with pytest.raises(ValueError, match=r"^sr_sha256='abc'; expected the 64 hex digits"):
        save_adapter(tmp_path / "bad.npz", maps, network_sha256=sha256, sr_sha256="abc")
