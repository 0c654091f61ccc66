"""Run lifetimes' own test suite against clvml.compat.lifetimes and against lifetimes.

Usage::

    python tools/run_lifetimes_suite.py PATH_TO_LIFETIMES_CHECKOUT [--workers 2]

lifetimes' tests (``tests/test_estimation.py``, ``test_utils.py``, ``test_plotting.py``,
``test_generate_data.py`` and their ``conftest.py``) are third-party code: they are read
from the checkout, never stored in this repository. For each run they are copied to a
temporary folder with only their import lines changed:

* for clvml, ``lifetimes`` becomes ``clvml.compat.lifetimes`` in every ``import`` /
  ``from ... import`` line;
* for both runs, ``from pandas.util.testing import`` becomes ``from pandas.testing
  import`` (pandas 2 removed the old module; without it test_utils.py does not import).

The tests read data files by the relative path ``lifetimes/datasets/...``; the
temporary folder links that path to the checkout's data. The baseline run imports
lifetimes from the checkout (``PYTHONPATH``). The script prints, per file and in total,
how many tests pass on lifetimes, how many of those pass on clvml (the target is 95%),
the tests that pass on clvml only, and each test that passes on lifetimes but not on
clvml. Exit status 0 when the target is met.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

TEST_FILES = ("test_estimation.py", "test_utils.py", "test_plotting.py", "test_generate_data.py")
TARGET = 0.95
_IMPORT = re.compile(r"^(\s*)(from|import)(\s+)lifetimes(\b.*)$")
_OLD_PANDAS = "from pandas.util.testing import"


def rewrite(source: str, to_clvml: bool) -> str:
    """``source`` with only its import lines changed (see the module docstring)."""
    out = []
    for line in source.splitlines(keepends=True):
        new = line.replace(_OLD_PANDAS, "from pandas.testing import")
        if to_clvml:
            new = _IMPORT.sub(r"\1\2\3clvml.compat.lifetimes\4", new)
        if new != line and not new.lstrip().startswith(("import ", "from ")):
            raise AssertionError(f"only import lines may change: {line!r}")
        out.append(new)
    return "".join(out)


def prepare(checkout: Path, folder: Path, to_clvml: bool) -> None:
    """Copy the suite into ``folder``, imports rewritten, data reachable."""
    for name in (*TEST_FILES, "conftest.py"):
        text = (checkout / "tests" / name).read_text(encoding="utf-8")
        (folder / name).write_text(rewrite(text, to_clvml), encoding="utf-8")
    (folder / "pytest.ini").write_text("[pytest]\nmarkers =\n    plottest: a plot\n")
    (folder / "lifetimes").mkdir()
    os.symlink(checkout / "lifetimes" / "datasets", folder / "lifetimes" / "datasets")


def run(checkout: Path, to_clvml: bool, workers: int) -> tuple[dict[str, str], float]:
    """Outcome (passed/failed/error/skipped) of every test, and the wall time."""
    with tempfile.TemporaryDirectory(prefix="lifetimes-suite-") as tmp:
        folder = Path(tmp)
        prepare(checkout, folder, to_clvml)
        env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1")
        repo = Path(__file__).resolve().parents[1]
        env["PYTHONPATH"] = str(repo) if to_clvml else str(checkout)
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        cmd += ["--junitxml", str(folder / "report.xml"), *TEST_FILES]
        if workers > 1:
            cmd += ["-n", str(workers)]
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - start
        report = folder / "report.xml"
        outcomes = _outcomes(report) if report.is_file() else {}
        if len(outcomes) < 10:  # collection failed: show why
            print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
        return outcomes, elapsed


def _outcomes(report: Path) -> dict[str, str]:
    outcomes: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")[0]
        klass = ".".join(case.get("classname", "").split(".")[1:])
        name = "::".join(p for p in (f"{module}.py", klass, case.get("name", "")) if p)
        kinds = {child.tag for child in case}
        if kinds & {"failure"}:
            outcomes[name] = "failed"
        elif kinds & {"error"}:
            outcomes[name] = "error"
        elif kinds & {"skipped"}:
            outcomes[name] = "skipped"
        else:
            outcomes[name] = "passed"
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkout", type=Path, help="a git checkout of lifetimes")
    parser.add_argument("--workers", type=int, default=2, help="pytest-xdist workers")
    args = parser.parse_args(argv)
    checkout = args.checkout.resolve()
    if not (checkout / "tests" / TEST_FILES[0]).is_file():
        parser.error(f"{checkout} is not a lifetimes checkout (no tests/{TEST_FILES[0]})")
    if shutil.which("git") and (checkout / ".git").exists():
        head = subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        print(f"lifetimes checkout {checkout} at {head}")
    theirs, t_theirs = run(checkout, to_clvml=False, workers=args.workers)
    ours, t_ours = run(checkout, to_clvml=True, workers=args.workers)
    baseline = {k for k, v in theirs.items() if v == "passed"}
    kept = {k for k in baseline if ours.get(k) == "passed"}
    print(f"{'file':24} {'tests':>5} {'pass lifetimes':>14} {'pass clvml':>10} {'of those':>8}")
    for name in TEST_FILES:
        in_file = [k for k in theirs if k.startswith(name)]
        base = [k for k in in_file if k in baseline]
        both = [k for k in base if k in kept]
        mine = [k for k in in_file if ours.get(k) == "passed"]
        print(f"{name:24} {len(in_file):5d} {len(base):14d} {len(mine):10d} {len(both):8d}")
    mine_all = sum(v == "passed" for v in ours.values())
    share = len(kept) / len(baseline) if baseline else 0.0
    print(f"{'total':24} {len(theirs):5d} {len(baseline):14d} {mine_all:10d} {len(kept):8d}")
    print(
        f"passing on lifetimes that pass on clvml: {len(kept)}/{len(baseline)} = {share:.1%}"
        f" (target {TARGET:.0%})"
    )
    print(f"wall time: lifetimes {t_theirs:.1f} s, clvml {t_ours:.1f} s")
    only_ours = sorted(k for k, v in ours.items() if v == "passed" and k not in baseline)
    if only_ours:
        print(f"pass on clvml only ({len(only_ours)}):")
        for k in only_ours:
            print(f"  {k}  (lifetimes: {theirs.get(k, 'absent')})")
    lost = sorted(baseline - kept)
    if lost:
        print(f"pass on lifetimes, not on clvml ({len(lost)}):")
        for k in lost:
            print(f"  {k}  (clvml: {ours.get(k, 'absent')})")
    return 0 if share >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
