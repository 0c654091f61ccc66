"""Fitting the subscription models on many spells (issue 19: 1M spells in under a second).

clvml compresses the spells to distinct ``(tenure, censored)`` rows before the likelihood;
the alternative timed in the same run is the textbook fit, the same sBG likelihood summed
over every spell by scipy's L-BFGS-B (no peer library fits sBG: lifetimes has none).

    python benchmarks/bench_subscription.py --spells 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import optimize

from clvml.models.subscription import (
    BetaDiscreteWeibull,
    BetaDiscreteWeibullCovariates,
    ShiftedBetaGeometric,
    ShiftedBetaGeometricCovariates,
)
from clvml.models.subscription.sbg_math import sbg_loglik, sbg_loglik_grad


def _spells(n: int, horizon: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = rng.geometric(rng.beta(0.7, 1.2, n))
    return pd.DataFrame({"duration": np.minimum(t, horizon), "censored": t > horizon})


def _covariate_spells(n: int, horizon: int, seed: int) -> pd.DataFrame:
    """Spells with 0/1 channel and plan columns and care contacts 0-4 acting on alpha, beta."""
    rng = np.random.default_rng(seed)
    channel = rng.integers(0, 3, n)
    x = pd.DataFrame(
        {
            "paid": (channel == 1).astype(float),
            "referral": (channel == 2).astype(float),
            "premium": (rng.random(n) < 0.3).astype(float),
            "care": rng.poisson(1.0, n).clip(0, 4).astype(float),
        }
    )
    a = 0.7 * np.exp(x.to_numpy() @ np.array([0.5, -0.3, 0.0, 0.2]))
    b = 1.2 * np.exp(x.to_numpy() @ np.array([0.0, 0.4, 0.5, 0.0]))
    t = rng.geometric(rng.beta(a, b))
    return x.assign(duration=np.minimum(t, horizon), censored=t > horizon)


def _per_row_fit(spells: pd.DataFrame) -> np.ndarray:
    dur = spells["duration"].to_numpy(float)
    cens = spells["censored"].to_numpy(bool)

    def fg(theta: np.ndarray) -> tuple[float, np.ndarray]:
        p = np.exp(theta)
        return -float(sbg_loglik(p, dur, cens).sum()), -sbg_loglik_grad(p, dur, cens).sum(0) * p

    return np.exp(optimize.minimize(fg, np.zeros(2), jac=True, method="L-BFGS-B").x)


def _best(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--spells", type=int, default=1_000_000)
    ap.add_argument("--horizon", type=int, default=36, help="periods observed (censoring)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    spells = _spells(args.spells, args.horizon, seed=1)
    t_sbg, sbg = _best(lambda: ShiftedBetaGeometric().fit(spells), args.repeat)
    t_bdw, bdw = _best(lambda: BetaDiscreteWeibull().fit(spells), args.repeat)
    t_ref, ref = _best(lambda: _per_row_fit(spells), args.repeat)
    cov_spells = _covariate_spells(args.spells, args.horizon, seed=2)
    t_sbg_cov, sbg_cov = _best(
        lambda: ShiftedBetaGeometricCovariates().fit(cov_spells), args.repeat
    )
    t_bdw_cov, _ = _best(lambda: BetaDiscreteWeibullCovariates().fit(cov_spells), args.repeat)
    a, b = sbg.params_["alpha"], sbg.params_["beta"]  # type: ignore[attr-defined]
    print(f"{args.spells:,} spells, horizon {args.horizon}, best of {args.repeat}")
    print(f"clvml sBG fit      {t_sbg:8.3f} s  alpha {a:.6f} beta {b:.6f}")
    print(f"clvml BdW fit      {t_bdw:8.3f} s  c {bdw.params_['c']:.4f}")  # type: ignore[attr-defined]
    print(f"per-row scipy sBG  {t_ref:8.3f} s  alpha {ref[0]:.6f} beta {ref[1]:.6f}")  # type: ignore[index]
    print(f"ratio (per-row / clvml sBG): {t_ref / t_sbg:.1f}x")
    rows = sbg_cov.n_distinct_  # type: ignore[attr-defined]
    print(f"clvml sBG + 4 covariates {t_sbg_cov:8.3f} s  ({rows:,} distinct rows)")
    print(f"clvml BdW + 4 covariates {t_bdw_cov:8.3f} s")


if __name__ == "__main__":
    main()
