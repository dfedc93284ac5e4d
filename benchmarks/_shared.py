"""Where the benchmarks find their data and models: one helper, one variable, one default.

Benchmarks read LFW, ORL and the face networks from a folder outside the
repository, named by the environment variable ``SKMITM_SHARED``; without it,
the folder ``shared`` beside the repository root (``../shared`` seen from the
root). It must hold ``data/`` and ``models/``.
"""

import os
import time
from pathlib import Path

import numpy as np

_DEFAULT = Path(__file__).resolve().parents[1].parent / "shared"


def shared_path(relative):
    """The path of ``relative`` (e.g. ``"models/mobilefacenet.onnx"``) under the shared folder.

    Raises
    ------
    FileNotFoundError
        If the file or folder is absent, naming where it was looked for and
        how to point elsewhere.
    """
    root = Path(os.environ["SKMITM_SHARED"]) if os.environ.get("SKMITM_SHARED") else _DEFAULT
    path = root / relative
    if not path.exists():
        raise FileNotFoundError(
            f"{relative} not found under {root} (the shared data folder); set SKMITM_SHARED to the folder "
            "holding data/ and models/, or pass the path as an option"
        )
    return path


def add_data_options(parser, *, lfw=True, model=True):
    """Add ``--lfw`` and ``--model`` to an argument parser: the data a benchmark reads.

    Both default to None, which a benchmark reads as the shared folder's LFW
    deep-funneled copy and MobileFaceNet (``shared_path``), found only when used.
    """
    if lfw:
        parser.add_argument("--lfw", help="LFW deep-funneled folder (default: $SKMITM_SHARED/data/lfw-deepfunneled)")
    if model:
        parser.add_argument("--model", help="face network (default: $SKMITM_SHARED/models/mobilefacenet.onnx)")


def add_sr_weights_option(parser):
    """Add ``--sr-weights WEIGHTS`` (default ``"auto"``): ``make_mitm_pipeline``'s ``sr_weights`` of the full method."""
    parser.add_argument("--sr-weights", default="auto", metavar="WEIGHTS",
                        help="super-resolution weights of the full method: auto (identity-trained weights for the "
                        "network they were trained on, else realistic), a shipped name (identity, realistic, plain) "
                        "or a weights card (default: %(default)s)")


def timed(fn):
    """``fn()``'s result, with the wall-clock and the process CPU seconds it took."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def public_benchmark(lfw=None, *, subjects=None, probe_size=24, severity="moderate"):
    """The public benchmark's gallery and probes, optionally of its first ``subjects`` people only.

    Returns ``(gallery_images, gallery_subjects, probe_images, probe_subjects)``.
    """
    from skmitm.datasets import load_lfw_folder, make_cross_resolution_benchmark

    faces = load_lfw_folder(lfw or shared_path("data/lfw-deepfunneled"), min_images_per_subject=5,
                            max_images_per_subject=5, crop="spec")
    bench = make_cross_resolution_benchmark(faces, probe_size=probe_size, severity=severity, random_state=0)
    gallery, gallery_y = bench.gallery_images, bench.gallery_subjects
    probes, probe_y = bench.probe_images, bench.probe_subjects
    if subjects is not None:
        keep = np.unique(gallery_y)[:subjects]
        g, p = np.isin(gallery_y, keep), np.isin(probe_y, keep)
        gallery, gallery_y = [im for im, k in zip(gallery, g) if k], gallery_y[g]
        probes, probe_y = [im for im, k in zip(probes, p) if k], probe_y[p]
    return gallery, gallery_y, probes, probe_y
