r"""Metrics for churn probabilities judged on realised churn labels.

Discrimination (ROC AUC, PR AUC, lift at the top decile) says whether the
model ranks churners first; calibration (Brier score, log loss, expected
calibration error) says whether a predicted 30% means 30%. A CLV composite
multiplies by these probabilities, so both matter.

The expected calibration error uses **equal-mass bins** by default: bin edges
are the quantiles of the predictions, so each bin holds about the same number
of customers and no bin is estimated from a handful of them (equal-width bins,
``strategy="uniform"``, leave the tails nearly empty when predictions
crowd). With bins :math:`B_1, \dots, B_K` of sizes :math:`n_k` out of
:math:`n`,

.. math::

    \mathrm{ECE} = \sum_{k=1}^{K} \frac{n_k}{n}
        \left| \bar y_k - \bar p_k \right|,

the weighted mean gap between the observed churn rate and the mean predicted
probability in each bin (Naeini, Cooper & Hauskrecht 2015). Tied predictions
always share a bin, so the value does not depend on the row order.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from clvml.evaluation._arrays import paired
from clvml.exceptions import DataValidationError

__all__ = [
    "churn_metrics",
    "expected_calibration_error",
    "lift_at",
]


def _check(y_true: Any, y_prob: Any) -> tuple[np.ndarray, np.ndarray]:
    y, p = paired(y_true, y_prob, "y_prob")
    bad_y = ~np.isin(y, (0.0, 1.0))
    if bad_y.any():
        raise DataValidationError(
            "must be 0 or 1 (1 = churned)",
            column="y_true",
            n_rows=int(bad_y.sum()),
            example=float(y[bad_y][0]),
        )
    bad_p = ~(np.isfinite(p) & (p >= 0.0) & (p <= 1.0))
    if bad_p.any():
        raise DataValidationError(
            "must be probabilities in [0, 1]",
            column="y_prob",
            n_rows=int(bad_p.sum()),
            example=float(p[bad_p][0]),
        )
    return y, p


def expected_calibration_error(
    y_true: Any,
    y_prob: Any,
    *,
    n_bins: int = 10,
    strategy: Literal["quantile", "uniform"] = "quantile",
) -> float:
    """Expected calibration error of predicted probabilities (see the module docstring).

    Parameters
    ----------
    y_true : array-like of {0, 1}
        Realised labels.
    y_prob : array-like of float in [0, 1]
        Predicted probabilities of label 1.
    n_bins : int, default 10
        Number of bins (fewer when tied quantiles merge bins).
    strategy : {"quantile", "uniform"}, default "quantile"
        Equal-mass bins (edges at the quantiles of ``y_prob``) or equal-width
        bins on [0, 1]. Bins are right-closed except the first, which also
        holds its left edge.

    Returns
    -------
    float
        In [0, 1]; 0 for perfect calibration in every bin.

    Examples
    --------
    >>> round(expected_calibration_error([0, 1, 0, 1], [0.2, 0.2, 0.9, 0.9], n_bins=2), 6)
    0.35
    """
    y, p = _check(y_true, y_prob)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if strategy == "quantile":
        edges = np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1))
    elif strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        raise ValueError(f"strategy must be 'quantile' or 'uniform', got {strategy!r}")
    # right-closed bins (e_{k-1}, e_k]; inner edges only, so the extremes land in the end bins
    bins = np.searchsorted(edges[1:-1], p, side="left")
    gap = np.abs(np.bincount(bins, y, minlength=n_bins) - np.bincount(bins, p, minlength=n_bins))
    return float(gap.sum() / y.size)


def lift_at(y_true: Any, y_prob: Any, fraction: float = 0.1) -> float:
    """Churn rate of the ``fraction`` of customers most likely to churn, over the base rate.

    Ties at the boundary count with their group's mean label for the
    positions inside the top share, so the result does not depend on row
    order. A lift of 3 at the top decile means the 10% flagged churn three
    times as often as the average customer; 1 is random targeting.

    Examples
    --------
    >>> lift_at([1, 0, 0, 0, 1, 0, 0, 0, 0, 0], [0.9, 0.1, 0.1, 0.1, 0.2, 0, 0, 0, 0, 0], 0.1)
    5.0
    """
    y, p = _check(y_true, y_prob)
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    base = y.mean()
    if base == 0.0:
        raise DataValidationError("no churner in y_true: the lift is undefined", column="y_true")
    k = fraction * y.size
    _, inverse = np.unique(-p, return_inverse=True)  # descending probability groups
    size = np.bincount(inverse).astype(float)
    positives = np.bincount(inverse, y)
    before = np.concatenate([[0.0], np.cumsum(size)[:-1]])
    taken = np.clip(k - before, 0.0, size)  # positions of each group inside the top k
    captured = float((taken * positives / size).sum())
    return float(captured / k / base)


def churn_metrics(y_true: Any, y_prob: Any, *, n_bins: int = 10) -> dict[str, float]:
    """All churn metrics at once.

    Parameters
    ----------
    y_true : array-like of {0, 1}
        Realised churn (1 = churned).
    y_prob : array-like of float
        Predicted churn probabilities.
    n_bins : int, default 10
        Equal-mass bins of the expected calibration error.

    Returns
    -------
    dict
        ``roc_auc``, ``pr_auc`` (average precision, churn as the positive
        class), ``brier``, ``log_loss``, ``ece``, ``lift_top_decile``,
        ``churn_rate`` (observed) and ``mean_prediction``. The AUCs are NaN
        when only one class is present.

    Examples
    --------
    >>> m = churn_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> m["roc_auc"], round(m["brier"], 6)
    (0.75, 0.158125)
    """
    y, p = _check(y_true, y_prob)
    both = 0.0 < y.mean() < 1.0
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0.0, 1.0])),
        "ece": expected_calibration_error(y, p, n_bins=n_bins),
        "lift_top_decile": lift_at(y, p, 0.1) if y.any() else float("nan"),
        "churn_rate": float(y.mean()),
        "mean_prediction": float(p.mean()),
    }
