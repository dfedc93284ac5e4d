"""The paper's ablation (Tables 2 and 3) as one parameter grid over templates computed once.

Every row of the ablation is a setting of :class:`FusedNearestNeighborIdentifier`
— which probe and gallery hypotheses take part, at which scales, fused how —
over the same templates. So the expensive work (degrading the gallery,
super-resolving the probes, running the face network) is done once, and each
row costs one nearest-neighbour evaluation.
"""

import csv
import io
import time
import warnings
from pathlib import Path

import numpy as np

from ._adapter import adapter_step
from ._degradation import GalleryDegrader
from ._enrolment import check_adapter_sr
from ._hypotheses import META_DTYPE, HypothesisSet
from ._identification import FusedNearestNeighborIdentifier
from ._io import csv_cell, load_array_file, save_array_file
from ._report import as_json, compute_templates, crop_label, markdown_table, resolve_crop, write_report
from ._runtime import progress_bar
from ._templates import TemplateExtractor
from ._upsampling import MultiHypothesisUpsampler
from .datasets import LFW_CROP, load_lfw_folder, make_cross_resolution_benchmark
from .metrics import cmc_curve, plot_cmc, rank_k_identification_rate

__all__ = [
    "ablation_grid",
    "adapter_grid",
    "evaluate_grid",
    "load_ablation_templates",
    "plot_ablation_cmc",
    "run_ablation",
    "save_ablation_templates",
]

_TEMPLATES_FORMAT = "skmitm-ablation-templates/1"
_SIDES = ("gallery", "probes")

_SR = ["super-resolved"]


def ablation_grid(scales=(2, 4, 8)):
    """The rows of the paper's Table 2 and Table 3 as identifier parameter settings.

    Parameters
    ----------
    scales : sequence of int, default=(2, 4, 8)
        Probe magnifications.

    Returns
    -------
    rows : list of dict
        Each with ``table`` ("2" or "3"), ``section`` (the paper's row
        label), ``column`` (scale or fusion rule) and ``params`` (keyword
        arguments of :class:`~skmitm.FusedNearestNeighborIdentifier`).

    Examples
    --------
    >>> from skmitm import ablation_grid
    >>> rows = ablation_grid()
    >>> rows[0]["section"], rows[0]["params"]["probe_kinds"]
    ('Baseline', ['original'])
    >>> sorted({r["section"] for r in rows if r["table"] == "3"})
    ['T_add on the gallery templates', 'T_add on the probe templates']
    """
    scales = [float(s) for s in scales]
    rows = [_row("2", "Baseline", "—", fusion="S_max", probe_kinds=["original"], gallery_kinds=["original"])]
    per_scale = [
        ("+ Single hypothesis SR", {"probe_sigmas": [0.0], "gallery_kinds": ["original"]}),
        ("+ Multi hypothesis SR", {"gallery_kinds": ["original"]}),
        ("+ Resolution matching", {"gallery_kinds": ["matched"]}),
        ("+ Gallery degradations", {"gallery_kinds": ["matched", "degraded"]}),
    ]
    for section, extra in per_scale:
        for s in scales:
            rows.append(_row("2", section, f"{s:g}×", fusion="S_max", probe_kinds=_SR, scales=[s], **extra))
    everything = {"probe_kinds": _SR, "gallery_kinds": ["matched", "degraded"], "scales": scales}
    for fusion in ("S_max", "S_add", "T_add", "T_concat"):
        rows.append(_row("2", "+ Multi-scale accumulation", fusion, fusion=fusion, **everything))
    for fusion, column in (("T_add", "T_add"), ("S_add/T_add", "S_add"), ("S_max/T_add", "S_max")):
        rows.append(_row("3", "T_add on the probe templates", column, fusion=fusion, **everything))
    for fusion, column in (("T_add", "T_add"), ("T_add/S_add", "S_add"), ("T_add/S_max", "S_max")):
        rows.append(_row("3", "T_add on the gallery templates", column, fusion=fusion, **everything))
    rows.append(_row("2", "Full method (S_max over gallery, then S_add over probe)", "S_max/S_add",
                     fusion="S_max/S_add", **everything))
    # Beyond the paper's table: the originals (probe as it is, gallery photo)
    # join as one more scale, so no information the baseline had is dropped.
    for fusion in ("S_max", "S_add", "T_add", "T_concat", "S_max/S_add"):
        rows.append(_row("2", "All hypotheses, originals included", fusion, fusion=fusion))
    return rows


