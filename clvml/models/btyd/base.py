"""Shared machinery of the BTYD models: declare the math, inherit the machinery.

A model is a small subclass of :class:`BTYDModel`. It declares its parameters, the
summary columns its likelihood takes, how time (or money) is rescaled during the
fit, an initial point and a pure per-row log-likelihood (with its analytic gradient
when available). The base class does everything else: input handling and
validation, compression of identical rows into weights, optimisation in
log-parameter space, convergence checks, the observed-information covariance,
standard errors, confidence intervals, ``summary``, AIC/BIC, and the
compress/evaluate/expand pattern that prediction methods use.

How a model declares itself
---------------------------
Class attributes (all required unless a default is shown):

``_param_names : tuple[str, ...]``
    Paper symbols in the order the likelihood takes them, e.g. ``("r", "alpha", "a", "b")``.
``_data_columns : tuple[str, ...]``
    Summary columns the likelihood takes, in order, e.g. ``("frequency", "recency", "T")``.
``_scale_column : str | None = None``
    Column whose maximum ``s`` is the unit of the fit (``"T"`` for the transaction
    models, so that max(T) = 1 while optimising). ``None`` switches rescaling off
    (BG/BB, whose time is discrete; Gamma-Gamma, to keep lifetimes' penalizer scale).
``_scaled_columns : tuple[str, ...] = ()``
    Columns divided by ``s`` during the fit (``("recency", "T")``).
``_scaled_params : tuple[str, ...] = ()``
    Parameters measured in the unit of the scaled columns: the fit finds them on the
    rescaled data and they are multiplied by ``s`` afterwards (``("alpha",)`` for
    BG/NBD, ``("alpha", "beta")`` for Pareto/NBD).
``_loglik : staticmethod (params, *columns) -> ndarray``
    Per-row log-likelihood; ``params`` is a 1-d array in ``_param_names`` order and
    ``columns`` are 1-d float arrays in ``_data_columns`` order. Must return
    ``-inf`` (never NaN) for impossible rows.
``_loglik_grad : staticmethod (params, *columns) -> ndarray, or None``
    Per-row gradient with respect to the natural parameters, shape ``(n, k)``.
    ``None`` (the default) makes the base use central finite differences.
``_weighted_loglik_and_grad : staticmethod (params, weights, *columns) -> (float, ndarray)``
    Optional fast kernel for the optimiser: ``sum(weights * loglik)`` and the weighted
    gradient sum in one pass, on validated rows. ``None`` (the default) combines
    ``_loglik`` and ``_loglik_grad``.
``_weighted_hessian : staticmethod (params, weights, *columns) -> ndarray``
    Optional exact Hessian of ``sum(weights * loglik)`` in the natural parameters,
    shape ``(k, k)``; with it the Newton polish and the covariance take no finite
    differences. Needs ``_weighted_loglik_and_grad``.
``_weighted_fgh : staticmethod (params, weights, *columns) -> (float, ndarray, ndarray)``
    Optional: the weighted log-likelihood, its gradient and its exact Hessian from one
    pass. With it the fit is damped Newton from the start point
    (:func:`~clvml.models.btyd.optimise.newton`; on more than twice ``_WARM_START_ROWS``
    distinct rows, from the optimum on a sample), L-BFGS-B only when Newton fails.
    Needs ``_weighted_loglik_and_grad``.

Methods a model implements or may override (the hooks of the ``fit`` template,
``prepare rows -> start point -> optimise -> unpack -> set results``):

``_initial_params(self, columns, weights) -> ndarray``
    Starting point in natural parameters on the rescaled data (required).
``_fit_mask(self, columns) -> ndarray[bool] | None``
    Rows the fit uses (Gamma-Gamma: frequency > 0). ``None`` (default) uses all; the
    number set aside is stored in ``n_excluded_``.
``_prepare_fit(self, data, weights) -> FitProblem``
    Validated, compressed, masked and rescaled rows (default: the summary columns);
    the covariate models add the standardised covariates.
``_start_point(self, problem) -> ndarray``
    ``theta0`` for the optimiser: ``initial_params`` when given, else ``_initial_params``.
``_fit_objective(self, problem)``, ``_set_results(self, problem, theta, hess)``
    The objective in ``theta`` and the unpacking of the optimum into ``params_`` etc.
``_validate(self, frame) -> DataFrame``
    Data-contract check; default :func:`clvml.data.validation.validate_rfm_summary`
    on ``_data_columns`` (with the monetary column when declared).

Purchase-count models subclass :class:`TransactionModel` instead, which adds the
four standard predictions from four declared pure functions (see its docstring).
A prediction method evaluates each distinct row once::

    rows = self._rows(data)                  # validated, compressed, fitted check done
    x, t_x, T = rows.columns                 # unique rows only
    values = some_vectorised_formula(self._params_array(), x, t_x, T)
    return rows.expand(values)               # Series on data's index, or ndarray

A complete declaration is shown in :mod:`clvml.models.btyd.transaction`.
Fitting conventions: see :mod:`clvml.models.btyd.optimise`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import optimize
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from threadpoolctl import ThreadpoolController

from clvml._deprecated import renamed_kwarg
from clvml.data.validation import validate_rfm_summary
from clvml.exceptions import DataValidationError
from clvml.models.btyd.optimise import (
    GRAD_TOL,
    LOG_BOUND,
    Objective,
    check_convergence,
    information_is_singular,
    inverse_information,
    log_hessian,
    log_normal_summary,
    log_objective,
    log_objective_newton,
    minimise,
    newton,
)
from clvml.models.btyd.rows import (
    CompressedRows,
    FitProblem,
    PreparedSummary,
    as_frame,
    check_horizon,
    compress_rows,
    row_weights,
    validated_rows,
)

__all__ = [
    "BTYDModel",
    "CompressedRows",
    "FitProblem",
    "PreparedSummary",
    "check_horizon",
    "compress_rows",
    "inverse_information",
]


class BTYDModel(BaseEstimator):
    """Base class of the buy-till-you-die models (see the module docstring).

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty ``penalizer * sum(params**2)`` added to the mean negative
        log-likelihood on the rescaled data (as ``penalizer_coef`` in lifetimes).
    initial_params : mapping of str to float, optional
        Starting values in natural parameters and the data's own units; default
        is the model's own starting point.
    max_iter : int, default 2000
        Maximum L-BFGS-B iterations. ``maxiter=`` is its deprecated spelling (accepted
        with a :class:`DeprecationWarning`).

    Attributes
    ----------
    params_ : dict of str to float
        Fitted parameters keyed by the paper's symbols, in the data's units.
    log_likelihood_ : float
        Total log-likelihood of the fitted customers (weighted) at ``params_``,
        in the data's own units (comparable with published values).
    n_customers_ : float
        Customers used in the fit (sum of the weights).
    n_excluded_ : float
        Customers set aside by the model's fit mask (e.g. Gamma-Gamma: no repeats).
    n_distinct_ : int
        Distinct rows the likelihood was evaluated on.
    converged_ : bool
        Whether the optimiser met its convergence criteria.
    n_iter_ : int
        L-BFGS-B iterations used.
    covariance_ : pandas.DataFrame
        Asymptotic covariance of the parameters (inverse observed information,
        delta method from the log-parameters).
    standard_errors_ : pandas.Series
        Square roots of the diagonal of ``covariance_``.
    confidence_intervals_ : pandas.DataFrame
        95% intervals, columns ``lower 95%`` and ``upper 95%``.
    aic_, bic_ : float
        Akaike and Bayesian information criteria, ``2k - 2LL`` and ``k log n - 2LL``.
    log_params_covariance_ : ndarray
        Covariance of ``log(params)``; used by parametric-bootstrap intervals.
    """

    _param_names: ClassVar[tuple[str, ...]] = ()
    _data_columns: ClassVar[tuple[str, ...]] = ("frequency", "recency", "T")
    _scale_column: ClassVar[str | None] = None
    _scaled_columns: ClassVar[tuple[str, ...]] = ()
    _scaled_params: ClassVar[tuple[str, ...]] = ()
    _loglik: ClassVar[Callable[..., np.ndarray]]
    _loglik_grad: ClassVar[Callable[..., np.ndarray] | None] = None
    _weighted_loglik_and_grad: ClassVar[Callable[..., tuple[float, np.ndarray]] | None] = None
    _weighted_hessian: ClassVar[Callable[..., np.ndarray] | None] = None
    _weighted_fgh: ClassVar[Callable[..., tuple[float, np.ndarray, np.ndarray]] | None] = None
    #: ``_weighted_loglik_and_grad`` evaluates the same formulas as ``_loglik`` (not an
    #: approximation): the fitted log-likelihood is then taken from it in one pass
    _kernel_is_exact: ClassVar[bool] = False
    #: what else a convergence warning suggests (e.g. ", fewer covariates")
    _convergence_hint: ClassVar[str] = ""
    #: accept ``T = 0`` rows (first purchase at the end of the data): their likelihood is
    #: 1, so they add nothing to the fit, and their predictions are a new customer's
    _zero_age_ok: ClassVar[bool] = False
    #: predictions also answer rows no customer can produce (frequency 0 with recency > 0,
    #: frequency > 0 with recency 0) by the model's formulas, as lifetimes does; ``fit``
    #: refuses them all the same
    _grid_rows_ok: ClassVar[bool] = False

    def __init__(
        self,
        penalizer: float = 0.0,
        initial_params: Mapping[str, float] | None = None,
        max_iter: int = 2000,
        *,
        maxiter: int | None = None,
    ) -> None:
        self.penalizer = penalizer
        self.initial_params = initial_params
        self.max_iter = renamed_kwarg(
            type(self).__name__, "maxiter", "max_iter", maxiter, max_iter, 2000
        )

    @classmethod
    def _get_param_names(cls) -> list[str]:
        # ``maxiter`` is only a deprecated spelling of ``max_iter``: not a parameter of its own
        return [p for p in super()._get_param_names() if p != "maxiter"]

    # ------------------------------------------------------------------ hooks
    def _initial_params(self, columns: tuple[np.ndarray, ...], weights: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _fit_mask(self, columns: tuple[np.ndarray, ...]) -> np.ndarray | None:
        return None

    def _validate(self, frame: pd.DataFrame) -> pd.DataFrame:
        monetary = "monetary_value" if "monetary_value" in self._data_columns else None
        columns = tuple(c for c in self._data_columns if c != "monetary_value")
        return validate_rfm_summary(
            frame, columns, monetary_col=monetary, allow_zero_age=self._zero_age_ok
        )

    def _validate_prediction(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The check of a prediction's input: ``_validate``, plus grid rows when declared."""
        if not self._grid_rows_ok:
            return self._validate(frame)
        return validate_rfm_summary(
            frame, self._data_columns, allow_zero_age=True, allow_impossible=True
        )

    # ------------------------------------------------------------------ input
    def _as_frame(self, data: Any, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
        """Turn a DataFrame, a mapping of arrays or a 2-d array into a frame of ``columns``."""
        return as_frame(data, columns or self._data_columns)

    def _rows(
        self,
        data: Any,
        weights: Any = None,
        columns: tuple[str, ...] | None = None,
        check_fitted: bool = True,
    ) -> CompressedRows:
        """Validate ``data`` and compress it to distinct rows of ``columns`` (see
        :func:`~clvml.models.btyd.rows.validated_rows`); a :class:`PreparedSummary` gives
        its rows for this class and reading, computed on first use."""
        if check_fitted:
            self._check_fitted()
        if isinstance(data, PreparedSummary):
            if weights is not None:
                return self._rows(data.data, weights, columns, check_fitted)
            key = (type(self), columns, check_fitted)
            return data.rows(key, lambda: self._rows(data.data, None, columns, check_fitted))
        columns = columns or self._data_columns
        frame = self._as_frame(data, columns)
        w = self._weights(frame, weights)
        index = frame.index if isinstance(data, pd.DataFrame) else None
        validate = self._validate_prediction if check_fitted else self._validate
        rfm = None
        if columns == ("frequency", "recency", "T") == self._data_columns and self._zero_age_ok:
            rfm = "grid" if check_fitted and self._grid_rows_ok else "strict"
        return validated_rows(frame, columns, w, validate, index, rfm)

    _weights = staticmethod(row_weights)

    def prepare(self, data: Any) -> PreparedSummary:
        """Validate and compress a summary once, for every prediction on it.

        Parameters
        ----------
        data : pandas.DataFrame, mapping, 2-d array or PreparedSummary
            RFM summary, as the predictions take it.

        Returns
        -------
        PreparedSummary
            Accepted by every prediction method (and
            :func:`~clvml.models.btyd.clv.customer_lifetime_value`) in place of
            ``data``, with the same results; the distinct rows of this model's columns
            and their inverse index are found here, once (a model of another class
            finds its own on first use and keeps them too).

        Raises
        ------
        NotFittedError
            The model is not fitted.
        DataValidationError
            The data break the RFM summary contract.

        Examples
        --------
        >>> from clvml.data.datasets import load_cdnow_summary
        >>> from clvml.models.btyd import BetaGeo
        >>> data = load_cdnow_summary()
        >>> bg = BetaGeo().fit(data)
        >>> rows = bg.prepare(data)
        >>> p_alive, purchases = bg.probability_alive(rows), bg.expected_purchases(rows, 39)
        >>> bool((p_alive == bg.probability_alive(data)).all())
        True
        """
        prepared = PreparedSummary(data)
        self._rows(prepared)
        return prepared

    def _rescale(self, cols: tuple[np.ndarray, ...]) -> tuple[tuple[np.ndarray, ...], float]:
        """Divide the scaled columns by ``s = max(scale column)`` (1 when off); return both."""
        scale = 1.0
        if self._scale_column is not None:
            scale = float(np.max(cols[self._data_columns.index(self._scale_column)]))
            if not (scale > 0 and np.isfinite(scale)):
                scale = 1.0
        scaled = tuple(
            c / scale if name in self._scaled_columns else c
            for name, c in zip(self._data_columns, cols, strict=True)
        )
        return scaled, scale

    def _param_scale(self, names: tuple[str, ...], scale: float) -> np.ndarray:
        """Per parameter: ``scale`` for those measured in the scaled unit, else 1."""
        return np.array([scale if p in self._scaled_params else 1.0 for p in names])

    # ------------------------------------------------------------------ fit template
    def fit(self, data: Any, weights: Any = None) -> BTYDModel:
        """Estimate the parameters by maximum (penalised) likelihood.

        Parameters
        ----------
        data : pandas.DataFrame, mapping or 2-d array
            RFM summary with the model's columns (``frequency``, ``recency``, ``T``
            and, for Gamma-Gamma, ``monetary_value``), one row per customer.
        weights : array-like or str, optional
            Number of customers each row stands for (or the name of a column
            holding it). Identical rows are compressed in any case.

        Returns
        -------
        self

        Raises
        ------
        DataValidationError
            The data break the RFM summary contract.
        ConvergenceError
            The optimiser ended at a non-finite likelihood.
        """
        if not (np.isfinite(self.penalizer) and self.penalizer >= 0):
            raise ValueError(f"penalizer must be a finite number >= 0, got {self.penalizer!r}")
        problem = self._prepare_fit(data, weights)
        theta0 = np.clip(self._start_point(problem), -LOG_BOUND + 1, LOG_BOUND - 1)
        fg = self._fit_objective(problem)
        owner = type(self).__name__
        # the work is elementwise over a few distinct rows: BLAS threads only add overhead
        with _blas_controller().limit(limits=1, user_api="blas"):
            if type(self)._weighted_fgh is not None:
                fg, (theta, _, hess, res) = self._fit_by_newton(problem, theta0, fg, owner)
                self.converged_ = check_convergence(
                    fg, theta, res, owner, self._theta_names(problem), self._convergence_hint
                )
                self.n_iter_ = int(res.nit)
                self._set_results(problem, theta, hess)
                return self
            analytic = self._weighted_loglik_and_grad is not None or self._loglik_grad is not None
            hess_fn = self._fit_hessian(problem, fg)
            warm = hess_fn is not None and self.initial_params is None
            warm = warm and problem.counts.size > _WARM_START_ROWS
            if warm:
                theta0 = self._warm_start(problem, theta0)
            theta, _, hess, res = minimise(
                fg,
                theta0,
                max_iter=self.max_iter,
                owner=owner,
                analytic=analytic,
                hess_fn=hess_fn,
                newton_first=warm,
            )
        self.converged_ = check_convergence(
            fg, theta, res, owner, self._theta_names(problem), self._convergence_hint
        )
        self.n_iter_ = int(res.nit)
        self._set_results(problem, theta, hess)
        return self

    def _prepare_fit(self, data: Any, weights: Any) -> FitProblem:
        """Validated distinct rows with positive weight, after the fit mask, rescaled."""
        rows = self._rows(data, weights, check_fitted=False)
        cols, counts = rows.columns, rows.counts
        total = float(counts.sum())
        keep = counts > 0
        mask = self._fit_mask(cols)
        if mask is not None:
            keep &= mask
        cols, counts = tuple(c[keep] for c in cols), counts[keep]
        if counts.size == 0:
            raise DataValidationError("no rows with positive weight are left to fit the model on")
        scaled, scale = self._rescale(cols)
        return FitProblem(cols, scaled, counts, total, scale)

    def _natural_start(self, problem: FitProblem, names: tuple[str, ...]) -> np.ndarray | None:
        """``initial_params`` for ``names``, in the rescaled units (``None`` when not given)."""
        if self.initial_params is None:
            return None
        missing = set(names) - set(self.initial_params)
        if missing:
            raise ValueError(f"initial_params lacks {sorted(missing)}")
        p0 = np.array([float(self.initial_params[p]) for p in names])
        return p0 / self._param_scale(names, problem.scale)

    def _start_point(self, problem: FitProblem) -> np.ndarray:
        """``theta0 = log(params0)`` on the rescaled data: ``initial_params`` or the model's."""
        p0 = self._natural_start(problem, self._param_names)
        if p0 is None:
            p0 = np.asarray(self._initial_params(problem.scaled, problem.counts), dtype=float)
        return _log_start(p0)

    def _theta_names(self, problem: FitProblem) -> list[str]:
        return list(self._param_names)

    def _fit_objective(self, problem: FitProblem) -> Objective:
        """Weighted mean negative log-likelihood (+ L2) in log-parameters, and its gradient."""
        cls = type(self)
        return log_objective(
            cls._loglik, cls._loglik_grad, cls._weighted_loglik_and_grad, problem, self.penalizer
        )

    def _warm_start(self, problem: FitProblem, theta0: np.ndarray) -> np.ndarray:
        """The optimum on a random sample of ``_WARM_START_ROWS`` distinct rows.

        On many distinct rows (continuous times) each likelihood pass is costly; the
        sample's optimum lies within sampling error of the full one, from where a few
        Newton steps on the exact Hessian finish the fit (see ``minimise``).
        """
        rng = np.random.default_rng(0)
        idx = np.sort(rng.choice(problem.counts.size, _WARM_START_ROWS, replace=False))
        sub = FitProblem(
            tuple(c[idx] for c in problem.columns),
            tuple(c[idx] for c in problem.scaled),
            problem.counts[idx],
            float(problem.counts[idx].sum()),
            problem.scale,
            problem.extra,
        )
        sub_fg = self._fit_objective(sub)
        kernel = type(self)._weighted_fgh
        if kernel is not None:
            sub_fgh = log_objective_newton(kernel, sub_fg, sub, self.penalizer)[0]
            # the sample's optimum is itself within sampling error: a looser tolerance
            found = newton(sub_fgh, theta0, tol=GRAD_TOL)
            if found is not None:
                return found[0]
        res = optimize.minimize(
            sub_fg,
            theta0,
            jac=True,
            method="L-BFGS-B",
            bounds=[(-LOG_BOUND + 1, LOG_BOUND - 1)] * len(theta0),
            options={"maxiter": int(self.max_iter), "ftol": 1e-12, "gtol": 1e-8},
        )
        return np.asarray(res.x, dtype=float) if np.isfinite(res.fun) else theta0

    def _fit_by_newton(
        self, problem: FitProblem, theta0: np.ndarray, fg: Objective, owner: str
    ) -> tuple[Objective, tuple[np.ndarray, float, np.ndarray, Any]]:
        """Damped Newton with the model's one-pass value, gradient and Hessian.

        From ``theta0`` (or, on more than twice ``_WARM_START_ROWS`` distinct rows without
        ``initial_params``, from the optimum on a sample of that many); when Newton
        fails (see :func:`~clvml.models.btyd.optimise.newton`), L-BFGS-B from ``theta0``
        with the exact Hessian for its polish. Returns the objective to check
        convergence with and what :func:`~clvml.models.btyd.optimise.minimise` returns.
        """
        kernel = type(self)._weighted_fgh
        assert kernel is not None
        fgh, fg = log_objective_newton(kernel, fg, problem, self.penalizer)
        start = theta0
        # ~8 Newton passes on the sample and ~3 on all rows pay against ~8 on all rows
        # once there are more than about twice the sample's rows
        if self.initial_params is None and problem.counts.size > 2 * _WARM_START_ROWS:
            start = self._warm_start(problem, theta0)
        found = newton(fgh, start, max_iter=min(int(self.max_iter), _NEWTON_MAX_ITER))
        if found is None:
            found = minimise(
                fg,
                theta0,
                max_iter=self.max_iter,
                owner=owner,
                analytic=True,
                hess_fn=lambda t: fgh(t)[2],
            )
        return fg, found

    def _fit_hessian(
        self, problem: FitProblem, fg: Objective
    ) -> Callable[[np.ndarray], np.ndarray] | None:
        """The exact Hessian in ``theta`` of the objective ``fg``, when the model declares one."""
        cls = type(self)
        if cls._weighted_hessian is None or cls._weighted_loglik_and_grad is None:
            return None
        return log_hessian(fg, cls._weighted_hessian, problem, self.penalizer)

    def _set_counts(self, problem: FitProblem, loglik: np.ndarray | float, k: int) -> None:
        """``n_customers_``, ``n_excluded_``, ``n_distinct_``, the log-likelihood, AIC, BIC.

        ``loglik`` is per row, or already the weighted total (a float).
        """
        n = float(problem.counts.sum())
        self.n_customers_ = n
        self.n_excluded_ = problem.total - n
        self.n_distinct_ = int(problem.counts.size)
        if isinstance(loglik, float):
            self.log_likelihood_ = loglik
        else:
            self.log_likelihood_ = float(problem.counts @ loglik)
        self.aic_ = 2 * k - 2 * self.log_likelihood_
        self.bic_ = k * math.log(n) - 2 * self.log_likelihood_

    def _set_results(self, problem: FitProblem, theta: np.ndarray, hess: np.ndarray) -> None:
        """Unpack the optimum into ``params_`` (data units) and set every fitted attribute."""
        params = np.exp(theta) * self._param_scale(self._param_names, problem.scale)
        self.params_ = dict(zip(self._param_names, map(float, params), strict=True))
        cls = type(self)
        if cls._kernel_is_exact and cls._weighted_loglik_and_grad is not None:
            # same formulas as _loglik, one fused pass (tests/models/test_btyd_likelihoods.py)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                total = cls._weighted_loglik_and_grad(params, problem.counts, *problem.columns)[0]
            loglik: np.ndarray | float = float(total)
        else:
            loglik = cls._loglik(params, *problem.columns)
        self._set_counts(problem, loglik, len(params))
        self._singular_information = information_is_singular(hess * self.n_customers_)
        cov_theta = inverse_information(
            hess * self.n_customers_,
            type(self).__name__,
            "Try penalizer=0.001 or check that the data identify every parameter.",
        )
        self.log_params_covariance_ = cov_theta
        self.covariance_, self.standard_errors_, self.confidence_intervals_ = log_normal_summary(
            params, cov_theta, list(self._param_names)
        )

    # ------------------------------------------------------------------ results
    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit(data) first."
            )

    def _params_array(self) -> np.ndarray:
        self._check_fitted()
        return np.array([self.params_[p] for p in self._param_names])

    @property
    def summary(self) -> pd.DataFrame:
        """Parameter table: ``coef``, ``se(coef)``, ``lower 95%``, ``upper 95%``."""
        self._check_fitted()
        out = pd.DataFrame({"coef": pd.Series(self.params_)})
        out["se(coef)"] = self.standard_errors_
        return out.join(self.confidence_intervals_)

    def sample_params(
        self,
        n_draws: int,
        random_state: int | np.random.Generator | None = None,
        *,
        seed: int | np.random.Generator | None = None,
    ) -> np.ndarray:
        """Draw parameter vectors from the asymptotic normal of the log-parameters.

        Returns an array of shape ``(n_draws, k)`` of natural parameters (columns in
        ``_param_names`` order); used for parametric-bootstrap prediction intervals.
        ``seed=`` is the deprecated spelling of ``random_state=``.
        """
        random_state = renamed_kwarg(
            "sample_params", "seed", "random_state", seed, random_state, None
        )
        theta = np.log(self._params_array())
        rng = np.random.default_rng(random_state)
        draws = rng.multivariate_normal(theta, self.log_params_covariance_, size=n_draws)
        return np.exp(draws)

    def covariance_problem(self) -> str | None:
        """Why the parameters cannot be drawn for a bootstrap interval, or None if they can.

        The draws come from the asymptotic normal of the log-parameters. It is
        unusable when its covariance is not finite, not positive semi-definite
        (a singular Hessian at the edge of the parameter space: every repeat buyer
        with recency = T), or so wide that a draw moves a parameter by a factor
        beyond ``exp(2 * MAX_LOG_SD)`` (a parameter these data do not identify):
        such draws run wild, and the CLV of each can take minutes to compute.
        """
        cov = getattr(self, "log_params_covariance_", np.nan)
        singular = getattr(self, "_singular_information", False)
        return covariance_problem(type(self).__name__, cov, singular)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "params_")


