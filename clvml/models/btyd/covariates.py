r"""Shared machinery of the BTYD models with time-invariant customer covariates.

A covariate model is a small subclass of :class:`CovariateModel`. It declares its
baseline parameters, which of them are linked to the covariates (and with which sign),
its summary columns and a pure weighted likelihood kernel; this base does the rest:
choosing and checking the covariate columns, standardising them, compressing identical
rows, optimising, the covariance, standard errors, Wald tests and the ``summary``.

Parameterisation
----------------
For a linked parameter :math:`\theta` with sign :math:`s` (``-1`` for BG/NBD's
:math:`\alpha`, ``+1`` otherwise), customer :math:`i` with raw covariates :math:`x_i`
has

.. math:: \theta_i = \theta_0\, e^{s\, \gamma_\theta^\top x_i},

exactly the model of Fader & Hardie's note 019. ``params_`` reports :math:`\theta_0`
(the value at ``x = 0``) and :math:`\gamma_\theta` per unit of each covariate, keyed
``"<parameter>:<column>"`` (e.g. ``"alpha:health_score"``). Internally the covariates
are centred and scaled, :math:`z_{ik} = (x_{ik} - \mu_k) / \sigma_k` with the weighted
mean and standard deviation of the fitted customers (fitted state
``covariate_means_``, ``covariate_scales_``); the optimiser works on
:math:`(\log\theta_0^c, \gamma^z)`, where :math:`\theta_0^c` is the parameter of a
customer with mean covariates and :math:`\gamma^z = \sigma\gamma` the effect of one
standard deviation, which keeps the problem well conditioned. The reported values
follow by an exact linear map of :math:`(\log\theta_0, \gamma)`,
:math:`\log\theta_0 = \log\theta_0^c - s\sum_k \gamma^z_k \mu_k / \sigma_k` and
:math:`\gamma_k = \gamma^z_k / \sigma_k`, through which the covariance is propagated.

Fitting conventions
-------------------
As :class:`~clvml.models.btyd.base.BTYDModel`: weighted mean negative log-likelihood on
data rescaled so that the scale column's maximum is 1, plus
``penalizer * (sum(theta0**2) + sum(gamma_z**2))`` (the baseline parameters of the
rescaled problem, at mean covariates, and the per-standard-deviation coefficients),
minimised with L-BFGS-B and the analytic gradient, polished with Newton steps; the
covariance is the inverse observed information. ``internal_params_`` is the vector
the pure prediction functions take (baseline at mean covariates, per-SD
coefficients, every coefficient block full length, zeros where a covariate is not
linked); prediction methods standardise the covariates of the frame they are given
with the fitted means and scales.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from clvml._deprecated import renamed_kwarg
from clvml.exceptions import DataValidationError
from clvml.models.btyd.base import BTYDModel, _log_start, covariance_problem
from clvml.models.btyd.covariate_design import (
    RFM_COLUMNS,
    CovariateWarning,
    covariate_spec,
    covariate_values,
    reported_parameters,
    stack_columns,
)
from clvml.models.btyd.optimise import inverse_information
from clvml.models.btyd.rows import CompressedRows, FitProblem, PreparedSummary, compress_rows

__all__ = ["RFM_COLUMNS", "CovariateModel", "CovariateWarning"]

_stack = stack_columns  # the name the model modules import


class CovariateModel(BTYDModel):
    """Base class of the BTYD models with static covariates (see the module docstring).

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the baseline parameters (rescaled data, mean covariates) and the
        per-standard-deviation coefficients.
    covariates : list of str, dict of str to list of str, or None, default None
        Covariate columns of the data. A list links every column to every linked
        parameter; a dict maps a linked parameter (e.g. ``"alpha"``, ``"a"``, ``"b"``)
        to its columns (parameters left out get none); ``None`` takes every numeric or
        boolean column that is not an RFM column (``frequency``, ``recency``, ``T``,
        ``monetary_value``) or the weights column.
    max_iter : int, default 2000
        Maximum L-BFGS-B iterations (``maxiter=`` is its deprecated spelling).
    initial_params : mapping of str to float, optional
        Starting values: every baseline parameter (at covariates 0, in the data's units)
        and optionally coefficients per unit of a covariate, keyed as in ``params_``
        (``"alpha:<column>"``; missing ones start at 0). Default: the model's own start.

    Notes
    -----
    ``fit(data, weights=None)`` is :meth:`BTYDModel.fit
    <clvml.models.btyd.base.BTYDModel.fit>` (the one template) with this class's hooks.
    ``data`` holds the summary columns and the covariates. Besides the summary's own
    contract, a covariate that is missing, not numeric, NaN or infinite, or constant over
    the fitted customers while named explicitly is a
    :class:`~clvml.exceptions.DataValidationError`; constant columns found with
    ``covariates=None`` are dropped with a :class:`CovariateWarning`.
    """

    _base_names: ClassVar[tuple[str, ...]] = ()
    _convergence_hint = ", fewer covariates"
    #: (linked parameter, index in the baseline parameters, sign of the exponent)
    _links: ClassVar[tuple[tuple[str, int, int], ...]] = ()
    # the base's declarations, with the covariate matrix Z as the last column:
    # _loglik(params, *columns, Z), _loglik_grad(params, *columns, Z) and
    # _weighted_loglik_and_grad(params, weights, *columns, Z)

    def __init__(
        self,
        penalizer: float = 0.0,
        covariates: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
        max_iter: int = 2000,
        initial_params: Mapping[str, float] | None = None,
        *,
        maxiter: int | None = None,
    ) -> None:
        super().__init__(penalizer, initial_params, max_iter, maxiter=maxiter)
        self.covariates = covariates

    # ------------------------------------------------------------------ hooks
    def _initial_base(self, columns: tuple[np.ndarray, ...], weights: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # ------------------------------------------------------------------ covariates
    def _frame(self, data: Any) -> pd.DataFrame:
        if isinstance(data, pd.DataFrame):
            return data
        if isinstance(data, Mapping):
            return pd.DataFrame({k: np.asarray(v) for k, v in data.items()})
        raise DataValidationError(
            f"{type(self).__name__} needs a DataFrame (or a mapping of columns) holding "
            f"{list(self._data_columns)} and the covariate columns, got {type(data).__name__}"
        )

    def _covariate_spec(
        self, frame: pd.DataFrame, weights: Any
    ) -> tuple[list[str], np.ndarray, bool]:
        links = [name for name, _, _ in self._links]
        return covariate_spec(self.covariates, links, type(self).__name__, frame, weights)

    _covariate_values = staticmethod(covariate_values)

    def _rfm_arrays(self, frame: pd.DataFrame) -> tuple[np.ndarray, ...]:
        present = [c for c in self._data_columns if c in frame.columns]
        checked = self._validate(frame[present])
        return tuple(checked[c].to_numpy(dtype=float) for c in self._data_columns)

    # ------------------------------------------------------------------ fit hooks
    def _prepare_fit(self, data: Any, weights: Any) -> FitProblem:
        """Distinct (summary, covariates) rows, standardised covariates, free entries."""
        frame = self._frame(data)
        columns, mask, named = self._covariate_spec(frame, weights)
        rfm = self._rfm_arrays(frame)
        X = self._covariate_values(frame, columns)
        w = self._weights(frame, weights)
        uniq, counts, _ = compress_rows(rfm + tuple(X.T), w)
        total = float(counts.sum())
        keep = counts > 0
        fit_mask = self._fit_mask(uniq[: len(rfm)])
        if fit_mask is not None:
            keep &= fit_mask
        uniq, counts = tuple(c[keep] for c in uniq), counts[keep]
        if counts.size == 0:
            raise DataValidationError("no rows with positive weight are left to fit the model on")
        cols, Xu = uniq[: len(rfm)], stack_columns(uniq[len(rfm) :], counts.size)

        means = np.average(Xu, axis=0, weights=counts) if columns else np.zeros(0)
        scales = (
            np.sqrt(np.average((Xu - means) ** 2, axis=0, weights=counts)) if columns else means
        )
        constant = scales <= 1e-12 * np.maximum(1.0, np.abs(means))
        if constant.any():
            names = [c for c, k in zip(columns, constant, strict=True) if k]
            if named:
                raise DataValidationError(
                    f"is constant ({means[constant][0]:g}) over the {counts.sum():g} fitted "
                    "customers; its effect cannot be told apart from the baseline parameters: "
                    "remove it",
                    column=names[0],
                    n_rows=round(float(counts.sum())),
                )
            warnings.warn(
                f"{type(self).__name__}: covariates {names} are constant over the fitted "
                "customers and were dropped",
                CovariateWarning,
                stacklevel=3,
            )
            columns = [c for c, k in zip(columns, constant, strict=True) if not k]
            mask, Xu = mask[:, ~constant], Xu[:, ~constant]
            means, scales = means[~constant], scales[~constant]
        Z = (Xu - means) / scales if columns else Xu
        scaled, scale = self._rescale(cols)
        free = np.concatenate([np.ones(len(self._base_names), dtype=bool), mask.ravel()])
        extra = {"Z": Z, "free": free, "mask": mask, "means": means, "scales": scales}
        return FitProblem(cols, scaled, counts, total, scale, {**extra, "columns": columns})

    def _coefficient_names(self, columns: Sequence[str]) -> list[str]:
        """``"<parameter>:<column>"`` for every link and column, link by link."""
        return [f"{link}:{col}" for link, _, _ in self._links for col in columns]

    def _start_point(self, problem: FitProblem) -> np.ndarray:
        """``(log baseline at mean covariates, per-SD coefficients)`` of the free entries.

        ``initial_params`` gives the baseline parameters (at covariates 0, data units)
        and optionally coefficients per unit of a covariate (``"alpha:<column>"``;
        missing ones start at 0), mapped to the internal parameterisation.
        """
        ex = problem.extra
        means, scales = ex["means"], ex["scales"]
        k = means.size
        gam = np.zeros((len(self._links), k))
        base0 = self._natural_start(problem, self._base_names)
        if base0 is None:
            base0 = np.asarray(self._initial_base(problem.scaled, problem.counts), dtype=float)
        else:
            assert self.initial_params is not None
            coef_names = self._coefficient_names(ex["columns"])
            known = set(self._base_names) | set(coef_names)
            unknown = sorted(set(self.initial_params) - known)
            if unknown:
                raise ValueError(
                    f"initial_params has {unknown}, which are neither baseline parameters "
                    f"{list(self._base_names)} nor coefficients of the fitted covariates "
                    f"(e.g. {coef_names[:3]})"
                )
            for name, value in self.initial_params.items():
                if ":" in name:
                    pos = coef_names.index(name)
                    gam[pos // k, pos % k] = float(value)
            for li, (_, bi, sign) in enumerate(self._links):
                # the baseline at the mean covariates: theta0 * exp(s * gamma' mean)
                base0[bi] *= float(np.exp(sign * gam[li] @ means)) if k else 1.0
        theta0 = np.concatenate([_log_start(base0), (gam * scales).ravel()])
        return theta0[ex["free"]]

    def _theta_names(self, problem: FitProblem) -> list[str]:
        names = list(self._base_names) + self._coefficient_names(problem.extra["columns"])
        return [n for n, f in zip(names, problem.extra["free"], strict=True) if f]

    def _set_results(self, problem: FitProblem, theta: np.ndarray, hess: np.ndarray) -> None:
        """Internal and reported parameters, standardisation, counts and covariance."""
        ex = problem.extra
        free, columns, nb = ex["free"], ex["columns"], len(self._base_names)
        full = np.zeros(free.size)
        full[free] = theta
        pscale = self._param_scale(self._base_names, problem.scale)
        internal = np.concatenate([np.exp(full[:nb]) * pscale, full[nb:]])
        self.internal_params_ = internal
        self.covariates_ = list(columns)
        self.covariate_means_ = pd.Series(ex["means"], index=columns, name="mean", dtype=float)
        self.covariate_scales_ = pd.Series(ex["scales"], index=columns, name="scale", dtype=float)
        self.link_mask_ = pd.DataFrame(
            ex["mask"], index=[n for n, _, _ in self._links], columns=columns
        )
        loglik = type(self)._loglik(internal, *problem.columns, ex["Z"])
        self._set_counts(problem, loglik, int(free.sum()))
        self._set_covariance_cov(
            hess * self.n_customers_, internal, free, ex["means"], ex["scales"]
        )

    def _fit_objective(self, problem: FitProblem) -> Callable[[np.ndarray], tuple[float, Any]]:
        ex = problem.extra
        return self._covariate_objective(problem.scaled, problem.counts, ex["Z"], ex["free"])

    def _set_covariance_cov(
        self,
        hess_total: np.ndarray,
        internal: np.ndarray,
        free: np.ndarray,
        means: np.ndarray,
        scales: np.ndarray,
    ) -> None:
        """Covariance, standard errors and intervals of the reported parameters."""
        cov = inverse_information(
            hess_total,
            type(self).__name__,
            "Check for collinear covariates or try penalizer=0.001.",
        )
        self.internal_covariance_ = cov  # of (log baseline, per-SD coefficients), free entries
        self._free_ = free
        names = list(self._base_names) + self._coefficient_names(self.covariates_)
        self.params_, self.covariance_, self.standard_errors_, self.confidence_intervals_ = (
            reported_parameters(internal, cov, free, means, scales, self._links, names)
        )

    def _covariate_objective(
        self, cols: tuple[np.ndarray, ...], counts: np.ndarray, Z: np.ndarray, free: np.ndarray
    ) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
        """Weighted mean negative log-likelihood (+ L2) in (log baseline, coefficients)."""
        kernel = type(self)._weighted_loglik_and_grad
        assert kernel is not None
        wn = counts / counts.sum()
        pen = float(self.penalizer)
        nb = len(self._base_names)
        full = np.zeros(free.size)

        def fg(theta: np.ndarray) -> tuple[float, np.ndarray]:
            full[free] = theta
            base, gam = np.exp(full[:nb]), full[nb:]
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                ll, dll = kernel(np.concatenate([base, gam]), wn, *cols, Z)
                val = -ll + pen * float(base @ base + gam @ gam)
                g = np.concatenate(
                    [-dll[:nb] * base + 2 * pen * base**2, -dll[nb:] + 2 * pen * gam]
                )
            if not (np.isfinite(val) and np.all(np.isfinite(g))):
                return 1e300, np.zeros_like(theta)
            return val, g[free]

        return fg

    # ------------------------------------------------------------------ results
    def _params_array(self) -> np.ndarray:
        self._check_fitted()
        return np.asarray(self.internal_params_, dtype=float)

    @property
    def coefficients_(self) -> pd.Series:
        """The covariate coefficients of ``params_`` (per unit of each covariate)."""
        self._check_fitted()
        return pd.Series(
            {k: v for k, v in self.params_.items() if ":" in k}, name="coef", dtype=float
        )

    @property
    def summary(self) -> pd.DataFrame:
        """Parameter table: ``coef``, ``se(coef)``, ``z``, ``p``, ``lower 95%``, ``upper 95%``.

        ``z`` and ``p`` are the Wald test of a zero coefficient (two-sided); they are NaN
        for the baseline parameters, which are positive by construction. Intervals of the
        baseline parameters are ``exp(log(coef) +- 1.96 se(log coef))``.
        """
        out = super().summary
        is_coef = out.index.str.contains(":")
        z = np.where(is_coef, out["coef"] / out["se(coef)"].where(out["se(coef)"] > 0), np.nan)
        out.insert(2, "z", z)
        out.insert(3, "p", np.where(is_coef, 2 * stats.norm.sf(np.abs(z)), np.nan))
        return out

    def covariance_problem(self) -> str | None:
        """Why the parameters cannot be drawn for a bootstrap interval, or None if they can."""
        # of the free (log baseline, per-SD coefficient) entries, as drawn by sample_params
        cov = getattr(self, "internal_covariance_", np.nan)
        return covariance_problem(type(self).__name__, cov)

    def sample_params(
        self,
        n_draws: int,
        random_state: int | np.random.Generator | None = None,
        *,
        seed: int | np.random.Generator | None = None,
    ) -> np.ndarray:
        """Draw ``internal_params_`` vectors from the asymptotic normal of the estimate.

        The log-baseline parameters and the coefficients are drawn jointly; returns an
        array of shape ``(n_draws, len(internal_params_))`` for parametric-bootstrap
        intervals (e.g. :func:`clvml.models.btyd.clv.customer_lifetime_value`); ``seed=`` is
        the deprecated spelling of ``random_state=``.
        """
        random_state = renamed_kwarg(
            "sample_params", "seed", "random_state", seed, random_state, None
        )
        nb = len(self._base_names)
        internal = self._params_array()
        theta = np.concatenate([np.log(internal[:nb]), internal[nb:]])
        rng = np.random.default_rng(random_state)
        draws = np.tile(theta, (n_draws, 1))
        draws[:, self._free_] = rng.multivariate_normal(
            theta[self._free_], self.internal_covariance_, size=n_draws
        )
        draws[:, :nb] = np.exp(draws[:, :nb])
        return draws

    def _rows(
        self,
        data: Any,
        weights: Any = None,
        columns: tuple[str, ...] | None = None,
        check_fitted: bool = True,
    ) -> CompressedRows:
        """Validated distinct rows of the summary columns and standardised covariates."""
        self._check_fitted()
        if isinstance(data, PreparedSummary):
            data = data.data  # the rows depend on the fit (standardised covariates): not kept
        frame = self._frame(data)
        index = frame.index if isinstance(data, pd.DataFrame) else None
        rfm = self._rfm_arrays(frame)
        X = self._covariate_values(frame, self.covariates_)
        Z = (X - self.covariate_means_.to_numpy()) / self.covariate_scales_.to_numpy()
        uniq, counts, inverse = compress_rows(rfm + tuple(Z.T), self._weights(frame, weights))
        return CompressedRows(uniq, counts, inverse, index)
