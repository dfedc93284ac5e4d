"""Does face super-resolution help identification? Rank-1 on the public LFW benchmark (Table 2, rows 2–3).

The SPEC §5 benchmark (423 subjects, 24 px probes, moderate and harsh) with
MobileFaceNet templates and the high-resolution gallery left as it is. Each
probe is super-resolved once by :class:`skmitm.MultiHypothesisUpsampler`
(16 blur sigmas × scales 2, 4, 8, plus the original), templates are computed
once, and every row is a selection of probe hypotheses in
:class:`skmitm.FusedNearestNeighborIdentifier`:

- baseline: the original probe only (cosine: SPEC's baseline; Pearson);
- single-hypothesis SR at scale s: the σ = 0 hypothesis;
- multi-hypothesis SR at scale s: all 16 hypotheses, S_max (the best
  hypothesis counts) and S_add (their mean);
- all scales: the 48 SR hypotheses, S_max and S_add;
- generic SR peers (FSRCNN ×2/×4, LapSRN ×8 through OpenCV dnn_superres,
  which needs ``pip install 'skmitm[sr-baselines]'``): one hypothesis each.

Probes are processed in chunks, so memory stays small although a probe has
49 images of up to 192×192 pixels. ``--probes-per-subject`` (1–4) evaluates
only the first probes of every subject against the full gallery, for a
quicker run at the same difficulty; the baseline is measured on the same
probes.

Run: ``python benchmarks/sr_gain.py [--lfw DIR] [--model FILE]
[--severity moderate harsh] [--probes-per-subject 4] [--weights CARD]
[--n-sigmas 16] [--sigma-max 1.0] [--threads 1] [--crop spec|dlib]``.
"""

import argparse
from pathlib import Path
import time
import warnings

import numpy as np
from tqdm import tqdm

from skmitm import (
    FusedNearestNeighborIdentifier,
    HypothesisSet,
    MultiHypothesisUpsampler,
    TemplateExtractor,
    make_meta,
)
from skmitm.datasets import load_lfw_folder, make_cross_resolution_benchmark
from skmitm.metrics import rank_k_identification_rate

from _shared import add_data_options, shared_path
from sr_quality import peer_models

#: The peers the issue names, one per scale.
PEER_ROWS = (("FSRCNN", 2), ("FSRCNN", 4), ("LapSRN", 8))


def rows(scales):
    """(label, which template list, identifier parameters) of every row."""
    sr = {"probe_kinds": ("super-resolved",)}
    out = [
        ("baseline (original probe), cosine", "ours", {"probe_kinds": ("original",), "similarity": "cosine"}),
        ("baseline (original probe), Pearson", "ours", {"probe_kinds": ("original",)}),
    ]
    for s in scales:
        out.append((f"×{s} single-hypothesis SR (σ=0)", "ours", {**sr, "scales": (s,), "probe_sigmas": (0.0,)}))
        out.append((f"×{s} multi-hypothesis SR, S_max", "ours", {**sr, "scales": (s,), "fusion": "S_max"}))
        out.append((f"×{s} multi-hypothesis SR, S_add", "ours", {**sr, "scales": (s,), "fusion": "S_add"}))
    out.append(("all scales, single-hypothesis, S_add", "ours", {**sr, "probe_sigmas": (0.0,), "fusion": "S_add"}))
    out.append(("all scales, multi-hypothesis, S_max", "ours", {**sr, "fusion": "S_max"}))
    out.append(("all scales, multi-hypothesis, S_add", "ours", {**sr, "fusion": "S_add"}))
    for name, s in PEER_ROWS:
        out.append((f"×{s} {name} (generic peer)", f"{name}_x{s}", {**sr, "scales": (s,)}))
    return out


def _peer_sets(models, probes):
    """{"NAME_xS": [HypothesisSet with the peer's one SR image]} for each peer row available."""
    out = {}
    for name, s in PEER_ROWS:
        if (name, s) in models:
            images = [models[name, s].upsample(p[:, :, ::-1].copy())[:, :, ::-1].copy() for p in probes]
            out[f"{name}_x{s}"] = [
                HypothesisSet([im], make_meta(1, scale=s, kind="super-resolved", sigma=0.0, size=p.shape[0]))
                for im, p in zip(images, probes)
            ]
    return out


