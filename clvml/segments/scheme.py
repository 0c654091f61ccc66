"""The segment scheme: value tiers and value x risk segments as fitted CLV thresholds.

:class:`SegmentScheme` is the one definition of the ``value_tier`` and ``segment``
a customer gets. Its hyper-parameters are the shares and thresholds of the rules
(:mod:`clvml.segments.names`); :meth:`SegmentScheme.fit` turns the shares into CLV
thresholds from the training customers' predicted CLV, and
:meth:`SegmentScheme.assign` places any set of customers with those thresholds, so a
customer's tier depends on their own CLV and churn probability only: not on who
else is scored, nor on the chunk they are scored in.

The training pipeline fits the scheme beside the CLV model and stores it with the
logged model; the CRM rows written by ``clvml score`` are then the record, which
``clvml report`` and ``clvml segments`` read back with :func:`resolve_segments`
instead of ranking the scored customers again (see ``docs/segments.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from clvml.exceptions import DataValidationError
from clvml.segments._validation import cut_sizes, rank_bins, rank_order, validate_predictions
from clvml.segments.names import (
    DEFAULT_RISK_THRESHOLDS,
    DEFAULT_TIER_CUTS,
    DEFAULT_TIER_LABELS,
    DEFAULT_VALUE_CUTS,
    MATRIX_KEYS,
    MatrixCell,
    cell_table,
    check_labels,
    check_risk_thresholds,
    matrix_frame,
    risk_codes,
    tier_series,
)

__all__ = [
    "RECORD_COLUMNS",
    "SEGMENT_COLUMNS",
    "SegmentScheme",
    "has_record",
    "resolve_segments",
]

#: The columns a scoring run writes to the CRM: the record of each customer's segments.
RECORD_COLUMNS: tuple[str, str] = ("value_tier", "segment")
#: Every column the scheme adds (``cell_name`` is a synonym of ``segment``).
SEGMENT_COLUMNS: tuple[str, ...] = (
    "value_tier",
    "value_level",
    "risk_level",
    "cell",
    "segment",
    "cell_name",
    "action",
)


def _thresholds(ranked: np.ndarray, cuts: Sequence[float]) -> np.ndarray:
    """CLV of the last customer inside each cut of ``ranked`` (descending CLV)."""
    n = ranked.size
    return ranked[np.clip(cut_sizes(n, cuts) - 1, 0, n - 1)]


def _codes(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Code j for values reaching threshold j but not threshold j - 1; the last code below all."""
    return len(thresholds) - np.searchsorted(thresholds[::-1], values, side="right")


