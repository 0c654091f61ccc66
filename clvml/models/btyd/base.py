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

Methods a model implements or may override:

``_initial_params(self, columns, weights) -> ndarray``
    Starting point in natural parameters on the rescaled data (required).
``_fit_mask(self, columns) -> ndarray[bool] | None``
    Rows the fit uses (Gamma-Gamma: frequency > 0). ``None`` (default) uses all; the
    number set aside is stored in ``n_excluded_``.
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

Example of a complete declaration (the real one lives in ``beta_geo.py``)::

    class BetaGeo(TransactionModel):
        _param_names = ("r", "alpha", "a", "b")
        _data_columns = ("frequency", "recency", "T")
        _scale_column = "T"
        _scaled_columns = ("recency", "T")
        _scaled_params = ("alpha",)
        _loglik = staticmethod(bgnbd_loglik)
        _loglik_grad = staticmethod(bgnbd_loglik_grad)
        _probability_alive = staticmethod(bgnbd_probability_alive)
        ...  # and the other three prediction functions (see TransactionModel)

        def _initial_params(self, columns, weights):
            return np.array([1.0, 1.0, 1.0, 1.0])

Fitting conventions
-------------------
The objective is the weighted mean negative log-likelihood on the rescaled data
plus ``penalizer * sum(params**2)`` on the rescaled natural parameters (the same
convention as ``lifetimes``, which also rescales max(T) to 1). It is minimised over
``theta = log(params)`` with L-BFGS-B (bounds ``|theta| <= 25``) and the analytic
gradient (central differences of the objective when the model declares none), then
polished with up to three Newton steps on the finite-difference Hessian. It counts as
converged when every component of the gradient of the mean objective is below 1e-6;
otherwise, or when a parameter sits on a bound, a ``ConvergenceWarning`` says what to
try next, and a non-finite optimum raises ``ConvergenceError``. ``log_likelihood_``
is re-evaluated on the original data in its own time unit, so it is comparable
with the papers. The covariance is the inverse observed information of the total
(penalised) negative log-likelihood in ``theta``, mapped to natural parameters by
the delta method, ``Cov(p) = diag(p) Cov(theta) diag(p)``; confidence intervals
are ``exp(theta +- z * se(theta))`` (always positive).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import optimize, stats
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from threadpoolctl import threadpool_limits

from clvml.data.validation import validate_rfm_summary
from clvml.exceptions import ConvergenceError, ConvergenceWarning, DataValidationError

__all__ = [
    "BTYDModel",
    "CompressedRows",
    "TransactionModel",
    "check_horizon",
    "compress_rows",
    "inverse_information",
]

_LOG_BOUND = 25.0  # |log(param)| <= 25 on the rescaled data: params in [1.4e-11, 7.2e10]
_GRAD_TOL = 1e-6  # max |gradient| of the mean objective accepted as converged


@dataclass(frozen=True)
class CompressedRows:
    """Distinct rows of a summary and how to map values back to every customer.

    Attributes
    ----------
    columns : tuple of ndarray
        One float array per column, one element per distinct row.
    counts : ndarray
        Number of customers (or summed weights) behind each distinct row.
    inverse : ndarray
        ``columns[j][inverse]`` rebuilds column ``j`` of the original data.
    index : pandas.Index or None
        Index of the original frame (predictions become a Series on it), or ``None``
        when the input was arrays (predictions stay arrays).
    """

    columns: tuple[np.ndarray, ...]
    counts: np.ndarray
    inverse: np.ndarray
    index: pd.Index | None

    def expand(self, values: np.ndarray, name: str | None = None) -> pd.Series | np.ndarray:
        """Map per-distinct-row ``values`` back to one value per original row."""
        full = np.asarray(values)[self.inverse]
        if self.index is None:
            return full
        return pd.Series(full, index=self.index, name=name)


