"""Covariates that never make the BTYD model worse (issue #14, point 5).

The penalty is chosen by the data (held-out log-likelihood over customer folds), each
covariate group gets a likelihood-ratio test, and the covariate fit's log-likelihood is
never below the nested plain BG/NBD's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvml.data.simulate import simulate_bgnbd_covariates
from clvml.models.btyd import BetaGeo
from clvml.models.btyd.covariate_selection import choose_penalizer, heldout_loglik
from clvml.models.clv_model import CLVModel
from clvml.models.methods.btyd_covariates import _fit_transactions, _make, covariate_summary

LINKS = {"alpha": ["engaged", "noise"], "a": ["engaged"], "b": ["engaged"]}


def _customers(n: int, seed: int, effect: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    z = pd.DataFrame({"engaged": rng.normal(size=n), "noise": rng.normal(size=n)})
    sim = simulate_bgnbd_covariates(
        z, r=0.6, alpha0=8.0, a0=1.0, b0=4.0, T=52, random_state=seed,
        coefficients={"alpha": {"engaged": effect}},
    )  # fmt: skip
    return sim.summary


class _Model:  # the CLVModel parameters _fit_transactions reads
    def __init__(self, penalizer: object) -> None:
        self.covariate_penalizer = penalizer
        self.random_state = 0


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("penalizer", ["auto", 0.01, 0.1])
def test_covariate_fit_never_below_the_nested_plain_model(seed, penalizer):
    # no covariate matters here (effect 0), the case where a fixed penalty hurt
    frame = _customers(1500, seed, effect=0.0)
    plain = BetaGeo().fit(frame[["frequency", "recency", "T"]])
    fitted, chosen, tests, _ = _fit_transactions(_Model(penalizer), frame, LINKS)
    assert fitted.log_likelihood_ >= plain.log_likelihood_ - 1e-6 * abs(plain.log_likelihood_)
    assert chosen >= 0.0
    # the likelihood-ratio table: one row per covariate group and the joint test
    assert list(tests.index) == ["engaged", "noise", "all"]
    assert tests.loc["engaged", "df"] == 3 and tests.loc["noise", "df"] == 1
    assert tests.loc["all", "df"] == 4
    assert ((tests["p"] >= 0) & (tests["p"] <= 1)).all()


def test_fixed_penalty_was_worse_than_plain_and_auto_is_not():
    frame = _customers(3000, 4, effect=0.0)
    plain = BetaGeo().fit(frame[["frequency", "recency", "T"]])
    fixed = _make(0.01, LINKS, None).fit(frame)
    assert fixed.log_likelihood_ < plain.log_likelihood_  # the defect of issue #14
    fitted, chosen, _, cv = _fit_transactions(_Model("auto"), frame, LINKS)
    assert chosen == 0.0 and cv is not None and cv["penalizer"].iloc[0] == 0.0
    assert fitted.log_likelihood_ >= plain.log_likelihood_


def test_likelihood_ratio_finds_the_planted_effect_and_not_the_noise():
    frame = _customers(4000, 5, effect=0.5)
    _, _, tests, _ = _fit_transactions(_Model(0.0), frame, LINKS)
    assert tests.loc["engaged", "p"] < 1e-6 and tests.loc["all", "p"] < 1e-6
    assert tests.loc["noise", "p"] > 0.01
    # LR close to the Wald chi-square of the same group (asymptotically equal)
    assert tests.loc["engaged", "lr"] > 30


def test_choose_penalizer_walks_up_while_heldout_likelihood_improves():
    frame = _customers(2000, 6, effect=0.3)
    best, table = choose_penalizer(_make, frame, LINKS, grid=(0.0, 0.001, 0.01, 0.1))
    assert best in set(table["penalizer"])
    assert table["heldout_loglik"].idxmax() == table.index[table["penalizer"] == best][0]
    if len(table) > 1:  # stopped at the first penalty that did not improve
        assert table["heldout_loglik"].iloc[-1] <= table["heldout_loglik"].iloc[-2]
    model = _make(0.0, LINKS, None).fit(frame)
    assert heldout_loglik(model, frame) == pytest.approx(model.log_likelihood_, rel=1e-9)


def test_clv_model_reports_the_covariate_summary(make_world):
    world = make_world(1500, random_state=3)
    from clvml.features.frames import FrameBuilder

    frame = FrameBuilder(world.transactions, world.engagement, world.customers).at(
        world.calibration_end - pd.Timedelta(days=1)
    )
    model = CLVModel(methods=("btyd", "btyd_covariates"), interval=None).fit(frame)
    assert model.covariate_penalizer_ >= 0
    table = covariate_summary(model)
    assert set(table["group"]) <= set(model.covariate_tests_.index)
    assert {"coef", "se(coef)", "z", "p", "lr", "lr_df", "lr_p", "penalizer"} <= set(table.columns)
    # the plain BG/NBD of the same model (penalizer 0, the same customers)
    plain = model.bgnbd_.log_likelihood_
    assert model.bgnbd_covariates_.log_likelihood_ >= plain - 1e-6 * abs(plain)
    with pytest.raises(ValueError, match="covariate_penalizer"):
        CLVModel(covariate_penalizer=-1.0).fit(frame)
