"""Scoring probes one at a time: probe means from a reference set against the whole-batch means.

Under the mean-centred similarity the probe side is centred on the mean probe
template of each hypothesis group. Taken over the probes scored together,
that makes a probe's score depend on its batch (and a lone probe, centred on
itself, has no template left). ``probe_means`` estimated once from a
reference set of unlabelled probe-domain images removes the dependence.

This benchmark runs on the templates file of ``skmitm ablation --templates
FILE``. The subjects are split in two at random: the probes of one half are
the reference pool, the probes of the other half are scored against the
whole gallery. It prints rank-1 of whole-batch centring and, for each
reference size, the mean and standard deviation over random reference draws.

Run: ``python benchmarks/probe_reference.py --templates reports/ablation-moderate24.npz``
"""

import numpy as np

from skmitm import FusedNearestNeighborIdentifier

from component_gain import kept_templates, templates_parser


def run(*, templates, lfw, severity="moderate", probe_size=24, sizes=(10, 30, 100, 300), n_draws=5,
        fusion="T_concat", random_state=0):
    """Rank-1 (%) of batch centring and of each reference size.

    Returns ``{"batch": rank1, "n_scored": n, "references": {size: [rank1 of each draw]}}``.
    """
    gallery, gallery_subjects, probes, probe_subjects = kept_templates(
        templates, lfw, severity=severity, probe_size=probe_size)
    rng = np.random.default_rng(random_state)
    subjects = np.unique(gallery_subjects)
    pool_subjects = rng.permutation(subjects)[: len(subjects) // 2]
    in_pool = np.isin(probe_subjects, pool_subjects)
    pool = [p for p, k in zip(probes, in_pool) if k]
    scored = [p for p, k in zip(probes, in_pool) if not k]
    truth = probe_subjects[~in_pool]
    clf = FusedNearestNeighborIdentifier(fusion, similarity="mean-centred").fit(gallery, gallery_subjects)
    results = {"batch": 100 * clf.score(scored, truth), "n_scored": len(scored), "references": {}}
    for size in sizes:
        if size > len(pool):
            raise ValueError(f"reference size {size} exceeds the {len(pool)} probes of the reference half")
        draws = []
        for _ in range(n_draws):
            reference = [pool[i] for i in rng.choice(len(pool), size, replace=False)]
            means = clf.estimate_probe_means(reference)  # independent of the probe_means in use
            draws.append(100 * clf.set_params(probe_means=means).score(scored, truth))
        results["references"][size] = draws
    return results


def main(argv=None):
    parser = templates_parser(__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 30, 100, 300])
    parser.add_argument("--draws", type=int, default=5, help="random reference draws per size")
    args = parser.parse_args(argv)
    results = run(templates=args.templates, lfw=args.lfw, severity=args.severity, probe_size=args.probe_size,
                  sizes=args.sizes, n_draws=args.draws, fusion=args.fusion)
    print(f"{args.fusion}, mean-centred, {args.severity} {args.probe_size} px; "
          f"{results['n_scored']} probes of half the subjects scored")
    print(f"  {'probe means of the whole scored batch':45s} rank-1 {results['batch']:5.1f}%")
    for size, draws in results["references"].items():
        print(f"  {f'probe means of {size} reference probes':45s} rank-1 {np.mean(draws):5.1f}% "
              f"± {np.std(draws):.1f} ({len(draws)} draws)")
    return results


if __name__ == "__main__":
    main()
