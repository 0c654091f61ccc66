"""Distinct rows of a summary: compression into weights and expansion back.

Every BTYD fit and prediction evaluates each distinct row of its columns once:
:func:`compress_rows` finds them in O(n) and :class:`CompressedRows` maps per-row values
back to every customer; :class:`PreparedSummary` keeps them for every prediction on the
same summary. :func:`check_horizon` checks a prediction horizon.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError

__all__ = [
    "CompressedRows",
    "FitProblem",
    "PreparedSummary",
    "all_rows",
    "as_frame",
    "check_horizon",
    "compress_rows",
    "compression_pays",
    "row_weights",
    "validated_rows",
]


@dataclass(frozen=True)
class CompressedRows:
    """Distinct rows of a summary and how to map values back to every customer.

    Attributes
    ----------
    columns : tuple of ndarray
        One float array per column, one element per distinct row.
    counts : ndarray
        Number of customers (or summed weights) behind each distinct row.
    inverse : ndarray
        ``columns[j][inverse]`` rebuilds column ``j`` of the original data.
    index : pandas.Index or None
        Index of the original frame (predictions become a Series on it), or ``None``
        when the input was arrays (predictions stay arrays).
    """

    columns: tuple[np.ndarray, ...]
    counts: np.ndarray
    inverse: np.ndarray
    index: pd.Index | None
    #: every row is its own distinct row (``inverse`` is ``arange(n)``): nothing to gather
    identity: bool = False

    def expand(self, values: np.ndarray, name: str | None = None) -> pd.Series | np.ndarray:
        """Map per-distinct-row ``values`` back to one value per original row."""
        values = np.asarray(values)
        full = values if self.identity and values.shape == self.inverse.shape else None
        if full is None:
            full = values[self.inverse]
        if self.index is None:
            return full
        return pd.Series(full, index=self.index, name=name)


class PreparedSummary:
    """An RFM summary whose distinct rows are found once and reused by every prediction.

    Made by :meth:`BTYDModel.prepare <clvml.models.btyd.base.BTYDModel.prepare>`. Every
    prediction of a fitted BTYD model (``probability_alive``, ``expected_purchases``,
    ``conditional_probability_of_purchases``, ``expected_average_spend``, and
    :func:`~clvml.models.btyd.clv.customer_lifetime_value`) accepts it wherever it
    accepts the summary itself, and returns the same values on the summary's index.
    The first use by a model class validates and compresses the columns that class
    reads (distinct rows + inverse index, :class:`CompressedRows`); later predictions
    of any model of that class reuse them. It is a snapshot: the rows a model has read
    are not read again, so do not modify the summary while it is in use.

    Parameters
    ----------
    data : pandas.DataFrame, mapping or 2-d array
        The RFM summary, as the predictions take it.
    """

    def __init__(self, data: Any) -> None:
        if isinstance(data, PreparedSummary):
            data = data.data
        self.data: Any = data
        self._rows: dict[Any, CompressedRows] = {}

    @property
    def index(self) -> pd.Index:
        """The summary's index (a range for arrays and mappings)."""
        if isinstance(self.data, pd.DataFrame):
            return self.data.index
        if isinstance(self.data, Mapping):
            first = next(iter(self.data.values()), ())
            return pd.RangeIndex(len(np.asarray(first)))
        return pd.RangeIndex(len(np.asarray(self.data)))

    def __len__(self) -> int:
        return len(self.index)

    def rows(self, key: Any, compute: Callable[[], CompressedRows]) -> CompressedRows:
        """The rows cached under ``key`` (a model class and its reading), computed once."""
        found = self._rows.get(key)
        if found is None:
            found = self._rows[key] = compute()
        return found

    def __repr__(self) -> str:
        return f"PreparedSummary({len(self)} rows, {len(self._rows)} compressed readings)"


