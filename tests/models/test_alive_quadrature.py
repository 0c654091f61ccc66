"""The quadrature fallback of the (B)G/NBD expectations against exact values.

The reference numbers are the closed form C/(a-1) [1 - (1-z)^(a-1) 2F1(C - shape, a-1; C; z)]
(FHL 2005 eq. 10 before the P(alive) factor, C = a + b - 1, z = t/(rate + t)) evaluated
with 60-digit arithmetic (mpmath) once, outside the test suite.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.special import hyp2f1

from clvml.exceptions import ConvergenceWarning
from clvml.models.btyd._special import alive_purchases_quadrature
from clvml.models.btyd.alive_quadrature import _integrate
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


# concentrated Beta posteriors (the Gauss-Hermite rule in logit p); the first two are the
# fit of issue #15's world where every customer has frequency 10,000 (a ~ 1e5, b ~ 1e9:
# scipy's hyp2f1 fails there); 60-digit closed form (mpmath, maxterms 1e7)
EXACT_CONCENTRATED = [
    ((10288.25, 52.35, 86699.63, 940139658.35, 52.0), 6618.1990395872537951428160888214819),
    ((10288.25, 52.35, 86699.63, 940139658.35, 1.0), 194.75795813837256939677096056290815),
    ((150.0, 3.0, 120.0, 400.0, 10.0), 4.3613445378151260504201680672266760765),
    ((2.5, 0.7, 1e5, 1e5, 30.0), 1.9991704589362257421836895437666946173),
]


@pytest.mark.parametrize(("args", "exact"), EXACT + EXACT_CONCENTRATED)
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


def test_concentrated_rule_agrees_with_the_panels():
    # the Gauss-Hermite rule for Beta(a, b) with a, b >= 100 against the decade panels
    # (themselves checked against 60-digit values above), over 12 orders of magnitude
    rng = np.random.default_rng(17)
    n = 120
    a = 100.0 * 10 ** rng.uniform(0, 4, n)
    b = 10 ** rng.uniform(2, 10, n)
    shape = 10 ** rng.uniform(-1, 4.5, n)
    rate = 10 ** rng.uniform(-2, 3, n)
    t = 10 ** rng.uniform(-2, 2.5, n)
    fast = alive_purchases_quadrature(shape, rate, a, b, t)
    assert np.isfinite(fast).all()
    assert_allclose(fast, _integrate(shape, rate, a, b, t), rtol=1e-11)
    # the same rows one by one and in one call give the same numbers
    assert_allclose(alive_purchases_quadrature(shape[:5], rate[:5], a[:5], b[:5], t[:5]), fast[:5])


def test_every_customer_with_frequency_10000_takes_the_cheap_rule(monkeypatch):
    # issue #15: the fit lands at a ~ 1e5, b ~ 1e9; every expectation must come from the
    # Gauss-Hermite rule (the decade panels cost ~16 ms a row: hours at 1M customers)
    from clvml.models.btyd import BetaGeo
    from clvml.models.btyd import alive_quadrature as aq

    rng = np.random.default_rng(0)
    T = rng.uniform(40.0, 52.0, 300)
    data = pd.DataFrame({"frequency": 10_000.0, "recency": T - rng.uniform(0.0, 0.3, 300), "T": T})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = BetaGeo().fit(data)
    assert model.params_["a"] > 1e3 and model.params_["b"] > 1e6
    expected = model.expected_purchases(data, 52.0)

    def no_panels(*args):
        raise AssertionError("the panels were used")

    monkeypatch.setattr(aq, "_integrate", no_panels)
    again = model.expected_purchases(data, 52.0)
    assert_allclose(again, expected, rtol=0)
    assert np.isfinite(expected).all() and (expected >= 0).all()
    # and the answer is the panels' (the exact rule) to rounding
    monkeypatch.undo()
    params = model._params_array()
    r, alpha, a, b = params
    x, t_x, T_ = (data[c].to_numpy()[:40] for c in ("frequency", "recency", "T"))
    panels = _integrate(r + x, alpha + T_, np.full(x.size, a), b + x, np.full(x.size, 52.0))
    palive = bgnbd_probability_alive(params, x, t_x, T_)
    assert_allclose(expected.to_numpy()[:40], panels * palive, rtol=1e-11)


def test_both_beta_shapes_near_zero_give_the_two_point_limit():
    """a = 7e-17, b = 7e-16 (a covariate BG/NBD on 300 customers) made betaincinv give NaN.

    As a, b -> 0 with b / a fixed, Beta(a, b) tends to the two-point law with mass
    a / (a + b) at p = 1 and the rest at p = 0, whose expectation of g is exact:
    g(1) a / (a + b) + g(0) b / (a + b), g(0) = shape * k.
    """
    s, rate, t = 0.4488587845924695, 26.3744976058559, 26.0
    a = np.array([7.235351056250975e-17, 1e-20, 3e-14])
    b = np.array([7.235524197333033e-16, 5e-20, 3e-13])
    got = alive_purchases_quadrature(np.full(3, s), np.full(3, rate), a, b, np.full(3, t))
    k = t / rate
    g1, g0 = 1.0 - (1.0 + k) ** -s, s * k
    limit = (g1 * a + g0 * b) / (a + b)
    np.testing.assert_allclose(got, limit, rtol=1e-6)
    # one shape small and the other not: no scaling (the law is not two-point)
    one = alive_purchases_quadrature(np.array([s]), np.array([rate]), np.array([1e-14]),
                                     np.array([5.0]), np.array([t]))  # fmt: skip
    assert np.isfinite(one).all() and abs(one[0] - g0) < 1e-6 * g0
