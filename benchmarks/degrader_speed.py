"""Speed and memory of GalleryDegrader against its targets and a chain-by-chain baseline.

1. One 126×126 face, all 1,463 chains (l = 11, lengths 1–3) × 3 scales on
   one core: time of ``fit_transform`` plus materialising every hypothesis
   image (target: under 1 s), and the ratio against a baseline measured in
   the same process that applies each chain from scratch with ``apply_chain``
   and resizes every output eagerly (no shared prefixes).
2. A 423-face gallery × 64 chains × 3 scales: wall time, peak traced memory
   (tracemalloc) during ``fit_transform`` and what the result keeps
   (target: within 2 GiB), with the size the same hypotheses would take as
   plain arrays for comparison, and the process's peak RSS.

Faces are synthetic (smooth random colour blobs); the work per face does not
depend on the content. OpenCV is limited to one thread.

Run: ``python benchmarks/degrader_speed.py [--repeats N] [--gallery N] [--chains N]``
"""

import argparse
import gc
import resource
import time
import tracemalloc

import cv2
import numpy as np

from skmitm import GalleryDegrader, apply_chain, degradation_chains, match_resolution

TARGET_SECONDS = 1.0
TARGET_BYTES = 2 * 2**30


def _faces(n, seed=0, size=126):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        blobs = cv2.GaussianBlur(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), (0, 0), 3).astype(np.float32)
        yield cv2.normalize(blobs, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def _best(fn, repeats):
    best, result = np.inf, None
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def one_face(*, repeats=5, probe_size=24, scales=(2, 4, 8)):
    """Time every chain × scale for one face, ours and the chain-by-chain baseline."""
    face = next(_faces(1))
    degrader = GalleryDegrader(probe_size, scales=scales, n_chains=None, random_state=0)
    t_degrade, sets = _best(lambda: degrader.fit_transform([face]), repeats)
    t_match, images = _best(lambda: list(sets[0].data), repeats)
    chains = degradation_chains()

    def baseline():
        rng = np.random.default_rng(0)
        out = [match_resolution(face, probe_size * s) for s in scales]
        for chain in chains:
            degraded = apply_chain(face, chain, rng)
            out.extend(match_resolution(degraded, probe_size * s) for s in scales)
        return out

    t_base, base_images = _best(baseline, max(1, repeats // 2))
    assert len(base_images) + 1 == len(images)
    total = t_degrade + t_match
    return {
        "chains": len(chains),
        "hypotheses": len(images),
        "degrade_s": t_degrade,
        "match_s": t_match,
        "total_s": total,
        "target_ratio": TARGET_SECONDS / total,
        "baseline_s": t_base,
        "speedup_vs_baseline": t_base / total,
    }


def gallery(*, n_faces=423, n_chains=64, probe_size=24, scales=(2, 4, 8)):
    """Peak and retained memory of degrading a whole gallery."""
    faces = list(_faces(n_faces, seed=1))
    degrader = GalleryDegrader(probe_size, scales=scales, n_chains=n_chains, random_state=0)
    gc.collect()
    start = time.perf_counter()
    sets = degrader.fit_transform(faces)
    wall = time.perf_counter() - start
    del sets
    gc.collect()
    tracemalloc.start()
    sets = degrader.fit_transform(faces)
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    n_hyp = sum(len(hs) for hs in sets)
    # What the same hypotheses would hold as plain arrays (computed from their shapes).
    plain = sum(face.nbytes + int(np.prod(hs.data.shapes[1:], axis=1).sum()) * 3 for face, hs in zip(faces, sets))
    return {
        "faces": n_faces,
        "chains": len(degrader.chains_),
        "hypotheses": n_hyp,
        "wall_s": wall,
        "peak_traced_bytes": peak,
        "retained_traced_bytes": retained,
        "plain_array_bytes": plain,
        "target_ratio": TARGET_BYTES / peak,
        "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="best of N timings for one face (default 5)")
    parser.add_argument("--gallery", type=int, default=423, help="faces in the memory run (default 423)")
    parser.add_argument("--chains", type=int, default=64, help="chains per face in the memory run (default 64)")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)

    r = one_face(repeats=args.repeats)
    print(f"one 126x126 face, {r['chains']} chains x 3 scales = {r['hypotheses']} hypotheses, one core")
    print(f"  fit_transform (chains)      {r['degrade_s'] * 1e3:8.1f} ms")
    print(f"  materialise every image     {r['match_s'] * 1e3:8.1f} ms")
    print(f"  total                       {r['total_s'] * 1e3:8.1f} ms   target {TARGET_SECONDS:.0f} s: "
          f"{r['target_ratio']:.2f}x under ({'PASS' if r['total_s'] < TARGET_SECONDS else 'FAIL'})")
    print(f"  baseline (chain by chain)   {r['baseline_s'] * 1e3:8.1f} ms   ours is {r['speedup_vs_baseline']:.2f}x faster")

    g = gallery(n_faces=args.gallery, n_chains=args.chains)
    gib = 2**30
    print(f"gallery of {g['faces']} faces x {g['chains']} chains x 3 scales = {g['hypotheses']} hypotheses")
    print(f"  fit_transform wall time     {g['wall_s']:8.2f} s")
    print(f"  peak traced memory          {g['peak_traced_bytes'] / gib:8.3f} GiB   target 2 GiB: "
          f"{g['target_ratio']:.1f}x under ({'PASS' if g['peak_traced_bytes'] < TARGET_BYTES else 'FAIL'})")
    print(f"  retained by the result      {g['retained_traced_bytes'] / gib:8.3f} GiB")
    print(f"  same hypotheses as arrays   {g['plain_array_bytes'] / gib:8.3f} GiB (computed from their shapes)")
    print(f"  process peak RSS            {g['max_rss_bytes'] / gib:8.3f} GiB (includes the interpreter and imports)")


if __name__ == "__main__":
    main()