def _dense_codes(values: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """Codes 0..k-1 (in sorted order) of non-negative ints below ``size``, and k."""
    present = np.zeros(size, dtype=bool)
    present[values] = True
    position: np.ndarray = np.cumsum(present, dtype=np.int32 if size < 2**31 else np.int64)
    np.subtract(position, 1, out=position)
    return position[values].astype(np.int64), int(position[-1]) + 1 if size else 0


#: a dense table of combined keys up to this size (a 128 MiB cumsum at most) beats hashing
_DENSE_KEYS = 2**25

#: steps per unit tried for the dense table: whole numbers, and days expressed in weeks
_UNITS = (1.0, 7.0)


def _column_codes(col: np.ndarray) -> tuple[np.ndarray, int]:
    """Integer codes of a column's distinct values and their number.

    Columns of whole steps with a modest range (counts, ages in whole days or weeks, and
    ages in days expressed in weeks: every value exactly ``k / 7``) use a dense
    lookup table; anything else (other fractions, NaN, huge ranges) is hashed with
    :func:`pandas.factorize`. Distinct values get distinct codes either way (the check
    is exact equality in floating point).
    """
    n = col.size
    if n and col.dtype.kind == "f":
        lo, hi = np.min(col), np.max(col)
        for unit in _UNITS:
            span = (hi - lo) * unit
            if not (np.isfinite(span) and span <= 4 * n + 1000):
                continue
            if unit == 1.0:
                steps = col - lo
                whole = steps.astype(np.int64)
                if np.array_equal(whole, steps):
                    return _dense_codes(whole, int(span) + 1)
                continue
            # exact: every value is k / unit in floating point, k whole (days/7)
            steps = np.rint(col * unit)
            if np.array_equal(steps / unit, col):
                k = steps.astype(np.int64)
                k -= k.min()
                return _dense_codes(k, int(k.max()) + 1)
    codes, uniques = pd.factorize(col, use_na_sentinel=False)
    return codes.astype(np.int64, copy=False), len(uniques)


def compress_rows(
    columns: tuple[np.ndarray, ...], weights: np.ndarray | None = None
) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray]:
    """Find the distinct rows of equally long 1-d arrays in O(n) (no sort).

    Parameters
    ----------
    columns : tuple of ndarray
        Columns of the table.
    weights : ndarray, optional
        Weight of each row; the returned counts sum them (default: 1 per row).

    Returns
    -------
    unique_columns, counts, inverse
        The distinct rows (column-wise), their summed weights, and for every
        original row the position of its distinct row.

    Examples
    --------
    >>> import numpy as np
    >>> (u,), counts, inv = compress_rows((np.array([1.0, 2.0, 1.0]),))
    >>> u.tolist(), counts.tolist(), inv.tolist()
    ([1.0, 2.0], [2.0, 1.0], [0, 1, 0])
    """
    n = columns[0].size
    key = np.zeros(n, dtype=np.int64)
    n_key = 1
    for col in columns:
        codes, n_codes = _column_codes(np.asarray(col))
        if n_key * n_codes >= 2**62:  # keep the combined key inside int64
            key, n_key = _key_codes(key, n_key, n)
        key = key * n_codes + codes
        n_key *= n_codes
    inverse, n_unique = _key_codes(key, n_key, n)
    first_row = np.empty(n_unique, dtype=np.int64)
    first_row[inverse[::-1]] = np.arange(n - 1, -1, -1)
    unique_columns = tuple(np.asarray(c)[first_row] for c in columns)
    counts = np.bincount(inverse, weights=weights, minlength=n_unique).astype(float)
    return unique_columns, counts, inverse


def _key_codes(key: np.ndarray, n_key: int, n: int) -> tuple[np.ndarray, int]:
    """Renumber combined row keys 0..k-1: dense table when small, hashing otherwise."""
    if n_key <= 4 * n + 1000 or n_key <= min(16 * n, _DENSE_KEYS):
        return _dense_codes(key, n_key)
    codes, uniques = pd.factorize(key)
    return codes.astype(np.int64, copy=False), len(uniques)


