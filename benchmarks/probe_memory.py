"""Peak resident memory of ``predict`` for growing probe counts: it should not grow with them.

``python benchmarks/probe_memory.py [--probes 1000 10000] [--sigmas 16] [--model PATH] [--gallery 8]``

Each probe count runs in a fresh child process: the pipeline of
``make_mitm_pipeline()`` (its defaults: 64 degradation chains, scales 2/4/8,
16 blur sigmas, ``T_concat``, mean-centred; face network ``--model``, default
dlib's ResNet) is fitted on a small gallery of ``--gallery`` synthetic
126×126 photos of different subjects, then ``predict`` runs on that many
synthetic 24×24 probes (random pixels: memory and time do not depend on
what the faces show). The child reports its peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) after fitting and after
predicting, and the time ``predict`` took. The last line is the ratio of
the peak at the largest count to the peak at the smallest. Targets: under
3 GB at 10,000 probes, ratio ≤ 1.2.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import numpy as np


def child(n_probes, sigmas, model, n_gallery):
    from skmitm import make_mitm_pipeline

    rng = np.random.default_rng(0)
    gallery = [rng.integers(0, 256, (126, 126, 3), dtype=np.uint8) for _ in range(n_gallery)]
    pipe = make_mitm_pipeline(model=model, sigmas=sigmas).fit(gallery, np.arange(n_gallery))
    fitted = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    probes = rng.integers(0, 256, (n_probes, 24, 24, 3), dtype=np.uint8)
    start = time.perf_counter()
    predicted = pipe.predict(probes)
    seconds = time.perf_counter() - start
    assert len(predicted) == n_probes
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"fitted_kib": fitted, "peak_kib": peak, "predict_s": seconds}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--sigmas", type=int, default=16, help="blur sigmas per scale (default: 16)")
    parser.add_argument("--model", default=None, help="face network (default: dlib's ResNet)")
    parser.add_argument("--gallery", type=int, default=8, help="gallery photos, one subject each")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        return child(args.child, args.sigmas, args.model, args.gallery)
    peaks = {}
    for n in args.probes:
        command = [sys.executable, __file__, "--child", str(n), "--sigmas", str(args.sigmas),
                   "--gallery", str(args.gallery)] + (["--model", args.model] if args.model else [])
        result = json.loads(subprocess.run(command, check=True, capture_output=True,
                                           text=True).stdout.strip().splitlines()[-1])
        peaks[n] = result["peak_kib"] / 2**20
        print(f"{n:>6} probes: peak RSS {peaks[n]:.2f} GiB (after fit {result['fitted_kib'] / 2**20:.2f} GiB), "
              f"predict {result['predict_s']:.0f} s ({1000 * result['predict_s'] / n:.0f} ms/probe)", flush=True)
    low, high = min(peaks), max(peaks)
    print(f"peak RSS ratio {high} / {low} probes: {peaks[high] / peaks[low]:.3f}  (target ≤ 1.2; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
