"""Speed of fused matching against a plain float32 matrix product of the same size.

One probe with 48 hypotheses against 1,000 subjects × 64 gallery hypotheses,
128-D templates, fused S_max over gallery hypotheses then S_add over probe
hypotheses. Prints ms per probe, the achieved GFLOP/s of the identifier and of
``numpy.matmul`` on the same shapes (measured in the same process), and their
ratio (target ≥ 0.8). The product is timed in both layouts, probes × gallery
(``P @ G.T``) and gallery × probes (``G @ P.T``, which OpenBLAS computes
faster for these shapes and which the identifier uses); the ratio is against
the faster of the two, so that the identifier gains nothing from the choice
of layout. The default fusion, ``T_concat``, compares one fused
vector per probe with one per subject: far fewer FLOPs than the exhaustive
product, so its time is printed beside the product's, as a ratio (above 1:
faster than the product).

Run: ``python benchmarks/fusion_speed.py [--repeats N] [--probes P]``
"""

import argparse
import time

import numpy as np

from skmitm import FusedNearestNeighborIdentifier, HypothesisSet, make_meta


def _best_times(fns, repeats):
    """Best time of each function, interleaving them so load changes hit all alike."""
    for fn in fns:
        fn()  # warm caches and BLAS threads
    best = [np.inf] * len(fns)
    for _ in range(repeats):
        for k, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - start)
    return best


def run(*, n_subjects=1000, gallery_hypotheses=64, probe_hypotheses=48, dim=128, n_probes=1, repeats=20, seed=0):
    """Time the identifier and the plain product; return a dict of figures."""
    rng = np.random.default_rng(seed)
    # All hypotheses share one scale, so every probe hypothesis meets every
    # gallery hypothesis: the identifier does exactly the product's FLOPs.
    gallery = [
        HypothesisSet(
            rng.normal(size=(gallery_hypotheses, dim)).astype(np.float32),
            make_meta(gallery_hypotheses, kind="degraded", scale=2, chain=[f"c{k}" for k in range(gallery_hypotheses)]),
        )
        for _ in range(n_subjects)
    ]
    probes = [
        HypothesisSet(
            rng.normal(size=(probe_hypotheses, dim)).astype(np.float32),
            make_meta(probe_hypotheses, kind="super-resolved", scale=2, sigma=np.linspace(0, 1, probe_hypotheses)),
        )
        for _ in range(n_probes)
    ]
    clf = FusedNearestNeighborIdentifier("S_max/S_add").fit(gallery, np.arange(n_subjects))
    concat = FusedNearestNeighborIdentifier("T_concat").fit(gallery, np.arange(n_subjects))
    P = rng.normal(size=(n_probes * probe_hypotheses, dim)).astype(np.float32)
    G = rng.normal(size=(n_subjects * gallery_hypotheses, dim)).astype(np.float32)
    flops = 2.0 * P.shape[0] * G.shape[0] * dim
    t_pg, t_gp, t_fused, t_concat = _best_times(
        [lambda: P @ G.T, lambda: G @ P.T, lambda: clf.decision_function(probes),
         lambda: concat.decision_function(probes)],
        repeats,
    )
    t_matmul = min(t_pg, t_gp)
    return {
        "ms_per_probe": 1e3 * t_fused / n_probes,
        "ms_per_probe_concat": 1e3 * t_concat / n_probes,
        "ratio_concat": t_matmul / t_concat,
        "gflops_fused": flops / t_fused / 1e9,
        "gflops_matmul": flops / t_matmul / 1e9,
        "gflops_pg": flops / t_pg / 1e9,
        "gflops_gp": flops / t_gp / 1e9,
        "ratio": t_matmul / t_fused,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed repetitions; the best is kept")
    parser.add_argument("--probes", type=int, default=1, help="probes per decision_function call")
    args = parser.parse_args(argv)
    r = run(n_probes=args.probes, repeats=args.repeats)
    print(f"fused S_max/S_add, {args.probes} probe(s) × 48 hyps vs 1000 subjects × 64 hyps, 128-D")
    print(f"  identifier : {r['ms_per_probe']:.2f} ms per probe, {r['gflops_fused']:.1f} GFLOP/s")
    print(f"  numpy P@G.T: {r['gflops_pg']:.1f} GFLOP/s, G@P.T: {r['gflops_gp']:.1f} GFLOP/s (same shapes, same process)")
    print(f"  ratio      : {r['ratio']:.2f} of the faster product (target >= 0.8)")
    print(f"T_concat (the default): {r['ms_per_probe_concat']:.2f} ms per probe; exhaustive product time / "
          f"T_concat time: {r['ratio_concat']:.2f}")
    return r


if __name__ == "__main__":
    main()
