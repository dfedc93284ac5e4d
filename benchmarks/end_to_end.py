"""Wall and CPU time of the full default method on the public benchmark, whole or on its first subjects.

``python benchmarks/end_to_end.py [--subjects 50] [--chains 64] [--sigmas 16] [--sr-weights WEIGHTS] [--model PATH]
[--lfw DIR]``
``python benchmarks/end_to_end.py --floor [--chains 64] [--sigmas 16] [--sr-weights WEIGHTS] [--model PATH]``

The full default method is ``make_mitm_pipeline("full")`` with its defaults
(64 degradation chains, 16 blur levels, scales 2/4/8, ``T_concat``,
mean-centred, ``sr_weights="auto"``; ``--sr-weights`` picks other
super-resolution weights) and the face network ``--model`` (default
MobileFaceNet, the public benchmark's network), on the public benchmark's
moderate 24 px condition (423 gallery photos and 1,692 probes;
``--subjects N`` keeps the first N subjects). One command does it all: load and crop LFW,
synthesise the probes, ``fit`` the pipeline on the gallery photos, ``predict``
the probes. Printed: the super-resolution weights file used; rank-1; wall time
and CPU time (all threads of the process) of each side; per gallery photo and
per probe CPU time; and, for a subset, the whole benchmark's CPU time
extrapolated from the per-photo and per-probe figures, and that CPU time
divided by the cores (the wall time on an otherwise idle machine if the work
kept every core busy). Target: under 10 minutes on 2 cores.

``--floor`` runs nothing of the benchmark. It counts the face-network runs
and super-resolved copies the whole benchmark needs (from the pipeline's own
steps, on one stand-in photo and probe), times one network run and one
super-resolved copy on one core (batches of 64, median of 5), and prints
their product divided by the cores: the least wall time the benchmark can
take with these two kernels as they are, if every core stayed busy and
nothing else cost anything. Beside it, for scale: the network's
multiply-adds per run (counted from the ONNX graph) against a large
single-thread matrix product's rate, the best this core does.
"""

import argparse
import os
import time

import numpy as np

from _shared import add_data_options, add_sr_weights_option, public_benchmark, shared_path, timed

N_GALLERY, N_PROBES = 423, 1692  # the whole public benchmark
BATCH, REPEATS = 64, 5


def _median_seconds(fn, repeats=REPEATS):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _onnx_macs(path):
    """Multiply-adds of one run of an ONNX network's convolutions and dense layers (batch 1)."""
    import onnx

    graph = onnx.load(path)
    for dim in graph.graph.input[0].type.tensor_type.shape.dim[:1]:
        dim.dim_value = 1
    graph = onnx.shape_inference.infer_shapes(graph)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in [*graph.graph.value_info, *graph.graph.output]}
    weights = {w.name: list(w.dims) for w in graph.graph.initializer}
    macs = 0
    for node in graph.graph.node:
        if node.op_type in ("Conv", "Gemm", "MatMul") and node.input[1] in weights:
            w = weights[node.input[1]]
            macs += int(np.prod(shapes[node.output[0]]) * np.prod(w[1:])) if node.op_type == "Conv" else int(
                np.prod(w))
    return macs


