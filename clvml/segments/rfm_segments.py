"""Classic RFM scores (quintiles 1-5) and the named RFM segments (Champions, At risk, ...)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError
from clvml.segments._validation import validate_predictions

__all__ = [
    "RFM_SEGMENT_NAMES",
    "RFM_SEGMENT_RULES",
    "rfm_scores",
    "rfm_segment_name",
    "rfm_segments",
]

#: Segment names from the recency (R) and frequency (F) quintile scores, as
#: ``(R scores, F scores, name)``; the 10 rules cover all 25 (R, F) pairs once.
#: This is the widely used RF grid (R on rows, F on columns)::
#:
#:         F=1            F=2            F=3            F=4          F=5
#:   R=5   New customers  Potential loy. Potential loy. Champions    Champions
#:   R=4   Promising      Potential loy. Potential loy. Loyal        Loyal
#:   R=3   About to sleep About to sleep Need attention Loyal        Loyal
#:   R=2   Hibernating    Hibernating    At risk        At risk      Can't lose them
#:   R=1   Hibernating    Hibernating    At risk        At risk      Can't lose them
RFM_SEGMENT_RULES: tuple[tuple[tuple[int, ...], tuple[int, ...], str], ...] = (
    ((1, 2), (1, 2), "Hibernating"),
    ((1, 2), (3, 4), "At risk"),
    ((1, 2), (5,), "Can't lose them"),
    ((3,), (1, 2), "About to sleep"),
    ((3,), (3,), "Need attention"),
    ((3, 4), (4, 5), "Loyal customers"),
    ((4,), (1,), "Promising"),
    ((5,), (1,), "New customers"),
    ((4, 5), (2, 3), "Potential loyalists"),
    ((5,), (4, 5), "Champions"),
)

_GRID = np.empty((5, 5), dtype=object)
for _r, _f, _name in RFM_SEGMENT_RULES:
    for _ri in _r:
        for _fi in _f:
            _GRID[_ri - 1, _fi - 1] = _name
del _r, _f, _name, _ri, _fi

#: All segment names, from best to worst.
RFM_SEGMENT_NAMES: tuple[str, ...] = (
    "Champions",
    "Loyal customers",
    "Potential loyalists",
    "New customers",
    "Promising",
    "Need attention",
    "About to sleep",
    "Can't lose them",
    "At risk",
    "Hibernating",
)


def rfm_segment_name(r_score: int, f_score: int) -> str:
    """Name of the segment with recency score ``r_score`` and frequency score ``f_score`` (1-5).

    Examples
    --------
    >>> rfm_segment_name(5, 5), rfm_segment_name(1, 5), rfm_segment_name(2, 1)
    ('Champions', "Can't lose them", 'Hibernating')
    """
    if not (1 <= r_score <= 5 and 1 <= f_score <= 5):
        raise DataValidationError(f"RFM scores run from 1 to 5, got R={r_score}, F={f_score}")
    return str(_GRID[r_score - 1, f_score - 1])


def _quintile(goodness: np.ndarray) -> np.ndarray:
    """Scores 1-5 by rank of ``goodness`` (higher is better); ties share the lower score.

    With ``m`` the 1-based rank where tied values all take the smallest rank
    (pandas ``method="min"``), the score is ``1 + floor(5 (m - 1) / n)``.
    """
    n = len(goodness)
    m = pd.Series(goodness).rank(method="min").to_numpy()
    return (1 + np.floor(5 * (m - 1) / n)).astype(np.int64)


def rfm_scores(
    data: pd.DataFrame,
    *,
    frequency_col: str = "frequency",
    recency_col: str = "recency",
    T_col: str | None = "T",
    monetary_col: str | None = "monetary_value",
) -> pd.DataFrame:
    """Recency, frequency and monetary quintile scores (5 = best).

    Recency is scored on the time since the last purchase (more recent is
    better). In the lifetimes layout, ``recency`` is the age at the last
    purchase and ``T`` the customer's age, so the time since the last purchase
    is ``T - recency``; pass ``T_col=None`` when ``recency_col`` already holds
    the time since the last purchase. Frequency and monetary value score
    higher for larger values. Ranks are quintiles of the customers; tied
    values share the lower score (e.g. all one-time buyers get F = 1), so the
    scores do not depend on row order.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per customer with ``customer_id`` (column or index).
    frequency_col, recency_col : str
        Columns of repeat purchases and recency.
    T_col : str or None, default "T"
        Customer age column (lifetimes layout), or None (see above).
    monetary_col : str or None, default "monetary_value"
        Column of average spend; None to skip the M score.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id``: ``r_score``, ``f_score``, (``m_score``),
        ``rfm_score`` (e.g. ``"545"``, or ``"54"`` without M).
    """
    numeric = [frequency_col, recency_col] + [c for c in (T_col, monetary_col) if c]
    df = validate_predictions(data, value_col=numeric[0], require_risk=False, numeric=numeric)
    freq = df[frequency_col].to_numpy()
    rec = df[recency_col].to_numpy()
    for values, col in ((freq, frequency_col), (rec, recency_col)):
        if (values < 0).any():
            raise DataValidationError(
                "must be >= 0",
                column=col,
                n_rows=int((values < 0).sum()),
                example=float(values[values < 0][0]),
            )
    since_last = rec if T_col is None else df[T_col].to_numpy() - rec
    if (since_last < 0).any():
        bad = since_last < 0
        raise DataValidationError(
            f"recency must not exceed {T_col}",
            column=recency_col,
            n_rows=int(bad.sum()),
            example=float(rec[bad][0]),
        )
    out = pd.DataFrame(
        {"r_score": _quintile(-since_last), "f_score": _quintile(freq)},
        index=pd.Index(df["customer_id"].to_numpy(dtype=str), name="customer_id"),
    )
    code = out["r_score"].astype(str) + out["f_score"].astype(str)
    if monetary_col:
        out["m_score"] = _quintile(df[monetary_col].to_numpy())
        code = code + out["m_score"].astype(str)
    out["rfm_score"] = code
    return out


def rfm_segments(data: pd.DataFrame, **kwargs: str | None) -> pd.DataFrame:
    """RFM scores plus the named segment of each customer.

    The name comes from the R and F scores through :data:`RFM_SEGMENT_RULES`
    (M is reported in the score but does not change the name, as in the
    classic RF grid).

    Parameters
    ----------
    data : pandas.DataFrame
        See :func:`rfm_scores`.
    **kwargs
        Column names passed to :func:`rfm_scores`.

    Returns
    -------
    pandas.DataFrame
        :func:`rfm_scores` plus ``rfm_segment``, a categorical whose categories
        run from ``"Champions"`` to ``"Hibernating"``.

    Examples
    --------
    >>> from clvml.data.datasets import load_cdnow_summary
    >>> seg = rfm_segments(load_cdnow_summary(with_spend=True).rename_axis("customer_id"))
    >>> seg["rfm_segment"].value_counts().index[0]
    'Hibernating'
    """
    scores = rfm_scores(data, **kwargs)  # type: ignore[arg-type]
    names = _GRID[scores["r_score"].to_numpy() - 1, scores["f_score"].to_numpy() - 1]
    scores["rfm_segment"] = pd.Categorical(names, categories=list(RFM_SEGMENT_NAMES))
    return scores
