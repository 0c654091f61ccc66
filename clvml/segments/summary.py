"""Segment assignment, the segment summary table and CSV export of the customer lists."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from clvml.data.files import share
from clvml.data.spreadsheet import formula_safe
from clvml.exceptions import DataValidationError
from clvml.segments._validation import validate_predictions
from clvml.segments.names import (
    DEFAULT_RISK_THRESHOLDS,
    DEFAULT_TIER_CUTS,
    DEFAULT_TIER_LABELS,
    DEFAULT_VALUE_CUTS,
    MatrixCell,
)
from clvml.segments.rfm_segments import rfm_segments
from clvml.segments.scheme import SegmentScheme

__all__ = ["assign_segments", "export_segment_lists", "marketing_consented", "segment_summary"]

_RFM_COLUMNS = ("r_score", "f_score", "m_score", "rfm_score", "rfm_segment")


def assign_segments(
    predictions: pd.DataFrame,
    *,
    tier_cuts: Sequence[float] = DEFAULT_TIER_CUTS,
    tier_labels: Sequence[str] = DEFAULT_TIER_LABELS,
    value_cuts: Sequence[float] = DEFAULT_VALUE_CUTS,
    risk_thresholds: Sequence[float] = DEFAULT_RISK_THRESHOLDS,
    cells: Mapping[tuple[str, str], MatrixCell] | None = None,
    rfm: bool | None = None,
    value_col: str = "clv",
) -> pd.DataFrame:
    """Add every segment column to per-customer predictions, ranked among themselves.

    A what-if on a population: :meth:`clvml.segments.SegmentScheme.rank` with these
    parameters (exact shares of these customers, ties broken by ``customer_id``),
    plus RFM. The segments of scored customers are the record the CRM holds (fitted
    thresholds stored with the model); read them with
    :func:`clvml.segments.resolve_segments`.

    Parameters
    ----------
    predictions : pandas.DataFrame
        ``customer_id``, ``value_col``, ``churn_probability`` or ``p_active``,
        optionally ``frequency``, ``recency``, ``T``, ``monetary_value`` and
        any other columns (kept).
    tier_cuts, tier_labels
        See :func:`clvml.segments.value_tiers`.
    value_cuts, risk_thresholds, cells
        See :func:`clvml.segments.value_risk_matrix`.
    rfm : bool, optional
        Add RFM scores and names (:func:`clvml.segments.rfm_segments`). By
        default they are added when ``frequency``, ``recency`` and ``T`` are
        present (with ``monetary_value`` when that is present too).
    value_col : str, default "clv"

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id``: the input columns, ``churn_probability``,
        ``value_tier``, ``value_level``, ``risk_level``, ``cell``, ``segment``,
        ``cell_name``, ``action`` and, with RFM, ``r_score``, ``f_score``,
        (``m_score``), ``rfm_score``, ``rfm_segment``. Input columns of those
        names (e.g. a ``value_tier`` stored by an earlier scoring run) are
        recomputed and replaced.
    """
    scheme = SegmentScheme(
        tier_cuts=tier_cuts,
        tier_labels=tier_labels,
        value_cuts=value_cuts,
        risk_thresholds=risk_thresholds,
        cells=cells,
        value_col=value_col,
    )
    return with_rfm(scheme.rank(predictions), rfm)


def with_rfm(assigned: pd.DataFrame, rfm: bool | None = None) -> pd.DataFrame:
    """``assigned`` (indexed by ``customer_id``) with RFM scores and names added.

    By default they are added when ``frequency``, ``recency`` and ``T`` are present
    (with ``monetary_value`` when that is present too); input columns of those names
    are replaced. RFM segments rank the customers given among themselves.
    """
    if rfm is None:
        rfm = {"frequency", "recency", "T"} <= set(assigned.columns)
    if not rfm:
        return assigned
    kept = assigned.drop(columns=[c for c in _RFM_COLUMNS if c in assigned.columns])
    monetary = "monetary_value" if "monetary_value" in kept.columns else None
    scores = rfm_segments(kept.reset_index(), monetary_col=monetary).set_axis(kept.index)
    return pd.concat([kept, scores], axis=1)


def segment_summary(
    assigned: pd.DataFrame,
    by: str = "value_tier",
    *,
    value_col: str = "clv",
) -> pd.DataFrame:
    """Counts, shares of customers and of predicted value, mean CLV and churn risk per segment.

    Parameters
    ----------
    assigned : pandas.DataFrame
        Per-customer rows holding ``by``, ``value_col`` and
        ``churn_probability`` (or ``p_active``), e.g. from
        :func:`assign_segments`.
    by : str, default "value_tier"
        Segment column (``value_tier``, ``cell``, ``rfm_segment``,
        ``acquisition_channel``, ...).
    value_col : str, default "clv"

    Returns
    -------
    pandas.DataFrame
        One row per non-empty segment (in category order for categoricals,
        sorted otherwise), indexed by ``by``: ``n_customers``,
        ``share_of_customers``, ``total_clv``, ``share_of_value``,
        ``mean_clv``, ``mean_churn_probability`` and ``mean_p_active`` (its
        complement: the probability of at least one purchase in the horizon). Both
        share columns sum to 1.

    Raises
    ------
    DataValidationError
        Bad predictions, a missing or incomplete segment column, or a total
        predicted value <= 0 (shares of value are then undefined).

    Examples
    --------
    >>> import pandas as pd
    >>> preds = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "clv": [70.0, 20.0, 5.0, 5.0],
    ...                       "churn_probability": [0.1, 0.2, 0.5, 0.9],
    ...                       "tier": ["top", "top", "rest", "rest"]})
    >>> segment_summary(preds, by="tier")[["n_customers", "share_of_value", "mean_clv"]]
    ... # doctest: +NORMALIZE_WHITESPACE
          n_customers  share_of_value  mean_clv
    tier
    rest            2             0.1       5.0
    top             2             0.9      45.0
    """
    df = validate_predictions(assigned, value_col=value_col, require_risk=True)
    if by not in df.columns:
        raise DataValidationError(f"missing segment column; have {list(df.columns)}", column=by)
    if df[by].isna().any():
        raise DataValidationError(
            "customers without a segment", column=by, n_rows=int(df[by].isna().sum())
        )
    total = float(df[value_col].sum())
    if not total > 0:
        raise DataValidationError(
            f"the total predicted value is {total:g}: shares of value need a positive total",
            column=value_col,
        )
    g = df.groupby(by, observed=True, sort=True)
    out = pd.DataFrame(
        {
            "n_customers": g.size(),
            "share_of_customers": g.size() / len(df),
            "total_clv": g[value_col].sum(),
            "share_of_value": g[value_col].sum() / total,
            "mean_clv": g[value_col].mean(),
            "mean_churn_probability": g["churn_probability"].mean(),
            "mean_p_active": g["p_active"].mean(),
        }
    )
    out.index.name = by
    return out


def _slug(label: object) -> str:
    text = str(label).strip().lower().replace("%", "pct").replace("'", "")
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


#: Column of the scores saying whether the customer consented to marketing (``yes``/``no``;
#: empty: not recorded). Written by ``clvml score`` from the customers table.
CONSENT_COLUMN = "consent_marketing"


def marketing_consented(assigned: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The rows that may go on a marketing list, and how many were left off.

    A row whose ``consent_marketing`` is ``no`` (or False) is left off; an empty value
    means consent was not recorded for these scores (no such column in the customers
    table) and the row stays.
    """
    if CONSENT_COLUMN not in assigned.columns:
        return assigned, 0
    flag = assigned[CONSENT_COLUMN].astype("string").str.strip().str.lower()
    refused = flag.isin(["no", "false", "0"]).fillna(False).to_numpy(dtype=bool)
    return assigned.loc[~refused], int(refused.sum())


