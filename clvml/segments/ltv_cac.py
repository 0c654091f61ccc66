"""LTV:CAC by acquisition channel, with the 3:1 rule of thumb."""

from __future__ import annotations

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError
from clvml.models.closed_form.formula import HEALTHY_LTV_CAC, ltv_cac_ratio
from clvml.segments._validation import validate_predictions

__all__ = ["ltv_cac_by_channel"]


def ltv_cac_by_channel(
    predictions: pd.DataFrame,
    *,
    channel_col: str = "acquisition_channel",
    cost_col: str = "acquisition_cost",
    value_col: str = "clv",
    healthy_ratio: float = HEALTHY_LTV_CAC,
) -> pd.DataFrame:
    """LTV:CAC per acquisition channel and whether it meets the 3:1 rule.

    The channel ratio is total predicted value over total acquisition cost,
    :math:`\\sum_i \\mathrm{LTV}_i / \\sum_i \\mathrm{CAC}_i` (equal to the ratio of
    the means), so large channels are not swamped by a few extreme customers.
    ``value_col`` must be a value *before* acquisition cost (e.g. the BTYD
    CLV, or ``ltv`` of :func:`clvml.models.closed_form.closed_form_clv`).

    Parameters
    ----------
    predictions : pandas.DataFrame
        Per-customer rows with ``customer_id``, ``value_col``, ``channel_col``
        and ``cost_col`` (>= 0).
    channel_col, cost_col, value_col : str
        Column names.
    healthy_ratio : float, default 3
        Ratio at or above which a channel is healthy.

    Returns
    -------
    pandas.DataFrame
        Indexed by channel (sorted by ratio, best first): ``n_customers``,
        ``ltv_total``, ``ltv_mean``, ``cac_total``, ``cac_mean``, ``ltv_cac``
        (``inf`` for a channel with no cost and positive value),
        ``healthy`` and ``verdict`` (e.g. ``"healthy (>= 3:1)"``).

    Examples
    --------
    >>> import pandas as pd
    >>> preds = pd.DataFrame({"customer_id": ["a", "b", "c"], "clv": [300.0, 100.0, 50.0],
    ...                       "acquisition_channel": ["social", "social", "search"],
    ...                       "acquisition_cost": [50.0, 50.0, 25.0]})
    >>> ltv_cac_by_channel(preds)[["ltv_cac", "healthy"]]  # doctest: +NORMALIZE_WHITESPACE
                         ltv_cac  healthy
    acquisition_channel
    social                   4.0     True
    search                   2.0    False
    """
    df = validate_predictions(
        predictions, value_col=value_col, require_risk=False, numeric=[cost_col]
    )
    if channel_col not in df.columns:
        raise DataValidationError(
            f"missing column; predictions have {list(df.columns)}", column=channel_col
        )
    missing = df[channel_col].isna()
    if missing.any():
        raise DataValidationError(
            "missing acquisition channel", column=channel_col, n_rows=int(missing.sum())
        )
    if (df[cost_col] < 0).any():
        neg = df[cost_col] < 0
        raise DataValidationError(
            "acquisition cost must be >= 0",
            column=cost_col,
            n_rows=int(neg.sum()),
            example=float(df.loc[neg, cost_col].iloc[0]),
        )
    g = df.groupby(channel_col, sort=True)
    out = pd.DataFrame(
        {
            "n_customers": g.size(),
            "ltv_total": g[value_col].sum(),
            "ltv_mean": g[value_col].mean(),
            "cac_total": g[cost_col].sum(),
            "cac_mean": g[cost_col].mean(),
        }
    )
    ratio, healthy = ltv_cac_ratio(
        out["ltv_total"].to_numpy(), out["cac_total"].to_numpy(), healthy_ratio=healthy_ratio
    )
    out["ltv_cac"] = ratio
    out["healthy"] = healthy
    rule = f"{healthy_ratio:g}:1"
    out["verdict"] = np.where(
        healthy,
        f"healthy (>= {rule})",
        np.where(np.isnan(ratio), "undefined (no value, no cost)", f"below {rule}"),
    )
    order = np.lexsort((out.index.astype(str), -np.nan_to_num(ratio, nan=-np.inf)))
    return out.iloc[order]
