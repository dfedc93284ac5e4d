"""Mutation testing of skmitm's core modules with mutmut; prints the kill rate per module.

    python tools/mutation.py                      # every core module
    python tools/mutation.py metrics degradation  # some of them
    python tools/mutation.py --survivors metrics  # recheck only the mutants the last run left alive
    python tools/mutation.py --report --show      # the table from the last runs, with each survivor

Each module runs in its own fresh scratch copy of the repository under
``build/mutation/<module>/`` (ignored by git), against only the test files
listed for it below; mutmut then runs, for each mutant, the tests among those
that call the mutated function. The verdicts are kept in
``build/mutation/<module>/results.json``; ``--survivors`` reruns only the
mutants not killed there, against the current tests, and updates it. Mutants
run under ``nice`` with one worker per CPU unless ``--workers`` says
otherwise. Needs ``pip install -e ".[mutation]"``.

A mutant counts as killed when a test fails, or when it times out or crashes
the test process (the tests noticed it). Survivors and mutants that no
selected test reaches are listed, so that each one can be explained or killed;
docs/developers.md lists the current ones.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from fnmatch import fnmatch
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRATCH = REPO / "build" / "mutation"

#: module label -> (source file, mutant-name patterns or None for the whole file, test files)
MODULES = {
    "identification": (
        "skmitm/_identification.py", None, ["tests/test_identification.py", "tests/test_template_dtype.py",
                                          "tests/test_compact_gallery.py"]
    ),
    "metrics": ("skmitm/metrics.py", None, ["tests/test_metrics.py"]),
    "open_set_metrics": ("skmitm/_open_set_metrics.py", None, ["tests/test_open_set_metrics.py"]),
    "model_selection": ("skmitm/_model_selection.py", None, ["tests/test_model_selection.py"]),
    "degradation": ("skmitm/_degradation.py", None, ["tests/test_degradation.py"]),
    "adapter": ("skmitm/_adapter.py", None, ["tests/test_adapter.py", "tests/test_adapter_pipeline.py"]),
    "open_set": ("skmitm/_open_set.py", None, ["tests/test_open_set.py"]),
    "probe_synthesis": ("skmitm/datasets.py", ["skmitm.datasets.x_degrade_probe__mutmut_*"], ["tests/test_datasets.py"]),
    "template_cache_key": (
        "skmitm/_templates.py",
        [
            "skmitm._templates.xǁ_TemplateCacheǁ__init____mutmut_*",
            "skmitm._templates.xǁ_TemplateCacheǁkey__mutmut_*",
            "skmitm._templates.xǁ_TemplateCacheǁrecipe_key__mutmut_*",
            "skmitm._templates.xǁTemplateExtractorǁ_cache__mutmut_*",
        ],
        ["tests/test_templates.py"],
    ),
}

_KILLED = {"killed", "timeout", "segfault", "caught by type check"}


def _prepare(name):
    source, _, tests = MODULES[name]
    work = SCRATCH / name
    kept = work / "results.json"
    results = kept.read_text(encoding="utf-8") if kept.exists() else None
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if results is not None:
        kept.write_text(results, encoding="utf-8")
    shutil.copytree(REPO / "skmitm", work / "skmitm", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "tests", work / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    # Some tests import a benchmark module (tests/conftest.py's benchmark()) from the root folder.
    shutil.copytree(REPO / "benchmarks", work / "benchmarks", ignore=shutil.ignore_patterns("__pycache__"))
    config = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    config += (
        "\n[tool.mutmut]\n"
        'source_paths = ["skmitm"]\n'
        f"only_mutate = [{json.dumps(source)}]\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]\n'
        # Forked straight from the process that collected the tests: several times faster than a
        # fork server here, and safe with OMP_NUM_THREADS=1 (no thread pool to inherit).
        'process_isolation = "fork"\n'
        "use_git_change_detection = false\n"
        'also_copy = ["benchmarks"]\n'
    )
    (work / "pyproject.toml").write_text(config, encoding="utf-8")
    return work


def _run(name, workers, only=None):
    work = _prepare(name)
    _, patterns, _ = MODULES[name]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env.setdefault("SKMITM_SHARED", str(REPO.parent / "shared"))
    command = ["nice", "-n", "10", sys.executable, "-m", "mutmut", "run", "--max-children", str(workers)]
    command += only if only is not None else patterns or []
    started = time.perf_counter()
    with open(work / "mutmut.log", "w", encoding="utf-8") as log:
        code = subprocess.call(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    print(f"{name}: mutmut exited {code} after {seconds:.0f} s (log: {work / 'mutmut.log'})", flush=True)
    _keep(name, only)
    return seconds


def _keep(name, only):
    """Store the run's verdicts in results.json: all of them, or over the old ones for the rechecked mutants."""
    source, patterns, _ = MODULES[name]
    meta = SCRATCH / name / "mutants" / (source + ".meta")
    if not meta.exists():
        return
    from mutmut.stats import status_by_exit_code

    codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    wanted = set(only) if only is not None else None
    verdicts = {
        key: status_by_exit_code[code]
        for key, code in codes.items()
        if (wanted is None and (patterns is None or any(fnmatch(key, p) for p in patterns)))
        or (wanted is not None and key in wanted and code is not None)  # a recheck cut short keeps old verdicts
    }
    kept = SCRATCH / name / "results.json"
    if only is not None:
        verdicts = {**_results(name), **verdicts}
    kept.write_text(json.dumps(verdicts, indent=1, sort_keys=True), encoding="utf-8")


