"""Super-resolution quality on faces of evaluation people: ours vs bicubic vs generic SR peers.

Faces: ``--faces`` probes (default 200) drawn with a fixed seed from the
SPEC §5 public benchmark (evaluation people only, never seen in training),
degraded with SPEC's pipeline (moderate by default: blur, area-downsample to
24 px, noise, JPEG). Each method upsamples the 24 px probe ×2, ×4 and ×8;
the target is the probe's own high-resolution 126×126 crop resized to the
output size (area for 48 and 96 px; bicubic for 192 px, which is larger than
the crop, so ×8 is scored against a smooth target for every method alike).

Methods: bicubic (OpenCV), our FaceEDSR (σ = 0 hypothesis, i.e. the plain
network output) for each weights card given, and the generic peers in
``$SKMITM_SHARED/models/sr-baselines`` (FSRCNN, ESPCN, LapSRN) through OpenCV's
``dnn_superres``, which needs the contrib build of OpenCV (``pip install
skmitm[sr-baselines]``; see ``docs/super_resolution.md``). Without it the
peers are skipped with a note.

Metrics: PSNR on RGB and PSNR and SSIM (Gaussian window σ = 1.5, as Wang et
al. 2004) on luma (BT.601 Y), the usual super-resolution convention; no
border is cropped.

Run: ``python benchmarks/sr_quality.py [--lfw DIR] [--faces 200]
[--severity moderate] [--weights CARD ...] [--peers DIR]``.
"""

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from skmitm import MultiHypothesisUpsampler, match_resolution
from skmitm.datasets import load_lfw_folder, make_cross_resolution_benchmark
from skmitm.metrics import psnr

from _shared import add_data_options, shared_path

SCALES = (2, 4, 8)
#: Generic peers and the scales their files cover.
PEERS = {"FSRCNN": (2, 4), "ESPCN": (2, 4), "LapSRN": (2, 4, 8)}


def luma(image):
    """BT.601 luma of an RGB uint8 image, as float64 on the 16–235 scale."""
    rgb = image.astype(np.float64)
    return 16 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255


def ssim(a, b):
    """Mean SSIM of two single-channel images on the 0–255 scale (Gaussian window σ = 1.5)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(x):
        return cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))


def scores(outputs, targets):
    """Mean PSNR (RGB), PSNR (Y) and SSIM (Y) over paired images."""
    rows = [(psnr(o, t), psnr(luma(o), luma(t)), ssim(luma(o), luma(t))) for o, t in zip(outputs, targets)]
    return dict(zip(("psnr_rgb", "psnr_y", "ssim_y"), np.mean(rows, axis=0).tolist()))


def peer_models(folder):
    """{(name, scale): dnn_superres model} for the peer files present; {} without opencv-contrib."""
    if not hasattr(cv2, "dnn_superres"):
        return {}
    models = {}
    for name, scales in PEERS.items():
        for s in scales:
            path = Path(folder) / f"{name}_x{s}.pb"
            if path.is_file():
                model = cv2.dnn_superres.DnnSuperResImpl_create()
                model.readModel(str(path))
                model.setModel(name.lower(), s)
                models[name, s] = model
    return models


def run(*, lfw, n_faces=200, severity="moderate", weights=(None,), peers_dir=None, threads=1, seed=0):
    """Score every method at every scale; returns (rows, facts)."""
    start = time.perf_counter()
    bench = make_cross_resolution_benchmark(
        load_lfw_folder(lfw, min_images_per_subject=5, max_images_per_subject=5), severity=severity, random_state=0
    )
    pick = np.sort(np.random.default_rng(seed).choice(len(bench.probe_images), size=n_faces, replace=False))
    probes = [bench.probe_images[i] for i in pick]
    faces = [bench.hr_probe_images[i] for i in pick]
    targets = {s: [match_resolution(f, 24 * s) for f in faces] for s in SCALES}
    facts = {"n_faces": n_faces, "n_people": len(set(bench.probe_subjects[pick])),
             "load_s": time.perf_counter() - start}
    rows = []

    def add(method, scale, outputs, seconds):
        rows.append({"method": method, "scale": scale, **scores(outputs, targets[scale]), "seconds": seconds})

    for s in SCALES:
        start = time.perf_counter()
        outputs = [cv2.resize(p, (24 * s, 24 * s), interpolation=cv2.INTER_CUBIC) for p in probes]
        add("bicubic", s, outputs, time.perf_counter() - start)
    for card in weights:
        # A (label, card) pair names the row; a card alone is named by its degradation.
        name, card = card if isinstance(card, tuple) else (None, card)
        up = MultiHypothesisUpsampler(card, sigmas=[0.0], include_original=False, n_threads=threads).fit()
        label = f"FaceEDSR ({name or up.card_.get('degradation', Path(str(card)).stem)})"
        start = time.perf_counter()
        sets = up.transform(probes)
        seconds = time.perf_counter() - start
        for s in SCALES:
            add(label, s, [hs.data[list(hs.meta["scale"]).index(s)] for hs in sets], seconds / len(SCALES))
    models = peer_models(peers_dir or shared_path("models/sr-baselines"))
    facts["peers"] = sorted({name for name, _ in models})
    for (name, s), model in sorted(models.items()):
        start = time.perf_counter()
        outputs = [model.upsample(p[:, :, ::-1].copy())[:, :, ::-1] for p in probes]
        add(name, s, outputs, time.perf_counter() - start)
    return rows, facts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_options(parser, model=False)
    parser.add_argument("--faces", type=int, default=200)
    parser.add_argument("--severity", default="moderate", choices=["moderate", "harsh"])
    parser.add_argument("--weights", nargs="+", default=[None], help="weights cards (default: the shipped one)")
    parser.add_argument("--peers", default=None, help="folder of the dnn_superres .pb files")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    rows, facts = run(lfw=args.lfw or shared_path("data/lfw-deepfunneled"), n_faces=args.faces,
                      severity=args.severity, weights=args.weights,
                      peers_dir=args.peers, threads=args.threads)
    print(f"{facts['n_faces']} probes of {facts['n_people']} evaluation people, {args.severity}, 24 px")
    if not facts["peers"]:
        print("generic peers skipped: this OpenCV has no dnn_superres (pip install 'skmitm[sr-baselines]')")
    print("| scale | method | PSNR RGB (dB) | PSNR Y (dB) | SSIM Y | seconds |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for s in SCALES:
        for r in sorted((r for r in rows if r["scale"] == s), key=lambda r: -r["psnr_y"]):
            print(f"| ×{s} | {r['method']} | {r['psnr_rgb']:.2f} | {r['psnr_y']:.2f} | {r['ssim_y']:.4f} "
                  f"| {r['seconds']:.1f} |")
    for s in SCALES:
        bicubic = next(r for r in rows if r["scale"] == s and r["method"] == "bicubic")
        peers = [r for r in rows if r["scale"] == s and r["method"] in PEERS]
        for r in rows:
            if r["scale"] == s and r["method"].startswith("FaceEDSR"):
                best_peer = max(peers, key=lambda p: p["psnr_y"]) if peers else None
                line = f"×{s} {r['method']}: {r['psnr_y'] - bicubic['psnr_y']:+.2f} dB Y over bicubic"
                if best_peer:
                    gap = r["psnr_y"] - best_peer["psnr_y"]
                    line += f", {gap:+.2f} dB Y over the best peer ({best_peer['method']})"
                print(line)


if __name__ == "__main__":
    main()
