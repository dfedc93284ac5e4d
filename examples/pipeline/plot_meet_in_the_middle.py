"""
The idea: probe and gallery meet in the middle
==============================================

A surveillance probe is tiny (here 24 pixels); the gallery photo is large.
Upsampling the probe alone invents detail, and shrinking the gallery alone
throws detail away. Meet-in-the-middle does both, at several scales: the probe
is super-resolved to 2×, 4× and 8× its size (from several blurred copies),
while the gallery face is degraded and resized to exactly those sizes. At each
scale the two sides are compared at the same resolution, and the scores of
all scales are fused.

This example draws that for one LFW person and prints the similarities that
the identifier computes at each scale against a ten-person gallery.

Run from the repository root: ``python examples/pipeline/plot_meet_in_the_middle.py``.
It needs deep-funneled LFW and MobileFaceNet in the folder named by
``SKMITM_SHARED`` (see docs/data_and_models.md) and writes ``docs/images/meet_in_the_middle.png``.
"""

# %%
# One probe and a small gallery
# -----------------------------
# The probe is Colin Powell's second LFW image, made into a moderate 24-pixel
# probe exactly as in the public benchmark; the gallery holds his first image
# and the first image of nine other evaluation people.
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from skmitm import FusedNearestNeighborIdentifier, GalleryDegrader, MultiHypothesisUpsampler, TemplateExtractor
from skmitm import load_image
from skmitm.datasets import LFW_CROP, degrade_probe

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SKMITM_SHARED", "SKMITM_SHARED-is-unset"))
LFW = SHARED / "data/lfw-deepfunneled"
MODEL = SHARED / "models/mobilefacenet.onnx"
if not (LFW.is_dir() and MODEL.is_file()):
    print(f"skipped: needs {LFW} and {MODEL} (set SKMITM_SHARED to the folder holding data/ and models/; "
          "see docs/data_and_models.md)")
    sys.exit(0)


def face(name, number):
    x0, y0, x1, y1 = LFW_CROP
    return load_image(LFW / name / f"{name}_{number:04d}.jpg")[y0:y1, x0:x1]


people = ["Colin_Powell", "Ariel_Sharon", "George_Robertson", "Gerhard_Schroeder", "Hugo_Chavez",
          "Jean_Chretien", "John_Ashcroft", "Junichiro_Koizumi", "Tony_Blair", "Vladimir_Putin"]
gallery_images = [face(name, 1) for name in people]
probe = degrade_probe(face(people[0], 2), size=24, severity="moderate", rng=0)

# %%
# Both sides become hypotheses
# ----------------------------
# The probe: super-resolved from three blur levels (σ = 0, 0.5, 1) at each
# scale. The gallery: resolution-matched to 48, 96 and 192 pixels, undegraded
# and through two random degradation chains (the paper uses many more of both).
scales = (2, 4, 8)
upsampler = MultiHypothesisUpsampler(scales=scales, sigmas=[0.0, 0.5, 1.0], n_threads=1).fit()
probe_set = upsampler.transform([probe])[0]
degrader = GalleryDegrader(probe_size=24, scales=scales, n_chains=2, random_state=0)
gallery_sets = degrader.fit_transform(gallery_images)

# %%
# They meet at each scale
# -----------------------
# One face template per hypothesis, then an identifier restricted to one scale
# at a time: each probe hypothesis takes its best-matching gallery hypothesis
# of the same scale, and these scores are averaged (``S_max/S_add``). The
# baseline compares the two originals, both resized to the network input.
extractor = TemplateExtractor(MODEL).fit()
gallery_templates = extractor.transform(gallery_sets)
probe_templates = extractor.transform([probe_set])


def scores_for(**params):
    identifier = FusedNearestNeighborIdentifier(**params).fit(gallery_templates, people)
    scores = identifier.decision_function(probe_templates)[0]
    genuine = scores[list(identifier.classes_).index(people[0])]
    impostor = max(s for c, s in zip(identifier.classes_, scores) if c != people[0])
    rank = 1 + int((scores > genuine).sum())
    return genuine, impostor, rank


