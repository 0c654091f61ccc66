"""Tests of clvml.features.engagement.EngagementFeatures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from clvml.data.contracts import CHANNELS, KINDS
from clvml.exceptions import DataValidationError
from clvml.features.engagement import EngagementFeatures
from clvml.features.sentiment import sentiment_scores

CUTOFF = pd.Timestamp("2024-03-01")


def tiny_log() -> pd.DataFrame:
    rows = [
        # customer a: a complaint answered in 6 h (unresolved), a DM answered in 12 h (resolved),
        # then praise (unanswered mention), three site visits on two days
        ("a", "2024-01-01 00:00", "twitter", "complaint", "inbound",
         "The delivery was late and the box was damaged.", "en", None, None),
        ("a", "2024-01-01 06:00", "twitter", "reply", "outbound", "Sorry!", "en", None, False),
        ("a", "2024-01-02 00:00", "twitter", "direct_message", "inbound", "Still waiting.", "en",
         None, None),
        ("a", "2024-01-02 12:00", "twitter", "direct_message", "outbound", "Refund sent", "en",
         None, True),
        ("a", "2024-02-20 00:00", "facebook", "mention", "inbound", "Thanks, great service!", "en",
         100, None),
        ("a", "2024-02-25 09:00", "web", "site_visit", "inbound", None, None, None, None),
        ("a", "2024-02-25 18:00", "web", "site_visit", "inbound", None, None, None, None),
        ("a", "2024-02-27 10:00", "web", "site_visit", "inbound", None, None, None, None),
        ("a", "2024-03-01 00:00", "twitter", "complaint", "inbound", "awful", "en", None, None),
        # customer b: Spanish, e-mail opens rising over the last weeks, a share, self-help
        ("b", "2024-02-02 00:00", "email", "email_open", "inbound", None, None, None, None),
        ("b", "2024-02-20 00:00", "email", "email_open", "inbound", None, None, None, None),
        ("b", "2024-02-27 00:00", "email", "email_open", "inbound", None, None, None, None),
        ("b", "2024-02-28 00:00", "email", "email_open", "inbound", None, None, None, None),
        ("b", "2024-02-28 01:00", "email", "email_click", "inbound", None, None, None, None),
        ("b", "2024-02-10 00:00", "instagram", "share", "inbound", None, None, 50, None),
        ("b", "2024-02-11 00:00", "app", "self_help_view", "inbound", None, None, None, None),
        ("b", "2024-02-12 00:00", "instagram", "comment", "inbound", "No me gustó nada el envío",
         "es", 10, None),
        ("b", "2024-02-14 00:00", "instagram", "comment", "inbound", "Muy buen producto, gracias",
         "es", 20, None),
    ]  # fmt: skip
    cols = ["customer_id", "timestamp", "channel", "kind", "direction", "text", "language",
            "reach", "resolved"]  # fmt: skip
    df = pd.DataFrame(rows, columns=cols)
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    df["reach"] = df["reach"].astype("Int64")
    df["resolved"] = df["resolved"].astype("boolean")
    return df


@pytest.fixture(scope="module")
def feats() -> pd.DataFrame:
    return EngagementFeatures(cutoff=CUTOFF).fit_transform(tiny_log())


def test_hand_computed_counts_and_care(feats):
    a = feats.loc["a"]
    assert a["n_events"] == 8 and a["n_inbound"] == 6 and a["n_outbound"] == 2  # 03-01 excluded
    assert_allclose(a["tenure_weeks"], 60 / 7)  # 2024-01-01 .. 2024-03-01 (leap year)
    assert_allclose(a["days_since_last_inbound"], 2 + 14 / 24)  # 2024-02-27 10:00 (29 Feb)
    assert a["kind_complaint_n"] == 1 and a["kind_site_visit_n"] == 3
    assert a["kind_reply_n"] == 0  # kinds count inbound events; the reply was outbound
    assert a["channel_twitter_n"] == 2 and a["channel_web_n"] == 3
    assert_allclose(a["channel_web_per_week"], 3 / (60 / 7))
    assert a["n_inbound_last_30d"] == 4 and a["n_complaints_last_90d"] == 1
    assert a["n_complaints_last_30d"] == 0
    assert a["care_requests"] == 3 and a["care_replies"] == 2  # complaint, DM, mention
    assert_allclose(a["care_response_hours_median"], 9.0)  # median(6, 12)
    assert_allclose(a["care_unanswered_share"], 1 / 3)  # the mention got no reply
    assert_allclose(a["care_resolution_share"], 0.5)
    assert_allclose(a["complaint_share"], 1 / 6)
    assert a["complaints_turned_praise"] == 1
    assert a["site_visit_days"] == 2
    assert_allclose(a["returning_visit_rate"], (2 - 1) / (3 - 1))
    assert a["advocacy_events"] == 1 and a["advocacy_reach"] == 100
    assert_allclose(a["advocacy_score"], 1 + np.log1p(100))


def test_hand_computed_sentiment(feats):
    a = feats.loc["a"]
    s = sentiment_scores(
        [
            "The delivery was late and the box was damaged.",
            "Still waiting.",
            "Thanks, great service!",
        ],
        "en",
    )
    assert s[0] < 0 < s[2]
    assert a["n_texts"] == 3
    assert_allclose(a["sentiment_mean"], s.mean())
    assert_allclose(a["sentiment_last"], s[2])
    assert_allclose(a["sentiment_negative_share"], np.mean(s <= -0.05))
    weeks = np.array([-60.0, -59.0, -10.0]) / 7  # days before the cut-off, in weeks
    assert_allclose(a["sentiment_trend"], np.polyfit(weeks, s, 1)[0])
    assert_allclose(a["sentiment_mean_last_30d"], s[2])


def test_hand_computed_email_and_advocacy(feats):
    b = feats.loc["b"]
    assert b["email_opens_per_week"] > 0 and np.isnan(b["email_open_rate"])  # nothing sent
    assert b["emails_sent"] == 0
    assert_allclose(b["email_click_rate"], 1 / 4)
    tenure_days = (CUTOFF - pd.Timestamp("2024-02-02")).days  # 28 days -> 4 weeks
    assert_allclose(b["tenure_weeks"], tenure_days / 7)
    assert_allclose(b["email_opens_per_week"], 4 / 4)
    # weekly opens, oldest week first: [1, 0, 1, 2] (weeks ending 02-09, 02-16, 02-23, 03-01)
    assert_allclose(b["email_open_trend"], np.polyfit(np.arange(4), [1, 0, 1, 2], 1)[0])
    # advocacy: the share (no text) and the positive comment, not the negative one
    assert b["advocacy_events"] == 2 and b["advocacy_reach"] == 70
    assert_allclose(b["self_help_share"], 1.0)  # one self-help view, no care requests
    assert b["complaints_turned_praise"] == 0 and b["kind_comment_n"] == 2
    es = sentiment_scores(["No me gustó nada el envío", "Muy buen producto, gracias"], "es")
    assert es[0] < 0 < es[1]
    assert_allclose(b["sentiment_last"], es[1])


def test_health_score_formula(feats):
    a = feats.loc["a"]
    s = a["sentiment_mean_last_90d"]
    want = 100 * (
        0.30 * (s + 1) / 2
        + 0.20 * 2 ** (-a["days_since_last_inbound"] / 30)
        + 0.15 * (1 - 2 ** (-a["n_inbound_last_90d"] / 5))
        + 0.15 * 0.5  # resolution share of the care replies
        + 0.10 * (1 - 1 / 6)
        + 0.10 * 0.0  # no e-mail opens, nothing sent
    )
    assert_allclose(a["health_score"], want)
    assert ((feats["health_score"] >= 0) & (feats["health_score"] <= 100)).all()


def test_no_leakage_from_events_at_or_after_cutoff():
    base = tiny_log()
    est = EngagementFeatures(cutoff=CUTOFF).fit(base)
    before = est.transform(base)
    rng = np.random.default_rng(0)
    n = 200
    future = pd.DataFrame(
        {
            "customer_id": rng.choice(["a", "b", "c"], n),
            "timestamp": CUTOFF + pd.to_timedelta(rng.integers(0, 90 * 24, n), unit="h"),
            "channel": rng.choice(CHANNELS, n),
            "kind": rng.choice(KINDS, n),
            "direction": rng.choice(["inbound", "outbound"], n),
            "text": rng.choice(["terrible!", "love it", "fatal", None], n),
            "language": rng.choice(["en", "es"], n),
            "reach": pd.array(rng.integers(0, 10_000, n), dtype="Int64"),
            "resolved": pd.array(rng.random(n) < 0.5, dtype="boolean"),
        }
    )
    more = pd.concat([base, future], ignore_index=True)
    pd.testing.assert_frame_equal(est.transform(more), before)
    # modifying the event exactly at the cut-off changes nothing either
    edited = base.copy()
    at = edited["timestamp"] == CUTOFF
    edited.loc[at, ["kind", "text"]] = ["mention", "best shop ever!!!"]
    pd.testing.assert_frame_equal(est.transform(edited), before)
    # ... while the same edit one second earlier does (the test can fail)
    edited.loc[at, "timestamp"] = CUTOFF - pd.Timedelta(seconds=1)
    assert not est.transform(edited).equals(before)


def test_customers_without_events_get_zero_counts_and_nan_statistics():
    est = EngagementFeatures(cutoff=CUTOFF).fit(tiny_log())
    out = est.transform(tiny_log(), customers=["z", "b", "a"])
    assert list(out.index) == ["z", "b", "a"] and out.index.name == "customer_id"
    z = out.loc["z"]
    counts = [c for c in out.columns if c.endswith("_n") or c.startswith("n_")]
    assert (z[counts] == 0).all()
    assert np.isnan(z["sentiment_mean"]) and np.isnan(z["days_since_last_inbound"])
    assert_allclose(z["health_score"], 100 * (0.30 * 0.5 + 0.15 * 0.5 + 0.10 * 1.0))
    pd.testing.assert_series_equal(out.loc["a"], est.transform(tiny_log()).loc["a"])
    early = EngagementFeatures(cutoff="2020-01-01").fit(tiny_log())  # every event is later
    assert early.transform(tiny_log()).shape == (0, len(early.get_feature_names_out()))
    assert (early.transform(tiny_log(), customers=["a"])["n_events"] == 0).all()
    filled = EngagementFeatures(cutoff=CUTOFF, fill_value=0.0).fit_transform(tiny_log())
    assert not filled.isna().any().any()


def test_customers_frame_with_acquisition_date_sets_tenure():
    customers = pd.DataFrame(
        {"customer_id": ["a", "q"], "acquisition_date": ["2023-12-01", "2024-02-16"]}
    )
    out = (
        EngagementFeatures(cutoff=CUTOFF).fit(tiny_log()).transform(tiny_log(), customers=customers)
    )
    assert_allclose(out.loc["a", "tenure_weeks"], 13.0)  # acquisition earlier than first event
    assert_allclose(out.loc["q", "tenure_weeks"], 2.0)
    with pytest.raises(DataValidationError, match="match none of the customers"):
        EngagementFeatures(cutoff=CUTOFF).fit_transform(tiny_log(), customers=[1, 2])


def test_sklearn_api_clone_pipeline_and_feature_names():
    log = tiny_log()
    est = EngagementFeatures(cutoff="2024-03-01", windows=(7, 30), fill_value=0.0)
    assert clone(est).get_params() == est.get_params()
    with pytest.raises(Exception, match="not fitted"):
        est.transform(log)
    out = est.fit_transform(log)
    assert list(out.columns) == list(est.get_feature_names_out())
    assert "n_inbound_last_7d" in out.columns and "n_inbound_last_90d" not in out.columns
    assert out.dtypes.eq("float64").all()
    assert not hasattr(clone(est), "cutoff_")
    pipe = Pipeline([("engagement", clone(est)), ("model", LogisticRegression())])
    y = np.array([1, 0])  # one label per customer, in output order (sorted ids: a, b)
    pipe.set_output(transform="pandas")
    pipe.fit(log, y)
    assert pipe.predict_proba(log).shape == (2, 2)
    np.testing.assert_array_equal(pipe[:-1].get_feature_names_out(), est.get_feature_names_out())


def test_default_cutoff_is_midnight_after_last_event():
    log = tiny_log()
    est = EngagementFeatures().fit(log)
    assert est.cutoff_ == pd.Timestamp("2024-03-02")
    assert est.transform(log).loc["a", "n_events"] == 9


def test_categorical_and_messy_categories_give_same_features(feats):
    log = tiny_log()
    log["channel"] = log["channel"].str.upper().astype("category")
    log["kind"] = log["kind"].astype("category")
    log["customer_id"] = pd.Categorical(log["customer_id"], categories=["b", "unused", "a"])
    log["direction"] = " " + log["direction"] + " "
    pd.testing.assert_frame_equal(EngagementFeatures(cutoff=CUTOFF).fit_transform(log), feats)


def test_precomputed_sentiment_column_is_used(feats):
    log = tiny_log()
    log["sentiment"] = sentiment_scores(log["text"], log["language"])
    log = log.drop(columns=["text", "language"])
    pd.testing.assert_frame_equal(EngagementFeatures(cutoff=CUTOFF).fit_transform(log), feats)


def test_bad_input_raises():
    log = tiny_log()
    est = EngagementFeatures(cutoff=CUTOFF)
    with pytest.raises(DataValidationError, match="column 'kind'"):
        est.fit(log.drop(columns="kind"))
    bad = log.copy()
    bad.loc[[0, 1], "channel"] = "tiktok"
    with pytest.raises(DataValidationError, match=r"column 'channel': 2 rows .*'tiktok'"):
        est.fit_transform(bad)
    bad = log.copy()
    bad["timestamp"] = bad["timestamp"].astype(object)
    bad.loc[3, "timestamp"] = "not a date"
    with pytest.raises(DataValidationError, match="column 'timestamp': 1 row"):
        est.fit(bad)
    with pytest.raises(ValueError, match="windows"):
        EngagementFeatures(windows=(0, 30)).fit(log)
    with pytest.raises(ValueError, match="unknown health_weights"):
        EngagementFeatures(health_weights={"mood": 1.0}).fit(log)


# --- parity with a plain per-customer implementation on random logs ---------------------------


def random_log(n_customers: int, n_events: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2023-06-01")
    kinds = np.array(["complaint", "direct_message", "mention", "reply", "site_visit",
                      "email_open", "share", "comment"])  # fmt: skip
    kind = rng.choice(kinds, n_events, p=[0.15, 0.1, 0.1, 0.2, 0.2, 0.15, 0.05, 0.05])
    outbound = (kind == "reply") | ((kind == "direct_message") & (rng.random(n_events) < 0.5))
    texts = np.array(["terrible service", "love it", "where is my order?", "not good", "great!"])
    return pd.DataFrame(
        {
            "customer_id": rng.integers(0, n_customers, n_events).astype(str),
            "timestamp": start + pd.to_timedelta(rng.integers(0, 300 * 24 * 60, n_events), "min"),
            "channel": rng.choice(["twitter", "web", "email"], n_events),
            "kind": kind,
            "direction": np.where(outbound, "outbound", "inbound"),
            "sentiment": np.where(rng.random(n_events) < 0.6, rng.uniform(-1, 1, n_events), np.nan),
            "text": rng.choice(texts, n_events),
            "resolved": rng.random(n_events) < 0.5,
        }
    )


def reference_features(log: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Straightforward per-customer loops: an independent implementation of a few features."""
    rows = {}
    for cid, g in log[log["timestamp"] < cutoff].groupby("customer_id"):
        g = g.sort_values(["timestamp", "direction"], kind="stable")
        inbound = g[g["direction"] == "inbound"]
        replies = g[(g["direction"] == "outbound") & g["kind"].isin(["reply", "direct_message"])]
        hours = []
        for _, t in inbound[
            inbound["kind"].isin(["complaint", "direct_message", "mention"])
        ].iterrows():
            later = replies[replies["timestamp"] >= t["timestamp"]]
            if len(later):
                hours.append((later["timestamp"].iloc[0] - t["timestamp"]).total_seconds() / 3600)
        texts = inbound.dropna(subset=["sentiment"])
        praise = texts[(texts["sentiment"] >= 0.05) & (texts["kind"] != "complaint")]
        turned = 0
        if len(praise):
            last_praise = praise["timestamp"].max()
            turned = int(
                ((inbound["kind"] == "complaint") & (inbound["timestamp"] < last_praise)).sum()
            )
        visits = inbound[inbound["kind"] == "site_visit"]
        days = np.floor((cutoff - visits["timestamp"]) / pd.Timedelta(days=1)).nunique()
        x = ((texts["timestamp"] - cutoff) / pd.Timedelta(days=7)).to_numpy()
        trend = np.polyfit(x, texts["sentiment"], 1)[0] if len(texts) >= 2 else np.nan
        tenure_days = (cutoff - g["timestamp"].min()) / pd.Timedelta(days=1)
        n_weeks = int(np.ceil(min(tenure_days, 90) / 7))
        opens = inbound[inbound["kind"] == "email_open"]
        back = (np.ceil((cutoff - opens["timestamp"]) / pd.Timedelta(days=7)) - 1).astype(int)
        weekly = np.bincount(n_weeks - 1 - back[back < n_weeks], minlength=n_weeks)
        rows[cid] = {
            "care_response_hours_median": np.median(hours) if hours else np.nan,
            "complaints_turned_praise": turned,
            "site_visit_days": days,
            "returning_visit_rate": (days - 1) / (len(visits) - 1) if len(visits) > 1 else np.nan,
            "sentiment_last": texts["sentiment"].iloc[-1] if len(texts) else np.nan,
            "sentiment_trend": trend,
            "email_open_trend": np.polyfit(np.arange(n_weeks), weekly, 1)[0]
            if n_weeks >= 2
            else np.nan,
        }
    return pd.DataFrame.from_dict(rows, orient="index").sort_index()


