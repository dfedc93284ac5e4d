"""Open-set search and 1:1 verification on the public LFW cross-resolution benchmark.

Protocol: the people of LFW with at least five images (423) are split in two
with a seed; one half is enrolled (each person's first image, high
resolution). Every synthetic low-resolution probe of all of them (images 2–5,
1,692) is searched: probes of enrolled people are mated searches, the others
non-mated. For each probe condition and method it reports

- rank-1 of the mated searches, and DIR (detection and identification rate)
  at FPIR 0.01, 0.1 and 0.3, each threshold set on the real non-mated
  searches (the evaluation's own operating points);
- the thresholds calibrated from the enrolled gallery alone
  (``calibrate_open_set``: synthetic probes of the gallery photos searched
  without their own subject) and the FPIR they give on the real non-mated
  searches;
- 1:1 verification of every probe against every enrolled photo (mated pairs:
  the probe's own subject): FNMR at FMR 0.001, 0.01 and 0.1, and the FMR of the
  calibrated thresholds. Pairs are scored as ``skmitm.verify`` scores them.

It writes ``open_set.md`` (tables), ``results.json``, ``scores.npz`` (all
scores, so ``--scores`` redoes the tables and figures without the face
networks), ``dir_fpir.png`` and ``verification.png`` into ``--out``.

Run: ``python benchmarks/open_set.py --out reports/open-set`` (LFW and the
face network from ``SKMITM_SHARED``, or ``--lfw`` and ``--model``).
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

from _shared import add_data_options, shared_path

FPIRS = (0.01, 0.1, 0.3)
FMRS = (0.001, 0.01, 0.1)
METHODS = ("baseline, pearson", "baseline, mean-centred", "full method")


def _pipelines(model, *, probe_size, n_chains, sigmas, seed):
    """The three methods; make_mitm_pipeline's defaults except the reduced chain and blur counts.

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
                                          sigmas=sigmas, probe_means="batch", random_state=seed),
    }


