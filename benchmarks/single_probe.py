"""One probe at a time: probe means from synthetic gallery probes against whole-batch means.

Under the default mean-centred similarity the probe side is centred on the
mean probe template of each hypothesis group. ``skmitm.enrol`` estimates
those means at enrolment from synthetic probes made from the gallery photos
themselves (degraded, super-resolved, templates), so that a probe can be
scored alone. This benchmark enrols the public LFW benchmark's gallery once,
computes every probe's templates once, then scores the probes

- as one batch, centred on the means of the whole batch (the reference), and
- one by one, each centred on the synthetic gallery means,

both with the same pipeline settings (the super-resolution weights: ``--sr-weights``,
default ``auto`` as ``make_mitm_pipeline``), and prints the weights file used and
the two rank-1 rates.

Run from the repository root:
``python benchmarks/single_probe.py --chains 16 --sigmas 4 [--sr-weights WEIGHTS]``
"""

import argparse
import time

import numpy as np

from skmitm import enrol, make_mitm_pipeline
from skmitm.datasets import make_cross_resolution_benchmark

from _shared import add_data_options, add_sr_weights_option, shared_path


def run(*, lfw, model, probe_size=24, severity="moderate", n_chains=16, sigmas=4, max_subjects=None,
        random_state=0, progress=True, sr_weights="auto"):
    """Rank-1 (%) batch-scored and one by one; returns a dict with both, the counts and stage seconds.

    ``sr_weights`` is ``make_mitm_pipeline``'s; the dict names the weights file used (``"sr_weights"``).

    The face box is the benchmark's 126×126 one (right for ONNX networks such as MobileFaceNet).
    """
    bench = make_cross_resolution_benchmark(lfw, probe_size=probe_size, severity=severity,
                                            random_state=random_state)
    gallery, subjects = bench.gallery_images, bench.gallery_subjects
    probes, truth = bench.probe_images, bench.probe_subjects
    if max_subjects is not None:
        kept = set(np.unique(subjects)[:max_subjects])
        gallery = [g for g, s in zip(gallery, subjects) if s in kept]
        subjects = np.asarray([s for s in subjects if s in kept])
        probes = [p for p, s in zip(probes, truth) if s in kept]
        truth = np.asarray([s for s in truth if s in kept])
    seconds = {}
    started = time.perf_counter()
    pipe = make_mitm_pipeline(model=model, probe_size=probe_size, n_chains=n_chains, sigmas=sigmas,
                              sr_weights=sr_weights, random_state=random_state)
    enrol(pipe, gallery, subjects, progress=progress)
    seconds["enrolment (gallery and synthetic probes)"] = time.perf_counter() - started
    started = time.perf_counter()
    templates = pipe[:-1].transform(probes)
    seconds["probe templates"] = time.perf_counter() - started
    identifier = pipe[-1]
    synthetic_means = identifier.probe_means
    started = time.perf_counter()
    batch = identifier.set_params(probe_means=None).predict(templates)
    seconds["matching, batch"] = time.perf_counter() - started
    identifier.set_params(probe_means=synthetic_means)
    started = time.perf_counter()
    alone = np.concatenate([identifier.predict([t]) for t in templates])
    seconds["matching, one by one"] = time.perf_counter() - started
    return {
        "n_subjects": len(np.unique(subjects)), "n_probes": len(probes),
        "sr_weights": pipe.named_steps["upsample"].card_.get("weights"),
        "rank1_batch": 100 * float(np.mean(batch == truth)),
        "rank1_one_by_one": 100 * float(np.mean(alone == truth)),
        "ms_per_probe_matching": 1000 * seconds["matching, one by one"] / len(templates),
        "seconds": seconds,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_options(parser)
    parser.add_argument("--probe-size", type=int, default=24)
    parser.add_argument("--severity", default="moderate")
    parser.add_argument("--chains", type=int, default=16)
    parser.add_argument("--sigmas", type=int, default=4)
    parser.add_argument("--subjects", type=int, help="use only the first N subjects (quick runs)")
    parser.add_argument("--no-progress", action="store_true")
    add_sr_weights_option(parser)
    args = parser.parse_args(argv)
    results = run(lfw=args.lfw or shared_path("data/lfw-deepfunneled"),
                  model=args.model or str(shared_path("models/mobilefacenet.onnx")),
                  probe_size=args.probe_size, severity=args.severity, n_chains=args.chains, sigmas=args.sigmas,
                  max_subjects=args.subjects, progress=not args.no_progress, sr_weights=args.sr_weights)
    print(f"{args.severity} {args.probe_size} px, {args.chains} chains, {args.sigmas} sigmas: "
          f"{results['n_subjects']} subjects, {results['n_probes']} probes, SR weights {results['sr_weights']}")
    print(f"rank-1 batch-scored (means of the whole batch):      {results['rank1_batch']:5.1f}%")
    print(f"rank-1 one by one (means of synthetic gallery probes): {results['rank1_one_by_one']:5.1f}%")
    print(f"difference: {results['rank1_one_by_one'] - results['rank1_batch']:+.1f} points; matching "
          f"{results['ms_per_probe_matching']:.1f} ms per probe alone")
    for stage, seconds in results["seconds"].items():
        print(f"  {stage:<40} {seconds:7.1f} s")


if __name__ == "__main__":
    main()
