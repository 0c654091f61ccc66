"""``btyd_covariates``: BG/NBD and Gamma-Gamma whose parameters depend on covariates.

The covariates are engagement and sentiment measures of the customer frame
(:data:`~clvml.models.methods._btyd.DEFAULT_COVARIATES`, or ``CLVModel(covariates=...)``);
the method is skipped when the frame has none of their source columns, or when they are
constant over the customers.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from clvml.exceptions import ClvmlError
from clvml.models.hybrid import bgnbd_probability_purchase_if_alive
from clvml.models.methods._btyd import (
    DEFAULT_COVARIATES,
    btyd_clv,
    btyd_output,
    btyd_parts,
    covariate_frame,
)
from clvml.models.methods.base import CLVMethod, FitData, MethodOutput, PredictData, SkipMethod
from clvml.models.spend import spend_fit_frame

__all__ = ["BTYDCovariates", "covariate_alpha"]

_SPEND_LINKS = frozenset({"v"})


def covariate_alpha(tx: Any, cov: pd.DataFrame) -> np.ndarray:
    """alpha_i = alpha0 * exp(-gamma_alpha . x_i) of a fitted BetaGeoCovariates."""
    log_alpha = np.full(len(cov), np.log(tx.params_["alpha0"]))
    for key, value in tx.params_.items():
        if key.startswith("alpha:"):
            log_alpha -= value * cov[key.split(":", 1)[1]].to_numpy(dtype=float)
    return np.exp(log_alpha)


class BTYDCovariates(CLVMethod):
    """BG/NBD + Gamma-Gamma with engagement and sentiment covariates."""

    name = "btyd_covariates"
    default = True
    fallback_rank = 5

    def columns(self, model: Any, features: pd.DataFrame) -> set[str]:
        spec = getattr(model, "covariate_spec_", {})
        cols = {src for src, _, _ in spec.values()}
        if spec and "tenure_weeks" in features.columns:
            cols.add("tenure_weeks")
        return cols

    def fit(self, model: Any, data: FitData) -> dict[str, Any]:
        features = data.features
        spec = dict(model.covariates if model.covariates is not None else DEFAULT_COVARIATES)
        usable = {k: v for k, v in spec.items() if v[0] in features.columns}
        if not usable:
            raise SkipMethod(
                "no engagement columns in the features (BTYD with covariates needs them)"
            )
        from clvml.models.btyd.beta_geo_covariates import BetaGeoCovariates
        from clvml.models.btyd.gamma_gamma_covariates import GammaGammaCovariates

        frame = covariate_frame(features, usable)
        # drop covariates constant over the customers (no information, singular fit)
        usable = {k: v for k, v in usable.items() if np.ptp(frame[k].to_numpy()) > 0}
        if not usable:
            raise SkipMethod("the engagement covariates are constant over the customers")
        tx_links: dict[str, list[str]] = {}
        spend_cols: list[str] = []
        for name, (_, _, links) in usable.items():
            for link in links:
                if link in _SPEND_LINKS:
                    spend_cols.append(name)
                else:
                    tx_links.setdefault(link, []).append(name)
        frame = frame[["frequency", "recency", "T", "monetary_value", *usable]]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)
                bgc = BetaGeoCovariates(penalizer=model.covariate_penalizer, covariates=tx_links)
                bgc.fit(frame[["frequency", "recency", "T", *usable]])
                spend, _ = spend_fit_frame(frame)
                if spend_cols:
                    ggc = GammaGammaCovariates(
                        penalizer=model.covariate_penalizer, covariates={"v": spend_cols}
                    ).fit(spend[["frequency", "monetary_value", *spend_cols]])
                else:
                    ggc = model.gamma_gamma_
        except (ClvmlError, ValueError, RuntimeWarning) as exc:
            raise SkipMethod(f"BTYD with covariates failed to fit: {exc}") from exc
        cov_spec: dict[str, tuple[str, str, tuple[str, ...]]] = {
            k: (v[0], v[1], tuple(v[2])) for k, v in usable.items()
        }
        return {
            "bgnbd_covariates_": bgc,
            "gamma_gamma_covariates_": ggc,
            "covariate_spec_": cov_spec,
            "covariate_params_": {**bgc.params_, **ggc.params_},
        }

    def predict(self, model: Any, data: PredictData) -> MethodOutput:
        features, h = data.features, float(model.horizon_weeks)
        spec: dict[str, tuple[str, str, Sequence[str]]] = model.covariate_spec_
        frame = covariate_frame(features, spec)
        bgc, ggc = model.bgnbd_covariates_, model.gamma_gamma_covariates_
        clv = btyd_clv(model, bgc, ggc, frame, data.interval)
        parts = btyd_parts(h, bgc, ggc, frame)
        x, T = features["frequency"].to_numpy(dtype=float), features["T"].to_numpy(dtype=float)
        alpha_i = covariate_alpha(bgc, frame)
        if_alive = bgnbd_probability_purchase_if_alive(bgc.params_["r"], alpha_i, x, T, h)
        return btyd_output(clv, parts, if_alive, data.interval is not None)
