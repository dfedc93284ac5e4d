"""The best measured reading with a template adapter, built as a pipeline: rank-1 on the public benchmark.

With a template adapter, the plainest reading of the full method's templates
scored best at 24 and 32 px (``docs/adapter.md``): each probe's σ = 0
hypotheses (the plain probe and its ×2, ×4, ×8 super-resolutions), mapped by
the adapter, each scored against the gallery photos alone (mean-centred), the
scores added. This script builds that reading with
:func:`skmitm.make_mitm_pipeline` — ``adapter=FILE, n_chains=0,
sigmas=[0.0], fusion="S_add"`` and ``identify__gallery_kinds=["original"]``
— fits it on the 423 gallery photos and scores all 1,692 probes of each
condition, with the probe-side means of the mean-centred similarity taken
from synthetic probes made from the gallery (``--probe-means synthetic``, the
pipeline's default: every probe scored on its own) and/or from the probes
scored together (``batch``: the benchmark scripts' reading). ``--flip`` adds
the flip test (``templates__flip=True``). The super-resolution weights are
those the pipeline picks for the network (``--sr-weights auto``); the adapter
must have been trained through them.

Run: ``python benchmarks/adapted_pipeline.py --adapter FILE [--lfw DIR]
[--model FILE] [--conditions moderate:24 harsh:24 moderate:16 moderate:32]
[--probe-means synthetic batch] [--flip] [--sr-weights WEIGHTS]
[--cache reports/adapted-pipeline]``.
"""

import argparse
import time
from pathlib import Path

from skmitm import make_mitm_pipeline
from skmitm.datasets import load_lfw_folder, make_cross_resolution_benchmark

from _shared import add_data_options, add_sr_weights_option, shared_path
from adapter_gain import _condition, print_conditions


def pipeline(model, adapter, *, probe_size, probe_means, flip=False, sr_weights="auto", cache=None):
    """The reading as a pipeline: σ = 0 probe hypotheses, adapted, against the gallery photos, S_add."""
    pipe = make_mitm_pipeline(model=model, adapter=adapter, probe_size=probe_size, n_chains=0, sigmas=[0.0],
                              fusion="S_add", probe_means=probe_means, sr_weights=sr_weights, memory=cache)
    return pipe.set_params(identify__gallery_kinds=["original"], templates__flip=flip)


def run(*, lfw, model, adapter, conditions, probe_means=("synthetic", "batch"), flip=False, sr_weights="auto",
        cache=None):
    """``{condition: [(row label, rank-1), ...]}`` and the super-resolution weights file used."""
    data = load_lfw_folder(lfw, min_images_per_subject=5, max_images_per_subject=5)
    table, weights_file = {}, None
    for severity, size in conditions:
        started = time.perf_counter()
        bench = make_cross_resolution_benchmark(data, probe_size=size, severity=severity, random_state=0)
        rows = []
        for means in probe_means:
            pipe = pipeline(model, adapter, probe_size=size, probe_means=means, flip=flip, sr_weights=sr_weights,
                            cache=cache).fit(bench.gallery_images, bench.gallery_subjects)
            weights_file = pipe.named_steps["upsample"].card_.get("weights")
            rows.append((f"probe means: {means}", 100 * pipe.score(bench.probe_images, bench.probe_subjects)))
        table[f"{severity} {size} px ({len(bench.probe_images)} probes)"] = rows
        print(f"{severity} {size} px done in {time.perf_counter() - started:.0f} s", flush=True)
    return table, weights_file


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_options(parser)
    parser.add_argument("--adapter", required=True, help="adapter weights file from skmitm train-adapter")
    parser.add_argument("--conditions", nargs="+", type=_condition,
                        default=[("moderate", 24), ("harsh", 24), ("moderate", 16), ("moderate", 32)],
                        metavar="SEVERITY:SIZE")
    parser.add_argument("--probe-means", nargs="+", choices=["synthetic", "batch"], default=["synthetic", "batch"])
    parser.add_argument("--flip", action="store_true", help="the flip test (TemplateExtractor(flip=True))")
    add_sr_weights_option(parser)
    parser.add_argument("--cache", default="reports/adapted-pipeline", help="folder keeping the computed templates")
    args = parser.parse_args()
    lfw = args.lfw or shared_path("data/lfw-deepfunneled")
    model = args.model or str(shared_path("models/mobilefacenet.onnx"))
    table, weights_file = run(lfw=lfw, model=model, adapter=args.adapter, conditions=args.conditions,
                              probe_means=args.probe_means, flip=args.flip, sr_weights=args.sr_weights,
                              cache=args.cache)
    print(f"\nrank-1 (%), {Path(model).name}, adapter {Path(args.adapter).name}, super-resolution weights "
          f"{weights_file}, {'with' if args.flip else 'without'} the flip test\n")
    print_conditions(table)


if __name__ == "__main__":
    main()
