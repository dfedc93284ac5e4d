"""What decides whether the template adapter helps: training faces, their degradations, their sizes, the scoring.

Refits the adapter's maps (ridge per hypothesis group, ``--alpha``) from the
training templates that ``skmitm train-adapter --templates FILE`` kept, on
subsets of its training faces (never its held-out people), and scores each
refit on the public benchmark over the templates of
``benchmarks/adapter_gain.py`` (same conditions, settings and template
cache). Rows:

- without adapter;
- N faces drawn at random from the training faces, for every ``--faces N``
  and all of them (the learning curve; each random row is the mean over
  ``--repeats`` draws);
- the faces whose probe came from the benchmark's own probe synthesis
  (``probe-moderate`` or ``probe-harsh``), next to as many faces drawn at
  random from all;
- the faces whose probe size is within ``--near-size MIN MAX``, next to as
  many drawn at random.

Columns, per condition: the full method (T_concat, mean-centred); the
sigma-0 probe hypotheses against the gallery photos alone, S_add,
mean-centred (``adapter_gain.py``'s plainest row); the same with the plain
cosine (nothing centred).

Run: ``python benchmarks/adapter_factors.py --templates FILE [--faces 450 900 1800] [--repeats 3]
[--near-size 20 28] [--alpha 1] [--chains 4] [--sigmas 2] [--probes-per-subject 1]
[--conditions moderate:24 harsh:24] [--cache reports/adapter-gain]``.
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np

from skmitm import TemplateAdapter, TemplateExtractor
from skmitm.adapter_training import fit_template_maps, read_training_templates, save_adapter
from skmitm.datasets import load_lfw_folder

from _shared import add_data_options, shared_path
from adapter_gain import PLAIN, _condition, condition_templates, rank1

#: The degradations of the training family that are the benchmark's own probe synthesis.
PROBE_SYNTHESIS = ("probe-moderate", "probe-harsh")


def readings(gallery, gallery_subjects, probes, probe_subjects):
    """Rank-1 (%): full method; sigma-0 probes vs gallery originals, S_add, mean-centred; the same, plain cosine."""
    return (rank1(gallery, gallery_subjects, probes, probe_subjects),
            rank1(gallery, gallery_subjects, probes, probe_subjects, **PLAIN),
            rank1(gallery, gallery_subjects, probes, probe_subjects, similarity="cosine", **PLAIN))


def subsets(stored, faces, near_size, repeats, seed):
    """``[(label, [index arrays])]``: the training faces of each row (several arrays: random draws, averaged)."""
    train = np.flatnonzero(~stored["held_out"])
    rng = np.random.default_rng(seed)

    def drawn(n):
        return [np.sort(rng.choice(train, size=n, replace=False)) for _ in range(repeats)]

    rows = [(f"{n} faces at random", drawn(n)) for n in faces if n < len(train)]
    rows.append((f"all {len(train)} training faces", [train]))
    family = train[np.isin(stored["kinds"][train], PROBE_SYNTHESIS)]
    rows += [(f"{len(family)} faces degraded by the probe synthesis", [family]),
             (f"{len(family)} faces at random", drawn(len(family)))]
    sizes = np.array([s.meta["size"][0] for s in stored["low"]])[train]
    near = train[(sizes >= near_size[0]) & (sizes <= near_size[1])]
    rows += [(f"{len(near)} faces of probe size {near_size[0]}-{near_size[1]}", [near]),
             (f"{len(near)} faces at random", drawn(len(near)))]
    return rows


def run(*, lfw, model, templates, conditions, n_chains, sigmas, probes_per_subject, faces, near_size, repeats,
        alpha, cache, seed=0, progress=True):
    """Rank-1 of every row: ``(column names, [(label, [rank-1, ...]), ...])``."""
    extractor = TemplateExtractor(model, memory=cache, progress=progress).fit()
    stored, key = read_training_templates(templates)
    if extractor.model_sha256_ not in str(key):
        raise ValueError(f"the training templates in {str(templates)!r} were not computed by {Path(model).name!r} "
                         "(their key does not name its SHA-256)")
    data = load_lfw_folder(lfw, min_images_per_subject=5, max_images_per_subject=5)
    sets = {f"{severity} {size} px": condition_templates(extractor, data, severity=severity, probe_size=size,
                                                         n_chains=n_chains, sigmas=sigmas,
                                                         probes_per_subject=probes_per_subject)
            for severity, size in conditions}
    columns = [f"{c}, {r}" for c in sets for r in ("full method", "sigma-0 vs originals, mean-centred",
                                                   "sigma-0 vs originals, cosine")]
    table = [("without adapter", [v for s in sets.values() for v in readings(*s)])]
    with tempfile.TemporaryDirectory() as folder:
        weights = Path(folder) / "adapter.npz"
        for label, draws in subsets(stored, faces, near_size, repeats, seed):
            values = []
            for idx in draws:
                maps = fit_template_maps([stored["low"][i] for i in idx], stored["high"][idx], alpha=alpha)
                save_adapter(weights, maps, network_sha256=extractor.model_sha256_)
                adapter = TemplateAdapter(model, weights=weights).fit()
                values.append([v for g, gy, p, py in sets.values() for v in readings(g, gy, adapter.transform(p), py)])
            table.append((label + (f" (mean of {len(draws)} draws)" if len(draws) > 1 else ""),
                          list(np.mean(values, axis=0))))
            print(f"{label} done", flush=True)
    return columns, table


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_options(parser)
    parser.add_argument("--templates", required=True, help="training templates kept by 'skmitm train-adapter --templates'")
    parser.add_argument("--faces", type=int, nargs="*", default=[450, 900, 1800],
                        help="sizes of the random training subsets of the learning curve")
    parser.add_argument("--repeats", type=int, default=3, help="random draws averaged per random subset")
    parser.add_argument("--near-size", type=int, nargs=2, default=[20, 28], metavar=("MIN", "MAX"),
                        help="probe sizes near the benchmark's 24 px")
    parser.add_argument("--alpha", type=float, default=1.0, help="ridge penalty of every refit")
    parser.add_argument("--conditions", nargs="+", type=_condition, default=[("moderate", 24), ("harsh", 24)],
                        metavar="SEVERITY:SIZE")
    parser.add_argument("--chains", type=int, default=4, help="degradation chains per gallery image")
    parser.add_argument("--sigmas", type=int, default=2, help="blur hypotheses per probe and scale")
    parser.add_argument("--probes-per-subject", type=int, default=1, choices=[1, 2, 3, 4])
    parser.add_argument("--seed", type=int, default=0, help="seed of the random subsets")
    parser.add_argument("--cache", default="reports/adapter-gain", help="folder keeping the computed templates")
    args = parser.parse_args()
    if args.repeats < 1 or args.alpha <= 0:
        parser.error("--repeats must be at least 1 and --alpha positive")
    lfw = args.lfw or shared_path("data/lfw-deepfunneled")
    model = args.model or str(shared_path("models/mobilefacenet.onnx"))
    columns, table = run(lfw=lfw, model=model, templates=args.templates, conditions=args.conditions,
                         n_chains=args.chains, sigmas=args.sigmas, probes_per_subject=args.probes_per_subject,
                         faces=args.faces, near_size=args.near_size, repeats=args.repeats, alpha=args.alpha,
                         cache=args.cache, seed=args.seed)
    print(f"\nrank-1 (%), {Path(model).name}, {args.chains} chains, {args.sigmas} sigmas, scales 2/4/8, "
          f"maps refitted with alpha {args.alpha}\n")
    print_table("training faces of the maps", columns, table)


def print_table(corner, columns, table):
    """A Markdown table of rank-1 figures: one row per ``(label, values)``, one decimal."""
    print(f"| {corner} | " + " | ".join(columns) + " |")
    print("| --- |" + " ---: |" * len(columns))
    for label, values in table:
        print(f"| {label} | " + " | ".join(f"{v:.1f}" for v in values) + " |")


if __name__ == "__main__":
    main()
