r"""Contractual retention models with time-invariant customer covariates.

Customer :math:`i` with covariates :math:`x_i` (acquisition channel and plan as 0/1
columns, social engagement, sentiment, care contacts, ...) has its own beta mixing
distribution of the churn probability :math:`\theta`,

.. math:: \alpha_i = \alpha_0\, e^{\gamma_\alpha^\top x_i}, \qquad
          \beta_i = \beta_0\, e^{\gamma_\beta^\top x_i},

so a positive :math:`\gamma_\alpha` raises the mean churn probability
:math:`\alpha_i / (\alpha_i + \beta_i)` and a positive :math:`\gamma_\beta` lowers it
(the link of the BTYD covariate models, :mod:`clvml.models.btyd.covariates`, Fader &
Hardie's note 019, applied to the sBG / BdW mixing distribution). The BdW shape
:math:`c` is shared. At :math:`\gamma = 0` every customer has :math:`(\alpha_0,
\beta_0)` and the likelihood is exactly the plain model's.

Fitting follows :class:`~clvml.models.subscription._base.RetentionModel`: spells are
compressed to distinct ``(duration, censored, covariates)`` rows, the covariates centred
and scaled (weighted), the weighted mean negative log-likelihood plus ``penalizer *
(sum(base**2) + sum(gamma_z**2))`` minimised in (log baseline at mean covariates,
per-SD coefficients) from the plain model's estimate with the analytic gradient, and the
reported baseline (at ``x = 0``) and per-unit coefficients follow by the exact linear map
of :func:`~clvml.models.btyd.covariate_design.reported_parameters`, which also carries
the inverse observed information to their standard errors.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from threadpoolctl import threadpool_limits

from clvml.models.btyd.covariate_design import (
    CovariateWarning,
    covariate_spec,
    covariate_values,
    reported_parameters,
)
from clvml.models.btyd.optimise import (
    check_convergence,
    inverse_information,
    minimise,
)
from clvml.models.subscription import bdw_math, sbg_math
from clvml.models.subscription._base import RetentionModel
from clvml.models.subscription.bdw import BetaDiscreteWeibull
from clvml.models.subscription.bdw_math import log_survival_rows
from clvml.models.subscription.lifetime_math import check_tenure, expected_renewals
from clvml.models.subscription.sbg import ShiftedBetaGeometric
from clvml.models.subscription.spells import validate_spells

__all__ = [
    "BetaDiscreteWeibullCovariates",
    "ShiftedBetaGeometricCovariates",
    "covariate_loglik",
]

_SPELL_COLUMNS = ("duration", "censored", "weight")
_LINKS = ("alpha", "beta")


def _customer_params(
    base: np.ndarray, gamma: np.ndarray, z: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row ``alpha_i``, ``beta_i`` from the baseline and coefficients on ``z``."""
    a = base[0] * np.exp(z @ gamma[0]) if z.shape[1] else np.full(z.shape[0], base[0])
    b = base[1] * np.exp(z @ gamma[1]) if z.shape[1] else np.full(z.shape[0], base[1])
    return a, b


def covariate_loglik(
    kind: str,
    base: np.ndarray,
    gamma: np.ndarray,
    x: np.ndarray,
    duration: np.ndarray,
    censored: np.ndarray,
) -> np.ndarray:
    """Per-row log-likelihood of the covariate model (pure function).

    Parameters
    ----------
    kind : {"sbg", "bdw"}
        The retention model.
    base : numpy.ndarray
        ``(alpha0, beta0)`` or ``(alpha0, beta0, c)``: the parameters at ``x = 0``.
    gamma : numpy.ndarray
        Shape ``(2, k)``: the coefficients of ``alpha`` and ``beta`` on the ``k`` columns.
    x : numpy.ndarray
        Shape ``(n, k)``: the covariates.
    duration, censored : numpy.ndarray
        The spells (see :mod:`clvml.models.subscription.spells`).
    """
    base = np.asarray(base, dtype=float)
    a, b = _customer_params(base, np.asarray(gamma, dtype=float), np.asarray(x, dtype=float))
    if kind == "sbg":
        return sbg_math.sbg_loglik_rows(a, b, duration, censored)
    return bdw_math.bdw_loglik_rows(a, b, float(base[2]), duration, censored)


