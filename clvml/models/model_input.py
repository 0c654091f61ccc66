"""The model-input contract: the frame a fitted CLV model scores and the frame it returns.

:func:`to_model_input` turns a customer frame (indexed by ``customer_id`` or with a
``customer_id`` column) into the columns a model was fitted on, numeric features as
``float64`` and text features as strings; :func:`predict_frame` scores it with a fitted
:class:`~clvml.models.composite.CLVModel` and returns one row per customer with
``customer_id`` first, numbers as ``float64`` and labels as strings. The MLflow pyfunc
model (:mod:`clvml.tracking.pyfunc`), the scoring pipeline and the Spark executors all
call these two functions, so every engine hands the model the same frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError

__all__ = ["is_text", "predict_frame", "to_model_input"]


def is_text(s: pd.Series) -> bool:
    """Whether a column holds text (anything but numbers and booleans)."""
    return not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


def _text(s: pd.Series, missing: str) -> np.ndarray:
    """Strings as an object array (what MLflow's ``string`` columns hold), ``missing`` for NA."""
    return s.astype("str").fillna(missing).to_numpy(dtype=object)


def to_model_input(features: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """The frame the pyfunc model takes: ``customer_id`` column, then features in order.

    Numeric and boolean features become ``float64`` (the signature's
    ``double``); text features (``acquisition_channel``) stay strings.

    Parameters
    ----------
    features : pandas.DataFrame
        Customer frame indexed by ``customer_id`` (or with a ``customer_id`` column).
    columns : list of str, optional
        Feature columns to keep, in order (default: all but ``customer_id``).

    Raises
    ------
    DataValidationError
        A required feature column is missing.
    """
    frame = features
    if "customer_id" in frame.columns:
        ids = frame["customer_id"]
        frame = frame.drop(columns="customer_id")
    else:
        ids = pd.Series(frame.index, index=frame.index)
    cols = list(frame.columns) if columns is None else list(columns)
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"the customer frame lacks {len(missing)} feature column(s) the model needs: "
            f"{missing[:5]}",
            column=missing[0],
        )
    out = pd.DataFrame({"customer_id": np.asarray(ids).astype(str)})
    for c in cols:
        out[c] = _typed(frame[c], "unknown")
    return out


def _typed(column: pd.Series, text_fill: str) -> Any:
    """Text columns as strings (``text_fill`` for missing values), the rest as float64."""
    if is_text(column):
        return _text(column, text_fill)
    return pd.to_numeric(column).astype("float64").to_numpy()


def predict_frame(
    model: Any, model_input: pd.DataFrame, *, scores_only: bool = False
) -> pd.DataFrame:
    """Per-customer predictions of a fitted CLV model, ``customer_id`` as the first column.

    Numeric outputs are ``float64`` and labels (value tier, segment) strings,
    so the output matches the logged signature whatever the input's dtypes. With
    ``scores_only`` the model's ``predict_scores`` gives the columns (the champion's,
    no ``clv_<method>``: :meth:`clvml.models.clv_model.CLVModel.predict_scores`).
    """
    cols = list(getattr(model, "feature_columns_", [c for c in model_input if c != "customer_id"]))
    x = to_model_input(model_input, cols)
    frame = x.drop(columns="customer_id").set_index(pd.Index(x["customer_id"], name="customer_id"))
    pred = model.predict_scores(frame) if scores_only else model.predict(frame)
    out = pd.DataFrame({"customer_id": pred.index.astype(str).to_numpy()})
    for c in pred.columns:
        out[c] = _typed(pred[c], "")
    return out
