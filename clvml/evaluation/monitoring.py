r"""Judging a served model after the fact: past predictions against what customers then did,
and the drift of the input features.

Two pure computations, used by ``clvml monitor`` (:mod:`clvml.pipelines.monitor`):

**Accuracy of a past scoring run** (:func:`prediction_accuracy`). A run scored customers
as of a day :math:`d` over a horizon of :math:`H` weeks. When the data now reach
:math:`d + e` weeks, the realised revenue and purchases of each customer over
:math:`(d, d + \min(e, H)]` are compared with the predictions **pro-rated** to the
elapsed share :math:`f = \min(e / H, 1)` of the horizon: ``clv * f`` and
``expected_purchases * f`` (value assumed to accrue evenly over the horizon). Per value
tier and overall: the normalised Gini of the CLV ranking against realised revenue
(:func:`clvml.evaluation.metrics.normalized_gini`; unaffected by the pro-rating), the
total bias (pro-rated predicted total / realised total - 1) of revenue and of purchases,
and the churn calibration. Churn (no purchase over the horizon) is only known once the
horizon has elapsed: then the expected calibration error and Brier score of
``churn_probability`` (:func:`clvml.evaluation.classification.churn_metrics`); before,
the share of customers with no purchase *so far*, an upper bound of the eventual churn
rate (a mean predicted churn probability above it is already an over-prediction).

**Feature drift** (:func:`feature_drift`) between a reference frame (the customers at the
model's training cut-off) and the current one: the population stability index per
feature, :math:`\mathrm{PSI} = \sum_k (a_k - e_k) \log(a_k / e_k)` over the bins
:math:`k` (deciles of the reference for numbers, one bin per category otherwise, missing
values their own bin), shares floored at :data:`PSI_FLOOR`; and for categorical features
the share of current customers whose category the reference never saw. The usual
reading: PSI < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 large shift.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from clvml.evaluation.classification import churn_metrics
from clvml.evaluation.metrics import normalized_gini
from clvml.exceptions import DataValidationError

__all__ = [
    "ACCURACY_METRICS",
    "PSI_FLOOR",
    "feature_drift",
    "population_stability_index",
    "prediction_accuracy",
    "unseen_share",
]

#: Smallest share a bin counts with in the PSI (an empty bin would make it infinite).
PSI_FLOOR = 1e-4
#: The metrics of :func:`prediction_accuracy`, in display order.
ACCURACY_METRICS = (
    "n_customers",
    "normalized_gini",
    "total_bias",
    "predicted_total",
    "realised_total",
    "purchases_bias",
    "mean_churn_probability",
    "churn_rate_so_far",
    "churn_ece",
    "churn_brier",
)


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _shares(codes: np.ndarray, n_bins: int) -> np.ndarray:
    counts = np.bincount(codes, minlength=n_bins).astype(float)
    return np.maximum(counts / max(codes.size, 1), PSI_FLOOR)


def population_stability_index(reference: Any, current: Any, *, n_bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference``.

    Numbers are binned at the ``n_bins``-quantiles of ``reference`` (ties merge bins);
    anything else (strings, booleans, categories) has one bin per value of
    ``reference`` plus one for values it never saw. Missing values are a bin of their own.

    Parameters
    ----------
    reference, current : array-like
        The feature in the reference population (training) and now.
    n_bins : int, default 10
        Quantile bins of a numeric feature.

    Returns
    -------
    float
        0 for identical distributions; NaN when either side is empty.

    Examples
    --------
    >>> round(population_stability_index(["a", "a", "b", "b"], ["a", "b", "b", "b"]), 4)
    0.2747
    """
    ref = pd.Series(reference).reset_index(drop=True)
    cur = pd.Series(current).reset_index(drop=True)
    if ref.empty or cur.empty:
        return float("nan")
    if _is_numeric(ref) and (_is_numeric(cur) or cur.isna().all()):
        r = ref.to_numpy(dtype=float)
        c = cur.to_numpy(dtype=float)
        finite = r[np.isfinite(r)]
        edges = (
            np.unique(np.quantile(finite, np.linspace(0, 1, n_bins + 1)[1:-1]))
            if finite.size
            else np.array([])
        )
        n = edges.size + 2  # value bins, then the missing bin

        def codes(x: np.ndarray) -> np.ndarray:
            out = np.searchsorted(edges, x, side="right")
            out[~np.isfinite(x)] = n - 1
            return out

        e, a = _shares(codes(r), n), _shares(codes(c), n)
    else:
        rs, cs = (
            ref.astype("string").fillna("\x00missing"),
            cur.astype("string").fillna("\x00missing"),
        )
        cats = pd.Index(rs.unique())
        n = len(cats) + 1  # the categories of the reference, then "unseen"
        rc = cats.get_indexer(rs)
        cc = cats.get_indexer(cs)
        cc[cc < 0] = n - 1
        e, a = _shares(rc, n), _shares(cc, n)
    return float(np.sum((a - e) * np.log(a / e)))


def unseen_share(reference: Any, current: Any) -> float:
    """Share of ``current`` values (missing ones excluded) that ``reference`` never holds."""
    ref = pd.Series(reference).dropna().astype("string")
    cur = pd.Series(current).dropna().astype("string")
    if cur.empty:
        return float("nan")
    return float((~cur.isin(set(ref))).mean())