class SegmentScheme(BaseEstimator):
    """Value tiers and value x churn-risk segments with CLV thresholds fitted once.

    Parameters
    ----------
    tier_cuts : sequence of float, default (0.01, 0.10, 0.50)
        Increasing cumulative shares of the fitted customers closing each tier but
        the last.
    tier_labels : sequence of str, default ("top 1%", "top 10%", "next 40%", "rest")
        One distinct label per tier, best first.
    value_cuts : (float, float), default (0.2, 0.5)
        Cumulative shares of the fitted customers closing the high and medium value
        levels.
    risk_thresholds : (float, float), default (0.3, 0.6)
        Churn probabilities opening the medium and high risk levels (absolute: not
        fitted).
    cells : mapping, optional
        Replacement :class:`~clvml.segments.MatrixCell` for some ``(value, risk)``
        keys; the others keep :data:`~clvml.segments.DEFAULT_CELLS`.
    value_col : str, default "clv"
        Column of predicted value.

    Attributes
    ----------
    tier_thresholds_ : ndarray
        CLV opening each tier but the last (best first): the CLV of the last fitted
        customer inside each ``tier_cuts`` share, by descending CLV.
    value_level_thresholds_ : ndarray
        CLV opening the high and medium value levels, the same way.
    n_customers_ : int
        Customers the thresholds were fitted on.

    Notes
    -----
    A customer is in tier ``j`` when their CLV reaches ``tier_thresholds_[j]`` but
    not ``tier_thresholds_[j - 1]``; the last tier takes everyone below. Customers
    tied with a threshold go to the better tier, so on the fitted customers a tier
    can hold a few more than its share when CLVs tie at the cut. Risk levels are
    ``churn_probability`` (or ``1 - p_active``) against ``risk_thresholds``.
    :meth:`rank` instead ranks the customers it is given among themselves (exact
    shares, ties broken by ``customer_id``): a what-if on a population, never the
    record.

    Examples
    --------
    >>> import pandas as pd
    >>> train = pd.DataFrame({"customer_id": list("abcdefghij"), "clv": range(100, 0, -10),
    ...                       "churn_probability": 0.5})
    >>> scheme = SegmentScheme(tier_cuts=(0.1, 0.5), tier_labels=("top", "mid", "low")).fit(train)
    >>> scheme.tier_thresholds_.tolist()
    [100.0, 60.0]
    >>> new = pd.DataFrame({"customer_id": ["x", "y"], "clv": [75.0, 5.0],
    ...                     "churn_probability": [0.7, 0.1]})
    >>> scheme.value_level_thresholds_.tolist()  # top 20% and top 50% of 10 customers
    [90.0, 60.0]
    >>> scheme.assign(new)[["value_tier", "value_level", "segment"]]
    ... # doctest: +NORMALIZE_WHITESPACE
                value_tier value_level          segment
    customer_id
    x                  mid      medium         Win back
    y                  low         low  Develop cheaply
    """

    def __init__(
        self,
        tier_cuts: Sequence[float] = DEFAULT_TIER_CUTS,
        tier_labels: Sequence[str] = DEFAULT_TIER_LABELS,
        value_cuts: Sequence[float] = DEFAULT_VALUE_CUTS,
        risk_thresholds: Sequence[float] = DEFAULT_RISK_THRESHOLDS,
        cells: Mapping[tuple[str, str], MatrixCell] | None = None,
        value_col: str = "clv",
    ) -> None:
        self.tier_cuts = tier_cuts
        self.tier_labels = tier_labels
        self.value_cuts = value_cuts
        self.risk_thresholds = risk_thresholds
        self.cells = cells
        self.value_col = value_col

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> list[str]:
        if len(self.value_cuts) != 2:
            raise DataValidationError(
                f"value_cuts must hold two shares, got {list(self.value_cuts)!r}"
            )
        cut_sizes(1, self.tier_cuts)  # cut points: increasing shares in (0, 1]
        cut_sizes(1, self.value_cuts)
        check_risk_thresholds(self.risk_thresholds)
        cell_table(self.cells)
        return check_labels(self.tier_cuts, self.tier_labels)

    # ------------------------------------------------------------------ fit
    def fit(self, predictions: pd.DataFrame, y: None = None) -> SegmentScheme:
        """Fit the CLV thresholds on the training customers' predictions.

        Parameters
        ----------
        predictions : pandas.DataFrame
            One row per customer: ``customer_id`` (column or index) and
            ``value_col``.
        y : None
            Ignored.

        Returns
        -------
        SegmentScheme
            self, fitted.
        """
        self._check_params()
        df = validate_predictions(predictions, value_col=self.value_col, require_risk=False)
        ranked = np.sort(df[self.value_col].to_numpy(dtype=float))[::-1]
        self.tier_thresholds_ = _thresholds(ranked, self.tier_cuts)
        self.value_level_thresholds_ = _thresholds(ranked, self.value_cuts)
        self.n_customers_ = int(ranked.size)
        return self

    # ------------------------------------------------------------------ assign
    def assign(self, predictions: pd.DataFrame) -> pd.DataFrame:
        """Place customers in tiers and segments with the fitted thresholds.

        Parameters
        ----------
        predictions : pandas.DataFrame
            ``customer_id`` (column or index), ``value_col`` and
            ``churn_probability`` or ``p_active``; other columns are kept.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``customer_id`` in input order: the input columns (those named
            like :data:`SEGMENT_COLUMNS` replaced), ``churn_probability`` and
            :data:`SEGMENT_COLUMNS`. Each row depends on that customer's values only.
        """
        check_is_fitted(self, "tier_thresholds_")
        self._check_params()
        df = validate_predictions(predictions, value_col=self.value_col, require_risk=True)
        clv = df[self.value_col].to_numpy(dtype=float)
        return self._frame(
            df,
            _codes(clv, np.asarray(self.tier_thresholds_, dtype=float)),
            _codes(clv, np.asarray(self.value_level_thresholds_, dtype=float)),
        )

    def labels_for(
        self, clv: np.ndarray, churn_probability: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``value_tier`` and ``segment`` labels for arrays of CLV and churn probability.

        The row-wise core of :meth:`assign`, without the frame checks: rows whose
        CLV or probability is not a finite number (a probability outside [0, 1]
        included) get ``None``, so one bad prediction does not stop a scoring job
        (its validation sets such rows aside).

        Returns
        -------
        (ndarray, ndarray)
            Object arrays of tier labels and segment names.
        """
        check_is_fitted(self, "tier_thresholds_")
        labels = self._check_params()
        clv = np.asarray(clv, dtype=float)
        p = np.asarray(churn_probability, dtype=float)
        ok = np.isfinite(clv) & np.isfinite(p) & (p >= 0) & (p <= 1)
        tiers = np.full(clv.shape, None, dtype=object)
        segments = np.full(clv.shape, None, dtype=object)
        table = cell_table(self.cells)
        names = np.array([table[k].name for k in MATRIX_KEYS], dtype=object)
        tier_code = _codes(clv[ok], np.asarray(self.tier_thresholds_, dtype=float))
        value_code = _codes(clv[ok], np.asarray(self.value_level_thresholds_, dtype=float))
        risk = risk_codes(p[ok], self.risk_thresholds)
        tiers[ok] = np.array(labels, dtype=object)[tier_code]
        segments[ok] = names[value_code * 3 + risk]
        return tiers, segments

    def rank(self, predictions: pd.DataFrame) -> pd.DataFrame:
        """Tiers and segments by rank among the given customers (a what-if; needs no fit).

        The first ``ceil(c * n)`` customers by descending ``value_col`` (ties by
        ascending ``customer_id``) fill each cut ``c``: exact shares of *these*
        customers. Same input and output as :meth:`assign`.
        """
        self._check_params()
        df = validate_predictions(predictions, value_col=self.value_col, require_risk=True)
        ids = df["customer_id"].to_numpy(dtype=str)
        position = rank_order(ids, df[self.value_col].to_numpy())
        return self._frame(
            df, rank_bins(position, self.tier_cuts), rank_bins(position, self.value_cuts)
        )

    def _frame(
        self,
        df: pd.DataFrame,
        tier_code: np.ndarray,
        value_code: np.ndarray,
        risk_code: np.ndarray | None = None,
    ) -> pd.DataFrame:
        """The input columns, then the segment columns built from the codes."""
        labels = check_labels(self.tier_cuts, self.tier_labels)
        index = pd.Index(df["customer_id"].to_numpy(dtype=str), name="customer_id")
        if risk_code is None:
            risk_code = risk_codes(df["churn_probability"].to_numpy(), self.risk_thresholds)
        kept = df.drop(columns=["customer_id", *(c for c in SEGMENT_COLUMNS if c in df.columns)])
        # all parts share the row order of ``df``: side by side without realignment
        return pd.concat(
            [
                kept.set_axis(index),
                tier_series(tier_code, index, labels).to_frame(),
                matrix_frame(value_code, risk_code, index, self.cells),
            ],
            axis=1,
        )

    # ------------------------------------------------------------------ the record
    def read_record(self, scores: pd.DataFrame) -> pd.DataFrame:
        """The segment columns of scores that hold ``value_tier`` and ``segment``.

        The stored labels are the record: nothing is re-ranked or recomputed. The
        level, cell and action columns are looked up from the stored ``segment``
        name in this scheme's cells. Needs no fit.

        Raises
        ------
        DataValidationError
            A record column is missing or has empty rows, or holds a label this
            scheme does not know.
        """
        labels = self._check_params()
        df = validate_predictions(scores, value_col=self.value_col, require_risk=True)
        for col in RECORD_COLUMNS:
            if col not in df.columns:
                raise DataValidationError(
                    "the scores lack this column of the record", column=col, n_rows=len(df)
                )
            empty = df[col].isna()
            if empty.any():
                raise DataValidationError(
                    "rows without a stored value", column=col, n_rows=int(empty.sum())
                )
        tier_code = _lookup(df["value_tier"], labels, "value_tier")
        table = cell_table(self.cells)
        names = [table[k].name for k in MATRIX_KEYS]
        if len(set(names)) != len(names):
            raise DataValidationError(
                f"the cells' names are not distinct ({names}): a stored segment is ambiguous"
            )
        flat = _lookup(df["segment"], names, "segment")
        return self._frame(df, tier_code, flat // 3, flat % 3)

    # ------------------------------------------------------------------ storage
    def to_dict(self) -> dict[str, Any]:
        """Parameters and fitted thresholds as JSON-ready values (see :meth:`from_dict`)."""
        check_is_fitted(self, "tier_thresholds_")
        cells = cell_table(self.cells) if self.cells is not None else None
        return {
            "tier_cuts": [float(c) for c in self.tier_cuts],
            "tier_labels": [str(x) for x in self.tier_labels],
            "value_cuts": [float(c) for c in self.value_cuts],
            "risk_thresholds": [float(c) for c in self.risk_thresholds],
            "cells": None
            if cells is None
            else [
                {"value": v, "risk": r, "name": c.name, "action": c.action}
                for (v, r), c in cells.items()
            ],
            "value_col": self.value_col,
            "tier_thresholds": [float(x) for x in self.tier_thresholds_],
            "value_level_thresholds": [float(x) for x in self.value_level_thresholds_],
            "n_customers": int(self.n_customers_),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SegmentScheme:
        """A fitted scheme from :meth:`to_dict` output (e.g. read from a model's artifact)."""
        cells = data.get("cells")
        scheme = cls(
            tier_cuts=tuple(data["tier_cuts"]),
            tier_labels=tuple(data["tier_labels"]),
            value_cuts=tuple(data["value_cuts"]),
            risk_thresholds=tuple(data["risk_thresholds"]),
            cells=None
            if cells is None
            else {(c["value"], c["risk"]): MatrixCell(c["name"], c["action"]) for c in cells},
            value_col=str(data.get("value_col", "clv")),
        )
        scheme._check_params()
        scheme.tier_thresholds_ = np.asarray(data["tier_thresholds"], dtype=float)
        scheme.value_level_thresholds_ = np.asarray(data["value_level_thresholds"], dtype=float)
        scheme.n_customers_ = int(data["n_customers"])
        return scheme


def _lookup(stored: pd.Series, known: Sequence[str], column: str) -> np.ndarray:
    text = stored.astype(str).to_numpy()
    codes = pd.Index(list(known)).get_indexer(text)
    bad = codes < 0
    if bad.any():
        raise DataValidationError(
            f"labels unknown to the segment scheme (it knows {list(known)})",
            column=column,
            n_rows=int(bad.sum()),
            example=text[bad][0],
        )
    return codes


def has_record(scores: pd.DataFrame) -> bool:
    """Whether ``scores`` hold a stored ``value_tier`` and ``segment`` (not all empty)."""
    return all(c in scores.columns and scores[c].notna().any() for c in RECORD_COLUMNS)


def resolve_segments(
    scores: pd.DataFrame,
    scheme: SegmentScheme | None = None,
    *,
    refit: SegmentScheme | None = None,
) -> tuple[pd.DataFrame, str]:
    """Every segment column of scored customers, from the record whenever there is one.

    In order of precedence:

    1. ``refit`` given: ``refit.rank(scores)``, an explicit what-if that ranks these
       customers among themselves (``"ranked"``);
    2. the scores hold ``value_tier`` and ``segment`` (what ``clvml score`` writes):
       they are the record, read as they are (``"record"``);
    3. ``scheme`` (a fitted scheme, e.g. the model's) given: ``scheme.assign(scores)``
       (``"scheme"``);
    4. otherwise the default scheme ranks these customers (``"ranked"``).

    Returns
    -------
    (pandas.DataFrame, str)
        The frame of :meth:`SegmentScheme.assign` and how it was obtained.
    """
    if refit is not None:
        return refit.rank(scores), "ranked"
    if has_record(scores):
        base = scheme if scheme is not None else SegmentScheme()
        return base.read_record(scores), "record"
    if scheme is not None:
        return scheme.assign(scores), "scheme"
    return SegmentScheme().rank(scores), "ranked"
