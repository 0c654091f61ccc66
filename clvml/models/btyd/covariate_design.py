r"""The covariates of the BTYD covariate models: choosing, checking, mapping back.

:func:`covariate_spec` turns an estimator's ``covariates`` parameter into columns and a
link mask, :func:`covariate_values` checks and reads them, and :func:`reported_parameters`
maps the standardised fit (baseline at mean covariates, per-SD coefficients) to the
reported one (baseline at covariates 0, per-unit coefficients) with its covariance, by
the exact linear map described in :mod:`clvml.models.btyd.covariates`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from clvml.exceptions import DataValidationError

__all__ = [
    "RFM_COLUMNS",
    "CovariateWarning",
    "covariate_spec",
    "covariate_values",
    "reported_parameters",
    "stack_columns",
]

#: Columns never taken as covariates when ``covariates=None``.
RFM_COLUMNS: frozenset[str] = frozenset({"frequency", "recency", "T", "monetary_value"})


class CovariateWarning(UserWarning):
    """A covariate was set aside (e.g. constant over the fitted customers)."""


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value (readable in error messages)."""
    return value.item() if isinstance(value, np.generic) else value


def stack_columns(columns: Sequence[np.ndarray], n: int) -> np.ndarray:
    """Covariate columns as an ``(n, k)`` matrix."""
    return np.column_stack(columns) if len(columns) else np.zeros((n, 0))


def covariate_spec(
    spec: Sequence[str] | Mapping[str, Sequence[str]] | str | None,
    link_names: Sequence[str],
    owner: str,
    frame: pd.DataFrame,
    weights: Any,
) -> tuple[list[str], np.ndarray, bool]:
    """Covariate columns, the (links x columns) link mask, and whether they were named.

    ``spec`` is the estimator's ``covariates`` parameter; ``weights`` (when a column
    name) is never taken as a covariate.
    """
    if spec is None:
        skip = set(RFM_COLUMNS) | ({weights} if isinstance(weights, str) else set())
        found = [
            str(c)
            for c in frame.columns
            if str(c) not in skip
            and (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))
        ]
        return found, np.ones((len(link_names), len(found)), dtype=bool), False
    if isinstance(spec, str):
        spec = [spec]
    if isinstance(spec, Mapping):
        unknown = sorted(set(map(str, spec)) - set(link_names))
        if unknown:
            raise ValueError(
                f"covariates maps {unknown}, which are not parameters linked to covariates "
                f"in {owner}; expected keys among {link_names}"
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


def covariate_values(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
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


def reported_parameters(
    internal: np.ndarray,
    cov: np.ndarray,
    free: np.ndarray,
    means: np.ndarray,
    scales: np.ndarray,
    links: Sequence[tuple[str, int, int]],
    names: Sequence[str],
) -> tuple[dict[str, float], pd.DataFrame, pd.Series, pd.DataFrame]:
    """``params_``, covariance, standard errors and 95% intervals of the reported parameters.

    ``internal`` is (baseline at mean covariates, per-SD coefficients), ``cov`` the
    covariance of its free entries in (log baseline, coefficients); ``names`` are the
    baseline names followed by the coefficient names (all entries, free or not).
    """
    nb, k = len(names) - len(links) * means.size, means.size

    # linear map from the internal (log theta0 at the means, gamma per SD) to the reported
    # (log theta0 at x = 0, gamma per unit), restricted to the free entries
    n_full = free.size
    J = np.zeros((n_full, n_full))
    J[:nb, :nb] = np.eye(nb)
    gam_z = internal[nb:].reshape(len(links), k)
    log_base = np.log(internal[:nb]).copy()
    for li, (_, bi, sign) in enumerate(links):
        block = slice(nb + li * k, nb + (li + 1) * k)
        J[bi, block] = -sign * means / scales
        J[block, block] = np.diag(1.0 / scales)
        log_base[bi] -= sign * float(gam_z[li] @ (means / scales))
    J = J[np.ix_(free, free)]
    gam_raw = (gam_z / scales).ravel() if k else np.zeros(0)
    public = np.concatenate([np.exp(log_base), gam_raw])[free]
    names = [nm for nm, f in zip(names, free, strict=True) if f]
    cov_pub = J @ cov @ J.T
    se_log = np.sqrt(np.clip(np.diag(cov_pub), 0, None))
    is_base = np.arange(len(names)) < nb
    d = np.where(is_base, public, 1.0)  # delta method for the positive parameters
    params = dict(zip(names, map(float, public), strict=True))
    covariance = pd.DataFrame(cov_pub * np.outer(d, d), index=names, columns=names)
    se = pd.Series(se_log * d, index=names, name="se(coef)")
    zq = stats.norm.ppf(0.975)
    lower = np.where(is_base, np.exp(np.log(np.abs(public)) - zq * se_log), public - zq * se_log)
    upper = np.where(is_base, np.exp(np.log(np.abs(public)) + zq * se_log), public + zq * se_log)
    intervals = pd.DataFrame({"lower 95%": lower, "upper 95%": upper}, index=names)
    return params, covariance, se, intervals
