"""
Gallery degradations, one by one and chained
============================================

The paper degrades every gallery face by chains of the eleven functions of its
Table 1, with a bicubic 2× downsampling between links (Eq. 1, Figure 2), so
that some version of the gallery looks like what a surveillance camera saw.
This example draws each degradation and a few chains on one LFW face, then
shows what resolution matching does to a chain's output.

Run from the repository root: ``python examples/degradations/plot_degradations.py``
(needs deep-funneled LFW in the folder named by ``SKMITM_SHARED``, see
docs/data_and_models.md); it writes
``docs/images/degradations.png``.
"""

# %%
# One face: the benchmark's 126×126 crop of a deep-funneled LFW image.
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from skmitm import DEGRADATIONS, GalleryDegrader, apply_chain, load_image
from skmitm.datasets import LFW_CROP

ROOT = Path(__file__).resolve().parents[2]
LFW = Path(os.environ.get("SKMITM_SHARED", "SKMITM_SHARED-is-unset")) / "data/lfw-deepfunneled"
if not LFW.is_dir():
    print(f"skipped: needs {LFW} (set SKMITM_SHARED to the folder holding data/; see docs/data_and_models.md)")
    sys.exit(0)
x0, y0, x1, y1 = LFW_CROP
face = load_image(LFW / "Serena_Williams/Serena_Williams_0001.jpg")[y0:y1, x0:x1]

# %%
# Each degradation once, with its Table 1 defaults, on the full-resolution
# face; then four chains of Eq. 1. A chain of k links ends at 126 / 2^(k-1)
# pixels (126, 63, 32), drawn here at the same size to compare them.
rng = np.random.default_rng(0)
panels = [("original", face)] + [(name, fn(face, rng)) for name, fn in DEGRADATIONS.items()]
chains = [
    ("gaussian_blur", "speckle_noise"),
    ("color_jitter", "motion_blur"),
    ("random_perspective", "down_up_rescale", "gaussian_noise"),
    ("brightness_jitter", "disk_blur", "patch_shuffle"),
]
panels += [("\n> ".join(chain), apply_chain(face, chain, rng)) for chain in chains]

# %%
# Resolution matching: the last chain's hypotheses as GalleryDegrader makes
# them for 24-pixel probes at scales 2, 4 and 8 (48, 96 and 192 pixels).
degrader = GalleryDegrader(24, degradations=list(chains[-1]), chain_lengths=(3,), n_chains=None, random_state=0)
hypotheses = degrader.fit_transform([face])[0]
first = int(np.flatnonzero(hypotheses.meta["kind"] == "degraded")[0])
matched = [
    (hypotheses.meta["chain"][i].replace(">", "\n> ") + f"\nmatched to {hypotheses.data[i].shape[0]} px", hypotheses.data[i])
    for i in range(first, first + 3)
]
panels += matched + [("matched (undegraded)\nto 48 px", hypotheses.data[1])]

fig, axes = plt.subplots(5, 4, figsize=(9, 14.5))
for ax, (title, image) in zip(axes.flat, panels):
    ax.imshow(image, interpolation="nearest")
    ax.set_title(title.replace("_", " "), fontsize=8)
    ax.set_axis_off()
for ax in axes.flat[len(panels):]:
    ax.set_axis_off()
fig.suptitle("Gallery degradations (Table 1), chains (Eq. 1) and resolution matching", fontsize=11)
fig.tight_layout(rect=(0, 0, 1, 0.97))
out = ROOT / "docs" / "images" / "degradations.png"
out.parent.mkdir(parents=True, exist_ok=True)
fig.savefig(out, dpi=90)
print(f"wrote {out}")
