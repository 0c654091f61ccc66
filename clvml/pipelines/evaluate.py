"""Judging CLV methods and models on a holdout.

:func:`evaluate_methods` is ``clvml evaluate``: a data folder read and validated, every
method compared on the holdout after a cut-off (with the generator's truth when the
folder has one for that holdout). The rest serves the train pipeline
(:mod:`clvml.pipelines.train`): the served model's holdout metrics, the value the gate
compares and the current champion re-scored on the same holdout.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clvml.data.dates import as_day
from clvml.data.policy import ValidationPolicy
from clvml.exceptions import DataValidationError
from clvml.pipelines.steps import Steps

__all__ = [
    "champion_on_holdout",
    "comparison_table",
    "evaluate_methods",
    "gate_value",
    "holdout_metrics",
]


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


def _truth_for(folder: Path, cutoff: pd.Timestamp, horizon_weeks: float) -> pd.DataFrame | None:
    """The generator's truth when the folder has one and it describes this holdout."""
    from clvml.data.io import read_table

    files = [p for p in folder.iterdir() if p.stem.lower() == "truth" and p.is_file()]
    meta = folder / "metadata.json"
    if not files or not meta.is_file():
        return None
    info = json.loads(meta.read_text())
    if info.get("calibration_end") is None:
        return None
    # the generator's calibration_end is an exclusive midnight: its last day is the day before
    last_day = as_day(info["calibration_end"], name=f"calibration_end in {meta}", exclusive=True)
    weeks = float(info.get("horizon_weeks", "nan"))
    if last_day != cutoff or abs(weeks - horizon_weeks) > 1 / 7:
        return None
    return read_table(files[0])


def evaluate_methods(
    data: str | os.PathLike[str],
    *,
    calibration_end: object,
    holdout_end: object = None,
    horizon_weeks: float | None = None,
    supervised: str = "auto",
    n_folds: int = 2,
    random_state: int = 0,
    policy: ValidationPolicy | None = None,
    columns: Mapping[str, str] | None = None,
    console: Any | None = None,
    steps: Steps | None = None,
) -> Any:
    """Compare every CLV method on the holdout of a data folder (``clvml evaluate``).

    Parameters
    ----------
    data : path-like or SQLAlchemy URL
        Folder (or database) with ``transactions`` and optionally ``engagement`` and
        ``customers``, validated with ``policy`` (default: the default policies) after
        renaming ``columns`` (contract name -> the source's, :mod:`clvml.data.mapping`).
    calibration_end : date-like
        Last day (inclusive) the methods see.
    holdout_end : date-like, optional
        Last day of the holdout (exactly one of ``holdout_end`` and ``horizon_weeks``).
    horizon_weeks : float, optional
        Length of the holdout in weeks.
    supervised : {"auto", "time", "customers"}, default "auto"
        How the supervised parts train (see :func:`clvml.evaluation.comparison.compare_methods`).
    n_folds, random_state : int
        Customer folds and seed.
    console : rich.console.Console, optional
        Show the steps' progress there (:class:`clvml.pipelines.steps.Steps`).
    steps : Steps, optional
        The steps' progress and timings (default: new ones on ``console``).

    Returns
    -------
    clvml.evaluation.comparison.ComparisonResult

    Raises
    ------
    DataValidationError
        Both or neither of ``holdout_end`` and ``horizon_weeks``, an unknown
        ``supervised``, or data breaking their contract.
    """
    from clvml.data.io import is_database_url, load_tables
    from clvml.data.validation import validate_customers, validate_engagement, validate_transactions
    from clvml.evaluation.comparison import compare_methods

    if (holdout_end is None) == (horizon_weeks is None):
        raise DataValidationError("give exactly one of --holdout-end and --horizon-weeks")
    if supervised not in ("auto", "time", "customers"):
        raise DataValidationError(f"--supervised must be auto, time or customers: {supervised}")
    cutoff = as_day(calibration_end, name="--calibration-end")
    end = (
        as_day(holdout_end, name="--holdout-end")
        if holdout_end is not None
        else cutoff + pd.Timedelta(days=round(7 * float(horizon_weeks)))  # type: ignore[arg-type]
    )
    if not is_database_url(data) and not Path(data).exists():
        raise FileNotFoundError(f"{data}: no such data folder or file (--data)")
    steps = steps or Steps(console)
    with steps.step("load data"):
        found = load_tables(data, columns=columns)
    with steps.step("validate"):
        tx = validate_transactions(found["transactions"], policy)
        eng = validate_engagement(found["engagement"], policy) if "engagement" in found else None
        cust = validate_customers(found["customers"], policy) if "customers" in found else None
    weeks = (end - cutoff) / pd.Timedelta(weeks=1)
    truth = _truth_for(Path(data), cutoff, weeks) if Path(str(data)).is_dir() else None
    with steps.step("compare methods", f"holdout to {end.date()}"):
        return compare_methods(
            tx,
            eng,
            cust,
            calibration_end=cutoff,
            holdout_end=end,
            truth=truth,
            supervised=supervised,  # type: ignore[arg-type]
            n_folds=n_folds,
            random_state=random_state,
        )