def feature_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    n_bins: int = 10,
) -> pd.DataFrame:
    """PSI per feature (and unseen-category share of categorical ones).

    Parameters
    ----------
    reference, current : pandas.DataFrame
        One row per customer (e.g. the customer frames at the training cut-off and now).
    columns : sequence of str, optional
        Features to compare (default: the columns both frames have).
    n_bins : int, default 10

    Returns
    -------
    pandas.DataFrame
        One row per feature: ``feature``, ``kind`` (``numeric``/``categorical``),
        ``psi``, ``unseen_share`` (NaN for numeric features).

    Raises
    ------
    DataValidationError
        A requested column missing from either frame.
    """
    if columns is None:
        columns = [c for c in reference.columns if c in current.columns]
    rows = []
    for col in columns:
        for name, frame in (("reference", reference), ("current", current)):
            if col not in frame.columns:
                raise DataValidationError(
                    f"is missing from the {name} frame ({len(frame):,} rows); "
                    "expected every feature compared",
                    column=col,
                )
        numeric = _is_numeric(reference[col])
        rows.append(
            {
                "feature": str(col),
                "kind": "numeric" if numeric else "categorical",
                "psi": population_stability_index(reference[col], current[col], n_bins=n_bins),
                "unseen_share": float("nan")
                if numeric
                else unseen_share(reference[col], current[col]),
            }
        )
    return pd.DataFrame(rows, columns=["feature", "kind", "psi", "unseen_share"])


def _required(frame: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    for c in cols:
        if c not in frame.columns:
            raise DataValidationError(
                f"is missing from the {what} ({len(frame):,} rows)", column=c, n_rows=len(frame)
            )


def _scope_metrics(
    pred: pd.DataFrame, real: pd.DataFrame, fraction: float, complete: bool
) -> dict[str, float]:
    n = len(pred)
    nan = float("nan")
    out: dict[str, float] = dict.fromkeys(ACCURACY_METRICS, nan)
    out["n_customers"] = float(n)
    if n == 0:
        return out
    clv = pred["clv"].to_numpy(dtype=float) * fraction
    revenue = real["revenue"].to_numpy(dtype=float)
    realised = float(revenue.sum())
    out["predicted_total"] = float(clv.sum())
    out["realised_total"] = realised
    if n >= 2 and np.isfinite(clv).all():
        out["normalized_gini"] = normalized_gini(revenue, clv)
    if realised > 0:
        out["total_bias"] = float(clv.sum() / realised - 1)
    if "expected_purchases" in pred.columns:
        ep = pred["expected_purchases"].to_numpy(dtype=float) * fraction
        bought = float(real["purchases"].to_numpy(dtype=float).sum())
        if bought > 0 and np.isfinite(ep).all():
            out["purchases_bias"] = float(ep.sum() / bought - 1)
    if "churn_probability" in pred.columns:
        p = pred["churn_probability"].to_numpy(dtype=float)
        ok = np.isfinite(p)
        if ok.any():
            none = real["purchases"].to_numpy(dtype=float)[ok] == 0
            out["mean_churn_probability"] = float(p[ok].mean())
            out["churn_rate_so_far"] = float(none.mean())
            if complete:
                m = churn_metrics(none.astype(float), np.clip(p[ok], 0.0, 1.0))
                out["churn_ece"], out["churn_brier"] = m["ece"], m["brier"]
    return out


def prediction_accuracy(
    predictions: pd.DataFrame,
    realised: pd.DataFrame,
    *,
    elapsed_weeks: float,
    horizon_weeks: float,
    tier_column: str = "value_tier",
) -> pd.DataFrame:
    """Past predictions against what the customers did since (see the module notes).

    Parameters
    ----------
    predictions : pandas.DataFrame
        Indexed by ``customer_id``: ``clv`` over the horizon, optionally
        ``expected_purchases``, ``churn_probability`` and ``tier_column``.
    realised : pandas.DataFrame
        Indexed by ``customer_id`` (every predicted customer): ``revenue`` and
        ``purchases`` over the elapsed part of the horizon (as
        :func:`clvml.features.dataset.holdout_targets` returns them).
    elapsed_weeks : float
        Weeks of the horizon the realised values cover (> 0).
    horizon_weeks : float
        The predictions' horizon (> 0).
    tier_column : str, default "value_tier"

    Returns
    -------
    pandas.DataFrame
        One row per scope (``overall``, then ``tier:<tier>`` by mean predicted CLV, highest
        first) with
        the :data:`ACCURACY_METRICS` and ``fraction`` (the elapsed share used to pro-rate).

    Raises
    ------
    DataValidationError
        Missing columns, customers without realised values, or non-positive weeks.
    """
    if not (np.isfinite(horizon_weeks) and horizon_weeks > 0):
        raise DataValidationError("the horizon must be a positive number of weeks")
    if not (np.isfinite(elapsed_weeks) and elapsed_weeks > 0):
        raise DataValidationError("no time has elapsed since the predictions (elapsed weeks <= 0)")
    _required(predictions, ["clv"], "predictions")
    _required(realised, ["revenue", "purchases"], "realised values")
    missing = predictions.index.difference(realised.index)
    if len(missing):
        raise DataValidationError(
            "customers have predictions but no realised values; expected one row per customer",
            column="customer_id",
            n_rows=len(missing),
            example=str(missing[0]),
        )
    real = realised.reindex(predictions.index)
    fraction = min(float(elapsed_weeks) / float(horizon_weeks), 1.0)
    complete = float(elapsed_weeks) >= float(horizon_weeks) - 1e-9
    rows = [{"scope": "overall", **_scope_metrics(predictions, real, fraction, complete)}]
    if tier_column in predictions.columns:
        tiers = predictions[tier_column].astype("string").fillna("(none)")
        mean_clv = predictions["clv"].groupby(tiers.to_numpy()).mean()
        for tier in mean_clv.sort_values(ascending=False).index:
            mask = (tiers == tier).to_numpy()
            rows.append(
                {
                    "scope": f"tier:{tier}",
                    **_scope_metrics(predictions[mask], real[mask], fraction, complete),
                }
            )
    out = pd.DataFrame(rows)
    out["fraction"] = fraction
    return out
