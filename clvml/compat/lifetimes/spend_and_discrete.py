"""lifetimes' Gamma-Gamma and BG/BB fitters over clvml's estimators.

:class:`GammaGammaFitter` wraps :class:`clvml.models.btyd.GammaGamma`;
:class:`BetaGeoBetaBinomFitter` wraps :class:`clvml.models.btyd.BetaGeoBetaBinom`.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from clvml.compat.lifetimes._base import BaseFitter, as_output, broadcast_inputs
from clvml.compat.lifetimes.generate_data import beta_geometric_beta_binom_model
from clvml.compat.lifetimes.utils import _customer_lifetime_value
from clvml.models.btyd import BetaGeoBetaBinom, GammaGamma
from clvml.models.btyd.likelihoods import gamma_gamma_loglik

__all__ = ["BetaGeoBetaBinomFitter", "GammaGammaFitter"]


def _start(names: tuple[str, ...], initial_params: Any) -> dict[str, float] | None:
    """lifetimes' ``initial_params`` (log-parameters) as clvml's starting values."""
    if initial_params is None:
        return None
    return dict(zip(names, np.exp(np.asarray(initial_params, dtype=float)), strict=True))


class GammaGammaFitter(BaseFitter):
    """Gamma-Gamma spend model (``lifetimes.GammaGammaFitter``) on clvml's ``GammaGamma``."""

    _param_order = ("p", "q", "v")

    def fit(
        self,
        frequency: Any,
        monetary_value: Any,
        weights: Any = None,
        initial_params: Any = None,
        verbose: bool = False,
        tol: float = 1e-7,
        index: Any = None,
        q_constraint: bool = False,
        **kwargs: Any,
    ) -> GammaGammaFitter:
        """Fit on customers with repeat purchases (as lifetimes: pass only those).

        ``q_constraint=True`` asks for ``q > 1`` (a finite population mean spend); clvml's
        fit is unconstrained, so it is checked instead and a fit with ``q <= 1`` raises.
        """
        frequency = np.asarray(frequency, dtype=float)
        monetary_value = np.asarray(monetary_value, dtype=float)
        w = np.ones(frequency.shape, dtype=np.int64) if weights is None else np.asarray(weights)
        frame = pd.DataFrame({"frequency": frequency, "monetary_value": monetary_value})
        model = GammaGamma(
            penalizer=self.penalizer_coef, initial_params=_start(self._param_order, initial_params)
        )
        model.fit(frame, weights=np.asarray(w, dtype=float))
        self.params_ = pd.Series(model.params_)[list(self._param_order)]
        if q_constraint and self.params_["q"] <= 1:
            raise ValueError(f"the fitted q = {self.params_['q']:.4g} is <= 1 (q_constraint)")
        self._negative_log_likelihood_ = self._negative_log_likelihood(
            np.log(self.params_.to_numpy()), frequency, monetary_value, w, self.penalizer_coef
        )
        self.data = pd.DataFrame(
            {"monetary_value": monetary_value, "frequency": frequency, "weights": w}, index=index
        )
        self._set_uncertainty(model)
        return self

    @staticmethod
    def _negative_log_likelihood(
        log_params: Any,
        frequency: Any,
        avg_monetary_value: Any,
        weights: Any,
        penalizer_coef: float,
    ) -> float:
        """Weighted mean negative log-likelihood at ``exp(log_params)`` plus the L2 penalty."""
        params = np.exp(np.asarray(log_params, dtype=float))
        ll = gamma_gamma_loglik(params, frequency, avg_monetary_value)
        w = np.asarray(weights, dtype=float)
        return float(-(w * ll).sum() / w.sum() + penalizer_coef * np.sum(params**2))

    def conditional_expected_average_profit(
        self, frequency: Any = None, monetary_value: Any = None
    ) -> Any:
        """Expected spend per future transaction (the fit's data by default)."""
        frequency = self.data["frequency"] if frequency is None else frequency
        monetary_value = self.data["monetary_value"] if monetary_value is None else monetary_value
        (f, m), shape, index = broadcast_inputs(frequency, monetary_value)
        frame = pd.DataFrame({"frequency": f, "monetary_value": m})
        values = self._core(GammaGamma).expected_average_spend(frame.to_numpy())
        return as_output(values, shape, index)

    def customer_lifetime_value(
        self,
        transaction_prediction_model: Any,
        frequency: Any,
        recency: Any,
        T: Any,
        monetary_value: Any,
        time: int = 12,
        discount_rate: float = 0.01,
        freq: str = "D",
    ) -> pd.Series:
        """Discounted value over ``time`` months with the expected spend per purchase."""
        frequency, recency, T = np.asarray(frequency), np.asarray(recency), np.asarray(T)
        spend = self.conditional_expected_average_profit(frequency, np.asarray(monetary_value))
        return _customer_lifetime_value(
            transaction_prediction_model, frequency, recency, T, spend, time, discount_rate, freq
        )


