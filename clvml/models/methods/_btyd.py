"""BTYD pieces shared by the methods: the age floor, covariates, CLV and its parts.

Used by :mod:`~clvml.models.methods.btyd`, :mod:`~clvml.models.methods.btyd_covariates`,
:mod:`~clvml.models.methods.hybrid` and the stacked features of the supervised methods.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from clvml.models.btyd import BetaGeo, GammaGamma, customer_lifetime_value
from clvml.models.methods.base import MethodOutput
from clvml.models.spend import spend_fit_frame, spend_summary

__all__ = [
    "DEFAULT_COVARIATES",
    "MIN_AGE_WEEKS",
    "RFM_INPUTS",
    "STACKED_FEATURES",
    "age_floor",
    "btyd_clv",
    "btyd_output",
    "btyd_parts",
    "check_btyd",
    "covariate_frame",
    "fit_btyd",
    "stacked_features",
]

#: Columns every method needs.
RFM_INPUTS: tuple[str, ...] = (
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "n_purchases",
    "mean_spend",
    "total_spend",
)
#: BG/NBD + Gamma-Gamma outputs stacked into the supervised models' features.
STACKED_FEATURES: tuple[str, ...] = (
    "btyd_expected_purchases",
    "btyd_p_alive",
    "btyd_p_purchase",
    "btyd_expected_spend",
    "btyd_clv",
)
#: Covariates of the BTYD-with-covariates models: source column of the customer frame,
#: transform, and the parameters it is linked to (BG/NBD: alpha = purchase rate; a, b =
#: dropout; Gamma-Gamma: v = spend scale). Missing values (no events, no texts) are 0.
DEFAULT_COVARIATES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "cov_advocacy": ("advocacy_score", "log1p", ("alpha",)),
    "cov_engagement": ("n_inbound", "log1p_per_week", ("alpha", "a", "b")),
    "cov_sentiment": ("sentiment_mean", "identity", ("a", "b")),
    "cov_complaints": ("kind_complaint_n", "log1p", ("a", "b")),
    "cov_care_resolved": ("care_resolution_share", "identity", ("a", "b")),
}
#: Youngest age (weeks) the BTYD models see: one day.
MIN_AGE_WEEKS = 1 / 7


def age_floor(features: pd.DataFrame) -> pd.DataFrame:
    """Customers first seen on the cut-off day (``T = 0``) are treated as one day old.

    The BTYD likelihoods need ``T > 0``; a customer with ``T = 0`` carries no
    information about the rates anyway (likelihood 1), and a day of age changes their
    prediction by a day's worth of purchasing.
    """
    T = features["T"].to_numpy(dtype=float)
    young = T < MIN_AGE_WEEKS
    if not young.any():
        return features
    return features.assign(T=np.where(young, MIN_AGE_WEEKS, T))


def covariate_frame(
    features: pd.DataFrame, spec: Mapping[str, tuple[str, str, Sequence[str]]]
) -> pd.DataFrame:
    """RFM columns plus the transformed covariates of ``spec`` (NaN -> 0)."""
    out = features[["frequency", "recency", "T", "monetary_value"]].copy()
    for name, (source, transform, _) in spec.items():
        raw = pd.to_numeric(features[source], errors="coerce").to_numpy(dtype=float)
        raw = np.where(np.isfinite(raw), raw, 0.0)
        if transform == "log1p":
            value = np.log1p(np.maximum(raw, 0.0))
        elif transform == "log1p_per_week":
            weeks = (
                features["tenure_weeks"].to_numpy(dtype=float)
                if "tenure_weeks" in features
                else features["T"].to_numpy(dtype=float)
            )
            weeks = np.where(np.isfinite(weeks), np.maximum(weeks, 1.0), 1.0)
            value = np.log1p(np.maximum(raw, 0.0) / weeks)
        elif transform == "identity":
            value = raw
        else:
            raise ValueError(f"unknown covariate transform {transform!r} for {name}")
        out[name] = value
    return out


def fit_btyd(features: pd.DataFrame, penalizer: float = 0.0) -> tuple[BetaGeo, GammaGamma]:
    """BG/NBD and Gamma-Gamma fitted on a customer frame (zero-spend rule applied)."""
    bg = BetaGeo(penalizer=penalizer).fit(features[["frequency", "recency", "T"]])
    spend, _ = spend_fit_frame(features[["frequency", "recency", "T", "monetary_value"]])
    gg = GammaGamma(penalizer=penalizer).fit(spend)
    return bg, gg


def check_btyd(models: Any, name: str) -> tuple[BetaGeo, GammaGamma]:
    """``models`` as a fitted (BetaGeo, GammaGamma) pair, or a ValueError naming ``name``."""
    try:
        bg, gg = models
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (BetaGeo, GammaGamma) pair, got {models!r}") from None
    if not (isinstance(bg, BetaGeo) and isinstance(gg, GammaGamma)):
        raise ValueError(
            f"{name} must be a (BetaGeo, GammaGamma) pair, got "
            f"({type(bg).__name__}, {type(gg).__name__})"
        )
    if not (hasattr(bg, "params_") and hasattr(gg, "params_")):
        raise ValueError(f"{name}: the BetaGeo and GammaGamma models must be fitted")
    return bg, gg


def _steps(horizon_weeks: float, annual_discount_rate: float) -> tuple[int, float, float]:
    """Horizon steps, step length (weeks) and the discount rate per step."""
    h = float(horizon_weeks)
    if annual_discount_rate == 0:
        return 1, h, 0.0
    steps = max(1, math.ceil(h - 1e-9))
    step = h / steps
    return steps, step, (1.0 + annual_discount_rate) ** (step / 52.0) - 1.0


def btyd_clv(
    model: Any, tx_model: Any, spend_model: Any, frame: pd.DataFrame, interval: float | None
) -> pd.DataFrame:
    """CLV (and its interval) of a transaction and a spend model, with ``model``'s settings."""
    steps, step, rate = _steps(float(model.horizon_weeks), model.annual_discount_rate)
    # customer_lifetime_value's "month" is one step here: its annual rate is 12 steps' rate
    return customer_lifetime_value(
        tx_model,
        spend_model,
        spend_summary(frame, spend_model),
        horizon=steps,
        annual_discount_rate=(1.0 + rate) ** 12 - 1.0,
        period=step,
        margin=float(model.margin),
        interval=interval,
        n_draws=int(model.n_draws or 0),
        random_state=model.random_state,
        interval_method="delta" if model.n_draws is None else "bootstrap",
    )


