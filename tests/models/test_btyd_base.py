"""The shared BTYD machinery: row compression and the finite-difference fallback path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from clvml.data.datasets import load_cdnow_summary
from clvml.exceptions import ConvergenceError, ConvergenceWarning
from clvml.models.btyd import BetaGeo
from clvml.models.btyd.base import compress_rows

values = st.sampled_from([0.0, 1.0, 2.0, 2.5, 30.43, -3.0, 1e300, np.nan, 7.0, 1e6])


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.tuples(values, values, values), min_size=1, max_size=60),
    integer_first=st.booleans(),
)
def test_compress_rows_rebuilds_the_table(rows, integer_first):
    table = np.array(rows, dtype=float)
    if integer_first:
        table[:, 0] = np.arange(len(rows)) % 3
    cols = tuple(table[:, j] for j in range(3))
    w = np.arange(1, len(rows) + 1, dtype=float)
    uniq, counts, inverse = compress_rows(cols, w)
    for u, c in zip(uniq, cols, strict=True):
        assert np.array_equal(u[inverse], c, equal_nan=True)
    expected = pd.DataFrame(table).drop_duplicates()
    assert len(uniq[0]) == len(expected)
    assert_allclose(counts.sum(), w.sum())
    assert np.all(counts > 0)


class _BetaGeoNumeric(BetaGeo):
    """BG/NBD declared without any analytic gradient: the base differentiates numerically."""

    _loglik_grad = None
    _weighted_loglik_and_grad = None


def test_finite_difference_path_matches_analytic_fit():
    data = load_cdnow_summary()
    analytic = BetaGeo().fit(data)
    numeric = _BetaGeoNumeric().fit(data)
    assert numeric.converged_
    assert_allclose(list(numeric.params_.values()), list(analytic.params_.values()), rtol=1e-5)
    assert_allclose(numeric.standard_errors_, analytic.standard_errors_, rtol=1e-3)


class _Hopeless(BetaGeo):
    """A likelihood that is -inf everywhere: no optimum exists."""

    _loglik_grad = None
    _weighted_loglik_and_grad = None

    @staticmethod
    def _loglik(params, x, t_x, T):
        return np.full(np.shape(x), -np.inf)


def test_non_finite_optimum_raises_convergence_error_with_advice():
    with pytest.raises(ConvergenceError, match="Try penalizer"):
        _Hopeless().fit(load_cdnow_summary())


def test_unconverged_fit_warns_with_advice():
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        fit = BetaGeo(max_iter=2).fit(load_cdnow_summary())
    assert not fit.converged_


def test_inverse_information_inverts_or_warns_with_a_pseudo_inverse():
    from clvml.models.btyd.base import inverse_information

    h = np.array([[4.0, 1.0], [1.0, 3.0]])
    np.testing.assert_allclose(inverse_information(h, "M", "") @ h, np.eye(2), atol=1e-12)
    singular = np.array([[1.0, 1.0], [1.0, 1.0]])
    with pytest.warns(ConvergenceWarning, match="M: the Hessian is singular.*try this"):
        cov = inverse_information(singular, "M", "try this")
    np.testing.assert_allclose(cov, np.linalg.pinv(singular))


def test_an_unidentified_parameter_gets_the_interval_zero_to_infinity_without_a_warning():
    # an exact Hessian that is nearly flat along one log-parameter (se(theta) ~ 1e4)
    import warnings

    from clvml.models.btyd.optimise import log_normal_summary

    params = np.array([0.5, 2.0])
    cov_theta = np.diag([0.01, 1e8])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, se, ci = log_normal_summary(params, cov_theta, ["r", "b"])
    assert ci.loc["b", "lower 95%"] == 0.0 and ci.loc["b", "upper 95%"] == np.inf
    z = 1.959963984540054
    assert np.isclose(ci.loc["r", "upper 95%"], 0.5 * np.exp(z * 0.1))
    assert np.isclose(se["r"], 0.05)
