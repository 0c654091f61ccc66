"""BTYD diagnostic plots: each returns Axes holding the expected artists, and the data
drawn equal a direct computation (and lifetimes' definitions where it has the plot)."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from numpy.testing import assert_allclose

from clvml.data.datasets import (
    CDNOW_CALIBRATION_END,
    load_cdnow_sample,
    load_cdnow_summary,
    load_donations,
)
from clvml.features.rfm import calibration_holdout_summary
from clvml.models.btyd import BetaGeo, GammaGamma
from clvml.models.btyd import plotting as P
from clvml.models.btyd.beta_geo_beta import BetaGeoBeta
from clvml.models.btyd.likelihoods import gamma_gamma_loglik
from clvml.models.btyd.pareto_nbd import ParetoNBD

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from lifetimes import BetaGeoFitter, ParetoNBDFitter
    from lifetimes.utils import expected_cumulative_transactions


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def summary() -> pd.DataFrame:
    return load_cdnow_summary()


@pytest.fixture(scope="module")
def bg(summary) -> BetaGeo:
    return BetaGeo().fit(summary)


@pytest.fixture(scope="module")
def pnbd() -> ParetoNBD:
    model = ParetoNBD()
    model.params_ = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    return model


def _lifetimes_pnbd(model: ParetoNBD) -> ParetoNBDFitter:
    ref = ParetoNBDFitter()
    ref.params_ = pd.Series(model.params_)
    return ref


# ----------------------------------------------------------------- matrices
def test_frequency_recency_matrix(pnbd):
    ax = P.plot_frequency_recency_matrix(pnbd, max_frequency=10, max_recency=39, t=1.0)
    assert isinstance(ax, Axes)
    assert len(ax.images) == 1
    Z = np.ma.getdata(ax.images[0].get_array()).astype(float)
    mask = np.ma.getmaskarray(ax.images[0].get_array())
    assert Z.shape == (40, 11)
    # impossible cells are masked: repeats with recency 0, recency without repeats
    assert mask[0, 1:].all() and mask[1:, 0].all() and not mask[0, 0] and not mask[1:, 1:].any()
    ref = _lifetimes_pnbd(pnbd)
    rec, freq = np.meshgrid(np.arange(40.0), np.arange(11.0), indexing="ij")
    theirs = ref.conditional_expected_number_of_purchases_up_to_time(
        1.0, freq[~mask], rec[~mask], np.full((~mask).sum(), 39.0)
    )
    assert_allclose(Z[~mask], theirs, rtol=1e-9)


def test_probability_alive_matrix_matches_lifetimes(pnbd):
    ax = P.plot_probability_alive_matrix(pnbd, max_frequency=8, max_recency=20)
    arr = ax.images[0].get_array()
    mask = np.ma.getmaskarray(arr)
    theirs = _lifetimes_pnbd(pnbd).conditional_probability_alive_matrix(8, 20)
    assert_allclose(np.ma.getdata(arr)[~mask], theirs[~mask], rtol=1e-9)
    assert len(ax.figure.axes) == 2  # the plot and its colorbar


def test_discrete_model_matrix_masks_more_than_one_purchase_per_period(donations_model):
    Z = P.frequency_recency_grid(donations_model, max_frequency=6, max_recency=6, what="alive")
    rec, freq = np.meshgrid(np.arange(7), np.arange(7), indexing="ij")
    assert np.isnan(Z[freq > rec]).all()
    assert np.isfinite(Z[(freq <= rec) & ((freq > 0) | (rec == 0))]).all()


@pytest.fixture(scope="module")
def donations_model() -> BetaGeoBeta:
    return BetaGeoBeta().fit(load_donations(), weights="weights")


# ----------------------------------------------------------------- calibration vs holdout
def test_calibration_vs_holdout(bg):
    tx = load_cdnow_sample()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ch = calibration_holdout_summary(
            tx, calibration_period_end=CDNOW_CALIBRATION_END, freq="D", freq_multiplier=7
        )
    ax = P.plot_calibration_purchases_vs_holdout_purchases(bg, ch, n=7)
    assert len(ax.lines) == 2
    actual, model = (line.get_ydata() for line in ax.lines)
    cal = ch.rename(columns={"frequency_cal": "frequency", "recency_cal": "recency", "T_cal": "T"})
    pred = np.concatenate(
        [
            np.asarray(bg.expected_purchases(cal[ch["duration_holdout"] == d], d))
            for d in ch["duration_holdout"].unique()
        ]
    )
    order = np.concatenate(
        [np.flatnonzero(ch["duration_holdout"] == d) for d in ch["duration_holdout"].unique()]
    )
    direct = pd.DataFrame(
        {"x": ch["frequency_cal"].to_numpy()[order], "h": ch["frequency_holdout"].to_numpy()[order]}
    ).assign(pred=pred)
    means = direct.groupby("x")[["h", "pred"]].mean().iloc[:7]
    assert_allclose(actual, means["h"], rtol=1e-12)
    assert_allclose(model, means["pred"], rtol=1e-12)


# ----------------------------------------------------------------- period transactions
def test_period_transactions(bg, summary):
    ax = P.plot_period_transactions(bg, summary, max_frequency=7)
    assert len(ax.containers) == 2 and all(len(c) == 8 for c in ax.containers)
    actual = np.array([p.get_height() for p in ax.containers[0]])
    model = np.array([p.get_height() for p in ax.containers[1]])
    x = summary["frequency"].to_numpy()
    assert_allclose(actual[:7], np.bincount(x, minlength=7)[:7])
    # both columns sum to the number of customers (the model's up to rounding: its last
    # bar is n minus the others, and the float sum need not give back n bit for bit)
    assert actual.sum() == len(summary)
    assert model.sum() == pytest.approx(len(summary), rel=1e-12)
    ages = summary["T"].to_numpy()
    direct = [bg.probability_of_purchases(k, ages).sum() for k in range(7)]
    assert_allclose(model[:7], direct, rtol=1e-10)


def test_period_transactions_discrete_model(donations_model):
    donations = load_donations()
    expanded = donations.loc[donations.index.repeat(donations["weights"])]
    table = P.period_transactions_data(donations_model, expanded, max_frequency=7)
    # FHS (2010) in-sample fit: 3454.9 expected customers with no repeat, 1253.1 with six
    assert_allclose(table["model"].iloc[[0, 6]], [3454.9, 1253.1], atol=0.05)
    assert table["model"].iloc[-1] == pytest.approx(0.0, abs=1e-6)  # nobody exceeds 6 of 6
    assert_allclose(table["actual"], np.bincount(expanded["frequency"], minlength=8))


# ----------------------------------------------------------------- tracking
def test_cumulative_and_incremental_tracking_match_lifetimes(bg):
    tx = load_cdnow_sample()
    t = 78 * 7 - 1
    ax = P.plot_cumulative_transactions(bg, tx, t, t_cal=39 * 7, freq="D", freq_multiplier=7)
    assert len(ax.lines) == 3  # actual, model, end of calibration
    actual, model = ax.lines[0].get_ydata(), ax.lines[1].get_ydata()
    ref = BetaGeoFitter()
    ref.params_ = pd.Series(bg.params_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = expected_cumulative_transactions(
            ref, tx, "timestamp", "customer_id", t, freq="D", freq_multiplier=7
        )
    # lifetimes reports every 7th day (its weeks); ours has every day
    assert_allclose(actual[7::7][: len(theirs)], theirs["actual"], rtol=0, atol=0)
    assert_allclose(model[7::7][: len(theirs)], theirs["predicted"], rtol=1e-10)
    inc = P.plot_incremental_transactions(bg, tx, t, freq="D", freq_multiplier=7)
    assert len(inc.lines) == 2
    assert_allclose(np.cumsum(inc.lines[0].get_ydata()), actual, atol=1e-9)
    assert_allclose(np.cumsum(inc.lines[1].get_ydata()), model, rtol=1e-10)


def test_tracking_totals_are_direct_counts(bg):
    tx = load_cdnow_sample()
    data = P.cumulative_transactions_data(bg, tx, 100, freq="D", freq_multiplier=7)
    days = tx["timestamp"].dt.normalize()
    first = days.groupby(tx["customer_id"]).transform("min")
    pairs = pd.DataFrame({"c": tx["customer_id"], "d": days})[days > first].drop_duplicates()
    start = days.min()
    assert data["actual"].iloc[-1] == (pairs["d"] < start + pd.Timedelta(days=100)).sum()
    births = first.groupby(tx["customer_id"]).first()
    elapsed = (start + pd.Timedelta(days=100) - births).dt.days.to_numpy() / 7
    expected = bg.expected_purchases_new_customer(elapsed[elapsed > 0]).sum()
    assert data["predicted"].iloc[-1] == pytest.approx(expected, rel=1e-12)


# ----------------------------------------------------------------- spend
def test_spend_fit():
    data = load_cdnow_summary(with_spend=True)
    gg = GammaGamma()
    gg.params_ = {"p": 6.25, "q": 3.74, "v": 15.44}
    ax = P.plot_spend_fit(gg, data, bins=40)
    assert len(ax.patches) == 40 and len(ax.lines) == 1
    grid, dens = ax.lines[0].get_data()
    rep = data[data["frequency"] > 0]
    direct = np.mean(
        np.exp(
            gamma_gamma_loglik(
                np.array([6.25, 3.74, 15.44]), rep["frequency"].to_numpy()[:, None], grid
            )
        ),
        axis=0,
    )
    assert_allclose(dens, direct, rtol=1e-10)
    # bars are densities over all customers with repeats: their area is the share shown
    widths = np.array([p.get_width() for p in ax.patches])
    heights = np.array([p.get_height() for p in ax.patches])
    upper = np.quantile(rep["monetary_value"], 0.99)
    assert (widths * heights).sum() == pytest.approx((rep["monetary_value"] <= upper).mean())


def test_plots_draw_on_given_axes(pnbd, summary):
    _fig, ax = plt.subplots()
    assert P.plot_period_transactions(pnbd, summary.iloc[:200], ax=ax) is ax


def test_bad_inputs():
    model = ParetoNBD()
    model.params_ = {"r": 0.5, "alpha": 10.0, "s": 0.6, "beta": 11.0}
    with pytest.raises(ValueError, match="what must be"):
        P.frequency_recency_grid(model, 3, 10, what="nope")
    with pytest.raises(ValueError, match="frequency_cal"):
        P.calibration_holdout_data(model, pd.DataFrame({"x": [1]}))