def _distinct_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a float matrix and each row's index among them.

    Each column is factorised (hashing, linear time) and the codes combined into one
    integer key; ``np.unique(axis=0)`` (a sort of row views, ~1 s per 100k rows) only when
    the product of the columns' cardinalities would overflow.
    """
    codes, sizes = [], []
    for col in rows.T:
        c, levels = pd.factorize(col)
        codes.append(c)
        sizes.append(max(len(levels), 1))
    if math.prod(sizes) < 2**62:
        key = np.ravel_multi_index(codes, sizes) if codes else np.zeros(len(rows), np.int64)
        _, first, inv = np.unique(key, return_index=True, return_inverse=True)
        return rows[first], inv.ravel()
    uniq, inv = np.unique(rows, axis=0, return_inverse=True)
    return uniq, inv.ravel()


class _RetentionCovariates(BaseEstimator):
    """Shared fitting and predictions of the covariate retention models."""

    _kind: ClassVar[str]
    _base_names: ClassVar[tuple[str, ...]]
    _plain: ClassVar[type[RetentionModel]]

    def __init__(
        self,
        covariates: Sequence[str] | Mapping[str, Sequence[str]] | str | None = None,
        penalizer: float = 0.0,
        max_iter: int = 2000,
    ) -> None:
        self.covariates = covariates
        self.penalizer = penalizer
        self.max_iter = max_iter

    # ---------------------------------------------------------------- likelihood
    def _rows(
        self, base: np.ndarray, a: np.ndarray, b: np.ndarray, t: np.ndarray, cens: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-row log-likelihood and its gradient in (alpha_i, beta_i[, c])."""
        if self._kind == "sbg":
            return (
                sbg_math.sbg_loglik_rows(a, b, t, cens),
                sbg_math.sbg_loglik_rows_grad(a, b, t, cens),
            )
        c = float(base[2])
        return (
            bdw_math.bdw_loglik_rows(a, b, c, t, cens),
            bdw_math.bdw_loglik_rows_grad(a, b, c, t, cens),
        )

    def _objective(
        self, z: np.ndarray, t: np.ndarray, cens: np.ndarray, wn: np.ndarray, free: np.ndarray
    ) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
        nb, k = len(self._base_names), z.shape[1]
        pen = float(self.penalizer)
        full = np.zeros(free.size)

        def fg(theta: np.ndarray) -> tuple[float, np.ndarray]:
            full[free] = theta
            base = np.exp(full[:nb])
            gamma = full[nb:].reshape(2, k)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                a, b = _customer_params(base, gamma, z)
                ll, g = self._rows(base, a, b, t, cens)
                gam = gamma.ravel()
                val = -float(wn @ ll) + pen * (float(base @ base) + float(gam @ gam))
                ga, gb = g[:, 0] * a * wn, g[:, 1] * b * wn
                grad = np.empty(free.size)
                grad[0], grad[1] = ga.sum(), gb.sum()
                if nb == 3:
                    grad[2] = float(wn @ g[:, 2]) * base[2]
                grad[nb : nb + k] = ga @ z
                grad[nb + k :] = gb @ z
                grad = -grad
                grad[:nb] += 2 * pen * base * base
                grad[nb:] += 2 * pen * full[nb:]
            grad = grad[free]
            if not (np.isfinite(val) and np.all(np.isfinite(grad))):
                return 1e300, np.zeros_like(theta)
            return val, grad

        return fg

    # ---------------------------------------------------------------- fit
    def fit(self, spells: pd.DataFrame, weights: Any = None) -> _RetentionCovariates:
        """Fit on spells (``duration``, ``censored``, optional ``weight``) with covariate columns.

        Parameters
        ----------
        spells : pandas.DataFrame
            One row per spell; the covariates are the columns named by ``covariates``
            (``None``: every numeric or boolean column besides ``duration``,
            ``censored`` and the weights). Encode categories (channel, plan) as 0/1
            columns.
        weights : array-like or str, optional
            Customers each row stands for, or the name of the column holding them.

        Returns
        -------
        self

        Raises
        ------
        DataValidationError
            The spells or a covariate break the contract (missing, non-numeric, NaN).
        """
        if not (np.isfinite(self.penalizer) and self.penalizer >= 0):
            raise ValueError(f"penalizer must be a finite number >= 0, got {self.penalizer!r}")
        owner = type(self).__name__
        dur, cens, w = validate_spells(spells, weights)
        skip = [c for c in (*_SPELL_COLUMNS, weights) if isinstance(c, str)]
        cols, mask, _ = covariate_spec(
            self.covariates, _LINKS, owner, spells.drop(columns=skip, errors="ignore"), None
        )
        for c in cols:
            if c in skip:
                raise ValueError(f"{c!r} is a column of the spells, not a covariate")
        x = covariate_values(spells, cols)
        keep = w > 0
        x, dur, cens, w = x[keep], dur[keep], cens[keep], w[keep]
        means = (w @ x) / w.sum() if cols else np.zeros(0)
        scales = np.sqrt((w @ (x - means) ** 2) / w.sum()) if cols else np.zeros(0)
        constant = scales <= 1e-12 * np.maximum(1.0, np.abs(means))
        if constant.any():
            dropped = [c for c, k in zip(cols, constant, strict=True) if k]
            warnings.warn(
                f"{owner}: covariate(s) {dropped} are constant over the fitted spells and "
                "were set aside",
                CovariateWarning,
                stacklevel=2,
            )
            cols = [c for c, k in zip(cols, constant, strict=True) if not k]
            mask, x = mask[:, ~constant], x[:, ~constant]
            means, scales = means[~constant], scales[~constant]
        k = len(cols)
        z = (x - means) / scales if k else np.zeros((dur.size, 0))
        rows = np.column_stack([dur, cens.astype(float), z])
        uniq, inv = _distinct_rows(rows)
        counts = np.bincount(inv, weights=w, minlength=len(uniq))
        t_u, c_u, z_u = uniq[:, 0], uniq[:, 1].astype(bool), uniq[:, 2:]
        nb = len(self._base_names)
        free = np.r_[np.ones(nb, dtype=bool), mask.ravel()]
        names = [*self._base_names, *(f"{ln}:{c}" for ln in _LINKS for c in cols)]
        plain = self._plain(penalizer=self.penalizer, max_iter=self.max_iter)
        plain.fit(pd.DataFrame({"duration": dur, "censored": cens, "weight": w}))
        theta0 = np.r_[np.log(plain._params()), np.zeros(int(mask.sum()))]
        fg = self._objective(z_u, t_u, c_u, counts / counts.sum(), free)
        free_names = [nm for nm, f in zip(names, free, strict=True) if f]
        with threadpool_limits(limits=1, user_api="blas"):
            theta, _, hess, res = minimise(
                fg, theta0, max_iter=self.max_iter, owner=owner, analytic=True
            )
        self.converged_ = check_convergence(fg, theta, res, owner, free_names, ", fewer covariates")
        self.n_iter_ = int(res.nit)
        n = float(counts.sum())
        full = np.zeros(free.size)
        full[free] = theta
        internal = np.r_[np.exp(full[:nb]), full[nb:]]
        cov_theta = inverse_information(
            hess * n, owner, "Check that the data show cancellations; try fewer covariates."
        )
        links = [(ln, i, 1) for i, ln in enumerate(_LINKS)]
        with np.errstate(over="ignore"):  # an unidentified parameter's interval is (0, inf)
            reported = reported_parameters(internal, cov_theta, free, means, scales, links, names)
        self.params_, self.covariance_, self.standard_errors_, self.confidence_intervals_ = reported
        self.internal_params_ = internal
        self.internal_covariance_ = cov_theta
        self.covariate_columns_ = list(cols)
        self.covariate_means_ = means
        self.covariate_scales_ = scales
        self.link_mask_ = mask
        self.n_customers_ = n
        self.n_distinct_ = len(uniq)
        self.log_likelihood_ = float(counts @ self._rows(*self._unpack(z_u), t_u, c_u)[0])
        p = len(self.params_)
        self.aic_ = 2 * p - 2 * self.log_likelihood_
        self.bic_ = p * math.log(n) - 2 * self.log_likelihood_
        return self

    # ---------------------------------------------------------------- results
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "params_")

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit first."
            )

    def _unpack(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        nb = len(self._base_names)
        base = self.internal_params_[:nb]
        gamma = self.internal_params_[nb:].reshape(2, z.shape[1])
        a, b = _customer_params(base, gamma, z)
        return base, a, b

    def _z(self, frame: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"expected a pandas DataFrame, got {type(frame).__name__}")
        cols = self.covariate_columns_
        if not cols:
            return np.zeros((len(frame), 0))
        x = covariate_values(frame, cols)
        return (x - self.covariate_means_) / self.covariate_scales_

    @property
    def summary(self) -> pd.DataFrame:
        """Parameter table: ``coef``, ``se(coef)``, ``z``, ``p`` (Wald, coefficients only),
        ``lower 95%``, ``upper 95%``."""
        self._check_fitted()
        out = pd.DataFrame({"coef": pd.Series(self.params_)})
        out["se(coef)"] = self.standard_errors_
        is_coef = out.index.str.contains(":")
        z = np.where(is_coef, out["coef"] / out["se(coef)"].where(out["se(coef)"] > 0), np.nan)
        out["z"] = z
        out["p"] = np.where(is_coef, 2 * stats.norm.sf(np.abs(z)), np.nan)
        return out.join(self.confidence_intervals_)

    def covariate_tests(self, spells: pd.DataFrame, weights: Any = None) -> pd.DataFrame:
        """Likelihood-ratio test of each covariate: the fit refitted without it.

        Parameters
        ----------
        spells : pandas.DataFrame
            The spells this model was fitted on (refits must see the same data).
        weights : array-like or str, optional
            As in :meth:`fit`.

        Returns
        -------
        pandas.DataFrame
            Indexed by covariate column: ``statistic`` ``2 (LL - LL_without)``, ``df`` (the
            coefficients it has) and ``p_value`` (chi-squared); with a penalty the test is
            approximate (both fits penalised alike).
        """
        self._check_fitted()
        cols = self.covariate_columns_
        rows = {}
        for j, col in enumerate(cols):
            links = {
                ln: [c for k, c in enumerate(cols) if self.link_mask_[li, k] and c != col]
                for li, ln in enumerate(_LINKS)
            }
            reduced = clone(self).set_params(covariates=links)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CovariateWarning)
                reduced.fit(spells, weights)
            df = int(self.link_mask_[:, j].sum())
            stat = max(0.0, 2.0 * (self.log_likelihood_ - reduced.log_likelihood_))
            rows[col] = {"statistic": stat, "df": df, "p_value": float(stats.chi2.sf(stat, df))}
        return pd.DataFrame.from_dict(rows, orient="index")

    def customer_params(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Each row's ``alpha``, ``beta`` (and the shared ``c``) from its covariates."""
        base, a, b = self._unpack(self._z(frame))
        out = pd.DataFrame({"alpha": a, "beta": b}, index=frame.index)
        if len(base) == 3:
            out["c"] = float(base[2])
        return out

    def log_likelihood(self, spells: pd.DataFrame, weights: Any = None) -> float:
        """Weighted log-likelihood of ``spells`` (with their covariates) at the estimate."""
        dur, cens, w = validate_spells(spells, weights)
        base, a, b = self._unpack(self._z(spells))
        return float(w @ self._rows(base, a, b, dur, cens)[0])

    def renewal_probability(self, frame: pd.DataFrame, n: Any) -> np.ndarray:
        """Probability that each customer, active for ``n`` periods, renews at the end of
        period ``n`` (``n`` broadcast against the rows of ``frame``)."""
        base, a, b = self._unpack(self._z(frame))
        n = check_tenure(n)
        if self._kind == "sbg":
            return sbg_math.sbg_retention(a, b, n)
        ls = bdw_math.bdw_log_survival
        c = float(base[2])
        return np.exp(ls(a, b, c, n) - ls(a, b, c, n - 1.0))

    def discounted_expected_residual_lifetime(
        self, frame: pd.DataFrame, n: Any, discount_rate: float
    ) -> np.ndarray:
        """DERL of each customer, active for ``n`` periods (see the plain models)."""
        base, a, b = self._unpack(self._z(frame))
        if self._kind == "sbg":
            return sbg_math.sbg_derl(a, b, n, discount_rate)
        return bdw_math.bdw_derl(a, b, float(base[2]), n, discount_rate)

    def expected_renewals(self, frame: pd.DataFrame, n: Any, horizon: Any) -> np.ndarray:
        """Expected billings of each customer in the next ``horizon`` periods, undiscounted."""
        base, a, b = self._unpack(self._z(frame))
        c = np.full(a.shape, float(base[2]) if len(base) == 3 else 1.0)
        n = np.broadcast_to(np.asarray(n, dtype=float), a.shape)
        return expected_renewals(log_survival_rows, np.column_stack([a, b, c]), n, horizon)

    def customer_lifetime_value(
        self, frame: pd.DataFrame, n: Any, discount_rate: float, price: Any, margin: Any = 1.0
    ) -> np.ndarray:
        """Residual CLV of each customer: ``DERL x margin x price``."""
        derl = self.discounted_expected_residual_lifetime(frame, n, discount_rate)
        return derl * np.asarray(margin, dtype=float) * np.asarray(price, dtype=float)


class ShiftedBetaGeometricCovariates(_RetentionCovariates):
    """Shifted-beta-geometric model with covariates on ``alpha`` and ``beta``
    (see the module docstring).

    Parameters
    ----------
    covariates : list of str, dict, str or None, default None
        The covariate columns; a dict ``{"alpha": [...], "beta": [...]}`` links columns to
        one parameter only; ``None`` takes every numeric column besides the spells'.
    penalizer : float, default 0.0
        L2 penalty on the baseline (at mean covariates) and the per-SD coefficients.
    max_iter : int, default 2000
        Maximum L-BFGS-B iterations.

    Attributes
    ----------
    params_ : dict of str to float
        ``alpha``, ``beta`` (at covariates 0) and ``"<alpha|beta>:<column>"`` per unit.
    covariance_, standard_errors_, confidence_intervals_
        From the inverse observed information (delta method for the baseline).
    log_likelihood_, n_customers_, n_distinct_, converged_, aic_, bic_
        As for :class:`~clvml.models.subscription.ShiftedBetaGeometric`.
    covariate_columns_, covariate_means_, covariate_scales_, internal_params_
        The fitted covariates, their weighted means and SDs, and the internal vector
        (baseline at mean covariates, per-SD coefficients).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> x = rng.integers(0, 2, 5000)
    >>> theta = rng.beta(1.0 * np.exp(0.8 * x), 3.0)
    >>> t = rng.geometric(theta)
    >>> spells = pd.DataFrame({"duration": np.minimum(t, 12), "censored": t > 12, "x": x})
    >>> m = ShiftedBetaGeometricCovariates(covariates={"alpha": ["x"]}).fit(spells)
    >>> round(m.params_["alpha:x"], 1)
    0.8
    """

    _kind: ClassVar[str] = "sbg"
    _base_names: ClassVar[tuple[str, ...]] = ("alpha", "beta")
    _plain: ClassVar[type[RetentionModel]] = ShiftedBetaGeometric


class BetaDiscreteWeibullCovariates(_RetentionCovariates):
    """Beta-discrete-Weibull model with covariates on ``alpha`` and ``beta`` and a shared
    shape ``c`` (parameters as :class:`ShiftedBetaGeometricCovariates`, plus ``c``)."""

    _kind: ClassVar[str] = "bdw"
    _base_names: ClassVar[tuple[str, ...]] = ("alpha", "beta", "c")
    _plain: ClassVar[type[RetentionModel]] = BetaDiscreteWeibull
