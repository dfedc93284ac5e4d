"""Where the benchmarks find their data: the folder named by ``SKMITM_SHARED`` (default ``../shared``)."""

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]


def shared_path(relative):
    """Path of ``relative`` under the shared data folder; a clear error if it is absent."""
    root = Path(os.environ.get("SKMITM_SHARED", _REPO.parent / "shared"))
    path = root / relative
    if not path.exists():
        raise FileNotFoundError(f"{str(path)!r} does not exist: set SKMITM_SHARED to the folder holding {relative}")
    return path
