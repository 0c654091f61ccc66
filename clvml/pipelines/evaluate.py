"""Judging a trained model on its holdout: the served model's metrics, the gate's value.

Used by the train pipeline (:mod:`clvml.pipelines.train`) for the served model and
for re-scoring the current champion on the same holdout before the gate decides.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["champion_on_holdout", "comparison_table", "gate_value", "holdout_metrics"]


def holdout_metrics(pred: pd.DataFrame, targets: pd.DataFrame) -> dict[str, float]:
    """Value metrics of ``pred["clv"]`` and churn metrics of its churn probability on the holdout.

    ``targets`` holds the holdout ``revenue`` and ``churned`` of the same customers
    (:func:`clvml.features.dataset.build_customer_dataset`).
    """
    from clvml.evaluation.classification import churn_metrics
    from clvml.evaluation.metrics import value_metrics

    y = targets["revenue"].reindex(pred.index).to_numpy(dtype=float)
    out = value_metrics(y, pred["clv"].to_numpy(dtype=float))
    if "churn_probability" in pred:
        churned = targets["churned"].reindex(pred.index).to_numpy(dtype=float)
        p = pred["churn_probability"].to_numpy(dtype=float)
        if np.isfinite(p).all() and 0 < churned.mean() < 1:
            out.update(churn_metrics(churned, p))
    return out


def gate_value(metric: str, metrics: dict[str, float]) -> float:
    """The value the gate compares: the metric, or its absolute value for ``total_bias``."""
    value = float(metrics.get(metric, float("nan")))
    return abs(value) if metric == "total_bias" else value


def champion_on_holdout(
    name: str, metric: str, features: pd.DataFrame, targets: pd.DataFrame
) -> tuple[float | None, str]:
    """Re-score the current champion on this holdout; (None, why) when it cannot be."""
    import mlflow

    try:
        loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
        from clvml.models.model_input import to_model_input

        pred = loaded.predict(to_model_input(features))
        pred = pred.set_index(pred["customer_id"].astype(str))
        return gate_value(metric, holdout_metrics(pred, targets)), "re-scored on this holdout"
    except Exception as exc:
        return None, f"stored value (could not re-score: {type(exc).__name__})"


def comparison_table(comparison: Any) -> pd.DataFrame:
    """The comparison's table indexed by method (spaces replaced, for MLflow metric names)."""
    table = comparison.table
    if "method" in table.columns:
        table = table.set_index("method")
    table.index = [str(m).replace(" ", "_") for m in table.index]
    table.index.name = "method"
    return table