def adapter_grid():
    """The rows scored over probe templates mapped by a :class:`~skmitm.TemplateAdapter`.

    Returns
    -------
    rows : list of dict
        As :func:`ablation_grid` returns them, in Table 2, with ``adapted``
        True: all hypotheses (originals included) under ``T_concat`` and
        ``S_max/S_add``; the same against the gallery photos alone; and the
        sigma-0 probe hypotheses against the gallery photos, ``S_add``.

    Examples
    --------
    >>> from skmitm._ablation import adapter_grid
    >>> [(r["section"], r["column"]) for r in adapter_grid()][-1]
    ('+ Template adapter, sigma-0 probes vs gallery photos', 'S_add')
    """
    rows = [_row("2", "+ Template adapter", fusion, fusion=fusion) for fusion in ("T_concat", "S_max/S_add")]
    rows.append(_row("2", "+ Template adapter, gallery photos only", "T_concat", fusion="T_concat",
                     gallery_kinds=["original"]))
    rows.append(_row("2", "+ Template adapter, sigma-0 probes vs gallery photos", "S_add", fusion="S_add",
                     gallery_kinds=["original"], probe_sigmas=[0.0]))
    return [{**row, "adapted": True} for row in rows]


def _row(table, section, column, **params):
    return {"table": table, "section": section, "column": column, "params": params}


def evaluate_grid(rows, gallery_sets, gallery_subjects, probe_sets, probe_subjects, *, max_rank=20, progress=False):
    """Rank-1, rank-5, CMC and time of every row over the same templates.

    Each row's ``params`` are the identifier's keyword arguments (a row
    without ``similarity`` uses the identifier's default).

    Returns
    -------
    results : list of dict
        The rows with ``rank1``, ``rank5`` (percent), ``cmc`` (rates at
        ranks 1..max_rank) and ``seconds`` added.
    """
    out = []
    for row in progress_bar(rows, enabled=progress, desc="ablation rows", unit="row"):
        start = time.perf_counter()
        clf = FusedNearestNeighborIdentifier(**row["params"]).fit(gallery_sets, gallery_subjects)
        scores = clf.decision_function(probe_sets)
        seconds = time.perf_counter() - start
        _, rates = cmc_curve(probe_subjects, scores, clf.classes_, max_rank=min(max_rank, len(clf.classes_)))
        out.append({
            **row,
            "rank1": 100 * rank_k_identification_rate(probe_subjects, scores, clf.classes_, k=1),
            "rank5": 100 * rank_k_identification_rate(probe_subjects, scores, clf.classes_, k=5),
            "cmc": rates.tolist(),
            "seconds": seconds,
        })
    return out


