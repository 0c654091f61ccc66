"""Benchmark: local Spark against the single-machine path on a transaction log.

Generates the seeded log of ``bench_rfm.py`` (``--n`` transactions, one customer per ten,
string IDs ``"C00000042"``, two years), writes it to Parquet once, then times, in this
process:

* single machine: read the Parquet file with pandas, ``clvml.features.rfm.rfm_summary``
  (weeks measured in days: ``freq="D", freq_multiplier=7``, with the monetary value),
  ``BetaGeo().fit`` and ``GammaGamma().fit``;
* local Spark (``--master``, default ``local[2]``): session start, then
  ``clvml.spark.rfm.rfm_summary`` on ``spark.read.parquet`` followed by
  ``clvml.spark.fit.fit_btyd`` and ``fit_gamma_gamma`` (Spark groups the distinct rows,
  the driver fits the compressed table), with the number of rows collected.

The fitted parameters of both paths are compared (rtol 1e-6; exit status 1 if they
differ). The 1-minute load average before and after is printed: on a shared machine the
wall times are only indicative; CPU time of the driver process is printed too (Spark's
work happens in the JVM and Python workers, so it is not comparable across paths).

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_spark.py --n 10M``
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def _make_transactions(n: int) -> pd.DataFrame:
    spec = importlib.util.spec_from_file_location("bench_rfm", HERE / "bench_rfm.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_transactions(n, "str")


def _size(text: str) -> int:
    text = text.upper()
    mult = {"K": 10**3, "M": 10**6, "B": 10**9}.get(text[-1], 1)
    return int(float(text.rstrip("KMB")) * mult)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="10M", help="transactions (e.g. 1M, 10M)")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--partitions", type=int, default=8, help="shuffle partitions")
    parser.add_argument("--driver-memory", default="4g")
    args = parser.parse_args(argv)
    n = _size(args.n)
    from clvml.exceptions import ConvergenceWarning
    from clvml.features.rfm import RowsExcludedWarning, rfm_summary
    from clvml.models.btyd import BetaGeo, GammaGamma

    end = "2023-09-30"
    kw = dict(freq="D", freq_multiplier=7, observation_period_end=end, monetary_value_col="amount")
    warnings.simplefilter("ignore", RowsExcludedWarning)
    warnings.simplefilter("ignore", ConvergenceWarning)  # (a, b) unidentified: see below
    warnings.simplefilter("ignore", RuntimeWarning)  # overflow of their interval bounds
    warnings.simplefilter("ignore", FutureWarning)  # pyspark: pandas >= 3 "not fully supported"
    print(f"load average (1, 5, 15 min) at start: {_load()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tx.parquet"
        tx = _make_transactions(n)
        tx.to_parquet(path, index=False, row_group_size=1_000_000)
        n_customers = tx["customer_id"].nunique()
        del tx
        print(f"{n:,} transactions, {n_customers:,} customers", flush=True)

        t0, c0 = time.perf_counter(), time.process_time()
        tx = pd.read_parquet(path)
        t_read = time.perf_counter() - t0
        # customers whose first purchase is on the end day have T = 0: no BTYD information
        summary = rfm_summary(tx, **kw)
        summary = summary[summary["T"] > 0]
        t_rfm = time.perf_counter() - t0 - t_read
        bg = BetaGeo().fit(summary)
        gg = GammaGamma().fit(summary[summary["monetary_value"] > 0])
        t_pd = time.perf_counter() - t0
        c_pd = time.process_time() - c0
        print(
            f"single machine: read {t_read:.1f} s, rfm_summary {t_rfm:.1f} s, "
            f"fits {t_pd - t_read - t_rfm:.1f} s, total {t_pd:.1f} s (CPU {c_pd:.1f} s); "
            f"load {_load()}",
            flush=True,
        )
        del tx

        from pyspark.sql import functions as F

        from clvml.spark.fit import compress_summary, fit_btyd, fit_gamma_gamma
        from clvml.spark.rfm import rfm_summary as spark_rfm
        from clvml.spark.session import get_spark

        t0 = time.perf_counter()
        spark = get_spark(
            args.master,
            app_name="clvml-bench",
            shuffle_partitions=args.partitions,
            config={"spark.driver.memory": args.driver_memory},
        )
        t_start = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), time.process_time()
        s_summary = spark_rfm(spark.read.parquet(str(path)), **kw)
        s_summary = s_summary.where(F.col("T") > 0).persist()
        s_summary.count()
        t_srfm = time.perf_counter() - t0
        n_rows = len(compress_summary(s_summary))
        s_bg = fit_btyd(BetaGeo(), s_summary)
        s_gg = fit_gamma_gamma(GammaGamma(), s_summary.where(F.col("monetary_value") > 0))
        t_sp = time.perf_counter() - t0
        c_sp = time.process_time() - c0
        print(
            f"local Spark {args.master}, {args.partitions} shuffle partitions: session start "
            f"{t_start:.1f} s, read + rfm_summary {t_srfm:.1f} s, compress + fits "
            f"{t_sp - t_srfm:.1f} s ({n_rows:,} distinct (x, t_x, T) rows collected), total "
            f"{t_sp:.1f} s (driver CPU {c_sp:.1f} s); load {_load()}",
            flush=True,
        )
        # The generated log has no dropout and no spend heterogeneity, so BG/NBD's (a, b)
        # and Gamma-Gamma's (q, v) sit on flat ridges (a -> 0, b, q, v -> inf) where the
        # parameters are not identified: compare the maximised log-likelihoods. The tests
        # compare parameters on CDNOW, where they are identified.
        ok = True
        for name, a, b in (("BG/NBD", bg, s_bg), ("Gamma-Gamma", gg, s_gg)):
            same = bool(np.isclose(b.log_likelihood_, a.log_likelihood_, rtol=1e-9, atol=0))
            ok &= same
            print(f"{name} log-likelihood {a.log_likelihood_:.6f} vs {b.log_likelihood_:.6f}")
        print(f"maximised log-likelihoods equal (rtol 1e-9): {ok}")
        print(
            f"speed ratio Spark / single machine (wall, without session start): {t_sp / t_pd:.1f}x"
        )
        spark.stop()
    print(f"load average at end: {_load()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
