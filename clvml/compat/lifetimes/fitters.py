"""lifetimes' purchase-count fitters (BG/NBD, MBG/NBD, Pareto/NBD) over clvml's estimators.

Every prediction evaluates a clvml estimator (:class:`clvml.models.btyd.BetaGeo`,
:class:`~clvml.models.btyd.ModifiedBetaGeo`, :class:`~clvml.models.btyd.ParetoNBD`) built
from ``params_``; the fit is the clvml estimator's fit. The arguments broadcast as numpy
arrays do (one horizon per customer included), and a pandas Series in, a Series out.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from clvml.compat.lifetimes._base import BaseFitter, as_output, broadcast_inputs
from clvml.compat.lifetimes.generate_data import (
    beta_geometric_nbd_model,
    modified_beta_geometric_nbd_model,
    pareto_nbd_model,
)
from clvml.models.btyd import BetaGeo, ModifiedBetaGeo, ParetoNBD
from clvml.models.btyd.likelihoods import bgnbd_loglik, mbgnbd_loglik
from clvml.models.btyd.pareto_nbd_conditional import (
    pareto_nbd_conditional_probability_of_purchases,
)
from clvml.models.btyd.pareto_nbd_integral import pareto_nbd_log_integral
from clvml.models.btyd.pareto_nbd_math import pareto_nbd_loglik

__all__ = ["BetaGeoFitter", "ModifiedBetaGeoFitter", "ParetoNBDFitter"]


def _frame(frequency: Any, recency: Any, T: Any) -> pd.DataFrame:
    (f, r, t), _, _ = broadcast_inputs(frequency, recency, T)
    return pd.DataFrame({"frequency": f, "recency": r, "T": t})


class _TransactionFitter(BaseFitter):
    _core_class: ClassVar[Any]
    _simulator: ClassVar[Any]
    _negative_log_likelihood: ClassVar[Callable[..., float]]
    #: lifetimes' ``initial_params`` are log-parameters (True) or parameters (Pareto/NBD)
    _log_initial: ClassVar[bool] = True

    def fit(
        self,
        frequency: Any,
        recency: Any,
        T: Any,
        weights: Any = None,
        initial_params: Any = None,
        verbose: bool = False,
        tol: float = 1e-7,
        index: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Fit by maximum (penalised) likelihood with clvml's optimiser.

        ``verbose``, ``tol`` and optimiser options in ``kwargs`` (lifetimes passes them
        to scipy) are accepted and not used: clvml's optimiser has its own convergence
        checks. ``initial_params`` are read as lifetimes reads them (on time scaled so
        that max(T) = 1). Rows with ``T = 0`` are accepted and add nothing to the fit.
        """
        frequency = np.asarray(frequency).astype(int)
        frame = _frame(frequency, recency, T)
        w = np.ones(len(frame), dtype=np.int64) if weights is None else np.asarray(weights)
        self._scale = _scale(frame["T"].to_numpy())
        model = self._core_class(
            penalizer=self.penalizer_coef, initial_params=self._start(initial_params)
        )
        model.fit(frame, weights=np.asarray(w, dtype=float))
        self.params_ = pd.Series(model.params_)[list(self._param_order)]
        self._negative_log_likelihood_ = self._negative_log_likelihood(
            self._optimiser_point(),
            frame["frequency"].to_numpy(),
            frame["recency"].to_numpy() * self._scale,
            frame["T"].to_numpy() * self._scale,
            np.asarray(w, dtype=float),
            self.penalizer_coef,
        )
        self.data = pd.DataFrame(
            {
                "frequency": frequency.ravel(),
                "recency": np.asarray(recency).ravel(),
                "T": np.asarray(T).ravel(),
                "weights": np.asarray(w).ravel(),
            },
            index=index,
        )
        self.generate_new_data = partial(
            type(self)._simulator, self.data["T"].to_numpy(), *self.params_.to_numpy()
        )
        self.predict = self.conditional_expected_number_of_purchases_up_to_time
        self._set_uncertainty(model)
        return self

    def _start(self, initial_params: Any) -> dict[str, float] | None:
        if initial_params is None:
            return None
        p = np.asarray(initial_params, dtype=float)
        p = np.exp(p) if self._log_initial else p
        start = dict(zip(self._param_order, p, strict=True))
        for name in self._core_class._scaled_params:  # lifetimes' start is on scaled time
            start[name] = start[name] / self._scale
        return start

    def _optimiser_point(self) -> np.ndarray:
        """The fitted parameters as lifetimes' optimiser sees them (scaled time)."""
        p = self.params_.copy()
        for name in self._core_class._scaled_params:
            p[name] = p[name] * self._scale
        return np.log(p.to_numpy()) if self._log_initial else p.to_numpy()

    # ---------------------------------------------------------------- predictions
    def _model(self) -> Any:
        return self._core(self._core_class)

    def conditional_expected_number_of_purchases_up_to_time(
        self, t: Any, frequency: Any, recency: Any, T: Any
    ) -> Any:
        """Expected purchases in the next ``t`` periods given each history (arrays broadcast)."""
        (t_, f, r, T_), shape, index = broadcast_inputs(t, frequency, recency, T)
        frame = pd.DataFrame({"frequency": f, "recency": r, "T": T_})
        horizon = t_ if np.unique(t_).size > 1 else float(t_[0])
        values = self._model().expected_purchases(frame.to_numpy(), horizon)
        return as_output(values, shape, index)

    def conditional_probability_alive(self, frequency: Any, recency: Any, T: Any) -> Any:
        """P(alive at T | frequency, recency, T); grid rows are answered by the formulas."""
        (f, r, T_), shape, index = broadcast_inputs(frequency, recency, T)
        values = self._model().probability_alive(np.column_stack([f, r, T_]))
        return as_output(values, shape, index)

    def conditional_probability_alive_matrix(
        self, max_frequency: int | None = None, max_recency: int | None = None
    ) -> np.ndarray:
        """P(alive) of a customer of age ``max_recency``, rows recency, columns frequency."""
        max_frequency = max_frequency or int(self.data["frequency"].max())
        max_recency = max_recency or int(self.data["T"].max())
        rec, freq = np.meshgrid(
            np.arange(max_recency + 1.0), np.arange(max_frequency + 1.0), indexing="ij"
        )
        values = self.conditional_probability_alive(freq.ravel(), rec.ravel(), max_recency)
        return np.asarray(values).reshape(rec.shape)

    def expected_number_of_purchases_up_to_time(self, t: Any) -> Any:
        """Expected repeat purchases of a new customer in ``(0, t]`` (``t`` may be an array)."""
        (t_,), shape, index = broadcast_inputs(np.asarray(list(t)) if isinstance(t, range) else t)
        return as_output(self._model().expected_purchases_new_customer(t_), shape, index)

    def probability_of_n_purchases_up_to_time(self, t: Any, n: Any) -> Any:
        """P(X(t) = n): ``n`` repeat purchases by a new customer in ``(0, t]``."""
        (t_, n_), shape, index = broadcast_inputs(t, n)
        return as_output(self._model().probability_of_purchases(n_, t_), shape, index)


