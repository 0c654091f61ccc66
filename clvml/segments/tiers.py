"""Value tiers: customers ranked by predicted CLV and cut into top 1%, top 10%, next 40%, rest."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from clvml.segments._validation import rank_bins, rank_order, validate_predictions
from clvml.segments.names import DEFAULT_TIER_CUTS, DEFAULT_TIER_LABELS, check_labels, tier_series

__all__ = ["DEFAULT_TIER_CUTS", "DEFAULT_TIER_LABELS", "value_tiers"]


def value_tiers(
    predictions: pd.DataFrame,
    *,
    cuts: Sequence[float] = DEFAULT_TIER_CUTS,
    labels: Sequence[str] = DEFAULT_TIER_LABELS,
    value_col: str = "clv",
) -> pd.Series:
    """Assign each customer a value tier by rank of predicted CLV among ``predictions``.

    This ranks the customers it is given among themselves (a what-if on a
    population). The tiers of scored customers are the fitted thresholds of
    :class:`clvml.segments.SegmentScheme`, stored with the model.

    Customers are ranked by descending ``value_col``; ties are broken by
    ascending ``customer_id``, so the result never depends on row order. With
    ``n`` customers and cumulative cut points :math:`c_1 < c_2 < \\dots`, tier
    ``j`` holds rank positions from :math:`\\lceil c_{j-1} n \\rceil` up to
    :math:`\\lceil c_j n \\rceil` (exclusive); the last tier takes the rest. The
    ceiling keeps the first tier non-empty, so the top 1% always contains the
    customer with the highest CLV. With the defaults the tiers are the top 1%,
    the rest of the top 10% (labelled ``"top 10%"``), the next 40% and the
    remaining half; small populations can leave a middle tier empty.

    Parameters
    ----------
    predictions : pandas.DataFrame
        Per-customer predictions with ``customer_id`` and ``value_col``.
    cuts : sequence of float, default (0.01, 0.10, 0.50)
        Increasing cumulative shares in (0, 1].
    labels : sequence of str, default ("top 1%", "top 10%", "next 40%", "rest")
        One label per tier, best first: ``len(cuts) + 1`` distinct labels.
    value_col : str, default "clv"
        Column to rank by.

    Returns
    -------
    pandas.Series
        Ordered categorical (best tier first) named ``value_tier``, indexed by
        ``customer_id`` in the input row order.

    Examples
    --------
    >>> import pandas as pd
    >>> preds = pd.DataFrame({"customer_id": list("abcdefghij"), "clv": range(10)})
    >>> tiers = value_tiers(preds, cuts=(0.1, 0.5), labels=("top", "middle", "bottom"))
    >>> tiers.value_counts(sort=False)
    value_tier
    top       1
    middle    4
    bottom    5
    Name: count, dtype: int64
    """
    labels = check_labels(cuts, labels)
    df = validate_predictions(predictions, value_col=value_col, require_risk=False)
    ids = df["customer_id"].to_numpy(dtype=str)
    position = rank_order(ids, df[value_col].to_numpy())
    return tier_series(rank_bins(position, cuts), pd.Index(ids, name="customer_id"), labels)
