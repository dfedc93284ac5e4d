"""Detection and alignment against the fixed benchmark box, on whole LFW photos and on synthesised frames.

1. **High-resolution ceiling**: each subject's image 1 is the gallery, images
   2-5 the probes, all at full resolution, MobileFaceNet templates, cosine
   nearest neighbour (the public benchmark's HR-vs-HR row). Once with the
   fixed 126×126 box, once with each whole 250×250 photo through
   :class:`skmitm.FaceAligner` (five landmarks → 112×112 ArcFace layout),
   keeping the most confident, the largest, or the most central face of each
   photo (LFW labels the person in the middle; many photos hold others).
2. **Synthesised frames**: each probe photo is degraded as the benchmark
   degrades probes (blur, area downsampling, noise, JPEG) to 48×48 pixels, so
   its face box is about 24 pixels, and pasted into a 320×240 random scene.
   The full method (gallery degradation, multi-hypothesis super-resolution,
   fused matching) identifies (a) the same degraded pixels cut at the fixed
   box, against the fixed-box gallery: the benchmark's pre-cropped path; and
   (b) the faces the detector finds in the frames (upscaled before detection,
   aligned at native resolution), against the aligned gallery (the most
   central face of each photo): the real-frame path; and (c) the same faces
   cut as native boxes, unaligned (``tiny_size=32``). A frame whose face is not found counts as a miss.

Run: ``python benchmarks/real_frames.py [--sr-weights WEIGHTS]`` (``--help`` for the reduced settings; the
full method's super-resolution weights default to ``auto``, as ``make_mitm_pipeline``'s, and the weights file
used is printed with the frames' settings).
"""

import argparse
import time

import numpy as np
from sklearn.pipeline import Pipeline

from _shared import add_sr_weights_option, shared_path
from skmitm import FaceAligner, FusedNearestNeighborIdentifier, TemplateExtractor, make_mitm_pipeline
from skmitm.datasets import LFW_CROP, degrade_probe, load_lfw_folder, make_synthetic_frame
from skmitm.metrics import rank_k_identification_rate

FRAME_FACE = 24  # pixels of the 126-pixel benchmark box after degradation
PHOTO = 250


def split(data, n_subjects):
    """Gallery (image 1) and probes (images 2-5) of the first ``n_subjects`` subjects (all: None)."""
    subjects = np.asarray(data.subjects)
    names = np.unique(subjects)[:n_subjects]
    gallery, g_subjects, probes, p_subjects = [], [], [], []
    for name in names:
        index = np.flatnonzero(subjects == name)
        gallery.append(data.images[index[0]])
        g_subjects.append(name)
        probes += [data.images[i] for i in index[1:5]]
        p_subjects += [name] * 4
    return gallery, np.asarray(g_subjects), probes, np.asarray(p_subjects)


def fixed_box(image, scale=1.0):
    x0, y0, x1, y1 = (round(v * scale) for v in LFW_CROP)
    return image[y0:y1, x0:x1]


def aligned(aligner, images, faces=None):
    """The face ``aligner.select`` keeps in each image; the fixed box where none is found (counted)."""
    faces = aligner.detect(images) if faces is None else faces
    found = {}
    for face in faces:
        found.setdefault(face.index, []).append(face)
    chosen = {i: f[aligner.choose(f, images[i].shape)].image for i, f in found.items()}
    return [chosen.get(i, fixed_box(image)) for i, image in enumerate(images)], len(images) - len(chosen)


def hr_ceiling(model, aligner, gallery, g_subjects, probes, p_subjects):
    pipe = Pipeline([("templates", TemplateExtractor(model)), ("identify", FusedNearestNeighborIdentifier(
        similarity="cosine"))])
    rows = {}
    pipe.fit([fixed_box(im) for im in gallery], g_subjects)
    scores = pipe.decision_function([fixed_box(im) for im in probes])
    rows["fixed 126×126 box"] = (100 * rank_k_identification_rate(p_subjects, scores, pipe.classes_, k=1), 0)
    g_faces, p_faces = aligner.detect(gallery), aligner.detect(probes)
    for select in ("score", "largest", "centre"):
        aligner.set_params(select=select)
        chips, g_missed = aligned(aligner, gallery, g_faces)
        pipe.fit(chips, g_subjects)
        chips, p_missed = aligned(aligner, probes, p_faces)
        scores = pipe.decision_function(chips)
        rows[f"detected + aligned, select={select}"] = (
            100 * rank_k_identification_rate(p_subjects, scores, pipe.classes_, k=1), g_missed + p_missed)
    return rows


