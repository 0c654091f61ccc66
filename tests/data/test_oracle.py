"""The attainable oracle: the closed form where the planted model has one (checked by brute
force), uninformative engagement changes nothing, and no method beats it on average."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvml.data.oracle import PlantedModel, attainable_expectation, observed_history
from clvml.data.simulate import bgnbd_process
from clvml.models.btyd import BetaGeo

BG = {"r": 0.6, "alpha": 8.0, "a": 1.25, "b": 5.0}
GG = {"p": 6.0, "q": 4.0, "v": 15.0}
H = 26.0
#: two routine kinds and complaints, with effects on satisfaction/advocacy/propensity
KINDS = np.array([[np.log(0.05), 0.5, 0.0, 1.0], [np.log(0.02), 0.0, 1.0, 1.0]])
COMPLAINT = np.array([np.log(0.01), -0.7, 0.0, 0.5])


def _model(**effects: float) -> PlantedModel:
    settings = {
        "advocacy_effect": 0.0,
        "sentiment_effect": 0.0,
        "social_effect": 0.0,
        "disengagement_effect": 0.0,
        **effects,
    }
    return PlantedModel(**BG, **GG, horizon=H, kinds=KINDS, complaint=COMPLAINT, **settings)


def _customers():
    """Customers on a grid of (x, t_x, tau); repeat purchases evenly spaced up to t_x."""
    rows = [
        (x, frac * tau, tau)
        for tau in (10.0, 40.0, 75.0)
        for x in (0, 1, 3, 8)
        for frac in ((1.0,) if x == 0 else (0.2, 0.6, 0.95))
    ]
    x = np.array([r[0] for r in rows])
    t_x = np.where(x > 0, [r[1] for r in rows], 0.0)
    tau = np.array([r[2] for r in rows])
    idx = np.repeat(np.arange(len(rows)), x)
    times = np.concatenate([np.linspace(t / k, t, k) for k, t in zip(x, t_x, strict=True) if k])
    return x, t_x, tau, idx, times


def _history(tau, idx, times, events=None, rng=None):
    n = tau.size
    if events is None:
        e_idx, e_t, e_kind = np.zeros(0, int), np.zeros(0), np.zeros(0, int)
    else:
        e_idx = rng.integers(0, n, events)
        e_t = rng.random(events) * tau[e_idx]
        e_kind = rng.integers(0, 3, events)  # 0, 1 routine, 2 complaint
    coef = np.vstack([np.column_stack([np.ones(2), KINDS[:, 1:]]), [1.0, *COMPLAINT[1:]]])
    routine = e_kind < 2
    return observed_history(
        tau=tau,
        purchase_index=idx,
        purchase_time=times,
        change_time=np.full(n, np.inf),
        spend_index=np.arange(n),
        spend_time=np.zeros(n),
        amount=np.full(n, 30.0),
        segment_factor=np.ones(n),
        event_index=e_idx,
        event_time=e_t,
        event_coef=coef[e_kind],
        event_log_rate=np.where(routine, np.r_[KINDS[:, 0], 0.0][e_kind], 0.0),
        routine=routine,
        complaint=e_kind == 2,
        polarity=np.where(routine, rng.integers(-1, 2, e_kind.size), 9) if events else e_kind,
    )


def _bgnbd_closed_form(x, t_x, tau):
    bg = BetaGeo()
    bg.params_ = dict(BG)
    frame = pd.DataFrame({"frequency": x, "recency": t_x, "T": tau})
    return bg.expected_purchases(frame, t=H).to_numpy()


def test_without_effects_the_oracle_is_the_bgnbd_closed_form_and_the_gamma_gamma_posterior():
    x, t_x, tau, idx, times = _customers()
    purchases, spend = attainable_expectation(_model(), _history(tau, idx, times))
    # up to the sampler's error (rtol), 1e-4 purchases on customers who almost surely left
    np.testing.assert_allclose(purchases, _bgnbd_closed_form(x, t_x, tau), rtol=2e-3, atol=1e-4)
    # one purchase of 30 each: nu | z ~ Gamma(q + p, v + 30), E[p / nu] by hand
    np.testing.assert_allclose(spend, 6.0 * (15.0 + 30.0) / (4.0 + 6.0 - 1.0), rtol=1e-12)


def test_engagement_that_carries_no_information_changes_nothing():
    _, _, tau, idx, times = _customers()
    rng = np.random.default_rng(0)
    plain, _ = attainable_expectation(_model(), _history(tau, idx, times))
    # events informative of satisfaction/advocacy/propensity, but none of them acts on
    # purchases or dropout here (and nothing is thinned): the same prediction, up to the
    # importance sampler's error (the events leave fewer effective draws: 90 events on 30
    # customers, about twice the generator's rate, and 4x the default draws)
    history = _history(tau, idx, times, 90, rng)
    noisy, _ = attainable_expectation(_model(), history, n_draws=16384)
    np.testing.assert_allclose(noisy, plain, rtol=2e-2)


def test_disengagement_makes_silence_after_the_last_purchase_informative():
    x, t_x, tau, idx, times = _customers()
    quiet = _history(tau, idx, times)
    base, _ = attainable_expectation(_model(disengagement_effect=0.8), quiet)
    plain, _ = attainable_expectation(_model(), quiet)
    # no routine event since the last purchase is more likely for one who left: lower
    lapsed = (x > 0) & (t_x < 0.9 * tau)
    assert (base[lapsed] < plain[lapsed]).all()
    assert np.allclose(base[x == 0], plain[x == 0], rtol=1e-2)


def test_closed_form_matches_a_brute_force_simulation_of_the_process():
    # many customers of the same age; those with no repeat purchase by tau (an exact
    # condition) average what the oracle predicts for (x = 0, tau)
    rng = np.random.default_rng(42)
    n, tau = 400_000, 30.0
    lam = rng.gamma(BG["r"], 1.0 / BG["alpha"], n)
    p = rng.beta(BG["a"], BG["b"], n)
    sim = bgnbd_process(lam, p, np.full(n, tau + H), rng, purchase_times=True)
    per = np.bincount(sim["customer_index"], weights=sim["time"] <= tau, minlength=n)
    later = np.bincount(sim["customer_index"], weights=sim["time"] > tau, minlength=n)
    zero = per == 0
    mean, se = later[zero].mean(), later[zero].std() / np.sqrt(zero.sum())
    history = _history(np.array([tau]), np.zeros(0, int), np.zeros(0))
    oracle, _ = attainable_expectation(_model(), history)
    assert abs(oracle[0] - mean) < 4 * se
    assert oracle[0] == pytest.approx(_bgnbd_closed_form([0], [0.0], [tau])[0], rel=2e-3)


def test_the_generator_writes_the_oracle_and_it_is_calibrated(make_world):
    w = make_world(1200, random_state=5)
    t = w.truth
    assert {"attainable_purchases", "attainable_clv"} <= set(t.columns)
    assert (t["attainable_clv"] > 0).all()
    # a posterior mean: its total matches the realised total up to sampling noise
    total, realised = t["attainable_clv"].sum(), t["realised_revenue"].sum()
    assert abs(total / realised - 1) < 0.1
    # it cannot know the latent alive state: below the planted truth in ranking power
    y = t["realised_revenue"].to_numpy()
    mse = {c: np.mean((t[c].to_numpy() - y) ** 2) for c in ("attainable_clv", "expected_clv")}
    assert mse["expected_clv"] < mse["attainable_clv"]