def btyd_parts(
    horizon_weeks: float, tx_model: Any, spend_model: Any, frame: pd.DataFrame
) -> dict[str, np.ndarray]:
    """``p_alive``, expected ``purchases`` in the horizon and expected ``spend``."""
    summary = spend_summary(frame, spend_model)
    spend = np.asarray(spend_model.expected_average_spend(summary), dtype=float)
    p_alive = np.asarray(tx_model.probability_alive(frame), dtype=float)
    purchases = np.asarray(tx_model.expected_purchases(frame, t=float(horizon_weeks)), dtype=float)
    return {"p_alive": p_alive, "purchases": purchases, "spend": spend}


def btyd_output(
    clv: pd.DataFrame, parts: dict[str, np.ndarray], if_alive: np.ndarray, interval: bool
) -> MethodOutput:
    """The :class:`MethodOutput` of a BTYD pair: CLV (with its interval when asked for),
    P(alive), churn = 1 - P(alive) * P(purchase in the horizon | alive), the two parts."""
    nan = np.full(len(parts["p_alive"]), np.nan)
    return MethodOutput(
        clv=clv["clv"].to_numpy(),
        clv_lower=clv["clv_lower"].to_numpy() if interval else nan,
        clv_upper=clv["clv_upper"].to_numpy() if interval else nan,
        p_alive=parts["p_alive"],
        churn_probability=1.0 - parts["p_alive"] * if_alive,
        expected_purchases=parts["purchases"],
        expected_spend=parts["spend"],
    )


def stacked_features(
    horizon_weeks: float, bg: BetaGeo, gg: GammaGamma, frame: pd.DataFrame
) -> pd.DataFrame:
    """The :data:`STACKED_FEATURES` of ``frame``'s customers under ``bg`` and ``gg``."""
    from clvml.models.hybrid import bgnbd_probability_purchase_if_alive

    h = float(horizon_weeks)
    parts = btyd_parts(h, bg, gg, frame)
    if_alive = bgnbd_probability_purchase_if_alive(
        bg.params_["r"],
        bg.params_["alpha"],
        frame["frequency"].to_numpy(dtype=float),
        frame["T"].to_numpy(dtype=float),
        h,
    )
    return pd.DataFrame(
        {
            "btyd_expected_purchases": parts["purchases"],
            "btyd_p_alive": parts["p_alive"],
            "btyd_p_purchase": parts["p_alive"] * if_alive,
            "btyd_expected_spend": parts["spend"],
            "btyd_clv": parts["purchases"] * parts["spend"],
        },
        index=frame.index,
    )
