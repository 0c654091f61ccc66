r"""A synthetic subscription (contractual) world with a planted, known truth.

``clvml generate --contractual`` writes it. Customers subscribe during an acquisition
window, on a plan (monthly ``basic``, ``standard``, ``premium`` or the yearly
``annual``), through an acquisition channel, and cancel after a lifetime drawn from the
beta-discrete-Weibull model (Fader, Hardie, Liu, Davin & Steenburgh 2018):

.. math::

    \theta_i \sim \mathrm{Beta}(\alpha_i, \beta_i), \qquad
    S(t \mid \theta_i) = (1 - \theta_i)^{t^c},

:math:`T_i` the period in which customer *i* cancels (``T = 1``: never renewed). ``c = 1``
is the shifted-beta-geometric model (sBG, Fader & Hardie 2007); ``c < 1`` makes each
customer's churn probability fall with tenure, ``c > 1`` rise. Heterogeneity alone makes
the *observed* retention of a cohort rise with tenure (the churn-prone leave first),
which is what a constant retention rate misses.

Covariates act as in :mod:`clvml.models.subscription`'s covariate models:
:math:`\alpha_i = \alpha \exp(\gamma^{\alpha}_{channel})`,
:math:`\beta_i = \beta \exp(\gamma^{\beta}_{care}\, x_i)`:

* the acquisition channel shifts :math:`\alpha` (``organic`` is the base, 0);
* the **social-care effect**: a share ``contact_share`` of customers complain to the
  care team on social media during their first period; a randomised control group
  (``control_share`` of all customers, drawn independently of everything else) gets no
  reply, the others get a resolving reply the next day, and for them
  :math:`\beta_i = \beta e^{\text{care\_effect}}` (a lower churn probability). The
  effect is zero for the control group and for customers who never complained, so
  treated vs control among complainers is a randomised comparison. ``care_effect = 0``
  is the placebo world.

The plan sets the price (and, for ``annual``, a yearly period with its own churn
probability per year drawn from the same model); it has no effect on churn. A
cancellation takes effect at the end of the last paid period: ``end`` is the renewal
date that was not paid. The data end ``horizon`` months after ``calibration_end``:
later cancellations are unknown (``end`` empty); the truth has them.

Tables: ``subscriptions`` (the contract), ``customers`` (``acquisition_date`` = the
start, ``acquisition_channel``, ``acquisition_cost``, ``control_group``), ``engagement``
(the complaints and the care replies) and ``truth``: per customer ``theta``, ``alpha``,
``beta``, ``lifetime`` (periods, even beyond the data), ``true_end``, ``complained``,
``treated`` (complained and not in the control group), ``alive_at_calibration_end``,
``tenure_at_calibration_end`` (renewals by then), ``holdout_renewals`` (renewals paid
after the calibration end up to the data end, for the customers alive at calibration
end), ``holdout_revenue`` and ``expected_holdout_renewals`` (their expectation given
the customer's own ``theta`` and tenure: the attainable truth).

Examples
--------
>>> world = generate_contractual(2_000, random_state=1)
>>> sorted(world.tables)
['customers', 'engagement', 'subscriptions', 'truth']
>>> world.params["alpha"], world.params["c"]
(0.8, 0.8)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clvml.data.subscriptions import add_periods, periods_reached
from clvml.exceptions import DataValidationError

__all__ = [
    "CONTRACTUAL_CHANNELS",
    "CONTRACTUAL_PLANS",
    "ContractualData",
    "generate_contractual",
    "write_contractual",
]

#: Acquisition channel -> (share of customers, shift of log alpha, mean acquisition cost).
CONTRACTUAL_CHANNELS: dict[str, tuple[float, float, float]] = {
    "organic": (0.40, 0.0, 5.0),
    "paid_search": (0.30, 0.5, 60.0),
    "referral": (0.15, -0.4, 25.0),
    "social": (0.15, 0.2, 40.0),
}

#: Plan -> (share of customers, billing period, price per period).
CONTRACTUAL_PLANS: dict[str, tuple[float, str, float]] = {
    "basic": (0.45, "month", 9.99),
    "standard": (0.25, "month", 14.99),
    "premium": (0.15, "month", 24.99),
    "annual": (0.15, "year", 149.0),
}


@dataclass(frozen=True)
class ContractualData:
    """A generated subscription world: the input tables and the truth.

    Attributes
    ----------
    tables : dict of str to pandas.DataFrame
        ``subscriptions``, ``customers``, ``engagement``, ``truth`` (see the module
        docstring).
    calibration_end, observation_end : pandas.Timestamp
        End of the calibration period and of the data.
    params : dict
        The generation settings and the planted parameters, JSON-serialisable.
    """

    tables: dict[str, pd.DataFrame]
    calibration_end: pd.Timestamp
    observation_end: pd.Timestamp
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def subscriptions(self) -> pd.DataFrame:
        """The subscriptions table."""
        return self.tables["subscriptions"]

    @property
    def truth(self) -> pd.DataFrame:
        """The truth table."""
        return self.tables["truth"]


def _check(name: str, value: float, low: float, high: float | None = None) -> None:
    ok = np.isfinite(value) and value > low and (high is None or value < high)
    if not ok:
        bound = f"in ({low:g}, {high:g})" if high is not None else f"> {low:g}"
        raise DataValidationError(f"{name}={value!r}; expected a number {bound}")


def _survival(theta: np.ndarray, t: np.ndarray, c: float) -> np.ndarray:
    """``S(t | theta) = (1 - theta)^(t^c)`` in log space (t >= 0)."""
    return np.exp(np.power(t, c) * np.log1p(-theta))


def generate_contractual(
    n_customers: int = 20_000,
    random_state: int | None = 0,
    *,
    alpha: float = 0.8,
    beta: float = 4.0,
    c: float = 0.8,
    care_effect: float = 0.7,
    contact_share: float = 0.3,
    control_share: float = 0.2,
    start: str = "2022-01-01",
    acquisition_months: int = 24,
    calibration_end: str | None = None,
    horizon: int = 12,
) -> ContractualData:
    """Generate a subscription world whose churn process is known (see the module docstring).

    Parameters
    ----------
    n_customers : int, default 20000
        Subscribers (one spell each).
    random_state : int, optional
        Seed: the same seed gives the same world.
    alpha, beta : float, default 0.8, 4.0
        The base (organic, no care reply) Beta distribution of the churn probability
        per period; mean ``alpha / (alpha + beta)``.
    c : float, default 0.8
        Duration dependence of the BdW model (1: sBG, constant per-customer churn).
    care_effect : float, default 0.7
        Log-multiplier of ``beta`` for complainers who get a care reply; 0 is the
        placebo.
    contact_share : float, default 0.3
        Share of customers who complain during their first period.
    control_share : float, default 0.2
        Randomised share of customers the care team does not answer.
    start : str, default "2022-01-01"
        First day of the acquisition window.
    acquisition_months : int, default 24
        Length of the acquisition window; starts are uniform over its days.
    calibration_end : str, optional
        End of the calibration period [default: the end of the acquisition window
        plus six months].
    horizon : int, default 12
        Months of data after ``calibration_end`` (the holdout).

    Returns
    -------
    ContractualData

    Raises
    ------
    DataValidationError
        A parameter out of range, or a calibration end before the acquisition window's.
    """
    if int(n_customers) < 1:
        raise DataValidationError(f"n_customers={n_customers!r}; expected at least 1")
    for name, value in (("alpha", alpha), ("beta", beta), ("c", c)):
        _check(name, value, 0.0)
    for name, value in (("contact_share", contact_share), ("control_share", control_share)):
        if not (np.isfinite(value) and 0.0 <= value <= 1.0):
            raise DataValidationError(f"{name}={value!r}; expected a share in [0, 1]")
    if not np.isfinite(care_effect):
        raise DataValidationError(f"care_effect={care_effect!r}; expected a finite number")
    if int(acquisition_months) < 1 or int(horizon) < 1:
        raise DataValidationError("acquisition_months and horizon must be at least 1 month")
    n = int(n_customers)
    rng = np.random.default_rng(random_state)
    first = pd.Timestamp(start).normalize()
    window_end = add_periods(pd.Series([first]), int(acquisition_months), "month").iloc[0]
    cal_end = (
        pd.Timestamp(calibration_end).normalize()
        if calibration_end is not None
        else add_periods(pd.Series([window_end]), 6, "month").iloc[0]
    )
    if cal_end < window_end:
        raise DataValidationError(
            f"calibration_end={cal_end.date()} is before the acquisition window ends "
            f"({window_end.date()})"
        )
    obs_end = add_periods(pd.Series([cal_end]), int(horizon), "month").iloc[0]

    # ---- who, when, how -------------------------------------------------------------
    days = int((window_end - first).days)
    starts = pd.Series(first + pd.to_timedelta(rng.integers(0, days, n), unit="D"))
    channel_names = np.array(list(CONTRACTUAL_CHANNELS))
    ch_share = np.array([v[0] for v in CONTRACTUAL_CHANNELS.values()])
    channel = rng.choice(channel_names.size, size=n, p=ch_share / ch_share.sum())
    plan_names = np.array(list(CONTRACTUAL_PLANS))
    pl_share = np.array([v[0] for v in CONTRACTUAL_PLANS.values()])
    plan = rng.choice(plan_names.size, size=n, p=pl_share / pl_share.sum())
    period = np.array([v[1] for v in CONTRACTUAL_PLANS.values()])[plan]
    price = np.array([v[2] for v in CONTRACTUAL_PLANS.values()])[plan]
    control = rng.random(n) < control_share
    complained = rng.random(n) < contact_share
    treated = complained & ~control

    # ---- churn ------------------------------------------------------------------------
    shift = np.array([v[1] for v in CONTRACTUAL_CHANNELS.values()])[channel]
    alpha_i = alpha * np.exp(shift)
    beta_i = beta * np.exp(np.where(treated, care_effect, 0.0))
    theta = rng.beta(alpha_i, beta_i)
    theta = np.clip(theta, 1e-12, 1.0 - 1e-12)
    u = 1.0 - rng.random(n)  # (0, 1]
    x = np.log(u) / np.log1p(-theta)  # S(T) < u <= S(T - 1)  <=>  T^c > x >= (T - 1)^c
    lifetime = np.floor(np.power(x, 1.0 / c)).astype(np.int64) + 1
    # at most about 150 years of periods: never reached in the data, and dates stay valid
    lifetime = np.minimum(lifetime, np.where(period == "year", 150, 1_800))
    # the cancellation takes effect at the end of the last paid period: the renewal
    # date that was not paid (so a spell is seen as cancelled exactly when it is missed)
    true_end = add_periods(starts, lifetime, period)

    ids = pd.Index([f"S{i:07d}" for i in range(n)], dtype="str")
    seen_end = true_end.where(true_end <= obs_end)
    subscriptions = pd.DataFrame(
        {
            "customer_id": ids,
            "start": starts.to_numpy(),
            "end": seen_end.to_numpy(),
            "period": period,
            "plan": plan_names[plan],
            "price_per_period": price,
        }
    )
    mean_cost = np.array([v[2] for v in CONTRACTUAL_CHANNELS.values()])[channel]
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "acquisition_date": starts.to_numpy(),
            "acquisition_channel": channel_names[channel],
            "acquisition_cost": np.round(mean_cost * rng.gamma(4.0, 0.25, n), 2),
            "control_group": control,
        }
    )

    # ---- complaints and care replies, inside the first period and the data --------------
    first_renewal = add_periods(starts, 1, period)
    room = (np.minimum(true_end, first_renewal) - starts).dt.days.to_numpy()
    day = np.floor(rng.random(n) * np.maximum(room - 1, 1)).astype(np.int64)
    complaint = starts + pd.to_timedelta(day, unit="D") + pd.Timedelta(hours=10)
    who = np.flatnonzero(complained & (complaint <= obs_end).to_numpy())
    replied = who[treated[who]]
    inbound = pd.DataFrame(
        {
            "customer_id": ids[who],
            "timestamp": complaint.to_numpy()[who],
            "channel": "twitter",
            "kind": "complaint",
            "direction": "inbound",
            "resolved": pd.array([pd.NA] * who.size, dtype="boolean"),
        }
    )
    outbound = pd.DataFrame(
        {
            "customer_id": ids[replied],
            "timestamp": complaint.to_numpy()[replied] + np.timedelta64(1, "D"),
            "channel": "twitter",
            "kind": "reply",
            "direction": "outbound",
            "resolved": pd.array([True] * replied.size, dtype="boolean"),
        }
    )
    engagement = pd.concat([inbound, outbound], ignore_index=True)
    engagement = engagement[engagement["timestamp"] <= obs_end]
    engagement = engagement.sort_values(["timestamp", "customer_id"], kind="stable")
    engagement = engagement.reset_index(drop=True)

    # ---- truth --------------------------------------------------------------------------
    alive = (starts <= cal_end).to_numpy() & (true_end > cal_end).to_numpy()
    cal = pd.Series(cal_end, index=starts.index)
    tenure = periods_reached(starts, cal.where(cal >= starts, starts), period, strict=False)
    end_obs = pd.Series(obs_end, index=starts.index)
    renewals_by_obs = periods_reached(starts, end_obs, period, strict=False)
    # renewals paid in (cal_end, obs_end] by the customers alive at cal_end
    paid_by_obs = np.where((true_end <= obs_end).to_numpy(), lifetime, 1 + renewals_by_obs)
    holdout = np.where(alive, paid_by_obs - (1 + tenure), 0)
    window = np.where(alive, renewals_by_obs - tenure, 0)  # renewal dates in the holdout
    ks = np.arange(1, int(window.max(initial=0)) + 1)
    s_now = _survival(theta, tenure.astype(float), c)
    future = _survival(theta[:, None], tenure[:, None] + ks[None, :].astype(float), c)
    within = ks[None, :] <= window[:, None]
    expected = np.where(alive, (future * within).sum(axis=1) / s_now, 0.0)
    truth = pd.DataFrame(
        {
            "customer_id": ids,
            "channel": channel_names[channel],
            "plan": plan_names[plan],
            "period": period,
            "price_per_period": price,
            "theta": theta,
            "alpha": alpha_i,
            "beta": beta_i,
            "lifetime": lifetime,
            "true_end": true_end.to_numpy(),
            "complained": complained,
            "treated": treated,
            "alive_at_calibration_end": alive,
            "tenure_at_calibration_end": np.where(alive, tenure, -1),
            "holdout_renewals": holdout,
            "holdout_revenue": holdout * price,
            "expected_holdout_renewals": expected,
        }
    )
    params: dict[str, Any] = {
        "kind": "contractual",
        "n_customers": n,
        "random_state": random_state,
        "alpha": alpha,
        "beta": beta,
        "c": c,
        "care_effect": care_effect,
        "contact_share": contact_share,
        "control_share": control_share,
        "channel_log_alpha_shift": {k: v[1] for k, v in CONTRACTUAL_CHANNELS.items()},
        "plans": {k: {"period": v[1], "price": v[2]} for k, v in CONTRACTUAL_PLANS.items()},
        "start": str(first.date()),
        "acquisition_months": int(acquisition_months),
        "calibration_end": str(cal_end.date()),
        "observation_end": str(obs_end.date()),
        "horizon": int(horizon),
    }
    return ContractualData(
        {
            "subscriptions": subscriptions,
            "customers": customers,
            "engagement": engagement,
            "truth": truth,
        },
        cal_end,
        obs_end,
        params,
    )


def write_contractual(
    world: ContractualData,
    out_dir: str | os.PathLike[str],
    fmt: str = "parquet",
    *,
    overwrite: bool = False,
) -> Path:
    """Write the world's tables and ``metadata.json`` to ``out_dir`` atomically."""
    from clvml.data.synthetic import write_tables

    return write_tables(world.tables, world.params, out_dir, fmt, overwrite=overwrite)
