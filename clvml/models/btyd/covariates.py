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

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

from clvml.exceptions import ConvergenceWarning, DataValidationError
from clvml.models.btyd.base import BTYDModel, CompressedRows, compress_rows, inverse_information

__all__ = ["RFM_COLUMNS", "CovariateModel", "CovariateWarning"]

_LOG_BOUND = 25.0
_GRAD_TOL = 1e-6
#: Columns never taken as covariates when ``covariates=None``.
RFM_COLUMNS: frozenset[str] = frozenset({"frequency", "recency", "T", "monetary_value"})


class CovariateWarning(UserWarning):
    """A covariate was set aside (e.g. constant over the fitted customers)."""


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value (readable in error messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _stack(columns: Sequence[np.ndarray], n: int) -> np.ndarray:
    """Covariate columns as an ``(n, k)`` matrix."""
    return np.column_stack(columns) if len(columns) else np.zeros((n, 0))


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
    maxiter : int, default 2000
        Maximum L-BFGS-B iterations.
    """

    _base_names: ClassVar[tuple[str, ...]] = ()
    #: (linked parameter, index in the baseline parameters, sign of the exponent)
    _links: ClassVar[tuple[tuple[str, int, int], ...]] = ()
    # the base's declarations, with the covariate matrix Z as the last column:
    # _loglik(params, *columns, Z), _loglik_grad(params, *columns, Z) and
    # _weighted_loglik_and_grad(params, weights, *columns, Z)

    def __init__(
        self,
        penalizer: float = 0.0,
        covariates: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
        maxiter: int = 2000,
    ) -> None:
        self.penalizer = penalizer
        self.covariates = covariates
        self.maxiter = maxiter

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
        """Covariate columns, the (links x columns) link mask, and whether they were named."""
        link_names = [name for name, _, _ in self._links]
        spec = self.covariates
        if spec is None:
            skip = set(RFM_COLUMNS) | ({weights} if isinstance(weights, str) else set())
            found = [
                str(c)
                for c in frame.columns
                if str(c) not in skip
                and (
                    pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])
                )
            ]
            return found, np.ones((len(link_names), len(found)), dtype=bool), False
        if isinstance(spec, str):
            spec = [spec]
        if isinstance(spec, Mapping):
            unknown = sorted(set(map(str, spec)) - set(link_names))
            if unknown:
                raise ValueError(
                    f"covariates maps {unknown}, which are not parameters linked to covariates "
                    f"in {type(self).__name__}; expected keys among {link_names}"
                )
            per_link = {name: [str(c) for c in spec.get(name, ())] for name in link_names}
        else:
            per_link = {name: [str(c) for c in spec] for name in link_names}
        cols: list[str] = []
        for name in link_names:
            cols.extend(c for c in per_link[name] if c not in cols)
        for c in cols:
            if c in RFM_COLUMNS:
                raise ValueError(f"{c!r} is an RFM column of the likelihood, not a covariate")
        mask = np.array([[c in per_link[name] for c in cols] for name in link_names], dtype=bool)
        return cols, mask.reshape(len(link_names), len(cols)), True

    @staticmethod
    def _covariate_values(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
        """Covariate columns as a float matrix, with the contract checked column by column."""
        out = np.empty((len(frame), len(columns)))
        for j, col in enumerate(columns):
            if col not in frame.columns:
                raise DataValidationError(
                    f"covariate missing from the data (has {list(map(str, frame.columns))})",
                    column=col,
                )
            series = frame[col]
            if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
                raise DataValidationError(
                    f"is not numeric (dtype {series.dtype}); encode categories as 0/1 columns",
                    column=col,
                )
            values = series.astype("float64").to_numpy(dtype=float, na_value=np.nan)
            bad = ~np.isfinite(values)
            if bad.any():
                raise DataValidationError(
                    "are NaN or infinite; expected finite covariate values (fill or drop them)",
                    column=col,
                    n_rows=int(bad.sum()),
                    example=_plain(series.iloc[int(np.flatnonzero(bad)[0])]),
                )
            out[:, j] = values
        return out

    def _rfm_arrays(self, frame: pd.DataFrame) -> tuple[np.ndarray, ...]:
        present = [c for c in self._data_columns if c in frame.columns]
        checked = self._validate(frame[present])
        return tuple(checked[c].to_numpy(dtype=float) for c in self._data_columns)

    # ------------------------------------------------------------------ fit
    def fit(self, data: Any, weights: Any = None) -> CovariateModel:
        """Estimate the baseline parameters and covariate coefficients by maximum likelihood.

        Parameters
        ----------
        data : pandas.DataFrame
            One row per customer: the model's summary columns and the covariates.
        weights : array-like or str, optional
            Customers each row stands for (or the name of a column holding it).

        Returns
        -------
        self

        Raises
        ------
        DataValidationError
            The summary breaks its contract, or a covariate is missing, not numeric,
            NaN or infinite, or constant over the fitted customers while named
            explicitly (constant columns found with ``covariates=None`` are dropped
            with a :class:`CovariateWarning`).
        ConvergenceError
            The optimiser ended at a non-finite likelihood.
        """
        if not (np.isfinite(self.penalizer) and self.penalizer >= 0):
            raise ValueError(f"penalizer must be a finite number >= 0, got {self.penalizer!r}")
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
        cols, Xu = uniq[: len(rfm)], _stack(uniq[len(rfm) :], counts.size)

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
                stacklevel=2,
            )
            columns = [c for c, k in zip(columns, constant, strict=True) if not k]
            mask, Xu = mask[:, ~constant], Xu[:, ~constant]
            means, scales = means[~constant], scales[~constant]
        Z = (Xu - means) / scales if columns else Xu

        scaled, scale = self._rescale(cols)
        pscale = np.array([scale if p in self._scaled_params else 1.0 for p in self._base_names])

        nb = len(self._base_names)
        free = np.concatenate([np.ones(nb, dtype=bool), mask.ravel()])
        base0 = np.asarray(self._initial_base(scaled, counts), dtype=float)
        theta0 = np.concatenate([np.log(base0), np.zeros(mask.size)])[free]
        fg = self._covariate_objective(scaled, counts, Z, free)
        with threadpool_limits(limits=1, user_api="blas"):
            theta, _, hess, res = self._optimise(fg, theta0)
        grad = fg(theta)[1]
        on_bound = np.abs(theta) >= _LOG_BOUND - 1e-6
        self.converged_ = bool(np.max(np.abs(grad[~on_bound]), initial=0.0) < _GRAD_TOL)
        self.n_iter_ = int(res.nit)
        if on_bound.any() or not self.converged_:
            warnings.warn(
                f"{type(self).__name__}: the optimiser stopped with gradient "
                f"{np.max(np.abs(grad)):.2e} ({res.message}); parameters may be at their bounds "
                "or not identified. Try penalizer=0.001, fewer covariates or a larger maxiter.",
                ConvergenceWarning,
                stacklevel=2,
            )

        full = np.zeros(free.size)
        full[free] = theta
        internal = np.concatenate([np.exp(full[:nb]) * pscale, full[nb:]])
        self.internal_params_ = internal
        self.covariates_ = list(columns)
        self.covariate_means_ = pd.Series(means, index=columns, name="mean", dtype=float)
        self.covariate_scales_ = pd.Series(scales, index=columns, name="scale", dtype=float)
        self.link_mask_ = pd.DataFrame(mask, index=[n for n, _, _ in self._links], columns=columns)
        n = float(counts.sum())
        self.n_customers_ = n
        self.n_excluded_ = total - n
        self.n_distinct_ = int(counts.size)
        ll = type(self)._loglik(internal, *cols, Z)
        self.log_likelihood_ = float(counts @ ll)
        n_free = int(free.sum())
        self.aic_ = 2 * n_free - 2 * self.log_likelihood_
        self.bic_ = n_free * math.log(n) - 2 * self.log_likelihood_
        self._set_covariance_cov(hess * n, internal, free, means, scales, mask)
        return self

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

    def _set_covariance_cov(
        self,
        hess_total: np.ndarray,
        internal: np.ndarray,
        free: np.ndarray,
        means: np.ndarray,
        scales: np.ndarray,
        mask: np.ndarray,
    ) -> None:
        """Covariance, standard errors and intervals of the reported parameters."""
        nb, k = len(self._base_names), means.size
        cov = inverse_information(
            hess_total,
            type(self).__name__,
            "Check for collinear covariates or try penalizer=0.001.",
        )
        self.internal_covariance_ = cov  # of (log baseline, per-SD coefficients), free entries
        self._free_ = free

        # linear map from the internal (log theta0 at the means, gamma per SD) to the reported
        # (log theta0 at x = 0, gamma per unit), restricted to the free entries
        n_full = free.size
        J = np.zeros((n_full, n_full))
        J[:nb, :nb] = np.eye(nb)
        gam_z = internal[nb:].reshape(len(self._links), k)
        log_base = np.log(internal[:nb]).copy()
        for li, (_, bi, sign) in enumerate(self._links):
            block = slice(nb + li * k, nb + (li + 1) * k)
            J[bi, block] = -sign * means / scales
            J[block, block] = np.diag(1.0 / scales)
            log_base[bi] -= sign * float(gam_z[li] @ (means / scales))
        J = J[np.ix_(free, free)]
        gam_raw = (gam_z / scales).ravel() if k else np.zeros(0)
        public = np.concatenate([np.exp(log_base), gam_raw])[free]
        names = list(self._base_names) + [
            f"{link}:{col}" for link, _, _ in self._links for col in self.covariates_
        ]
        names = [nm for nm, f in zip(names, free, strict=True) if f]
        cov_pub = J @ cov @ J.T
        se_log = np.sqrt(np.clip(np.diag(cov_pub), 0, None))
        is_base = np.arange(len(names)) < nb
        d = np.where(is_base, public, 1.0)  # delta method for the positive parameters
        self.params_ = dict(zip(names, map(float, public), strict=True))
        self.covariance_ = pd.DataFrame(cov_pub * np.outer(d, d), index=names, columns=names)
        self.standard_errors_ = pd.Series(se_log * d, index=names, name="se(coef)")
        zq = stats.norm.ppf(0.975)
        lower = np.where(
            is_base, np.exp(np.log(np.abs(public)) - zq * se_log), public - zq * se_log
        )
        upper = np.where(
            is_base, np.exp(np.log(np.abs(public)) + zq * se_log), public + zq * se_log
        )
        self.confidence_intervals_ = pd.DataFrame(
            {"lower 95%": lower, "upper 95%": upper}, index=names
        )

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
        self._check_fitted()
        out = pd.DataFrame({"coef": pd.Series(self.params_)})
        out["se(coef)"] = self.standard_errors_
        is_coef = out.index.str.contains(":")
        z = np.where(is_coef, out["coef"] / out["se(coef)"].where(out["se(coef)"] > 0), np.nan)
        out["z"] = z
        out["p"] = np.where(is_coef, 2 * stats.norm.sf(np.abs(z)), np.nan)
        return out.join(self.confidence_intervals_)

    def sample_params(
        self, n_draws: int, seed: int | np.random.Generator | None = None
    ) -> np.ndarray:
        """Draw ``internal_params_`` vectors from the asymptotic normal of the estimate.

        The log-baseline parameters and the coefficients are drawn jointly; returns an
        array of shape ``(n_draws, len(internal_params_))`` for parametric-bootstrap
        intervals (e.g. :func:`clvml.models.btyd.clv.customer_lifetime_value`).
        """
        self._check_fitted()
        nb = len(self._base_names)
        internal = self._params_array()
        theta = np.concatenate([np.log(internal[:nb]), internal[nb:]])
        rng = np.random.default_rng(seed)
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
        frame = self._frame(data)
        index = frame.index if isinstance(data, pd.DataFrame) else None
        rfm = self._rfm_arrays(frame)
        X = self._covariate_values(frame, self.covariates_)
        Z = (X - self.covariate_means_.to_numpy()) / self.covariate_scales_.to_numpy()
        uniq, counts, inverse = compress_rows(rfm + tuple(Z.T), self._weights(frame, weights))
        return CompressedRows(uniq, counts, inverse, index)
