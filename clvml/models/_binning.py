"""Weighted binning of scikit-learn's histogram boosting in one pass per feature.

With sample weights (class weights, Poisson offsets), scikit-learn's ``_BinMapper`` finds a
feature's bin edges by asking ``sklearn.utils.stats._weighted_percentile`` for each of the
254 percentiles in turn; every call sorts the column again and runs array-API wrappers, and
on 5,000 customers x 88 features that was most of the time of every boosting fit in
``clvml train``. Within :func:`batched_weighted_binning`, the first such call for a column
computes its whole percentile grid with numpy (:func:`_averaged_inverted_cdf`: one sort, the
same averaged inverted-CDF rule) and later calls for that column read the result. The
edges, hence the fitted models, are scikit-learn's own, bit for bit
(``tests/models/test_binning.py``); any other call is passed through. Without weights, and
above scikit-learn's binning subsample (200,000 rows), scikit-learn does not take this path.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np

__all__ = ["batched_weighted_binning", "binning_batched"]

F = TypeVar("F", bound=Callable[..., Any])

_LOCK = threading.Lock()
_active = 0
_original: Callable[..., Any] | None = None
_memo = threading.local()  # the column being binned on this thread and its percentile grid


def _grid(first_rank: float) -> np.ndarray | None:
    """The binning's percentile grid whose first rank is ``first_rank`` (None if none fits)."""
    if not first_rank > 0:
        return None
    max_bins = round(100.0 / first_rank)
    grid = np.linspace(0, 100, num=max_bins + 1)[1:-1]
    return grid if len(grid) and grid[0] == first_rank else None


def _averaged_inverted_cdf(x: np.ndarray, w: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Weighted percentiles of ``x`` at ``ranks`` (in %) by the averaged inverted CDF, at once.

    The rule of ``_weighted_percentile(..., average=True)``: with the values sorted and
    their weights cumulated (``cdf``), the percentile ``r`` is the first value whose ``cdf``
    reaches ``r / 100 * total`` (a rank of 0 just above 0); when ``cdf`` lands on the
    target exactly (within machine epsilon), the mean of that value and the next one with
    weight. NaN values count with weight 0.
    """
    order = np.argsort(x)  # the same (default, unstable) sort as scikit-learn's
    xs = x[order]
    w = w[order]
    ws = np.where(np.isnan(xs), 0.0, w)
    cdf = np.cumsum(ws)
    target = ranks / 100 * cdf[-1]
    target = np.where(target == 0, np.nextafter(target, target + 1), target)
    last = len(xs) - 1
    at = np.clip(np.searchsorted(cdf, target), 0, last)
    above = (cdf[at] - target) > np.finfo(np.float64).eps
    nxt = np.clip(at + 1, 0, last)
    # the next value with weight: skip zero-weight values after the landing point
    skip = w[nxt] == 0
    if skip.any():
        jump = np.searchsorted(cdf, cdf[at[skip]], side="right")
        nxt[skip] = np.where(jump > last, at[skip], jump)
    return np.where(above, xs[at], (xs[at] + xs[nxt]) / 2)


def _batched(array: Any, sample_weight: Any, percentile_rank: Any = 50, average: bool = False,
             xp: Any = None) -> Any:  # fmt: skip
    original = _original
    assert original is not None
    plain = (
        xp is None
        and average
        and isinstance(array, np.ndarray)
        and array.ndim == 1
        and isinstance(sample_weight, np.ndarray)
        and np.ndim(percentile_rank) == 0
    )
    if not plain:
        return original(array, sample_weight, percentile_rank, average=average, xp=xp)
    rank = float(percentile_rank)
    memo = getattr(_memo, "entry", None)
    if memo is None or memo[0] is not array or memo[1] is not sample_weight:
        grid = _grid(rank)
        if grid is None:
            return original(array, sample_weight, percentile_rank, average=average)
        values = _averaged_inverted_cdf(array, sample_weight, grid)
        memo = (array, sample_weight, dict(zip(grid.tolist(), values, strict=True)))
        _memo.entry = memo
    found = memo[2].get(rank)
    if found is None:
        return original(array, sample_weight, percentile_rank, average=average)
    return found


@contextmanager
def batched_weighted_binning() -> Iterator[None]:
    """Within the block, weighted histogram-boosting binning sorts each feature once.

    Re-entrant and thread-safe (a counter keeps the shim installed while any block runs);
    a no-op if scikit-learn's binning module no longer has the function it replaces.
    """
    global _active, _original
    try:
        from sklearn.ensemble._hist_gradient_boosting import binning
    except ImportError:  # pragma: no cover - scikit-learn reorganised
        yield
        return
    if not hasattr(binning, "_weighted_percentile"):  # pragma: no cover
        yield
        return
    with _LOCK:
        if _active == 0:
            _original = binning._weighted_percentile
            binning._weighted_percentile = _batched
        _active += 1
    try:
        yield
    finally:
        with _LOCK:
            _active -= 1
            if _active == 0:
                binning._weighted_percentile = _original
                _original = None
                _memo.__dict__.clear()


def binning_batched(func: F) -> F:
    """Decorator: run ``func`` within :func:`batched_weighted_binning`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with batched_weighted_binning():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
