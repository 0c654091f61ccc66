"""Validation of clvml's inputs against their data contracts.

One public function per kind of input. Each returns a cleaned frame or raises
:class:`clvml.exceptions.DataValidationError` naming the column, the number of
failing rows and an example.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError

__all__ = ["validate_rfm_summary"]


def _first(values: np.ndarray, mask: np.ndarray) -> object:
    """Return the first value of ``values`` where ``mask`` holds, as a Python scalar."""
    v = values[np.flatnonzero(mask)[0]]
    return v.item() if hasattr(v, "item") else v


def _check(mask: np.ndarray, values: np.ndarray, column: str, message: str) -> None:
    """Raise a DataValidationError when any element of ``mask`` is True."""
    n = int(np.count_nonzero(mask))
    if n:
        raise DataValidationError(message, column=column, n_rows=n, example=_first(values, mask))


def validate_rfm_summary(
    data: pd.DataFrame,
    columns: Sequence[str] = ("frequency", "recency", "T"),
    *,
    monetary_col: str | None = None,
) -> pd.DataFrame:
    """Check an RFM summary (one row per customer) for the BTYD models.

    Parameters
    ----------
    data : pandas.DataFrame
        Frame with ``frequency`` (repeat purchases, integer >= 0), ``recency``
        (time of the last purchase since the first, >= 0) and ``T`` (age of the
        customer, >= recency), in one time unit.
    columns : sequence of str, default ("frequency", "recency", "T")
        Names of those three columns in ``data``.
    monetary_col : str, optional
        Also check this column of mean spend per repeat purchase (finite, > 0
        where frequency > 0).

    Returns
    -------
    pandas.DataFrame
        The same rows with the checked columns as float64.

    Raises
    ------
    DataValidationError
        Empty input, missing columns, NaN or infinite values, negative
        frequency or recency, non-integer frequency, recency > T, or
        frequency > 0 with recency 0 (a repeat purchase needs time to pass).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"frequency": [2, 0], "recency": [30.43, 0.0], "T": [38.86, 38.86]})
    >>> validate_rfm_summary(df).shape
    (2, 3)
    """
    if not isinstance(data, pd.DataFrame):
        raise DataValidationError(f"expected a pandas DataFrame, got {type(data).__name__}")
    if len(data) == 0:
        raise DataValidationError("the RFM summary is empty: expected at least one customer")
    f_col, r_col, t_col = columns
    wanted = [f_col, r_col, t_col] + ([monetary_col] if monetary_col else [])
    missing = [c for c in wanted if c not in data.columns]
    if missing:
        raise DataValidationError(
            f"missing from the RFM summary (has {list(map(str, data.columns))})",
            column=missing[0],
        )
    out = data.copy()
    for col in wanted:
        try:
            values = pd.to_numeric(out[col], errors="coerce").to_numpy(dtype=float)
        except (TypeError, ValueError) as exc:  # pragma: no cover - to_numeric coerces
            raise DataValidationError(f"expected numbers ({exc})", column=col) from exc
        bad = ~np.isfinite(values)
        _check(bad, out[col].to_numpy(), col, "are NaN, infinite or not numeric; expected finite numbers")
        out[col] = values
    f = out[f_col].to_numpy()
    r = out[r_col].to_numpy()
    T = out[t_col].to_numpy()
    _check(f < 0, f, f_col, "are negative; expected repeat-purchase counts >= 0")
    _check(f != np.round(f), f, f_col, "are not whole numbers; expected repeat-purchase counts")
    _check(r < 0, r, r_col, "are negative; expected time since first purchase >= 0")
    _check(T <= 0, T, t_col, "are <= 0; expected customer age > 0")
    _check(r > T * (1 + 1e-12), r, r_col, f"exceed {t_col}; expected recency <= T")
    _check((f > 0) & (r == 0), r, r_col, f"are 0 while {f_col} > 0; a repeat purchase needs recency > 0")
    _check((f == 0) & (r > 0), r, r_col, f"are > 0 while {f_col} == 0; expected recency 0 without repeats")
    if monetary_col:
        m = out[monetary_col].to_numpy()
        _check((f > 0) & (m <= 0), m, monetary_col, "are <= 0 for customers with repeat purchases")
    return out