def run_ablation(
    *,
    lfw=None,
    model=None,
    out="reports/ablation",
    probe_size=24,
    severity="moderate",
    scales=(2, 4, 8),
    n_chains=64,
    sigmas=16,
    sr_weights=None,
    similarities=("pearson", "mean-centred"),
    random_state=0,
    max_subjects=None,
    templates_path=None,
    crop="auto",
    adapter="auto",
    memory=None,
    n_jobs=None,
    progress=True,
):
    """Run the whole ablation on the public LFW benchmark and write its tables.

    Writes ``ablation.md`` (Tables 2 and 3 in the paper's layout),
    ``ablation.csv`` (one line per row), ``ablation.json`` and
    ``cmc.png`` into ``out``.

    Parameters
    ----------
    lfw : str, os.PathLike or None, default=None
        LFW-style folder; None uses scikit-learn's cached LFW.
    model : str, os.PathLike or None, default=None
        Face network for :class:`~skmitm.TemplateExtractor`.
    out : str or os.PathLike, default="reports/ablation"
    probe_size : int, default=24
    severity : {"moderate", "harsh"}, default="moderate"
    scales : sequence of int, default=(2, 4, 8)
    n_chains : int, default=64
        Degradation chains per gallery image.
    sigmas : int or sequence of float, default=16
        Blur levels of the multi-hypothesis super-resolution.
    sr_weights : str, os.PathLike or None, default=None
        Super-resolution weights: a shipped name (``"identity"``,
        ``"realistic"``, ``"plain"``) or a weights card; None for the
        upsampler's default, ``"realistic"`` (the paper's method with
        pixel-trained SR, whatever the network). An ``adapter`` trained
        through other weights is refused.
    similarities : sequence of str, default=("pearson", "mean-centred")
        Every row is evaluated with each similarity (the paper's Eq. 3 read
        both ways), over the same templates.
    random_state : int, default=0
        Seeds the probe synthesis and the degradations.
    max_subjects : int, default=None
        Use only the first subjects (by name), for quick runs.
    templates_path : str or os.PathLike, default=None
        A file keeping the computed templates (arrays and a JSON header, see
        :func:`save_ablation_templates`): reused when it holds templates for
        the same settings, written otherwise. A corrupt, truncated or
        foreign file is reported with a warning and recomputed.
    crop : "auto", bool, {"spec", "dlib"} or tuple of 4 int, default="auto"
        Face box cut from each LFW image; ``"auto"`` is the box the face
        network expects (see :func:`~skmitm.run_public_benchmark`).
    adapter : "auto", str, os.PathLike or None, default="auto"
        Template adapter whose rows (:func:`adapter_grid`) are added, scored
        over the same templates with the probe hypotheses mapped:
        ``"auto"`` the adapter shipped for the network (no rows if none
        ships), a path an adapter weights file, None no adapter rows.
    memory : str, os.PathLike or joblib.Memory, default=None
        Template cache of the :class:`~skmitm.TemplateExtractor` (shared with
        any other run over the same images and network).
    n_jobs : int, default=None
        Template extraction workers, see :class:`~skmitm.TemplateExtractor`.
    progress : bool, default=True

    Returns
    -------
    results : dict
    """
    started = time.perf_counter()
    extractor = TemplateExtractor(model, n_jobs=n_jobs, memory=memory).fit()
    step = None
    if adapter is not None:  # a network without the adapter asked for is refused before any template is computed
        network = model if extractor.model_path_ is None else extractor.model_path_
        step = adapter_step(network, adapter).fit()
        step = step if step.active_ else None
    data = load_lfw_folder(lfw, min_images_per_subject=5, max_images_per_subject=5,
                           crop=resolve_crop(crop, extractor))
    if max_subjects is not None:
        keep = np.isin(data.subjects, np.unique(data.subjects)[:max_subjects])
        data.images = [im for im, k in zip(data.images, keep) if k]
        data.subjects = data.subjects[keep]
    bench = make_cross_resolution_benchmark(data, probe_size=probe_size, severity=severity, random_state=random_state)
    degrader = GalleryDegrader(probe_size=probe_size, scales=scales, n_chains=n_chains, random_state=random_state)
    upsampler = MultiHypothesisUpsampler(sr_weights, scales=scales, sigmas=sigmas)
    upsampler.fit()
    check_adapter_sr(upsampler, step)
    # Everything the templates depend on, with the networks by content.
    key = repr((str(lfw), extractor.model_sha256_, upsampler.card_.get("sha256"), probe_size, severity,
                tuple(scales), n_chains, np.atleast_1d(upsampler.sigmas_).tolist(), random_state, max_subjects)
               + ((data.crop,) if data.crop != LFW_CROP else ()))
    stored = None
    if templates_path and Path(templates_path).is_file():
        try:
            stored = load_ablation_templates(templates_path)
        except ValueError as error:
            warnings.warn(f"{error}; the templates are recomputed and the file rewritten", UserWarning, stacklevel=2)
    if stored is not None and stored["key"] == key:
        gallery_sets, probe_sets, template_seconds = stored["gallery"], stored["probes"], stored["seconds"]
    else:
        gallery_sets, probe_sets, template_seconds = compute_templates(
            bench.gallery_images, bench.probe_images, extractor=extractor, degrader=degrader, upsampler=upsampler,
            progress=progress,
        )
        if templates_path:
            save_ablation_templates(templates_path, key, gallery_sets, probe_sets, template_seconds)
    grid = [
        {**row, "similarity": sim, "params": {**row["params"], "similarity": sim}}
        for sim in similarities
        for row in ablation_grid(scales)
    ]
    rows = evaluate_grid(grid, gallery_sets, bench.gallery_subjects, probe_sets, bench.probe_subjects,
                         progress=progress)
    if step is not None:
        adapted = [{**row, "similarity": sim, "params": {**row["params"], "similarity": sim}}
                   for sim in similarities for row in adapter_grid()]
        rows += evaluate_grid(adapted, gallery_sets, bench.gallery_subjects, step.transform(probe_sets),
                              bench.probe_subjects, progress=progress)
    results = {
        "rows": rows,
        "settings": {
            "probe_size": probe_size, "severity": severity, "scales": list(scales), "n_chains": n_chains,
            "sigmas": np.atleast_1d(upsampler.sigmas_).tolist(), "similarities": list(similarities),
            "lfw": str(lfw), "crop": None if data.crop is None else list(data.crop),
            "random_state": random_state, "model": extractor.model_path_ or "dlib ResNet",
            "model_sha256": extractor.model_sha256_, "sr_weights": upsampler.card_.get("sha256", "shipped"),
            "adapter": None if step is None else {"weights": Path(step.weights_path_).name,
                                                  "sha256": step.weights_sha256_},
            "n_subjects": int(len(bench.gallery_subjects)), "n_probes": int(len(bench.probe_subjects)),
            "gallery_hypotheses": int(sum(len(s) for s in gallery_sets)),
            "probe_hypotheses": int(sum(len(s) for s in probe_sets)),
        },
        "seconds": {
            "templates_gallery": round(template_seconds["gallery"], 1),
            "templates_probes": round(template_seconds["probes"], 1),
            "rows": round(sum(r["seconds"] for r in rows), 1),
            "total": round(time.perf_counter() - started, 1),
        },
    }
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.5, 4), dpi=120)
    plot_ablation_cmc(results, ax=figure.add_subplot())
    figure.tight_layout()
    texts = {"ablation.csv": _csv(rows), "ablation.json": as_json(results), "ablation.md": ablation_markdown(results)}
    write_report(out, texts, figure)
    return results


