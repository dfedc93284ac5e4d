"""
Sixteen super-resolution hypotheses at each scale
=================================================

The paper's probe side (its Figure 3): every low-resolution probe is blurred
with 16 Gaussian sigmas from 0 to 1 and each blurred copy is super-resolved
at ×2, ×4 and ×8, so a probe becomes 48 hypotheses (plus the original). This
example draws them for three probes of the public benchmark (moderate, 24 px),
next to the high-resolution face the probe was made from.

Run from the repository root: ``python examples/super_resolution/plot_hypotheses.py``
(needs deep-funneled LFW in the folder named by ``SKMITM_SHARED``, see
docs/data_and_models.md); it writes
``docs/images/sr_hypotheses.png``.
"""

# %%
# Three probes of evaluation people, made with the benchmark's moderate
# pipeline, and the high-resolution crops they came from.
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from skmitm import MultiHypothesisUpsampler, load_image
from skmitm.datasets import LFW_CROP, degrade_probe

ROOT = Path(__file__).resolve().parents[2]
LFW = Path(os.environ.get("SKMITM_SHARED", "SKMITM_SHARED-is-unset")) / "data/lfw-deepfunneled"
if not LFW.is_dir():
    print(f"skipped: needs {LFW} (set SKMITM_SHARED to the folder holding data/; see docs/data_and_models.md)")
    sys.exit(0)
x0, y0, x1, y1 = LFW_CROP
names = ["Serena_Williams_0002", "Colin_Powell_0002", "Gloria_Macapagal_Arroyo_0002"]
faces = [load_image(LFW / n.rsplit("_", 1)[0] / f"{n}.jpg")[y0:y1, x0:x1] for n in names]
probes = [degrade_probe(face, size=24, severity="moderate", rng=i) for i, face in enumerate(faces)]

# %%
# The shipped face-trained network, 16 sigmas, three scales: 49 hypotheses
# per probe, in the order original, then scale by scale, sigma by sigma.
upsampler = MultiHypothesisUpsampler(n_threads=1).fit()
sets = upsampler.transform(probes)

# %%
# One block of rows per probe: the HR face and the 24 px probe, then one row
# per scale with the 16 hypotheses (σ from 0 to 1, left to right).
sigmas = upsampler.sigmas_
rows = len(probes) * (1 + len(upsampler.scales_))
fig, axes = plt.subplots(rows, len(sigmas), figsize=(len(sigmas) * 1.0, rows * 1.08))
for ax in axes.flat:
    ax.axis("off")
for p, (face, probe, hs) in enumerate(zip(faces, probes, sets)):
    top = p * (1 + len(upsampler.scales_))
    axes[top, 0].imshow(face)
    axes[top, 0].set_title("HR face", fontsize=7)
    axes[top, 1].imshow(probe, interpolation="nearest")
    axes[top, 1].set_title("24 px probe", fontsize=7)
    axes[top, 2].text(0, 0.5, names[p].replace("_", " "), fontsize=8, va="center")
    for r, scale in enumerate(upsampler.scales_, start=1):
        for c, sigma in enumerate(sigmas):
            index = np.flatnonzero((hs.meta["scale"] == scale) & np.isclose(hs.meta["sigma"], sigma))[0]
            axes[top + r, c].imshow(hs.data[index])
            if r == 1:
                axes[top + r, c].set_title(f"σ={sigma:.2f}", fontsize=6)
        axes[top + r, 0].text(-0.08, 0.5, f"×{scale}", transform=axes[top + r, 0].transAxes, ha="right", va="center")
fig.suptitle("FaceEDSR hypotheses: 16 blur levels × scales 2, 4, 8 (moderate 24 px probes)", fontsize=10)
fig.subplots_adjust(left=0.03, right=0.995, top=0.96, bottom=0.005, wspace=0.06, hspace=0.3)
out = ROOT / "docs/images/sr_hypotheses.png"
out.parent.mkdir(parents=True, exist_ok=True)
fig.savefig(out, dpi=110)
print(f"wrote {out}")
