"""The label-free baselines: Gamma-Gamma on all purchases (its math, a planted truth, the
limit where it meets the standard model), the Pareto/NBD methods against lifetimes, and the
methods as rows of the registry that can be served."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from clvml.exceptions import DataValidationError
from clvml.features.dataset import customer_features
from clvml.models.btyd import BetaGeo, GammaGamma, ParetoNBD
from clvml.models.btyd.gamma_gamma_all import GammaGammaAllPurchases
from clvml.models.clv_model import CLVModel
from clvml.models.spend import all_purchases_spend_frame, zero_spend_mask

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from lifetimes import GammaGammaFitter, ParetoNBDFitter

LABEL_FREE = ("pareto_nbd", "btyd_all_spend", "pareto_nbd_all_spend")
FAST = {"max_iter": 30, "n_draws": 30, "interval": None}


def _planted_spend(n_customers: int, seed: int, p=6.0, q=4.0, v=15.0):
    """Customers with 1-6 purchases (the first included), each Gamma(p, nu_i), nu ~ Gamma(q, v)."""
    rng = np.random.default_rng(seed)
    nu = rng.gamma(q, 1.0 / v, n_customers)
    n = rng.choice([1, 1, 1, 2, 3, 6], n_customers)
    idx = np.repeat(np.arange(n_customers), n)
    z = rng.gamma(p, 1.0 / nu[idx])
    total = np.bincount(idx, weights=z, minlength=n_customers)
    first = z[np.r_[0, np.cumsum(n)[:-1]]]
    frame = pd.DataFrame(
        {
            "n_purchases": n.astype(float),
            "mean_spend": total / n,
            "frequency": (n - 1).astype(float),
            "monetary_value": np.where(n > 1, (total - first) / np.maximum(n - 1, 1), 0.0),
        }
    )
    return frame, p / nu


def test_all_purchases_conditional_mean_is_the_hand_computed_posterior_mean():
    m = GammaGammaAllPurchases()
    m.params_ = {"p": 6.0, "q": 4.0, "v": 15.0}
    n = np.array([0.0, 1.0, 2.0, 5.0])
    zbar = np.array([0.0, 60.0, 10.0, 31.0])
    got = m.expected_average_spend(pd.DataFrame({"n_purchases": n, "mean_spend": zbar}))
    # nu | n purchases totalling n zbar ~ Gamma(q + p n, v + n zbar): E[p / nu] by hand
    hand = 6.0 * (15.0 + n * zbar) / (4.0 + 6.0 * n - 1.0)
    np.testing.assert_allclose(np.asarray(got), hand, rtol=1e-12)
    assert got.iloc[0] == pytest.approx(6.0 * 15.0 / 3.0)  # no purchase: population mean


def test_all_purchases_fit_is_the_standard_model_on_the_renamed_summary(cdnow_transactions):
    feats = customer_features(cdnow_transactions, cutoff="1997-09-30")
    spend = all_purchases_spend_frame(feats)
    ours = GammaGammaAllPurchases().fit(spend)
    renamed = spend.assign(frequency=spend["n_purchases"], monetary_value=spend["mean_spend"])
    standard = GammaGamma().fit(renamed[["frequency", "monetary_value"]])
    for k in ("p", "q", "v"):
        assert ours.params_[k] == pytest.approx(standard.params_[k], rel=1e-10)
    # every customer has a first purchase: only those who spent nothing at all are left out
    assert ours.n_excluded_ == int((feats["mean_spend"] <= 0).sum()) < 0.01 * len(feats)
    assert ours.n_customers_ + ours.n_excluded_ == len(feats)
    # parity with lifetimes' conditional mean at the same parameters
    ref = GammaGammaFitter()
    ref.params_ = pd.Series(ours.params_)
    theirs = ref.conditional_expected_average_profit(spend["n_purchases"], spend["mean_spend"])
    np.testing.assert_allclose(
        ours.expected_average_spend(spend).to_numpy(), theirs.to_numpy(), rtol=1e-10
    )


def test_all_purchases_recovers_a_planted_spend_model_and_beats_the_repeat_only_model():
    frame, true_mean = _planted_spend(20_000, seed=3)
    fitted = GammaGammaAllPurchases().fit(frame)
    for k, planted in {"p": 6.0, "q": 4.0, "v": 15.0}.items():
        assert fitted.params_[k] == pytest.approx(planted, rel=0.15), k
    ours = fitted.expected_average_spend(frame).to_numpy()
    repeat = GammaGamma().fit(frame)
    theirs = repeat.expected_average_spend(frame).to_numpy()
    one_time = frame["n_purchases"].to_numpy() == 1
    mse = lambda pred, rows: float(np.mean((pred[rows] - true_mean[rows]) ** 2))  # noqa: E731
    # one-time buyers: their own purchase is information the repeat-only model throws away
    assert mse(ours, one_time) < 0.8 * mse(theirs, one_time)
    assert mse(ours, ~one_time) < mse(theirs, ~one_time)


def test_all_purchases_meets_the_standard_model_as_purchases_grow():
    params = {"p": 6.0, "q": 4.0, "v": 15.0}
    ours, std = GammaGammaAllPurchases(), GammaGamma()
    ours.params_, std.params_ = params, params
    gaps = []
    for x in (1, 10, 100, 1000):
        # first purchase 100, repeats 20 each: the first's weight in the mean vanishes
        n, zbar = x + 1, (100.0 + 20.0 * x) / (x + 1)
        a = ours.expected_average_spend(pd.DataFrame({"n_purchases": [n], "mean_spend": [zbar]}))
        b = std.expected_average_spend(pd.DataFrame({"frequency": [x], "monetary_value": [20.0]}))
        gaps.append(abs(float(a.iloc[0]) - float(b.iloc[0])))
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] < 0.1


def test_zero_spend_customers_get_the_population_mean():
    f = pd.DataFrame({"n_purchases": [2.0, 3.0, 1.0], "mean_spend": [10.0, 0.0, 30.0]})
    spend = all_purchases_spend_frame(f)
    assert spend["n_purchases"].tolist() == [2.0, 0.0, 1.0]
    m = GammaGammaAllPurchases()
    m.params_ = {"p": 6.0, "q": 4.0, "v": 15.0}
    assert m.expected_average_spend(spend).iloc[1] == pytest.approx(m.population_mean_spend)
    # without the rule, the model refuses them, naming its own column
    with pytest.raises(
        DataValidationError, match="'mean_spend': 1 row is <= 0 for customers with purchases"
    ):
        m.expected_average_spend(f)


# ----------------------------------------------------------------------- the methods
@pytest.fixture(scope="module")
def cdnow_frame(cdnow_sample_transactions):
    return customer_features(cdnow_sample_transactions, cutoff="1997-09-30")


@pytest.fixture(scope="module")
def label_free(cdnow_frame):
    return CLVModel(horizon_weeks=39, methods=("btyd", *LABEL_FREE), **FAST).fit(cdnow_frame)


def test_label_free_methods_are_registry_rows_fitted_without_labels(label_free, cdnow_frame):
    assert label_free.methods_ == ["btyd", *LABEL_FREE] and not label_free.skipped_methods_
    assert isinstance(label_free.pareto_nbd_, ParetoNBD)
    assert isinstance(label_free.gamma_gamma_all_, GammaGammaAllPurchases)
    out = label_free.predict(cdnow_frame)
    for m in LABEL_FREE:
        assert np.isfinite(out[f"clv_{m}"]).all() and (out[f"clv_{m}"] >= 0).all()


def test_pareto_nbd_rows_match_lifetimes_at_the_same_parameters(label_free, cdnow_frame):
    pn, gg, gga = label_free.pareto_nbd_, label_free.gamma_gamma_, label_free.gamma_gamma_all_
    outs = label_free.predict_outputs(cdnow_frame)
    ref = ParetoNBDFitter()
    ref.params_ = pd.Series(pn.params_)
    f = cdnow_frame
    purchases = ref.conditional_expected_number_of_purchases_up_to_time(
        39, f["frequency"], f["recency"], f["T"]
    ).to_numpy()
    alive = ref.conditional_probability_alive(f["frequency"], f["recency"], f["T"])
    spend = GammaGammaFitter()
    spend.params_ = pd.Series(gg.params_)
    # clvml's zero-spend rule: repeat buyers whose repeats were all $0 count as one-time buyers
    x = f["frequency"].where(~zero_spend_mask(f), 0.0)
    repeat = spend.conditional_expected_average_profit(x, f["monetary_value"])
    spend.params_ = pd.Series(gga.params_)
    g = all_purchases_spend_frame(f)
    allp = spend.conditional_expected_average_profit(g["n_purchases"], g["mean_spend"])
    np.testing.assert_allclose(outs["pareto_nbd"].p_alive, alive, rtol=1e-6)
    # repeat-only spend is the population mean for one-time buyers (lifetimes' formula too)
    np.testing.assert_allclose(outs["pareto_nbd"].clv, purchases * repeat.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(
        outs["pareto_nbd_all_spend"].clv, purchases * allp.to_numpy(), rtol=1e-6
    )


def test_btyd_all_spend_is_bgnbd_purchases_times_the_all_purchases_spend(label_free, cdnow_frame):
    outs = label_free.predict_outputs(cdnow_frame)
    bg = BetaGeo().fit(cdnow_frame[["frequency", "recency", "T"]])
    purchases = bg.expected_purchases(cdnow_frame, t=39).to_numpy()
    spend_frame = all_purchases_spend_frame(cdnow_frame)
    spend = label_free.gamma_gamma_all_.expected_average_spend(spend_frame).to_numpy()
    np.testing.assert_allclose(outs["btyd_all_spend"].clv, purchases * spend, rtol=1e-9)
    # same transaction model as btyd: same P(alive) and churn probability
    np.testing.assert_allclose(outs["btyd_all_spend"].p_alive, outs["btyd"].p_alive)
    np.testing.assert_allclose(
        outs["btyd_all_spend"].churn_probability, outs["btyd"].churn_probability
    )
    # a one-time buyer who spent more is predicted more (repeat-only: the same for all)
    one = (cdnow_frame["n_purchases"].to_numpy() == 1) & (cdnow_frame["mean_spend"] > 0).to_numpy()
    clv, same_t = outs["btyd_all_spend"].clv[one], cdnow_frame["T"].to_numpy()[one]
    base = outs["btyd"].clv[one]
    order = np.lexsort((cdnow_frame["mean_spend"].to_numpy()[one], same_t))
    t_sorted = same_t[order]
    equal_t = t_sorted[1:] == t_sorted[:-1]
    assert (np.diff(clv[order])[equal_t] >= 0).all()
    assert (np.abs(np.diff(base[order])[equal_t]) < 1e-9).all()


@pytest.mark.parametrize("name", LABEL_FREE)
def test_each_label_free_method_can_be_the_served_champion(name, cdnow_frame):
    m = CLVModel(horizon_weeks=39, methods=(name,), champion=name, n_draws=20).fit(cdnow_frame)
    assert m.champion_ == name
    head = cdnow_frame.head(200)
    out = m.predict(head)
    np.testing.assert_allclose(out["clv"], out[f"clv_{name}"])
    # the bootstrap interval brackets the champion's CLV
    assert (out["clv_lower"] <= out["clv"] + 1e-9).all() and (out["clv"] <= out["clv_upper"]).all()


def test_train_serves_a_label_free_champion_named_in_the_config(
    tmp_path, cdnow_sample_transactions
):
    from clvml.pipelines.config import load_config
    from clvml.pipelines.train import fit_served_model

    path = tmp_path / "train.toml"
    path.write_text('[model]\nchampion = "pareto_nbd_all_spend"\nsupervised = "none"\n')
    cfg = load_config(path)
    model = fit_served_model(
        cdnow_sample_transactions, None, None, cutoff=pd.Timestamp("1997-09-30"), cfg=cfg
    )
    # not a default method: fitted beside them and served
    assert model.champion_ == "pareto_nbd_all_spend" and "btyd" in model.methods_
