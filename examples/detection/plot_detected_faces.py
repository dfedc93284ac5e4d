"""
Detected and aligned faces: a phone photo and a CCTV frame
==========================================================

A gallery photo and a camera frame go through :func:`skmitm.detect_faces`:
SCRFD finds every face with five landmarks. The photo's face is large, so it
is aligned onto the 112×112 ArcFace layout by a similarity transform. The
frame's faces are about 24 pixels: they are aligned onto the same layout at
their own resolution, chips of about 24 pixels, never upscaled (the frame is
enlarged 2× for detection only).

The frame is synthesised: two LFW photos, degraded to 48 pixels (faces of
about 24 pixels), pasted into a 320×240 scene with a random background.

Run from the repository root: ``python examples/detection/plot_detected_faces.py``
(needs the deep-funneled LFW folder and ``scrfd_2.5g_bnkps.onnx`` in the
shared data folder, ``SKMITM_SHARED``); it writes
``docs/images/detected_faces.png``.
"""

# %%
# The photo and the frame.
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from skmitm import detect_faces, load_image
from skmitm.datasets import degrade_probe, make_synthetic_frame

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SKMITM_SHARED", ROOT.parent / "shared"))
LFW = SHARED / "data/lfw-deepfunneled"
SCRFD = SHARED / "models/scrfd_2.5g_bnkps.onnx"

photo = load_image(LFW / "Tony_Blair/Tony_Blair_0001.jpg")
rng = np.random.default_rng(0)
people = [load_image(LFW / f"{name}/{name}_0002.jpg") for name in ("Tony_Blair", "Hugo_Chavez")]
frame, _ = make_synthetic_frame([degrade_probe(p, size=48, rng=rng) for p in people], random_state=4)

# %%
# Every face of both images, with provenance: source, box, score, landmarks.
faces = detect_faces([photo, frame], "scrfd", model=SCRFD, layout="arcface", upscale=2,
                     names=["phone/tony.jpg", "cctv/frame.png"])
for face in faces:
    print(f"{face.id}  score {face.score:.2f}  {'aligned' if face.aligned else 'native'} "
          f"{face.image.shape[1]}×{face.image.shape[0]}")

# %%
# The figure: each image with its boxes and landmarks, then the photo's most
# confident face and the frame's faces as cut out (the small ones drawn with
# visible pixels). The photo holds a second, partly visible face: it is a
# face of its own in the results, and a pipeline keeps the most confident.
fig = plt.figure(figsize=(10, 4.6))
grid = fig.add_gridspec(2, 4, width_ratios=[1.1, 1.5, 0.6, 0.6])
for col, (index, image, title) in enumerate(((0, photo, "phone photo (250×250)"),
                                              (1, frame, "CCTV frame (320×240)"))):
    ax = fig.add_subplot(grid[:, col])
    ax.imshow(image)
    for face in (f for f in faces if f.index == index):
        x0, y0, x1, y1 = face.box
        ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="lime", lw=1.2))
        ax.plot(*face.landmarks.T, "r.", ms=3)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
shown = [next(f for f in faces if f.index == 0)] + [f for f in faces if f.index == 1][:2]
for k, face in enumerate(shown):
    ax = fig.add_subplot(grid[k % 2, 2 + k // 2])
    ax.imshow(face.image, interpolation="nearest")
    kind = f"{'aligned' if face.aligned else 'box cut'} {face.image.shape[1]}×{face.image.shape[0]}"
    ax.set_title(f"{kind}\nscore {face.score:.2f}", fontsize=8)
    ax.axis("off")
fig.tight_layout()
out = ROOT / "docs/images/detected_faces.png"
out.parent.mkdir(parents=True, exist_ok=True)
fig.savefig(out, dpi=110)
print(f"wrote {out.relative_to(ROOT)}")
