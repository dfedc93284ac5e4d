"""Wall and CPU time of the full default method on the public benchmark, whole or on its first subjects.

``python benchmarks/end_to_end.py [--subjects 50] [--chains 64] [--sigmas 16] [--model PATH] [--lfw DIR]``

The full default method is ``make_mitm_pipeline("full")`` with its defaults
(64 degradation chains, 16 blur levels, scales 2/4/8, ``T_concat``,
mean-centred) and the face network ``--model`` (default MobileFaceNet, the
public benchmark's network), on the public benchmark's moderate 24 px
condition (423 gallery photos and 1,692 probes; ``--subjects N`` keeps the
first N subjects). One command does it all: load and crop LFW, synthesise
the probes, ``fit`` the pipeline on the gallery photos, ``predict`` the
probes. Printed: rank-1; wall time and CPU time (all threads of the process)
of each side; per gallery photo and per probe CPU time; and, for a subset,
the whole benchmark's CPU time extrapolated from the per-photo and per-probe
figures, and that CPU time divided by the cores (the wall time on an
otherwise idle machine if the work kept every core busy). Target: under 10
minutes on 2 cores.
"""

import argparse
import os
import time

import numpy as np

from _shared import add_data_options, public_benchmark, shared_path, timed

N_GALLERY, N_PROBES = 423, 1692  # the whole public benchmark


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_options(parser)
    parser.add_argument("--subjects", type=int, default=None, help="first N subjects only (default: all 423)")
    parser.add_argument("--chains", type=int, default=64, help="degradation chains per gallery photo")
    parser.add_argument("--sigmas", type=int, default=16, help="blur levels per probe and scale")
    args = parser.parse_args(argv)
    started, cpu_started = time.perf_counter(), time.process_time()

    from skmitm import make_mitm_pipeline

    model = args.model or shared_path("models/mobilefacenet.onnx")
    gallery, gallery_y, probes, probe_y = public_benchmark(args.lfw, subjects=args.subjects)
    pipe = make_mitm_pipeline("full", model=model, probe_size=24, n_chains=args.chains, sigmas=args.sigmas,
                              random_state=0)
    _, fit_wall, fit_cpu = timed(lambda: pipe.fit(gallery, gallery_y))
    predicted, predict_wall, predict_cpu = timed(lambda: pipe.predict(probes))
    total_wall, total_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    cores = os.cpu_count()
    print(f"{len(gallery_y)} gallery photos, {len(probe_y)} probes; {args.chains} chains, {args.sigmas} blur levels; "
          f"rank-1 {100 * np.mean(predicted == probe_y):.1f}%")
    print(f"fit (gallery):   {fit_wall:7.1f} s wall, {fit_cpu:7.1f} CPU-s ({fit_cpu / len(gallery_y):.2f} CPU-s per photo)")
    print(f"predict (probes): {predict_wall:6.1f} s wall, {predict_cpu:7.1f} CPU-s "
          f"({predict_cpu / len(probe_y):.2f} CPU-s per probe)")
    print(f"whole command:   {total_wall:7.1f} s wall, {total_cpu:7.1f} CPU-s (load average "
          f"{os.getloadavg()[0]:.1f} on {cores} CPUs)")
    if args.subjects is not None:
        whole = fit_cpu / len(gallery_y) * N_GALLERY + predict_cpu / len(probe_y) * N_PROBES
        print(f"extrapolated to the whole benchmark ({N_GALLERY} photos, {N_PROBES} probes): {whole:.0f} CPU-s, "
              f"{whole / cores / 60:.1f} minutes on {cores} fully used cores (target: under 10 minutes on 2 cores)")


if __name__ == "__main__":
    main()