def _results(name):
    kept = SCRATCH / name / "results.json"
    return json.loads(kept.read_text(encoding="utf-8")) if kept.exists() else None


def _diff(name, mutant):
    """The changed lines of one mutant, as mutmut shows them."""
    shown = subprocess.run([sys.executable, "-m", "mutmut", "show", mutant], cwd=SCRATCH / name,
                           capture_output=True, text=True).stdout
    return [line for line in shown.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]


def _report(names, seconds, show=False):
    print(f"\n{'module':<20} {'mutants':>8} {'checked':>8} {'killed':>7} {'rate':>7} {'survived':>9} {'no tests':>9} "
          f"{'time':>8}")
    lines = []
    for name in names:
        results = _results(name)
        if not results:
            print(f"{name:<20} {'(not run)':>8}")
            continue
        # A run cut short leaves mutants "not checked": the rate is over the checked ones.
        checked = {k: s for k, s in results.items() if s != "not checked"}
        killed = sum(s in _KILLED for s in checked.values())
        survived = [k for k, s in checked.items() if s == "survived"]
        untested = [k for k, s in checked.items() if s == "no tests"]
        other = [k for k, s in checked.items() if s not in _KILLED and s not in ("survived", "no tests")]
        took = f"{seconds[name]:.0f} s" if name in seconds else ""
        rate = f"{100 * killed / len(checked):.1f}%" if checked else "-"
        print(
            f"{name:<20} {len(results):>8} {len(checked):>8} {killed:>7} {rate:>7} "
            f"{len(survived):>9} {len(untested):>9} {took:>8}"
        )
        for status, keys in (("survived", survived), ("no tests", untested), ("other", other)):
            for key in sorted(keys):
                lines.append(f"  {status:<9} {key}" + (f" ({checked[key]})" if status == "other" else ""))
                if show:
                    lines += [f"      {line}" for line in _diff(name, key)]
    if lines:
        print("\nNot killed (see `python -m mutmut show NAME` in build/mutation/<module>):")
        print("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", choices=[[], *MODULES], metavar="MODULE", help=", ".join(MODULES))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="mutants run at once")
    parser.add_argument("--survivors", action="store_true", help="recheck only the mutants the last run left alive")
    parser.add_argument("--report", action="store_true", help="only print the table from earlier runs")
    parser.add_argument("--show", action="store_true", help="print each mutant that was not killed")
    args = parser.parse_args(argv)
    names = args.modules or list(MODULES)
    seconds = {}
    if not args.report:
        for name in names:
            only = None
            if args.survivors and _results(name):
                only = sorted(k for k, v in _results(name).items() if v not in _KILLED)
                if not only:
                    continue
            seconds[name] = _run(name, args.workers, only)
    _report(names, seconds, args.show)


if __name__ == "__main__":
    main()
