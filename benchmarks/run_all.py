"""Run every benchmark at its issue's target size, one after the other (``make bench``).

Each benchmark times clvml against the alternative a user would pick (``lifetimes``) or
against its target in the same run, prints its table and exits non-zero when results
disagree. ``--quick`` runs small sizes (a smoke run for CI); the full run takes several
minutes on a 2-core machine and is the one recorded in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

FULL = {
    "bench_rfm.py": ["--sizes", "1M", "10M", "--repeat", "3"],
    "bench_btyd.py": ["--parts", "bgnbd", "pareto", "scaling", "freq10k"],
    "bench_alive.py": ["--customers", "1000000", "--repeat", "3"],
    "bench_features.py": ["--customers", "1000000", "--events", "10000000"],
    "bench_generate.py": ["--customers", "1000000"],
    "bench_crm.py": ["--rows", "1000000"],
    "bench_score.py": ["--customers", "1000000", "--backend", "both"],
    "bench_spark.py": ["--n", "10M", "--partitions", "8"],
    "bench_spark_train.py": ["--customers", "50000"],
}
QUICK = {
    "bench_rfm.py": ["--sizes", "100k", "--repeat", "1"],
    "bench_btyd.py": ["--parts", "bgnbd", "pareto", "--n", "20000", "--pareto-sizes", "2000"],
    "bench_alive.py": ["--customers", "20000", "--repeat", "1"],
    "bench_features.py": ["--customers", "20000", "--events", "200000"],
    "bench_generate.py": ["--customers", "20000"],
    "bench_crm.py": ["--rows", "20000"],
    "bench_score.py": ["--customers", "20000", "--sample", "5000", "--backend", "sqlite"],
    "bench_spark.py": ["--n", "200k", "--partitions", "4"],
    "bench_spark_train.py": ["--customers", "2000", "--sample", "500"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--only", nargs="*", help="run only these scripts (e.g. bench_rfm.py)")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    extra = sorted(p.name for p in HERE.glob("bench_*.py") if p.name not in plan)
    failed = []
    for script in [*plan, *extra]:
        if args.only and script not in args.only:
            continue
        cmd = [sys.executable, str(HERE / script), *plan.get(script, [])]
        print(f"\n=== {' '.join(cmd[1:])}", flush=True)
        start = time.perf_counter()
        rc = subprocess.call(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        print(f"=== {script}: exit {rc} in {time.perf_counter() - start:.1f} s", flush=True)
        if rc:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
