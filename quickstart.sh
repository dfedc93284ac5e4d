#!/usr/bin/env bash
# Set up skmitm in ./.venv, then run the main job or the tests.
#
#   bash quickstart.sh benchmark   # public LFW benchmark, baseline and full method -> reports/public-benchmark/report.md
#   bash quickstart.sh test        # the default test suite (long benchmarks excluded)
#   bash quickstart.sh slow        # the long tests marked slow
#   bash quickstart.sh docs        # build the documentation -> docs/_build/html (warnings are errors)
#
# SKMITM_SHARED points at the folder with data/ and models/ (default: ../shared).
set -euo pipefail
cd "$(dirname "$0")"
shared=${SKMITM_SHARED:-../shared}
# Absolute, so that tests and snippets running in other folders still find it.
[[ -d "$shared" ]] && shared=$(cd "$shared" && pwd)
python=${PYTHON:-python3}

setup() {
    [[ -x .venv/bin/python ]] || "$python" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
    # torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
    .venv/bin/python -m pip install -q torch==2.13.0
    .venv/bin/python -m pip install -q -e ".[${1:-test,dask}]"
}

case "${1:-}" in
    benchmark)
        setup
        .venv/bin/skmitm benchmark --lfw "$shared/data/lfw-deepfunneled" \
            --model "$shared/models/mobilefacenet.onnx" --out reports/public-benchmark
        ;;
    test)
        # The docs extra too: the suite builds the documentation (warnings are errors).
        setup test,dask,docs
        SKMITM_SHARED="$shared" .venv/bin/python -m pytest -m "not slow" --doctest-modules skmitm tests
        ;;
    slow)
        setup test,dask,docs
        SKMITM_SHARED="$shared" .venv/bin/python -m pytest -m slow tests
        ;;
    docs)
        setup
        .venv/bin/python -m pip install -q -e ".[docs]"
        .venv/bin/python -m sphinx -W --keep-going -b html docs docs/_build/html
        echo "docs/_build/html/index.html"
        ;;
    *)
        echo "usage: bash quickstart.sh {benchmark|test|slow|docs}" >&2
        exit 2
        ;;
esac
