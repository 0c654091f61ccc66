"""The synthetic social-commerce generator: contracts, reproducibility and planted truth."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import hyp2f1

import clvml.cli.generate  # noqa: F401  (registers `clvml generate`)
from clvml.cli._app import run
from clvml.data._social_texts import LANGUAGES, build_text_table
from clvml.data.synthetic import (
    CHANNELS,
    KINDS,
    OutputExistsError,
    generate_social_commerce,
    load_social_commerce,
    read_dataset,
    write_dataset,
)

PLACEBO = {
    "social_effect": 0.0,
    "sentiment_effect": 0.0,
    "advocacy_effect": 0.0,
    "disengagement_effect": 0.0,
}
TEXT_KINDS = {"reply", "mention", "comment", "direct_message", "complaint", "review"}


@pytest.fixture(scope="module")
def small(make_world):
    return make_world(3000, random_state=5)


@pytest.fixture(scope="module")
def world(make_world):
    return make_world(50_000, random_state=7)


@pytest.fixture(scope="module")
def placebo(make_world):
    return make_world(50_000, random_state=7, **PLACEBO)


def _pre_cutoff_counts(ds, kind):
    e = ds.engagement
    pre = e[(e["timestamp"] <= ds.calibration_end) & (e["kind"] == kind)]
    counts = pre.groupby("customer_id").size()
    return counts.reindex(ds.customers["customer_id"], fill_value=0).to_numpy()


def _tenure_weeks(ds):
    age = ds.calibration_end - ds.customers["acquisition_date"]
    return (age / pd.Timedelta(weeks=1)).to_numpy()


def _diff_of_means(x, a, b):
    """Difference of means of x over masks a and b and its standard error."""
    ma, mb = x[a].mean(), x[b].mean()
    se = np.sqrt(x[a].var(ddof=1) / a.sum() + x[b].var(ddof=1) / b.sum())
    return ma - mb, se


# ---- reproducibility and contracts --------------------------------------------------------


def test_same_seed_same_data_other_seed_other_data(small):
    again = generate_social_commerce(3000, seed=5)
    for name in ("customers", "transactions", "engagement", "truth", "texts_truth"):
        pd.testing.assert_frame_equal(getattr(small, name), getattr(again, name))
    other = generate_social_commerce(3000, seed=6)
    assert not other.transactions["amount"].equals(small.transactions["amount"])


def test_columns_and_dtypes(small):
    c, t, e = small.customers, small.transactions, small.engagement
    assert list(c.columns) == [
        "customer_id", "acquisition_date", "acquisition_channel", "acquisition_cost",
        "segment", "control_group",
    ]  # fmt: skip
    assert list(t.columns) == ["customer_id", "timestamp", "amount", "order_id", "quantity"]
    assert list(e.columns) == [
        "event_id", "customer_id", "timestamp", "channel", "kind", "direction", "text",
        "language", "reach", "resolved",
    ]  # fmt: skip
    assert c["customer_id"].is_unique
    assert pd.api.types.is_string_dtype(t["customer_id"])
    for frame, col in ((c, "acquisition_date"), (t, "timestamp"), (e, "timestamp")):
        assert pd.api.types.is_datetime64_dtype(frame[col])
    assert c["control_group"].dtype == bool
    assert t["amount"].dtype == np.float64 and (t["amount"] > 0).all()
    assert t["order_id"].is_unique and (t["quantity"] >= 1).all()
    assert e["reach"].dtype == np.int64 and (e["reach"] >= 0).all()
    assert e["resolved"].dtype == "boolean"
    assert e["event_id"].is_unique
    assert set(small.truth["customer_id"]) == set(c["customer_id"])


def test_clvml_validators_accept_the_tables(small):
    validation = pytest.importorskip("clvml.data.validation")
    for name, func in (
        ("transactions", "validate_transactions"),
        ("engagement", "validate_engagement"),
        ("customers", "validate_customers"),
    ):
        if not hasattr(validation, func):
            pytest.skip(f"{func} not available")
        frame = getattr(small, name)
        checked, report = getattr(validation, func)(frame, return_report=True)
        assert len(checked) == len(frame), report
        assert report.rows_kept == report.rows_read == len(frame)


def test_allowed_values(small):
    e = small.engagement
    assert set(e["channel"]) <= set(CHANNELS)
    assert set(e["kind"]) == set(KINDS)  # every kind occurs
    assert set(e["language"]) == {"en", "es"}
    outbound = e["direction"] == "outbound"
    assert_array_equal(outbound, e["kind"] == "reply")
    assert_array_equal(e["resolved"].notna(), outbound)
    assert_array_equal(e["text"].notna(), e["kind"].isin(TEXT_KINDS))
    assert set(e.loc[e["kind"] == "retweet", "channel"]) == {"twitter"}
    assert set(e.loc[e["kind"].isin(["email_open", "email_click"]), "channel"]) == {"email"}
    assert set(e.loc[e["kind"] == "site_visit", "channel"]) == {"web", "app"}
    assert (e.loc[e["kind"].isin(["like", "email_open", "reply"]), "reach"] == 0).all()
    assert (e.loc[e["kind"] == "share", "reach"] > 0).mean() > 0.5


def test_time_windows(small):
    c = small.customers.set_index("customer_id")
    t = small.transactions
    acq = c.loc[t["customer_id"], "acquisition_date"].to_numpy()
    assert (t["timestamp"].to_numpy() >= acq).all()
    assert t["timestamp"].max() <= small.observation_end
    first = t.groupby("customer_id")["timestamp"].min()
    assert_array_equal(first.dt.floor("D").to_numpy(), c.loc[first.index, "acquisition_date"])
    assert c["acquisition_date"].max() < small.calibration_end
    e = small.engagement
    assert (
        e["timestamp"].to_numpy() >= c.loc[e["customer_id"], "acquisition_date"].to_numpy()
    ).all()
    assert e["timestamp"].max() <= small.observation_end
    assert (e["timestamp"] <= small.calibration_end).mean() > 0.3  # events on both sides
    assert (e["timestamp"] > small.calibration_end).mean() > 0.1


def test_control_group_is_randomised_and_never_answered(world):
    c = world.customers
    share, n = c["control_group"].mean(), len(c)
    assert abs(share - 0.2) < 4 * np.sqrt(0.2 * 0.8 / n)
    replies = world.engagement.loc[world.engagement["kind"] == "reply", "customer_id"]
    control_ids = set(c.loc[c["control_group"], "customer_id"])
    assert control_ids.isdisjoint(replies)
    # Randomised: the latent traits are balanced between the groups.
    for col in ("satisfaction", "advocacy", "purchase_rate"):
        diff, se = _diff_of_means(world.truth[col].to_numpy(), c["control_group"].to_numpy(),
                                  ~c["control_group"].to_numpy())  # fmt: skip
        assert abs(diff) < 4 * se, col


# ---- texts -----------------------------------------------------------------------------


def test_texts_languages_and_no_label_words(small):
    e = small.engagement
    table = build_text_table()
    by_lang = {
        lang: set(
            table.strings[
                np.concatenate([b.ravel() for k, b in table.blocks.items() if k[0] == lang])
            ]
        )
        for lang in LANGUAGES
    }
    texts = e.dropna(subset=["text"])
    for lang in LANGUAGES:
        assert set(texts.loc[texts["language"] == lang, "text"]) <= by_lang[lang]
    spanish = small.customers["customer_id"].isin(e.loc[e["language"] == "es", "customer_id"])
    assert 0.24 < spanish.mean() < 0.36
    label_words = re.compile(
        r"\b(?:positive|negative|neutral|positivo|negativo|neutro|neutral|sentiment\w*|polarity)\b",
        re.IGNORECASE,
    )
    assert not table.strings.str.contains(label_words).any()
    assert len(table.strings) > 10_000  # varied vocabulary


def test_texts_truth_and_polarity_follows_satisfaction(world):
    e, tt = world.engagement, world.texts_truth
    with_text = e.loc[e["text"].notna(), "event_id"]
    assert_array_equal(np.sort(tt["event_id"].to_numpy()), np.sort(with_text.to_numpy()))
    merged = tt.merge(e[["event_id", "customer_id", "kind"]], on="event_id")
    assert (merged.loc[merged["group"] == "complaint", "polarity"] == -1).all()
    assert (merged.loc[merged["group"] == "praise", "polarity"] == 1).all()
    assert set(merged.loc[merged["group"] == "complaint", "kind"]) == {"complaint"}
    posts = merged[merged["group"] == "post"]
    sat = world.truth.set_index("customer_id")["satisfaction"]
    mean_sat = posts.assign(s=sat.loc[posts["customer_id"]].to_numpy()).groupby("polarity")["s"]
    means = mean_sat.mean()
    assert means[-1] < means[0] < means[1]
    assert set(posts["polarity"]) == {-1, 0, 1}
    # Negations in both directions occur: "not bad" is positive, "not ... good" negative.
    texts = e.set_index("event_id").loc[posts["event_id"], "text"].to_numpy()
    pol = posts["polarity"].to_numpy()
    assert (pol[np.char.find(texts.astype(str), "not bad") >= 0] == 1).all()
    assert (pol[np.char.find(texts.astype(str), "no es nada buena") >= 0] == -1).all()


def test_complaints_turned_into_praise(world):
    e = world.engagement
    tt = world.texts_truth.set_index("event_id")["group"]
    praise = e[e["event_id"].isin(tt.index[tt == "praise"])]
    assert len(praise) > 100
    assert set(praise["kind"]) == {"mention", "review"}
    resolved = e[(e["kind"] == "reply") & e["resolved"].fillna(False)]
    first_resolved = resolved.groupby("customer_id")["timestamp"].min()
    # Every praise follows a resolved care reply of the same customer.
    assert (praise["timestamp"].to_numpy()
            > first_resolved.loc[praise["customer_id"]].to_numpy()).all()  # fmt: skip
    # Replies come after a complaint, mostly within hours.
    complaints = e[e["kind"] == "complaint"].groupby("customer_id")["timestamp"].min()
    assert (resolved.groupby("customer_id")["timestamp"].min() > complaints.loc[
        first_resolved.index]).all()  # fmt: skip


# ---- planted truth ---------------------------------------------------------------------


def test_truth_is_consistent_with_the_tables(world):
    tr, t = world.truth, world.transactions
    hold = t[t["timestamp"] > world.calibration_end]
    rev = hold.groupby("customer_id")["amount"].sum().reindex(tr["customer_id"], fill_value=0)
    assert_allclose(tr["realised_revenue"].to_numpy(), rev.to_numpy(), atol=0.011)
    assert_array_equal(tr["churned"], tr["realised_purchases"] == 0)
    assert_allclose(tr["expected_clv"], tr["expected_purchases"] * tr["mean_spend"])
    assert (tr.loc[~tr["alive_at_calibration_end"], "expected_purchases"] == 0).all()
    dead_at_cal = tr["dropout_time"] <= world.calibration_end
    assert_array_equal(dead_at_cal, ~tr["alive_at_calibration_end"])
    # Dead customers buy nothing in the holdout.
    assert (tr.loc[dead_at_cal, "realised_purchases"] == 0).all()
    treated = tr["care_resolved_before_calibration"]
    assert (tr.loc[treated, "dropout_probability"]
            < tr.loc[treated, "dropout_probability_untreated"]).all()  # fmt: skip
    assert_array_equal(tr.loc[~treated, "dropout_probability"],
                       tr.loc[~treated, "dropout_probability_untreated"])  # fmt: skip


def test_analytic_truth_matches_realised_outcomes(world):
    tr = world.truth
    n = len(tr)
    resid = tr["realised_revenue"] - tr["expected_clv"]
    assert abs(resid.mean()) < 4 * resid.std() / np.sqrt(n)
    resid = tr["realised_purchases"] - tr["expected_purchases"]
    assert abs(resid.mean()) < 4 * resid.std() / np.sqrt(n)
    resid = tr["churned"].astype(float) - tr["churn_probability"]
    assert abs(resid.mean()) < 4 * resid.std() / np.sqrt(n)


def _bgnbd_mean(t, r, alpha, a, b):
    """FHL 2005 eq. (9)."""
    return (
        (a + b - 1)
        / (a - 1)
        * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t)))
    )


def test_placebo_purchases_follow_the_planted_bgnbd(placebo):
    r, alpha, a, b = (placebo.params["bgnbd"][k] for k in ("r", "alpha", "a", "b"))
    t = placebo.transactions
    first = t.groupby("customer_id")["timestamp"].min()
    cal = t[t["timestamp"] <= placebo.calibration_end].groupby("customer_id")["timestamp"]
    x = (cal.size() - 1).to_numpy()
    T = ((placebo.calibration_end - first) / pd.Timedelta(weeks=1)).to_numpy()
    resid = x - _bgnbd_mean(T, r, alpha, a, b)
    assert abs(resid.mean()) < 4 * resid.std() / np.sqrt(x.size)


@pytest.mark.slow
def test_placebo_bgnbd_parameters_recovered_by_lifetimes(placebo):
    lifetimes = pytest.importorskip("lifetimes")
    r, alpha, a, b = (placebo.params["bgnbd"][k] for k in ("r", "alpha", "a", "b"))
    t = placebo.transactions
    first = t.groupby("customer_id")["timestamp"].min()
    cal = t[t["timestamp"] <= placebo.calibration_end].groupby("customer_id")["timestamp"]
    x = (cal.size() - 1).to_numpy()
    T = ((placebo.calibration_end - first) / pd.Timedelta(weeks=1)).to_numpy()
    recency = ((cal.max() - first) / pd.Timedelta(weeks=1)).to_numpy()
    fit = lifetimes.BetaGeoFitter().fit(x, recency, T)
    for name, true in {"r": r, "alpha": alpha, "a": a, "b": b}.items():
        est, se = fit.summary.loc[name, "coef"], fit.summary.loc[name, "se(coef)"]
        assert abs(est - true) < 4 * se, (name, est, true, se)


def test_care_effect_is_recovered_by_the_randomised_contrast():
    ds = generate_social_commerce(50_000, seed=11, social_effect=3.0)
    tr, c = ds.truth, ds.customers
    complained = _pre_cutoff_counts(ds, "complaint")
    control = c["control_group"].to_numpy()
    churned = tr["churned"].to_numpy().astype(float)
    effect = (tr["churn_probability_untreated"] - tr["churn_probability"]).to_numpy()
    # Intention to treat among customers who complained before the cut-off.
    est, se = _diff_of_means(churned, (complained > 0) & control, (complained > 0) & ~control)
    planted = effect[(complained > 0) & ~control].mean()
    assert planted > 5 * se  # the test has the power to see the effect
    assert abs(est - planted) < 4 * se
    # Customers with one complaint that a care reply resolved vs one-complaint controls
    # (resolution is random given a reply, so the groups are comparable).
    resolved = tr["care_resolved_before_calibration"].to_numpy()
    one = complained == 1
    est, se = _diff_of_means(churned, one & control, one & resolved)
    planted = effect[one & resolved].mean()
    assert abs(est - planted) < 4 * se and est > 3 * se


def _engagement_signals(ds):
    """Per-customer engagement rates before the cut-off (per week of tenure)."""
    tenure = _tenure_weeks(ds)
    kinds = ("complaint", "share", "mention", "email_open", "site_visit", "like")
    return {k: _pre_cutoff_counts(ds, k) / tenure for k in kinds}


def test_placebo_churn_is_independent_of_engagement(placebo, world):
    n = len(placebo.truth)
    bound = 4 / np.sqrt(n)
    churned = placebo.truth["churned"].to_numpy().astype(float)
    for kind, rate in _engagement_signals(placebo).items():
        assert abs(np.corrcoef(rate, churned)[0, 1]) < bound, kind
    control = placebo.customers["control_group"].to_numpy()
    complained = _pre_cutoff_counts(placebo, "complaint") > 0
    diff, se = _diff_of_means(churned, complained & control, complained & ~control)
    assert abs(diff) < 4 * se
    assert_allclose(
        placebo.truth["churn_probability"], placebo.truth["churn_probability_untreated"]
    )
    # The same statistics do see the planted effects in the effect world.
    churned = world.truth["churned"].to_numpy().astype(float)
    corr = {k: np.corrcoef(r, churned)[0, 1] for k, r in _engagement_signals(world).items()}
    assert corr["email_open"] < -bound and corr["site_visit"] < -bound
    assert corr["like"] < -bound and corr["share"] < -bound  # advocates buy more
    assert corr["complaint"] > bound


def test_engagement_does_not_depend_on_purchase_effects():
    kw = {"disengagement_effect": 0.0}
    a = generate_social_commerce(2000, seed=3, **kw)
    b = generate_social_commerce(2000, seed=3, social_effect=2.0, sentiment_effect=2.0,
                                 advocacy_effect=1.0, **kw)  # fmt: skip
    pd.testing.assert_frame_equal(a.engagement, b.engagement)
    assert not a.transactions.equals(b.transactions)


# ---- writing, reading, CLI -------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_write_and_read_roundtrip(small, tmp_path, fmt):
    out = write_dataset(small, tmp_path / "social", fmt=fmt)
    names = sorted(p.name for p in out.iterdir())
    tables = ["customers", "engagement", "texts_truth", "transactions", "truth"]
    assert names == sorted([f"{n}.{fmt}" for n in tables] + ["metadata.json"])
    assert [p.name for p in tmp_path.iterdir()] == ["social"]  # no temporary leftovers
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["calibration_end"] == str(small.calibration_end) and meta["format"] == fmt
    back = read_dataset(out)
    assert back.calibration_end == small.calibration_end
    for name in tables:
        pd.testing.assert_frame_equal(
            getattr(back, name), getattr(small, name), check_dtype=False, check_exact=False
        )
    with pytest.raises(OutputExistsError, match="not empty"):
        write_dataset(small, out, fmt=fmt)
    (out / "README.md").write_text("notes")
    (out / f"transactions.{fmt}").write_text("corrupt")
    write_dataset(small, out, fmt=fmt, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["social"]
    assert (out / "README.md").read_text() == "notes"
    assert len(read_dataset(out).transactions) == len(small.transactions)


def test_read_dataset_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"metadata\.json"):
        read_dataset(tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_customers": 0}, "n_customers"),
        ({"control_share": 1.5}, "control_share"),
        ({"calibration_end": "2023-06-01"}, "calibration_end"),
        ({"horizon": 0}, "horizon"),
        ({"bgnbd": (0.6, -8.0, 1.0, 4.0)}, "alpha"),
        ({"gamma_gamma": (6.0, 4.0, float("nan"))}, "v must be"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate_social_commerce(**({"n_customers": 10} | kwargs))


def test_cli_generate_writes_the_tables(tmp_path, capsys):
    out = tmp_path / "gen"
    code = run(["generate", "--customers", "400", "--seed", "2", "--out", str(out),
                "--format", "csv", "--placebo"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert (out / "transactions.csv").is_file() and (out / "truth.csv").is_file()
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["social_effect"] == 0.0 and meta["n_customers"] == 400
    assert "engagement" in capsys.readouterr().out
    same = generate_social_commerce(400, seed=2, **PLACEBO)
    back = read_dataset(out)
    assert_allclose(back.transactions["amount"], same.transactions["amount"])
    # A second run into the same folder is a user error: one line, exit code 2.
    assert run(["generate", "--customers", "10", "--out", str(out)]) == 2
    assert "OutputExistsError" in capsys.readouterr().err
    assert run(["generate", "--customers", "10", "--out", str(out), "--overwrite",
                "--social-effect", "0.5", "--control-share", "0.5"]) == 0  # fmt: skip
    assert json.loads((out / "metadata.json").read_text())["control_share"] == 0.5
    assert run(["generate", "--customers", "10", "--out", str(tmp_path / "x"),
                "--control-share", "2"]) == 2  # fmt: skip


def test_shipped_dataset_matches_its_command():
    shipped = load_social_commerce()
    meta = shipped.params
    assert meta["n_customers"] == 5000 and meta["seed"] == 2026
    fresh = generate_social_commerce(5000, 2026)
    for name in ("customers", "transactions", "engagement", "truth", "texts_truth"):
        pd.testing.assert_frame_equal(
            getattr(shipped, name), getattr(fresh, name), check_dtype=False
        )