def run(*, lfw, model, severity="moderate", weights=None, sigmas=16, probes_per_subject=4, threads=1, chunk=16,
        peers_dir=None, lfw_bunch=None, progress=True):
    """Templates once, then every row; returns (results, facts)."""
    facts = {}
    start = time.perf_counter()
    lfw_bunch = lfw_bunch or load_lfw_folder(lfw, min_images_per_subject=5, max_images_per_subject=5)
    bench = make_cross_resolution_benchmark(lfw_bunch, severity=severity, random_state=0)
    seen, keep = {}, []
    for i, subject in enumerate(bench.probe_subjects):
        seen[subject] = seen.get(subject, 0) + 1
        if seen[subject] <= probes_per_subject:
            keep.append(i)
    probes = [bench.probe_images[i] for i in keep]
    subjects = bench.probe_subjects[keep]
    facts["benchmark_s"] = time.perf_counter() - start

    upsampler = MultiHypothesisUpsampler(weights, sigmas=sigmas, n_threads=threads).fit()
    extractor = TemplateExtractor(model).fit()
    models = peer_models(peers_dir or shared_path("models/sr-baselines"))
    gallery = extractor.transform(bench.gallery_images)
    templates = {"ours": []}
    facts["sr_s"] = facts["templates_s"] = facts["peers_s"] = 0.0
    for begin in tqdm(range(0, len(probes), chunk), disable=not progress, desc=f"SR + templates ({severity})"):
        part = probes[begin : begin + chunk]
        start = time.perf_counter()
        sets = upsampler.transform(part)
        facts["sr_s"] += time.perf_counter() - start
        start = time.perf_counter()
        peer_sets = _peer_sets(models, part)
        facts["peers_s"] += time.perf_counter() - start
        start = time.perf_counter()
        templates["ours"] += extractor.transform(sets)
        for key, value in peer_sets.items():
            templates.setdefault(key, []).extend(extractor.transform(value))
        facts["templates_s"] += time.perf_counter() - start

    results = []
    for label, source, params in rows(upsampler.scales_):
        if source not in templates:
            continue
        clf = FusedNearestNeighborIdentifier(**{"fusion": "S_max", **params}).fit(gallery, bench.gallery_subjects)
        scores = clf.decision_function(templates[source])
        results.append(
            {
                "row": label,
                "rank1": rank_k_identification_rate(subjects, scores, clf.classes_, k=1),
                "rank5": rank_k_identification_rate(subjects, scores, clf.classes_, k=5),
            }
        )
    facts.update(n_subjects=len(bench.gallery_subjects), n_probes=len(probes),
                 peers=[k for k in templates if k != "ours"],
                 weights=upsampler.card_.get("weights"))
    return results, facts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_options(parser)
    parser.add_argument("--severity", nargs="+", default=["moderate", "harsh"], choices=["moderate", "harsh"])
    parser.add_argument("--weights", default=None, help="FaceEDSR weights card (default: the shipped one)")
    parser.add_argument("--sigma-max", type=float, default=1.0, help="largest blur sigma (default: %(default)s)")
    parser.add_argument("--n-sigmas", type=int, default=16, help="blur sigmas from 0 to --sigma-max")
    parser.add_argument("--probes-per-subject", type=int, default=4, choices=[1, 2, 3, 4])
    parser.add_argument("--threads", type=int, default=1, help="torch threads for super-resolution")
    parser.add_argument("--peers", default=None, help="folder of the dnn_superres .pb files")
    parser.add_argument("--crop", default="spec", choices=["spec", "dlib"],
                        help="face crop of the benchmark images: the benchmark's (for MobileFaceNet) or dlib's own box")
    args = parser.parse_args(argv)
    # One gallery image per subject is the protocol, not a regression problem.
    warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%")
    lfw = args.lfw or shared_path("data/lfw-deepfunneled")
    model = args.model or shared_path("models/mobilefacenet.onnx")
    lfw_bunch = load_lfw_folder(lfw, min_images_per_subject=5, max_images_per_subject=5, crop=args.crop)
    for severity in args.severity:
        results, t = run(lfw=lfw, model=model, severity=severity, weights=args.weights,
                         sigmas=np.linspace(0.0, args.sigma_max, args.n_sigmas).tolist(),
                         probes_per_subject=args.probes_per_subject, threads=args.threads,
                         peers_dir=args.peers, lfw_bunch=lfw_bunch)
        print(f"\nLFW cross-resolution, {severity}, 24 px: {t['n_subjects']} subjects, {t['n_probes']} probes "
              f"({args.probes_per_subject} per subject); {Path(model).name}, {args.crop} crop; HR gallery; "
              f"weights {t['weights']}; "
              f"{args.n_sigmas} sigmas 0…{args.sigma_max}")
        if not t["peers"]:
            print("generic peers skipped: this OpenCV has no dnn_superres (pip install 'skmitm[sr-baselines]')")
        print("| probe hypotheses | rank-1 | rank-5 |\n| --- | ---: | ---: |")
        for r in results:
            print(f"| {r['row']} | {100 * r['rank1']:.1f}% | {100 * r['rank5']:.1f}% |")
        print(f"super-resolution {t['sr_s']:.0f} s, peers {t['peers_s']:.0f} s, templates {t['templates_s']:.0f} s")


if __name__ == "__main__":
    main()
