"""Benchmark: clvml's BTYD fits against weighted lifetimes, in one run, on the data users have.

Each peer at its best: lifetimes is given the distinct (x, t_x, T) rows and their counts
(the one-line ``groupby(...).size()`` weights idiom), which is what makes it fast on data
that compress. Data shapes (ages up to a year, in weeks):

* ``week``: ages and recency in whole weeks (compresses to ~15k distinct rows at 1M);
* ``day``: ages and recency in days, expressed in weeks (days/7);
* ``continuous``: continuous times (nothing repeats).

Parts (``--parts``):

* ``bgnbd``: BG/NBD and MBG/NBD at ``--n`` customers (default 1M) simulated from BG/NBD
  with the CDNOW parameters, every shape;
* ``pareto``: Pareto/NBD at 10k and 100k customers simulated from Pareto/NBD with the CDNOW
  parameters, every shape, plus "ridge" data (dropout rates nearly the same for every
  customer, s = 40, beta = 1,600: s and beta sit on a ridge);
* ``scaling``: BG/NBD fits on continuous data from 10k to ``--max-scale`` customers
  (clvml only), CPU seconds per million customers;
* ``freq10k``: issue #15's world where every customer has frequency 10,000 (the fit lands
  at a ~ 1e5, b ~ 1e9 where scipy's hyp2f1 fails): fit, then E[X(52) | history] for every
  customer, at 10k/100k/1M customers (linear time is the point).

Times are CPU seconds (``time.process_time``; the shared machine is loaded, so read
the same-run ratios): clvml the minimum of ``--repeat`` runs of the whole ``fit`` from the
DataFrame (validation, compression or not, optimisation, Hessian), lifetimes one run of
the groupby and its fit. Parameters must agree (relative ``--rtol``) or, where they do
not, clvml's log-likelihood must be at least lifetimes' (on a ridge both stop on the flat
direction: clvml must then name the ridge in ``identification_`` and be within the
1.36 log-likelihood units its likelihood-ratio check allows); otherwise the exit status
is 1. pymc-marketing is not installable here (no
wheel for this Python/numpy); its MAP figure from issue #17 (15.1 s for BG/NBD at 1M, the
same machine class) is quoted in benchmarks/RESULTS.md and labelled as such.

Run: ``python benchmarks/bench_btyd.py --parts bgnbd pareto scaling freq10k``
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from clvml.data.simulate import simulate_bgnbd
from clvml.models.btyd import BetaGeo, ModifiedBetaGeo, ParetoNBD

warnings.simplefilter("ignore")  # lifetimes' deprecation noise; clvml warnings are tested
from lifetimes import BetaGeoFitter, ModifiedBetaGeoFitter, ParetoNBDFitter  # noqa: E402

BG_TRUTH = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PNBD_TRUTH = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
SHAPES = ("week", "day", "continuous")
COLS = ["frequency", "recency", "T"]


def _resolve(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, shape: str) -> pd.DataFrame:
    """Report ages and recency at the shape's resolution (recency rounded up, >= 1 unit)."""
    per_week = {"week": 1.0, "day": 7.0, "continuous": 0.0}[shape]
    if per_week:  # whole days (or weeks) divided by 7 (or 1), as a summary in weeks has them
        T = np.ceil(T * per_week) / per_week
        t_x = np.where(x > 0, np.clip(np.ceil(t_x * per_week) / per_week, 1 / per_week, T), 0.0)
    return pd.DataFrame({"frequency": x.astype(float), "recency": t_x, "T": T})


def bgnbd_data(n: int, shape: str, seed: int = 0) -> pd.DataFrame:
    """BG/NBD customers with ages uniform over a year."""
    rng = np.random.default_rng(seed)
    T = rng.uniform(1.0 / 7.0, 52.0, n)
    s = simulate_bgnbd(n, **BG_TRUTH, T=T, random_state=rng).summary
    return _resolve(s["frequency"].to_numpy(), s["recency"].to_numpy(), T, shape)


