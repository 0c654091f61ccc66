"""``btyd_covariates``: BG/NBD and Gamma-Gamma whose parameters depend on covariates.

The covariates are engagement and sentiment measures of the customer frame
(:data:`~clvml.models.methods._btyd.DEFAULT_COVARIATES`, or ``CLVModel(covariates=...)``);
the method is skipped when the frame has none of their source columns, or when they are
constant over the customers.

**Penalty.** ``CLVModel(covariate_penalizer="auto")`` (the default) chooses the L2 penalty
by customer-fold cross-validation of the held-out log-likelihood
(:func:`clvml.models.btyd.covariate_selection.choose_penalizer`); a number fixes it. The
covariate model never ends below the plain BG/NBD it contains: when the penalised fit's
log-likelihood is below the unpenalised BG/NBD's on the same customers, it is refitted
without penalty (started at the plain optimum, so it can only gain). Each covariate group
is tested by a likelihood ratio against the fit without it (``covariate_tests_``), and
:func:`covariate_summary` reports the coefficients with their group's test.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
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

__all__ = ["BTYDCovariates", "covariate_alpha", "covariate_summary"]

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
        tx_frame = frame[["frequency", "recency", "T", *usable]]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)
                bgc, chosen, tests, cv = _fit_transactions(model, tx_frame, tx_links)
                spend, _ = spend_fit_frame(frame)
                if spend_cols:
                    ggc = GammaGammaCovariates(penalizer=chosen, covariates={"v": spend_cols}).fit(
                        spend[["frequency", "monetary_value", *spend_cols]]
                    )
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
            "covariate_penalizer_": chosen,
            "covariate_penalty_cv_": cv,
            "covariate_tests_": tests,
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


def _make(
    penalizer: float, links: Mapping[str, Sequence[str]], start: Mapping[str, float] | None
) -> Any:
    from clvml.models.btyd.beta_geo_covariates import BetaGeoCovariates

    covariates = {k: list(v) for k, v in links.items()}
    return BetaGeoCovariates(penalizer=penalizer, covariates=covariates, initial_params=start)


def _fit_transactions(
    model: Any, frame: pd.DataFrame, links: Mapping[str, Sequence[str]]
) -> tuple[Any, float, pd.DataFrame, pd.DataFrame | None]:
    """The BG/NBD-with-covariates fit, its penalty, the LR tests and the penalty CV table."""
    from clvml.models.btyd import BetaGeo
    from clvml.models.btyd.covariate_selection import choose_penalizer, likelihood_ratio_tests

    cv = None
    if model.covariate_penalizer == "auto":
        chosen, cv = choose_penalizer(_make, frame, links, random_state=model.random_state)
    else:
        chosen = float(model.covariate_penalizer)
    plain = BetaGeo().fit(frame[["frequency", "recency", "T"]])
    unpenalised = _make(0.0, links, None).fit(frame)
    fitted = unpenalised if chosen == 0.0 else _make(chosen, links, None).fit(frame)
    if fitted.log_likelihood_ < plain.log_likelihood_:
        # never worse than the nested plain model: the unpenalised fit starts there
        fitted, chosen = unpenalised, 0.0
    tests = likelihood_ratio_tests(_make, unpenalised, frame, links, plain.log_likelihood_)
    return fitted, chosen, tests, cv


def covariate_summary(model: Any) -> pd.DataFrame:
    """The covariate coefficients of a fitted ``CLVModel`` with their group's LR test.

    Parameters
    ----------
    model : CLVModel
        Fitted with the ``btyd_covariates`` method.

    Returns
    -------
    pandas.DataFrame
        One row per coefficient (``<parameter>:<covariate>``): the Wald columns of
        ``BetaGeoCovariates.summary`` (``coef``, ``se(coef)``, ``z``, ``p``, interval),
        then ``group`` (the covariate), ``lr``, ``lr_df`` and ``lr_p`` of the group's
        likelihood-ratio test (:attr:`covariate_tests_`), and the penalty used in
        ``penalizer``.
    """
    table = model.bgnbd_covariates_.summary
    table = table[table.index.str.contains(":")].copy()
    tests = model.covariate_tests_
    group = table.index.str.split(":").str[1]
    table["group"] = group
    table["lr"] = tests["lr"].reindex(group).to_numpy()
    table["lr_df"] = tests["df"].reindex(group).to_numpy()
    table["lr_p"] = tests["p"].reindex(group).to_numpy()
    table["penalizer"] = model.covariate_penalizer_
    return table
