"""Identification among 100,000 enrolled subjects: latency per probe, memory, and an approximate index.

``python benchmarks/search_scale.py [--subjects 100000] [--dim 128] [--probes 200] [--template-dtype float16] [--ann]``

Synthetic templates stand in for a face network's (the search does not look
at what they show): each subject has an identity vector; its gallery
hypotheses (the original and one resolution-matched copy at each of the
scales 2, 4 and 8, for 24 px probes) are the identity plus noise. A probe is
a random enrolled subject's identity plus stronger noise, with the default
method's 49 hypotheses (the original, and 16 blur sigmas at each of the
three scales). The identifier is the default (``T_concat``, mean-centred),
which compares with each subject's mean template per scale, so the number
of degraded copies per gallery photo changes the enrolment cost, not the
search cost or the memory held after ``fit``.

Printed: the enrolment time; the size of the pickled fitted identifier per
subject (``--template-dtype float16`` stores the enrolled templates in half
the bytes; the fused subject vectors the search reads stay float32, and the
float64 reference is then computed from the unrounded templates); the peak
resident memory of the process; ``decision_function``'s time per probe for a batch of ``--probes`` probes and for one probe at a time
(with ``probe_means`` estimated from the batch, as a live system would); the
rank-1 agreement with a NumPy reference computed here from the formula. With
``--ann`` (needs the ``ann`` extra, faiss-cpu), an HNSW inner-product index
over the fused subject vectors of the reference: its recall@1 against the exact search
and its speed-up. Target: under 200 ms per probe on 2 cores, exact results.
"""

import argparse
import os
import pickle
import resource
import time

import numpy as np

from skmitm import FusedNearestNeighborIdentifier, HypothesisSet, make_meta

SCALES = (2.0, 4.0, 8.0)


def gallery_sets(identities, rng):
    meta = np.concatenate([make_meta(1), make_meta(3, scale=SCALES, kind="matched", size=24)])
    noise = rng.normal(scale=0.5, size=(len(identities), 4, identities.shape[1])).astype(np.float32)
    return [HypothesisSet(identity + n, meta) for identity, n in zip(identities, noise)]


def probe_sets(identities, rng, n_sigmas=16):
    n = 1 + len(SCALES) * n_sigmas
    meta = np.concatenate([
        make_meta(1, size=24),
        make_meta(n - 1, scale=np.repeat(SCALES, n_sigmas), kind="super-resolved",
                  sigma=np.tile(np.linspace(0, 1, n_sigmas), len(SCALES)), size=24),
    ])
    noise = rng.normal(scale=4.0, size=(len(identities), n, identities.shape[1])).astype(np.float32)
    return [HypothesisSet(identity + e, meta) for identity, e in zip(identities, noise)]


def exact_reference(gallery, probes):
    """Rank-1 from the formula, in float64 (see module docstring)."""
    n_subjects = len(gallery)
    g = np.stack([s.data for s in gallery]).astype(np.float64)  # (subjects, 4, D): original, 2, 4, 8
    p = np.stack([s.data for s in probes]).astype(np.float64)  # (probes, 49, D)
    g -= g.mean(axis=0, keepdims=True)  # each gallery group (kind, scale) is one column here
    n_sigmas = (p.shape[1] - 1) // len(SCALES)
    p[:, 0] -= p[:, 0].mean(axis=0)
    for k in range(len(SCALES)):
        part = slice(1 + k * n_sigmas, 1 + (k + 1) * n_sigmas)
        p[:, part] -= p[:, part].mean(axis=(0, 1))
    # Gallery groups: "original" (the originals), and each scale with the originals.
    g_blocks = [g[:, 0]] + [(g[:, 0] + g[:, 1 + k]) / 2 for k in range(len(SCALES))]
    p_blocks = [p[:, 0]] + [p[:, 1 + k * n_sigmas: 1 + (k + 1) * n_sigmas].mean(axis=1) for k in range(len(SCALES))]
    # The identifier orders groups by the text of their key: "original" after the (scale, size) tuples.
    order = [1, 2, 3, 0]
    gv = np.concatenate([g_blocks[i] for i in order], axis=1)
    pv = np.concatenate([p_blocks[i] for i in order], axis=1)
    gv /= np.linalg.norm(gv, axis=1, keepdims=True)
    pv /= np.linalg.norm(pv, axis=1, keepdims=True)
    assert gv.shape[0] == n_subjects
    return np.argmax(pv @ gv.T, axis=1), pv.astype(np.float32), gv.astype(np.float32)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128, help="template dimension (dlib 128, ArcFace 512)")
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--single", type=int, default=20, help="probes timed one at a time")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--template-dtype", default="float32", choices=["float32", "float16"],
                        help="precision of the stored gallery templates")
    parser.add_argument("--ann", action="store_true", help="also measure a faiss HNSW index (the ann extra)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    identities = rng.normal(size=(args.subjects, args.dim)).astype(np.float32)
    gallery = gallery_sets(identities, rng)
    truth = rng.integers(0, args.subjects, args.probes)
    probes = probe_sets(identities[truth], rng)
    del identities

    start = time.perf_counter()
    clf = FusedNearestNeighborIdentifier("T_concat", similarity="mean-centred",
                                         template_dtype=args.template_dtype).fit(gallery, np.arange(args.subjects))
    fit_s = time.perf_counter() - start
    clf.decision_function(probes[:20])  # builds the fused gallery once
    held = len(pickle.dumps(clf))
    print(f"{args.subjects} subjects, {args.dim}-D templates stored as {args.template_dtype}: enrolment {fit_s:.1f} s; the pickled fitted identifier "
          f"takes {held / args.subjects:.0f} bytes per subject ({held / 2**20:.0f} MiB)")

    batch = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        scores = clf.decision_function(probes)
        batch.append((time.perf_counter() - start) / args.probes)
    predicted = np.argmax(scores, axis=1)
    expected, probe_vectors, g_vec = exact_reference(gallery, probes)
    print(f"batch of {args.probes} probes: {1e3 * np.median(batch):.1f} ms per probe (median of {args.repeats}); "
          f"rank-1 equal to the float64 reference for {np.mean(predicted == expected):.1%} of probes; "
          f"correct subject {np.mean(predicted == truth):.1%}")

    clf.set_params(probe_means=clf.estimate_probe_means(probes))
    single = []
    for probe in probes[: args.single]:
        start = time.perf_counter()
        clf.decision_function([probe])
        single.append(time.perf_counter() - start)
    print(f"one probe at a time: {1e3 * np.median(single):.1f} ms per probe (median of {len(single)}; "
          f"target < 200 ms)")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    if args.ann:
        import faiss

        index = faiss.IndexHNSWFlat(g_vec.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        start = time.perf_counter()
        index.add(g_vec)
        build_s = time.perf_counter() - start
        index.hnsw.efSearch = 64
        exact_times, ann_times = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            exact_top = np.argmax(probe_vectors @ g_vec.T, axis=1)
            exact_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            _, ann_top = index.search(probe_vectors, 1)
            ann_times.append(time.perf_counter() - start)
        print(f"faiss HNSW (M=32, efSearch=64): build {build_s:.1f} s; recall@1 against exact "
              f"{np.mean(ann_top[:, 0] == exact_top):.1%}; speed-up over the exact product "
              f"{np.median(exact_times) / np.median(ann_times):.1f}x ({1e3 * np.median(ann_times) / args.probes:.2f} "
              f"ms per probe)")


if __name__ == "__main__":
    main()