@pytest.mark.parametrize("seed", [0, 1])
def test_parity_with_per_customer_loops(seed):
    log = random_log(30, 1500, seed)
    cutoff = pd.Timestamp("2024-02-01")
    out = EngagementFeatures(cutoff=cutoff).fit_transform(log)
    ref = reference_features(log, cutoff)
    assert list(out.index) == list(ref.index)
    for col in ref.columns:
        assert_allclose(
            out[col].to_numpy(), ref[col].to_numpy(float), rtol=1e-9, atol=1e-12, err_msg=col
        )


# --- planted truth of the generator ---------------------------------------------------------


def test_features_track_the_generators_planted_latents():
    synthetic = pytest.importorskip("clvml.data.synthetic")
    from scipy.stats import spearmanr

    data = synthetic.generate_social_commerce(4000, seed=3)
    est = EngagementFeatures(cutoff=data.calibration_end).fit(data.engagement)
    feats = est.transform(data.engagement, customers=data.customers)
    assert len(feats) == len(data.customers)  # customers without events are kept
    truth = data.truth.set_index("customer_id").reindex(feats.index)

    def rho(feature: str, latent: str) -> float:
        ok = feats[feature].notna()
        return spearmanr(feats[feature][ok], truth[latent][ok].astype(float)).statistic

    # measured (seed 3): 0.46, -0.41, 0.27, 0.52, 0.85
    assert rho("sentiment_mean", "satisfaction") > 0.35
    assert rho("complaint_share", "satisfaction") < -0.3
    assert rho("advocacy_events", "advocacy") > 0.18
    assert rho("n_inbound", "engagement_propensity") > 0.4
    assert rho("care_resolution_share", "care_resolved_before_calibration") > 0.7
    # the randomised control group never gets a care reply
    control = data.customers.set_index("customer_id")["control_group"].reindex(feats.index)
    in_control = feats[control.to_numpy(dtype=bool)]
    assert (in_control["care_replies"] == 0).all()
    asked = in_control["care_requests"] > 0
    assert asked.any() and (in_control.loc[asked, "care_unanswered_share"] == 1).all()
