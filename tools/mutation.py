"""Mutation testing of skmitm's core modules with mutmut; prints the kill rate per module.

    python tools/mutation.py                      # every core module
    python tools/mutation.py metrics degradation  # some of them
    python tools/mutation.py --fresh metrics      # forget earlier results first
    python tools/mutation.py --report --show      # the table from the last runs, with each survivor

Each module runs in its own scratch copy of the repository under
``build/mutation/<module>/`` (ignored by git), against only the test files
listed for it below; mutmut then runs, for each mutant, the tests among those
that call the mutated function. Results are kept there, so a rerun only tests
mutants whose function changed. Mutants run under ``nice`` with one worker per
CPU unless ``--workers`` says otherwise. Needs ``pip install -e ".[mutation]"``.

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
    "identification": ("skmitm/_identification.py", None, ["tests/test_identification.py"]),
    "metrics": ("skmitm/metrics.py", None, ["tests/test_metrics.py"]),
    "model_selection": ("skmitm/_model_selection.py", None, ["tests/test_model_selection.py"]),
    "degradation": ("skmitm/_degradation.py", None, ["tests/test_degradation.py"]),
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


def _prepare(name, fresh):
    source, _, tests = MODULES[name]
    work = SCRATCH / name
    if fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    # The copy is refreshed on every run; mutmut's own results under mutants/ are kept.
    shutil.rmtree(work / "skmitm", ignore_errors=True)
    shutil.rmtree(work / "tests", ignore_errors=True)
    shutil.rmtree(work / "mutants" / "skmitm", ignore_errors=True)
    shutil.rmtree(work / "mutants" / "tests", ignore_errors=True)
    shutil.copytree(REPO / "skmitm", work / "skmitm", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "tests", work / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    config = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    config += (
        "\n[tool.mutmut]\n"
        'source_paths = ["skmitm"]\n'
        f"only_mutate = [{json.dumps(source)}]\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]\n'
        'process_isolation = "fork"\n'
        "use_git_change_detection = false\n"
    )
    (work / "pyproject.toml").write_text(config, encoding="utf-8")
    return work


def _run(name, workers, fresh):
    work = _prepare(name, fresh)
    _, patterns, _ = MODULES[name]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env.setdefault("SKMITM_SHARED", str(REPO.parent / "shared"))
    command = ["nice", "-n", "10", sys.executable, "-m", "mutmut", "run", "--max-children", str(workers)]
    command += patterns or []
    started = time.perf_counter()
    with open(work / "mutmut.log", "w", encoding="utf-8") as log:
        code = subprocess.call(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    print(f"{name}: mutmut exited {code} after {seconds:.0f} s (log: {work / 'mutmut.log'})", flush=True)
    return seconds


def _results(name):
    source, patterns, _ = MODULES[name]
    meta = SCRATCH / name / "mutants" / (source + ".meta")
    if not meta.exists():
        return None
    codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    from mutmut.stats import status_by_exit_code

    out = {}
    for key, code in codes.items():
        if patterns is None or any(fnmatch(key, p) for p in patterns):
            out[key] = status_by_exit_code[code]
    return out


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
    parser.add_argument("--fresh", action="store_true", help="forget earlier results of these modules")
    parser.add_argument("--report", action="store_true", help="only print the table from earlier runs")
    parser.add_argument("--show", action="store_true", help="print each mutant that was not killed")
    args = parser.parse_args(argv)
    names = args.modules or list(MODULES)
    seconds = {}
    if not args.report:
        for name in names:
            seconds[name] = _run(name, args.workers, args.fresh)
    _report(names, seconds, args.show)


if __name__ == "__main__":
    main()
