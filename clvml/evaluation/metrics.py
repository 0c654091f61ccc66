"""Metrics for per-customer value predictions judged on realised holdout value.

Rankings are what marketers act on, so the headline metrics are rank-based
(normalised Gini, Spearman, revenue captured by the top customers); the
aggregate bias says whether the total is right. Ties in the prediction (many
customers predicted alike, e.g. every one-time buyer) are handled by giving
each tied group its mean realised value, so no metric depends on the order of
rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from clvml.evaluation._arrays import paired
from clvml.exceptions import DataValidationError

__all__ = [
    "HOLDOUT_METRICS",
    "decile_table",
    "gain_curve",
    "normalized_gini",
    "top_share_capture",
    "value_metrics",
]

#: The holdout metrics clvml compares methods and models on -- the one list of their names,
#: in display order -- each with its direction (True: greater is better; ``total_bias`` is
#: judged on its absolute value). :data:`clvml.evaluation.comparison.TABLE_COLUMNS`, the
#: report and the champion gate take their metric names from it.
HOLDOUT_METRICS: dict[str, bool] = {
    "normalized_gini": True,
    "spearman": True,
    "top_decile_capture": True,
    "top20_capture": True,
    "mae": False,
    "total_bias": False,
    "roc_auc": True,
    "pr_auc": True,
    "brier": False,
}


def _arrays(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t, p = paired(y_true, y_pred, "y_pred")
    for name, arr in (("y_true", t), ("y_pred", p)):
        bad = ~np.isfinite(arr)
        if bad.any():
            raise DataValidationError(
                "are NaN or infinite; expected finite values",
                column=name,
                n_rows=int(bad.sum()),
                example=float(arr[np.flatnonzero(bad)[0]]),
            )
    return t, p


def gain_curve(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative gain (Lorenz) curve of realised value ranked by prediction.

    Customers are ranked by ``y_pred`` from highest to lowest; tied predictions
    share their group's mean realised value.

    Returns
    -------
    share_customers, share_value : ndarray
        Points of the curve from (0, 0) to (1, 1), ``n + 1`` of each.

    Examples
    --------
    >>> x, y = gain_curve([0, 10, 0, 30], [1, 2, 3, 4])
    >>> y.round(2).tolist()
    [0.0, 0.75, 0.75, 1.0, 1.0]
    """
    t, p = _arrays(y_true, y_pred)
    n = t.size
    # the shares do not depend on the unit; on a unit scale tie-group means of tiny values
    # do not underflow to zero
    scale = np.abs(t).max()
    if scale > 0:
        t = t / scale
    order = np.argsort(-p, kind="stable")
    p_sorted, t_sorted = p[order], t[order]
    # tie groups: consecutive equal predictions get their mean realised value
    starts = np.flatnonzero(np.r_[True, p_sorted[1:] != p_sorted[:-1]])
    sums = np.add.reduceat(t_sorted, starts)
    sizes = np.diff(np.r_[starts, n])
    smoothed = np.repeat(sums / sizes, sizes)
    total = t.sum()
    cum = np.r_[0.0, np.cumsum(smoothed)]
    share_value = cum / total if total != 0 else np.zeros(n + 1)
    return np.arange(n + 1) / n, share_value


def normalized_gini(y_true: Any, y_pred: Any) -> float:
    """Gini of realised value ranked by prediction, divided by the Gini of the perfect ranking.

    1 is a perfect ranking, 0 is no better than random, negative is worse.

    Examples
    --------
    >>> normalized_gini([0, 1, 2, 3], [0, 1, 2, 3])
    1.0
    >>> normalized_gini([0, 1, 2, 3], [5, 5, 5, 5])
    0.0
    """
    t, p = _arrays(y_true, y_pred)
    _, model = gain_curve(t, p)
    _, best = gain_curve(t, t)
    area = lambda y: (y[1:] + y[:-1]).sum() / (2 * (len(y) - 1)) - 0.5  # noqa: E731
    best_area = area(best)
    if best_area <= 0:
        return float("nan")  # all customers realised the same value: no ranking to judge
    return float(area(model) / best_area)


def top_share_capture(y_true: Any, y_pred: Any, share: float = 0.1) -> float:
    """Share of total realised value held by the top ``share`` of customers by prediction."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    x, y = gain_curve(y_true, y_pred)
    return float(np.interp(share, x, y))


def decile_table(y_true: Any, y_pred: Any, n_bins: int = 10) -> pd.DataFrame:
    """Mean predicted vs mean realised value per decile of prediction (decile 1 = highest).

    Ties are kept in one decile (ranks by ``method="first"`` after a stable
    sort by prediction would split them arbitrarily; here tied customers take
    their group's mean rank).
    """
    t, p = _arrays(y_true, y_pred)
    ranks = stats.rankdata(-p, method="average")
    decile = np.minimum((np.ceil(ranks / t.size * n_bins)).astype(int), n_bins)
    decile = np.maximum(decile, 1)
    df = pd.DataFrame({"decile": decile, "predicted": p, "realised": t})
    out = df.groupby("decile").agg(
        customers=("predicted", "size"),
        mean_predicted=("predicted", "mean"),
        mean_realised=("realised", "mean"),
        total_realised=("realised", "sum"),
    )
    out["share_of_realised"] = out["total_realised"] / max(t.sum(), np.finfo(float).tiny)
    return out


def value_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """The comparison metrics of a value prediction on the holdout.

    Returns
    -------
    dict
        ``normalized_gini``, ``spearman``, ``top_decile_capture``,
        ``top20_capture``, ``mae``, ``total_bias`` (predicted total / realised
        total − 1), ``predicted_total``, ``realised_total``.
    """
    t, p = _arrays(y_true, y_pred)
    rho = stats.spearmanr(p, t).statistic if np.ptp(p) > 0 and np.ptp(t) > 0 else float("nan")
    realised = float(t.sum())
    return {
        "normalized_gini": normalized_gini(t, p),
        "spearman": float(rho),
        "top_decile_capture": top_share_capture(t, p, 0.1),
        "top20_capture": top_share_capture(t, p, 0.2),
        "mae": float(np.mean(np.abs(p - t))),
        "total_bias": float(p.sum() / realised - 1) if realised > 0 else float("nan"),
        "predicted_total": float(p.sum()),
        "realised_total": realised,
    }
