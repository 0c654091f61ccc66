"""``clvml evaluate`` on subscriptions: every subscription method and the marketing
formula judged on the holdout (:mod:`clvml.pipelines.subscriptions`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from clvml.data.dates import as_day
from clvml.data.policy import ValidationPolicy
from clvml.exceptions import DataValidationError
from clvml.pipelines.subscriptions.inputs import (
    SubscriptionTables,
    fit_subscription_model,
    load_subscriptions,
    spell_frame,
)


@dataclass
class SubscriptionEvaluation:
    """The subscription methods judged on a holdout (:func:`evaluate_subscriptions`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per method: ``method``, ``spells`` (active on the cut-off),
        ``renewals_expected``, ``renewals_paid``, ``renewals_bias`` (expected / paid - 1),
        ``mae_renewals`` (per spell), ``value_expected``, ``value_paid``,
        ``value_bias``, ``brier_next_renewal`` and ``bic`` (summed over billing periods).
    predictions : pandas.DataFrame
        Per active spell: ``customer_id``, ``period``, ``tenure``, ``horizon`` (billing
        dates in the holdout), ``paid`` (renewals paid), ``renewals_<method>``.
    calibration_end, holdout_end : pandas.Timestamp
    champion : str
        The model with the lowest ``mae_renewals`` (the formula is a reference).
    lr_tests : dict
        sBG vs BdW likelihood-ratio test per billing period.
    covariates : list of str
    formula_retention : dict of str to float
        Per billing period, the formula's pooled retention ``sum(C_F - C_N) / sum(C_I)``
        before the cut-off (:func:`clvml.evaluation.subscription_comparison.formula_retention`).
    notes : list of str
        The fits' convergence warnings, one line each.
    """

    table: pd.DataFrame
    predictions: pd.DataFrame
    calibration_end: pd.Timestamp
    holdout_end: pd.Timestamp
    champion: str
    lr_tests: dict[str, dict[str, float]] = field(default_factory=dict)
    covariates: list[str] = field(default_factory=list)
    formula_retention: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def judge(
    tables: SubscriptionTables, cutoff: pd.Timestamp, end: pd.Timestamp, **params: Any
) -> tuple[SubscriptionEvaluation, Any]:
    """The formula (subdata's comparison, which also counts the holdout windows and the
    renewals paid) and every subscription method on the spells active on the cut-off."""
    from clvml.evaluation.subscription_comparison import compare_subscription_clv

    comparison = compare_subscription_clv(
        tables.subscriptions,
        cutoff,
        holdout_end=end,
        by=(),
        spells="all",
        margin=float(params.get("margin", 1.0)),
        annual_discount_rate=float(params.get("annual_discount_rate", 0.1)),
    )
    spells = spell_frame(tables, cutoff)
    notes: list[str] = []
    model = fit_subscription_model(spells, notes, **params)
    # the comparison's rows are the spells not ended by the cut-off, in the same order
    judged = comparison.customers
    ongoing = (spells["end"].isna() | (spells["end"] > cutoff)).to_numpy()
    active = spells.loc[ongoing].reset_index(drop=True)
    if not (
        len(active) == len(judged)
        and (active["customer_id"].to_numpy() == judged["customer_id"].to_numpy()).all()
        and (active["duration"].to_numpy() == judged["tenure"].to_numpy()).all()
    ):  # pragma: no cover - one definition of the spells on both sides
        raise RuntimeError("the comparison's spells differ from the models' spells")
    for col in ("window", "realised_renewals", "expected_formula"):
        active[col] = judged[col].to_numpy()
    window = active["window"].to_numpy()
    paid = active["realised_renewals"].to_numpy(dtype=float)
    expected = {"formula": active["expected_formula"].to_numpy(dtype=float)}
    renewals = model.expected_renewals(active, window)
    first = model.predict(active)
    groups = comparison.table
    if "period" in groups.columns:  # mixed billing periods: one retention per period
        by_period = groups[groups["period"] != "all"].set_index("period")["retention"]
        r_first = active["period"].map(by_period).to_numpy(dtype=float)
    else:
        r_first = np.full(len(active), float(groups["retention"].iloc[0]))
    retention = {str(k): float(v) for k, v in zip(active["period"], r_first, strict=True)}
    p_first = {"formula": r_first}
    for col in renewals.columns:
        if col != "renewals":
            name = col.removeprefix("renewals_")
            expected[name] = renewals[col].to_numpy()
            p_first[name] = first[f"p_renew_{name}"].to_numpy()
    price = float(params.get("margin", 1.0)) * (
        pd.to_numeric(active["price_per_period"], errors="coerce").fillna(1.0).to_numpy()
        if "price_per_period" in active.columns
        else np.ones(len(active))
    )  # as the comparison values a renewal (1 without a price)
    has_next = window >= 1
    renewed = (paid >= 1).astype(float)
    rows = []
    for name, pred in expected.items():
        value_pred, value_paid = float(pred @ price), float(paid @ price)
        rows.append(
            {
                "method": name,
                "spells": len(active),
                "renewals_expected": float(pred.sum()),
                "renewals_paid": float(paid.sum()),
                "renewals_bias": float(pred.sum() / paid.sum() - 1.0) if paid.sum() else np.nan,
                "mae_renewals": float(np.mean(np.abs(pred - paid))),
                "value_expected": value_pred,
                "value_paid": value_paid,
                "value_bias": value_pred / value_paid - 1.0 if value_paid else np.nan,
                "brier_next_renewal": float(
                    np.mean((p_first[name][has_next] - renewed[has_next]) ** 2)
                )
                if has_next.any()
                else np.nan,
                "bic": float(model.bic_.get(name, np.nan)),
            }
        )
    table = pd.DataFrame(rows)
    models = table[table["method"] != "formula"]
    champion = str(models.sort_values(["mae_renewals", "method"])["method"].iloc[0])
    preds = pd.DataFrame(
        {
            "customer_id": active["customer_id"].to_numpy(),
            "period": active["period"].to_numpy(),
            "tenure": active["duration"].to_numpy() + 1,
            "horizon": window,
            "paid": paid,
        }
    )
    for name, pred in expected.items():
        preds[f"renewals_{name}"] = pred
    result = SubscriptionEvaluation(
        table=table,
        predictions=preds,
        calibration_end=cutoff,
        holdout_end=end,
        champion=champion,
        lr_tests=dict(model.lr_tests_),
        covariates=list(model.covariates or []),
        formula_retention=retention,
        notes=notes,
    )
    return result, model


def holdout_window(
    tables: SubscriptionTables,
    calibration_end: object,
    holdout_end: object,
    horizon_weeks: float | None,
) -> tuple[pd.Timestamp, pd.Timestamp]:
    end = as_day(holdout_end, name="--holdout-end") if holdout_end is not None else None
    if calibration_end is None:
        weeks = 52.0 if horizon_weeks is None else float(horizon_weeks)
        last = end if end is not None else tables.last_day
        cutoff = last - pd.Timedelta(days=round(7 * weeks))
    else:
        cutoff = as_day(calibration_end, name="--calibration-end")
    if end is None:
        end = (
            cutoff + pd.Timedelta(days=round(7 * float(horizon_weeks)))
            if horizon_weeks is not None
            else tables.last_day
        )
    if not end > cutoff:
        raise DataValidationError(
            f"the holdout end {end.date()} must be after the calibration end {cutoff.date()}"
        )
    first = tables.subscriptions["start"].min()
    if cutoff < first:
        raise DataValidationError(
            f"the calibration end {cutoff.date()} is before the first subscription "
            f"({pd.Timestamp(first).date()})",
            column="start",
        )
    return pd.Timestamp(cutoff), pd.Timestamp(end)


def evaluate_subscriptions(
    data: str | os.PathLike[str],
    *,
    calibration_end: object = None,
    holdout_end: object = None,
    horizon_weeks: float | None = None,
    policy: ValidationPolicy | None = None,
    columns: Mapping[str, str] | None = None,
    annual_discount_rate: float = 0.1,
    margin: float = 1.0,
) -> SubscriptionEvaluation:
    """Judge every subscription method on the holdout after ``calibration_end``.

    Parameters
    ----------
    data : path-like or SQLAlchemy URL
        Folder (or database) with ``subscriptions`` (and optionally ``customers``).
    calibration_end : date-like, optional
        Last day the methods see [default: ``horizon_weeks`` (52) before the holdout end].
    holdout_end : date-like, optional
        Last day of the holdout [default: the data's last day, or ``horizon_weeks`` after
        the calibration end].
    horizon_weeks : float, optional
        Holdout length in weeks.
    annual_discount_rate, margin : float
        As for :class:`~clvml.models.methods.subscription.SubscriptionModel`.

    Returns
    -------
    SubscriptionEvaluation
    """
    tables = load_subscriptions(data, policy=policy, columns=columns)
    cutoff, end = holdout_window(tables, calibration_end, holdout_end, horizon_weeks)
    result, _ = judge(tables, cutoff, end, annual_discount_rate=annual_discount_rate, margin=margin)
    return result
