"""What each component adds to the best configuration, over templates an ablation kept.

Runs on the templates file of ``skmitm ablation --templates FILE`` (same
condition and seed) and removes one component at a time from "all
hypotheses, T_concat, mean-centred": the gallery degradations (or keeps only
the first 16 chains), resolution matching, the blur hypotheses, the
super-resolved probes, the originals. Prints rank-1 for each.

Run: ``python benchmarks/component_gain.py --templates reports/ablation-moderate24.npz``
"""

import argparse

from skmitm import FUSION_STRATEGIES, FusedNearestNeighborIdentifier, load_ablation_templates
from skmitm.datasets import load_lfw_folder, make_cross_resolution_benchmark

from _shared import add_data_options, shared_path

ALL_PROBES = ["original", "super-resolved"]
ALL_GALLERY = ["original", "matched", "degraded"]

SETTINGS = [
    ("all hypotheses", {}),
    ("without gallery degradations", {"gallery_kinds": ["original", "matched"]}),
    ("with the first 16 chains only", {"n_degraded": 16}),
    ("without resolution matching (gallery originals only)", {"gallery_kinds": ["original"]}),
    ("without blur hypotheses (sigma 0 only)", {"probe_sigmas": [0.0]}),
    ("without super-resolved probes", {"probe_kinds": ["original"]}),
    ("without originals", {"probe_kinds": ["super-resolved"], "gallery_kinds": ["matched", "degraded"]}),
]


def kept_templates(templates, lfw, *, severity="moderate", probe_size=24, random_state=0):
    """Gallery and probe template sets of an ablation's templates file, with the benchmark's subjects.

    Returns ``(gallery, gallery_subjects, probes, probe_subjects)``.
    """
    stored = load_ablation_templates(templates)
    lfw = shared_path("data/lfw-deepfunneled") if lfw is None else lfw
    data = load_lfw_folder(lfw, min_images_per_subject=5, max_images_per_subject=5)
    bench = make_cross_resolution_benchmark(data, probe_size=probe_size, severity=severity, random_state=random_state)
    gallery, probes = stored["gallery"], stored["probes"]
    if len(gallery) != len(bench.gallery_subjects) or len(probes) != len(bench.probe_subjects):
        raise ValueError(f"{templates} holds {len(gallery)} gallery and {len(probes)} probe sets; the benchmark has "
                         f"{len(bench.gallery_subjects)} and {len(bench.probe_subjects)}: another condition or subset?")
    return gallery, bench.gallery_subjects, probes, bench.probe_subjects


def run(*, templates, lfw, severity="moderate", probe_size=24, random_state=0, fusion="T_concat",
        similarity="mean-centred"):
    """Rank-1 (%) of each setting; returns a list of (label, rank1)."""
    gallery, gallery_subjects, probes, probe_subjects = kept_templates(
        templates, lfw, severity=severity, probe_size=probe_size, random_state=random_state)
    out = []
    for label, params in SETTINGS:
        clf = FusedNearestNeighborIdentifier(fusion, similarity=similarity, **params)
        out.append((label, 100 * clf.fit(gallery, gallery_subjects).score(probes, probe_subjects)))
    return out


def templates_parser(doc):
    """Command-line options of a benchmark over an ablation's kept templates."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--templates", required=True, help="templates file written by skmitm ablation --templates")
    add_data_options(parser, model=False)
    parser.add_argument("--severity", default="moderate", choices=["moderate", "harsh"])
    parser.add_argument("--probe-size", type=int, default=24)
    parser.add_argument("--fusion", default="T_concat", choices=sorted(FUSION_STRATEGIES))
    return parser


def main(argv=None):
    parser = templates_parser(__doc__)
    parser.add_argument("--similarity", default="mean-centred")
    args = parser.parse_args(argv)
    results = run(templates=args.templates, lfw=args.lfw, severity=args.severity, probe_size=args.probe_size,
                  fusion=args.fusion, similarity=args.similarity)
    print(f"{args.fusion}, {args.similarity}, {args.severity} {args.probe_size} px")
    for label, rank1 in results:
        print(f"  {label:55s} rank-1 {rank1:5.1f}%")
    return results


if __name__ == "__main__":
    main()