def _scale(T: np.ndarray) -> float:
    return float(1.0 / np.max(T))


def _mean_nll(ll: np.ndarray, weights: Any, params: np.ndarray, penalizer: float) -> float:
    w = np.asarray(weights, dtype=float)
    return float(-(w * ll).sum() / w.sum() + penalizer * np.sum(params**2))


class BetaGeoFitter(_TransactionFitter):
    """BG/NBD (``lifetimes.BetaGeoFitter``) on :class:`clvml.models.btyd.BetaGeo`."""

    _param_order = ("r", "alpha", "a", "b")
    _core_class = BetaGeo
    _simulator = staticmethod(beta_geometric_nbd_model)

    @staticmethod
    def _negative_log_likelihood(
        log_params: Any, freq: Any, rec: Any, T: Any, weights: Any, penalizer_coef: float
    ) -> float:
        """Weighted mean negative log-likelihood at ``exp(log_params)`` plus the L2 penalty."""
        params = np.exp(np.asarray(log_params, dtype=float))
        return _mean_nll(bgnbd_loglik(params, freq, rec, T), weights, params, penalizer_coef)


class ModifiedBetaGeoFitter(_TransactionFitter):
    """MBG/NBD (``lifetimes.ModifiedBetaGeoFitter``) on clvml's ``ModifiedBetaGeo``."""

    _param_order = ("r", "alpha", "a", "b")
    _core_class = ModifiedBetaGeo
    _simulator = staticmethod(modified_beta_geometric_nbd_model)

    @staticmethod
    def _negative_log_likelihood(
        log_params: Any, freq: Any, rec: Any, T: Any, weights: Any, penalizer_coef: float
    ) -> float:
        """Weighted mean negative log-likelihood at ``exp(log_params)`` plus the L2 penalty."""
        params = np.exp(np.asarray(log_params, dtype=float))
        return _mean_nll(mbgnbd_loglik(params, freq, rec, T), weights, params, penalizer_coef)


