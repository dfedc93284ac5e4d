"""Open-set search and 1:1 verification on the public LFW cross-resolution benchmark.

Protocol: the people of LFW with at least five images (423) are split in two
with a seed; one half is enrolled (each person's first image, high
resolution). Every synthetic low-resolution probe of all of them (images 2–5,
1,692) is searched: probes of enrolled people are mated searches, the others
non-mated. With ``--splits K`` this is repeated for K enrolled halves, drawn
with seeds ``seed``, ``seed + 1``, ...; the probes, their synthesis and the
methods' seeds stay those of ``seed``, so every split searches the same probe
images, whose templates are computed once per condition and method (the steps
before the identifier do not see the gallery). Enrolment and calibration are
redone per split. ``--splits 1`` is the single-split protocol. For each probe
condition and method it reports, as the mean over the splits with the
smallest and largest split,

- rank-1 of the mated searches, and DIR (detection and identification rate)
  at FPIR 0.01, 0.1 and 0.3, each threshold set on the real non-mated
  searches (the evaluation's own operating points);
- the thresholds calibrated from the enrolled gallery alone
  (``calibrate_open_set``: synthetic probes of the gallery photos searched
  without their own subject) and the FPIR they give on the real non-mated
  searches, pooled over the splits (all false alarms over all non-mated
  searches) with the per-split range;
- 1:1 verification of every probe against every enrolled photo (mated pairs:
  the probe's own subject): FNMR at FMR 0.001, 0.01 and 0.1 (mean over the
  splits), and the FMR and FNMR of the calibrated thresholds (pooled). Pairs
  are scored as ``skmitm.verify`` scores them.

It writes ``open_set.md`` (tables), ``results.json``, ``scores.npz`` (all
scores, so ``--scores`` redoes the tables and figures without the face
networks; rewritten after each split, so a run cut short keeps the splits it
finished), ``dir_fpir.png`` and ``verification.png`` (curves of all splits'
searches and pairs pooled) into ``--out``.

Run: ``python benchmarks/open_set.py --out reports/open-set [--sr-weights WEIGHTS]``
(LFW and the face network from ``SKMITM_SHARED``, or ``--lfw`` and
``--model``; the full method's super-resolution weights from
``--sr-weights``, default ``auto`` as ``make_mitm_pipeline``: the weights
file used is named in the settings line and in ``results.json``).
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from skmitm import calibrate_open_set, make_mitm_pipeline
from skmitm.datasets import load_lfw_folder, make_cross_resolution_benchmark
from skmitm.metrics import (
    detection_identification_rate,
    dir_fpir_curve,
    fmr_fnmr_curve,
    open_set_error_rates,
    plot_dir_fpir,
    plot_verification,
    rank_k_identification_rate,
    verification_error_rates,
)

from _shared import add_data_options, add_sr_weights_option, shared_path

FPIRS = (0.01, 0.1, 0.3)
FMRS = (0.001, 0.01, 0.1)
METHODS = ("baseline, pearson", "baseline, mean-centred", "full method")


def _pipelines(model, *, probe_size, n_chains, sigmas, seed, sr_weights="auto"):
    """The three methods; make_mitm_pipeline's defaults except the reduced chain and blur counts.

    ``sr_weights`` goes to the full method, the only one with super-resolution.

    The real probes of a condition are scored as one batch (``probe_means="batch"``:
    probe-side means over the batch), as in the protocol's tables; calibration and
    the 1:1 pairs use the calibration's own probe means.
    """
    pearson = make_mitm_pipeline("baseline", model=model, probe_means="batch").set_params(
        identify__similarity="pearson")
    return {
        "baseline, pearson": pearson,
        "baseline, mean-centred": make_mitm_pipeline("baseline", model=model, probe_means="batch"),
        "full method": make_mitm_pipeline("full", model=model, probe_size=probe_size, n_chains=n_chains,
                                          sigmas=sigmas, probe_means="batch", sr_weights=sr_weights,
                                          random_state=seed),
    }


def _key(condition, method, split):
    return f"{condition}|{method}|{split}"


def compute_scores(*, lfw, model, conditions, n_chains, sigmas, n_calibration, seed, n_splits=1, max_subjects=None,
                   log=print, checkpoint=None, sr_weights="auto"):
    """Every score the tables need, as a flat dict of arrays (the contents of ``scores.npz``).

    ``enrolled`` holds one row of enrolled subjects per split; the other
    arrays are keyed ``condition|method|split|what`` (``method|split|classes``
    for the identifier's columns). ``checkpoint``, if given, is called with
    the arrays after each split, so that a run cut short keeps its finished
    splits. ``sr_weights`` is the full method's (``make_mitm_pipeline``'s);
    ``sr_weights`` in the arrays names the weights file it used.
    """
    data = load_lfw_folder(lfw, min_images_per_subject=5, max_images_per_subject=5)
    if max_subjects is not None:
        keep = np.isin(data.subjects, np.unique(data.subjects)[:max_subjects])
        data.images = [im for im, k in zip(data.images, keep) if k]
        data.subjects = data.subjects[keep]
    subjects = np.unique(data.subjects)
    enrolled = np.stack([np.sort(np.random.default_rng(seed + split).permutation(subjects)[: len(subjects) // 2])
                         for split in range(n_splits)])
    sizes = sorted({size for _, size in conditions})
    if len(sizes) != 1:
        raise ValueError(f"conditions of one probe size only, got sizes {sizes}")
    benches = {f"{sev} {size} px": make_cross_resolution_benchmark(data, probe_size=size, severity=sev,
                                                                    random_state=seed)
               for sev, size in conditions}
    first = next(iter(benches.values()))
    out = {"probe_subjects": first.probe_subjects, "conditions": np.array(list(benches))}
    pipelines = _pipelines(model, probe_size=sizes[0], n_chains=n_chains, sigmas=sigmas, seed=seed,
                           sr_weights=sr_weights)
    upsampler = pipelines["full method"].named_steps["upsample"].fit()
    out["sr_weights"] = np.array(upsampler.card_.get("weights") or "")
    log(f"full method: super-resolution weights {out['sr_weights']}")
    # The steps before the identifier pass probes through (GalleryDegrader), super-resolve them
    # (MultiHypothesisUpsampler) or embed them (TemplateExtractor) without looking at the gallery,
    # so the probe templates of a condition and method are the same for every split.
    probe_templates = {}
    for split, split_enrolled in enumerate(enrolled):
        in_gallery = np.isin(first.gallery_subjects, split_enrolled)
        gallery = [im for im, k in zip(first.gallery_images, in_gallery) if k]
        gallery_subjects = first.gallery_subjects[in_gallery]
        for method, pipe in pipelines.items():
            start = time.perf_counter()
            pipe.fit(gallery, gallery_subjects)
            log(f"split {split}, {method}: enrolled {len(gallery)} subjects in {time.perf_counter() - start:.0f} s")
            identifier = pipe[-1]
            for (severity, size), (condition, bench) in zip(conditions, benches.items()):
                start = time.perf_counter()
                if (condition, method) not in probe_templates:
                    probe_templates[condition, method] = pipe[:-1].transform(bench.probe_images)
                templates = probe_templates[condition, method]
                key = _key(condition, method, split)
                out[f"{key}|scores"] = identifier.decision_function(templates)
                probe_seconds = time.perf_counter() - start
                cal = calibrate_open_set(pipe, gallery, gallery_subjects, probe_sizes=[size], severity=severity,
                                         n_probes_per_image=n_calibration, random_state=seed)
                out[f"{key}|fpir_thresholds"] = np.array([cal.threshold(f)[size] for f in FPIRS])
                out[f"{key}|fmr_thresholds"] = np.array([cal.verification_threshold(f)[size] for f in FMRS])
                out[f"{key}|calibration_searches"] = cal.search_scores[size]
                # 1:1 pairs are scored as verify() scores them: a lone probe is centred on
                # the calibration's probe means, not on its batch.
                if identifier.similarity == "mean-centred":
                    identifier.set_params(probe_means=cal.probe_means[size])
                out[f"{key}|pair_scores"] = identifier.decision_function(templates)
                identifier.set_params(probe_means=None)
                log(f"  {condition}: {len(templates)} probes scored in {probe_seconds:.0f} s, calibration "
                    f"({len(cal.search_scores[size])} synthetic searches) in "
                    f"{time.perf_counter() - start - probe_seconds:.0f} s")
            out[f"{method}|{split}|classes"] = identifier.classes_
        out["enrolled"] = enrolled[: split + 1]
        if checkpoint is not None:
            checkpoint(out)
    return out


def evaluate_split(truth, y_score, labels, *, fpir_thresholds, calibration_searches, n_calibration, pair_scores,
                   fmr_thresholds):
    """One split's figures for one condition and method, with the counts that pooling over splits needs.

    ``calibration_searches`` are the synthetic searches in photo order,
    ``n_calibration`` per photo: how many photos a threshold rests on.
    """
    mated = np.isin(truth, labels)
    n_non_mated = int((~mated).sum())
    row = {
        "n_mated": int(mated.sum()), "n_non_mated": n_non_mated,
        "rank1": rank_k_identification_rate(truth[mated], y_score[mated], labels),
        "dir": dict(zip(map(str, FPIRS), detection_identification_rate(truth, y_score, labels,
                                                                       fpir=FPIRS).tolist())),
        "calibrated": [],
    }
    searches = np.asarray(calibration_searches).reshape(-1, n_calibration)
    for target, threshold in zip(FPIRS, np.asarray(fpir_thresholds).tolist()):
        fnir, fpir = open_set_error_rates(truth, y_score, labels, threshold=threshold)
        row["calibrated"].append({"target": target, "threshold": threshold, "fpir": fpir,
                                  "false_alarms": round(fpir * n_non_mated), "dir": 1 - fnir,
                                  "n_searches_above": int((searches >= threshold).sum()),
                                  "n_photos_above": int((searches >= threshold).any(axis=1).sum())})
    pair_true, pair_score = _pairs(truth, pair_scores, labels)
    fmr, fnmr, _ = fmr_fnmr_curve(pair_true, pair_score)
    n_pairs = {"n_mated": int(pair_true.sum()), "n_non_mated": int((~pair_true).sum())}
    row["verification"] = {
        **n_pairs,
        "fnmr_at_fmr": {str(f): float(fnmr[np.flatnonzero(fmr <= f)[-1]]) for f in FMRS},
        "eer": _eer(fmr, fnmr),
        "calibrated": [],
    }
    for target, threshold in zip(FMRS, np.asarray(fmr_thresholds).tolist()):
        rates = verification_error_rates(pair_true, pair_score, threshold=threshold)
        row["verification"]["calibrated"].append({
            "target": target, "threshold": threshold, "fmr": rates[0], "fnmr": rates[1],
            "false_matches": round(rates[0] * n_pairs["n_non_mated"]),
            "false_non_matches": round(rates[1] * n_pairs["n_mated"])})
    return row


def _spread(values):
    values = np.asarray(values, dtype=np.float64)
    return {"mean": float(values.mean()), "min": float(values.min()), "max": float(values.max())}


def pool_splits(splits):
    """One condition and method over its splits (rows of :func:`evaluate_split`).

    Rank-1, DIR, the DIR at the calibrated thresholds, FNMR at FMR and the
    EER are means over the splits, with the smallest and largest split. The
    rates of the calibrated thresholds are pooled: all false alarms (false
    matches, false non-matches) of all splits over all their searches
    (pairs); each split keeps its own threshold. The per-split range of the
    achieved FPIR goes with it.
    """
    calibrated = []
    for i, target in enumerate(FPIRS):
        cells = [s["calibrated"][i] for s in splits]
        false_alarms, searches = sum(c["false_alarms"] for c in cells), sum(s["n_non_mated"] for s in splits)
        calibrated.append({
            "target": target, "false_alarms": false_alarms, "non_mated": searches, "fpir": false_alarms / searches,
            "fpir_split": _spread([c["fpir"] for c in cells]), "dir": _spread([c["dir"] for c in cells]),
            "n_photos_above": _spread([c["n_photos_above"] for c in cells]),
        })
    verification = [s["verification"] for s in splits]
    pairs = {kind: sum(v[kind] for v in verification) for kind in ("n_mated", "n_non_mated")}
    verification_calibrated = []
    for i, target in enumerate(FMRS):
        cells = [v["calibrated"][i] for v in verification]
        verification_calibrated.append({
            "target": target,
            "fmr": sum(c["false_matches"] for c in cells) / pairs["n_non_mated"],
            "fnmr": sum(c["false_non_matches"] for c in cells) / pairs["n_mated"],
            "fmr_split": _spread([c["fmr"] for c in cells]),
        })
    return {
        "n_splits": len(splits),
        "n_mated": [s["n_mated"] for s in splits], "n_non_mated": [s["n_non_mated"] for s in splits],
        "rank1": _spread([s["rank1"] for s in splits]),
        "dir": {str(f): _spread([s["dir"][str(f)] for s in splits]) for f in FPIRS},
        "calibrated": calibrated,
        "verification": {
            **pairs,
            "fnmr_at_fmr": {str(f): _spread([v["fnmr_at_fmr"][str(f)] for v in verification]) for f in FMRS},
            "eer": _spread([v["eer"] for v in verification]),
            "calibrated": verification_calibrated,
        },
    }


def evaluate(scores, n_calibration):
    """Tables of the open-set search and the verification, from :func:`compute_scores`'s arrays.

    One row per condition and method: :func:`pool_splits` of its splits, with
    the splits' own rows under ``"splits"``.
    """
    truth = scores["probe_subjects"]
    rows = []
    for condition in scores["conditions"].tolist():
        for method in METHODS:
            splits = []
            for split in range(len(scores["enrolled"])):
                key = _key(condition, method, split)
                if f"{key}|scores" not in scores:
                    break
                splits.append(evaluate_split(
                    truth, scores[f"{key}|scores"], scores[f"{method}|{split}|classes"],
                    fpir_thresholds=scores[f"{key}|fpir_thresholds"],
                    calibration_searches=scores[f"{key}|calibration_searches"], n_calibration=n_calibration,
                    pair_scores=scores[f"{key}|pair_scores"], fmr_thresholds=scores[f"{key}|fmr_thresholds"]))
            if splits:
                rows.append({"condition": condition, "method": method, **pool_splits(splits), "splits": splits})
    return rows


def _pairs(truth, pair_scores, labels):
    """Every probe against every enrolled subject: mated flags and scores, flattened."""
    same = truth[:, None] == np.asarray(labels)[None, :]
    return same.ravel(), np.asarray(pair_scores, dtype=np.float64).ravel()


def _eer(fmr, fnmr):
    i = int(np.argmin(np.abs(fmr - fnmr)))
    return float((fmr[i] + fnmr[i]) / 2)


def _range(spread, scale=1, digits=4):
    """``min–max`` of the splits, or one number where they agree to the digits shown."""
    low, high = (f"{scale * spread[k]:.{digits}f}" for k in ("min", "max"))
    return low if low == high else f"{low}–{high}"


def _mean_range(spread, scale=100, digits=1):
    """``mean (min–max)`` of the splits, or the mean alone where they agree to the digits shown."""
    mean, spread_text = f"{scale * spread['mean']:.{digits}f}", _range(spread, scale, digits)
    return mean if "–" not in spread_text else f"{mean} ({spread_text})"


def _dir_ratios(row, rows):
    """The full method's DIR at FPIR 0.1 over each baseline's: ratio of the means, and the splits' range."""
    if row["method"] != "full method":
        return ""
    texts = []
    for base in (r for r in rows if r["condition"] == row["condition"] and r["method"].startswith("baseline")):
        if base["dir"]["0.1"]["mean"] == 0:
            continue
        per_split = _range(_spread([s["dir"]["0.1"] / b["dir"]["0.1"] for s, b in zip(row["splits"], base["splits"])
                                    if b["dir"]["0.1"] > 0]), digits=2)
        spread = f" ({per_split})" if "–" in per_split else ""
        texts.append(f"{row['dir']['0.1']['mean'] / base['dir']['0.1']['mean']:.2f}×{spread} "
                     f"{base['method'].split(', ')[1]}")
    return " / ".join(texts)


