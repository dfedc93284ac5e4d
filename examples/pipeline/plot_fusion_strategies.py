"""
Comparing fusion strategies with CMC curves
===========================================

Meet-in-the-middle gives every probe and every gallery face many hypotheses,
so matching one probe against one subject means comparing two *sets* of
templates. How the comparisons are fused decides the result (the paper's
Table 2, last section, and Table 3). This example computes the templates of a
small slice of the public LFW benchmark once, then evaluates each fusion
strategy of :data:`skmitm.FUSION_STRATEGIES` on them: only the identifier
changes, nothing is recomputed.

Run from the repository root: ``python examples/pipeline/plot_fusion_strategies.py``.
It needs deep-funneled LFW and MobileFaceNet in the folder named by
``SKMITM_SHARED`` (see docs/data_and_models.md) and writes ``docs/images/fusion_strategies.png``.
"""

# %%
# A small slice of the public benchmark
# -------------------------------------
# Every tenth of the 423 evaluation people (names sorted), their first image as
# the high-resolution gallery and their next two made into moderate 24-pixel
# probes exactly as in the full benchmark (docs/protocol.md). The slice keeps the run
# under a minute on two CPU cores; its figures are noisier than the full
# benchmark's.
import os
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
from sklearn.utils import Bunch

from skmitm import FusedNearestNeighborIdentifier, GalleryDegrader, MultiHypothesisUpsampler, TemplateExtractor
from skmitm.datasets import load_lfw_folder, make_cross_resolution_benchmark
from skmitm.metrics import cmc_curve, plot_cmc

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
people = np.unique(lfw.subjects)[::10]
keep = np.isin(lfw.subjects, people)
bench = make_cross_resolution_benchmark(
    Bunch(images=[im for im, k in zip(lfw.images, keep) if k], subjects=lfw.subjects[keep]),
    probe_size=24,
    severity="moderate",
    n_probes_per_subject=2,
)
print(f"{len(bench.gallery_images)} gallery faces, {len(bench.probe_images)} probes of 24 px")

# %%
# Every hypothesis, once
# ----------------------
# The gallery side: the original, the undegraded face resolution-matched to
# 48, 96 and 192 pixels (24 px × scales 2, 4, 8) and 8 random degradation
# chains, each matched likewise. The probe side: the probe itself and its
# super-resolved copies from 4 blur levels at each scale. The paper uses 16
# blur levels and all 1,463 chains; fewer keep this example quick.
gallery = GalleryDegrader(probe_size=24, scales=(2, 4, 8), n_chains=8, random_state=0).fit_transform(
    bench.gallery_images
)
probes = MultiHypothesisUpsampler(scales=(2, 4, 8), sigmas=4, n_threads=1).fit().transform(bench.probe_images)
extractor = TemplateExtractor(MODEL).fit()
gallery_templates = extractor.transform(gallery)
probe_templates = extractor.transform(probes)
print(f"templates: {len(gallery[0])} per gallery face, {len(probes[0])} per probe")

# %%
# One identifier per strategy, on the same templates
# --------------------------------------------------
# The baseline compares the original probe with the original gallery face
# (both resized to the network input). The others use the super-resolved
# probe hypotheses against the matched and degraded gallery hypotheses of the
# same scale, fused by the named strategy: ``S_max`` keeps the best pair,
# ``S_add`` averages all pairs, ``T_add`` averages the templates of each side
# first, ``T_concat`` concatenates per-scale averages, and ``S_max/S_add`` (the
# paper's best) takes the best gallery hypothesis for each probe hypothesis and
# averages over the probe hypotheses.
settings = {"baseline": dict(fusion="S_max", probe_kinds=["original"], gallery_kinds=["original"])}
for fusion in ("S_max", "S_add", "T_add", "T_concat", "S_max/S_add"):
    settings[fusion] = dict(fusion=fusion, probe_kinds=["super-resolved"], gallery_kinds=["matched", "degraded"])

curves = {}
for label, params in settings.items():
    identifier = FusedNearestNeighborIdentifier(**params).fit(gallery_templates, bench.gallery_subjects)
    scores = identifier.decision_function(probe_templates)
    curves[label] = cmc_curve(bench.probe_subjects, scores, identifier.classes_)
    print(f"{label:>12}: rank-1 {100 * curves[label][1][0]:5.1f}%  rank-5 {100 * curves[label][1][4]:5.1f}%")

# %%
# The CMC curves
# --------------
# A curve that starts higher identifies more probes at rank 1; one that climbs
# faster puts the true subject among the first few candidates more often.
out = ROOT / "docs/images/fusion_strategies.png"
out.parent.mkdir(parents=True, exist_ok=True)
plot_cmc(
    curves,
    out,
    max_rank=10,
    title=f"Fusion strategies, {len(bench.gallery_images)} subjects, moderate 24 px probes",
)
print(f"wrote {out} in {time.perf_counter() - start:.0f} s")