class ParetoNBDFitter(_TransactionFitter):
    """Pareto/NBD (``lifetimes.ParetoNBDFitter``) on :class:`clvml.models.btyd.ParetoNBD`."""

    _param_order = ("r", "alpha", "s", "beta")
    _core_class = ParetoNBD
    _simulator = staticmethod(pareto_nbd_model)
    _log_initial = False

    def fit(  # type: ignore[override]
        self,
        frequency: Any,
        recency: Any,
        T: Any,
        weights: Any = None,
        iterative_fitting: int = 1,
        initial_params: Any = None,
        verbose: bool = False,
        tol: float = 1e-4,
        index: Any = None,
        fit_method: str = "Nelder-Mead",
        maxiter: int = 2000,
        **kwargs: Any,
    ) -> ParetoNBDFitter:
        """As lifetimes; ``iterative_fitting``, ``fit_method`` and ``maxiter`` are accepted
        and not needed (clvml's optimiser starts once, from a fixed point)."""
        if iterative_fitting <= 0:
            raise ValueError("iterative_fitting must be greater than 0")
        super().fit(frequency, recency, T, weights, initial_params, verbose, tol, index)
        return self

    @staticmethod
    def _log_A_0(params: Any, freq: Any, recency: Any, age: Any) -> np.ndarray:
        r"""log of :math:`(r+s+x)\int_{t_x}^{T}(\alpha+\tau)^{-(r+x)}(\beta+\tau)^{-(s+1)}d\tau`.

        lifetimes' :math:`A_0` of Fader & Hardie's note 009 (eq. 19-20)."""
        r, _, s, _ = (float(v) for v in params)
        log_i = pareto_nbd_log_integral(params, freq, recency, age)
        return np.asarray(log_i + np.log(r + s + np.asarray(freq, dtype=float)))

    @staticmethod
    def _negative_log_likelihood(
        params: Any, freq: Any, rec: Any, T: Any, weights: Any, penalizer_coef: float
    ) -> float:
        """lifetimes' Pareto/NBD objective: ``-sum(w ll) / mean(w)`` plus the L2 penalty."""
        p = np.asarray(params, dtype=float)
        if np.any(p <= 0):
            return float(np.inf)
        w = np.asarray(weights, dtype=float)
        ll = pareto_nbd_loglik(p, freq, rec, T)
        return float(-(w * ll).sum() / w.mean() + penalizer_coef * np.sum(p**2))

    def conditional_probability_of_n_purchases_up_to_time(
        self, n: Any, t: Any, frequency: Any, recency: Any, T: Any
    ) -> Any:
        """P(``n`` purchases in the next ``t`` periods | history) (see
        :mod:`clvml.models.btyd.pareto_nbd_conditional`)."""
        (n_, t_, f, r, T_), shape, index = broadcast_inputs(n, t, frequency, recency, T)
        params = self._model()._params_array()
        values = pareto_nbd_conditional_probability_of_purchases(params, n_, t_, f, r, T_)
        return as_output(values, shape, index)
