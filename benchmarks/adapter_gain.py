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
  template space; the gallery as it is;
- + adapter (probes and gallery): the gallery's matched and degraded
  hypotheses mapped too (their own maps), gallery originals as they are;
- + adapter, gallery originals only: mapped probes against the
  high-resolution gallery photos alone;
- the same rows for every further adapter file given with ``--variant``.

Run: ``python benchmarks/adapter_gain.py [--lfw DIR] [--model FILE]
[--conditions moderate:24 harsh:24] [--chains 16] [--sigmas 4]
[--adapter FILE] [--variant LABEL=FILE ...] [--cache reports/adapter-gain]``.
"""

import argparse
import time
from pathlib import Path

from skmitm import (
    FusedNearestNeighborIdentifier,
    GalleryDegrader,
    MultiHypothesisUpsampler,
    TemplateAdapter,
    TemplateExtractor,
)
from skmitm.datasets import load_lfw_folder, make_cross_resolution_benchmark

from _shared import shared_path


def condition_templates(extractor, data, *, severity, probe_size, n_chains, sigmas, seed=0):
    """The benchmark of one condition and its gallery and probe template sets (through the extractor's cache)."""
    bench = make_cross_resolution_benchmark(data, probe_size=probe_size, severity=severity, random_state=seed)
    degrader = GalleryDegrader(probe_size=probe_size, n_chains=n_chains, random_state=seed)
    gallery = extractor.transform(degrader.fit_transform(bench.gallery_images))
    probes = extractor.transform(MultiHypothesisUpsampler(sigmas=sigmas).fit().transform(bench.probe_images))
    return bench, gallery, probes


def rank1(gallery, gallery_subjects, probes, probe_subjects, **params):
    """Rank-1 (%) of the full method's identifier (T_concat, mean-centred) over template sets."""
    clf = FusedNearestNeighborIdentifier("T_concat", similarity="mean-centred", **params)
    return 100 * clf.fit(gallery, gallery_subjects).score(probes, probe_subjects)


def adapter_rows(label, adapter, gallery, gallery_subjects, probes, probe_subjects):
    """The three adapter rows of one adapter: probes, probes and gallery, gallery originals only."""
    mapped_probes = adapter.transform(probes)
    rows = [(f"+ {label} (probes)", rank1(gallery, gallery_subjects, mapped_probes, probe_subjects))]
    if adapter.adapts_gallery_:
        both = adapter.set_params(adapt_gallery=True).fit_transform(gallery)
        rows.append((f"+ {label} (probes and gallery)", rank1(both, gallery_subjects, mapped_probes, probe_subjects)))
        adapter.set_params(adapt_gallery=False).fit()
    rows.append((f"+ {label}, gallery originals only",
                 rank1(gallery, gallery_subjects, mapped_probes, probe_subjects, gallery_kinds=["original"])))
    return rows


def run(*, lfw, model, conditions, n_chains, sigmas, adapter, variants, cache, progress=True):
    """Rank-1 of every row and condition: ``{condition: [(label, rank1), ...]}``."""
    extractor = TemplateExtractor(model, memory=cache, progress=progress).fit()
    data = load_lfw_folder(lfw, min_images_per_subject=5, max_images_per_subject=5)
    adapters = [("adapter", TemplateAdapter(model, weights=adapter).fit())]
    adapters += [(label, TemplateAdapter(model, weights=path).fit()) for label, path in variants]
    table = {}
    for severity, size in conditions:
        started = time.perf_counter()
        bench, gallery, probes = condition_templates(extractor, data, severity=severity, probe_size=size,
                                                     n_chains=n_chains, sigmas=sigmas)
        subjects = (bench.gallery_subjects, bench.probe_subjects)
        rows = [("without adapter", rank1(gallery, subjects[0], probes, subjects[1])),
                ("without adapter, gallery originals only",
                 rank1(gallery, subjects[0], probes, subjects[1], gallery_kinds=["original"]))]
        for label, fitted in adapters:
            rows += adapter_rows(label, fitted, gallery, subjects[0], probes, subjects[1])
        table[f"{severity} {size} px"] = rows
        print(f"{severity} {size} px done in {time.perf_counter() - started:.0f} s", flush=True)
    return table


def _condition(text):
    severity, _, size = text.partition(":")
    return severity, int(size)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lfw", help="LFW deep-funneled folder (default: $SKMITM_SHARED/data/lfw-deepfunneled)")
    parser.add_argument("--model", help="face network (default: $SKMITM_SHARED/models/mobilefacenet.onnx)")
    parser.add_argument("--conditions", nargs="+", type=_condition, default=[("moderate", 24), ("harsh", 24)],
                        metavar="SEVERITY:SIZE")
    parser.add_argument("--chains", type=int, default=16, help="degradation chains per gallery image")
    parser.add_argument("--sigmas", type=int, default=4, help="blur hypotheses per probe and scale")
    parser.add_argument("--adapter", help="adapter weights file (default: the one shipped for the network)")
    parser.add_argument("--variant", nargs="*", default=[], metavar="LABEL=FILE",
                        help="further adapter files, each evaluated like the main one")
    parser.add_argument("--cache", default="reports/adapter-gain", help="folder keeping the computed templates")
    args = parser.parse_args()
    lfw = args.lfw or shared_path("data/lfw-deepfunneled")
    model = args.model or str(shared_path("models/mobilefacenet.onnx"))
    variants = [tuple(v.split("=", 1)) for v in args.variant]
    table = run(lfw=lfw, model=model, conditions=args.conditions, n_chains=args.chains, sigmas=args.sigmas,
                adapter=args.adapter, variants=variants, cache=args.cache)
    print(f"\nrank-1 (%), {Path(model).name}, full method: {args.chains} chains, {args.sigmas} sigmas, "
          "scales 2/4/8, T_concat, mean-centred\n")
    names = list(table)
    print("| | " + " | ".join(names) + " |")
    print("| --- |" + " ---: |" * len(names))
    for i, (label, _) in enumerate(table[names[0]]):
        print(f"| {label} | " + " | ".join(f"{table[n][i][1]:.1f}" for n in names) + " |")


if __name__ == "__main__":
    main()
