"""How much faster a second transform of the same images is with a template cache.

``python -m skmitm.benchmarks.template_cache [--model PATH] [--lfw DIR]``

Both transforms use a fresh extractor on a fresh cache folder (a temporary
directory): the first computes and stores every template, the second — of
the same images, in another order, as a grid search's later folds see them —
reads them back by content. Target ratio ≥ 20.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from .template_speed import default_shared, lfw_crops


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=default_shared("models/mobilefacenet.onnx"))
    parser.add_argument("--lfw", default=default_shared("data/lfw-deepfunneled"))
    parser.add_argument("--n", type=int, default=1024, help="images per transform")
    args = parser.parse_args(argv)

    import cv2

    from skmitm import TemplateExtractor

    if not Path(args.model).is_file():
        raise SystemExit(f"no model at {args.model}; pass --model PATH to mobilefacenet.onnx")
    crops = lfw_crops(args.lfw, args.n // 2)
    probes = [cv2.resize(c, (24, 24), interpolation=cv2.INTER_AREA) for c in crops]
    images = crops + probes
    order = np.random.default_rng(0).permutation(len(images))

    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        first = TemplateExtractor(args.model, memory=cache).fit().transform(images)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        second = TemplateExtractor(args.model, memory=cache).fit().transform([images[i] for i in order])
        warm = time.perf_counter() - start
    same = all(np.array_equal(first[i].data, second[k].data) for k, i in enumerate(order))
    print(f"model: {args.model}; {len(images)} images (half 126x126 crops, half 24x24)")
    print(f"first transform (computes, stores):  {cold:8.3f} s")
    print(f"second transform (reads the cache):  {warm:8.3f} s (fit included; templates identical: {same})")
    print(f"ratio first / second: {cold / warm:.1f} (target >= 20)")


if __name__ == "__main__":
    main()