def save_ablation_templates(path, key, gallery_sets, probe_sets, seconds):
    """Keep an ablation's template sets in ``path``: NumPy arrays and a JSON header, no pickle.

    Each side is stored as its templates stacked, their metadata and the
    number of hypotheses of each sample; the header holds ``key`` (the
    settings the templates depend on), ``seconds``, a format version and a
    checksum. The file is written atomically.
    """
    arrays = {}
    for side, sets in zip(_SIDES, (gallery_sets, probe_sets)):
        arrays[f"{side}_templates"] = np.concatenate([s.data for s in sets]).astype(np.float32, copy=False)
        arrays[f"{side}_meta"] = np.concatenate([s.meta for s in sets])
        arrays[f"{side}_counts"] = np.array([len(s) for s in sets], dtype=np.int64)
    save_array_file(path, arrays, {"key": key, "seconds": seconds}, format=_TEMPLATES_FORMAT)


def load_ablation_templates(path):
    """Read a file written by :func:`save_ablation_templates`.

    Returns
    -------
    stored : dict
        ``key``, ``seconds``, ``gallery`` and ``probes`` (lists of
        :class:`~skmitm.HypothesisSet` of templates).

    Raises
    ------
    ValueError
        If the file is not such a file, is truncated or altered, or comes
        from another format version; the message names the file.
    """
    arrays, header = load_array_file(path, format=_TEMPLATES_FORMAT, name="templates file")
    stored = {"key": header.get("key"), "seconds": header.get("seconds")}
    try:
        for side in _SIDES:
            templates, meta, counts = (arrays[f"{side}_{part}"] for part in ("templates", "meta", "counts"))
            if (templates.ndim != 2 or templates.dtype != np.float32 or meta.dtype != META_DTYPE
                    or counts.ndim != 1 or (counts < 1).any() or counts.sum() != len(templates)
                    or len(meta) != len(templates) or not np.isfinite(templates).all()):
                raise ValueError(f"its {side} arrays do not fit together")
            bounds = np.cumsum(counts)[:-1]
            stored[side] = [HypothesisSet(t, m) for t, m in zip(np.split(templates, bounds), np.split(meta, bounds))]
    except KeyError as error:
        raise ValueError(f"templates file {str(path)!r} lacks the array {error}") from None
    except ValueError as error:
        raise ValueError(f"templates file {str(path)!r} is inconsistent: {error}") from None
    if not isinstance(stored["key"], str) or not isinstance(stored["seconds"], dict):
        raise ValueError(f"templates file {str(path)!r} has an incomplete header")
    return stored


_CMC_CURVES = (
    ("baseline", "pearson", "Baseline"),
    ("best single-hypothesis SR", "pearson", "+ Single hypothesis SR"),
    ("paper's full method S_max/S_add", "pearson", "Full method (S_max over gallery, then S_add over probe)"),
    ("all hypotheses, best fusion", "pearson", "All hypotheses, originals included"),
    ("all hypotheses, best fusion", "mean-centred", "All hypotheses, originals included"),
)


