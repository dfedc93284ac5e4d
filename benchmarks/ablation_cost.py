"""Cost of the whole ablation against its most expensive single row, in the same process.

The ablation computes every hypothesis template once and then evaluates all
rows of Tables 2 and 3 (both similarity readings) as identifier settings. The
most expensive single row — the full method, which needs every scale, every
blur level and every chain — is run alone from scratch through the pipeline
(degrade, upsample, templates, identify). Prints both wall times and their
ratio (target ≤ 1.5).

Run: ``python benchmarks/ablation_cost.py [--subjects N] [--chains C] [--sigmas S]``
"""

import argparse
import tempfile
import time

import numpy as np

from skmitm import make_mitm_pipeline, run_ablation
from skmitm.datasets import load_lfw_folder, make_cross_resolution_benchmark

from _shared import add_data_options, shared_path


def run(*, lfw, model, subjects=60, chains=8, sigmas=4):
    """Time the ablation and the single full-method row; return a dict of figures."""
    data = load_lfw_folder(lfw, min_images_per_subject=5, max_images_per_subject=5)
    keep = np.isin(data.subjects, np.unique(data.subjects)[:subjects])
    data.images = [im for im, k in zip(data.images, keep) if k]
    data.subjects = data.subjects[keep]
    bench = make_cross_resolution_benchmark(data, probe_size=24)

    start = time.perf_counter()
    pipe = make_mitm_pipeline("full", model=model, probe_size=24, n_chains=chains, sigmas=sigmas, probe_means="batch",
                              random_state=0)  # batch-scored, as the ablation's rows are
    pipe.fit(bench.gallery_images, bench.gallery_subjects)
    single_rank1 = pipe.score(bench.probe_images, bench.probe_subjects)
    single = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        results = run_ablation(lfw=lfw, model=model, out=out, n_chains=chains, sigmas=sigmas, max_subjects=subjects,
                               progress=False)
        whole = time.perf_counter() - start
    return {"single_seconds": single, "ablation_seconds": whole, "ratio": whole / single,
            "rows": len(results["rows"]), "single_rank1": 100 * single_rank1}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_options(parser)
    parser.add_argument("--subjects", type=int, default=60)
    parser.add_argument("--chains", type=int, default=8)
    parser.add_argument("--sigmas", type=int, default=4)
    args = parser.parse_args(argv)
    r = run(lfw=args.lfw or shared_path("data/lfw-deepfunneled"),
            model=args.model or shared_path("models/mobilefacenet.onnx"), subjects=args.subjects, chains=args.chains,
            sigmas=args.sigmas)
    print(f"{args.subjects} subjects, {args.chains} chains, {args.sigmas} blur levels, scales 2/4/8, moderate 24 px")
    print(f"  most expensive single row (full method from scratch): {r['single_seconds']:.1f} s")
    print(f"  whole ablation ({r['rows']} rows, templates once)   : {r['ablation_seconds']:.1f} s")
    print(f"  ratio: {r['ratio']:.2f} (target <= 1.5)")
    return r


if __name__ == "__main__":
    main()
