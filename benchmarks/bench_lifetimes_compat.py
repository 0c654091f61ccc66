"""A lifetimes user's workflow timed on lifetimes and on clvml.compat.lifetimes (same run).

The workflow (the lifetimes quick start): a transaction log -> summary_data_from_transaction_data
(weekly) -> BetaGeoFitter.fit -> expected purchases in 13 weeks and P(alive) for every
customer -> GammaGammaFitter.fit -> 12-month customer_lifetime_value. The code is the same
for both libraries (the module is the only difference). Data: the CDNOW sample (2,357
customers, 6,919 purchases) and simulated BG/NBD logs of ``--customers`` customers over two
years with spend.

    python benchmarks/bench_lifetimes_compat.py --customers 20000 100000
"""

from __future__ import annotations

import argparse
import importlib
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from clvml.data.datasets import load_cdnow_sample
from clvml.data.simulate import simulate_bgnbd


def workflow(lib: Any, utils: Any, log: pd.DataFrame) -> dict[str, float]:
    """Seconds per step of the quick start with module ``lib`` (lifetimes or the compat)."""
    times: dict[str, float] = {}

    def step(name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        out = fn()
        times[name] = time.perf_counter() - start
        return out

    summary = step(
        "summary",
        lambda: utils.summary_data_from_transaction_data(
            log, "customer_id", "date", monetary_value_col="amount", freq="W"
        ),
    )
    f, r, T = summary["frequency"], summary["recency"], summary["T"]
    bgf = step("bgnbd fit", lambda: lib.BetaGeoFitter().fit(f, r, T))
    step(
        "predict 13w + P(alive)",
        lambda: (
            bgf.conditional_expected_number_of_purchases_up_to_time(13, f, r, T),
            bgf.conditional_probability_alive(f, r, T),
        ),
    )
    repeat = summary[summary["frequency"] > 0]
    ggf = step(
        "gamma-gamma fit",
        lambda: lib.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"]),
    )
    step(
        "12-month CLV",
        lambda: ggf.customer_lifetime_value(
            bgf, repeat["frequency"], repeat["recency"], repeat["T"], repeat["monetary_value"],
            time=12, freq="W",
        ),
    )  # fmt: skip
    times["total"] = sum(times.values())
    return times


def simulated_log(n: int, seed: int = 1) -> pd.DataFrame:
    """BG/NBD purchases of ``n`` customers joining over a year, observed to day 730."""
    rng = np.random.default_rng(seed)
    start_day = rng.integers(0, 365, n)
    sim = simulate_bgnbd(
        n, 0.243, 4.414 / 7, 0.793, 2.426, 730.0 - start_day, seed, transactions=True
    )
    assert sim.transactions is not None
    tx = sim.transactions
    ids = tx["customer_id"].to_numpy()
    day = np.floor(start_day[ids] + tx["t"].to_numpy()).astype("int64")
    date = pd.Timestamp("2020-01-01") + pd.to_timedelta(day, unit="D")
    amount = np.round(rng.gamma(6.0, 5.0, len(tx)), 2)
    return pd.DataFrame({"customer_id": ids, "date": date, "amount": amount})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, nargs="*", default=[20_000])
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        libs = {
            name: (importlib.import_module(mod), importlib.import_module(f"{mod}.utils"))
            for name, mod in (("lifetimes", "lifetimes"), ("clvml", "clvml.compat.lifetimes"))
        }
    cdnow = load_cdnow_sample().rename(columns={"timestamp": "date"})
    data = {"CDNOW sample (2,357 customers)": cdnow}
    for n in args.customers:
        data[f"simulated, {n:,} customers"] = simulated_log(n)
    for label, log in data.items():
        print(f"\n{label}: {len(log):,} transactions")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = {name: workflow(lib, utils, log) for name, (lib, utils) in libs.items()}
        print(f"{'step':24} {'lifetimes s':>12} {'clvml s':>10} {'ratio':>8}")
        for key in results["clvml"]:
            theirs, ours = results["lifetimes"][key], results["clvml"][key]
            print(f"{key:24} {theirs:12.3f} {ours:10.3f} {theirs / ours:7.1f}x")


if __name__ == "__main__":
    main()
