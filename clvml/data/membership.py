"""Set membership of id columns, fast for the Arrow-backed strings pandas 3 reads ids as.

pandas' ``isin`` on an Arrow-backed string column builds one ``pyarrow`` scalar per
candidate in Python (``ArrowStringArray.isin``): a million candidate ids cost ~15 s of
CPU. :func:`isin` gives the same answer with one ``pyarrow.compute.is_in`` call (~0.4 s),
and falls back to pandas for anything else (numbers, mixed objects).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["isin"]


def _arrow_text(values: Any) -> Any | None:
    """The Arrow array of an Arrow-backed string Series/Index/array, else None."""
    arr = values.array if isinstance(values, pd.Series | pd.Index) else values
    dtype = getattr(arr, "dtype", None)
    if not isinstance(dtype, pd.StringDtype) or dtype.storage != "pyarrow":
        return None
    import pyarrow as pa

    out = pa.array(arr)
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def isin(values: pd.Series | pd.Index, candidates: Collection[Any]) -> np.ndarray:
    """Which of ``values`` are among ``candidates``: a boolean array, as ``values.isin``.

    Parameters
    ----------
    values : pandas.Series or pandas.Index
        The values to look up (e.g. the ``customer_id`` column of a table).
    candidates : collection
        The values to look for: a Series, Index, array, list or set.

    Returns
    -------
    numpy.ndarray of bool
        One entry per value, in order; a missing value is found only when ``candidates``
        hold a missing value too (as pandas does).

    Examples
    --------
    >>> isin(pd.Series(["a", "b", None], dtype="str"), {"b", "c"}).tolist()
    [False, True, False]
    """
    arr = _arrow_text(values)
    if arr is not None:
        import pyarrow as pa
        import pyarrow.compute as pc

        found = _arrow_text(candidates)
        if found is None:
            cand = list(candidates)
            if all(isinstance(v, str) or v is None or v is pd.NA for v in cand):
                found = pa.array([None if v is pd.NA else v for v in cand], type=arr.type)
            elif all(isinstance(v, str) or pd.isna(v) for v in cand):
                found = pa.array([v if isinstance(v, str) else None for v in cand], type=arr.type)
        if found is not None:
            if found.type != arr.type:
                found = found.cast(arr.type)
            hit = pc.is_in(arr, value_set=found, skip_nulls=False)
            return np.asarray(hit.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
    return np.asarray(values.isin(candidates), dtype=bool)
