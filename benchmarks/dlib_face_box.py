"""Where dlib's face chips fall on deep-funneled LFW, and what the face box does to dlib's network.

dlib's ResNet was trained on ``dlib.get_face_chip(size=150, padding=0.25)``
chips. This benchmark finds the mean box of those chips on the first image of
``--box-people`` people (dlib's frontal detector, 5-point landmarks), then
identifies images 2–5 against image 1 at full resolution for ``--subjects``
people with each face box: the SPEC box, the dlib box of
:data:`skmitm.datasets.LFW_CROPS`, and dlib's own aligned chips.

Run: ``python benchmarks/dlib_face_box.py``
"""

import argparse
import functools

import cv2
import numpy as np

from skmitm.datasets import LFW_CROPS, load_lfw_folder

from _shared import add_data_options, shared_path


@functools.lru_cache(maxsize=1)
def _dlib():
    """dlib, its face network, 5-point shape predictor and frontal detector, loaded once."""
    import dlib
    import face_recognition_models as models

    return (dlib, dlib.face_recognition_model_v1(models.face_recognition_model_location()),
            dlib.shape_predictor(models.pose_predictor_five_point_model_location()), dlib.get_frontal_face_detector())


def mean_chip_box(images):
    """Mean (x0, y0, x1, y1) of dlib's 150-pixel, 0.25-padding chip boxes over the images with a detected face."""
    dlib, _, shapes, detector = _dlib()
    boxes = []
    for image in images:
        found = detector(image, 1)
        if len(found):
            rect = dlib.get_face_chip_details(shapes(image, found[0]), 150, 0.25).rect
            boxes.append([rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1])
    return np.mean(boxes, axis=0), len(boxes)


def rank1(images, subjects, first, chip):
    """HR-vs-HR rank-1 (%) of dlib's network: each subject's first image is the gallery, the rest probes."""
    _, network, _, _ = _dlib()
    templates = np.asarray(network.compute_face_descriptor([chip(image) for image in images]))
    gallery, probes = templates[first], templates[~first]
    nearest = ((probes[:, None] - gallery[None]) ** 2).sum(-1).argmin(1)
    return 100 * float(np.mean(subjects[first][nearest] == subjects[~first]))


def run(*, lfw, box_people=200, subjects=60):
    whole = load_lfw_folder(lfw, min_images_per_subject=1, max_images_per_subject=1, crop=False)
    box, n_found = mean_chip_box(whole.images[:box_people])
    data = load_lfw_folder(lfw, min_images_per_subject=5, max_images_per_subject=5, crop=False)
    keep = np.isin(data.subjects, np.unique(data.subjects)[:subjects])
    images = [image for image, k in zip(data.images, keep) if k]
    names, first = data.subjects[keep], (data.image_numbers == 1)[keep]
    dlib, _, shapes, detector = _dlib()

    def cut(b):
        return lambda image: cv2.resize(image[b[1]:b[3], b[0]:b[2]], (150, 150), interpolation=cv2.INTER_CUBIC)

    def own_chip(image):
        found = detector(image, 1)
        rect = found[0] if len(found) else dlib.rectangle(*LFW_CROPS["spec"])
        return dlib.get_face_chip(image, shapes(image, rect), size=150, padding=0.25)

    rates = {name: rank1(images, names, first, chip) for name, chip in
             [("SPEC box", cut(LFW_CROPS["spec"])), ("dlib box", cut(LFW_CROPS["dlib"])), ("dlib's own chips", own_chip)]}
    return {"mean_box": box.tolist(), "n_found": n_found, "n_subjects": int(first.sum()), "rank1": rates}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_options(parser, model=False)
    parser.add_argument("--box-people", type=int, default=200)
    parser.add_argument("--subjects", type=int, default=60)
    args = parser.parse_args(argv)
    r = run(lfw=args.lfw or shared_path("data/lfw-deepfunneled"), box_people=args.box_people, subjects=args.subjects)
    x0, y0, x1, y1 = r["mean_box"]
    print(f"mean dlib chip box over {r['n_found']} faces: x {x0:.1f}…{x1:.1f}, y {y0:.1f}…{y1:.1f} "
          f"(LFW_CROPS['dlib'] = {LFW_CROPS['dlib']})")
    print(f"HR-vs-HR rank-1 of dlib's network, {r['n_subjects']} subjects:")
    for name, rate in r["rank1"].items():
        print(f"  {name:18s} {rate:5.1f}%")
    return r


if __name__ == "__main__":
    main()
