"""lifetimes' simulators (``lifetimes.generate_data``) on clvml's vectorised ones.

The draws come from :mod:`clvml.data.simulate`, seeded from numpy's global generator so
that ``np.random.seed(...)`` makes them reproducible, as lifetimes users expect. The
layout follows lifetimes: ``frequency`` counts the distinct whole time units with a
repeat purchase (lifetimes' convention; MBG/NBD counts purchases, its clvml simulator
keeps no purchase times), ``alive`` is at ``T`` for the continuous-time models and at
opportunity ``N + 1`` for BG/BB (the "alive next period" of Fader, Hardie & Shang 2010).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clvml.data.simulate import (
    simulate_beta_geo_beta,
    simulate_bgnbd,
    simulate_mbgnbd,
    simulate_pareto_nbd,
)

__all__ = [
    "beta_geometric_beta_binom_model",
    "beta_geometric_nbd_model",
    "beta_geometric_nbd_model_transactional_data",
    "modified_beta_geometric_nbd_model",
    "pareto_nbd_model",
]


def _seed() -> int:
    # numpy's global generator, as lifetimes draws from it (np.random.seed reproduces)
    return int(np.random.randint(0, 2**31 - 1))  # noqa: NPY002


def _ages(T: Any, size: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(T, dtype=float), (size,)).copy()


def _distinct_units(summary: pd.DataFrame, log: pd.DataFrame | None) -> np.ndarray:
    """Repeat purchases counted once per whole time unit (lifetimes' ``frequency``)."""
    if log is None:
        return summary["frequency"].to_numpy(dtype=float)
    repeat = log[log["t"] > 0]
    pairs = pd.DataFrame({"c": repeat["customer_id"].to_numpy(), "u": np.floor(repeat["t"])})
    counts = pairs.drop_duplicates().groupby("c").size()
    return counts.reindex(summary.index, fill_value=0).to_numpy(dtype=float)


def _layout(summary: pd.DataFrame, log: pd.DataFrame | None, latent: list[str]) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "frequency": _distinct_units(summary, log),
            "recency": summary["recency"].to_numpy(dtype=float),
            "T": summary["T"].to_numpy(dtype=float),
            **{name: summary[name].to_numpy(dtype=float) for name in latent},
            "alive": summary["alive"].to_numpy(dtype=float),
        },
        index=pd.Index(np.arange(len(summary), dtype=float), name="customer_id"),
    )
    return out


def beta_geometric_nbd_model(
    T: Any, r: float, alpha: float, a: float, b: float, size: int = 1
) -> pd.DataFrame:
    """BG/NBD customers: ``frequency``, ``recency``, ``T``, ``lambda``, ``p``, ``alive``."""
    sim = simulate_bgnbd(size, r, alpha, a, b, _ages(T, size), _seed(), transactions=True)
    return _layout(sim.summary, sim.transactions, ["lambda", "p"])


def modified_beta_geometric_nbd_model(
    T: Any, r: float, alpha: float, a: float, b: float, size: int = 1
) -> pd.DataFrame:
    """MBG/NBD customers (``frequency`` counts repeat purchases)."""
    sim = simulate_mbgnbd(size, r, alpha, a, b, _ages(T, size), _seed())
    return _layout(sim.summary, None, ["lambda", "p"])


def pareto_nbd_model(
    T: Any, r: float, alpha: float, s: float, beta: float, size: int = 1
) -> pd.DataFrame:
    """Pareto/NBD customers: ``frequency``, ``recency``, ``T``, ``lambda``, ``mu``, ``alive``."""
    sim = simulate_pareto_nbd(size, r, alpha, s, beta, _ages(T, size), _seed(), transactions=True)
    return _layout(sim.summary, sim.transactions, ["lambda", "mu"])


def beta_geometric_beta_binom_model(
    N: Any, alpha: float, beta: float, gamma: float, delta: float, size: int = 1
) -> pd.DataFrame:
    """BG/BB customers over ``N`` opportunities; ``alive`` at opportunity ``N + 1``."""
    periods = np.broadcast_to(np.asarray(N), (size,)).astype(np.int64)
    seed = _seed()
    sim = simulate_beta_geo_beta(size, alpha, beta, gamma, delta, periods, seed)
    s = sim.summary
    survives_next = np.random.default_rng(seed + 1).random(size) >= s["theta"].to_numpy()
    return pd.DataFrame(
        {
            "frequency": s["frequency"].to_numpy(dtype=float),
            "recency": s["recency"].to_numpy(dtype=float),
            "n_periods": s["n_periods"].to_numpy(dtype=float),
            "p": s["p"].to_numpy(),
            "theta": s["theta"].to_numpy(),
            "alive": (s["alive"].to_numpy() & survives_next).astype(float),
            "customer_id": np.arange(size, dtype=float),
        }
    )


def beta_geometric_nbd_model_transactional_data(
    T: Any,
    r: float,
    alpha: float,
    a: float,
    b: float,
    observation_period_end: Any = "2019-1-1",
    freq: str = "D",
    size: int = 1,
) -> pd.DataFrame:
    """BG/NBD purchase log (``customer_id``, ``date``) ending at ``observation_period_end``.

    Customer ``i`` makes her first purchase ``T[i]`` units of ``freq`` before the end.
    """
    ages = _ages(T, size)
    sim = simulate_bgnbd(size, r, alpha, a, b, ages, _seed(), transactions=True)
    log = sim.transactions
    assert log is not None
    end = pd.Timestamp(observation_period_end)
    unit = pd.Timedelta(1, unit=freq)
    ids = log["customer_id"].to_numpy()
    dates = end - pd.to_timedelta(ages[ids] - log["t"].to_numpy(), unit=freq)
    return pd.DataFrame({"customer_id": ids, "date": dates.floor(unit)})
