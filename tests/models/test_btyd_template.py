"""One fit for every BTYD model: the template of ``BTYDModel.fit`` and its hooks.

The covariate models run the base class's fit (no copy of it): they honour
``initial_params`` and raise the same two convergence warnings as the plain models.
Renamed parameters (``max_iter``, ``random_state``) keep their old spelling working with
a ``DeprecationWarning`` without becoming parameters of their own.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone

from clvml.data.datasets import load_cdnow_summary
from clvml.exceptions import ConvergenceWarning
from clvml.models.btyd import (
    BetaGeo,
    BetaGeoBeta,
    BetaGeoBetaBinom,
    BetaGeoCovariates,
    GammaGamma,
    GammaGammaCovariates,
    ModifiedBetaGeo,
    ParetoNBD,
)
from clvml.models.btyd import base as base_module
from clvml.models.btyd.optimise import LOG_BOUND, check_convergence

ALL_MODELS = [
    BetaGeo,
    ModifiedBetaGeo,
    ParetoNBD,
    BetaGeoBetaBinom,
    GammaGamma,
    BetaGeoCovariates,
    GammaGammaCovariates,
]


@pytest.fixture(scope="module")
def cdnow_with_noise(cdnow_summary_with_spend) -> pd.DataFrame:
    """The CDNOW summary with spend and two covariates unrelated to it (noise, flag)."""
    data = cdnow_summary_with_spend
    rng = np.random.default_rng(11)
    return data.assign(noise=rng.normal(size=len(data)), flag=(rng.random(len(data)) < 0.4))


@pytest.mark.parametrize(
    ("model", "columns"),
    [
        (BetaGeoCovariates(covariates={"alpha": ["noise"], "b": ["flag"]}), None),
        (
            GammaGammaCovariates(covariates=["noise"]),
            ["frequency", "monetary_value", "noise"],
        ),
    ],
)
def test_covariate_models_honour_initial_params(cdnow_with_noise, model, columns):
    data = cdnow_with_noise if columns is None else cdnow_with_noise[columns]
    default = clone(model).fit(data)
    # starting at the optimum (reported parameterisation: baseline at covariates 0,
    # coefficients per unit), the optimiser has nothing left to do
    started = clone(model).set_params(initial_params=dict(default.params_)).fit(data)
    assert started.n_iter_ <= 2 < default.n_iter_
    for name, value in default.params_.items():
        assert_allclose(started.params_[name], value, rtol=1e-6, atol=1e-8)
    # baseline only: coefficients start at 0 and the fit still finds the same optimum
    base = {k: v for k, v in default.params_.items() if ":" not in k}
    again = clone(model).set_params(initial_params=base).fit(data)
    for name, value in default.params_.items():
        assert_allclose(again.params_[name], value, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="initial_params lacks"):
        clone(model).set_params(initial_params={"p": 1.0, "r": 1.0}).fit(data)
    with pytest.raises(ValueError, match=r"neither baseline parameters .* nor coefficients"):
        clone(model).set_params(initial_params={**base, "zz:noise": 0.1}).fit(data)


def test_initial_params_move_the_start_of_a_covariate_fit(cdnow_with_noise):
    # with one iteration the answer depends on the start: a different start, a different end
    spec = {"alpha": ["noise"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = BetaGeoCovariates(covariates=spec, max_iter=1).fit(cdnow_with_noise)
        b = BetaGeoCovariates(
            covariates=spec,
            max_iter=1,
            initial_params={"r": 2.0, "alpha0": 20.0, "a0": 3.0, "b0": 9.0},
        ).fit(cdnow_with_noise)
    assert not np.isclose(a.params_["r"], b.params_["r"], rtol=1e-3)


@pytest.mark.parametrize(
    ("plain", "covariate", "columns"),
    [
        (
            BetaGeo(max_iter=2),
            # the default start is the plain optimum; start where the plain model does
            BetaGeoCovariates(
                covariates=["noise"],
                max_iter=2,
                initial_params={"r": 1.0, "alpha0": 1.0, "a0": 1.0, "b0": 1.0},
            ),
            None,
        ),
        (
            GammaGamma(max_iter=1),
            GammaGammaCovariates(covariates=["noise"], max_iter=1),
            ["frequency", "monetary_value", "noise"],
        ),
    ],
)
def test_early_stop_warns_the_same_way_with_and_without_covariates(
    cdnow_with_noise, plain, covariate, columns
):
    data = cdnow_with_noise if columns is None else cdnow_with_noise[columns]
    pattern = r"the optimiser stopped with gradient .* larger max_iter"
    with pytest.warns(ConvergenceWarning, match=pattern):
        plain.fit(data[[c for c in plain._data_columns]])
    with pytest.warns(ConvergenceWarning, match=pattern + "|" + "fewer covariates"):
        covariate.fit(data)
    assert not plain.converged_ and not covariate.converged_


def test_parameter_on_its_bound_warns_from_the_shared_check():
    def fg(theta):
        return 0.0, np.zeros_like(theta)

    class Result:
        message = "ok"

    theta = np.array([0.0, -LOG_BOUND])
    with pytest.warns(ConvergenceWarning, match=r"\['b'\] reached the bound"):
        converged = check_convergence(fg, theta, Result(), "M", ["a", "b"], ", fewer covariates")
    assert converged  # the free parameter's gradient is 0


@pytest.mark.parametrize(
    ("model", "columns"),
    [
        (BetaGeo(), ["frequency", "recency", "T"]),
        (BetaGeoCovariates(covariates=["noise"]), None),
        (GammaGammaCovariates(covariates=["noise"]), ["frequency", "monetary_value", "noise"]),
    ],
)
def test_every_fit_runs_the_one_template(cdnow_with_noise, model, columns, monkeypatch):
    # both warnings come from the check the template calls: plain and covariate fits call it
    calls = []
    original = base_module.check_convergence

    def spy(fg, theta, res, owner, names, hint):
        calls.append((owner, list(names)))
        return original(fg, theta, res, owner, names, hint)

    monkeypatch.setattr(base_module, "check_convergence", spy)
    model.fit(cdnow_with_noise if columns is None else cdnow_with_noise[columns])
    assert len(calls) == 1 and calls[0][0] == type(model).__name__
    assert len(calls[0][1]) == len(model.params_)


@pytest.mark.parametrize("cls", ALL_MODELS)
def test_max_iter_is_the_parameter_and_maxiter_a_deprecated_spelling(cls):
    model = cls(max_iter=7)
    assert model.get_params()["max_iter"] == 7 and "maxiter" not in model.get_params()
    with pytest.warns(DeprecationWarning, match="maxiter= is deprecated; use max_iter="):
        old = cls(maxiter=7)
    assert old.get_params() == model.get_params()
    assert clone(old).get_params() == old.get_params()
    assert "maxiter" not in repr(old)
    with pytest.raises(TypeError, match="pass max_iter= only"):
        cls(max_iter=5, maxiter=7)


def test_sample_params_random_state_and_deprecated_seed():
    bg = BetaGeo().fit(load_cdnow_summary())
    new = bg.sample_params(5, random_state=3)
    with pytest.warns(DeprecationWarning, match="seed= is deprecated; use random_state="):
        old = bg.sample_params(5, seed=3)
    assert_allclose(new, old)


def test_bgbb_name_and_its_deprecated_alias():
    import clvml

    assert clvml.BetaGeoBetaBinom is BetaGeoBetaBinom
    assert issubclass(BetaGeoBeta, BetaGeoBetaBinom)
    with pytest.warns(DeprecationWarning, match="BetaGeoBeta is deprecated; use BetaGeoBetaBinom"):
        old = BetaGeoBeta(penalizer=0.1)
    assert old.get_params() == BetaGeoBetaBinom(penalizer=0.1).get_params()


def test_simulators_take_random_state_and_seed_is_deprecated():
    from clvml.data.simulate import simulate_bgnbd
    from clvml.data.synthetic import generate_social_commerce

    new = simulate_bgnbd(300, r=0.243, alpha=4.414, a=0.793, b=2.426, T=39, random_state=4)
    with pytest.warns(DeprecationWarning, match="seed= is deprecated; use random_state="):
        old = simulate_bgnbd(300, r=0.243, alpha=4.414, a=0.793, b=2.426, T=39, seed=4)
    pd.testing.assert_frame_equal(new.summary, old.summary)
    world = generate_social_commerce(150, random_state=2)
    with pytest.warns(DeprecationWarning, match="seed= is deprecated; use random_state="):
        again = generate_social_commerce(150, seed=2)
    pd.testing.assert_frame_equal(world.transactions, again.transactions)


MATH_MODULES = {
    "bgnbd": "clvml.models.btyd.bgnbd_math",
    "mbgnbd": "clvml.models.btyd.mbgnbd_math",
    "pareto_nbd": "clvml.models.btyd.pareto_nbd_math",
    "bgbb": "clvml.models.btyd.bgbb_math",
}


@pytest.mark.parametrize("prefix", sorted(MATH_MODULES))
def test_math_modules_share_one_layout_and_naming_rule(prefix):
    import importlib

    module = importlib.import_module(MATH_MODULES[prefix])
    for part in (
        "loglik",
        "probability_alive",
        "conditional_expected_purchases",
        "expected_purchases_new",
        "probability_of_purchases",
    ):
        assert f"{prefix}_{part}" in module.__all__, f"{prefix}_{part}"
        assert callable(getattr(module, f"{prefix}_{part}"))


def test_old_math_names_warn_and_keep_their_meaning():
    from clvml.models.btyd import beta_geo, bgbb_math, pareto_nbd_math
    from clvml.models.btyd.bgnbd_math import (
        bgnbd_conditional_expected_purchases,
        bgnbd_expected_purchases_new,
    )

    bg = [0.243, 4.414, 0.793, 2.426]
    with pytest.warns(DeprecationWarning, match="use bgnbd_conditional_expected_purchases"):
        old = beta_geo.bgnbd_expected_purchases(bg, 2, 30.43, 38.86, 39)
    # Hardie's worked example under the published BG/NBD parameters
    assert_allclose(old, bgnbd_conditional_expected_purchases(bg, 2, 30.43, 38.86, 39))
    assert_allclose(old, 1.226, atol=5e-4)
    with pytest.warns(DeprecationWarning, match="use bgnbd_expected_purchases_new"):
        new = beta_geo.bgnbd_expected_purchases_new_customer(bg, 39.0)
    assert_allclose(new, bgnbd_expected_purchases_new(bg, 39.0))
    # a new customer is the conditional expectation of an empty history of age 0
    assert_allclose(new, bgnbd_conditional_expected_purchases(bg, 0, 0, 0, 39.0))
    pnbd = [0.553, 10.578, 0.606, 11.669]
    with pytest.warns(DeprecationWarning, match="use pareto_nbd_expected_purchases_new"):
        old_p = pareto_nbd_math.pareto_nbd_expected_purchases(pnbd, 39.0)
    assert_allclose(old_p, pareto_nbd_math.pareto_nbd_expected_purchases_new(pnbd, 39.0))
    bgbb = [1.204, 0.750, 0.657, 2.783]
    with pytest.warns(DeprecationWarning, match="use bgbb_expected_purchases_new"):
        old_b = bgbb_math.bgbb_expected_purchases(bgbb, 6)
    assert_allclose(old_b, bgbb_math.bgbb_expected_purchases_new(bgbb, 6))
