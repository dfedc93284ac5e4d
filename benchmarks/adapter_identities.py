"""Do identity labels help the template adapter? A within-class whitening learned from LFW people outside the benchmark.

The adapter's maps use no identity labels: each low-resolution template is
regressed onto the high-resolution template of the same image. The kept
training templates of ``skmitm train-adapter --templates FILE`` also name each
face's person, so a label-aware step can be tried on top: a within-class
whitening ``W = (S_w + lambda I)^(-1/2)``, with ``S_w`` the within-person
covariance of the unit high-resolution templates of the training people with
two or more faces, applied to every template on both sides (gallery and
mapped probes) before the identifier.

It is scored two ways, for every ``--lambdas`` value and without it:

- **held out**: the validation people the training run held out (never in
  the maps or the whitening). Gallery: the first face of each held-out
  person, high resolution; probes: their other faces' low-resolution
  hypotheses (every draw), mapped; score: the mean over a probe's
  hypotheses of the cosine to each gallery template. A held-out choice of
  ``lambda`` does not look at the benchmark.
- **benchmark**: the public benchmark at the settings of
  ``benchmarks/adapter_gain.py`` (same template cache), full method and the
  sigma-0 probes against the gallery photos.

Run: ``python benchmarks/adapter_identities.py --templates FILE [--lambdas 0.001 0.003 0.01 0.03 0.1]
[--chains 4] [--sigmas 2] [--probes-per-subject 1] [--conditions moderate:24 harsh:24]
[--cache reports/adapter-gain]``.
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np

from skmitm import TemplateAdapter, TemplateExtractor
from skmitm.adapter_training import fit_identity_whitening, fit_template_maps, read_training_templates, save_adapter
from skmitm.datasets import load_lfw_folder

from _shared import add_data_options, shared_path
from adapter_factors import print_table, readings
from adapter_gain import _condition, condition_templates


def held_out_rank1(stored, adapter):
    """Rank-1 (%) of the held-out people's other faces against their first faces (see the module docstring)."""
    held = np.flatnonzero(stored["held_out"])
    high, people = stored["high"], stored["subjects"]
    first = {}  # the draws of a face share its high-resolution template: a person's first row is its photo
    for i in held:
        first.setdefault(people[i], i)
    gallery_people = np.array(list(first))
    gallery = np.concatenate([s.data for s in adapter.fit_transform(high[[first[p] for p in gallery_people]])])
    probes = [i for i in held if not np.array_equal(high[i], high[first[people[i]]])]
    mapped = adapter.transform([stored["low"][i] for i in probes])
    hits = [gallery_people[(s.data @ gallery.T).mean(axis=0).argmax()] == people[i] for s, i in zip(mapped, probes)]
    return 100 * float(np.mean(hits)), len(probes), len(gallery_people)


def run(*, lfw, model, templates, lambdas, conditions, n_chains, sigmas, probes_per_subject, cache, progress=True):
    extractor = TemplateExtractor(model, memory=cache, progress=progress).fit()
    stored, key = read_training_templates(templates)
    if extractor.model_sha256_ not in str(key):
        raise ValueError(f"the training templates in {str(templates)!r} were not computed by {Path(model).name!r}")
    train = np.flatnonzero(~stored["held_out"])
    maps = fit_template_maps([stored["low"][i] for i in train], stored["high"][train])
    # The whitening sees each training face once (the draws of a face share its template).
    _, once = np.unique(stored["high"][train], axis=0, return_index=True)
    faces = train[np.sort(once)]
    data = load_lfw_folder(lfw, min_images_per_subject=5, max_images_per_subject=5)
    sets = {f"{severity} {size} px": condition_templates(extractor, data, severity=severity, probe_size=size,
                                                         n_chains=n_chains, sigmas=sigmas,
                                                         probes_per_subject=probes_per_subject)
            for severity, size in conditions}
    table = []
    with tempfile.TemporaryDirectory() as folder:
        for lam in [None, *lambdas]:
            weights = dict(maps)
            if lam is not None:
                weights["whitening"] = fit_identity_whitening(stored["high"][faces], stored["subjects"][faces],
                                                              reg=lam)
            save_adapter(Path(folder) / "a.npz", weights, network_sha256=extractor.model_sha256_)
            adapter = TemplateAdapter(model, weights=Path(folder) / "a.npz").fit()
            held, n_probes, n_gallery = held_out_rank1(stored, adapter)
            values = [held]
            for g, gy, p, py in sets.values():
                full, plain, _ = readings(adapter.fit_transform(g), gy, adapter.transform(p), py)
                values += [full, plain]
            table.append(("maps only" if lam is None else f"maps + whitening, lambda {lam:g}", values))
            print(f"{table[-1][0]} done", flush=True)
    columns = [f"held out ({n_probes} probes, {n_gallery} people)"] + [
        f"{c}, {r}" for c in sets for r in ("full method", "sigma-0 vs originals")]
    return columns, table


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_options(parser)
    parser.add_argument("--templates", required=True,
                        help="training templates kept by 'skmitm train-adapter --templates'")
    parser.add_argument("--lambdas", type=float, nargs="+", default=[0.001, 0.003, 0.01, 0.03, 0.1])
    parser.add_argument("--conditions", nargs="+", type=_condition, default=[("moderate", 24), ("harsh", 24)],
                        metavar="SEVERITY:SIZE")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--sigmas", type=int, default=2)
    parser.add_argument("--probes-per-subject", type=int, default=1, choices=[1, 2, 3, 4])
    parser.add_argument("--cache", default="reports/adapter-gain", help="folder keeping the computed templates")
    args = parser.parse_args()
    if any(lam <= 0 for lam in args.lambdas):
        parser.error("--lambdas must be positive")
    lfw = args.lfw or shared_path("data/lfw-deepfunneled")
    model = args.model or str(shared_path("models/mobilefacenet.onnx"))
    columns, table = run(lfw=lfw, model=model, templates=args.templates, lambdas=args.lambdas,
                         conditions=args.conditions, n_chains=args.chains, sigmas=args.sigmas,
                         probes_per_subject=args.probes_per_subject, cache=args.cache)
    print(f"\nrank-1 (%), {Path(model).name}; benchmark: {args.chains} chains, {args.sigmas} sigmas\n")
    print_table("", columns, table)


if __name__ == "__main__":
    main()
