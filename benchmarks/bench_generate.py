"""Benchmark: the synthetic social-commerce generator at scale.

Runs :func:`clvml.data.synthetic.generate_social_commerce` for ``--customers`` customers
(default one million) in a fresh subprocess per size, then writes the tables with
:func:`clvml.data.synthetic.write_dataset` (Parquet unless ``--format csv``) to a temporary
directory. Reports the wall time of generation and of writing, the rows of each table, the size
on disk and the peak resident memory of the process (``ru_maxrss``, which includes the Python
interpreter and the imported libraries). Targets (issue 5): one million customers with about
ten million transactions and events in under 2 minutes and under 8 GiB.

Run: ``.venv/bin/python benchmarks/bench_generate.py [--customers 1000000 100000] [--seed 0]
[--format parquet|csv] [--repeat 1]``
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _one(n: int, seed: int, fmt: str, repeat: int) -> dict[str, object]:
    from clvml.data.synthetic import TABLES, generate_social_commerce, write_dataset

    best_gen = best_write = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        ds = generate_social_commerce(n, seed, oracle=False)  # the oracle: ~1 ms/customer
        best_gen = min(best_gen, time.perf_counter() - began)
        with tempfile.TemporaryDirectory() as tmp:
            began = time.perf_counter()
            out = write_dataset(ds, Path(tmp) / "social", fmt=fmt)
            best_write = min(best_write, time.perf_counter() - began)
            disk = sum(p.stat().st_size for p in out.iterdir())
    rows = {name: len(getattr(ds, name)) for name in TABLES}
    return {
        "customers": n,
        "generate_s": round(best_gen, 2),
        "write_s": round(best_write, 2),
        "total_s": round(best_gen + best_write, 2),
        "rows": rows,
        "transactions_plus_events": rows["transactions"] + rows["engagement"],
        "disk_mb": round(disk / 2**20, 1),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "format": fmt,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_one(args.customers[0], args.seed, args.format, args.repeat)))
        return
    print(f"python {platform.python_version()} on {platform.machine()}, seed {args.seed}")
    for n in args.customers:
        cmd = [sys.executable, __file__, "--child", "--customers", str(n), "--seed",
               str(args.seed), "--format", args.format, "--repeat", str(args.repeat)]  # fmt: skip
        res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        ok = res["total_s"] < 120 and res["peak_rss_gib"] < 8
        print(
            f"{n:>10,} customers: generate {res['generate_s']:.1f} s + write "
            f"{res['write_s']:.1f} s = {res['total_s']:.1f} s, "
            f"{res['transactions_plus_events']:,} transactions+events, "
            f"peak RSS {res['peak_rss_gib']:.2f} GiB, {res['disk_mb']:.0f} MB on disk "
            f"({res['format']}); target <120 s and <8 GiB: {'met' if ok else 'MISSED'}"
        )
        print("   rows:", ", ".join(f"{k} {v:,}" for k, v in res["rows"].items()))


if __name__ == "__main__":
    main()
