"""What the flip test adds: rank-1 of the plainest reading with and without mirrored templates.

The reading is the one the adapter page found best with an adapter: each
probe's σ = 0 hypotheses (the plain probe and its ×2, ×4 and ×8
super-resolutions), each scored against the gallery photos alone
(mean-centred, the probes' own means), the four scores added (S_add). It
needs four templates per probe and one per gallery photo, so a condition of
the public benchmark (423 subjects, all 1,692 probes) costs a few minutes.

Every condition is read twice over the same probe images, by a
:class:`skmitm.TemplateExtractor` with ``flip=False`` and with
``flip=True`` (each template the sum of the image's and its mirror image's
unit templates), and, with ``--adapter``, again through that
:class:`skmitm.TemplateAdapter` (which must have been trained through the
same super-resolution weights). The super-resolution weights are those
``make_mitm_pipeline`` picks for the network (``--sr-weights auto``) unless
named. The template cache ``--cache`` keeps every template, so a rerun
costs only the super-resolution.

Run: ``python benchmarks/flip_gain.py [--lfw DIR] [--model FILE]
[--conditions moderate:24 harsh:24 moderate:16 moderate:32] [--adapter FILE]
[--sr-weights WEIGHTS] [--cache reports/flip-gain]``.
"""

import argparse
import time
from pathlib import Path

import numpy as np

from skmitm import FusedNearestNeighborIdentifier, TemplateAdapter, TemplateExtractor, make_mitm_pipeline
from skmitm.datasets import load_lfw_folder, make_cross_resolution_benchmark

from _shared import add_data_options, add_sr_weights_option, shared_path
from adapter_gain import _condition, print_conditions


def reading(gallery, gallery_subjects, probes, probe_subjects):
    """Rank-1 (%) of the σ-0 probe hypotheses against the gallery photos, mean-centred, S_add."""
    clf = FusedNearestNeighborIdentifier("S_add", similarity="mean-centred", gallery_kinds=["original"],
                                         probe_sigmas=[0.0])
    return 100 * clf.fit(gallery, gallery_subjects).score(probes, probe_subjects)


def run(*, lfw, model, conditions, sr_weights="auto", adapter=None, cache=None, progress=True):
    """``{condition: [(row label, rank-1), ...]}`` and the super-resolution weights file used."""
    upsampler = make_mitm_pipeline(model=model, sr_weights=sr_weights, sigmas=[0.0]).named_steps["upsample"].fit()
    weights_file = upsampler.card_.get("weights")
    if adapter is not None:
        adapter = TemplateAdapter(model, weights=adapter).fit()
        if adapter.sr_sha256_ not in (None, upsampler.card_.get("sha256")):
            raise SystemExit(f"the adapter {adapter.weights_path_} was trained through other super-resolution "
                             f"weights (sha256 {adapter.sr_sha256_}) than {weights_file}")
    extractors = {flip: TemplateExtractor(model, flip=flip, memory=cache, progress=progress).fit()
                  for flip in (False, True)}
    data = load_lfw_folder(lfw, min_images_per_subject=5, max_images_per_subject=5)
    table = {}
    for severity, size in conditions:
        started = time.perf_counter()
        bench = make_cross_resolution_benchmark(data, probe_size=size, severity=severity, random_state=0)
        probes = upsampler.transform(bench.probe_images)
        # Materialised once, so that both extractors read the same super-resolved pixels.
        probes = [s.with_data([np.asarray(image) for image in s.data]) for s in probes]
        rows = []
        for flip, extractor in extractors.items():
            gallery = extractor.transform(bench.gallery_images)
            templates = extractor.transform(probes)
            label = "with flip" if flip else "without flip"
            rows.append((f"σ-0 probes vs gallery photos, S_add, {label}",
                         reading(gallery, bench.gallery_subjects, templates, bench.probe_subjects)))
            if adapter is not None:
                rows.append((f"+ adapter, {label}", reading(adapter.fit_transform(gallery), bench.gallery_subjects,
                                                            adapter.transform(templates), bench.probe_subjects)))
        table[f"{severity} {size} px ({len(probes)} probes)"] = rows
        print(f"{severity} {size} px done in {time.perf_counter() - started:.0f} s", flush=True)
    return table, weights_file


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_options(parser)
    parser.add_argument("--conditions", nargs="+", type=_condition,
                        default=[("moderate", 24), ("harsh", 24), ("moderate", 16), ("moderate", 32)],
                        metavar="SEVERITY:SIZE")
    parser.add_argument("--adapter", help="adapter weights file from skmitm train-adapter (default: none)")
    add_sr_weights_option(parser)
    parser.add_argument("--cache", default="reports/flip-gain", help="folder keeping the computed templates")
    args = parser.parse_args()
    lfw = args.lfw or shared_path("data/lfw-deepfunneled")
    model = args.model or str(shared_path("models/mobilefacenet.onnx"))
    table, weights_file = run(lfw=lfw, model=model, conditions=args.conditions, sr_weights=args.sr_weights,
                              adapter=args.adapter, cache=args.cache)
    print(f"\nrank-1 (%), {Path(model).name}, super-resolution weights {weights_file}, scales 2/4/8\n")
    print_conditions(table)


if __name__ == "__main__":
    main()
