"""Benchmark: the nightly cost of the score history and the alerts (PostgreSQL and SQLite).

Each backend gets a fresh schema/file and three nightly runs of N customers a week apart.
Between runs every customer's churn probability moves by a normal step (sd 0.05) and the
value tiers follow the CLV ranks (top 1%, top 10%, next 40%, rest), so the alerts raised are
a realistic few per cent, not a flood. Reported per run: the wall time of the write phases
the run records (``upsert``, ``history``) and of the alert step (read the previous run,
evaluate the rules, store the alerts), the alerts raised, and the CPU time of the whole run.

    .venv/bin/python benchmarks/bench_alerts.py                   # 1M customers, both backends
    .venv/bin/python benchmarks/bench_alerts.py --rows 100000 --backend sqlite
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from clvml.alerts.job import AlertStep
from clvml.alerts.rules import AlertRules
from clvml.scoring.crm import CRMSink

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DAYS = ("2026-11-01", "2026-11-08", "2026-11-15")


def nightly_scores(n: int, seed: int = 0) -> list[pd.DataFrame]:
    """Three runs of N customers whose churn probability drifts between runs."""
    rng = np.random.default_rng(seed)
    ids = np.char.add("c", np.char.zfill(np.arange(n).astype(str), 8)).astype(object)
    clv = rng.gamma(2.0, 50.0, n)
    churn = rng.beta(2.0, 5.0, n)
    runs = []
    for _ in DAYS:
        clv = clv * rng.lognormal(0.0, 0.1, n)
        churn = np.clip(churn + rng.normal(0.0, 0.05, n), 0.0, 1.0)
        rank = (-clv).argsort().argsort() / n
        tier = np.select(
            [rank < 0.01, rank < 0.10, rank < 0.50], ["top 1%", "top 10%", "next 40%"], "rest"
        )
        runs.append(
            pd.DataFrame(
                {
                    "customer_id": ids,
                    "clv": clv,
                    "p_alive": 1 - churn,
                    "churn_probability": churn,
                    "segment": "Grow",
                    "value_tier": tier,
                }
            )
        )
    return runs


class TimedStep(AlertStep):
    """The alert step, timed."""

    seconds = 0.0

    def __call__(self, conn, run) -> None:  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        super().__call__(conn, run)
        self.seconds = time.perf_counter() - t


def bench(url: str, runs: list[pd.DataFrame], schema: str | None) -> None:
    with CRMSink(url, schema=schema) as sink:
        for day, scores in zip(DAYS, runs, strict=True):
            step = TimedStep(AlertRules(), {})
            cpu = time.process_time()
            with sink.run(model_name="bench", model_version="1", as_of=day) as run:
                run.in_transaction.append(step)
                res = run.write(scores)
            ph = res.timings
            print(
                f"  {day}: upsert {ph['upsert']:.2f} s, history {ph['history']:.2f} s, "
                f"alerts {step.seconds:.2f} s ({step.raised:,} raised), "
                f"run CPU {time.process_time() - cpu:.2f} s"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["postgres", "sqlite", "both"], default="both")
    args = parser.parse_args()
    runs = nightly_scores(args.rows)
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            print(f"SQLite, {args.rows:,} customers")
            bench(f"sqlite:///{Path(tmp) / 'crm.db'}", runs, None)
    if args.backend in ("postgres", "both"):
        schema = f"bench_alerts_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        try:
            print(f"PostgreSQL, {args.rows:,} customers")
            bench(PG_URL, runs, schema)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()


if __name__ == "__main__":
    main()
