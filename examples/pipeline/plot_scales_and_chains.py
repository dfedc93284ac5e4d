"""
Choosing scales, degradation chains and blur levels
===================================================

Every gallery degradation chain adds one template per scale to each gallery
face, and every blur level adds one per scale to each probe: they are what
the method costs. This example measures what they buy. It computes the
templates of a slice of the public LFW benchmark once, with 16 chains and 4
blur levels at scales 2, 4 and 8, then scores subsets of them through the
identifier's selection parameters (``scales``, ``n_degraded``,
``probe_sigmas``), without recomputing anything.

Run from the repository root: ``python examples/pipeline/plot_scales_and_chains.py``.
It needs deep-funneled LFW and MobileFaceNet in the folder named by
``SKMITM_SHARED`` (see docs/data_and_models.md) and writes ``docs/images/scales_and_chains.png``.
"""

# %%
# The slice and its templates
# ---------------------------
# The same slice as the fusion example: every tenth of the 423 evaluation
# people, one gallery photo and two moderate 24-pixel probes each.
import os
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.utils import Bunch

from skmitm import FusedNearestNeighborIdentifier, GalleryDegrader, MultiHypothesisUpsampler, TemplateExtractor
from skmitm.datasets import load_lfw_folder, make_cross_resolution_benchmark

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SKMITM_SHARED", "SKMITM_SHARED-is-unset"))
LFW = SHARED / "data/lfw-deepfunneled"
MODEL = SHARED / "models/mobilefacenet.onnx"
if not (LFW.is_dir() and MODEL.is_file()):
    print(f"skipped: needs {LFW} and {MODEL} (set SKMITM_SHARED to the folder holding data/ and models/; "
          "see docs/data_and_models.md)")
    sys.exit(0)

start = time.perf_counter()
lfw = load_lfw_folder(LFW, min_images_per_subject=5, max_images_per_subject=3)
keep = np.isin(lfw.subjects, np.unique(lfw.subjects)[::10])
bench = make_cross_resolution_benchmark(
    Bunch(images=[im for im, k in zip(lfw.images, keep) if k], subjects=lfw.subjects[keep]),
    probe_size=24,
    n_probes_per_subject=2,
)
scales = (2, 4, 8)
gallery = GalleryDegrader(probe_size=24, scales=scales, n_chains=16, random_state=0).fit_transform(
    bench.gallery_images
)
upsampler = MultiHypothesisUpsampler(scales=scales, sigmas=4, n_threads=1).fit()
probes = upsampler.transform(bench.probe_images)
extractor = TemplateExtractor(MODEL).fit()
gallery_templates = extractor.transform(gallery)
probe_templates = extractor.transform(probes)
print(f"{len(bench.gallery_images)} gallery faces with {len(gallery[0])} templates each, "
      f"{len(bench.probe_images)} probes with {len(probes[0])} each ({time.perf_counter() - start:.0f} s)")


def rank1(**params):
    identifier = FusedNearestNeighborIdentifier(
        "S_max/S_add", probe_kinds=["super-resolved"], gallery_kinds=["matched", "degraded"], **params
    )
    return 100 * identifier.fit(gallery_templates, bench.gallery_subjects).score(probe_templates, bench.probe_subjects)


# %%
# Scales and chains
# -----------------
# ``n_degraded=n`` keeps the first ``n`` chains of each gallery face. The
# degrader draws its chains in a seeded random order, so these are random
# subsets that nest: the 4 chains are among the 8, the 8 among the 16.
# ``n_degraded=0`` is resolution matching alone.
selection_start = time.perf_counter()
chain_counts = [0, 1, 2, 4, 8, 16]
scale_sets = [[2], [4], [8], list(scales)]
table = {tuple(s): [rank1(scales=s, n_degraded=n) for n in chain_counts] for s in scale_sets}
for s, rates in table.items():
    print(f"scales {'+'.join(f'{v:g}' for v in s):>6}: " + "  ".join(
        f"{n:>2} chains {r:5.1f}%" for n, r in zip(chain_counts, rates)))

# %%
# Blur levels
# -----------
# ``probe_sigmas`` keeps the super-resolved hypotheses of the listed blur
# levels: ``[0.0]`` is single-hypothesis super-resolution.
sigmas = upsampler.sigmas_
sigma_sets = [sigmas[:1], sigmas[[0, -1]], sigmas]
blur = [rank1(probe_sigmas=list(s), n_degraded=16) for s in sigma_sets]
for s, r in zip(sigma_sets, blur):
    print(f"sigmas {np.round(s, 2).tolist()}: {r:5.1f}%")
baseline = 100 * FusedNearestNeighborIdentifier(
    "S_max", probe_kinds=["original"], gallery_kinds=["original"]
).fit(gallery_templates, bench.gallery_subjects).score(probe_templates, bench.probe_subjects)
print(f"baseline (originals only): {baseline:5.1f}%")
print(f"{len(scale_sets) * len(chain_counts) + len(sigma_sets) + 1} identifier settings on these templates: "
      f"{time.perf_counter() - selection_start:.1f} s")

# %%
# The figure
# ----------
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [2, 1]})
for s, rates in table.items():
    left.plot(range(len(chain_counts)), rates, marker="o", label="scales " + " + ".join(f"×{v:g}" for v in s))
left.axhline(baseline, color="grey", linestyle="--", label="baseline")
left.set_xticks(range(len(chain_counts)), [str(n) for n in chain_counts])
left.set_xlabel("degradation chains per gallery face (n_degraded)")
left.set_ylabel("rank-1 (%)")
left.set_title("Scales and chains (4 blur levels)", fontsize=10)
left.grid(alpha=0.3)
left.legend(fontsize=8)
right.bar(range(len(sigma_sets)), blur, color="tab:purple")
right.axhline(baseline, color="grey", linestyle="--")
right.set_xticks(range(len(sigma_sets)), [str(len(s)) for s in sigma_sets])
right.set_xlabel("blur levels per scale (probe_sigmas)")
right.set_title("Blur levels (all scales, 16 chains)", fontsize=10)
right.grid(alpha=0.3, axis="y")
for ax in (left, right):
    ax.set_ylim(0, 100)
fig.suptitle(f"S_max/S_add rank-1, {len(bench.gallery_images)} subjects, moderate 24 px probes", fontsize=11)
fig.tight_layout()
out = ROOT / "docs/images/scales_and_chains.png"
out.parent.mkdir(parents=True, exist_ok=True)
fig.savefig(out, dpi=100)
print(f"wrote {out} in {time.perf_counter() - start:.0f} s")
