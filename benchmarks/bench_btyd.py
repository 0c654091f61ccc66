"""Benchmark: clvml's BTYD fits and predictions against lifetimes, in one run.

Data sets (all in weeks):

* ``cdnow``: the published 39-week CDNOW calibration summary (2,357 customers);
* ``sim100k`` and ``sim1M``: customers simulated from BG/NBD with the CDNOW parameters
  (``clvml.data.simulate.simulate_bgnbd``), ages uniform over 1..52 whole weeks (a year of
  weekly cohorts), recency reported in whole weeks (rounded up, as a weekly summary
  would), mean spend of the repeat purchases from Gamma-Gamma with the published
  parameters, rounded to cents.

For every data set the script fits BG/NBD and Gamma-Gamma (and Pareto/NBD when
``clvml.models.btyd.pareto_nbd`` exists) with clvml (best of ``--repeat`` runs, the
whole ``fit`` from the DataFrame: validation, compression, optimisation, Hessian) and
with lifetimes (one run), prints both times and their ratio, and checks that the
parameters agree (max relative difference, must be < ``--rtol``). On the largest data set
it also times the conditional expectation (next 39 weeks) plus P(alive) for every
customer. The exit status is 1 if any parameter check fails.

Run: ``.venv/bin/python benchmarks/bench_btyd.py [--sizes 100k 1M] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from clvml.data.datasets import load_cdnow_summary
from clvml.data.simulate import simulate_bgnbd, simulate_gamma_gamma
from clvml.models.btyd import BetaGeo, GammaGamma

warnings.simplefilter("ignore")  # lifetimes' deprecation noise; clvml warnings are tested
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter  # noqa: E402

BG_TRUTH = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
GG_TRUTH = {"p": 6.25, "q": 3.74, "v": 15.44}
SIZES = {"100k": 100_000, "1M": 1_000_000}


def simulate(n: int, seed: int = 0) -> pd.DataFrame:
    """Weekly RFM summary of ``n`` simulated customers (see the module docstring)."""
    rng = np.random.default_rng(seed)
    ages = rng.integers(1, 53, size=n).astype(float)
    summary = simulate_bgnbd(n, **BG_TRUTH, T=ages, seed=rng).summary
    recency = np.minimum(np.ceil(summary["recency"].to_numpy()), ages)
    spend = simulate_gamma_gamma(summary["frequency"].to_numpy(), **GG_TRUTH, seed=rng).summary
    return pd.DataFrame(
        {
            "frequency": summary["frequency"].to_numpy(),
            "recency": recency,
            "T": ages,
            "monetary_value": np.round(spend["monetary_value"].to_numpy(), 2),
        }
    )


def best_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def max_rel(ours: dict[str, float], theirs: pd.Series) -> float:
    return max(abs(ours[k] / float(theirs[k]) - 1) for k in ours)


def loglik_gap(ours: Any, theirs: Any, data: pd.DataFrame) -> float:
    """Total log-likelihood at clvml's estimate minus that at lifetimes' (same data)."""
    names = list(ours._param_names)
    rows = data[data["frequency"] > 0] if "v" in ours.params_ else data
    cols = [rows[c].to_numpy(dtype=float) for c in ours._data_columns]
    at_theirs = np.array([float(theirs.params_[k]) for k in names])
    ll_theirs = float(np.sum(type(ours)._loglik(at_theirs, *cols)))
    return ours.log_likelihood_ - ll_theirs


def pareto_model() -> Any | None:
    if importlib.util.find_spec("clvml.models.btyd.pareto_nbd") is None:
        return None
    from clvml.models.btyd import pareto_nbd

    return getattr(pareto_nbd, "ParetoNBD", None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", default=["100k", "1M"], choices=list(SIZES))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument(
        "--lifetimes-pareto-max",
        type=int,
        default=100_000,
        help="largest data set on which lifetimes' (slow) Pareto/NBD fit is run",
    )
    args = parser.parse_args(argv)

    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average at start {os.getloadavg()}"
    )
    datasets = {"cdnow": load_cdnow_summary(with_spend=True)}
    for name in args.sizes:
        datasets[f"sim{name}"] = simulate(SIZES[name])
    ParetoNBD = pareto_model()
    failures = []
    rows = []

    for name, data in datasets.items():
        f, r, T = data["frequency"], data["recency"], data["T"]
        rep = data[data["frequency"] > 0]
        n_distinct = len(data[["frequency", "recency", "T"]].drop_duplicates())
        print(f"\n== {name}: {len(data):,} customers, {n_distinct:,} distinct (x, t_x, T)")

        models = [
            (
                "BG/NBD",
                lambda d=data: BetaGeo().fit(d),
                lambda f=f, r=r, T=T: BetaGeoFitter().fit(f, r, T),
                True,
            ),
            (
                "Gamma-Gamma",
                lambda d=data: GammaGamma().fit(d),
                lambda rep=rep: GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"]),
                True,
            ),
        ]
        if ParetoNBD is not None:
            models.append(
                (
                    "Pareto/NBD",
                    lambda d=data: ParetoNBD().fit(d),
                    lambda f=f, r=r, T=T: ParetoNBDFitter().fit(f, r, T),
                    len(data) <= args.lifetimes_pareto_max,
                )
            )
        for label, ours_fn, theirs_fn, run_theirs in models:
            t_ours, ours = best_time(ours_fn, args.repeat)
            if run_theirs:
                t_theirs, theirs = best_time(theirs_fn, 1)
                diff = max_rel(ours.params_, theirs.params_)
                ok = diff < args.rtol
                if not ok:
                    # who found the better optimum? total log-likelihood at both estimates
                    gap = loglik_gap(ours, theirs, data)
                    failures.append(
                        f"{name} {label}: max relative difference {diff:.2e}; "
                        f"LL(clvml) - LL(lifetimes) = {gap:+.2e}"
                    )
                ratio = t_theirs / t_ours
                print(
                    f"{label:12s} clvml {t_ours:8.3f} s   lifetimes {t_theirs:8.3f} s   "
                    f"x{ratio:7.1f}   params max rel diff {diff:.1e} {'ok' if ok else 'FAIL'}"
                )
            else:
                t_theirs, ratio, diff = np.nan, np.nan, np.nan
                print(f"{label:12s} clvml {t_ours:8.3f} s   lifetimes (skipped, slow)")
            rows.append((name, label, len(data), t_ours, t_theirs, ratio, diff))
            print(f"{'':12s} clvml params { ({k: round(v, 4) for k, v in ours.params_.items()}) }")

    # predictions for every customer of the largest data set, at the same parameters
    name, data = list(datasets.items())[-1]
    bg = BetaGeo().fit(data)
    ref = BetaGeoFitter()
    ref.params_ = pd.Series(bg.params_)[["r", "alpha", "a", "b"]]
    f, r, T = data["frequency"], data["recency"], data["T"]

    def ours_predict():
        return bg.expected_purchases(data, 39.0), bg.probability_alive(data)

    def theirs_predict():
        return (
            ref.conditional_expected_number_of_purchases_up_to_time(39.0, f, r, T),
            ref.conditional_probability_alive(f, r, T),
        )

    t_ours, (e1, p1) = best_time(ours_predict, args.repeat)
    t_theirs, (e2, p2) = best_time(theirs_predict, args.repeat)
    agree = np.allclose(e1.to_numpy(), np.asarray(e2), rtol=1e-6) and np.allclose(
        p1.to_numpy(), np.asarray(p2), rtol=1e-6, atol=1e-12
    )
    if not agree:
        failures.append("predictions differ from lifetimes beyond 1e-6")
    print(f"\n== predictions on {name} ({len(data):,} customers): E[X(39) | history] + P(alive)")
    print(
        f"clvml {t_ours:.3f} s   lifetimes {t_theirs:.3f} s   x{t_theirs / t_ours:.1f}   "
        f"agree to 1e-6: {agree}"
    )
    print(f"\nload average at end {os.getloadavg()}")
    table = pd.DataFrame(
        rows,
        columns=["data", "model", "customers", "clvml_s", "lifetimes_s", "speedup", "rel_diff"],
    )
    print("\n" + table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    for msg in failures:
        print("FAIL:", msg)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
