"""Churn labels and leakage-free training/evaluation frames for the churn classifier.

Two label definitions, chosen by the data:

* **Non-contractual** (the default; retail, CDNOW): nobody tells the firm they
  left, so a customer *churned* in a window when they made **no purchase** in
  it. The window is ``(start, end]`` in days, as in
  :func:`clvml.features.dataset.holdout_targets`.
* **Contractual** (subscriptions): when the customers table has a
  ``cancellation_date`` column, a customer churned when they **cancelled**
  within ``(start, end]``. Customers who had already cancelled on or before
  ``start`` were not at risk; their label is missing (NaN) and the frames below
  set them aside and count them.

A supervised churn model must never see the labels of the customers it is
judged on. Two honest splits:

* :func:`time_split_training_frames` (the default): train on the features at an
  earlier cut-off ``c0`` with labels from ``(c0, cutoff]``, then predict at
  ``cutoff`` for ``(cutoff, cutoff + H]``. Nothing after the cut-off is read
  for training.
* :func:`customer_split_training_frames`: when the history is too short for an
  earlier window of the same length, train at the same cut-off on a random
  subset of customers, using *their* holdout labels, and evaluate on the other
  customers. The evaluated customers' holdout is never read for training; the
  training customers' holdout covers the same calendar period, so a shock
  common to everyone in that period (season, price change) is shared.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from clvml.data.dates import as_day
from clvml.exceptions import DataValidationError
from clvml.features.dataset import customer_features, holdout_targets

__all__ = [
    "ChurnFrames",
    "churn_labels",
    "customer_split_training_frames",
    "time_split_training_frames",
]

_WEEK = pd.Timedelta(weeks=1)


def churn_labels(
    transactions: pd.DataFrame,
    index: pd.Index,
    *,
    start: object,
    end: object,
    customers: pd.DataFrame | None = None,
) -> pd.Series:
    """Churn label of each customer of ``index`` for the window ``(start, end]`` (days).

    Parameters
    ----------
    transactions : pandas.DataFrame
        ``customer_id``, ``timestamp``, ``amount``.
    index : pandas.Index
        Customer ids to label (usually the index of a customer frame).
    start, end : date-like
        The label window: after the day ``start`` up to the day ``end``, inclusive.
    customers : pandas.DataFrame, optional
        If it has a ``cancellation_date`` column the data are contractual and
        the label is a cancellation in the window; otherwise the label is the
        absence of purchases in the window.

    Returns
    -------
    pandas.Series
        Named ``churned``, float 1.0 (churned) / 0.0, NaN for customers not at
        risk (contractual data, cancelled on or before ``start``). ``attrs``
        records ``definition`` ("no_purchase" or "cancellation"), ``start``,
        ``end``, ``weeks`` and ``n_not_at_risk``.

    Examples
    --------
    >>> import pandas as pd
    >>> tx = pd.DataFrame({"customer_id": ["a", "a", "b"], "amount": [1.0, 2.0, 3.0],
    ...     "timestamp": pd.to_datetime(["2024-01-01", "2024-02-10", "2024-01-05"])})
    >>> churn_labels(tx, pd.Index(["a", "b"]), start="2024-01-31", end="2024-03-31").tolist()
    [0.0, 1.0]
    """
    lo, hi = as_day(start, name="start"), as_day(end, name="end")
    if hi <= lo:
        raise DataValidationError(f"the label window end {hi.date()} is not after {lo.date()}")
    ids = pd.Index(index, name="customer_id").astype(str)
    attrs: dict[str, Any] = {
        "start": str(lo.date()),
        "end": str(hi.date()),
        "weeks": float((hi - lo) / _WEEK),
        "n_not_at_risk": 0,
    }
    if customers is not None and "cancellation_date" in customers.columns:
        cust = customers.assign(customer_id=customers["customer_id"].astype(str))
        cust = cust.drop_duplicates("customer_id").set_index("customer_id")
        missing = ~ids.isin(cust.index)
        if missing.any():
            raise DataValidationError(
                "customers to label are absent from the customers table",
                column="customer_id",
                n_rows=int(missing.sum()),
                example=ids[missing][0],
            )
        cancel = pd.to_datetime(cust["cancellation_date"].reindex(ids), errors="coerce")
        if getattr(cancel.dt, "tz", None) is not None:
            cancel = cancel.dt.tz_convert("UTC").dt.tz_localize(None)
        day = cancel.dt.normalize()
        gone = (day <= lo).to_numpy(dtype=bool, na_value=False)
        inside = ((day > lo) & (day <= hi)).to_numpy(dtype=bool, na_value=False)
        label = np.where(gone, np.nan, inside.astype(float))
        attrs.update(definition="cancellation", n_not_at_risk=int(gone.sum()))
        out = pd.Series(label, index=ids, name="churned")
    else:
        targets = holdout_targets(transactions, ids, start=lo, end=hi)
        out = targets["churned"].rename("churned")
        attrs["definition"] = "no_purchase"
    out.attrs = attrs
    return out


class ChurnFrames(NamedTuple):
    """Training and evaluation frames for a churn model; unpacks as four values.

    Attributes
    ----------
    X_train, y_train : pandas.DataFrame, pandas.Series
        Customer frame and churn labels of the training customers.
    X_eval, y_eval : pandas.DataFrame, pandas.Series
        The same for the customers the model is judged on.

    ``windows`` (a property) returns the split recorded in ``y_train.attrs``
    and ``y_eval.attrs``: feature cut-offs and label windows of both parts,
    the split kind, and how many customers were set aside.
    """

    X_train: pd.DataFrame
    y_train: pd.Series
    X_eval: pd.DataFrame
    y_eval: pd.Series

    @property
    def windows(self) -> dict[str, Any]:
        """The split: ``{"train": {...}, "eval": {...}}`` with cut-offs and label windows."""
        return {"train": dict(self.y_train.attrs), "eval": dict(self.y_eval.attrs)}


def _at_risk(
    X: pd.DataFrame, y: pd.Series, feature_cutoff: pd.Timestamp, split: str
) -> tuple[pd.DataFrame, pd.Series]:
    keep = y.notna().to_numpy()
    X, y = X.loc[keep], y.loc[keep].astype(float)
    y.attrs = {**y.attrs, "feature_cutoff": str(feature_cutoff.date()), "split": split}
    y.attrs["n_customers"] = len(y)
    y.attrs["churn_rate"] = float(y.mean()) if len(y) else float("nan")
    return X, y


def _check_end(transactions: pd.DataFrame, end: pd.Timestamp) -> None:
    last = transactions["timestamp"].max()
    if pd.notna(last) and (end - last) > _WEEK:
        raise DataValidationError(
            f"the transactions end on {last.date()}, more than a week before the end of the "
            f"label window {end.date()}: the labels would count missing data as churn",
            column="timestamp",
        )


def time_split_training_frames(
    transactions: pd.DataFrame,
    engagement: pd.DataFrame | None = None,
    customers: pd.DataFrame | None = None,
    *,
    cutoff: object,
    horizon_weeks: float,
    train_cutoff: object | None = None,
) -> ChurnFrames:
    """Frames for a time-based split: train on an earlier window, evaluate after ``cutoff``.

    The training features are computed as of ``c0 = train_cutoff`` (default
    ``cutoff - horizon_weeks``, so both label windows have the same length
    ``H``) and labelled on ``(c0, cutoff]``; the evaluation features are as of
    ``cutoff`` and labelled on ``(cutoff, cutoff + H]``. A model fitted on the
    training part never reads anything after ``cutoff``.

    Parameters
    ----------
    transactions, engagement, customers : pandas.DataFrame
        As for :func:`clvml.features.dataset.customer_features`.
    cutoff : date-like
        Last day (inclusive) of the evaluation features.
    horizon_weeks : float
        Length ``H`` of the evaluation label window in weeks (rounded to days).
    train_cutoff : date-like, optional
        Feature cut-off of the training part. When the label window
        ``(train_cutoff, cutoff]`` is shorter or longer than ``H`` the model
        learns churn over that length; rankings carry over, probabilities do
        not (document it when you use it).

    Returns
    -------
    ChurnFrames
        ``(X_train, y_train, X_eval, y_eval)``; the windows are in ``.windows``.

    Examples
    --------
    >>> from clvml.data.datasets import load_cdnow_master
    >>> f = time_split_training_frames(load_cdnow_master(), cutoff="1997-09-30",
    ...                                horizon_weeks=13)
    >>> f.windows["train"]["feature_cutoff"], f.windows["train"]["end"]
    ('1997-07-01', '1997-09-30')
    """
    c = as_day(cutoff, name="cutoff")
    if not np.isfinite(horizon_weeks) or horizon_weeks <= 0:
        raise DataValidationError(f"horizon_weeks must be > 0, got {horizon_weeks}")
    h_end = c + pd.Timedelta(days=round(7 * horizon_weeks))
    c0 = c - (h_end - c) if train_cutoff is None else as_day(train_cutoff, name="train_cutoff")
    if c0 >= c:
        raise DataValidationError(f"train_cutoff {c0.date()} must be before the cut-off {c.date()}")
    first = transactions["timestamp"].min()
    if pd.isna(first) or c0 < first.normalize():
        raise DataValidationError(
            f"the training cut-off {c0.date()} is before the first transaction "
            f"({'none' if pd.isna(first) else first.date()}): shorten horizon_weeks, pass a later "
            "train_cutoff, or use customer_split_training_frames",
            column="timestamp",
        )
    _check_end(transactions, h_end)
    X_train = customer_features(transactions, engagement, customers, cutoff=c0)
    y_train = churn_labels(transactions, X_train.index, start=c0, end=c, customers=customers)
    X_eval = customer_features(transactions, engagement, customers, cutoff=c)
    y_eval = churn_labels(transactions, X_eval.index, start=c, end=h_end, customers=customers)
    X_train, y_train = _at_risk(X_train, y_train, c0, "time")
    X_eval, y_eval = _at_risk(X_eval, y_eval, c, "time")
    return ChurnFrames(X_train, y_train, X_eval, y_eval)


def customer_split_training_frames(
    transactions: pd.DataFrame,
    engagement: pd.DataFrame | None = None,
    customers: pd.DataFrame | None = None,
    *,
    cutoff: object,
    horizon_weeks: float,
    eval_size: float = 0.5,
    random_state: int = 0,
) -> ChurnFrames:
    """Frames for a customer split at one cut-off: train on some customers, evaluate on the rest.

    Everyone's features are as of ``cutoff`` and labelled on
    ``(cutoff, cutoff + H]``; a seeded random share ``eval_size`` of the
    customers is held out for evaluation. The model reads the holdout labels
    of the *training* customers only, never those of the evaluated ones; the
    two groups share the calendar period of the holdout (see the module notes).

    Parameters
    ----------
    eval_size : float, default 0.5
        Share of customers in the evaluation part, in (0, 1).
    random_state : int, default 0
        Seed of the customer assignment.

    Returns
    -------
    ChurnFrames
    """
    if not 0.0 < eval_size < 1.0:
        raise DataValidationError(f"eval_size must be in (0, 1), got {eval_size}")
    c = as_day(cutoff, name="cutoff")
    if not np.isfinite(horizon_weeks) or horizon_weeks <= 0:
        raise DataValidationError(f"horizon_weeks must be > 0, got {horizon_weeks}")
    h_end = c + pd.Timedelta(days=round(7 * horizon_weeks))
    _check_end(transactions, h_end)
    X = customer_features(transactions, engagement, customers, cutoff=c)
    y = churn_labels(transactions, X.index, start=c, end=h_end, customers=customers)
    rng = np.random.default_rng(random_state)
    is_eval = rng.random(len(X)) < eval_size
    parts = []
    for mask in (~is_eval, is_eval):
        yy = y.loc[mask]
        yy.attrs = dict(y.attrs)
        parts.append(_at_risk(X.loc[mask], yy, c, "customer"))
    (X_train, y_train), (X_eval, y_eval) = parts
    return ChurnFrames(X_train, y_train, X_eval, y_eval)