def markdown(rows, settings):
    k = rows[0]["n_splits"]
    over = f"mean over {k} splits (smallest–largest split)" if k > 1 else "one split"
    lines = [
        f"Open-set search, {over}; DIR at each FPIR uses the threshold set on the real non-mated searches:", "",
        "| condition | method | rank-1 (%) | DIR @ FPIR 0.01 (%) | DIR @ FPIR 0.1 (%) | DIR @ FPIR 0.3 (%) "
        "| DIR @ 0.1 vs baseline |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(f"| {row['condition']} | {row['method']} | {_mean_range(row['rank1'])} | "
                     + " | ".join(_mean_range(row["dir"][str(f)]) for f in FPIRS) + f" | {_dir_ratios(row, rows)} |")
    lines += [
        "", "Thresholds calibrated from the enrolled gallery alone (per split), and what they give on the real "
        f"non-mated searches, pooled over {'the splits' if k > 1 else 'the split'}:", "",
        "| condition | method | target FPIR | false alarms / non-mated searches | pooled FPIR | pooled / target "
        "| FPIR per split | synthetic-search photos above | DIR (%) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        for c in row["calibrated"]:
            lines.append(f"| {row['condition']} | {row['method']} | {c['target']:g} | {c['false_alarms']} / "
                         f"{c['non_mated']} | {c['fpir']:.4f} | {c['fpir'] / c['target']:.2f} | "
                         f"{_range(c['fpir_split'])} | {_range(c['n_photos_above'], digits=0)} | "
                         f"{_mean_range(c['dir'])} |")
    lines += [
        "", f"1:1 verification, every probe against every enrolled photo; FNMR at FMR and EER: {over}; "
        "calibrated thresholds: FMR and FNMR pooled over all pairs:", "",
        "| condition | method | FNMR @ FMR 0.001 (%) | FNMR @ FMR 0.01 (%) | FNMR @ FMR 0.1 (%) | EER (%) "
        "| calibrated FMR 0.01 → achieved FMR, FNMR (%) | calibrated FMR 0.1 → achieved FMR, FNMR (%) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        v = row["verification"]
        cal = {c["target"]: c for c in v["calibrated"]}
        lines.append(f"| {row['condition']} | {row['method']} | "
                     + " | ".join(_mean_range(v["fnmr_at_fmr"][str(f)]) for f in FMRS)
                     + f" | {_mean_range(v['eer'])} | "
                     + " | ".join(f"{cal[f]['fmr']:.4f}, {100 * cal[f]['fnmr']:.1f}" for f in (0.01, 0.1)) + " |")
    s = settings
    first = rows[0]
    seeds = f"seed {s['seed']}" if k == 1 else f"seeds {s['seed']} to {s['seed'] + k - 1}"
    lines += ["", f"{s['n_enrolled']} of {s['n_subjects']} subjects enrolled per split ({seeds}; probes and "
              f"methods seeded {s['seed']} in every split); {first['n_mated'][0]} mated and "
              f"{first['n_non_mated'][0]} non-mated searches per condition and split; "
              f"{first['verification']['n_mated'] // k} mated and {first['verification']['n_non_mated'] // k} "
              f"non-mated pairs per split. Full method: make_mitm_pipeline's T_concat, mean-centred, scales "
              f"2/4/8, {s['chains']} degradation chains, {s['sigmas']} blur hypotheses"
              + (f", SR weights {s['sr_weights_file']}" if s.get("sr_weights_file") else "")
              + "; calibration: "
              f"{s['calibration_probes']} synthetic probes per gallery photo, synthesised at the condition's "
              "severity.", ""]
    return "\n".join(lines)


def _pooled_searches(scores, condition, method):
    """All splits' searches stacked as one: truth as the column of the true subject (-1: not enrolled).

    Every split enrols the same number of subjects, so the score matrices
    stack; a column index stands for whichever subject that split put there.
    """
    truth = scores["probe_subjects"]
    codes, y_score = [], []
    for split in range(len(scores["enrolled"])):
        labels = scores[f"{method}|{split}|classes"].tolist()
        column = {c: j for j, c in enumerate(labels)}
        codes.append([column.get(t, -1) for t in truth.tolist()])
        y_score.append(scores[f"{_key(condition, method, split)}|scores"])
    return np.concatenate(codes), np.concatenate(y_score), np.arange(len(labels))


def figures(scores, rows, out):
    """DIR–FPIR and DET/ROC curves of all splits' searches and pairs pooled (one threshold for all)."""
    truth = scores["probe_subjects"]
    conditions = scores["conditions"].tolist()
    fig = Figure(figsize=(5.5 * len(conditions), 4.2), dpi=110)
    vfig = Figure(figsize=(5.5 * len(conditions), 8.4), dpi=110)
    axes, vaxes = fig.subplots(1, len(conditions), squeeze=False)[0], vfig.subplots(2, len(conditions),
                                                                                     squeeze=False)
    for j, condition in enumerate(conditions):
        curves, pairs = {}, {}
        for method in (r["method"] for r in rows if r["condition"] == condition):
            fpir, dir_, _ = dir_fpir_curve(*_pooled_searches(scores, condition, method))
            curves[method] = (fpir, dir_)
            split_pairs = [_pairs(truth, scores[f"{_key(condition, method, split)}|pair_scores"],
                                  scores[f"{method}|{split}|classes"]) for split in range(len(scores["enrolled"]))]
            fmr, fnmr, _ = fmr_fnmr_curve(*map(np.concatenate, zip(*split_pairs)))
            pairs[method] = (fmr, fnmr)
        plot_dir_fpir(curves, ax=axes[j], title=f"Open-set search, LFW {condition}")
        plot_verification(pairs, kind="det", ax=vaxes[0, j], title=f"Verification DET, LFW {condition}")
        plot_verification(pairs, kind="roc", ax=vaxes[1, j], title=f"Verification ROC, LFW {condition}")
    fig.tight_layout()
    vfig.tight_layout()
    fig.savefig(out / "dir_fpir.png")
    vfig.savefig(out / "verification.png")


def _condition(text):
    severity, _, size = text.partition(":")
    if severity not in ("moderate", "harsh") or not size.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not SEVERITY:SIZE")
    return severity, int(size)


def _positive(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_options(parser)
    parser.add_argument("--out", default="reports/open-set")
    parser.add_argument("--conditions", nargs="+", type=_condition, default=[("moderate", 24), ("harsh", 24)])
    parser.add_argument("--chains", type=int, default=16, help="degradation chains per gallery image")
    parser.add_argument("--sigmas", type=int, default=4, help="blur hypotheses per probe and scale")
    parser.add_argument("--calibration-probes", type=int, default=4,
                        help="synthetic probes per gallery photo (calibrate_open_set's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--splits", type=_positive, default=5,
                        help="enrolled halves, drawn with seeds seed, seed+1, ... (1: the single-split protocol)")
    parser.add_argument("--subjects", type=int, help="only the first N subjects (quick runs)")
    parser.add_argument("--scores", help="a scores.npz of an earlier run: redo the tables and figures only")
    add_sr_weights_option(parser)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = {"chains": args.chains, "sigmas": args.sigmas, "calibration_probes": args.calibration_probes,
                "seed": args.seed, "splits": args.splits, "subjects": args.subjects, "sr_weights": args.sr_weights}
    if args.scores:
        with np.load(args.scores, allow_pickle=False) as stored:
            scores = dict(stored)
        settings = json.loads(str(scores.pop("settings")))
    else:
        started = time.perf_counter()

        def save(arrays):
            done = {**settings, "splits": len(arrays["enrolled"]), "seconds": round(time.perf_counter() - started)}
            tmp = out / "scores.tmp.npz"
            np.savez_compressed(tmp, settings=json.dumps(done), **arrays)
            tmp.replace(out / "scores.npz")
            print(f"{done['splits']} of {args.splits} splits done in {done['seconds']} s: {out / 'scores.npz'}",
                  flush=True)
            settings.update(done)

        scores = compute_scores(
            lfw=args.lfw or shared_path("data/lfw-deepfunneled"),
            model=str(args.model or shared_path("models/mobilefacenet.onnx")),
            conditions=args.conditions, n_chains=args.chains, sigmas=args.sigmas,
            n_calibration=args.calibration_probes, seed=args.seed, n_splits=args.splits, max_subjects=args.subjects,
            log=lambda m: print(m, flush=True), checkpoint=save, sr_weights=args.sr_weights)
    if "sr_weights" in scores:  # the weights file the full method used (absent from runs before the option)
        settings["sr_weights_file"] = str(scores.pop("sr_weights"))
    settings["n_subjects"] = len(np.unique(scores["probe_subjects"]))
    settings["n_enrolled"] = scores["enrolled"].shape[1]
    rows = evaluate(scores, settings["calibration_probes"])
    (out / "results.json").write_text(json.dumps({"settings": settings, "rows": rows}, indent=1) + "\n")
    (out / "open_set.md").write_text(markdown(rows, settings))
    figures(scores, rows, out)
    print(markdown(rows, settings))
    print(f"written: {out}/open_set.md, results.json, scores.npz, dir_fpir.png, verification.png")


if __name__ == "__main__":
    main()
