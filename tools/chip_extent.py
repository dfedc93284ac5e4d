"""How large the aligned chip is against the detector's box: the factor tiny faces are cut with.

For each detector and layout, on the first ``--photos`` deep-funneled LFW
photos: the side of the aligned chip in the photo's pixels over the longer
side of the detector's box (median), and where the chip's centre lies from
the box's centre (median, in box sides). ``skmitm._detection.NATIVE_FRAMING``
holds these three columns.

Run: ``python tools/chip_extent.py``
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from skmitm import FaceAligner
from skmitm._detection import _arcface_matrix, _dlib_chip_matrix, _dlib_shape
from skmitm._io import list_images, load_image

# A developer tool over the library's internals; it finds data as the benchmarks do.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _shared import shared_path  # noqa: E402

MODELS = {"dlib": None, "scrfd": "models/scrfd_2.5g_bnkps.onnx", "yunet": "models/yunet.onnx"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=60)
    args = parser.parse_args()
    root = shared_path("data/lfw-deepfunneled")
    files = [f for f in list_images(root, recursive=True) if f.stem.endswith("_0001")][: args.photos]
    images = [load_image(f) for f in files]
    print(f"{len(images)} LFW photos\n| detector | layout | chip side / box side | centre dx | centre dy | faces |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for detector, relative in MODELS.items():
        model = relative and str(shared_path(relative))
        for layout in ("arcface", "dlib"):
            aligner = FaceAligner(detector, model=model, layout=layout).fit()
            best = {}
            for face in aligner.detect(images):
                best.setdefault(face.index, face)  # the most confident face of each photo
            rows = []
            for face in (f for f in best.values() if f.aligned):
                image = images[face.index]
                if layout == "dlib":
                    matrix, size = _dlib_chip_matrix(_dlib_shape(image, face.box)), 150
                else:
                    matrix, size = _arcface_matrix(face.landmarks, detector), 112
                inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
                centre = inverse @ [(size - 1) / 2, (size - 1) / 2, 1]
                box = np.asarray(face.box)
                side = max(box[2] - box[0], box[3] - box[1])
                scale = np.sqrt(abs(np.linalg.det(matrix[:, :2])))
                rows.append([size / scale / side, *((centre - (box[:2] + box[2:]) / 2) / side)])
            ratio, dx, dy = np.median(rows, axis=0)
            print(f"| {detector} | {layout} | {ratio:.2f} | {dx:+.3f} | {dy:+.3f} | {len(rows)} |")


if __name__ == "__main__":
    main()
