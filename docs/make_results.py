"""Write docs/results.md from ``skmitm ablation`` report folders.

Usage (from the repository root, after running the ablations)::

    python docs/make_results.py reports/ablation-moderate24 reports/ablation-harsh24-c16s4 ...

The first folder is shown in full (its Tables 2 and 3); every folder gives a
column of the summary of its face network. Where a folder's templates file
(``FOLDER.npz``, from ``skmitm ablation --templates FOLDER.npz``) is present,
``benchmarks/component_gain.py`` removes one component at a time over it.
Each folder's CMC figure is drawn again into docs/images/.
"""

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from skmitm._ablation import network_label, plot_ablation_cmc
from skmitm._report import crop_label
import component_gain  # noqa: E402  (benchmarks/, not part of the package)

DOCS = Path(__file__).resolve().parent

SUMMARY = [
    ("baseline", "pearson", "Baseline", "—"),
    ("single-hypothesis SR ×4", "pearson", "+ Single hypothesis SR", "4×"),
    ("multi-hypothesis SR ×4, S_max", "pearson", "+ Multi hypothesis SR", "4×"),
    ("paper's full method, S_max/S_add", "pearson", "Full method (S_max over gallery, then S_add over probe)",
     "S_max/S_add"),
    ("baseline", "mean-centred", "Baseline", "—"),
    ("single-hypothesis SR ×4", "mean-centred", "+ Single hypothesis SR", "4×"),
    ("+ multi-scale, T_concat (no originals)", "mean-centred", "+ Multi-scale accumulation", "T_concat"),
    ("all hypotheses incl. originals, T_concat", "mean-centred", "All hypotheses, originals included", "T_concat"),
    ("+ template adapter, T_concat", "mean-centred", "+ Template adapter", "T_concat"),
    ("+ template adapter, sigma-0 probes vs gallery photos, S_add", "mean-centred",
     "+ Template adapter, sigma-0 probes vs gallery photos", "S_add"),
]


def _rank1(results, similarity, section, column):
    for row in results["rows"]:
        if row["similarity"] == similarity and row["section"] == section and row["column"] == column:
            return f"{row['rank1']:.1f}"
    return "—"


def _network(settings):
    return network_label(settings["model"])


def _column(settings):
    return (f"{settings['severity']} {settings['probe_size']} px "
            f"({settings['n_chains']} chains, {len(settings['sigmas'])} σ)")


def _components(folders, runs):
    """Rank-1 of each component-removal setting, per run with a templates file; None when none has one."""
    table = {}
    for folder, run in zip(folders, runs):
        templates = Path(f"{folder}.npz")
        if not templates.is_file():
            continue
        s = run["settings"]
        table[folder] = dict(component_gain.run(templates=templates, lfw=s["lfw"], severity=s["severity"],
                                                probe_size=s["probe_size"], random_state=s["random_state"]))
    return table