def plot_ablation_cmc(results, path=None, *, ax=None):
    """Draw the CMC of the ablation's landmark rows (the best row of each), as :func:`~skmitm.metrics.plot_cmc` does.

    Returns the Axes drawn on (a new Figure's when ``ax`` is None); writes
    the figure to ``path`` when given.
    """
    rows, s = results["rows"], results["settings"]
    curves = {}
    for label, similarity, section in _CMC_CURVES:
        mine = [r for r in rows if r["similarity"] == similarity and r["section"] == section]
        if mine:
            best = max(mine, key=lambda r: r["rank1"])
            name = label if best["column"] in ("—",) or best["column"] in label else f"{label} ({best['column']})"
            curves[f"{name}, {similarity}"] = (np.arange(1, len(best["cmc"]) + 1), np.asarray(best["cmc"]))
    return plot_cmc(curves, path, ax=ax, max_rank=len(rows[0]["cmc"]),
                    title=f"Ablation, LFW {s['severity']} {s['probe_size']} px, {network_label(s['model'])}")


def network_label(model):
    """A short name for a face network path in titles and tables."""
    stem = Path(str(model)).stem
    if stem.lower().startswith("mobilefacenet"):
        return "MobileFaceNet"
    if "dlib" in stem.lower():
        return "dlib ResNet"
    return stem


def _csv(rows):
    with io.StringIO(newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["similarity", "table", "section", "column", "fusion", "scales", "probe_kinds", "gallery_kinds",
                         "probe_sigmas", "rank1", "rank5", "seconds"])
        for r in rows:
            p = r["params"]
            writer.writerow([csv_cell(cell) for cell in [
                p.get("similarity", "pearson"), r["table"], r["section"], r["column"], p["fusion"], _join(p.get("scales")), _join(p.get("probe_kinds")),
                _join(p.get("gallery_kinds")), _join(p.get("probe_sigmas")), f"{r['rank1']:.2f}", f"{r['rank5']:.2f}",
                f"{r['seconds']:.2f}",
            ]])
        return f.getvalue()


def _join(values):
    return "all" if values is None else " ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def ablation_markdown(results):
    """Tables 2 and 3 in the paper's layout (rank-1 %), with rank-5 in a second table."""
    rows, s = results["rows"], results["settings"]
    lines = [
        f"# Ablation on the public LFW benchmark ({s['severity']}, {s['probe_size']} px)",
        "",
        f"{s['n_subjects']} subjects, {s['n_probes']} probes; face network `{Path(str(s['model'])).name}`; "
        + (f"face crop {crop_label(s['crop'])}; " if "crop" in s else "")
        + f"similarities {', '.join(s['similarities'])}; {s['n_chains']} degradation chains per gallery image, "
        f"{len(s['sigmas'])} blur hypotheses per probe and scale; seed {s['random_state']}. "
        f"Templates: {s['gallery_hypotheses']} gallery and {s['probe_hypotheses']} probe hypotheses, computed once.",
        "",
    ]
    tables = [(sim, table, title) for sim in s["similarities"]
              for table, title in (("2", "Table 2 — rank-1 identification rate (%)"),
                                   ("3", "Table 3 — two-level fusion, rank-1 (%)"))]
    for sim, table, title in tables:
        lines += [f"## {title}, {sim} similarity", ""]
        mine_all = [r for r in rows if r["table"] == table and r["similarity"] == sim]
        sections = list(dict.fromkeys(r["section"] for r in mine_all))
        for section in sections:
            mine = [r for r in mine_all if r["section"] == section]
            lines += [f"**{section}**", ""]
            lines += markdown_table([r["column"] for r in mine], [[f"{r['rank1']:.1f}" for r in mine]],
                                    align="r" * len(mine))
            lines.append("")
    lines += ["## All rows: rank-1 and rank-5 (%)", ""]
    lines += markdown_table(
        ["similarity", "section", "column", "fusion", "rank-1", "rank-5", "seconds"],
        [[r["similarity"], r["section"], r["column"], r["params"]["fusion"], f"{r['rank1']:.1f}", f"{r['rank5']:.1f}",
          f"{r['seconds']:.1f}"] for r in rows],
        align="llllrrr",
    )
    t = results["seconds"]
    lines += ["", "![CMC](cmc.png)", "",
              f"Time: gallery templates {t['templates_gallery']} s, probe templates {t['templates_probes']} s, "
              f"all {len(rows)} rows {t['rows']} s, total {t['total']} s.", ""]
    return "\n".join(lines)
