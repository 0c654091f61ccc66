"""clvml.compat.lifetimes: lifetimes' API on clvml's estimators (issue #18).

Published values, parity with lifetimes itself (installed as an independent oracle) at the
same parameters, and the flows lifetimes users run: the quick start with customers of
age 0, one horizon per customer, saving and loading, integer YYYYMMDD dates.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import clvml.compat.lifetimes as lt
from clvml.compat.lifetimes import datasets, generate_data, utils
from clvml.exceptions import DataValidationError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import lifetimes as ref


@pytest.fixture(scope="module")
def cdnow():
    return datasets.load_cdnow_summary()


@pytest.fixture(scope="module")
def bgf(cdnow):
    return lt.BetaGeoFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


@pytest.fixture(scope="module")
def pnbd(cdnow):
    return lt.ParetoNBDFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


def _reference(fitter, cls):
    theirs = cls()
    theirs.params_ = fitter.params_.copy()
    return theirs


# --------------------------------------------------------------- published values
def test_published_cdnow_and_donations_estimates(bgf, pnbd, cdnow):
    assert_allclose(bgf.params_.to_numpy(), [0.243, 4.414, 0.793, 2.426], atol=1e-3)
    assert list(bgf.params_.index) == ["r", "alpha", "a", "b"]
    assert_allclose(pnbd.params_.to_numpy(), [0.553, 10.578, 0.606, 11.669], atol=2e-3)
    spend = datasets.load_cdnow_summary_data_with_monetary_value()
    repeat = spend[spend["frequency"] > 0]
    ggf = lt.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    assert_allclose(ggf.params_.to_numpy(), [6.25, 3.74, 15.44], atol=1e-2)
    donations = datasets.load_donations()
    bb = lt.BetaGeoBetaBinomFitter().fit(
        donations["frequency"], donations["recency"], donations["periods"], donations["weights"]
    )
    assert_allclose(bb.params_.to_numpy(), [1.204, 0.750, 0.657, 2.783], atol=2e-3)
    # Hardie's BG/NBD spreadsheet: 1.226 purchases in 39 weeks for (2, 30.43, 38.86)
    one = bgf.conditional_expected_number_of_purchases_up_to_time(39, 2, 30.43, 38.86)
    assert round(float(one), 3) == 1.226
    assert list(bgf.summary.columns) == ["coef", "se(coef)", "lower 95% bound", "upper 95% bound"]


# ------------------------------------------------------ parity with lifetimes itself
def test_predictions_equal_lifetimes_at_the_same_parameters(bgf, pnbd, cdnow):
    f, r, T = (cdnow[c] for c in ("frequency", "recency", "T"))
    for ours, cls in ((bgf, ref.BetaGeoFitter), (pnbd, ref.ParetoNBDFitter)):
        theirs = _reference(ours, cls)
        for t in (1.0, 39.0):
            assert_allclose(
                ours.conditional_expected_number_of_purchases_up_to_time(t, f, r, T),
                theirs.conditional_expected_number_of_purchases_up_to_time(t, f, r, T),
                rtol=1e-9,
            )
        assert_allclose(
            ours.conditional_probability_alive(f, r, T),
            theirs.conditional_probability_alive(f, r, T),
            rtol=1e-9,
        )
        # every cell of the P(alive) matrix, rows no customer can produce included
        assert_allclose(
            ours.conditional_probability_alive_matrix(20, 39),
            theirs.conditional_probability_alive_matrix(20, 39),
            rtol=1e-9,
        )
        times = np.array([0.5, 10.0, 78.0])
        assert_allclose(
            ours.expected_number_of_purchases_up_to_time(times),
            theirs.expected_number_of_purchases_up_to_time(times),
            rtol=1e-9,
        )
    theirs = _reference(pnbd, ref.ParetoNBDFitter)
    for n, t, x, t_x, age in [(0, 10, 2, 5.0, 20.0), (3, 52, 26, 30.86, 31.0), (1, 5, 0, 0, 38)]:
        assert_allclose(
            pnbd.conditional_probability_of_n_purchases_up_to_time(n, t, x, t_x, age),
            theirs.conditional_probability_of_n_purchases_up_to_time(n, t, x, t_x, age),
            rtol=1e-9,
        )


def test_series_in_series_out_and_one_horizon_per_customer(bgf, cdnow):
    head = cdnow.head(50)
    out = bgf.conditional_expected_number_of_purchases_up_to_time(
        10, head["frequency"], head["recency"], head["T"]
    )
    assert isinstance(out, pd.Series) and out.index.equals(head.index)
    horizons = np.linspace(1, 50, 50)
    each = bgf.conditional_expected_number_of_purchases_up_to_time(
        horizons, head["frequency"].to_numpy(), head["recency"].to_numpy(), head["T"].to_numpy()
    )
    one_by_one = [
        bgf.conditional_expected_number_of_purchases_up_to_time(h, f, r, T)
        for h, f, r, T in zip(horizons, head["frequency"], head["recency"], head["T"], strict=True)
    ]
    assert_allclose(each, one_by_one, rtol=1e-13)


# ------------------------------------------------------------------ users' flows
def test_quick_start_with_customers_first_seen_on_the_calibration_end():
    log = datasets.load_dataset("CDNOW_sample.txt", header=None, sep=r"\s+")
    log.columns = ["id_total", "id", "date", "cds", "spend"]
    with pytest.warns(UserWarning, match="after observation_period_end"):  # said, not silent
        summary = utils.calibration_and_holdout_data(
            log, "id", "date", calibration_period_end=19970325, observation_period_end=19970630,
            datetime_format="%Y%m%d",
        )  # fmt: skip
    young = summary["T_cal"] == 0
    assert young.sum() > 0  # first purchase on the calibration end
    bgf = lt.BetaGeoFitter().fit(summary["frequency_cal"], summary["recency_cal"], summary["T_cal"])
    without = lt.BetaGeoFitter().fit(
        *(summary.loc[~young, c] for c in ("frequency_cal", "recency_cal", "T_cal"))
    )
    assert_allclose(bgf.params_, without.params_, rtol=1e-4)
    predicted = bgf.predict(
        13, *(summary.loc[young, c] for c in ("frequency_cal", "recency_cal", "T_cal"))
    )
    assert_allclose(predicted, bgf.expected_number_of_purchases_up_to_time(13), rtol=1e-12)


def test_save_and_load_round_trip(tmp_path, bgf):
    path = tmp_path / "bgf.pkl"
    bgf.save_model(path, save_data=False)
    loaded = lt.BetaGeoFitter()
    loaded.load_model(path)
    assert loaded.data is None and bgf.data is not None
    assert loaded.params_.equals(bgf.params_)
    assert loaded.predict(5, 1, 10, 20) == bgf.predict(5, 1, 10, 20)
    assert repr(loaded) == "<lifetimes.BetaGeoFitter: a: 0.79, alpha: 4.41, b: 2.43, r: 0.24>"


def test_integer_dates_need_their_format(bgf):
    log = datasets.load_dataset("CDNOW_sample.txt", header=None, sep=r"\s+")
    log.columns = ["id_total", "id", "date", "cds", "spend"]
    table = utils.expected_cumulative_transactions(
        bgf, log, "date", "id", 70, datetime_format="%Y%m%d", freq="D", freq_multiplier=7,
        set_index_date=True,
    )  # fmt: skip
    # weekly rows labelled by the last day they count; the first purchase is 1997-01-01
    assert str(table.index[0]) == "1997-01-07" and len(table) == 10
    assert (np.diff(table["actual"]) >= 0).all() and (np.diff(table["predicted"]) > 0).all()
    with pytest.raises(DataValidationError, match="are numbers, not dates"):
        utils.expected_cumulative_transactions(bgf, log, "date", "id", 70)


def test_bgbb_simulator_reports_alive_in_the_next_period():
    # Fader, Hardie & Shang (2010), Table 6: P(alive in 2002) = 0.11 for (x, t_x) = (0, 0)
    np.random.seed(7)  # noqa: NPY002 - lifetimes users seed numpy's global generator
    sim = generate_data.beta_geometric_beta_binom_model(6, 1.204, 0.750, 0.657, 2.783, 100_000)
    never = sim[(sim["frequency"] == 0) & (sim["recency"] == 0)]
    assert abs(never["alive"].mean() - 0.11) < 0.01
    np.random.seed(7)  # noqa: NPY002 - lifetimes users seed numpy's global generator
    again = generate_data.beta_geometric_beta_binom_model(6, 1.204, 0.750, 0.657, 2.783, 100_000)
    assert again.equals(sim)  # numpy's global seed reproduces the draws