def floor(args):
    """The least wall time of the whole benchmark given the network's and the SR's speed on this machine."""
    import cv2
    import torch

    from skmitm import make_mitm_pipeline

    model = str(args.model or shared_path("models/mobilefacenet.onnx"))
    pipe = make_mitm_pipeline("full", model=model, probe_size=24, n_chains=args.chains, sigmas=args.sigmas,
                              sr_weights=args.sr_weights, random_state=0)
    degrade, up, templates = (pipe.named_steps[n] for n in ("degrade", "upsample", "templates"))
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (126, 126, 3), dtype=np.uint8)
    per_photo = len(degrade.fit_transform([photo])[0])
    up.fit()
    # Stand-ins for probes, smooth as faces are; what is timed does not depend on their content.
    probes = [cv2.resize(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8), (24, 24), interpolation=cv2.INTER_CUBIC)
              for _ in range(BATCH // len(up.sigmas_))]
    hypotheses = list(up.transform(probes[:1])[0].data)
    per_probe = len({id(image) for image in hypotheses})  # distinct images: what the network runs on
    copies_per_probe = (per_probe - up.include_original) // len(up.scales_)
    templates.fit()
    chips = templates.network_input([hypotheses[-1]] * BATCH)
    net_s = _median_seconds(lambda: templates.model_.run(chips, 1)) / BATCH

    x = torch.from_numpy(np.concatenate([up.blurred_copies(p) for p in probes])).permute(0, 3, 1, 2)

    def super_resolve():
        features = up.net_.features(x)
        return [up.net_.upsample(x, features, s).clamp(0, 1).mul(255).round().to(torch.uint8) for s in up.scales_]

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            sr_s = _median_seconds(super_resolve) / len(x)
            a = torch.rand(2048, 2048)
            matmul_gflops = 2 * 2048**3 / _median_seconds(lambda: a @ a) / 1e9
    finally:
        torch.set_num_threads(previous)
    n_probes = N_PROBES + N_GALLERY  # the real probes and one synthetic probe per gallery photo
    runs, copies = N_GALLERY * per_photo + n_probes * per_probe, n_probes * copies_per_probe
    cpu = runs * net_s + copies * sr_s
    cores = os.cpu_count()
    print(f"network runs: {N_GALLERY} photos × {per_photo} + {n_probes} probes × {per_probe} = {runs:,}, "
          f"{1000 * net_s:.2f} ms each on one core: {runs * net_s:.0f} CPU-s")
    print(f"super-resolved copies: {n_probes} probes × {copies_per_probe} = {copies:,}, {1000 * sr_s:.2f} ms each "
          f"(all {len(up.scales_)} scales) on one core: {copies * sr_s:.0f} CPU-s; SR weights "
          f"{up.card_.get('weights')}")
    print(f"floor: {cpu:.0f} CPU-s, {cpu / cores:.0f} s = {cpu / cores / 60:.1f} minutes on {cores} fully used cores "
          f"(load average {os.getloadavg()[0]:.1f})")
    try:
        macs = _onnx_macs(model)
    except ImportError:
        return
    print(f"the network: {macs / 1e6:.0f} M multiply-adds per run, {2 * macs / net_s / 1e9:.0f} GFLOP/s on one core; "
          f"a 2048×2048 float32 matrix product: {matmul_gflops:.0f} GFLOP/s")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_options(parser)
    parser.add_argument("--subjects", type=int, default=None, help="first N subjects only (default: all 423)")
    parser.add_argument("--chains", type=int, default=64, help="degradation chains per gallery photo")
    parser.add_argument("--sigmas", type=int, default=16, help="blur levels per probe and scale")
    add_sr_weights_option(parser)
    parser.add_argument("--floor", action="store_true",
                        help="only the least time the network and the SR allow (see the module docstring)")
    args = parser.parse_args(argv)
    if args.floor:
        floor(args)
        return
    started, cpu_started = time.perf_counter(), time.process_time()

    from skmitm import make_mitm_pipeline

    model = args.model or shared_path("models/mobilefacenet.onnx")
    gallery, gallery_y, probes, probe_y = public_benchmark(args.lfw, subjects=args.subjects)
    pipe = make_mitm_pipeline("full", model=model, probe_size=24, n_chains=args.chains, sigmas=args.sigmas,
                              sr_weights=args.sr_weights, random_state=0)
    _, fit_wall, fit_cpu = timed(lambda: pipe.fit(gallery, gallery_y))
    predicted, predict_wall, predict_cpu = timed(lambda: pipe.predict(probes))
    total_wall, total_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    cores = os.cpu_count()
    sr_file = pipe.named_steps["upsample"].card_.get("weights")
    print(f"{len(gallery_y)} gallery photos, {len(probe_y)} probes; {args.chains} chains, {args.sigmas} blur levels, "
          f"SR weights {sr_file}; rank-1 {100 * np.mean(predicted == probe_y):.1f}%")
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
