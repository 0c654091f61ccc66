"""One notion of "active in the horizon" (issue #14 point 7).

The served frame shows ``p_active``, the probability of at least one purchase in the
horizon (the complement of ``churn_probability``, the churn label's event), and keeps
the raw BTYD P(alive) as ``p_alive_btyd``. Checked: invariants on CDNOW, the BG/NBD
closed form P(X(t) > 0) recomputed by hand, the Pareto/NBD churn probability (NaN before),
and calibration against realised purchases in worlds simulated from planted parameters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvml.data.simulate import simulate_bgnbd, simulate_pareto_nbd
from clvml.features.dataset import customer_features
from clvml.models.btyd.pareto_nbd_conditional import (
    pareto_nbd_conditional_probability_of_purchases,
)
from clvml.models.composite import CLVModel

FAST = {"max_iter": 30, "n_draws": 30, "interval": None}
LABEL_FREE = ("pareto_nbd", "btyd_all_spend", "pareto_nbd_all_spend")
H = 39.0


@pytest.fixture(scope="module")
def cdnow(cdnow_sample_transactions):
    X = customer_features(cdnow_sample_transactions, cutoff="1997-09-30")
    model = CLVModel(horizon_weeks=H, methods=("btyd", *LABEL_FREE), **FAST).fit(X)
    return X, model


@pytest.mark.parametrize("champion", ["btyd", *LABEL_FREE])
def test_active_is_one_minus_churn_in_unit_interval_and_not_one_for_one_time_buyers(
    cdnow, champion
):
    X, model = cdnow
    model.champion_ = champion  # serve each label-free row in turn (same fitted parts)
    out = model.predict(X)
    p, churn, raw = out["p_active"], out["churn_probability"], out["p_alive_btyd"]
    assert p.notna().all() and p.between(0, 1).all() and raw.between(0, 1).all()
    np.testing.assert_allclose(p, 1.0 - churn, rtol=0, atol=0)
    one_time = (X["frequency"] == 0).to_numpy()
    assert one_time.sum() > 1000
    # activity in the horizon is never above being alive now
    assert (p.to_numpy() <= raw.to_numpy() + 1e-12).all()
    # the shown column no longer says 1.0 for one-time buyers ...
    assert p.to_numpy()[one_time].max() < 0.9
    if champion.startswith("btyd"):
        # ... while BG/NBD's raw P(alive) does, by assumption, under its own name
        assert (raw.to_numpy()[one_time] == 1.0).all()


def test_btyd_active_is_the_bgnbd_closed_form_recomputed_by_hand(cdnow):
    X, model = cdnow
    model.champion_ = "btyd"
    out = model.predict(X)
    r, alpha, a, b = (model.bgnbd_.params_[k] for k in ("r", "alpha", "a", "b"))
    x, t_x, T = (X[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    # Fader, Hardie & Lee (2005): P(alive) and, if alive, P(no purchase in t) from the
    # posterior Gamma(r + x, alpha + T) of the purchase rate
    odds = (a / (b + np.maximum(x, 1) - 1)) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    alive = np.where(x > 0, 1.0 / (1.0 + odds), 1.0)
    none_if_alive = ((alpha + T) / (alpha + T + H)) ** (r + x)
    np.testing.assert_allclose(out["p_alive_btyd"], alive, rtol=1e-9)
    np.testing.assert_allclose(
        out["p_active"], alive * (1.0 - none_if_alive), rtol=1e-9, atol=1e-15
    )


def test_pareto_nbd_rows_have_a_churn_probability_the_conditional_pmf_at_zero(cdnow):
    X, model = cdnow
    outs = model.predict_outputs(X)
    x, t_x, T = (X[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    pn = model.pareto_nbd_.params_
    params = tuple(pn[k] for k in ("r", "alpha", "s", "beta"))
    want = pareto_nbd_conditional_probability_of_purchases(params, 0, H, x, t_x, T)
    for name in ("pareto_nbd", "pareto_nbd_all_spend"):
        churn = outs[name].churn_probability
        assert np.isfinite(churn).all()
        np.testing.assert_allclose(churn, want, rtol=1e-9)
        # a customer gone at the cut-off makes no purchase: churn >= 1 - P(alive)
        assert (churn >= 1.0 - outs[name].p_alive - 1e-9).all()


def _world(kind: str, n: int = 6000, seed: int = 11) -> tuple[pd.DataFrame, np.ndarray]:
    """Customers of a simulated world at a 52-week cut-off, and who bought in the next 26."""
    if kind == "bgnbd":
        sim = simulate_bgnbd(
            n, r=0.8, alpha=6.0, a=0.9, b=3.0, T=52.0 + 26, random_state=seed, transactions=True
        )
    else:
        sim = simulate_pareto_nbd(
            n, r=0.8, alpha=6.0, s=0.7, beta=40.0, T=52.0 + 26, random_state=seed,
            transactions=True,
        )  # fmt: skip
    tx = sim.transactions
    assert tx is not None
    cal = tx[tx["t"] <= 52.0]
    g = cal.groupby("customer_id")["t"]
    x = (g.size() - 1).reindex(range(n)).to_numpy(dtype=float)
    t_x = g.max().reindex(range(n)).to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    spend = rng.gamma(4.0, 10.0, n)
    features = pd.DataFrame(
        {
            "frequency": x,
            "recency": t_x,
            "T": np.full(n, 52.0),
            "monetary_value": np.where(x > 0, spend, 0.0),
            "n_purchases": x + 1,
            "mean_spend": spend,
            "total_spend": spend * (x + 1),
        },
        index=pd.Index(range(n), name="customer_id"),
    )
    later = tx.loc[(tx["t"] > 52.0) & (tx["t"] <= 78.0), "customer_id"].unique()
    return features, np.isin(np.arange(n), later)


@pytest.mark.slow  # 15-30 s each: Pareto/NBD on 6,000 continuous-time customers
@pytest.mark.parametrize(("kind", "champion"), [("bgnbd", "btyd"), ("pareto", "pareto_nbd")])
def test_active_is_calibrated_against_realised_purchases_in_a_planted_world(kind, champion):
    X, bought = _world(kind)
    model = CLVModel(horizon_weeks=26, methods=("btyd", "pareto_nbd"), champion=champion, **FAST)
    out = model.fit(X).predict(X)
    p = out["p_active"].to_numpy()
    one_time = X["frequency"].to_numpy() == 0
    for group in (np.ones_like(one_time), one_time, ~one_time):
        # expected vs realised share of buyers: within 4 standard errors of the realised share
        se = np.sqrt((p[group] * (1 - p[group])).sum()) / group.sum()
        assert abs(p[group].mean() - bought[group].mean()) < 4 * se + 0.01, (kind, group.sum())
    # one-time buyers: the raw BTYD P(alive) says 1.0 (BG/NBD) while few of them buy again
    if kind == "bgnbd":
        assert (out["p_alive_btyd"].to_numpy()[one_time] == 1.0).all()
        assert bought[one_time].mean() < 0.5
