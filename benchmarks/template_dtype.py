"""Enrolled templates stored as float16 instead of float32: rank-1 on the public benchmark and bytes per subject.

``python benchmarks/template_dtype.py [--model PATH] [--lfw DIR] [--chains 16] [--sigmas 1] [--subjects N]
[--sr-weights WEIGHTS]``

The templates of the full default method (``make_mitm_pipeline("full")``:
gallery degradations and resolution matching at scales 2, 4 and 8,
super-resolved probes, ``T_concat`` fusion, mean-centred similarity) are
computed once on the public benchmark (LFW, moderate 24 px probes; 423
gallery subjects and 1,692 probes), with ``--chains`` degradation chains and
``--sigmas`` blur levels (by default those of ``skmitm benchmark``: 16 and 1),
the super-resolution weights ``--sr-weights`` (default ``auto``, as
``make_mitm_pipeline``), and the face network ``--model`` (default
MobileFaceNet, on the benchmark's face box).
The same templates are then enrolled twice, with ``template_dtype="float32"``
and ``"float16"``, and the same probe templates scored against both. Printed:
the super-resolution weights file used, rank-1 of each and the difference in
points (target: under 0.1), the probes whose rank-1 answer changed, and per
enrolled subject the bytes of the gallery the identifier keeps (under
``T_concat``, float32 sums per subject and hypothesis group whatever the
template dtype) and of the whole pickled fitted identifier.
"""

import argparse
import os
import pickle
import time

import numpy as np

from _shared import add_data_options, add_sr_weights_option, public_benchmark, shared_path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_options(parser)
    parser.add_argument("--chains", type=int, default=16, help="degradation chains per gallery photo")
    parser.add_argument("--sigmas", type=int, default=1, help="blur levels per probe and scale")
    parser.add_argument("--subjects", type=int, default=None, help="first N subjects only (default: all 423)")
    add_sr_weights_option(parser)
    args = parser.parse_args(argv)

    from skmitm import make_mitm_pipeline
    from skmitm.metrics import rank_k_identification_rate

    started = time.perf_counter()
    gallery_images, gallery_y, probe_images, probe_y = public_benchmark(args.lfw, subjects=args.subjects)
    pipeline = make_mitm_pipeline("full", model=args.model or shared_path("models/mobilefacenet.onnx"),
                                  probe_size=24, n_chains=args.chains, sigmas=args.sigmas, sr_weights=args.sr_weights,
                                  random_state=0)
    identifier = pipeline.steps[-1][1]
    # Every step but the identifier: the gallery's templates once, then the probes'.
    gallery_sets = pipeline[:-1].fit_transform(gallery_images, gallery_y)
    probe_sets = pipeline[:-1].transform(probe_images)
    print(f"{len(gallery_y)} gallery photos ({sum(len(s) for s in gallery_sets) // len(gallery_sets)} templates "
          f"each), {len(probe_y)} probes ({len(probe_sets[0])} templates each), {gallery_sets[0].data.shape[1]}-D; "
          f"templates computed once in {time.perf_counter() - started:.0f} s; SR weights "
          f"{pipeline.named_steps['upsample'].card_.get('weights')}")

    results = {}
    for dtype in ("float32", "float16"):
        clf = identifier.set_params(template_dtype=dtype).fit(gallery_sets, gallery_y)
        scores = clf.decision_function(probe_sets)
        n = len(clf.classes_)
        results[dtype] = {
            "rank1": 100 * rank_k_identification_rate(probe_y, scores, clf.classes_, k=1),
            "top": np.argmax(scores, axis=1),
            "kept": clf.gallery_nbytes_ / n,
            "pickled": len(pickle.dumps(clf)) / n,
        }
        r = results[dtype]
        print(f"{dtype}: rank-1 {r['rank1']:.2f}%; per enrolled subject: kept gallery {r['kept']:,.0f} bytes, "
              f"pickled fitted identifier {r['pickled']:,.0f} bytes")
    full, half = results["float32"], results["float16"]
    print(f"rank-1 difference float16 - float32: {half['rank1'] - full['rank1']:+.2f} points (target: under 0.1 "
          f"in magnitude); rank-1 answer changed for {np.sum(full['top'] != half['top'])} of {len(probe_y)} probes")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
