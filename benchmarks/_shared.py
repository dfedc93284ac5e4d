"""Where the benchmarks find their data and models: one helper, one variable, one default.

Benchmarks read LFW, ORL and the face networks from a folder outside the
repository, named by the environment variable ``SKMITM_SHARED``; without it,
the folder ``shared`` beside the repository root (``../shared`` seen from the
root). It must hold ``data/`` and ``models/``.
"""

import os
from pathlib import Path

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