def frames(model, aligner, gallery, g_subjects, probes, p_subjects, *, chains, sigmas, seed, sr_weights="auto"):
    """Rank-1 rows of the full method on the frames, and the super-resolution weights file it used."""
    size = round(PHOTO * FRAME_FACE / (LFW_CROP[2] - LFW_CROP[0]))
    scale = size / PHOTO
    small = [degrade_probe(p, size=size, rng=np.random.default_rng([seed, i])) for i, p in enumerate(probes)]
    pre_cropped = [fixed_box(s, scale) for s in small]
    scenes = [make_synthetic_frame([s], random_state=np.random.default_rng([seed, i, 1]))[0]
              for i, s in enumerate(small)]
    faces = aligner.detect(scenes)
    found = {}
    for face in faces:
        found.setdefault(face.index, face)
    index = np.array(sorted(found))
    detected = [found[i].image for i in index]
    rows = {}
    pipe = make_mitm_pipeline("full", model=model, probe_size=FRAME_FACE, n_chains=chains, sigmas=sigmas,
                              probe_means="batch", sr_weights=sr_weights,
                              random_state=seed)  # each row's probes scored as one batch
    pipe.fit([fixed_box(im) for im in gallery], g_subjects)
    scores = pipe.decision_function(pre_cropped)
    rows["pre-cropped (fixed box)"] = (100 * rank_k_identification_rate(p_subjects, scores, pipe.classes_, k=1),
                                       len(probes), np.median([c.shape[0] for c in pre_cropped]))
    chips, _ = aligned(aligner.set_params(select="centre"), gallery)
    pipe.fit(chips, g_subjects)
    scores = pipe.decision_function(detected)
    hits = rank_k_identification_rate(p_subjects[index], scores, pipe.classes_, k=1) * len(index)
    rows["detected in 320×240 frames, aligned"] = (100 * hits / len(probes), len(index),
                                                   np.median([c.shape[0] for c in detected]))
    boxed = aligner.set_params(tiny_size=32).detect(scenes)  # the same faces, cut as boxes, unaligned
    found = {}
    for face in boxed:
        found.setdefault(face.index, face)
    index = np.array(sorted(found))
    cut = [found[i].image for i in index]
    scores = pipe.decision_function(cut)
    hits = rank_k_identification_rate(p_subjects[index], scores, pipe.classes_, k=1) * len(index)
    rows["detected in 320×240 frames, box cut (tiny_size=32)"] = (100 * hits / len(probes), len(index),
                                                                 np.median([c.shape[0] for c in cut]))
    return rows, pipe.named_steps["upsample"].card_.get("weights")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detector", default="scrfd", choices=["scrfd", "yunet", "dlib"])
    parser.add_argument("--subjects", type=int, help="first N subjects for the HR ceiling (default: all)")
    parser.add_argument("--frame-subjects", type=int, default=50, help="first N subjects for the frames "
                        "(default: %(default)s)")
    parser.add_argument("--chains", type=int, default=16)
    parser.add_argument("--sigmas", type=int, default=4)
    parser.add_argument("--upscale", type=int, default=2, help="frame upscaling before detection")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", choices=["ceiling", "frames"], help="leave one part out")
    add_sr_weights_option(parser)
    args = parser.parse_args()
    model = str(shared_path("models/mobilefacenet.onnx"))
    detector_model = {"scrfd": "models/scrfd_2.5g_bnkps.onnx", "yunet": "models/yunet.onnx"}.get(args.detector)
    detector_model = detector_model and str(shared_path(detector_model))
    data = load_lfw_folder(shared_path("data/lfw-deepfunneled"), min_images_per_subject=5,
                           max_images_per_subject=5, crop=False)
    if args.skip != "ceiling":
        started = time.perf_counter()
        aligner = FaceAligner(args.detector, model=detector_model, layout="arcface").fit()
        split_data = split(data, args.subjects)
        rows = hr_ceiling(model, aligner, *split_data)
        print(f"HR-vs-HR rank-1, MobileFaceNet, {len(split_data[1])} subjects, {len(split_data[3])} probes, "
              f"detector {args.detector} ({time.perf_counter() - started:.0f} s)")
        print("| gallery and probes | rank-1 (%) | images without a detected face |\n| --- | ---: | ---: |")
        for name, (rank1, missed) in rows.items():
            print(f"| {name} | {rank1:.1f} | {missed} |")
    if args.skip != "frames":
        started = time.perf_counter()
        aligner = FaceAligner(args.detector, model=detector_model, layout="arcface", upscale=args.upscale).fit()
        split_data = split(data, args.frame_subjects)
        rows, sr_file = frames(model, aligner, *split_data, chains=args.chains, sigmas=args.sigmas, seed=args.seed,
                               sr_weights=args.sr_weights)
        print(f"\nFull method, moderate {FRAME_FACE} px, {len(split_data[1])} subjects, {len(split_data[3])} probes, "
              f"{args.chains} chains, {args.sigmas} sigmas, SR weights {sr_file}, detector {args.detector} "
              f"upscale {args.upscale} ({time.perf_counter() - started:.0f} s)")
        print("| probes | rank-1 (%) | probes found | median probe side (px) |\n| --- | ---: | ---: | ---: |")
        for name, (rank1, n, side) in rows.items():
            print(f"| {name} | {rank1:.1f} | {n} | {side:.0f} |")


if __name__ == "__main__":
    main()
