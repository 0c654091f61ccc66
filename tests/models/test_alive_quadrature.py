"""The quadrature fallback of the (B)G/NBD expectations against exact values.

The reference numbers are the closed form C/(a-1) [1 - (1-z)^(a-1) 2F1(C - shape, a-1; C; z)]
(FHL 2005 eq. 10 before the P(alive) factor, C = a + b - 1, z = t/(rate + t)) evaluated
with 60-digit arithmetic (mpmath) once, outside the test suite.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import hyp2f1

from clvml.models.btyd._special import alive_purchases_quadrature
from clvml.models.btyd.beta_geo import (
    bgnbd_conditional_expected_purchases,
    bgnbd_probability_alive,
)
from clvml.models.btyd.modified_beta_geo import (
    mbgnbd_conditional_expected_purchases,
    mbgnbd_probability_alive,
)

# (shape, rate, a, b, t) -> 60-digit value of the closed form
EXACT = [
    # BG/NBD (r, alpha, a, b) = (583, 1, 4, 1), x = 0, T = 0.25: the hypothesis failure of #17
    ((583.0, 1.25, 4.0, 1.0, 2.0), 1.3333333233746269420784045225643827659),
    ((583.0, 1.25, 4.0, 1.0, 3.0), 1.3333333303826055137022433153277183504),
    # both density ends singular (a, b < 1)
    ((3.0, 1.0, 0.002, 0.002, 5.0), 7.9632014987220496903977981253),
    # Beta quantiles of tiny a are subnormal
    (
        (
            0.0010552530668868569,
            3155.612055150135,
            0.003514086137562725,
            419.6537775724759,
            0.012409701878479605,
        ),
        4.1498687853055205767927357999226587559e-09,
    ),
    # a sharp bend far below the Beta mass, and a large t / rate
    (
        (
            366.89650246094635,
            642.032687338903,
            0.0012252870113306428,
            151.99893376030442,
            771.2057170658261,
        ),
        440.26469146076886,
    ),
    (
        (
            6.633918380418473,
            0.04156428198829166,
            0.001761331668073649,
            0.0012565096061564738,
            75.79166280107815,
        ),
        4957.607062914762,
    ),
]


@pytest.mark.parametrize(("args", "exact"), EXACT)
def test_quadrature_matches_high_precision_closed_form(args, exact):
    value = alive_purchases_quadrature(*(np.array([v]) for v in args))
    assert_allclose(value, exact, rtol=1e-12)


def test_quadrature_matches_scipy_closed_form_on_a_grid():
    # where scipy's Euler-transformed series is well conditioned (A = C - shape >= 0)
    rng = np.random.default_rng(3)
    n = 300
    a = 10 ** rng.uniform(0.05, 2.5, n)
    b = 10 ** rng.uniform(-2, 3, n)
    shape = rng.uniform(0.01, 1.0, n) * (a + b - 1)
    rate = 10 ** rng.uniform(-2, 3, n)
    t = 10 ** rng.uniform(-2, 3, n)
    C = a + b - 1
    z = t / (rate + t)
    with np.errstate(invalid="ignore", over="ignore"):
        closed = C / (a - 1) * (1 - (1 - z) ** (a - 1) * hyp2f1(C - shape, a - 1, C, z))
    ok = np.isfinite(closed) & (np.abs(a - 1) > 1e-2)
    assert ok.sum() > 250
    value = alive_purchases_quadrature(shape, rate, a, b, t)
    assert_allclose(value[ok], closed[ok], rtol=1e-10)


def test_hypothesis_failure_of_issue_17_is_monotone_and_exact():
    params = np.array([583.0, 1.0, 4.0, 1.0])
    e2, e3 = (bgnbd_conditional_expected_purchases(params, 0.0, 0.0, 0.25, t) for t in (2, 3))
    assert_allclose([e2, e3], [EXACT[0][1], EXACT[1][1]], rtol=1e-12)
    assert e3 >= e2


@pytest.mark.parametrize(
    ("expected", "alive", "C"),
    [
        (bgnbd_conditional_expected_purchases, bgnbd_probability_alive, 206 + 865 + 289 - 1),
        (mbgnbd_conditional_expected_purchases, mbgnbd_probability_alive, 206 + 865 + 289),
    ],
)
def test_expectation_where_every_hyp2f1_fails(expected, alive, C):
    # (r, alpha, a, b) = (138, 1, 206, 865), x = 289, t_x = T = 0.25, t = 167: scipy's
    # hyp2f1 gives nan in both forms; (1 - z)^(a - 1) is 1e-436, so the bracket is 1 and
    # the expectation of an active customer is C / (a - 1) to double precision
    params = np.array([138.0, 1.0, 206.0, 865.0])
    value = expected(params, 289.0, 0.25, 0.25, 167.0)
    assert_allclose(value, C / 205 * alive(params, 289.0, 0.25, 0.25), rtol=1e-13)
    assert expected(params, 289.0, 0.25, 0.25, 168.0) >= value


def test_quadrature_of_zero_horizon_is_zero():
    assert alive_purchases_quadrature(np.array([2.0]), 1.0, 3.0, 4.0, 0.0)[0] == 0.0
