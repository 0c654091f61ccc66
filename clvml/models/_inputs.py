"""Checks of the inputs of :class:`~clvml.models.clv_model.CLVModel`: parameters, frames, labels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError
from clvml.features.frames import CustomerFrame

__all__ = ["check_frame", "check_labels", "check_params", "same_cutoff", "unwrap"]


def unwrap(features: Any) -> tuple[Any, pd.Timestamp | None]:
    """A customer frame's DataFrame and cut-off (None for a plain DataFrame)."""
    if isinstance(features, CustomerFrame):
        return features.frame, features.cutoff
    return features, None


def same_cutoff(
    a: pd.DataFrame, b: pd.DataFrame, ca: pd.Timestamp | None, cb: pd.Timestamp | None
) -> bool:
    """Whether two customer frames were built at the same cut-off.

    Known cut-offs (:class:`CustomerFrame`) decide; otherwise the ages of the customers
    both frames hold must agree.
    """
    if ca is not None and cb is not None:
        return bool(ca == cb)
    common = a.index.intersection(b.index)
    if len(common) == 0:
        return False
    return bool(np.allclose(a.loc[common, "T"].to_numpy(float), b.loc[common, "T"].to_numpy(float)))


def check_params(model: Any) -> list[str]:
    """The requested methods, after checking the estimator's parameters."""
    names = tuple(model.registry)
    methods = list(dict.fromkeys(str(m) for m in model.methods))
    unknown = [m for m in methods if m not in model.registry]
    if unknown or not methods:
        raise ValueError(f"methods must be a non-empty subset of {names}, got {unknown}")
    if model.champion not in model.registry:
        raise ValueError(f"champion must be one of {names}, got {model.champion!r}")
    h = float(model.horizon_weeks)
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"horizon_weeks must be > 0, got {model.horizon_weeks!r}")
    if not (np.isfinite(model.margin) and model.margin >= 0):
        raise ValueError(f"margin must be >= 0, got {model.margin!r}")
    if not (np.isfinite(model.annual_discount_rate) and model.annual_discount_rate > -1):
        raise ValueError(f"annual_discount_rate must be > -1, got {model.annual_discount_rate}")
    pen = model.covariate_penalizer
    if not (pen == "auto" or (isinstance(pen, int | float) and np.isfinite(pen) and pen >= 0)):
        raise ValueError(f"covariate_penalizer must be 'auto' or a number >= 0, got {pen!r}")
    return methods


def check_frame(features: Any, name: str, columns: Sequence[str]) -> pd.DataFrame:
    """``features`` (a DataFrame) with ``columns`` and at least one customer."""
    if not isinstance(features, pd.DataFrame):
        raise DataValidationError(
            f"{name} must be a pandas DataFrame or a CustomerFrame, got {type(features)}"
        )
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise DataValidationError(
            f"{name} lacks the column(s) {missing} (build it with "
            "clvml.features.dataset.customer_features)",
            column=missing[0],
            n_rows=len(features),
        )
    if len(features) == 0:
        raise DataValidationError(f"{name} has no customers")
    return features


def check_labels(labelled: pd.DataFrame, labels: Any, horizon_weeks: float) -> pd.DataFrame:
    """``labels`` aligned on ``labelled``, over a window of ``horizon_weeks``."""
    if not isinstance(labels, pd.DataFrame):
        raise DataValidationError(
            f"labels must be a DataFrame with revenue and churned, got {type(labels)}"
        )
    for col in ("revenue", "churned"):
        if col not in labels.columns:
            raise DataValidationError("is missing from labels", column=col)
    if len(labels) != len(labelled) or not labels.index.equals(labelled.index):
        try:
            labels = labels.loc[labelled.index]
        except KeyError as exc:
            raise DataValidationError(
                "labels must have a row for every customer of labelled_features",
                n_rows=len(labelled),
            ) from exc
    weeks = labels.attrs.get("weeks")
    if weeks is not None and abs(float(weeks) - float(horizon_weeks)) > 1 / 7 + 1e-9:
        raise DataValidationError(
            f"the labels cover {float(weeks):.2f} weeks but horizon_weeks is "
            f"{float(horizon_weeks):g}: train the supervised parts on a window of the "
            "horizon's length"
        )
    return labels
