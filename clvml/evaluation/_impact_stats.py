r"""Confidence intervals used by the social-care impact report (private).

* A proportion :math:`\hat p = k / n`: the Wilson score interval
  (Wilson 1927), which stays inside [0, 1] and keeps its coverage for small
  :math:`n` and extreme :math:`p`, unlike the Wald interval.
* A difference of two independent proportions: Newcombe's hybrid score
  interval (Newcombe 1998, method 10), built from the two Wilson intervals:

  .. math::

      \hat d - \sqrt{(\hat p_1 - l_1)^2 + (u_2 - \hat p_2)^2}, \quad
      \hat d + \sqrt{(u_1 - \hat p_1)^2 + (\hat p_2 - l_2)^2}.

* A mean: the Student-t interval :math:`\bar x \pm t_{n-1} s / \sqrt n`
  (central limit theorem; revenue is skewed, so it needs a few hundred
  customers per group to be trusted).
* A difference of two independent means: Welch's interval with the
  Welch-Satterthwaite degrees of freedom.

References
----------
Wilson, E. B. (1927). Probable inference, the law of succession, and
statistical inference. JASA 22(158), 209-212.
Newcombe, R. G. (1998). Interval estimation for the difference between
independent proportions: comparison of eleven methods. Statistics in
Medicine 17(8), 873-890.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["mean_ci", "newcombe_diff", "welch_diff", "wilson"]

_NAN3 = (float("nan"), float("nan"), float("nan"))


def _z(confidence: float) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2.0))


def wilson(k: float, n: float, confidence: float = 0.95) -> tuple[float, float, float]:
    """``(p, low, high)`` for ``k`` successes out of ``n`` (NaN when ``n == 0``).

    Examples
    --------
    >>> [round(v, 4) for v in wilson(8, 10)]
    [0.8, 0.4902, 0.9433]
    """
    if n <= 0:
        return _NAN3
    z = _z(confidence)
    p = k / n
    den = 1.0 + z * z / n
    centre = (p + z * z / (2.0 * n)) / den
    half = z * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / den
    return float(p), float(max(0.0, centre - half)), float(min(1.0, centre + half))


def newcombe_diff(
    k1: float, n1: float, k2: float, n2: float, confidence: float = 0.95
) -> tuple[float, float, float]:
    """``(p1 - p2, low, high)`` by Newcombe's hybrid score method (NaN if a group is empty).

    Examples
    --------
    >>> [round(v, 4) for v in newcombe_diff(56, 70, 48, 80)]
    [0.2, 0.0524, 0.3339]
    """
    if n1 <= 0 or n2 <= 0:
        return _NAN3
    p1, l1, u1 = wilson(k1, n1, confidence)
    p2, l2, u2 = wilson(k2, n2, confidence)
    d = p1 - p2
    low = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return float(d), float(low), float(high)


def mean_ci(x: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)``: Student-t interval (NaN bounds with fewer than two values)."""
    x = np.asarray(x, dtype=float)
    n = x.size
    if n == 0:
        return _NAN3
    m = float(x.mean())
    if n < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + confidence / 2.0, n - 1)) * float(x.std(ddof=1)) / np.sqrt(n)
    return m, m - half, m + half


def welch_diff(
    x1: np.ndarray, x2: np.ndarray, confidence: float = 0.95
) -> tuple[float, float, float]:
    """``(mean(x1) - mean(x2), low, high)``: Welch's interval (NaN bounds if a group has < 2).

    Examples
    --------
    >>> d, lo, hi = welch_diff([1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 2.0])
    >>> round(d, 3), round(lo, 3), round(hi, 3)
    (1.5, -0.732, 3.732)
    """
    a = np.asarray(x1, dtype=float)
    b = np.asarray(x2, dtype=float)
    if a.size == 0 or b.size == 0:
        return _NAN3
    d = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        return d, float("nan"), float("nan")
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se2 = va + vb
    if se2 == 0.0:
        return d, d, d
    df = se2**2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2.0, df)) * float(np.sqrt(se2))
    return d, d - half, d + half
