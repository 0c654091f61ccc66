"""Benchmark: start-up time of ``import clvml`` and ``clvml --help`` against ``import lifetimes``.

Each case runs in a fresh interpreter (``python -c ...``), the cases interleaved round by round
so machine load hits them alike; the table shows the best wall time of ``--repeat`` rounds, the
best CPU time (user + system of the child, steadier on a shared machine) and the ratio to
``import lifetimes`` in the same run. A bare ``python -c pass`` is timed too: it is the floor
every command pays. Target (issue 17): ``import clvml`` and ``clvml --help`` < 0.5 s.

Run: ``.venv/bin/python benchmarks/bench_startup.py [--repeat 7]``
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "python -c pass": "pass",
    "import clvml": "import clvml",
    "clvml --help": (
        "import contextlib, io\n"
        "from clvml.cli import run\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert run(['--help']) == 0\n"
    ),
    "import lifetimes": "import warnings; warnings.simplefilter('ignore'); import lifetimes",
}


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_once(code: str) -> tuple[float, float]:
    """Wall and CPU seconds of one fresh ``python -c code``."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cpu0, t0 = _child_cpu(), time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)
    return time.perf_counter() - t0, _child_cpu() - cpu0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    cases = dict(CASES)
    try:
        import importlib.util

        if importlib.util.find_spec("lifetimes") is None:
            del cases["import lifetimes"]
    except ValueError:
        del cases["import lifetimes"]
    best = {name: (float("inf"), float("inf")) for name in cases}
    for _ in range(args.repeat):
        for name, code in cases.items():
            wall, cpu = time_once(code)
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )
    peer = best.get("import lifetimes")
    print(f"{'case':<18} {'wall s':>7} {'CPU s':>7} {'lifetimes / this (wall)':>24}")
    for name, (wall, cpu) in best.items():
        ratio = f"{peer[0] / wall:.1f}x" if peer else "-"
        print(f"{name:<18} {wall:7.3f} {cpu:7.3f} {ratio:>24}")
    slow = [n for n in ("import clvml", "clvml --help") if best[n][1] >= 0.5]
    if slow:
        print(f"over the 0.5 s target (CPU): {', '.join(slow)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
