"""Speed of MultiHypothesisUpsampler against a raw torch forward of the same batch.

One 24×24 probe becomes 16 blurred copies × 3 scales = 48 super-resolved
hypotheses (plus the original); sigma 1/15 and 2/15 leave the probe as it
is, so the network runs 14 distinct copies. The baseline is the bare network
on the same 14 distinct copies, already a float tensor: the shared body
once, then the three tails, under ``torch.inference_mode``. The difference
is what the upsampler adds: input validation, blurring, finding the distinct
copies, the uint8 conversion of the output images and the hypothesis
metadata. The upsampler's images are read (``transform`` makes them only
when read). Baseline and upsampler calls alternate, so load from other
processes hits both alike; medians are reported.

Run: ``python benchmarks/upsampler_speed.py [--repeats 20] [--threads 1]
[--probes 1] [--size 24]``. Target: overhead ≤ 10%.

``--bicubic`` times instead the network's forward on the same blurred copies
with its bicubic base (each tail adds its output to the bicubic upsampling
of the input) made by ``F.interpolate``, as the network did before, against
the forward as it ships (two matrix products per image and scale),
alternating; it prints their ratio, ``F.interpolate``'s own share, and how
many output pixels (in 8 bits) the two forwards give differently.
"""

import argparse
import time

import numpy as np
import torch
from torch.nn import functional as F

from skmitm import MultiHypothesisUpsampler


def _to_8_bits(y):
    return y.clamp(0, 1).mul(255).round().to(torch.uint8)


def _alternate(jobs, *, repeats, threads):
    """Each job's output, and its median seconds over ``repeats`` calls alternating with the others'."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            outputs = {name: job() for name, job in jobs.items()}
            times = {name: [] for name in jobs}
            for _ in range(repeats):
                for name, job in jobs.items():
                    start = time.perf_counter()
                    job()
                    times[name].append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    return outputs, {name: float(np.median(t)) for name, t in times.items()}


def measure(*, n_probes=1, size=24, repeats=20, threads=1, seed=0):
    """Median seconds per call of the upsampler and of the raw forward; returns a dict."""
    rng = np.random.default_rng(seed)
    probes = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n_probes)]
    up = MultiHypothesisUpsampler(n_threads=threads, batch_size=16 * n_probes).fit()
    net = up.net_
    # The network's work is the distinct blurred copies: the faintest blur
    # levels leave a probe as it is, and the upsampler runs such a copy once.
    copies, rows = up.distinct_copies(probes)
    # The same channels-last layout the upsampler feeds the network (an
    # N×H×W×C array seen as N×C×H×W); torch's CPU convolutions run it faster
    # than a contiguous N×C×H×W copy, so a contiguous baseline would flatter us.
    x = torch.from_numpy(copies).permute(0, 3, 1, 2)

    def raw():
        features = net.features(x)
        return [net.upsample(x, features, s) for s in up.scales_]

    def ours():
        # transform super-resolves lazily: reading the images is what makes them.
        return [list(hs.data) for hs in up.transform(probes)]

    outputs, medians = _alternate({"raw": raw, "upsampler": ours}, repeats=repeats, threads=threads)
    raw_s, ours_s = medians["raw"], medians["upsampler"]
    # Like is timed against like: the raw forward's images, in the upsampler's 8 bits, are its hypotheses.
    n_sigmas = len(up.sigmas_)
    raw_images = [_to_8_bits(y).permute(0, 2, 3, 1).numpy() for y in outputs["raw"]]
    difference = max(
        int(np.abs(raw_images[i][rows[k, j]].astype(int) - outputs["upsampler"][k][1 + i * n_sigmas + j]).max())
        for k in range(n_probes) for i in range(len(up.scales_)) for j in range(n_sigmas)
    )
    return {
        "n_probes": n_probes,
        "hypotheses_per_probe": up.n_hypotheses_,
        "max_abs_difference": difference,
        "raw_ms_per_probe": 1000 * raw_s / n_probes,
        "upsampler_ms_per_probe": 1000 * ours_s / n_probes,
        "overhead": ours_s / raw_s - 1,
    }


def bicubic_speed(*, n_probes=4, size=24, repeats=20, threads=1, seed=0):
    """Median seconds of the network's forward with F.interpolate's bicubic base and as it ships."""
    rng = np.random.default_rng(seed)
    up = MultiHypothesisUpsampler(n_threads=threads).fit()
    net = up.net_
    probes = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n_probes)]
    x = torch.from_numpy(np.concatenate([up.blurred_copies(p) for p in probes])).permute(0, 3, 1, 2)

    def before():
        features = net.features(x)
        return [_to_8_bits(F.interpolate(x, scale_factor=s, mode="bicubic", align_corners=False)
                           + net.tails[f"x{s}"](features)) for s in up.scales_]

    def now():
        features = net.features(x)
        return [_to_8_bits(net.upsample(x, features, s)) for s in up.scales_]

    jobs = {"F.interpolate": before, "matrix products": now,
            "F.interpolate alone": lambda: [F.interpolate(x, scale_factor=s, mode="bicubic", align_corners=False)
                                            for s in up.scales_]}
    outputs, medians = _alternate(jobs, repeats=repeats, threads=threads)
    old, new = outputs["F.interpolate"], outputs["matrix products"]
    differing = sum(int((a != b).sum()) for a, b in zip(old, new))
    largest = max(int((a.int() - b.int()).abs().max()) for a, b in zip(old, new))
    return medians, differing, sum(a.numel() for a in old), largest


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both (default: %(default)s)")
    parser.add_argument("--probes", type=int, nargs="+", default=[1], help="probes per call")
    parser.add_argument("--size", type=int, default=24, help="probe side in pixels")
    parser.add_argument("--bicubic", action="store_true",
                        help="time the network's bicubic base: F.interpolate against matrix products")
    args = parser.parse_args(argv)
    if args.bicubic:
        n = max(args.probes)
        medians, differing, total, largest = bicubic_speed(n_probes=n, size=args.size, repeats=args.repeats,
                                                           threads=args.threads)
        print(f"{n} probes of {args.size}×{args.size} px, 16 blurred copies each, scales (2, 4, 8), "
              f"{args.threads} torch thread(s), median of {args.repeats}")
        old, new = medians["F.interpolate"], medians["matrix products"]
        print(f"forward with the bicubic base by F.interpolate: {1000 * old:.1f} ms, by matrix products (as it "
              f"ships): {1000 * new:.1f} ms, ratio {new / old:.3f}; F.interpolate alone: "
              f"{1000 * medians['F.interpolate alone']:.1f} ms")
        print(f"8-bit output pixels that differ: {differing} of {total} (at most {largest} grey level)")
        return
    print(f"{args.size}×{args.size} probes, 16 sigmas × scales (2, 4, 8), shipped weights, "
          f"{args.threads} torch thread(s), median of {args.repeats}")
    print("| probes per call | hypotheses per probe | raw forward ms/probe | upsampler ms/probe | overhead |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for n in args.probes:
        r = measure(n_probes=n, size=args.size, repeats=args.repeats, threads=args.threads)
        print(f"| {n} | {r['hypotheses_per_probe']} | {r['raw_ms_per_probe']:.1f} | "
              f"{r['upsampler_ms_per_probe']:.1f} | {100 * r['overhead']:+.1f}% |")


if __name__ == "__main__":
    main()
