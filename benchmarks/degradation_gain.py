"""Do gallery degradations help? Rank-1 on the public LFW benchmark with and without them.

The SPEC §5 benchmark (423 subjects, 1,692 probes of 24 px, moderate by
default) with MobileFaceNet templates. Probes are used as they are (one
hypothesis, resized bicubically to the network input), so this isolates the
gallery side: the gallery is degraded by :class:`skmitm.GalleryDegrader`
with the largest number of chains asked for and resolution-matched to the
probe size (scale 1), templates are computed once, and the identifier picks
the first ``n`` chains of each gallery image (a random subset, because the
degrader orders chains randomly) with S_max over gallery hypotheses.

Rows: the high-resolution gallery (cosine: the SPEC baseline; Pearson),
resolution matching alone (the undegraded gallery resized to the probe size),
and resolution matching plus ``n`` degraded hypotheses for each ``n``. With
``--single``, also matching plus each degradation alone (one link, so on the
126-px face) and plus all eleven single links.

Run: ``python benchmarks/degradation_gain.py [--lfw DIR] [--model FILE]
[--chains 16 64 256] [--single] [--severity moderate] [--memory DIR]``. With ``--memory`` the
templates are cached on disk, so a rerun with fewer or the same chains is quick.
"""

import argparse
import time

import numpy as np

from skmitm import DEGRADATIONS, FusedNearestNeighborIdentifier, GalleryDegrader, TemplateExtractor
from skmitm.datasets import load_lfw_folder, make_cross_resolution_benchmark
from skmitm.metrics import rank_k_identification_rate

from _shared import add_data_options, shared_path

def rows(chain_counts):
    """(label, identifier parameters) of every row of the table."""
    out = [
        ("HR gallery (original), cosine", {"gallery_kinds": ("original",), "similarity": "cosine"}),
        ("HR gallery (original), Pearson", {"gallery_kinds": ("original",)}),
        ("resolution matching alone", {"gallery_kinds": ("matched",)}),
    ]
    for n in chain_counts:
        out.append((f"matching + {n} chains, S_max", {"gallery_kinds": ("matched", "degraded"), "n_degraded": n}))
    return out


def _score(label, gallery, subjects, probes, probe_subjects, **params):
    clf = FusedNearestNeighborIdentifier("S_max", **params).fit(gallery, subjects)
    scores = clf.decision_function(probes)
    return {
        "row": label,
        "gallery_hypotheses_per_subject": clf.n_gallery_hypotheses_ / len(gallery),
        "rank1": rank_k_identification_rate(probe_subjects, scores, clf.classes_, k=1),
        "rank5": rank_k_identification_rate(probe_subjects, scores, clf.classes_, k=5),
    }


def run(*, lfw, model, chain_counts=(16, 64, 256), single=False, probe_size=24, severity="moderate", memory=None,
        random_state=0, progress=True):
    """Build the benchmark, compute templates once and score every row; return (rows, timings)."""
    timings = {}
    start = time.perf_counter()
    bench = make_cross_resolution_benchmark(
        load_lfw_folder(lfw, min_images_per_subject=5, max_images_per_subject=5),
        probe_size=probe_size,
        severity=severity,
        random_state=0,
    )
    timings["benchmark_s"] = time.perf_counter() - start

    max_chains = max(chain_counts)
    start = time.perf_counter()
    degrader = GalleryDegrader(probe_size, scales=(1,), n_chains=max_chains, random_state=random_state)
    gallery_sets = degrader.fit_transform(bench.gallery_images)
    timings["degrade_s"] = time.perf_counter() - start

    extractor = TemplateExtractor(model, memory=memory, progress=progress).fit()
    start = time.perf_counter()
    gallery = extractor.transform(gallery_sets)
    probes = extractor.transform(bench.probe_images)
    timings["templates_s"] = time.perf_counter() - start
    timings["n_templates"] = sum(len(s) for s in gallery) + len(probes)

    subjects, probe_subjects = bench.gallery_subjects, bench.probe_subjects
    results = [_score(label, gallery, subjects, probes, probe_subjects, **params)
               for label, params in rows(chain_counts)]
    if single:
        start = time.perf_counter()
        links = GalleryDegrader(probe_size, scales=(1,), chain_lengths=(1,), n_chains=None, random_state=random_state)
        gallery = extractor.transform(links.fit_transform(bench.gallery_images))
        timings["single_s"] = time.perf_counter() - start
        matched_and_links = {"gallery_kinds": ("matched", "degraded")}
        for name in DEGRADATIONS:
            one = [hs.select(np.isin(hs.meta["chain"], ["", name])) for hs in gallery]
            results.append(_score(f"matching + {name} alone", one, subjects, probes, probe_subjects,
                                  **matched_and_links))
        results.append(_score("matching + all 11 single links", gallery, subjects, probes, probe_subjects,
                              **matched_and_links))
    timings["n_subjects"] = len(bench.gallery_subjects)
    timings["n_probes"] = len(bench.probe_subjects)
    return results, timings


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_options(parser)
    parser.add_argument("--chains", type=int, nargs="+", default=[16, 64, 256], help="chain counts to compare")
    parser.add_argument("--single", action="store_true", help="also score each degradation alone")
    parser.add_argument("--probe-size", type=int, default=24)
    parser.add_argument("--severity", default="moderate", choices=["moderate", "harsh"])
    parser.add_argument("--memory", default=None, help="folder for the on-disk template cache")
    parser.add_argument("--random-state", type=int, default=0, help="seed of the chain subset and degradations")
    args = parser.parse_args(argv)
    if min(args.chains) < 1:
        parser.error("--chains must be positive; resolution matching alone is always reported")

    results, t = run(lfw=args.lfw or shared_path("data/lfw-deepfunneled"),
                     model=args.model or shared_path("models/mobilefacenet.onnx"),
                     chain_counts=sorted(set(args.chains)), single=args.single,
                     probe_size=args.probe_size, severity=args.severity, memory=args.memory,
                     random_state=args.random_state)
    print(f"LFW cross-resolution, {args.severity}, {args.probe_size} px: {t['n_subjects']} subjects, "
          f"{t['n_probes']} probes; MobileFaceNet; S_max over gallery hypotheses; random_state={args.random_state}")
    print("| gallery | hypotheses per subject | rank-1 | rank-5 |\n| --- | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r['row']} | {r['gallery_hypotheses_per_subject']:.0f} | {100 * r['rank1']:.1f}% "
              f"| {100 * r['rank5']:.1f}% |")
    print(f"benchmark build {t['benchmark_s']:.0f} s, degradation {t['degrade_s']:.0f} s, "
          f"{t['n_templates']} templates in {t['templates_s']:.0f} s"
          + (f"; single links {t['single_s']:.0f} s" if "single_s" in t else ""))


if __name__ == "__main__":
    main()
