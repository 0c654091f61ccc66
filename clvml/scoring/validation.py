"""Row checks for score frames before they reach the CRM.

:func:`split_scores` keeps the rows the CRM can trust and sets the others aside
with a reason, so a few bad predictions never block (or corrupt) a nightly load.
Problems with the frame as a whole (a missing ``clv`` column, an unknown column)
raise instead: nothing is written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError
from clvml.scoring.schema import MAX_ID_LENGTH, SCORE_COLUMNS

__all__ = [
    "ScoreSplit",
    "append_rejected",
    "legacy_activity_columns",
    "split_scores",
    "storable_quarantine",
]

REQUIRED = ("customer_id", "clv")
_TEXT = ("segment", "value_tier", "scoring_method", "consent_marketing")
_NON_NEGATIVE = ("clv_lower", "clv_upper", "expected_purchases", "expected_avg_spend")
_PROBABILITIES = ("p_active", "churn_probability", "p_alive_btyd")
_STRING = pd.StringDtype("pyarrow")


@dataclass(frozen=True)
class ScoreSplit:
    """Result of :func:`split_scores`.

    Attributes
    ----------
    valid : pandas.DataFrame
        Rows to write, with exactly the score columns in table order: text columns
        as Arrow-backed strings (<NA> = NULL), numeric columns as float64 (NaN = NULL).
    quarantined : pandas.DataFrame
        One row per rejected input row: ``row_number`` (0-based position in the
        input), ``customer_id`` (as text, or None), ``reason`` and ``payload``
        (the row's original values as a JSON-ready dict).
    """

    valid: pd.DataFrame
    quarantined: pd.DataFrame


def _json_value(v: object) -> object:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else str(v)
    if isinstance(v, str | int | float | bool):
        return v
    return str(v)


def _as_text(col: pd.Series) -> pd.Series:
    """The column as Arrow-backed strings; missing values stay missing (<NA>)."""
    if col.dtype == _STRING:
        return col.reset_index(drop=True)
    if col.dtype == object and pd.api.types.infer_dtype(col, skipna=True) not in (
        "string",
        "empty",
    ):
        # mixed objects: str() each present value
        col = col.map(lambda v: v if isinstance(v, str) or pd.isna(v) else str(v))
    return col.astype(_STRING).reset_index(drop=True)


def _customer_ids(col: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Return customer ids as strings and a mask of missing or blank ids."""
    if pd.api.types.is_float_dtype(col) or pd.api.types.is_bool_dtype(col):
        raise DataValidationError(
            f"must hold strings or integers, not {col.dtype}",
            column="customer_id",
            n_rows=len(col),
        )
    ids = _as_text(col)
    blank = (ids.str.strip() == "").fillna(True).to_numpy(dtype=bool)
    return ids, blank


def legacy_activity_columns(scores: pd.DataFrame) -> pd.DataFrame:
    """Scores of a model exported before schema version 3, in today's activity columns.

    Such a model returns ``p_alive`` (the raw BTYD P(alive)) and no ``p_active``:
    ``p_alive`` becomes ``p_alive_btyd`` and ``p_active`` is ``1 - churn_probability``
    (the probability of at least one purchase in the horizon; NULL where the churn
    probability is not in [0, 1], which is quarantined under its own name). Frames that already have
    the new columns are returned unchanged.

    Examples
    --------
    >>> old = pd.DataFrame({"customer_id": ["a"], "clv": [1.0], "p_alive": [1.0],
    ...                     "churn_probability": [0.625]})
    >>> legacy_activity_columns(old).columns.tolist()
    ['customer_id', 'clv', 'p_alive_btyd', 'churn_probability', 'p_active']
    >>> float(legacy_activity_columns(old)["p_active"].iloc[0])
    0.375
    """
    out = scores
    if "p_alive" in out.columns and "p_alive_btyd" not in out.columns:
        out = out.rename(columns={"p_alive": "p_alive_btyd"})
    if "p_active" not in out.columns and "churn_probability" in out.columns:
        churn = pd.to_numeric(out["churn_probability"], errors="coerce").to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            ok = (churn >= 0) & (churn <= 1)  # a bad churn value is reported once, as itself
        out = out.assign(p_active=np.where(ok, 1.0 - churn, np.nan))
    return out


def split_scores(scores: pd.DataFrame) -> ScoreSplit:
    """Split a frame of scores into rows to write and rows to quarantine.

    Parameters
    ----------
    scores : pandas.DataFrame
        One row per customer: ``customer_id`` (column or index name) and ``clv``
        are required; ``clv_lower``, ``clv_upper``, ``p_active``,
        ``churn_probability``, ``p_alive_btyd``, ``expected_purchases``,
        ``expected_avg_spend``, ``segment`` and ``value_tier`` are optional (missing =
        NULL). A ``p_alive`` column (models exported before schema version 3) is read
        as ``p_alive_btyd`` and ``p_active`` derived (:func:`legacy_activity_columns`).

    Returns
    -------
    ScoreSplit

    Raises
    ------
    DataValidationError
        If a required column is missing or a column is not a score column.

    Notes
    -----
    A row is quarantined, with every reason that applies, when: ``customer_id``
    is missing or blank, or appears more than once in the batch (all copies are
    set aside: which one is right is unknown); ``clv`` is missing, not a number,
    infinite or negative; an optional numeric value is not a number or infinite;
    ``clv_lower``, ``clv_upper``, ``expected_purchases`` or ``expected_avg_spend``
    is negative; ``p_active``, ``churn_probability`` or ``p_alive_btyd`` is outside [0, 1];
    ``clv_lower > clv_upper``; a text value contains a NUL character; the
    ``customer_id`` is longer than :data:`~clvml.scoring.schema.MAX_ID_LENGTH` (512)
    characters (a PostgreSQL index entry could not hold it).

    Examples
    --------
    >>> import pandas as pd
    >>> s = split_scores(pd.DataFrame({"customer_id": ["a", "b", "b", ""],
    ...                                "clv": [10.0, 2.0, 3.0, 1.0]}))
    >>> s.valid["customer_id"].tolist()
    ['a']
    >>> s.quarantined["reason"].tolist()
    ['duplicate customer_id in batch', 'duplicate customer_id in batch', 'missing customer_id']
    """
    if "customer_id" not in scores.columns and scores.index.name == "customer_id":
        scores = scores.reset_index()
    scores = legacy_activity_columns(scores)
    for col in REQUIRED:
        if col not in scores.columns:
            raise DataValidationError(
                "required score column is missing", column=col, n_rows=len(scores)
            )
    unknown = [c for c in scores.columns if c not in SCORE_COLUMNS]
    if unknown:
        raise DataValidationError(
            f"unknown score column(s) {unknown}; expected some of {list(SCORE_COLUMNS)} "
            "(model and run fields are set by the job)",
            column=str(unknown[0]),
            n_rows=len(scores),
        )
    if scores.columns.duplicated().any():
        dup = scores.columns[scores.columns.duplicated()][0]
        raise DataValidationError("column appears more than once", column=str(dup))

    n = len(scores)
    reasons = np.full(n, "", dtype=object)

    def flag(mask: np.ndarray, reason: str) -> None:
        if mask.any():
            reasons[mask] = reasons[mask] + (reason + "; ")

    ids, missing_id = _customer_ids(scores["customer_id"])
    flag(missing_id, "missing customer_id")
    flag(ids.duplicated(keep=False).to_numpy() & ~missing_id, "duplicate customer_id in batch")
    too_long = (ids.str.len() > MAX_ID_LENGTH).fillna(False).to_numpy(dtype=bool)
    flag(too_long, f"customer_id longer than {MAX_ID_LENGTH} characters")

    out: dict[str, object] = {"customer_id": ids}
    for col in SCORE_COLUMNS:
        if col == "customer_id":
            continue
        if col in _TEXT:
            given = scores[col] if col in scores.columns else pd.Series([pd.NA] * n)
            out[col] = _as_text(given)
            continue
        if col not in scores.columns:
            out[col] = np.full(n, np.nan)
            continue
        given = scores[col]
        values = pd.to_numeric(given, errors="coerce").astype("float64").to_numpy()
        nan = np.isnan(values)
        flag(nan & given.notna().to_numpy(), f"{col} is not a number")
        if col == "clv":
            flag(nan & given.isna().to_numpy(), "clv is missing")
        with np.errstate(invalid="ignore"):
            flag(np.isinf(values), f"{col} is not finite")
            if col in _PROBABILITIES:
                flag((values < 0) | (values > 1), f"{col} is outside [0, 1]")
            elif col == "clv" or col in _NON_NEGATIVE:
                flag(values < 0, f"{col} is negative")
        out[col] = values
    with np.errstate(invalid="ignore"):
        flag(np.asarray(out["clv_lower"]) > np.asarray(out["clv_upper"]), "clv_lower > clv_upper")
    for col in ("customer_id", *_TEXT):
        text = out[col]
        assert isinstance(text, pd.Series)
        nul = text.str.contains("\x00", regex=False).fillna(False).to_numpy(dtype=bool)
        flag(nul, f"{col} contains a NUL character")

    bad = reasons != ""
    valid = pd.DataFrame({c: out[c] for c in SCORE_COLUMNS})[~bad].reset_index(drop=True)
    rows = np.flatnonzero(bad)
    bad_ids = ids.iloc[rows].to_numpy(dtype=object, na_value=None)
    original = scores.iloc[rows]
    payloads = [
        {str(k): _json_value(v) for k, v in rec.items()}
        for rec in original.to_dict(orient="records")
    ]
    quarantined = pd.DataFrame(
        {
            "row_number": rows.astype("int64"),
            "customer_id": pd.Series(bad_ids, dtype=object),
            "reason": pd.Series([r[:-2] for r in reasons[rows]], dtype=object),
            "payload": pd.Series(payloads, dtype=object),
        }
    )
    return ScoreSplit(valid=valid, quarantined=quarantined)


def append_rejected(
    quarantined: pd.DataFrame, rejected: pd.DataFrame | None, start: int
) -> pd.DataFrame:
    """Append customers the job could not score to the quarantine frame.

    ``rejected`` has ``customer_id`` and ``reason``; its rows are numbered after the
    ``start`` score rows; an optional ``payload`` column (a dict per row: the offending
    input values) is kept, else the payload is empty.
    """
    if rejected is None or len(rejected) == 0:
        return quarantined
    missing = {"customer_id", "reason"} - set(rejected.columns)
    if missing:
        raise DataValidationError(
            "rejected rows need the columns customer_id and reason",
            column=sorted(missing)[0],
            n_rows=len(rejected),
        )
    ids = rejected["customer_id"].astype(object)
    extra = pd.DataFrame(
        {
            "row_number": np.arange(start, start + len(rejected), dtype="int64"),
            "customer_id": ids.where(ids.notna(), None).map(lambda v: v if v is None else str(v)),
            "reason": rejected["reason"].astype(str).to_numpy(),
            "payload": (
                pd.Series(
                    [p if isinstance(p, dict) else None for p in rejected["payload"]],
                    dtype=object,
                ).to_numpy()
                if "payload" in rejected.columns
                else None
            ),
        }
    )
    return pd.concat([quarantined, extra], ignore_index=True)


def _visible_nul(value: object) -> object:
    if isinstance(value, str):
        return value.replace("\x00", "\\x00")
    if isinstance(value, dict):
        return {_visible_nul(k): _visible_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_visible_nul(v) for v in value]
    return value


def storable_quarantine(quarantine: pd.DataFrame) -> pd.DataFrame:
    """The quarantine rows as every database stores them: NUL characters written ``\\x00``.

    PostgreSQL text and JSON cannot hold a NUL character, so an id (or payload value)
    holding one is stored with the four characters ``\\x00`` in its place, on SQLite
    too (the same rows on both). Ids are otherwise stored whole, however long.
    """
    if not len(quarantine):
        return quarantine
    out = quarantine.copy()
    for col in ("customer_id", "reason", "payload"):
        if col in out.columns:
            out[col] = out[col].map(_visible_nul).astype(object)
    return out
