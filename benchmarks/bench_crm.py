"""Benchmark: write N customer scores into the CRM table (PostgreSQL and SQLite).

Each backend gets a fresh table and two jobs of N rows: the first inserts every
customer (empty table), the second updates every customer (the nightly case).
Rows per second are N divided by the wall time of ``CRMSink.write`` (validation,
staging, upsert, quarantine, run bookkeeping and commit included).

    .venv/bin/python benchmarks/bench_crm.py                  # 1M rows, both backends
    .venv/bin/python benchmarks/bench_crm.py --rows 100000 --backend sqlite
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from clvml.scoring.crm import CRMSink

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def make_scores(n: int, seed: int) -> pd.DataFrame:
    """N valid score rows; ids in random order, as a scoring job would produce them."""
    rng = np.random.default_rng(seed)
    ids = np.char.add("c", np.char.zfill(rng.permutation(n).astype(str), 8)).astype(object)
    clv = rng.gamma(2.0, 50.0, n)
    return pd.DataFrame(
        {
            "customer_id": ids,
            "clv": clv,
            "clv_lower": clv * 0.6,
            "clv_upper": clv * 1.5,
            "p_alive": rng.random(n),
            "churn_probability": rng.random(n),
            "expected_purchases": rng.gamma(1.0, 2.0, n),
            "expected_avg_spend": rng.gamma(3.0, 20.0, n),
            "segment": rng.choice(["champions", "loyal", "at_risk", "hibernating"], n),
            "value_tier": rng.choice(["top_1", "top_10", "next_40", "rest"], n),
        }
    )


def bench(sink: CRMSink, n: int) -> list[dict[str, object]]:
    rows = []
    for job, seed in (("insert (empty table)", 1), ("update (all rows exist)", 2)):
        scores = make_scores(n, seed)
        t = time.perf_counter()
        res = sink.write(scores, model_name="bench", model_version=str(seed), as_of="2026-11-23")
        wall = time.perf_counter() - t
        assert res.rows_written == n
        rows.append(
            {
                "backend": sink.url.get_backend_name(),
                "job": job,
                "rows": n,
                "seconds": round(wall, 2),
                "rows_per_s": round(n / wall),
                **{k: round(v, 2) for k, v in res.timings.items()},
            }
        )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--backend", choices=["postgres", "sqlite", "both"], default="both")
    p.add_argument("--pg-url", default=os.environ.get("CLVML_BENCH_PG_URL", PG_URL))
    args = p.parse_args()
    results: list[dict[str, object]] = []
    if args.backend in ("postgres", "both"):
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        try:
            with CRMSink(args.pg_url, schema=schema) as sink:
                results += bench(sink, args.rows)
        finally:
            with admin.connect() as c:
                c.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as d, CRMSink(f"sqlite:///{Path(d) / 'crm.db'}") as s:
            results += bench(s, args.rows)
    frame = pd.DataFrame(results)
    print(f"load average: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs")
    print(frame.to_markdown(index=False) if _has_tabulate() else frame.to_string(index=False))


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