#: Fits on more distinct rows than this start from the optimum on a sample of this many
#: (models with an exact Hessian only; see ``BTYDModel._warm_start``).
_WARM_START_ROWS = 20_000

_CONTROLLER: list[ThreadpoolController] = []


def _blas_controller() -> ThreadpoolController:
    """One shared controller of the loaded thread pools (scanning them costs milliseconds).

    Created at the first fit, when numpy and scipy's BLAS are loaded.
    """
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


#: Most damped Newton iterations before a fit falls back to L-BFGS-B.
_NEWTON_MAX_ITER = 100

#: Largest standard error of a log-parameter for which bootstrap draws are taken.
MAX_LOG_SD = 3.0


def covariance_problem(name: str, cov: Any, singular: bool = False) -> str | None:
    """What makes ``cov`` unusable for drawing parameters (see ``covariance_problem``).

    ``singular``: the observed information was singular, so ``cov`` is only a
    pseudo-inverse (it claims zero variance along the directions the data leave flat).
    """
    cov = np.asarray(cov, dtype=float)
    if cov.ndim != 2 or not np.isfinite(cov).all():
        return f"{name}: the covariance of the parameters is not finite"
    if singular:
        return (
            f"{name}: the covariance of the parameters is not positive semi-definite or "
            "does not exist (the Hessian is singular at the estimate; the fit is at the "
            "edge of the parameter space)"
        )
    if cov.size == 0:
        return None
    sym = (cov + cov.T) / 2
    eig = np.linalg.eigvalsh(sym)
    if eig.min() < -1e-8 * max(float(np.abs(eig).max()), 1e-300):
        return (
            f"{name}: the covariance of the parameters is not positive semi-definite "
            f"(eigenvalue {eig.min():.3g}; the fit is at the edge of the parameter space)"
        )
    sd = float(np.sqrt(np.clip(np.diag(sym), 0.0, None)).max())
    if sd > MAX_LOG_SD:
        return (
            f"{name}: a parameter's standard error is {sd:.3g} on the log scale "
            f"(> {MAX_LOG_SD:g}): these data do not identify it"
        )
    return None


def _log_start(p0: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(p0) & (p0 > 0)):
        raise ValueError(f"initial parameters must be finite and > 0, got {p0}")
    return np.log(p0)


def __getattr__(name: str) -> Any:
    # ``TransactionModel`` moved to :mod:`clvml.models.btyd.transaction` (it subclasses
    # BTYDModel, so importing it here eagerly would be circular); old imports keep working
    if name == "TransactionModel":
        from clvml.models.btyd.transaction import TransactionModel

        return TransactionModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
