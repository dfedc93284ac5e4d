"""Which super-resolution weights serve identification best: image quality and rank-1 of each variant.

For every weights card given with ``--weights`` (the name of shipped weights,
such as ``realistic``, or a card written by ``skmitm train-sr``):

- image quality: PSNR and SSIM on luma at ×2, ×4 and ×8 on ``--faces``
  moderate 24 px probes of evaluation people (the measures and faces of
  ``sr_quality.py``), with bicubic as the reference row;
- rank-1 on the public benchmark (423 subjects, the first
  ``--probes-per-subject`` probes of each) for every ``--conditions``
  entry, read three ways over the same templates:

  - ×4 single hypothesis: the σ = 0 ×4 super-resolution of each probe
    against the gallery photos, Pearson (``sr_gain.py``'s row);
  - the full method: gallery degradations and resolution matching
    (``--chains``), multi-scale multi-hypothesis SR (``--sigmas``), T_concat,
    mean-centred;
  - σ-0 probes vs gallery photos, S_add: the plain probe and its three σ = 0
    super-resolutions, each scored against the photos (mean-centred), averaged.

The gallery's templates do not depend on the SR weights and are computed once
per condition; the template cache ``--cache`` keeps every template, so a rerun
or a further variant costs only what is new.

Run: ``python benchmarks/sr_variants.py --weights realistic [LABEL=]CARD ...
[--lfw DIR] [--model FILE] [--conditions moderate:24 harsh:24] [--chains 16]
[--sigmas 4] [--probes-per-subject 4] [--faces 200] [--cache reports/sr-variants]``.
"""

import argparse
import time
from pathlib import Path

from skmitm import TemplateExtractor, load_edsr
from skmitm.datasets import load_lfw_folder

import sr_quality
from _shared import add_data_options, shared_path
from adapter_factors import print_table
from adapter_gain import PLAIN, _condition, condition_templates, rank1

#: (label, identifier parameters) of the three rank-1 readings.
READINGS = (
    ("×4 single hypothesis", {"fusion": "S_max", "similarity": "pearson", "gallery_kinds": ["original"],
                              "probe_kinds": ["super-resolved"], "scales": [4], "probe_sigmas": [0.0]}),
    ("full method", {}),
    ("σ-0 vs photos, S_add", PLAIN),
)


def parse_weights(text):
    """``LABEL=CARD`` or ``CARD`` (labelled by its file stem without ``face_edsr_``) → (label, card)."""
    label, sep, card = text.partition("=")
    if not sep:
        label, card = Path(text).stem.removeprefix("face_edsr_"), text
    return label, card


def quality(lfw, weights, n_faces):
    """{label: {scale: PSNR/SSIM row}} for bicubic and each weights card."""
    # A folder without peer files: the generic peers have their own benchmark (sr_quality.py).
    rows, facts = sr_quality.run(lfw=lfw, n_faces=n_faces, weights=weights, peers_dir=Path("/nonexistent"))
    out = {}
    for r in rows:
        out.setdefault(r["method"], {})[r["scale"]] = r
    return out, facts


def run(*, lfw, model, weights, conditions, n_chains, sigmas, probes_per_subject, cache, progress=True):
    """Rank-1 (%) of every reading: ``{condition: {weights label: [value per reading]}}``."""
    for _, card in weights:  # a missing or tampered card is refused before any template is computed
        load_edsr(card)
    extractor = TemplateExtractor(model, memory=cache, progress=progress).fit()
    data = load_lfw_folder(lfw, min_images_per_subject=5, max_images_per_subject=5)
    table = {}
    for severity, size in conditions:
        column = {}
        for label, card in weights:
            started = time.perf_counter()
            templates = condition_templates(extractor, data, severity=severity, probe_size=size, n_chains=n_chains,
                                            sigmas=sigmas, probes_per_subject=probes_per_subject, sr_weights=card)
            column[label] = [rank1(*templates, **params) for _, params in READINGS]
            print(f"{severity} {size} px, {label}: {time.perf_counter() - started:.0f} s", flush=True)
        table[f"{severity} {size} px ({len(templates[3])} probes)"] = column
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_options(parser)
    parser.add_argument("--weights", nargs="+", required=True, type=parse_weights, metavar="[LABEL=]CARD",
                        help="weights cards or names of shipped weights, each optionally labelled")
    parser.add_argument("--conditions", nargs="+", type=_condition, default=[("moderate", 24), ("harsh", 24)],
                        metavar="SEVERITY:SIZE")
    parser.add_argument("--chains", type=int, default=16, help="degradation chains per gallery image")
    parser.add_argument("--sigmas", type=int, default=4, help="blur hypotheses per probe and scale")
    parser.add_argument("--probes-per-subject", type=int, default=4, choices=[1, 2, 3, 4])
    parser.add_argument("--faces", type=int, default=200, help="probes scored for image quality")
    parser.add_argument("--cache", default="reports/sr-variants", help="folder keeping the computed templates")
    args = parser.parse_args()
    lfw = args.lfw or shared_path("data/lfw-deepfunneled")
    model = args.model or str(shared_path("models/mobilefacenet.onnx"))
    scores, facts = quality(lfw, args.weights, args.faces)
    print(f"\nimage quality: {facts['n_faces']} moderate 24 px probes of {facts['n_people']} evaluation people, "
          "PSNR (dB) and SSIM on luma\n")
    print("| weights | ×2 PSNR | ×4 PSNR | ×8 PSNR | ×2 SSIM | ×4 SSIM | ×8 SSIM |")
    print("| --- |" + " ---: |" * 6)
    for method, by_scale in scores.items():
        name = method.removeprefix("FaceEDSR (").removesuffix(")")
        cells = [f"{by_scale[s]['psnr_y']:.2f}" for s in sr_quality.SCALES]
        cells += [f"{by_scale[s]['ssim_y']:.4f}" for s in sr_quality.SCALES]
        print(f"| {name} | " + " | ".join(cells) + " |")
    table = run(lfw=lfw, model=model, weights=args.weights, conditions=args.conditions, n_chains=args.chains,
                sigmas=args.sigmas, probes_per_subject=args.probes_per_subject, cache=args.cache, progress=False)
    print(f"\nrank-1 (%), {Path(model).name}; full method: {args.chains} chains, {args.sigmas} sigmas, "
          "scales 2/4/8, T_concat, mean-centred")
    for condition, column in table.items():
        print(f"\n{condition}\n")
        print_table("weights", [r for r, _ in READINGS], list(column.items()))


if __name__ == "__main__":
    main()