results = {"baseline": scores_for(fusion="S_max", probe_kinds=["original"], gallery_kinds=["original"])}
for scale in scales:
    results[scale] = scores_for(
        fusion="S_max/S_add", scales=[scale], probe_kinds=["super-resolved"], gallery_kinds=["matched", "degraded"]
    )
results["all scales"] = scores_for(
    fusion="S_max/S_add", probe_kinds=["super-resolved"], gallery_kinds=["matched", "degraded"]
)
for key, (genuine, impostor, rank) in results.items():
    label = f"×{key}" if isinstance(key, int) else key
    print(f"{label:>10}: genuine {genuine:.3f}, best impostor {impostor:.3f}, rank {rank} of {len(people)}")

# %%
# The figure
# ----------
# Left, the probe's super-resolved hypotheses; right, the gallery face's
# matched and degraded hypotheses; in the middle, the size at which they meet
# and the similarities of that scale.
meta = probe_set.meta
gmeta = gallery_sets[0].meta
fig, axes = plt.subplots(1 + len(scales), 7, figsize=(11, 7.6),
                         gridspec_kw={"width_ratios": [1, 1, 1, 1.5, 1, 1, 1]})
for ax in axes.flat:
    ax.set_axis_off()


def show(ax, image, title):
    ax.imshow(image, interpolation="nearest")
    ax.set_title(title, fontsize=8)


show(axes[0, 1], probe, f"probe, {probe.shape[0]} px")
show(axes[0, 5], gallery_images[0], f"gallery, {gallery_images[0].shape[0]} px")
genuine, impostor, rank = results["baseline"]
axes[0, 3].text(0.5, 0.5, f"baseline (both resized to 112 px)\ngenuine {genuine:.2f}\nbest impostor {impostor:.2f}",
                ha="center", va="center", fontsize=8, transform=axes[0, 3].transAxes)
axes[0, 2].annotate("super-resolve", xy=(0.5, 0.0), xytext=(0.5, 0.5), ha="center", fontsize=8,
                    xycoords="axes fraction", arrowprops={"arrowstyle": "->"})
axes[0, 4].annotate("degrade + match", xy=(0.5, 0.0), xytext=(0.5, 0.5), ha="center", fontsize=8,
                    xycoords="axes fraction", arrowprops={"arrowstyle": "->"})
for row, scale in enumerate(scales, start=1):
    sr = np.flatnonzero((meta["kind"] == "super-resolved") & (meta["scale"] == scale))
    for col, i in enumerate(sr[:3]):
        show(axes[row, col], probe_set.data[i], f"×{scale}, σ={meta['sigma'][i]:.1f}, {probe_set.data[i].shape[0]} px")
    mine = np.flatnonzero(np.isin(gmeta["kind"], ["matched", "degraded"]) & (gmeta["scale"] == scale))
    for col, i in enumerate(mine[:3], start=4):
        chain = gmeta["chain"][i].replace("_", " ").replace(">", " >\n") or "matched"
        show(axes[row, col], gallery_sets[0].data[i], f"{chain}, {gallery_sets[0].data[i].shape[0]} px")
    genuine, impostor, rank = results[scale]
    axes[row, 3].text(0.5, 0.5, f"meet at {24 * scale} px\n←  →\ngenuine {genuine:.2f}\nbest impostor {impostor:.2f}",
                      ha="center", va="center", fontsize=9, transform=axes[row, 3].transAxes)
genuine, impostor, rank = results["all scales"]
fig.suptitle(f"Meet in the middle: all scales fused (S_max/S_add): genuine {genuine:.2f}, "
             f"best impostor {impostor:.2f}", fontsize=11)
fig.tight_layout(rect=(0, 0, 1, 0.96))
out = ROOT / "docs/images/meet_in_the_middle.png"
out.parent.mkdir(parents=True, exist_ok=True)
fig.savefig(out, dpi=90)
print(f"wrote {out}")
