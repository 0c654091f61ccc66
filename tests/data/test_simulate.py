"""The BTYD simulators against the closed-form BG/NBD and Gamma-Gamma results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats
from scipy.special import betaln, gammaln, hyp2f1

from clvml.data.simulate import bgnbd_process, simulate_bgnbd, simulate_gamma_gamma

# Published CDNOW BG/NBD parameters (Fader, Hardie & Lee 2005), weeks.
R, ALPHA, A, B = 0.243, 4.414, 0.793, 2.426


def expected_x(t, r=R, alpha=ALPHA, a=A, b=B):
    """FHL 2005 eq. (9): population mean repeat purchases in (0, t]."""
    z = t / (alpha + t)
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))


def pmf_x(x, t, r=R, alpha=ALPHA, a=A, b=B):
    """FHL 2005 eq. (8): P(X(t) = x)."""
    x = np.asarray(x)
    lt = np.log(t / (alpha + t))
    la = r * np.log(alpha / (alpha + t))
    term1 = np.exp(
        betaln(a, b + x) - betaln(a, b) + gammaln(r + x) - gammaln(r) - gammaln(x + 1) + la + x * lt
    )
    out = []
    for xi, t1 in zip(np.atleast_1d(x), np.atleast_1d(term1), strict=True):
        if xi == 0:
            out.append(t1)
            continue
        j = np.arange(xi)
        s = np.sum(np.exp(gammaln(r + j) - gammaln(r) - gammaln(j + 1) + j * lt))
        t2 = np.exp(betaln(a + 1, b + xi - 1) - betaln(a, b)) * (1 - np.exp(la) * s)
        out.append(t1 + t2)
    return np.array(out)


@pytest.mark.parametrize("t", [13.0, 39.0, 78.0])
def test_bgnbd_mean_frequency_matches_eq9(t):
    n = 200_000
    sim = simulate_bgnbd(n, R, ALPHA, A, B, T=t, seed=11)
    freq = sim.summary["frequency"].to_numpy()
    se = freq.std(ddof=1) / np.sqrt(n)
    assert abs(freq.mean() - expected_x(t)) < 4 * se


def test_bgnbd_frequency_distribution_matches_eq8():
    n, t = 100_000, 39.0
    sim = simulate_bgnbd(n, R, ALPHA, A, B, T=t, seed=5)
    freq = sim.summary["frequency"].to_numpy()
    xs = np.arange(8)
    expected = pmf_x(xs, t) * n
    observed = np.bincount(np.minimum(freq, 8), minlength=9)[:8]
    # Cells 0..7 and the remainder: a chi-square goodness-of-fit test.
    obs = np.append(observed, n - observed.sum())
    exp = np.append(expected, n - expected.sum())
    chi2 = np.sum((obs - exp) ** 2 / exp)
    assert stats.chi2.sf(chi2, df=obs.size - 1) > 1e-3


def test_bgnbd_varying_T_and_alive_probability():
    n = 100_000
    rng = np.random.default_rng(3)
    T = rng.uniform(5.0, 80.0, n)
    s = simulate_bgnbd(n, R, ALPHA, A, B, T=T, seed=rng).summary
    assert_allclose(s["T"], T)
    mean_x = expected_x(T).mean()
    assert abs(s["frequency"].mean() - mean_x) < 4 * s["frequency"].std() / np.sqrt(n)
    # Dropout events form a Poisson process of rate lambda * p: P(alive at T) = exp(-lambda p T).
    p_alive = np.exp(-s["lambda"] * s["p"] * s["T"])
    resid = s["alive"].astype(float) - p_alive
    assert abs(resid.mean()) < 4 * resid.std() / np.sqrt(n)


def test_bgnbd_summary_invariants_and_log():
    sim = simulate_bgnbd(20_000, R, ALPHA, A, B, T=52.0, seed=2, transactions=True)
    s, log = sim.summary, sim.transactions
    assert list(s.columns) == ["frequency", "recency", "T", "lambda", "p", "dropout_time", "alive"]
    assert (s["recency"] <= s["T"]).all() and (s["recency"] >= 0).all()
    assert ((s["frequency"] == 0) == (s["recency"] == 0)).all()
    dead = ~s["alive"]
    assert_allclose(s.loc[dead, "dropout_time"], s.loc[dead, "recency"])
    assert (s.loc[dead, "frequency"] > 0).all()
    assert (s.loc[s["alive"], "dropout_time"] > s.loc[s["alive"], "T"]).all()
    # The log has the first purchase at 0 plus one row per repeat purchase, sorted.
    counts = log.groupby("customer_id").size()
    assert_array_equal(counts.to_numpy(), s["frequency"].to_numpy() + 1)
    last = log.groupby("customer_id")["t"].max()
    assert_allclose(last.to_numpy(), s["recency"].to_numpy())
    assert (log.groupby("customer_id")["t"].min() == 0).all()
    assert (log.groupby("customer_id")["t"].diff().dropna() >= 0).all()


def test_bgnbd_recovers_parameters_with_lifetimes():
    lifetimes = pytest.importorskip("lifetimes")
    s = simulate_bgnbd(30_000, R, ALPHA, A, B, T=39.0, seed=21).summary
    fitter = lifetimes.BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
    summary = fitter.summary
    for name, true in {"r": R, "alpha": ALPHA, "a": A, "b": B}.items():
        est, se = summary.loc[name, "coef"], summary.loc[name, "se(coef)"]
        assert abs(est - true) < 4 * se, (name, est, true, se)


def test_bgnbd_process_change_point():
    n = 100_000
    lam = np.full(n, 0.5)
    p0, p1 = np.full(n, 0.2), np.full(n, 0.05)
    T = np.full(n, 40.0)
    c = np.where(np.arange(n) % 2 == 0, 10.0, np.inf)
    res = bgnbd_process(lam, p0, T, seed=4, change_time=c, p_after=p1, purchase_times=True)
    switched = np.isfinite(c)
    hazard = np.where(switched, 0.5 * (0.2 * 10 + 0.05 * 30), 0.5 * 0.2 * 40)
    for m in (switched, ~switched):
        pa = np.exp(-hazard[m][0])
        se = np.sqrt(pa * (1 - pa) / m.sum())
        assert abs(res["alive"][m].mean() - pa) < 4 * se
    assert_allclose(res["p_final"], np.where(switched, 0.05, 0.2))
    # Purchase times: one per repeat purchase, inside (0, T], last equals recency.
    idx, t = res["customer_index"], res["time"]
    assert_array_equal(np.bincount(idx, minlength=n), res["frequency"])
    assert (t > 0).all() and (t <= T[idx]).all()
    last = pd.Series(t).groupby(idx).max()
    assert_allclose(last.to_numpy(), res["recency"][last.index])


def test_bgnbd_is_reproducible_and_seed_sensitive():
    a = simulate_bgnbd(1000, R, ALPHA, A, B, T=30.0, seed=7, transactions=True)
    b = simulate_bgnbd(1000, R, ALPHA, A, B, T=30.0, seed=7, transactions=True)
    c = simulate_bgnbd(1000, R, ALPHA, A, B, T=30.0, seed=8)
    pd.testing.assert_frame_equal(a.summary, b.summary)
    pd.testing.assert_frame_equal(a.transactions, b.transactions)
    assert not a.summary["frequency"].equals(c.summary["frequency"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"r": -1.0}, "r must be"), ({"alpha": 0.0}, "alpha must be"), ({"b": np.nan}, "b must be")],
)
def test_bgnbd_rejects_bad_parameters(kwargs, match):
    params = {"r": R, "alpha": ALPHA, "a": A, "b": B} | kwargs
    with pytest.raises(ValueError, match=match):
        simulate_bgnbd(10, T=10.0, **params)


def test_bgnbd_rejects_bad_T():
    with pytest.raises(ValueError, match="T must be"):
        simulate_bgnbd(3, R, ALPHA, A, B, T=np.array([1.0, -2.0, 3.0]))


def test_gamma_gamma_moments_and_recovery():
    lifetimes = pytest.importorskip("lifetimes")
    p, q, v = 6.25, 3.74, 15.44
    freq = np.random.default_rng(0).integers(1, 8, 20_000)
    sim = simulate_gamma_gamma(freq, p, q, v, seed=1, transactions=True)
    s, log = sim.summary, sim.transactions
    assert_array_equal(log.groupby("customer_id").size().to_numpy(), freq)
    assert_allclose(log.groupby("customer_id")["amount"].mean().to_numpy(), s["monetary_value"])
    # E[z | nu] = p / nu: per-customer residuals have mean 0.
    resid = log["amount"].to_numpy() - s["mean_spend"].to_numpy()[log["customer_id"]]
    assert abs(resid.mean()) < 4 * resid.std() / np.sqrt(resid.size)
    fitter = lifetimes.GammaGammaFitter().fit(s["frequency"], s["monetary_value"])
    for name, true in {"p": p, "q": q, "v": v}.items():
        est, se = fitter.summary.loc[name, "coef"], fitter.summary.loc[name, "se(coef)"]
        assert abs(est - true) < 4 * se, (name, est, true, se)


def test_gamma_gamma_zero_frequency_and_int():
    s = simulate_gamma_gamma(np.array([0, 2]), 6.0, 4.0, 15.0, seed=0).summary
    assert s["monetary_value"].iloc[0] == 0.0
    assert s["monetary_value"].iloc[1] > 0
    assert len(simulate_gamma_gamma(5, 6.0, 4.0, 15.0, seed=0).summary) == 5
    with pytest.raises(ValueError, match="q must be"):
        simulate_gamma_gamma(5, 6.0, -4.0, 15.0)


@settings(max_examples=40, deadline=None)
@given(
    r=st.floats(0.05, 5.0),
    alpha=st.floats(0.1, 50.0),
    a=st.floats(0.1, 5.0),
    b=st.floats(0.1, 5.0),
    T=st.floats(0.0, 200.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_bgnbd_invariants_hold_for_any_valid_parameters(r, alpha, a, b, T, seed):
    sim = simulate_bgnbd(200, r, alpha, a, b, T=T, seed=seed, transactions=True)
    s, log = sim.summary, sim.transactions
    assert np.isfinite(s[["frequency", "recency", "T", "lambda", "p"]].to_numpy()).all()
    assert ((s["recency"] >= 0) & (s["recency"] <= s["T"])).all()
    assert (s["frequency"] >= 0).all()
    assert (s.loc[s["alive"], "dropout_time"] > T).all()
    assert (s.loc[~s["alive"], "dropout_time"] <= T).all()
    assert len(log) == int(s["frequency"].sum()) + 200
    assert ((log["t"] >= 0) & (log["t"] <= T)).all()
