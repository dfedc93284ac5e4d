"""Enrolment throughput with the full method, and the speed-up of a 2-worker dask cluster over 1 worker.

``python benchmarks/enrol_throughput.py [--gallery 4] [--model PATH] [--dask]``

Enrolment is the gallery half of ``make_mitm_pipeline()`` (its defaults: 64
degradation chains, scales 2/4/8, probe size 24; face network ``--model``,
default dlib's ResNet): ``fit_transform`` of every step but the identifier on
``--gallery`` synthetic 126×126 photos (pixel content does not change the
cost). Printed: hypotheses (templates) per photo, templates per second of
wall time, and templates per CPU-second of the process (all its threads),
which is the rate per core and does not depend on how busy the machine is.

With ``--dask`` (needs the ``dask`` extra): the templates of the same
hypotheses are computed under ``joblib.parallel_config(backend="dask")`` on
a ``LocalCluster`` of 1 worker process and then of 2 (one thread each), and
the ratio of the two wall times is printed (``n_jobs=2`` both times, one
network thread per batch): the speed-up a second worker
gives on this machine.
"""

import argparse
import os

import numpy as np

from skmitm import TemplateExtractor, make_mitm_pipeline

from _shared import timed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gallery", type=int, default=4, help="synthetic gallery photos")
    parser.add_argument("--model", default=None, help="face network (default: dlib's ResNet)")
    parser.add_argument("--dask", action="store_true", help="also time a 1- and a 2-worker LocalCluster")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    gallery = [rng.integers(0, 256, (126, 126, 3), dtype=np.uint8) for _ in range(args.gallery)]
    enrol = make_mitm_pipeline(model=args.model)[:-1]
    sets, wall, cpu = timed(lambda: enrol.fit_transform(gallery, np.arange(args.gallery)))
    n = sum(len(s) for s in sets)
    print(f"{args.gallery} photos, {n // args.gallery} templates each: {wall:.1f} s wall, {cpu:.1f} CPU-s; "
          f"{n / wall:.1f} templates/s, {n / cpu:.1f} templates per CPU-second (per core); "
          f"{wall / args.gallery:.1f} s per photo (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    if not args.dask:
        return
    import distributed
    from joblib import parallel_config

    images = enrol[:-1].fit_transform(gallery)  # the degraded, resolution-matched hypotheses
    times = {}
    for workers in (1, 2):
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
        with distributed.Client(cluster), parallel_config(backend="dask"):
            # n_jobs=2 in both runs, so that the batches always go to the cluster, whose workers limit them.
            extractor = TemplateExtractor(args.model, n_jobs=2).fit()
            extractor.transform(images[:1])  # each worker loads its network before timing
            _, times[workers], _ = timed(lambda: extractor.transform(images))
        cluster.close()
        print(f"dask LocalCluster, {workers} worker(s): {times[workers]:.1f} s for {n} templates", flush=True)
    print(f"speed-up 2 workers / 1 worker: {times[1] / times[2]:.2f} (load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
