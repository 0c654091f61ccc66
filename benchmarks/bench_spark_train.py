"""Benchmark: ``clvml train --engine spark`` against ``--engine local`` on generated data.

Generates a seeded social-commerce world (``--customers``, with engagement events and texts)
with ``clvml generate``'s writer (Parquet + metadata), then trains three times in this
process, each into its own MLflow store:

* ``local``: the single-machine engine on every customer;
* ``spark, every customer``: the Spark engine with ``sample_customers`` >= customers (the
  same computation as ``local`` plus Spark's reading, validation and full-data BTYD fits):
  its BTYD parameters and holdout Gini must equal ``local``'s (exit status 1 otherwise);
* ``spark, sample``: the Spark engine with ``--sample`` customers on the driver.

Printed per run: wall time (session start excluded, timed apart), the time of each
pipeline step, the holdout Gini of the served model and the BTYD parameters. The 1-minute
load average before and after is printed: on a shared machine wall times are indicative.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_spark_train.py --customers 20000``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--sample", type=int, default=None, help="default: customers / 4")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    # PySpark's Python workers warn about pandas >= 3 on every batch (docs/scaling.md)
    os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import logging

    logging.getLogger("mlflow").setLevel(logging.ERROR)

    from clvml.data.synthetic import generate_social_commerce, write_dataset
    from clvml.pipelines.train import train as local_train
    from clvml.spark.session import get_spark
    from clvml.spark.train import train as spark_train

    sample = args.sample or max(100, args.customers // 4)
    print(f"load average before: {_load()}")
    with tempfile.TemporaryDirectory(prefix="clvml-bench-train-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        world = generate_social_commerce(args.customers, seed=args.seed)
        write_dataset(world, root / "data", fmt="parquet")
        sizes = {k: len(getattr(world, k)) for k in ("transactions", "engagement", "customers")}
        print(
            f"generated {args.customers:,} customers in {time.perf_counter() - t:.1f} s: "
            + ", ".join(f"{k} {v:,} rows" for k, v in sizes.items())
        )
        del world
        t = time.perf_counter()
        spark = get_spark(args.master, app_name="clvml-bench-train")
        print(f"Spark {spark.version} {args.master} session start: {time.perf_counter() - t:.1f} s")

        runs = {}
        jobs = {
            "local": lambda **kw: local_train(**kw),
            "spark, every customer": lambda **kw: spark_train(
                spark=spark, sample_customers=max(args.customers, 100), **kw
            ),
            f"spark, sample {sample:,}": lambda **kw: spark_train(
                spark=spark, sample_customers=sample, **kw
            ),
        }
        for i, (name, job) in enumerate(jobs.items()):
            where = root / f"run{i}"
            where.mkdir()
            t = time.perf_counter()
            result = job(
                data=str(root / "data"),
                workdir=where,
                tracking_uri=f"sqlite:///{where}/mlruns.db",
                seed=args.seed,
            )
            took = time.perf_counter() - t
            runs[name] = (took, result)
            steps = ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
            print(f"\n{name}: {took:.1f} s  ({steps})")
            print(f"  holdout normalized_gini {result.holdout['normalized_gini']:.4f}")
            params = result.model.btyd_params_.items()
            print(f"  BTYD {', '.join(f'{k}={v:.6g}' for k, v in params)}")
        spark.stop()
    print(f"\nload average after: {_load()}")

    (t_local, local), (t_full, full) = runs["local"], runs["spark, every customer"]
    t_sample = runs[f"spark, sample {sample:,}"][0]
    print(
        f"\nspark (every customer) / local: {t_full / t_local:.2f}x; "
        f"spark (sample {sample:,}) / local: {t_sample / t_local:.2f}x"
    )
    ok = all(
        np.isclose(full.model.btyd_params_[k], v, rtol=1e-6)
        for k, v in local.model.btyd_params_.items()
    ) and np.isclose(full.holdout["normalized_gini"], local.holdout["normalized_gini"], rtol=1e-6)
    sampled = runs[f"spark, sample {sample:,}"][1]
    ok &= all(
        np.isclose(sampled.model.btyd_params_[k], v, rtol=1e-6)
        for k, v in local.model.btyd_params_.items()
    )
    print("parity (BTYD parameters and Gini, every customer; BTYD on the sample run):", ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