def check_horizon(t: Any, name: str = "t") -> np.ndarray:
    """Return ``t`` as a float array after checking it is finite and >= 0."""
    arr = np.asarray(t, dtype=float)
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        raise DataValidationError(
            "must be finite and >= 0 (a length of time in the data's unit)",
            column=name,
            n_rows=int(bad.sum()),
            example=float(arr[bad].flat[0]),
        )
    return arr


@dataclass
class FitProblem:
    """What the ``fit`` template optimises: distinct rows, their weights and the scale.

    Attributes
    ----------
    columns : tuple of ndarray
        Distinct rows of the likelihood's columns, in the data's units.
    scaled : tuple of ndarray
        The same rows with the scaled columns divided by ``scale``.
    counts : ndarray
        Customers (summed weights) behind each row; all > 0.
    total : float
        Customers before the fit mask (``n_excluded_ = total - counts.sum()``).
    scale : float
        The unit of the fit (max of the scale column, 1 when off).
    extra : dict
        Whatever else a subclass's hooks share (the covariate matrix, link mask, ...).
    """

    columns: tuple[np.ndarray, ...]
    scaled: tuple[np.ndarray, ...]
    counts: np.ndarray
    total: float
    scale: float
    extra: dict[str, Any] = field(default_factory=dict)


def row_weights(frame: pd.DataFrame, weights: Any) -> np.ndarray | None:
    """Per-row weights (an array or the name of a column of ``frame``), checked >= 0."""
    if weights is None:
        return None
    if isinstance(weights, str):
        if weights not in frame.columns:
            raise DataValidationError("weights column not found", column=weights)
        weights = frame[weights]
    w = np.asarray(weights, dtype=float)
    if w.shape != (len(frame),):
        raise DataValidationError(
            f"weights must be one number per row: got shape {w.shape} for {len(frame)} rows",
            column="weights",
        )
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        raise DataValidationError(
            "are negative, NaN or infinite; expected weights >= 0",
            column="weights",
            n_rows=int(bad.sum()),
            example=float(w[np.flatnonzero(bad)[0]]),
        )
    return w


