"""Recall of each detector on tiny faces, with and without upscaling the frame before detection.

Scenes: one LFW photo per scene (the first photo of each of the benchmark's
people, those with at least five images), scaled so its 126×126 face box is
16, 24 or 32 pixels, pasted into a 320×240 frame with a random, face-free
background (:func:`skmitm.datasets.make_synthetic_frame`). A face counts as
found when a detection's centre lies inside the true face box and its longer
side is within a factor of two of the box's.

Run: ``python benchmarks/detector_recall.py``
"""

import argparse
import time

import cv2
import numpy as np

from _shared import shared_path
from skmitm import FaceAligner
from skmitm.datasets import LFW_CROP, load_lfw_folder, make_synthetic_frame

MODELS = {"dlib": None, "scrfd": "models/scrfd_2.5g_bnkps.onnx", "yunet": "models/yunet.onnx"}
BOX = LFW_CROP[2] - LFW_CROP[0]


def scenes(photos, face_size, seed):
    """Frames holding one photo each, scaled so its face box is ``face_size`` pixels, and the true face boxes."""
    scale = face_size / BOX
    side = round(photos[0].shape[0] * scale)
    frames, truth = [], []
    for i, photo in enumerate(photos):
        small = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA)
        frame, boxes = make_synthetic_frame([small], random_state=np.random.default_rng([seed, face_size, i]))
        frames.append(frame)
        truth.append(np.tile(boxes[0, :2], 2) + np.asarray(LFW_CROP) * scale)
    return frames, np.asarray(truth)


def recall(aligner, frames, truth):
    hits = np.zeros(len(frames), bool)
    for face in aligner.detect(frames):
        x0, y0, x1, y1 = truth[face.index]
        cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
        if x0 <= cx <= x1 and y0 <= cy <= y1 and 0.5 <= face.size / (x1 - x0) <= 2:
            hits[face.index] = True
    return 100 * hits.mean()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=60, help="scenes per face size (default: %(default)s)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 24, 32])
    parser.add_argument("--upscales", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = load_lfw_folder(shared_path("data/lfw-deepfunneled"), min_images_per_subject=5,
                           max_images_per_subject=1, crop=False)
    photos = data.images[: args.scenes]
    built = {size: scenes(photos, size, args.seed) for size in args.sizes}
    print(f"{len(photos)} scenes of 320×240 per face size; recall (%) of the face")
    print("| detector | upscale | " + " | ".join(f"{s} px" for s in args.sizes) + " | s per frame |")
    print("| --- | ---: | " + " | ".join("---:" for _ in args.sizes) + " | ---: |")
    for detector, relative in MODELS.items():
        model = relative and str(shared_path(relative))
        for upscale in args.upscales:
            aligner = FaceAligner(detector, model=model, layout="arcface", upscale=upscale).fit()
            started = time.perf_counter()
            cells = [recall(aligner, *built[size]) for size in args.sizes]
            seconds = (time.perf_counter() - started) / (len(photos) * len(args.sizes))
            print(f"| {detector} | {upscale} | " + " | ".join(f"{c:.0f}" for c in cells) + f" | {seconds:.3f} |",
                  flush=True)


if __name__ == "__main__":
    main()
