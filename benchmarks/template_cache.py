"""How much faster a second transform of the same images is with a template cache.

``python benchmarks/template_cache.py [--model PATH] [--lfw DIR] [--n N] [--gallery N] [--chains N]``

1. Plain images. Both transforms use a fresh extractor on a fresh cache
   folder (a temporary directory): the first computes and stores every
   template, the second — of the same images, in another order, as a grid
   search's later folds see them — reads them back by content. Target ratio
   ≥ 20.
2. A degraded gallery (``GalleryDegrader``: LFW crops, probe size 24, scales
   2/4/8, a few chains), whose hypotheses are resized lazily on access.
   Computing its templates into an empty cache is timed against rereading
   them, which keys them on their recipe (source image and target size) and
   resizes nothing. For comparison, the same hypotheses materialised into
   plain lists are keyed on content: their reread (materialising and hashing
   every image, as before recipe keys) is timed on a second cache filled the
   same way. Extractors are fitted before the timings.
"""

import argparse
import tempfile
import time

import numpy as np

from _shared import add_data_options, shared_path
from template_speed import lfw_crops


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_options(parser)
    parser.add_argument("--n", type=int, default=1024, help="images per transform")
    parser.add_argument("--gallery", type=int, default=32, help="gallery images to degrade")
    parser.add_argument("--chains", type=int, default=8, help="degradation chains per gallery image")
    args = parser.parse_args(argv)

    model = args.model or shared_path("models/mobilefacenet.onnx")
    lfw = args.lfw or shared_path("data/lfw-deepfunneled")
    plain_images(model, lfw, args.n)
    degraded_gallery(model, lfw, args.gallery, args.chains)


def plain_images(model, lfw, n):
    import cv2

    from skmitm import TemplateExtractor

    crops = lfw_crops(lfw, n // 2)
    probes = [cv2.resize(c, (24, 24), interpolation=cv2.INTER_AREA) for c in crops]
    images = crops + probes
    order = np.random.default_rng(0).permutation(len(images))

    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        first = TemplateExtractor(model, memory=cache).fit().transform(images)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        second = TemplateExtractor(model, memory=cache).fit().transform([images[i] for i in order])
        warm = time.perf_counter() - start
    same = all(np.array_equal(first[i].data, second[k].data) for k, i in enumerate(order))
    print(f"model: {model}; {len(images)} images (half 126x126 crops, half 24x24)")
    print(f"first transform (computes, stores):  {cold:8.3f} s")
    print(f"second transform (reads the cache):  {warm:8.3f} s (fit included; templates identical: {same})")
    print(f"ratio first / second: {cold / warm:.1f} (target >= 20)")


def degraded_gallery(model, lfw, n, chains):
    from skmitm import GalleryDegrader, HypothesisSet, TemplateExtractor

    gallery = GalleryDegrader(24, scales=(2, 4, 8), n_chains=chains, random_state=0).fit_transform(lfw_crops(lfw, n))

    def materialised():
        return [HypothesisSet(list(hs.data), hs.meta) for hs in gallery]

    def timed(folder, make_sets):
        extractor = TemplateExtractor(model, memory=folder).fit()
        start = time.perf_counter()
        sets = extractor.transform(make_sets())
        return time.perf_counter() - start, sets

    with tempfile.TemporaryDirectory() as recipes, tempfile.TemporaryDirectory() as contents:
        compute, computed = timed(recipes, lambda: gallery)
        reread, again = timed(recipes, lambda: gallery)
        content_compute, content_computed = timed(contents, materialised)
        content_reread, content_again = timed(contents, materialised)
    same = all(np.array_equal(a.data, b.data) for a, b in zip(computed, again))
    content_same = all(np.array_equal(a.data, b.data) for a, b in zip(content_computed, content_again))
    print(
        f"\ndegraded gallery: {n} LFW crops x {len(gallery[0])} hypotheses (1 original, 3 matched, "
        f"{chains} chains x 3 scales; probe 24 px) = {sum(len(hs) for hs in gallery)} templates"
    )
    print(f"recipe keys:  compute {compute:8.3f} s, reread {reread:8.3f} s (nothing resized), "
          f"ratio compute / reread {compute / reread:6.1f}; templates identical: {same}")
    print(f"content keys: compute {content_compute:8.3f} s, reread {content_reread:8.3f} s (every image built), "
          f"ratio compute / reread {content_compute / content_reread:6.1f}; templates identical: {content_same}")
    print(f"reread with content keys / reread with recipe keys: {content_reread / reread:.1f}")


if __name__ == "__main__":
    main()