def _dense_codes(values: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """Codes 0..k-1 (in sorted order) of non-negative ints below ``size``, and k."""
    present = np.zeros(size, dtype=bool)
    present[values] = True
    position = np.cumsum(present) - 1
    return position[values], int(position[-1]) + 1 if size else 0


def _column_codes(col: np.ndarray) -> tuple[np.ndarray, int]:
    """Integer codes of a column's distinct values and their number.

    Whole-number columns with a modest range (counts, ages in whole days or weeks) use a
    dense lookup table; anything else (fractional values, NaN, huge ranges) is hashed
    with :func:`pandas.factorize`.
    """
    n = col.size
    if n and col.dtype.kind == "f":
        lo, hi = np.min(col), np.max(col)
        if np.isfinite(lo) and np.isfinite(hi) and hi - lo <= 4 * n + 1000:
            shifted = col - lo
            as_int = shifted.astype(np.int64)
            if np.array_equal(as_int, shifted):
                return _dense_codes(as_int, int(hi - lo) + 1)
    codes, uniques = pd.factorize(col, use_na_sentinel=False)
    return codes.astype(np.int64, copy=False), len(uniques)


def compress_rows(
    columns: tuple[np.ndarray, ...], weights: np.ndarray | None = None
) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray]:
    """Find the distinct rows of equally long 1-d arrays in O(n) (no sort).

    Parameters
    ----------
    columns : tuple of ndarray
        Columns of the table.
    weights : ndarray, optional
        Weight of each row; the returned counts sum them (default: 1 per row).

    Returns
    -------
    unique_columns, counts, inverse
        The distinct rows (column-wise), their summed weights, and for every
        original row the position of its distinct row.

    Examples
    --------
    >>> import numpy as np
    >>> (u,), counts, inv = compress_rows((np.array([1.0, 2.0, 1.0]),))
    >>> u.tolist(), counts.tolist(), inv.tolist()
    ([1.0, 2.0], [2.0, 1.0], [0, 1, 0])
    """
    n = columns[0].size
    key = np.zeros(n, dtype=np.int64)
    n_key = 1
    for col in columns:
        codes, n_codes = _column_codes(np.asarray(col))
        if n_key * n_codes >= 2**62:  # keep the combined key inside int64
            key, n_key = _key_codes(key, n_key, n)
        key = key * n_codes + codes
        n_key *= n_codes
    inverse, n_unique = _key_codes(key, n_key, n)
    first_row = np.empty(n_unique, dtype=np.int64)
    first_row[inverse[::-1]] = np.arange(n - 1, -1, -1)
    unique_columns = tuple(np.asarray(c)[first_row] for c in columns)
    counts = np.bincount(inverse, weights=weights, minlength=n_unique).astype(float)
    return unique_columns, counts, inverse


def _key_codes(key: np.ndarray, n_key: int, n: int) -> tuple[np.ndarray, int]:
    """Renumber combined row keys 0..k-1: dense table when small, hashing otherwise."""
    if n_key <= 4 * n + 1000:
        return _dense_codes(key, n_key)
    codes, uniques = pd.factorize(key)
    return codes.astype(np.int64, copy=False), len(uniques)