def compute_scores(*, lfw, model, conditions, n_chains, sigmas, n_calibration, seed, max_subjects=None, log=print):
    """Every score the tables need, as a flat dict of arrays (the contents of ``scores.npz``)."""
    data = load_lfw_folder(lfw, min_images_per_subject=5, max_images_per_subject=5)
    if max_subjects is not None:
        keep = np.isin(data.subjects, np.unique(data.subjects)[:max_subjects])
        data.images = [im for im, k in zip(data.images, keep) if k]
        data.subjects = data.subjects[keep]
    subjects = np.unique(data.subjects)
    enrolled = np.sort(np.random.default_rng(seed).permutation(subjects)[: len(subjects) // 2])
    sizes = sorted({size for _, size in conditions})
    if len(sizes) != 1:
        raise ValueError(f"conditions of one probe size only, got sizes {sizes}")
    benches = {f"{sev} {size} px": make_cross_resolution_benchmark(data, probe_size=size, severity=sev,
                                                                    random_state=seed)
               for sev, size in conditions}
    first = next(iter(benches.values()))
    in_gallery = np.isin(first.gallery_subjects, enrolled)
    gallery = [im for im, k in zip(first.gallery_images, in_gallery) if k]
    gallery_subjects = first.gallery_subjects[in_gallery]
    out = {"enrolled": enrolled, "probe_subjects": first.probe_subjects}
    for method, pipe in _pipelines(model, probe_size=sizes[0], n_chains=n_chains, sigmas=sigmas,
                                   seed=seed).items():
        start = time.perf_counter()
        pipe.fit(gallery, gallery_subjects)
        log(f"{method}: enrolled {len(gallery)} subjects in {time.perf_counter() - start:.0f} s")
        identifier = pipe[-1]
        for (severity, size), (condition, bench) in zip(conditions, benches.items()):
            start = time.perf_counter()
            templates = pipe[:-1].transform(bench.probe_images)
            key = f"{condition}|{method}"
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
            log(f"  {condition}: {len(templates)} probes in {probe_seconds:.0f} s, calibration "
                f"({len(cal.search_scores[size])} synthetic searches) in "
                f"{time.perf_counter() - start - probe_seconds:.0f} s")
        out[f"{method}|classes"] = identifier.classes_
    out["conditions"] = np.array(list(benches))
    return out


def evaluate(scores, n_calibration):
    """Tables of the open-set search and the verification, from :func:`compute_scores`'s arrays."""
    truth = scores["probe_subjects"]
    rows = []
    for condition in scores["conditions"].tolist():
        for method in METHODS:
            key = f"{condition}|{method}"
            if f"{key}|scores" not in scores:
                continue
            y_score, labels = scores[f"{key}|scores"], scores[f"{method}|classes"]
            mated = np.isin(truth, labels)
            row = {
                "condition": condition, "method": method,
                "n_mated": int(mated.sum()), "n_non_mated": int((~mated).sum()),
                "rank1": rank_k_identification_rate(truth[mated], y_score[mated], labels),
                "dir": dict(zip(map(str, FPIRS), detection_identification_rate(truth, y_score, labels,
                                                                               fpir=FPIRS).tolist())),
                "calibrated": [],
                "verification": {},
            }
            # Synthetic searches in photo order, n_calibration per photo: how many photos the threshold rests on.
            searches = scores[f"{key}|calibration_searches"].reshape(-1, n_calibration)
            for target, threshold in zip(FPIRS, scores[f"{key}|fpir_thresholds"].tolist()):
                fnir, fpir = open_set_error_rates(truth, y_score, labels, threshold=threshold)
                row["calibrated"].append({"target": target, "threshold": threshold, "fpir": fpir, "dir": 1 - fnir,
                                          "n_searches_above": int((searches >= threshold).sum()),
                                          "n_photos_above": int((searches >= threshold).any(axis=1).sum())})
            pair_true, pair_score = _pairs(truth, scores[f"{key}|pair_scores"], labels)
            fmr, fnmr, _ = fmr_fnmr_curve(pair_true, pair_score)
            row["verification"] = {
                "n_mated": int(pair_true.sum()), "n_non_mated": int((~pair_true).sum()),
                "fnmr_at_fmr": {str(f): float(fnmr[np.flatnonzero(fmr <= f)[-1]]) for f in FMRS},
                "eer": _eer(fmr, fnmr),
                "calibrated": [dict(zip(("target", "threshold", "fmr", "fnmr"), (f, t, *verification_error_rates(
                    pair_true, pair_score, threshold=t)))) for f, t in zip(FMRS, scores[f"{key}|fmr_thresholds"])],
            }
            rows.append(row)
    return rows


def _pairs(truth, pair_scores, labels):
    """Every probe against every enrolled subject: mated flags and scores, flattened."""
    same = truth[:, None] == np.asarray(labels)[None, :]
    return same.ravel(), np.asarray(pair_scores, dtype=np.float64).ravel()


def _eer(fmr, fnmr):
    i = int(np.argmin(np.abs(fmr - fnmr)))
    return float((fmr[i] + fnmr[i]) / 2)


def markdown(rows, settings):
    lines = [
        "| condition | method | rank-1 (%) | DIR @ FPIR 0.01 (%) | DIR @ FPIR 0.1 (%) | DIR @ FPIR 0.3 (%) "
        "| DIR @ 0.1 vs baseline |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        bases = [r for r in rows if r["condition"] == row["condition"] and r["method"].startswith("baseline")]
        ratio = " / ".join(f"{row['dir']['0.1'] / b['dir']['0.1']:.2f}× {b['method'].split(', ')[1]}" for b in bases
                           if b["dir"]["0.1"] > 0) if row["method"] == "full method" else ""
        lines.append(f"| {row['condition']} | {row['method']} | {100 * row['rank1']:.1f} | "
                     + " | ".join(f"{100 * row['dir'][str(f)]:.1f}" for f in FPIRS) + f" | {ratio} |")
    lines += [
        "", "Thresholds calibrated from the enrolled gallery alone, and what they give on the real non-mated "
        "searches:", "",
        "| condition | method | target FPIR | synthetic searches (photos) above | achieved FPIR | achieved / target "
        "| DIR (%) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        for c in row["calibrated"]:
            lines.append(f"| {row['condition']} | {row['method']} | {c['target']:g} | {c['n_searches_above']} "
                         f"({c['n_photos_above']}) | {c['fpir']:.4f} | {c['fpir'] / c['target']:.2f} | "
                         f"{100 * c['dir']:.1f} |")
    lines += [
        "", "1:1 verification, every probe against every enrolled photo:", "",
        "| condition | method | FNMR @ FMR 0.001 (%) | FNMR @ FMR 0.01 (%) | FNMR @ FMR 0.1 (%) | EER (%) "
        "| calibrated FMR 0.01 → achieved FMR, FNMR (%) | calibrated FMR 0.1 → achieved FMR, FNMR (%) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        v = row["verification"]
        cal = {c["target"]: c for c in v["calibrated"]}
        lines.append(f"| {row['condition']} | {row['method']} | "
                     + " | ".join(f"{100 * v['fnmr_at_fmr'][str(f)]:.1f}" for f in FMRS)
                     + f" | {100 * v['eer']:.1f} | "
                     + " | ".join(f"{cal[f]['fmr']:.4f}, {100 * cal[f]['fnmr']:.1f}" for f in (0.01, 0.1)) + " |")
    s = settings
    lines += ["", f"{s['n_enrolled']} of {s['n_subjects']} subjects enrolled (seed {s['seed']}); "
              f"{rows[0]['n_mated']} mated and {rows[0]['n_non_mated']} non-mated searches per condition; "
              f"{rows[0]['verification']['n_mated']} mated and {rows[0]['verification']['n_non_mated']} non-mated "
              f"pairs. Full method: make_mitm_pipeline's T_concat, mean-centred, scales 2/4/8, {s['chains']} "
              f"degradation chains, {s['sigmas']} blur hypotheses; calibration: {s['calibration_probes']} synthetic "
              "probes per gallery photo, synthesised at the condition's severity.", ""]
    return "\n".join(lines)


def figures(scores, rows, out):
    truth = scores["probe_subjects"]
    conditions = scores["conditions"].tolist()
    fig = Figure(figsize=(5.5 * len(conditions), 4.2), dpi=110)
    vfig = Figure(figsize=(5.5 * len(conditions), 8.4), dpi=110)
    axes, vaxes = fig.subplots(1, len(conditions), squeeze=False)[0], vfig.subplots(2, len(conditions),
                                                                                     squeeze=False)
    for j, condition in enumerate(conditions):
        curves, pairs = {}, {}
        for method in METHODS:
            key = f"{condition}|{method}"
            if f"{key}|scores" not in scores:
                continue
            labels = scores[f"{method}|classes"]
            fpir, dir_, _ = dir_fpir_curve(truth, scores[f"{key}|scores"], labels)
            curves[method] = (fpir, dir_)
            fmr, fnmr, _ = fmr_fnmr_curve(*_pairs(truth, scores[f"{key}|pair_scores"], labels))
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
    parser.add_argument("--subjects", type=int, help="only the first N subjects (quick runs)")
    parser.add_argument("--scores", help="a scores.npz of an earlier run: redo the tables and figures only")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = {"chains": args.chains, "sigmas": args.sigmas, "calibration_probes": args.calibration_probes,
                "seed": args.seed, "subjects": args.subjects}
    if args.scores:
        with np.load(args.scores, allow_pickle=False) as stored:
            scores = dict(stored)
        settings = json.loads(str(scores.pop("settings")))
    else:
        started = time.perf_counter()
        scores = compute_scores(
            lfw=args.lfw or shared_path("data/lfw-deepfunneled"),
            model=str(args.model or shared_path("models/mobilefacenet.onnx")),
            conditions=args.conditions, n_chains=args.chains, sigmas=args.sigmas,
            n_calibration=args.calibration_probes, seed=args.seed, max_subjects=args.subjects,
            log=lambda m: print(m, flush=True))
        settings["seconds"] = round(time.perf_counter() - started)
        tmp = out / "scores.tmp.npz"
        np.savez_compressed(tmp, settings=json.dumps(settings), **scores)
        tmp.replace(out / "scores.npz")
    settings["n_subjects"] = len(np.unique(scores["probe_subjects"]))
    settings["n_enrolled"] = len(scores["enrolled"])
    rows = evaluate(scores, settings["calibration_probes"])
    (out / "results.json").write_text(json.dumps({"settings": settings, "rows": rows}, indent=1) + "\n")
    (out / "open_set.md").write_text(markdown(rows, settings))
    figures(scores, rows, out)
    print(markdown(rows, settings))
    print(f"written: {out}/open_set.md, results.json, scores.npz, dir_fpir.png, verification.png")


if __name__ == "__main__":
    main()
