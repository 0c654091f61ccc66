"""Input contract of the subscription models: spells and cohort survival counts.

A *spell* is one customer's subscription: ``duration`` (periods of tenure) and
``censored`` (still active at the end of the data). A cancelled spell's duration is the
period in which the customer cancelled (1: never renewed); an active spell's is the
number of periods it has been active so far (0 allowed). ``weight`` is how many customers
a row stands for. Cohort survival counts (customers active at the start of each period
of tenure, the cohort size first) turn into spells with :func:`survival_to_spells`.
Bad input raises :class:`~clvml.exceptions.DataValidationError` naming the column.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError

__all__ = ["survival_to_spells", "validate_spells"]


def _refuse(mask: np.ndarray, column: str, what: str, values: np.ndarray) -> None:
    bad = int(np.count_nonzero(mask))
    if bad:
        example = values[mask][0]
        example = example.item() if isinstance(example, np.generic) else example
        raise DataValidationError(what, column=column, n_rows=bad, example=example)


def survival_to_spells(survivors: Any) -> pd.DataFrame:
    """Spells (``duration``, ``censored``, ``weight``) from one cohort's survival counts.

    Parameters
    ----------
    survivors : array-like of float
        Customers active at the start of periods 1, 2, ... (the first is the cohort size),
        non-negative and non-increasing.

    Returns
    -------
    pandas.DataFrame
        Those lost in period ``t`` as cancelled spells of duration ``t``; the last count as
        spells censored at the number of periods observed.

    Examples
    --------
    >>> survival_to_spells([100, 60, 45])
       duration  censored  weight
    0         1     False    40.0
    1         2     False    15.0
    2         2      True    45.0
    """
    s = np.asarray(survivors, dtype=float).ravel()
    if s.size < 2:
        raise DataValidationError(
            f"needs the cohort size and at least one later count, got {s.size} value(s)",
            column="survivors",
        )
    _refuse(~np.isfinite(s), "survivors", "must be finite numbers", s)
    _refuse(s < 0, "survivors", "must be >= 0 (negative count)", s)
    if s[0] <= 0:
        raise DataValidationError(
            "the cohort is empty (first count must be > 0)", column="survivors"
        )
    rises = np.r_[False, s[1:] > s[:-1]]
    _refuse(
        rises,
        "survivors",
        "must not increase with tenure (more survivors than the period before)",
        s,
    )
    k = s.size - 1
    lost = s[:-1] - s[1:]
    return pd.DataFrame(
        {
            "duration": np.r_[np.arange(1, k + 1), k].astype(np.int64),
            "censored": np.r_[np.zeros(k, dtype=bool), True],
            "weight": np.r_[lost, s[-1]],
        }
    )


def validate_spells(
    spells: pd.DataFrame, weights: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked ``duration``, ``censored`` and weights of a frame of spells.

    ``weights`` is an array, the name of a column, ``None`` (a ``weight`` column when the
    frame has one, else 1 per row).
    """
    if not isinstance(spells, pd.DataFrame):
        raise TypeError(f"spells must be a pandas DataFrame, got {type(spells).__name__}")
    for col in ("duration", "censored"):
        if col not in spells.columns:
            raise DataValidationError("is missing from the spells", column=col)
    n = len(spells)
    if n == 0:
        raise DataValidationError("there are no spells to fit (0 rows)", column="duration")
    dur = pd.to_numeric(spells["duration"], errors="coerce").to_numpy(dtype=float)
    _refuse(~np.isfinite(dur), "duration", "must be finite numbers", spells["duration"].to_numpy())
    _refuse(dur != np.floor(dur), "duration", "must be whole periods", dur)
    cens_raw = spells["censored"]
    bad = (~cens_raw.isin([True, False]) | cens_raw.isna()).to_numpy()  # 1/0 compare equal
    _refuse(bad, "censored", "must be True/False (or 1/0)", cens_raw.to_numpy())
    cens = cens_raw.to_numpy().astype(bool)
    _refuse(dur < 0, "duration", "must be >= 0", dur)
    _refuse(
        ~cens & (dur < 1), "duration", "of a cancelled spell must be >= 1 (its last period)", dur
    )
    if weights is None and "weight" in spells.columns:
        weights = "weight"
    if weights is None:
        w = np.ones(n)
    else:
        if isinstance(weights, str):
            w_raw = spells[weights]
            col = weights
        else:
            w_raw = pd.Series(np.asarray(weights).ravel())
            col = "weights"
        w = pd.to_numeric(w_raw, errors="coerce").to_numpy(dtype=float)
        if w.size != n:
            raise DataValidationError(f"has {w.size} values for {n} spells", column=col)
        _refuse(~np.isfinite(w) | (w < 0), col, "must be finite numbers >= 0", w)
    if not w.sum() > 0:
        raise DataValidationError("the weights sum to 0: no customers to fit", column="weight")
    return dur, cens, w
