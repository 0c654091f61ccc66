"""Benchmark: ``clvml score`` end to end for N customers (features + prediction + CRM write).

Builds (untimed) a social-commerce data set of N customers with
``generate_social_commerce`` written as Parquet, and a served model: the composite
``CLVModel`` fitted by ``fit_clv_model`` on a sample of customers (default methods, the
champion's interval included: the delta method since issue 17), saved as the MLflow pyfunc model
``clvml train`` logs. Then it times ``score_customers`` — read, validate, features as of
the calibration end, chunked prediction, stage + upsert into the CRM table — into SQLite
and into PostgreSQL, twice per backend (first load, then the nightly re-run updating
every row).

    .venv/bin/python benchmarks/bench_score.py                         # 1M customers
    .venv/bin/python benchmarks/bench_score.py --customers 100000 --backend sqlite
    .venv/bin/python benchmarks/bench_score.py --data /tmp/social-1m   # reuse a data folder

Target (issue 8): 1M customers end to end in under 2 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pandas as pd
import sqlalchemy as sa

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def make_data(n: int, folder: Path, seed: int) -> pd.Timestamp:
    from clvml.data.synthetic import generate_social_commerce, write_dataset

    if (folder / "metadata.json").is_file():
        meta = json.loads((folder / "metadata.json").read_text())
        return pd.Timestamp(meta["calibration_end"])
    t = time.perf_counter()
    ds = generate_social_commerce(n, seed=seed, oracle=False)
    write_dataset(ds, folder, fmt="parquet", overwrite=True)
    print(f"data: {n:,} customers generated and written in {time.perf_counter() - t:.1f} s")
    return ds.calibration_end


def make_model(folder: Path, out: Path, cutoff: pd.Timestamp, sample: int, seed: int) -> Path:
    import mlflow

    from clvml.data.validation import (
        validate_customers,
        validate_engagement,
        validate_transactions,
    )
    from clvml.features.dataset import customer_features
    from clvml.models.composite import fit_clv_model
    from clvml.tracking.pyfunc import ARTIFACT_KEY, MODEL_CODE, input_example, model_signature

    t = time.perf_counter()
    cust = pd.read_parquet(folder / "customers.parquet")
    ids = set(cust["customer_id"].sample(min(sample, len(cust)), random_state=seed))
    tables = {}
    for name in ("transactions", "engagement"):
        frame = pd.read_parquet(folder / f"{name}.parquet")
        tables[name] = frame.loc[frame["customer_id"].isin(ids)]
    tx = validate_transactions(tables["transactions"])
    eng = validate_engagement(tables["engagement"])
    cu = validate_customers(cust.loc[cust["customer_id"].isin(ids)])
    model = fit_clv_model(tx, eng, cu, cutoff=cutoff - pd.Timedelta(days=1), horizon_weeks=52)
    X = customer_features(tx, eng, cu, cutoff=cutoff - pd.Timedelta(days=1))
    pkl = out.parent / "model.pkl"
    pkl.write_bytes(pickle.dumps(model, protocol=5))
    mlflow.pyfunc.save_model(
        str(out),
        python_model=str(MODEL_CODE),
        artifacts={ARTIFACT_KEY: str(pkl)},
        signature=model_signature(model, X),
        input_example=input_example(model, X),
        pip_requirements=["clvml"],
    )
    from clvml.tracking.integrity import write_manifest

    write_manifest(out)  # the digests `clvml export` records; scoring checks them
    print(
        f"model: fitted on {len(ids):,} customers in {time.perf_counter() - t:.1f} s; methods "
        f"{model.methods_}, champion {model.champion_}"
    )
    return out


def bench(
    model: Path, data: Path, url: str, table: str, as_of: str, label: str, workers: int
) -> None:
    from clvml.pipelines.score import score_customers

    for job in ("first load", "re-run"):
        load0 = os.getloadavg()[0]
        t, c = time.perf_counter(), time.process_time()
        res = score_customers(str(model), data, url, table=table, as_of=as_of, workers=workers)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        tm = res.timings
        write = sum(tm.get(k, 0.0) for k in ("validate", "stage", "upsert", "quarantine", "commit"))
        print(
            f"{label:10s} {job:10s} {wall:7.1f} s  {res.run.rows_written / wall:9,.0f} customers/s"
            f" | load_model {tm.get('load_model', 0):.1f} read {tm.get('read', 0):.1f} "
            f"validate_data {tm.get('validate_data', 0):.1f} features {tm.get('features', 0):.1f}"
            f" predict {tm.get('predict', 0):.1f} write {write:.1f} "
            f"({res.run.rows_written / max(write, 1e-9):,.0f} rows/s) | written "
            f"{res.run.rows_written:,} quarantined {res.run.rows_quarantined:,}",
            flush=True,
        )
        steps = " ".join(f"{k} {v:.2f}" for k, v in tm.items())
        print(
            f"{'':10s} {job:10s} CPU {cpu:.1f} s (this process), load average "
            f"{load0:.1f} -> {os.getloadavg()[0]:.1f} | every step: {steps}",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--data", type=Path, help="data folder (generated there if empty)")
    ap.add_argument("--sample", type=int, default=20_000, help="customers to fit the model on")
    ap.add_argument("--backend", choices=["both", "sqlite", "postgres"], default="both")
    ap.add_argument("--pg-url", default=PG_URL)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1, help="threads scoring chunks at once")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
        root = Path(tmp)
        data = args.data or root / "data"
        data.mkdir(parents=True, exist_ok=True)
        calibration_end = make_data(args.customers, data, args.seed)
        as_of = str((calibration_end - pd.Timedelta(days=1)).date())
        model = make_model(data, root / "model", calibration_end, args.sample, args.seed)
        load = os.getloadavg()
        print(
            f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; scoring as of {as_of}, "
            f"{args.workers} worker(s), OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}"
        )
        if args.backend in ("both", "sqlite"):
            bench(
                model,
                data,
                f"sqlite:///{root / 'crm.db'}",
                "customer_scores",
                as_of,
                "SQLite",
                args.workers,
            )
        if args.backend in ("both", "postgres"):
            table = f"bench_{uuid.uuid4().hex[:8]}"
            try:
                bench(model, data, args.pg_url, table, as_of, "PostgreSQL", args.workers)
            finally:
                engine = sa.create_engine(args.pg_url)
                with engine.begin() as conn:
                    for t in (table, f"{table}_quarantine"):
                        conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{t}"')
                    conn.exec_driver_sql(
                        "DELETE FROM clvml_score_runs WHERE table_name = %(t)s", {"t": table}
                    )
                engine.dispose()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        load = os.getloadavg()
        print(f"peak RSS {peak:.2f} GiB; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()