class BetaGeoBetaBinomFitter(BaseFitter):
    """BG/BB for discrete opportunities (``lifetimes.BetaGeoBetaBinomFitter``)."""

    _param_order = ("alpha", "beta", "gamma", "delta")

    def fit(
        self,
        frequency: Any,
        recency: Any,
        n_periods: Any,
        weights: Any = None,
        initial_params: Any = None,
        verbose: bool = False,
        tol: float = 1e-7,
        index: Any = None,
        **kwargs: Any,
    ) -> BetaGeoBetaBinomFitter:
        """Fit on (frequency, recency, n_periods) rows, usually compressed with ``weights``."""
        f = np.asarray(frequency).astype(int)
        r = np.asarray(recency).astype(int)
        n = np.asarray(n_periods).astype(int)
        w = np.ones(r.shape, dtype=np.int64) if weights is None else np.asarray(weights)
        frame = pd.DataFrame({"frequency": f, "recency": r, "n_periods": n})
        model = BetaGeoBetaBinom(
            penalizer=self.penalizer_coef, initial_params=_start(self._param_order, initial_params)
        )
        model.fit(frame, weights=np.asarray(w, dtype=float))
        self.params_ = pd.Series(model.params_)[list(self._param_order)]
        self.data = pd.DataFrame(
            {"frequency": f, "recency": r, "n_periods": n, "weights": w}, index=index
        )
        self.generate_new_data = partial(
            beta_geometric_beta_binom_model, np.repeat(n, w.astype(int)), *self.params_.to_numpy()
        )
        self._set_uncertainty(model)
        return self

    def _frame(self, frequency: Any, recency: Any, n_periods: Any) -> tuple[Any, ...]:
        (f, r, n), shape, index = broadcast_inputs(frequency, recency, n_periods)
        return np.column_stack([f, r, n]), shape, index

    def conditional_expected_number_of_purchases_up_to_time(
        self, m_periods_in_future: int, frequency: Any, recency: Any, n_periods: Any
    ) -> Any:
        """Expected transactions in the next ``m_periods_in_future`` opportunities."""
        rows, shape, index = self._frame(frequency, recency, n_periods)
        values = self._core(BetaGeoBetaBinom).expected_purchases(rows, m_periods_in_future)
        return as_output(values, shape, index)

    def conditional_probability_alive(
        self, m_periods_in_future: int, frequency: Any, recency: Any, n_periods: Any
    ) -> Any:
        """P(alive at opportunity ``n_periods + m_periods_in_future``)."""
        rows, shape, index = self._frame(frequency, recency, n_periods)
        model = self._core(BetaGeoBetaBinom)
        values = model.probability_alive(rows, future_periods=m_periods_in_future)
        return as_output(values, shape, index)

    def expected_number_of_transactions_in_first_n_periods(self, n: int) -> pd.DataFrame:
        """Customers expected to make each observed number of transactions in ``n`` periods."""
        counts = self.data.groupby("frequency")["weights"].sum()
        x = counts.index.to_numpy(dtype=float)
        p = self._core(BetaGeoBetaBinom).probability_of_purchases(x, float(n))
        return pd.DataFrame(
            {"model": np.asarray(p) * counts.sum()}, index=pd.Index(counts.index, name="frequency")
        )