def export_segment_lists(
    assigned: pd.DataFrame,
    directory: str | os.PathLike[str],
    *,
    by: str = "value_tier",
    columns: Sequence[str] | None = None,
    value_col: str = "clv",
) -> dict[str, Path]:
    """Write one CSV of customers per segment, for campaign tools.

    Each file, ``<directory>/<by>_<segment>.csv`` (segment names reduced to
    lower-case letters, digits and ``_``, ``%`` as ``pct``), lists the
    segment's customers by descending ``value_col`` (ties by ``customer_id``).
    Customers who refused marketing (``consent_marketing`` = ``no``, see
    :func:`marketing_consented`) are never written.
    Every file is first written to a temporary file in ``directory`` and moved
    into place only when all files are written, so readers never see a
    half-written list and a failure leaves earlier exports intact.

    The files are meant to be opened in a spreadsheet: a text cell starting with
    ``=``, ``+``, ``-``, ``@``, tab, CR or ``'`` (a customer id such as
    ``=HYPERLINK(...)``) is written with a leading ``'`` so it is never run as a
    formula (:func:`clvml.data.spreadsheet.formula_safe`; a campaign tool reading the
    ids back undoes it with :func:`~clvml.data.spreadsheet.restore_formula_safe`).

    Parameters
    ----------
    assigned : pandas.DataFrame
        Per-customer rows with ``customer_id`` (column or index), ``by`` and
        ``value_col``.
    directory : path
        Output folder (created if needed).
    by : str, default "value_tier"
        Segment column.
    columns : sequence of str, optional
        Columns to write after ``customer_id`` (default: all).
    value_col : str, default "clv"

    Returns
    -------
    dict
        Segment label -> path written.
    """
    df = validate_predictions(assigned, value_col=value_col, require_risk=False)
    df, _ = marketing_consented(df)
    if by not in df.columns:
        raise DataValidationError(f"missing segment column; have {list(df.columns)}", column=by)
    if df[by].isna().any():
        raise DataValidationError(
            "customers without a segment", column=by, n_rows=int(df[by].isna().sum())
        )
    cols = ["customer_id"] + [c for c in (columns or df.columns) if c != "customer_id"]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataValidationError(f"columns to export not found: {missing}", column=missing[0])
    order = np.lexsort((df["customer_id"].to_numpy(dtype=str), -df[value_col].to_numpy()))
    df = df.iloc[order]
    out_dir = Path(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    staged: list[tuple[str, Path]] = []
    used: set[str] = set()
    try:
        for label, part in df.groupby(by, observed=True, sort=True):
            stem = f"{_slug(by)}_{_slug(label) or 'segment'}"
            name, k = stem, 2
            while name in used:
                name, k = f"{stem}_{k}", k + 1
            used.add(name)
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".csv.tmp", dir=out_dir)
            staged.append((tmp, out_dir / f"{name}.csv"))
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
                # CRLF (RFC 4180): a field holding a CR or LF is then quoted, not split
                formula_safe(part[cols]).to_csv(fh, index=False, lineterminator="\r\n")
                fh.flush()
                os.fsync(fh.fileno())
            written[str(label)] = out_dir / f"{name}.csv"
    except BaseException:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise
    for tmp, final in staged:
        share(tmp)  # the user's umask, not mkstemp's 0600: the lists are shared
        os.replace(tmp, final)
    return written
