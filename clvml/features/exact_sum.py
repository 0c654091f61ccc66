"""Exact, order-independent sums of float64 amounts per group, vectorised.

Floating-point addition is not associative: the same purchases added in another order
(another row order, another Spark partitioning) can give a total that differs in its last
bit, and a last bit is enough to send a customer to the other side of a classifier's
split. Every monetary sum of clvml (``monetary_value``, ``total_spend``, ``mean_spend``,
the holdout spend) is therefore the *correctly rounded exact sum* of the float64 amounts:
the float64 nearest to the true mathematical sum of the stored values (ties to even), as
:func:`math.fsum` returns for one group. It depends on the multiset of amounts only, so
the pandas and the Spark engines agree bit for bit whatever the order of the rows.

How (``docs/features.md``): every finite float64 is an integer multiple of a power of two.
:func:`limb_plan` picks, from the largest and the smallest non-zero magnitude, a fixed-point
grid ``2**p`` fine enough to hold every amount exactly and cuts the fixed-point integers
into a few *limbs* of ``width`` bits (``amount = sum_k limb_k * 2**positions[k]``).
:func:`split_limbs` extracts the limbs with exact operations (scaling by powers of two,
truncation, subtraction of the leading part). Limbs are integers, so their sums per group
are exact in any order -- ``numpy.bincount`` in float64 (exact below ``2**53``, which
``width`` guarantees for the number of rows) or ``sum`` of longs in Spark SQL, even in two
stages (per period, then per customer). :func:`round_limbs` turns the summed limbs into the
nearest float64: carries are propagated in int64, the sign is taken out, and the
non-overlapping limb values are added from the top until the first inexact addition,
with a correction when that addition was a tie broken the wrong way by the limbs below.
Money amounts (cents, up to millions) need 2-3 limbs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "LimbPlan",
    "exact_group_sums",
    "exact_segment_sums",
    "limb_plan",
    "round_limbs",
    "split_limbs",
]

_MIN_EXPONENT = -1074  # 2**-1074 is the smallest positive float64 (subnormal)
_MAX_EXPONENT = 1022  # 1.5 * 2**1022 is finite


@dataclass(frozen=True)
class LimbPlan:
    """Fixed-point limbs of a set of amounts: ``amount = sum_k limb_k * 2**positions[k]``.

    ``positions`` are decreasing (the top limb first), ``positions[k] - positions[k + 1]
    == width``; each limb of an amount is an integer of absolute value below ``2**width``.
    """

    positions: tuple[int, ...]
    width: int

    @property
    def n_limbs(self) -> int:
        return len(self.positions)


def limb_plan(max_abs: float, min_abs_nonzero: float | None, n_rows: int) -> LimbPlan:
    """The limbs that hold amounts of these magnitudes exactly and sum exactly over ``n_rows``.

    Parameters
    ----------
    max_abs : float
        Largest absolute amount (finite).
    min_abs_nonzero : float or None
        Smallest non-zero absolute amount (None or 0 when every amount is 0).
    n_rows : int
        Largest number of amounts summed into one group: sums of ``n_rows`` limbs stay
        below ``2**53``, exact in float64.

    Returns
    -------
    LimbPlan

    Examples
    --------
    >>> limb_plan(1000.0, 0.01, 100_000)
    LimbPlan(positions=(-24, -59), width=35)
    """
    width = 52 - max(int(n_rows), 1).bit_length()
    if not min_abs_nonzero or not max_abs:
        return LimbPlan((0,), width)
    top = math.frexp(max_abs)[1]  # |amount| < 2**top
    # an amount m * 2**e (0.5 <= m < 1) is an integer multiple of 2**(e - 53)
    bottom = max(math.frexp(min_abs_nonzero)[1] - 53, _MIN_EXPONENT)
    n_limbs = max(-(-(top - bottom) // width), 1)
    return LimbPlan(tuple(bottom + width * k for k in reversed(range(n_limbs))), width)


def _plan_for(values: np.ndarray, n_rows: int) -> LimbPlan:
    if not len(values):
        return limb_plan(0.0, None, 0)
    lo, hi = float(values.min()), float(values.max())
    if lo > 0:  # amounts are usually positive: no need for |values|
        return limb_plan(hi, lo, n_rows)
    mags = np.abs(values)
    smallest = float(np.min(mags, where=mags > 0, initial=np.inf))
    return limb_plan(max(hi, -lo), smallest if np.isfinite(smallest) else None, n_rows)


def split_limbs(values: np.ndarray, plan: LimbPlan) -> list[np.ndarray]:
    """The limbs of ``values`` scaled back, ``limb_k * 2**positions[k]``, the top one first.

    Each limb is the remainder rounded to a multiple of ``2**positions[k]`` by adding and
    subtracting ``1.5 * 2**(positions[k] + 52)`` (both exact, Rump's extraction), and the
    remainder minus that limb is exact too; the last limb is what remains. Their sum is
    ``values`` exactly and ``|limb_k| <= 2**width``.
    """
    rest = np.asarray(values, dtype=np.float64)
    limbs = []
    for p in plan.positions[:-1]:
        if p + 52 <= _MAX_EXPONENT:
            sigma = math.ldexp(1.5, p + 52)
            limb = (rest + sigma) - sigma
        else:  # astronomically large amounts: truncate instead (sigma would overflow)
            limb = np.ldexp(np.trunc(np.ldexp(rest, -p)), p)
        limbs.append(limb)
        rest = rest - limb
    limbs.append(rest)
    return limbs


def round_limbs(sums: list[np.ndarray], plan: LimbPlan) -> np.ndarray:
    """The float64 nearest to ``sum_k sums[k] * 2**positions[k]`` (ties to even), per group.

    Parameters
    ----------
    sums : list of numpy.ndarray
        Per-group sums of each limb (integers, as int64 or float64 below ``2**53``).
    plan : LimbPlan
        The plan the limbs were split with.

    Returns
    -------
    numpy.ndarray
        float64, one total per group.
    """
    width, positions = plan.width, plan.positions
    limbs = [np.asarray(s).astype(np.int64) for s in sums]

    def carry(limbs: list[np.ndarray]) -> None:
        # limbs below the top into [0, 2**width); the top keeps the sign
        for k in range(len(limbs) - 1, 0, -1):
            c = limbs[k] >> width
            limbs[k] = limbs[k] - (c << width)
            limbs[k - 1] = limbs[k - 1] + c

    carry(limbs)
    negative = limbs[0] < 0  # the limbs below add less than one unit of the top limb
    if negative.any():
        limbs = [np.where(negative, -x, x) for x in limbs]
        carry(limbs)
    values = [np.ldexp(x.astype(np.float64), p) for x, p in zip(limbs, positions, strict=True)]
    hi = values[0]
    lo = np.zeros_like(hi)
    open_ = np.ones(hi.shape, dtype=bool)  # still exact so far
    sticky_at = np.full(hi.shape, len(values))  # where the first inexact addition happened
    for k in range(1, len(values)):
        y = values[k]
        s = hi + y
        err = y - (s - hi)
        hi = np.where(open_, s, hi)
        inexact = open_ & (err != 0)
        lo = np.where(inexact, err, lo)
        sticky_at = np.where(inexact, k, sticky_at)
        open_ &= ~inexact
    # below the first inexact addition, any non-zero limb pushes a tie (lo = half an ulp)
    # up; the limbs are non-negative here, so only lo > 0 needs it
    below = np.zeros(hi.shape, dtype=bool)
    for k in range(len(values) - 1, 0, -1):
        below |= (sticky_at < k) & (limbs[k] != 0)
    fix = (lo > 0) & below
    if fix.any():
        y = 2.0 * lo
        up = hi + y
        hi = np.where(fix & (up - hi == y), up, hi)
    return np.where(negative, -hi, hi)


def exact_group_sums(groups: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Correctly rounded exact sums of ``values`` per group (``math.fsum`` of each group).

    Parameters
    ----------
    groups : numpy.ndarray
        Non-negative integer group of each value.
    values : numpy.ndarray
        Finite float64 values.
    n_groups : int
        Number of groups (the length of the result).

    Returns
    -------
    numpy.ndarray
        float64 sums, 0.0 for empty groups; independent of the order of the values.

    Examples
    --------
    >>> import numpy as np
    >>> exact_group_sums(np.array([0, 0, 0, 1]), np.array([0.1, 0.2, 0.3, 5.0]), 2)
    array([0.6, 5. ])
    >>> 0.1 + 0.2 + 0.3
    0.6000000000000001
    """
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        return np.zeros(n_groups)
    # the largest group bounds the limb sums: wider limbs, usually 2 for money
    plan = _plan_for(values, int(np.bincount(groups, minlength=n_groups).max()))
    limbs = split_limbs(values, plan)
    sums = [
        np.ldexp(np.bincount(groups, weights=limb, minlength=n_groups), -p)
        for limb, p in zip(limbs, plan.positions, strict=True)
    ]
    return round_limbs(sums, plan)


def exact_segment_sums(
    values: np.ndarray, starts: np.ndarray, max_length: int, scratch: np.ndarray | None = None
) -> np.ndarray:
    """Correctly rounded exact sums of consecutive runs of ``values`` (``math.fsum`` of each).

    The sorted counterpart of :func:`exact_group_sums`: run ``k`` is
    ``values[starts[k]:starts[k + 1]]`` (the last run ends at the end), and the limbs are
    added with :func:`numpy.add.reduceat`, a sequential pass instead of scatter-adds.

    Parameters
    ----------
    values : numpy.ndarray
        Finite float64 values; overwritten (the limbs are split in place).
    starts : numpy.ndarray
        Increasing start positions of the runs, the first 0; every run non-empty.
    max_length : int
        Length of the longest run (bounds the limb sums).
    scratch : numpy.ndarray, optional
        A float64 buffer as long as ``values`` to split the limbs into (saves one
        allocation).

    Returns
    -------
    numpy.ndarray
        float64 sums, one per run.

    Examples
    --------
    >>> import numpy as np
    >>> exact_segment_sums(np.array([0.1, 0.2, 0.3, 5.0]), np.array([0, 3]), 3)
    array([0.6, 5. ])
    """
    if not len(values):
        return np.zeros(len(starts))
    plan = _plan_for(values, max_length)
    limb = np.empty_like(values) if scratch is None else scratch
    sums = []
    rest = values
    for p in plan.positions[:-1]:  # as split_limbs, in place
        if p + 52 <= _MAX_EXPONENT:
            sigma = math.ldexp(1.5, p + 52)
            np.add(rest, sigma, out=limb)
            limb -= sigma
        else:  # astronomically large amounts: truncate instead (sigma would overflow)
            np.ldexp(np.trunc(np.ldexp(rest, -p)), p, out=limb)
        rest -= limb
        sums.append(np.ldexp(np.add.reduceat(limb, starts), -p))
    sums.append(np.ldexp(np.add.reduceat(rest, starts), -plan.positions[-1]))
    return round_limbs(sums, plan)