def pareto_data(n: int, shape: str, s: float, beta: float, seed: int = 0) -> pd.DataFrame:
    """Pareto/NBD customers (rates Gamma(r, alpha), dropout rates Gamma(s, beta))."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(PNBD_TRUTH["r"], 1.0 / PNBD_TRUTH["alpha"], n)
    mu = rng.gamma(s, 1.0 / beta, n)
    T = rng.uniform(1.0 / 7.0, 52.0, n)
    observed = np.minimum(rng.exponential(1.0 / mu), T)
    x = rng.poisson(lam * observed)
    t_x = np.where(x > 0, observed * rng.beta(np.maximum(x, 1), 1.0), 0.0)
    return _resolve(x, t_x, T, shape)


def freq10k_data(n: int, seed: int = 0) -> pd.DataFrame:
    """Every customer with 10,000 repeat purchases, the last one recently."""
    rng = np.random.default_rng(seed)
    T = rng.uniform(40.0, 52.0, n)
    return pd.DataFrame({"frequency": 10_000.0, "recency": T - rng.uniform(0, 0.3, n), "T": T})


def cpu(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    best, out = np.inf, None
    for _ in range(repeat):
        start = time.process_time()
        out = fn()
        best = min(best, time.process_time() - start)
    return best, out


def lifetimes_weighted(fitter: type, data: pd.DataFrame) -> Any:
    """lifetimes at its best: distinct rows with their counts as weights."""
    rows = data.groupby(COLS).size().reset_index(name="weights")
    return fitter().fit(rows["frequency"], rows["recency"], rows["T"], weights=rows["weights"])


def compare(label: str, data: pd.DataFrame, ours_cls: type, theirs_cls: type, args) -> dict:
    t_ours, ours = cpu(lambda: ours_cls().fit(data), args.repeat)
    t_theirs, theirs = cpu(lambda: lifetimes_weighted(theirs_cls, data))
    names = list(ours._param_names)
    diff = max(abs(ours.params_[k] / float(theirs.params_[k]) - 1) for k in names)
    cols = [data[c].to_numpy(float) for c in COLS]
    at_theirs = np.array([float(theirs.params_[k]) for k in names])
    gap = ours.log_likelihood_ - float(np.sum(type(ours)._loglik(at_theirs, *cols)))
    note = getattr(ours, "identification_", None)
    # on a ridge the likelihood keeps rising towards the homogeneous limit: both fits stop
    # somewhere along it; clvml names the ridge and its LR test bounds the gap (< 1.36)
    ok = diff < args.rtol or gap > -1e-6 * abs(ours.log_likelihood_) or (note and gap > -1.36)
    print(
        f"{label:38s} clvml {t_ours:8.3f} s  lifetimes(w) {t_theirs:8.3f} s  "
        f"x{t_theirs / t_ours:7.1f}  params {diff:.1e}  LL gap {gap:+.1e} {'ok' if ok else 'FAIL'}"
        + (" [ridge]" if note else ""),
        flush=True,
    )
    return {
        "case": label,
        "distinct": int(ours.n_distinct_),
        "clvml_s": t_ours,
        "lifetimes_w_s": t_theirs,
        "ratio": t_theirs / t_ours,
        "ok": ok,
    }


def part_bgnbd(args) -> list[dict]:
    rows = []
    for shape in SHAPES:
        data = bgnbd_data(args.n, shape)
        distinct = len(data.drop_duplicates())
        print(f"-- BG/NBD data, {shape}: {len(data):,} customers, {distinct:,} distinct rows")
        for ours, theirs, name in (
            (BetaGeo, BetaGeoFitter, "BG/NBD"),
            (ModifiedBetaGeo, ModifiedBetaGeoFitter, "MBG/NBD"),
        ):
            rows.append(compare(f"{name} {shape} {len(data):,}", data, ours, theirs, args))
    return rows


def part_pareto(args) -> list[dict]:
    rows = []
    kinds = [("", PNBD_TRUTH["s"], PNBD_TRUTH["beta"]), ("ridge ", 40.0, 1600.0)]
    for n in args.pareto_sizes:
        for prefix, s, beta in kinds:
            for shape in SHAPES:
                data = pareto_data(n, shape, s, beta)
                label = f"Pareto/NBD {prefix}{shape} {n:,}"
                rows.append(compare(label, data, ParetoNBD, ParetoNBDFitter, args))
    return rows


def part_scaling(args) -> list[dict]:
    rows = []
    n = 10_000
    while n <= args.max_scale:
        data = bgnbd_data(n, "continuous", seed=1)
        t, model = cpu(lambda d=data: BetaGeo().fit(d), 1 if n >= 5_000_000 else args.repeat)
        print(
            f"BG/NBD continuous {n:>11,}: {t:8.3f} s CPU, {t / n * 1e6:6.3f} s per million, "
            f"{model.n_iter_} iterations",
            flush=True,
        )
        rows.append({"case": f"scaling {n:,}", "clvml_s": t, "per_million_s": t / n * 1e6})
        n *= 10 if n < 1_000_000 else 5 if n == 1_000_000 else 2
    return rows


def part_freq10k(args) -> list[dict]:
    rows = []
    for n in (10_000, 100_000, 1_000_000):
        data = freq10k_data(n)
        t_fit, model = cpu(lambda d=data: BetaGeo().fit(d))
        t_pred, values = cpu(lambda m=model, d=data: m.expected_purchases(d, 52.0))
        finite = bool(np.isfinite(values.to_numpy()).all())
        print(
            f"frequency 10,000 x {n:>9,}: fit {t_fit:7.3f} s (a {model.params_['a']:.3g}, "
            f"b {model.params_['b']:.3g}), E[X(52)] for all {t_pred:7.3f} s CPU "
            f"({t_pred / n * 1e6:.2f} s per million), all finite {finite}",
            flush=True,
        )
        rows.append({"case": f"freq10k {n:,}", "fit_s": t_fit, "predict_s": t_pred, "ok": finite})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--parts", nargs="*", default=["bgnbd", "pareto"], choices=list(PARTS), metavar="PART"
    )
    parser.add_argument("--n", type=int, default=1_000_000, help="customers in part bgnbd")
    parser.add_argument("--pareto-sizes", nargs="*", type=int, default=[10_000, 100_000])
    parser.add_argument("--max-scale", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--rtol", type=float, default=1e-4)
    args = parser.parse_args(argv)
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average at start {os.getloadavg()}",
        flush=True,
    )
    rows = []
    for part in args.parts:
        rows += PARTS[part](args)
    print(f"load average at end {os.getloadavg()}")
    table = pd.DataFrame(rows)
    print("\n" + table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0 if table.get("ok", pd.Series([True])).fillna(True).all() else 1


PARTS = {
    "bgnbd": part_bgnbd,
    "pareto": part_pareto,
    "scaling": part_scaling,
    "freq10k": part_freq10k,
}

if __name__ == "__main__":
    sys.exit(main())