def inverse_information(hess_total: np.ndarray, owner: str, hint: str) -> np.ndarray:
    """Symmetric inverse of an observed-information matrix (the Hessian of the total NLL).

    Falls back to a pseudo-inverse, with a :class:`ConvergenceWarning` naming ``owner`` and
    saying what to try (``hint``), when the matrix is singular or not positive definite.
    """
    eig = np.linalg.eigvalsh(hess_total) if np.all(np.isfinite(hess_total)) else None
    if eig is not None and eig.min() > 1e-10 * max(1.0, eig.max()):
        cov = np.linalg.inv(hess_total)
    else:
        warnings.warn(
            f"{owner}: the Hessian is singular or not positive definite at the estimate; "
            f"standard errors use a pseudo-inverse and are unreliable. {hint}",
            ConvergenceWarning,
            stacklevel=4,
        )
        cov = np.linalg.pinv(np.nan_to_num(hess_total))
    return (cov + cov.T) / 2


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
    maxiter : int, default 2000
        Maximum L-BFGS-B iterations.

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

    def __init__(
        self,
        penalizer: float = 0.0,
        initial_params: Mapping[str, float] | None = None,
        maxiter: int = 2000,
    ) -> None:
        self.penalizer = penalizer
        self.initial_params = initial_params
        self.maxiter = maxiter

    # ------------------------------------------------------------------ hooks
    def _initial_params(self, columns: tuple[np.ndarray, ...], weights: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _fit_mask(self, columns: tuple[np.ndarray, ...]) -> np.ndarray | None:
        return None

    def _validate(self, frame: pd.DataFrame) -> pd.DataFrame:
        monetary = "monetary_value" if "monetary_value" in self._data_columns else None
        columns = tuple(c for c in self._data_columns if c != "monetary_value")
        return validate_rfm_summary(frame, columns, monetary_col=monetary)

    # ------------------------------------------------------------------ input
    def _as_frame(self, data: Any, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
        """Turn a DataFrame, a mapping of arrays or a 2-d array into a frame of ``columns``."""
        columns = columns or self._data_columns
        if isinstance(data, pd.DataFrame):
            return data
        if isinstance(data, Mapping):
            return pd.DataFrame({k: np.asarray(v) for k, v in data.items()})
        arr = np.asarray(data, dtype=float)
        if arr.ndim != 2 or arr.shape[1] != len(columns):
            raise DataValidationError(
                f"expected a DataFrame or a 2-d array with columns {list(columns)}, "
                f"got an array of shape {arr.shape}"
            )
        return pd.DataFrame(arr, columns=list(columns))

    def _rows(
        self,
        data: Any,
        weights: Any = None,
        columns: tuple[str, ...] | None = None,
        check_fitted: bool = True,
    ) -> CompressedRows:
        """Validate ``data`` and compress it to distinct rows of ``columns``.

        Validation runs on the distinct rows (a row is valid or not regardless of
        how often it occurs); on failure the full data are validated again so the
        error reports the true number of offending rows.
        """
        if check_fitted:
            self._check_fitted()
        columns = columns or self._data_columns
        frame = self._as_frame(data, columns)
        index = frame.index if isinstance(data, pd.DataFrame) else None
        w = self._weights(frame, weights)
        try:
            arrays = tuple(frame[c].to_numpy(dtype=float) for c in columns)
        except (KeyError, TypeError, ValueError):
            self._validate(frame)  # raises the descriptive error
            raise
        uniq, counts, inverse = compress_rows(arrays, w)
        try:
            self._validate(pd.DataFrame(dict(zip(columns, uniq, strict=True))))
        except DataValidationError:
            self._validate(frame)  # same failure, counted over every row
            raise
        return CompressedRows(uniq, counts, inverse, index)

    @staticmethod
    def _weights(frame: pd.DataFrame, weights: Any) -> np.ndarray | None:
        if weights is None:
            return None
        if isinstance(weights, str):
            if weights not in frame.columns:
                raise DataValidationError("weights column not found", column=weights)
            weights = frame[weights]
        w = np.asarray(weights, dtype=float)
        if w.shape != (len(frame),):
            raise DataValidationError(
                f"weights must be one number per row: got shape {w.shape} for {len(frame)} rows",
                column="weights",
            )
        bad = ~np.isfinite(w) | (w < 0)
        if bad.any():
            raise DataValidationError(
                "are negative, NaN or infinite; expected weights >= 0",
                column="weights",
                n_rows=int(bad.sum()),
                example=float(w[np.flatnonzero(bad)[0]]),
            )
        return w

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

    # ------------------------------------------------------------------ fit
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
        rows = self._rows(data, weights, check_fitted=False)
        cols, counts = rows.columns, rows.counts
        mask = self._fit_mask(cols)
        total = float(counts.sum())
        if mask is not None:
            cols = tuple(c[mask] for c in cols)
            counts = counts[mask]
        keep = counts > 0
        cols, counts = tuple(c[keep] for c in cols), counts[keep]
        if counts.size == 0:
            raise DataValidationError("no rows with positive weight are left to fit the model on")

        scaled, scale = self._rescale(cols)
        pscale = np.array([scale if p in self._scaled_params else 1.0 for p in self._param_names])

        if self.initial_params is not None:
            missing = set(self._param_names) - set(self.initial_params)
            if missing:
                raise ValueError(f"initial_params lacks {sorted(missing)}")
            p0 = np.array([float(self.initial_params[p]) for p in self._param_names]) / pscale
        else:
            p0 = np.asarray(self._initial_params(scaled, counts), dtype=float)
        if not np.all(np.isfinite(p0) & (p0 > 0)):
            raise ValueError(f"initial parameters must be finite and > 0, got {p0}")
        theta0 = np.clip(np.log(p0), -_LOG_BOUND + 1, _LOG_BOUND - 1)

        objective = self._objective(scaled, counts)
        # the work is elementwise over a few distinct rows: BLAS threads only add overhead
        with threadpool_limits(limits=1, user_api="blas"):
            theta, _, hess, res = self._optimise(objective, theta0)
        grad = objective(theta)[1]
        on_bound = np.abs(theta) >= _LOG_BOUND - 1e-6
        self.converged_ = bool(np.max(np.abs(grad[~on_bound]), initial=0.0) < _GRAD_TOL)
        self.n_iter_ = int(res.nit)
        if on_bound.any():
            names = [p for p, b in zip(self._param_names, on_bound, strict=True) if b]
            warnings.warn(
                f"{type(self).__name__}: {names} reached the bound exp(+-{_LOG_BOUND:g}) of the "
                "rescaled parameters; the data may not identify them (e.g. no visible dropout). "
                "Try penalizer=0.001 or a simpler model.",
                ConvergenceWarning,
                stacklevel=2,
            )
        elif not self.converged_:
            warnings.warn(
                f"{type(self).__name__}: the optimiser stopped with gradient "
                f"{np.max(np.abs(grad)):.2e} > {_GRAD_TOL:g} ({res.message}). Try "
                "penalizer=0.001, other initial_params or a larger maxiter.",
                ConvergenceWarning,
                stacklevel=2,
            )

        params = np.exp(theta) * pscale
        self.params_ = dict(zip(self._param_names, map(float, params), strict=True))
        n = float(counts.sum())
        self.n_customers_ = n
        self.n_excluded_ = total - n
        self.n_distinct_ = int(counts.size)
        ll = type(self)._loglik(params, *cols)
        self.log_likelihood_ = float(np.sum(counts * ll))
        k = len(params)
        self.aic_ = 2 * k - 2 * self.log_likelihood_
        self.bic_ = k * math.log(n) - 2 * self.log_likelihood_
        self._set_covariance(hess * n, params)
        return self

    def _optimise(
        self, objective: Callable[[np.ndarray], tuple[float, np.ndarray]], theta0: np.ndarray
    ) -> tuple[np.ndarray, float, np.ndarray, Any]:
        """L-BFGS-B in log-parameters, then Newton polish; returns theta, f, Hessian, result."""
        res = optimize.minimize(
            objective,
            theta0,
            jac=True,
            method="L-BFGS-B",
            bounds=[(-_LOG_BOUND, _LOG_BOUND)] * len(theta0),
            options={"maxiter": self.maxiter, "ftol": 1e-15, "gtol": 1e-10, "maxcor": 20},
        )
        theta, fun = np.asarray(res.x, dtype=float), float(res.fun)
        if not np.isfinite(fun) or fun >= 1e300:
            raise ConvergenceError(
                f"{type(self).__name__}: the optimiser ended at a non-finite likelihood "
                f"({res.message}). Try penalizer=0.001 (or larger), other initial_params, "
                "or check the data for extreme values."
            )
        hess = self._hessian(objective, theta)
        theta, fun, hess = self._newton_polish(objective, theta, fun, hess)
        return theta, fun, hess, res

    def _objective(
        self, cols: tuple[np.ndarray, ...], counts: np.ndarray
    ) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
        """Weighted mean negative log-likelihood (+ L2) in log-parameters, and its gradient."""
        loglik = type(self)._loglik
        loglik_grad = type(self)._loglik_grad
        kernel = type(self)._weighted_loglik_and_grad
        wn = counts / counts.sum()
        pen = float(self.penalizer)

        def f(theta: np.ndarray) -> float:
            p = np.exp(theta)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                val = -float(wn @ loglik(p, *cols)) + pen * float(p @ p)
            return val if np.isfinite(val) else 1e300

        def fg(theta: np.ndarray) -> tuple[float, np.ndarray]:
            p = np.exp(theta)
            if kernel is None and loglik_grad is None:
                return f(theta), _central_gradient(f, theta)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                if kernel is not None:
                    ll, dll = kernel(p, wn, *cols)
                else:
                    assert loglik_grad is not None
                    ll, dll = float(wn @ loglik(p, *cols)), wn @ loglik_grad(p, *cols)
                val = -ll + pen * float(p @ p)
                g = -dll * p + 2 * pen * p * p
            if not (np.isfinite(val) and np.all(np.isfinite(g))):
                return 1e300, np.zeros_like(theta)
            return val, g

        return fg

    def _hessian(
        self, fg: Callable[[np.ndarray], tuple[float, np.ndarray]], theta: np.ndarray
    ) -> np.ndarray:
        """Symmetrised finite-difference Hessian of the objective.

        Central differences of the analytic gradient when the model has one; otherwise
        second differences of the objective itself (step 1e-4, error about 1e-8).
        """
        k = theta.size
        H = np.empty((k, k))
        analytic = (
            type(self)._weighted_loglik_and_grad is not None or type(self)._loglik_grad is not None
        )
        if analytic:
            h = 1e-5 * np.maximum(1.0, np.abs(theta))
            for j in range(k):
                e = np.zeros(k)
                e[j] = h[j]
                H[:, j] = (fg(theta + e)[1] - fg(theta - e)[1]) / (2 * h[j])
            return (H + H.T) / 2
        h = 1e-4 * np.maximum(1.0, np.abs(theta))
        f0 = fg(theta)[0]
        eye = np.diag(h)
        for i in range(k):
            H[i, i] = (fg(theta + eye[i])[0] - 2 * f0 + fg(theta - eye[i])[0]) / h[i] ** 2
            for j in range(i):
                pp = fg(theta + eye[i] + eye[j])[0]
                pm = fg(theta + eye[i] - eye[j])[0]
                mp = fg(theta - eye[i] + eye[j])[0]
                mm = fg(theta - eye[i] - eye[j])[0]
                H[i, j] = H[j, i] = (pp - pm - mp + mm) / (4 * h[i] * h[j])
        return H

    def _newton_polish(
        self,
        fg: Callable[[np.ndarray], tuple[float, np.ndarray]],
        theta: np.ndarray,
        fun: float,
        hess: np.ndarray,
    ) -> tuple[np.ndarray, float, np.ndarray]:
        """Up to three Newton steps from the L-BFGS-B point, each kept only if it helps."""
        for _ in range(3):
            g = fg(theta)[1]
            if np.max(np.abs(g)) < 1e-12:
                break
            try:
                step = np.linalg.solve(hess, g)
            except np.linalg.LinAlgError:
                break
            if not np.all(np.isfinite(step)) or np.max(np.abs(step)) > 1.0:
                break
            cand = np.clip(theta - step, -_LOG_BOUND, _LOG_BOUND)
            f_cand, g_cand = fg(cand)
            if not (f_cand <= fun and np.max(np.abs(g_cand)) < np.max(np.abs(g))):
                break
            theta, fun = cand, f_cand
            hess = self._hessian(fg, theta)
        return theta, fun, hess

    def _set_covariance(self, hess_total: np.ndarray, params: np.ndarray) -> None:
        """Covariance from the Hessian of the total objective in log-parameters."""
        names = list(self._param_names)
        cov_theta = inverse_information(
            hess_total,
            type(self).__name__,
            "Try penalizer=0.001 or check that the data identify every parameter.",
        )
        self.log_params_covariance_ = cov_theta
        cov = cov_theta * np.outer(params, params)
        self.covariance_ = pd.DataFrame(cov, index=names, columns=names)
        se_theta = np.sqrt(np.clip(np.diag(cov_theta), 0, None))
        self.standard_errors_ = pd.Series(params * se_theta, index=names, name="se(coef)")
        z = stats.norm.ppf(0.975)
        self.confidence_intervals_ = pd.DataFrame(
            {
                "lower 95%": np.exp(np.log(params) - z * se_theta),
                "upper 95%": np.exp(np.log(params) + z * se_theta),
            },
            index=names,
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
        self, n_draws: int, seed: int | np.random.Generator | None = None
    ) -> np.ndarray:
        """Draw parameter vectors from the asymptotic normal of the log-parameters.

        Returns an array of shape ``(n_draws, k)`` of natural parameters (columns in
        ``_param_names`` order); used for parametric-bootstrap prediction intervals.
        """
        theta = np.log(self._params_array())
        rng = np.random.default_rng(seed)
        draws = rng.multivariate_normal(theta, self.log_params_covariance_, size=n_draws)
        return np.exp(draws)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "params_")


def _central_gradient(f: Callable[[np.ndarray], float], theta: np.ndarray) -> np.ndarray:
    """Central finite-difference gradient (for models without an analytic gradient)."""
    g = np.empty_like(theta)
    h = 1e-6 * np.maximum(1.0, np.abs(theta))
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = h[j]
        g[j] = (f(theta + e) - f(theta - e)) / (2 * h[j])
    return g


def check_horizon(t: Any, name: str = "t") -> np.ndarray:
    """Return ``t`` as a float array after checking it is finite and >= 0."""
    arr = np.asarray(t, dtype=float)
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        raise DataValidationError(
            "must be finite and >= 0 (a length of time in the data's unit)",
            column=name,
            n_rows=int(bad.sum()),
            example=float(arr[bad].flat[0]),
        )
    return arr


class TransactionModel(BTYDModel):
    """A BTYD model of purchase counts: the base plus the four standard predictions.

    A subclass declares, besides the :class:`BTYDModel` attributes, four pure
    functions of a parameter vector (``_param_names`` order) as staticmethods:

    ``_expected_purchases(params, *columns, t)``
        Conditional expected purchases in the next ``t`` periods, per row.
    ``_probability_alive(params, *columns)``
        P(active at the end of the observation), per row.
    ``_expected_purchases_new(params, t)``
        Expected purchases in ``(0, t]`` of a new customer (t broadcasts).
    ``_probability_of_purchases(params, x, t)``
        P(X(t) = x) for a new customer (x, t broadcast).

    and gets ``expected_purchases``, ``probability_alive``,
    ``expected_purchases_new_customer`` and ``probability_of_purchases``, which check
    the fit and inputs and evaluate each distinct row once.
    """

    _expected_purchases: ClassVar[Callable[..., np.ndarray]]
    _probability_alive: ClassVar[Callable[..., np.ndarray]]
    _expected_purchases_new: ClassVar[Callable[..., np.ndarray]]
    _probability_of_purchases: ClassVar[Callable[..., np.ndarray]]

    # ---------------------------------------------------------------- predictions
    def expected_purchases(self, data: Any, t: float) -> Any:
        """Expected repeat purchases of each customer in the next ``t`` periods (conditional).

        Parameters
        ----------
        data : pandas.DataFrame, mapping or 2-d array
            RFM summary (``frequency``, ``recency``, ``T``) in the fit's time unit.
        t : float
            Length of the future period (>= 0).

        Returns
        -------
        pandas.Series or ndarray
            A Series on ``data``'s index for a frame, an array otherwise. Each
            distinct (frequency, recency, T) is evaluated once.
        """
        t_arr = check_horizon(t)
        if t_arr.ndim != 0:
            raise DataValidationError("expected a single horizon t; call once per horizon")
        rows = self._rows(data)
        values = type(self)._expected_purchases(self._params_array(), *rows.columns, float(t_arr))
        return rows.expand(values, name="expected_purchases")

    def probability_alive(self, data: Any) -> Any:
        """Probability that each customer is still active at the end of the data (age T).

        Returns a Series on ``data``'s index for a frame, an array otherwise.
        """
        rows = self._rows(data)
        values = type(self)._probability_alive(self._params_array(), *rows.columns)
        return rows.expand(values, name="probability_alive")

    def expected_purchases_new_customer(self, t: float | np.ndarray) -> np.ndarray | float:
        """Expected repeat purchases in the first ``t`` periods of a newly acquired customer."""
        t_arr = check_horizon(t)
        values = type(self)._expected_purchases_new(self._params_array(), t_arr)
        return float(values) if np.ndim(values) == 0 else values

    def probability_of_purchases(
        self, x: int | np.ndarray, t: float | np.ndarray
    ) -> np.ndarray | float:
        """P(X(t) = x): probability of exactly ``x`` repeat purchases by a new customer in ``t``.

        ``x`` and ``t`` broadcast against each other.
        """
        x_arr = np.asarray(x, dtype=float)
        bad = ~np.isfinite(x_arr) | (x_arr < 0) | (x_arr != np.floor(x_arr))
        if bad.any():
            raise DataValidationError(
                "must be whole numbers >= 0",
                column="x",
                n_rows=int(bad.sum()),
                example=float(x_arr[bad].flat[0]),
            )
        t_arr = check_horizon(t)
        values = type(self)._probability_of_purchases(self._params_array(), x_arr, t_arr)
        return float(values) if np.ndim(values) == 0 else values
