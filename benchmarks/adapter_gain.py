"""What the template adapter adds: rank-1 on the public LFW benchmark with and without it.

The full method (gallery degradations and resolution matching, multi-scale
multi-hypothesis super-resolution, T_concat fusion, mean-centred similarity)
at modest settings (``--chains`` degradation chains per gallery image,
``--sigmas`` blur hypotheses per probe and scale) on the benchmark's 423
subjects. Templates are computed once per condition and kept in the
template cache ``--cache`` (a rerun reads them back); every row is
then the same identifier over the same templates, with or without a
:class:`skmitm.TemplateAdapter` in front of it:

- without adapter: the method as it ships;
- + adapter (probes): the probe hypotheses mapped into the high-resolution
  template space; the gallery as it is (whitened, like the probes, when the
  adapter holds a whitening);
- + adapter (probes and gallery): the gallery's matched and degraded
  hypotheses mapped too (their own maps), gallery originals as they are;
- + adapter (probes), gallery originals only: mapped probes against the
  high-resolution gallery photos alone (next to the same row without
  adapter);
- sigma-0 probes vs gallery originals, S_add: the plainest reading, with and
  without adapter: the four sigma-0 probe hypotheses (the plain probe and its
  x2, x4, x8 super-resolutions), each scored against the gallery photos alone
  (mean-centred), the four scores averaged;
- the same rows for every further adapter file given with ``--variant``.

Run: ``python benchmarks/adapter_gain.py [--lfw DIR] [--model FILE]
[--conditions moderate:24 harsh:24] [--chains 16] [--sigmas 4]
[--probes-per-subject 4] [--adapter FILE] [--variant LABEL=FILE ...]
[--sr-weights NAME] [--crop spec|dlib] [--flip] [--cache reports/adapter-gain]``
(``--crop dlib`` for dlib's network, which expects its own face box). ``--sr-weights`` names
the super-resolution weights of the probes (a shipped name or a card; the
default: the shipped default); an adapter should be trained through the same
weights (``skmitm train-adapter --sr-weights``).
"""

import argparse
import time
from pathlib import Path

import numpy as np

from skmitm import (
    FusedNearestNeighborIdentifier,
    GalleryDegrader,
    MultiHypothesisUpsampler,
    TemplateAdapter,
    TemplateExtractor,
)
from skmitm.datasets import load_lfw_folder, make_cross_resolution_benchmark

from _shared import add_data_options, shared_path


def condition_templates(extractor, data, *, severity, probe_size, n_chains, sigmas, probes_per_subject=4, seed=0,
                        sr_weights=None):
    """Gallery and probe template sets of one condition and their subjects (through the extractor's cache).

    Only the first ``probes_per_subject`` probes of each subject are used (all
    against the whole gallery), for a quicker run at the same difficulty.
    ``sr_weights`` names the super-resolution weights (default: the shipped default).
    """
    bench = make_cross_resolution_benchmark(data, probe_size=probe_size, severity=severity, random_state=seed)
    keep = np.concatenate([np.flatnonzero(bench.probe_subjects == s)[:probes_per_subject]
                           for s in bench.gallery_subjects])
    degrader = GalleryDegrader(probe_size=probe_size, n_chains=n_chains, random_state=seed)
    gallery = extractor.transform(degrader.fit_transform(bench.gallery_images))
    upsampler = MultiHypothesisUpsampler(sr_weights, sigmas=sigmas).fit()
    probes = extractor.transform(upsampler.transform([bench.probe_images[i] for i in keep]))
    return gallery, bench.gallery_subjects, probes, bench.probe_subjects[keep]


# The plainest reading: the sigma-0 probe hypotheses (plain probe, x2, x4, x8), each scored against the
# gallery photos alone, the four scores averaged.
PLAIN = {"fusion": "S_add", "gallery_kinds": ["original"], "probe_sigmas": [0.0]}


def rank1(gallery, gallery_subjects, probes, probe_subjects, fusion="T_concat", similarity="mean-centred", **params):
    """Rank-1 (%) of the identifier (the full method's T_concat and mean-centred unless told) over template sets."""
    clf = FusedNearestNeighborIdentifier(fusion, similarity=similarity, **params)
    return 100 * clf.fit(gallery, gallery_subjects).score(probes, probe_subjects)


def adapter_rows(label, model, weights, gallery, gallery_subjects, probes, probe_subjects):
    """The rows of one adapter: probes mapped; probes and gallery mapped; probes mapped, gallery originals only."""
    adapter = TemplateAdapter(model, weights=weights).fit()
    mapped = adapter.transform(probes)
    gallery = adapter.fit_transform(gallery)  # as it is, or whitened for weights trained with identity labels
    rows = [(f"+ {label} (probes)", rank1(gallery, gallery_subjects, mapped, probe_subjects))]
    if adapter.adapts_gallery_:
        both = TemplateAdapter(model, weights=weights, adapt_gallery=True).fit_transform(gallery)
        rows.append((f"+ {label} (probes and gallery)", rank1(both, gallery_subjects, mapped, probe_subjects)))
    rows.append((f"+ {label} (probes), gallery originals only",
                 rank1(gallery, gallery_subjects, mapped, probe_subjects, gallery_kinds=["original"])))
    rows.append((f"+ {label} (probes), sigma-0 probes vs gallery originals, S_add",
                 rank1(gallery, gallery_subjects, mapped, probe_subjects, **PLAIN)))
    return rows