def as_frame(data: Any, columns: tuple[str, ...]) -> pd.DataFrame:
    """A DataFrame as is; a mapping of arrays or a 2-d array as a frame of ``columns``."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping):
        return pd.DataFrame({k: np.asarray(v) for k, v in data.items()})
    arr = np.asarray(data, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != len(columns):
        raise DataValidationError(
            f"expected a DataFrame or a 2-d array with columns {list(columns)}, "
            f"got an array of shape {arr.shape}"
        )
    return pd.DataFrame(arr, columns=list(columns))


def validated_rows(
    frame: pd.DataFrame,
    columns: tuple[str, ...],
    weights: np.ndarray | None,
    validate: Callable[[pd.DataFrame], pd.DataFrame],
    index: pd.Index | None,
    rfm: str | None = None,
) -> CompressedRows:
    """Distinct rows of ``columns``, checked with ``validate``.

    Validation runs on the distinct rows (a row is valid or not regardless of how often
    it occurs); on failure the full frame is validated again so the error reports the
    true number of offending rows. Large inputs whose rows hardly repeat (continuous
    times) are not compressed: a sample says so first (:func:`compression_pays`).
    ``rfm`` as in :func:`all_rows`: rows that plainly meet the RFM rules skip ``validate``.
    """
    try:
        arrays = tuple(frame[c].to_numpy(dtype=float) for c in columns)
    except (KeyError, TypeError, ValueError):
        validate(frame)  # raises the descriptive error
        raise
    if not compression_pays(arrays):
        if rfm is None or not _plainly_valid_rfm(
            arrays[0], arrays[1], arrays[2], grid=rfm == "grid"
        ):
            validate(frame)
        n = arrays[0].size
        counts = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
        return CompressedRows(arrays, counts, np.arange(n), index, identity=True)
    uniq, counts, inverse = compress_rows(arrays, weights)
    if rfm is not None and _plainly_valid_rfm(uniq[0], uniq[1], uniq[2], grid=rfm == "grid"):
        return CompressedRows(uniq, counts, inverse, index)
    try:
        validate(pd.DataFrame(dict(zip(columns, uniq, strict=True))))
    except DataValidationError:
        validate(frame)  # same failure, counted over every row
        raise
    return CompressedRows(uniq, counts, inverse, index)


def _plainly_valid_rfm(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, grid: bool) -> bool:
    """Whether every row is finite, ``x`` whole >= 0 and ``0 <= t_x <= T``; with ``grid``
    ``T >= 0``, otherwise ``T > 0`` and ``t_x > 0`` exactly when ``x > 0`` (the rows
    :func:`clvml.data.validation.validate_rfm_summary` accepts, or a subset of them)."""
    if x.size == 0:
        return False
    with np.errstate(over="ignore", invalid="ignore"):
        finite = np.isfinite(x.sum() + t_x.sum() + T.sum())
    ok = (
        finite
        and x.min() >= 0
        and t_x.min() >= 0
        and (T.min() >= 0 if grid else T.min() > 0)
        and np.array_equal(x.astype(np.int64), x)
        and np.all(t_x <= T)
    )
    return bool(ok and (grid or np.array_equal(x > 0, t_x > 0)))


#: inputs up to this many rows are always compressed (it costs little)
_SAMPLE_FROM = 200_000
#: rows drawn to estimate how often rows repeat
_SAMPLE_SIZE = 20_000
#: compress when at least this share of the sampled rows repeats another sampled row
_MIN_REPEATS = 0.05


def compression_pays(arrays: tuple[np.ndarray, ...]) -> bool:
    """Whether finding the distinct rows of ``arrays`` is likely to pay for itself.

    Hashing a million float rows costs about as much as several likelihood passes
    over them. Below ``_SAMPLE_FROM`` rows the answer is always yes; above, the
    distinct rows of a random sample of ``_SAMPLE_SIZE`` rows (fixed seed) are counted
    and the data are compressed when at least ``_MIN_REPEATS`` of the sample repeats.
    Day- or week-resolution summaries repeat heavily (customers without repeat
    purchases share their age); continuous times do not.
    """
    n = arrays[0].size
    if n <= _SAMPLE_FROM:
        return True
    rng = np.random.default_rng(0)
    idx = np.unique(rng.integers(0, n, size=_SAMPLE_SIZE))
    _, counts, _ = compress_rows(tuple(np.asarray(c)[idx] for c in arrays))
    return 1.0 - counts.size / idx.size >= _MIN_REPEATS


def all_rows(
    frame: pd.DataFrame,
    columns: tuple[str, ...],
    validate: Callable[[pd.DataFrame], pd.DataFrame],
    index: pd.Index | None,
    rfm: str | None = None,
) -> CompressedRows:
    """Every row of ``columns`` uncompressed (weight 1 each), checked with ``validate``.

    For formulas cheaper than finding the distinct rows: hashing a million float rows
    that do not repeat costs about ten times evaluating a closed-form P(alive) on them.
    With ``rfm`` (the columns are frequency, recency and T, and ``validate`` accepts
    every row a customer can produce: ``"strict"``, or grid rows and zero ages too:
    ``"grid"``) a few vectorised reductions first check the rows against those rules;
    only when one fails does ``validate`` run (to accept rows it allows beyond them, or
    to raise its descriptive error).
    """
    try:
        arrays = tuple(frame[c].to_numpy(dtype=float) for c in columns)
    except (KeyError, TypeError, ValueError):
        validate(frame)  # raises the descriptive error
        raise
    if rfm is None or not _plainly_valid_rfm(arrays[0], arrays[1], arrays[2], grid=rfm == "grid"):
        validate(frame)
    n = len(frame)
    return CompressedRows(arrays, np.ones(n), np.arange(n), index, identity=True)