def main(folders):
    folders = [Path(f) for f in folders]
    runs = [json.loads((f / "ablation.json").read_text()) for f in folders]
    networks = list(dict.fromkeys(_network(r["settings"]) for r in runs))
    lines = [
        "# Results on the public benchmark",
        "",
        "Produced by `skmitm ablation` (the [public benchmark](protocol.md), scales 2/4/8): every hypothesis",
        "template is computed once, then each row below is an identifier setting over those templates, under",
        "both readings of Eq. 3 (per-template Pearson, and the mean-centred reading that subtracts each side's",
        "mean template per hypothesis group). Rank-1 identification rate in %; 1,692 probes per condition, so",
        "one probe is 0.06 points. Written by",
        f"`python docs/make_results.py {' '.join(str(f) for f in folders)}`.",
        "",
        "## Summary",
        "",
    ]
    for network in networks:
        mine = [r for r in runs if _network(r["settings"]) == network]
        crops = sorted({crop_label(r["settings"].get("crop", [62, 55, 188, 181])) for r in mine})
        lines += [
            f"### {network}",
            "",
            f"Face box {', '.join(crops)} of each 250×250 image.",
            "",
            "| configuration | similarity | " + " | ".join(_column(r["settings"]) for r in mine) + " |",
            "| --- | --- |" + " ---: |" * len(mine),
        ]
        for label, similarity, section, column in SUMMARY:
            lines.append(f"| {label} | {similarity} | "
                         + " | ".join(_rank1(r, similarity, section, column) for r in mine) + " |")
        lines.append("")
    components = _components(folders, runs)
    if components:
        kept = [(f, r) for f, r in zip(folders, runs) if f in components]
        labels = list(next(iter(components.values())))
        lines += [
            "## What each component adds",
            "",
            "All hypotheses, `T_concat`, mean-centred, with one component removed at a time, over the templates",
            "each ablation kept (`python benchmarks/component_gain.py --templates FILE`):",
            "",
            "| setting | " + " | ".join(f"{_network(r['settings'])}, {_column(r['settings'])}" for _, r in kept)
            + " |",
            "| --- |" + " ---: |" * len(kept),
        ]
        for label in labels:
            lines.append(f"| {label} | " + " | ".join(f"{components[f][label]:.1f}" for f, _ in kept) + " |")
        lines.append("")
    lines += [
        "",
        "## What the rows say, and why",
        "",
        "- **Our face super-resolution helps**: one hypothesis (σ = 0) adds 10–12 points at 24 px with",
        "  MobileFaceNet (moderate and harsh, either similarity), less at 16 and 32 px; with dlib's network",
        "  2–4 points.",
        "- **More blur hypotheses and more degraded gallery images hurt under S_max** (the paper's rule): with",
        "  dozens of hypotheses per side, some impostor pair matches by chance more often than the genuine",
        "  subject gains. The paper's combination (S_max over gallery, then S_add) therefore stays close to",
        "  resolution matching alone with Pearson; with dlib's network at moderate 24 px it falls below the",
        "  baseline (36.3 against 41.1).",
        "- **The mean-centred similarity** removes a component shared by all low-resolution templates of a",
        "  group (kind and scale): it lifts every row, and with template concatenation over all hypotheses,",
        "  originals included, each component adds rank-1 (see the component table). Template concatenation",
        "  over all hypotheses is the best rule with Pearson too.",
        "- **Both networks gain, by different amounts.** At moderate 24 px the best configuration adds 21.0",
        "  points with MobileFaceNet (37.7 → 58.7) and 13.5 with dlib (41.1 → 54.6); at harsh 24 px 25.2",
        "  and 15.9. The 20-point target of the paper's claim is met with MobileFaceNet only. The blur",
        "  hypotheses are the one component that is neutral (within ±1 point) for both networks.",
        "- **dlib's network gets its own face box** (x 68…184, y 77…193, where dlib's chips fall on",
        "  deep-funneled LFW); on the benchmark's box it reaches only 42% even at full resolution. The probes are",
        "  synthesised from that box in the same way, so its columns are the same conditions, framed for",
        "  that network.",
        "- Only moderate 24 px with MobileFaceNet uses the paper-scale settings (64 chains, 16 blur levels);",
        "  the other runs use 16 chains and 4 blur levels to fit the CPU time of a session (dlib computes",
        "  about 20 templates a second on 2 cores). With MobileFaceNet at moderate 24 px, keeping only the",
        "  first 16 chains or only σ = 0 changes rank-1 by at most one point (component table).",
        "",
    ]
    main_run = folders[0]
    body = (main_run / "ablation.md").read_text()
    body = re.sub(r"^# ", "## ", body, count=1, flags=re.M)
    body = re.sub(r"^## (Table|All rows)", r"### \1", body, flags=re.M)
    for folder in folders:
        image = f"images/{folder.name}_cmc.png"
        plot_ablation_cmc(json.loads((folder / "ablation.json").read_text()), DOCS / image)
        if folder == main_run:
            body = body.replace("![CMC](cmc.png)", f"![CMC]({image})")
    lines += ["## The full ablation, " + main_run.name, "", body.split("\n", 2)[2]]
    for folder in folders[1:]:
        lines += [f"CMC of {folder.name}:", "", f"![CMC of {folder.name}](images/{folder.name}_cmc.png)", ""]
    (DOCS / "results.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