def run(*, lfw, model, conditions, n_chains, sigmas, probes_per_subject, adapters, cache, sr_weights=None,
        crop="spec", flip=False, progress=True):
    """Rank-1 of every row and condition, ``{condition: [(label, rank1), ...]}``, and the SR weights file used."""
    sr_card = MultiHypothesisUpsampler(sr_weights).fit().card_
    sr_sha256 = sr_card.get("sha256")
    for label, weights in adapters:  # a network without an adapter is refused before any template is computed
        trained = TemplateAdapter(model, weights=weights).fit().sr_sha256_
        if trained not in (None, sr_sha256):
            raise SystemExit(f"{label} ({weights}) was trained through the super-resolution weights with sha256 "
                             f"{trained}, not those of --sr-weights ({sr_sha256})")
    extractor = TemplateExtractor(model, flip=flip, memory=cache, progress=progress).fit()
    data = load_lfw_folder(lfw, min_images_per_subject=5, max_images_per_subject=5, crop=crop)
    table = {}
    for severity, size in conditions:
        started = time.perf_counter()
        gallery, gallery_subjects, probes, probe_subjects = condition_templates(
            extractor, data, severity=severity, probe_size=size, n_chains=n_chains, sigmas=sigmas,
            probes_per_subject=probes_per_subject, sr_weights=sr_weights)
        rows = [("without adapter", rank1(gallery, gallery_subjects, probes, probe_subjects)),
                ("without adapter, gallery originals only",
                 rank1(gallery, gallery_subjects, probes, probe_subjects, gallery_kinds=["original"])),
                ("without adapter, sigma-0 probes vs gallery originals, S_add",
                 rank1(gallery, gallery_subjects, probes, probe_subjects, **PLAIN))]
        for label, weights in adapters:
            rows += adapter_rows(label, model, weights, gallery, gallery_subjects, probes, probe_subjects)
        table[f"{severity} {size} px ({len(probe_subjects)} probes)"] = rows
        print(f"{severity} {size} px done in {time.perf_counter() - started:.0f} s", flush=True)
    return table, sr_card.get("weights", sr_weights)


def print_conditions(table):
    """A Markdown table of ``{condition: [(label, rank-1), ...]}``: one column per condition, one decimal."""
    names = list(table)
    print("| | " + " | ".join(names) + " |")
    print("| --- |" + " ---: |" * len(names))
    for i, (label, _) in enumerate(table[names[0]]):
        print(f"| {label} | " + " | ".join(f"{table[n][i][1]:.1f}" for n in names) + " |")


def _condition(text):
    severity, _, size = text.partition(":")
    return severity, int(size)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_options(parser)
    parser.add_argument("--conditions", nargs="+", type=_condition, default=[("moderate", 24), ("harsh", 24)],
                        metavar="SEVERITY:SIZE")
    parser.add_argument("--chains", type=int, default=16, help="degradation chains per gallery image")
    parser.add_argument("--sigmas", type=int, default=4, help="blur hypotheses per probe and scale")
    parser.add_argument("--probes-per-subject", type=int, default=4, choices=[1, 2, 3, 4])
    parser.add_argument("--adapter", help="adapter weights file from skmitm train-adapter (default: one shipped for the network, if any)")
    parser.add_argument("--variant", nargs="*", default=[], metavar="LABEL=FILE",
                        help="further adapter files, each evaluated like the main one")
    parser.add_argument("--sr-weights", default=None, metavar="WEIGHTS",
                        help="super-resolution weights: a shipped name (identity, realistic, plain) or a card "
                        "(default: the shipped default)")
    parser.add_argument("--crop", default="spec", choices=["spec", "dlib"],
                        help="face box of the benchmark images: the benchmark's (for MobileFaceNet) or dlib's own")
    parser.add_argument("--flip", action="store_true", help="the flip test (TemplateExtractor(flip=True))")
    parser.add_argument("--cache", default="reports/adapter-gain", help="folder keeping the computed templates")
    args = parser.parse_args()
    lfw = args.lfw or shared_path("data/lfw-deepfunneled")
    model = args.model or str(shared_path("models/mobilefacenet.onnx"))
    adapters = [("adapter", args.adapter)] + [tuple(v.split("=", 1)) for v in args.variant]
    table, weights = run(lfw=lfw, model=model, conditions=args.conditions, n_chains=args.chains,
                         sigmas=args.sigmas, probes_per_subject=args.probes_per_subject, adapters=adapters,
                         cache=args.cache, sr_weights=args.sr_weights, crop=args.crop, flip=args.flip)
    print(f"\nrank-1 (%), {Path(model).name}, full method: {args.chains} chains, {args.sigmas} sigmas, "
          f"scales 2/4/8, T_concat, mean-centred; super-resolution weights {weights}; {args.crop} face box"
          f"{'; flip test' if args.flip else ''}\n")
    print_conditions(table)


if __name__ == "__main__":
    main()
