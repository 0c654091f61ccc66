r"""Subscriptions: the retention formula against the sBG and BdW models on a holdout.

:func:`compare_subscription_clv` cuts a subscriptions table at ``cutoff``, and for each
group (acquisition cohort, plan, channel, ...) of the customers active on that day
predicts the value of the renewals they will pay until ``holdout_end`` three ways, and
compares each with what they paid:

``formula``
    The marketing formula's constant retention, measured on the same subscriptions
    before the cut-off: for each calendar period :math:`p` (a month for monthly
    plans, a year for yearly ones) :math:`C_I` = customers active at its start,
    :math:`C_F` = active at its end, :math:`C_N` = those of :math:`C_F` who started
    during it, and :math:`r = \sum_p (C_F - C_N) / \sum_p C_I` (pooled over the
    periods, as :mod:`clvml.models.closed_form` pools them). A customer active on the
    cut-off renews :math:`k` more times with probability :math:`r^k`, whatever their
    tenure.
``sbg``, ``bdw``
    :class:`~clvml.models.subscription.ShiftedBetaGeometric` and
    :class:`~clvml.models.subscription.BetaDiscreteWeibull` fitted on the group's spells
    as of the cut-off (:func:`clvml.data.subscriptions.subscription_spells`); a customer
    of tenure :math:`n` renews :math:`k` more times with probability
    :math:`S(n + k) / S(n)`.

The expected value is the price per period (1 when the table has none; a spell without a
price counts at 1 and is counted in ``notes``) x ``margin`` x
the expected renewals falling in the holdout; the realised value is the money of the
renewals paid (both undiscounted: the holdout is short, and the realised side is cash). The
formula ignores that the customers still active at the cut-off are the loyal ones
(the churn-prone left first), so it under-predicts their renewals; the heterogeneity
models condition on each customer's tenure. ``clv_new_*`` adds each method's value of
a *new* customer (discounted expected lifetime, first period included, x price x
margin, discounted at ``annual_discount_rate``): the number the marketing formula is
usually asked for.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from clvml.data.subscriptions import (
    cohort_survival,
    compress_spells,
    periods_reached,
    subscription_spells,
)
from clvml.exceptions import ClvmlError, ConvergenceWarning, DataValidationError
from clvml.models.subscription import BetaDiscreteWeibull, ShiftedBetaGeometric

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "METHODS",
    "SubscriptionComparison",
    "compare_subscription_clv",
    "formula_retention",
    "plot_retention_curves",
]

#: The methods of the comparison, in table order.
METHODS: tuple[str, ...] = ("formula", "sbg", "bdw")
_MODELS = {"sbg": ShiftedBetaGeometric, "bdw": BetaDiscreteWeibull}
#: Periods summed for a new customer's discounted lifetime (the rest is below 1e-12
#: of it at any discount rate of 2% a year or more).
_LIFETIME_PERIODS = 2_400


@dataclass
class SubscriptionComparison:
    """What :func:`compare_subscription_clv` returns.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per group and an ``all`` row: ``customers`` (active on the cut-off),
        ``realised`` (value paid in the holdout), per method ``<method>`` (expected value)
        and ``<method>_error`` (``(expected - realised) / realised``), ``retention``
        (the formula's ``r``), ``clv_new_<method>`` (value of a new customer),
        ``lr_p_value`` (sBG against BdW).
    customers : pandas.DataFrame
        One row per customer active on the cut-off: the group, ``tenure``,
        ``window`` (renewal dates in the holdout), ``realised_renewals`` and each
        method's expected renewals.
    curves : pandas.DataFrame
        Per group and tenure ``t``: ``observed`` retention (Kaplan-Meier, all the data
        up to ``holdout_end``) and each method's projection from the calibration data.
    models : dict
        Group label -> ``{"sbg": fitted model, "bdw": fitted model}``.
    cutoff, holdout_end : pandas.Timestamp
    """

    table: pd.DataFrame
    customers: pd.DataFrame
    curves: pd.DataFrame
    models: dict[Any, dict[str, Any]] = field(default_factory=dict, repr=False)
    cutoff: pd.Timestamp | None = None
    holdout_end: pd.Timestamp | None = None


def _period_bounds(first: pd.Timestamp, cutoff: pd.Timestamp, period: str) -> pd.DatetimeIndex:
    """Ends of the calendar periods from the one holding ``first`` up to ``cutoff``."""
    freq = "MS" if period == "month" else "YS"
    starts = pd.date_range(first.to_period("M" if period == "month" else "Y").start_time,
                           cutoff, freq=freq)  # fmt: skip
    return starts


def formula_retention(spells: pd.DataFrame, cutoff: object, period: str = "month") -> float:
    """The formula's pooled retention ``sum(C_F - C_N) / sum(C_I)`` (see the module docstring).

    Parameters
    ----------
    spells : pandas.DataFrame
        ``start`` and ``end`` (``NaT`` while active) of one group's spells.
    cutoff : date-like
        Only calendar periods over by this day count.
    period : {"month", "year"}
        The calendar period (that of the plans' billing).

    Returns
    -------
    float
        ``r`` in [0, 1], NaN when no period had customers at its start.

    Examples
    --------
    >>> s = pd.DataFrame({"start": pd.to_datetime(["2024-01-05", "2024-01-20", "2024-02-03"]),
    ...                   "end": pd.to_datetime(["2024-02-10", None, None])})
    >>> formula_retention(s, "2024-04-01")  # Feb: 2 at start, 1 kept; Mar: 2 of 2 kept
    0.75
    """
    day = pd.Timestamp(cutoff)
    start = spells["start"].to_numpy()
    end = spells["end"].to_numpy().copy()
    end[np.isnat(end)] = np.datetime64("9999-12-31")
    if len(start) == 0:
        return float("nan")
    bounds = _period_bounds(pd.Timestamp(start.min()), day, period).to_numpy()
    kept = total = 0
    # a loop over calendar periods (tens), each vectorised over customers
    for lo, hi in itertools.pairwise(bounds):
        at_start = (start < lo) & (end > lo)  # acquired in an earlier period, still there
        total += int(at_start.sum())
        kept += int((at_start & (end > hi)).sum())
    return kept / total if total else float("nan")


def _expected_renewals(
    survival: Any, tenure: np.ndarray, window: np.ndarray, discount: float
) -> np.ndarray:
    """Sum over k = 1..window of S(n + k) / S(n) / (1 + discount)^k, for distinct (n, window)."""
    if tenure.size == 0:
        return np.zeros(0)
    pairs, inverse = np.unique(np.c_[tenure, window], axis=0, return_inverse=True)
    kmax = int(pairs[:, 1].max(initial=0))
    if kmax == 0:
        return np.zeros(tenure.size)
    ks = np.arange(1, kmax + 1)
    n = pairs[:, 0].astype(float)
    now = np.asarray(survival(n), dtype=float)
    later = np.asarray(survival(n[:, None] + ks[None, :]), dtype=float)
    weights = (ks[None, :] <= pairs[:, 1][:, None]) / (1.0 + discount) ** ks[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        per_pair = np.where(now > 0, (later * weights).sum(axis=1) / now, 0.0)
    return per_pair[inverse.ravel()]


def _new_customer_lifetime(survival: Any, discount: float) -> float:
    """Discounted expected lifetime of a new customer, first period included."""
    t = np.arange(_LIFETIME_PERIODS, dtype=float)
    return float((np.asarray(survival(t)) / (1.0 + discount) ** t).sum())


def _label(keys: list[str], values: Any) -> Any:
    if not keys:
        return "all"
    return values if len(keys) > 1 else (values[0] if isinstance(values, tuple) else values)


def compare_subscription_clv(
    subscriptions: pd.DataFrame,
    cutoff: object,
    *,
    holdout_end: object = None,
    by: Sequence[str] = ("cohort",),
    customers: pd.DataFrame | None = None,
    cohort: str = "year",
    spells: str = "first",
    margin: float = 1.0,
    annual_discount_rate: float = 0.10,
    min_customers: int = 50,
) -> SubscriptionComparison:
    """Formula vs sBG vs BdW: expected against realised renewal value in a holdout.

    Parameters
    ----------
    subscriptions : pandas.DataFrame
        A validated subscriptions table
        (:func:`~clvml.data.validation.validate_subscriptions`).
    cutoff : date-like
        End of the calibration data: models and the formula see only what was known
        then.
    holdout_end : date-like, optional
        End of the holdout [default: the latest ``start`` or ``end`` in the table].
        The table must be complete up to it (a cancellation by then has its ``end``).
    by : sequence of str, default ("cohort",)
        Group columns: ``cohort`` (the calendar period of ``start``, see ``cohort``),
        ``plan``, a column of ``customers`` (``acquisition_channel``), ...; ``()`` for
        one group. Billing periods are never pooled (``period`` is added when the
        table mixes them).
    customers : pandas.DataFrame, optional
        A customers table whose columns ``by`` may name (joined on ``customer_id``).
    cohort : {"month", "quarter", "year"}, default "year"
    spells : {"first", "all"}, default "first"
        As in :func:`~clvml.data.subscriptions.subscription_spells`.
    margin : float, default 1.0
        Share of the price that is margin.
    annual_discount_rate : float, default 0.10
        For the new-customer values ``clv_new_*`` only, converted to the billing period
        (``(1 + d)^(1/12) - 1`` a month). Must be > 0: the sBG lifetime has no mean
        when ``alpha <= 1``.
    min_customers : int, default 50
        Groups with fewer spells before the cut-off are not fitted (their rows have NaN
        predictions) and are left out of the ``all`` row's errors.

    Returns
    -------
    SubscriptionComparison

    Raises
    ------
    DataValidationError
        A missing column, a holdout ending before the cut-off, or no customer active
        on the cut-off.
    """
    cut = pd.Timestamp(cutoff)
    if not (np.isfinite(margin) and margin > 0):
        raise DataValidationError(f"margin={margin!r}; expected a number > 0")
    if not (np.isfinite(annual_discount_rate) and annual_discount_rate >= 0.02):
        raise DataValidationError(
            f"annual_discount_rate={annual_discount_rate!r}; expected a rate >= 0.02 "
            "(a new customer's lifetime may have no finite mean undiscounted)"
        )
    subs = subscriptions
    if customers is not None:
        extra = [c for c in by if c not in subs.columns and c in customers.columns]
        if extra:
            subs = subs.merge(
                customers[["customer_id", *extra]].drop_duplicates("customer_id"),
                on="customer_id",
                how="left",
            )
    calibration = subscription_spells(subs, as_of=cut, spells=spells, cohort=cohort)
    frame = calibration.spells
    if holdout_end is None:
        both = pd.concat([pd.Series(subs["start"]), pd.Series(subs.get("end", pd.NaT))])
        holdout_end = both.max()
    h_end = pd.Timestamp(holdout_end)
    if h_end <= cut:
        raise DataValidationError(
            f"holdout_end={h_end.date()} is not after the cut-off {cut.date()}; expected "
            "data after the cut-off to judge the predictions on"
        )
    keys = list(by)
    for k in keys:
        if k not in frame.columns:
            raise DataValidationError(
                "is not a column of the subscriptions (or of the customers given)", column=k
            )
    if frame["period"].nunique() > 1 and "period" not in keys:
        keys.append("period")
    # customers active on the cut-off: no end by then (not "censored" spells that ended
    # in the running period: those are known to be gone)
    end = frame["end"]
    active = (end.isna() | (end > cut)).to_numpy()
    scored = frame[active].copy()
    if scored.empty:
        raise DataValidationError(
            f"no subscription is active on the cut-off {cut.date()}; choose an earlier one"
        )
    start = scored["start"]
    until = pd.Series(h_end, index=scored.index)
    window = (
        periods_reached(start, until, scored["period"], strict=False)
        - scored["duration"].to_numpy()
    )
    ended = scored["end"].notna() & (scored["end"] <= h_end)
    paid = np.full(len(scored), np.iinfo(np.int64).max // 4, dtype=np.int64)
    if ended.any():
        sub = scored[ended]
        paid[ended.to_numpy()] = periods_reached(
            sub["start"], sub["end"], sub["period"], strict=True
        )
    realised = np.clip(
        np.minimum(paid, scored["duration"].to_numpy() + window) - scored["duration"].to_numpy(),
        0,
        None,
    )
    scored["tenure"] = scored["duration"].to_numpy()
    scored["window"] = window
    scored["realised_renewals"] = realised
    price = (
        scored["price_per_period"].fillna(1.0).to_numpy(dtype=float)
        if "price_per_period" in scored.columns
        else np.ones(len(scored))
    )
    scored["value_per_renewal"] = price * margin

    rows = []
    curve_parts = []
    models: dict[Any, dict[str, Any]] = {}
    groups = frame.groupby(keys, sort=True, observed=True) if keys else [((), frame)]
    scored_groups = dict(
        iter(scored.groupby(keys, sort=True, observed=True)) if keys else [((), scored)]
    )
    for values, group in groups:
        label = _label(keys, values)
        period = str(group["period"].iloc[0])
        per_year = 12.0 if period == "month" else 1.0
        discount = (1.0 + annual_discount_rate) ** (1.0 / per_year) - 1.0
        here = scored_groups.get(values)
        here = scored.iloc[0:0] if here is None else here
        idx = here.index
        r = formula_retention(group, cut, period)
        survival_of: dict[str, Any] = {
            "formula": (lambda t, r=r: np.power(r, np.asarray(t, dtype=float)))
        }
        fitted: dict[str, Any] = {}
        notes: list[str] = []
        lr_p = float("nan")
        if len(group) >= min_customers and (~group["censored"]).any():
            rows_c = compress_spells(group)
            for name, cls in _MODELS.items():
                # the standard errors are not used here: a singular information matrix
                # (a cohort with few renewals seen) is noted, not raised
                with warnings.catch_warnings(record=True) as caught, np.errstate(over="ignore"):
                    warnings.simplefilter("always", ConvergenceWarning)
                    try:
                        fitted[name] = cls().fit(rows_c[["duration", "censored", "weight"]])
                    except (ClvmlError, ValueError, np.linalg.LinAlgError) as exc:
                        notes.append(f"{name} not fitted: {str(exc).splitlines()[0]}")
                        continue
                if any(issubclass(w.category, ConvergenceWarning) for w in caught):
                    notes.append(f"{name}: standard errors unreliable (singular information)")
                survival_of[name] = fitted[name].survival
            if "sbg" in fitted and "bdw" in fitted:
                from clvml.models.subscription import likelihood_ratio_test

                lr_p = float(likelihood_ratio_test(fitted["sbg"], fitted["bdw"])["p_value"])
        models[label] = fitted
        row: dict[str, Any] = dict(
            zip(keys, values if isinstance(values, tuple) else (values,), strict=False)
        )
        row["customers"] = len(here)
        value = scored.loc[idx, "value_per_renewal"].to_numpy()
        real_k = scored.loc[idx, "realised_renewals"].to_numpy()
        realised_value = value * real_k
        row["realised"] = float(realised_value.sum())
        mean_price = margin * (
            float(group["price_per_period"].fillna(1.0).mean())
            if "price_per_period" in group.columns
            else 1.0
        )
        tenure_g = scored.loc[idx, "tenure"].to_numpy()
        window_g = scored.loc[idx, "window"].to_numpy()
        for name in METHODS:
            if name not in survival_of or (name == "formula" and not np.isfinite(r)):
                row[name] = np.nan
                scored.loc[idx, f"expected_{name}"] = np.nan
                row[f"clv_new_{name}"] = np.nan
                continue
            exp_k = _expected_renewals(survival_of[name], tenure_g, window_g, 0.0)
            scored.loc[idx, f"expected_{name}"] = exp_k
            row[name] = float((value * exp_k).sum())
            row[f"clv_new_{name}"] = _new_customer_lifetime(survival_of[name], discount)
        for name in METHODS:
            if np.isfinite(row.get(f"clv_new_{name}", np.nan)):
                row[f"clv_new_{name}"] *= mean_price
        row["retention"] = r
        row["lr_p_value"] = lr_p
        if not np.isfinite(r):
            notes.append("formula: no calendar period with customers at its start")
        if len(group) < min_customers:
            notes.append(f"fewer than {min_customers} spells: not fitted")
        if "price_per_period" in here.columns:
            unpriced = int(here["price_per_period"].isna().sum())
            if unpriced:
                notes.append(f"{unpriced} active spells without a price counted at 1 a period")
        row["notes"] = "; ".join(notes)
        rows.append(row)
        curve_parts.append(_curves(subs, group, keys, values, h_end, spells, cohort, survival_of))
    table = pd.DataFrame(rows)
    fitted_rows = table[[m for m in METHODS]].notna().all(axis=1)
    total: dict[str, float] = {"customers": int(table["customers"].sum())}
    total["realised"] = float(table.loc[fitted_rows, "realised"].sum())
    for name in METHODS:
        total[name] = float(table.loc[fitted_rows, name].sum())
    all_row = pd.DataFrame([total])
    for k in keys:
        all_row[k] = "all"
    table = pd.concat([table, all_row], ignore_index=True)
    for name in METHODS:
        with np.errstate(invalid="ignore", divide="ignore"):
            table[f"{name}_error"] = (table[name] - table["realised"]) / table["realised"]
    ordered = [
        *keys,
        "customers",
        "realised",
        *METHODS,
        *(f"{m}_error" for m in METHODS),
        "retention",
        *(f"clv_new_{m}" for m in METHODS),
        "lr_p_value",
        "notes",
    ]
    table = table.reindex(columns=ordered)
    table["notes"] = table["notes"].fillna("")
    curves = pd.concat(curve_parts, ignore_index=True) if curve_parts else pd.DataFrame()
    keep = [*keys, "tenure", "window", "realised_renewals", *(f"expected_{m}" for m in METHODS)]
    per_customer = scored[["customer_id", *[c for c in keep if c in scored.columns]]]
    return SubscriptionComparison(table, per_customer.reset_index(drop=True), curves, models,
                                  cut, h_end)  # fmt: skip


def _curves(
    subs: pd.DataFrame,
    group: pd.DataFrame,
    keys: list[str],
    values: Any,
    h_end: pd.Timestamp,
    spells: str,
    cohort: str,
    survival_of: dict[str, Any],
) -> pd.DataFrame:
    """Observed retention of the group's customers with all data to ``h_end``, and the
    projections from the calibration fits."""
    ids = group["customer_id"].unique()
    later = subscription_spells(
        subs[subs["customer_id"].isin(ids)], as_of=h_end, spells=spells, cohort=cohort
    )
    obs = cohort_survival(later.spells[["duration", "censored"]], by=())
    t = obs["t"].to_numpy()
    out = pd.DataFrame({"t": t, "observed": obs["retention"].to_numpy(), "at_risk": (
        obs["active"] - obs["censored"]).to_numpy()})  # fmt: skip
    for name, survival in survival_of.items():
        if name == "formula":  # constant: r itself, not a ratio of its powers
            out[name] = float(np.asarray(survival(1.0)))
            continue
        s_now = np.asarray(survival(t.astype(float)))
        s_before = np.asarray(survival(t.astype(float) - 1.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = s_now / s_before
    labels = values if isinstance(values, tuple) else (values,)
    for i, (k, v) in enumerate(zip(keys, labels, strict=False)):
        out.insert(i, k, v)
    return out


def plot_retention_curves(
    result: SubscriptionComparison,
    group: Any = None,
    ax: Axes | None = None,
    *,
    period: str | None = None,
    min_at_risk: int = 30,
) -> Axes:
    """Observed retention by tenure against each method's projection, for one group.

    The observed points use every spell up to the holdout's end (Kaplan-Meier, tenures
    with at least ``min_at_risk`` customers whose outcome is known); the lines are
    projected from the calibration data only: the formula's constant ``r`` and the
    sBG and BdW retention curves, which rise with tenure as the churn-prone leave.

    Parameters
    ----------
    result : SubscriptionComparison
    group : optional
        The group's label (a value of the first ``by`` column; default: the first
        group).
    period : {"month", "year"}, optional
        When the table mixes billing periods: which one (default: month).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure by default.
    min_at_risk : int, default 30

    Returns
    -------
    matplotlib.axes.Axes
    """
    curves = result.curves
    keys = [c for c in curves.columns if c not in ("t", "observed", "at_risk", *METHODS)]
    title = "all customers"
    if "period" in keys:
        periods = curves["period"].unique()
        chosen_period = (
            period if period is not None else ("month" if "month" in periods else periods[0])
        )
        curves = curves[curves["period"] == chosen_period]
        keys.remove("period")
        title = f"{chosen_period}ly plans"
    if keys:
        labels = curves[keys[0]].astype(str)
        chosen = labels.iloc[0] if group is None else str(group)
        curves = curves[labels == chosen]
        if curves.empty:
            raise DataValidationError(f"no group {group!r}; groups: {', '.join(labels.unique())}")
        title = f"{keys[0]} {chosen}, {title}"
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6.5, 4.5))
    seen = curves[curves["at_risk"] >= min_at_risk]
    ax.plot(seen["t"], seen["observed"], "o", color="black", ms=4, label="observed")
    styles = {"formula": ("--", "formula (constant r)"), "sbg": ("-", "sBG"), "bdw": ("-.", "BdW")}
    for name in METHODS:
        if name in curves.columns and curves[name].notna().any():
            style, label = styles[name]
            ax.plot(curves["t"], curves[name], style, label=label)
    ax.set_xlabel("period of tenure t")
    ax.set_ylabel("retention r_t (share renewing)")
    ax.set_title(f"Retention by tenure: {title}")
    ax.legend(loc="lower right")
    return ax
