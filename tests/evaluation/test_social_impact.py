"""Tests of the social-care impact report: published interval values, a hand-checked world,
recovery of the planted care effect on generated data, the placebo world, bad input and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from clvml.data.synthetic import generate_social_commerce, write_dataset
from clvml.evaluation._impact_stats import mean_ci, newcombe_diff, welch_diff, wilson
from clvml.evaluation.social_impact import SocialImpactReport, social_impact_report
from clvml.exceptions import DataValidationError

# --- intervals ----------------------------------------------------------------------------


def test_wilson_matches_published_values() -> None:
    # Newcombe (1998a), Table I: 81/263 -> 0.2553 to 0.3662; 0/10 -> 0 to 0.2775
    assert_allclose(wilson(81, 263)[1:], [0.2553, 0.3662], atol=5e-5)
    assert_allclose(wilson(0, 10)[1:], [0.0, 0.2775], atol=5e-5)
    assert np.isnan(wilson(0, 0)).all()


@pytest.mark.parametrize(
    ("counts", "published"),
    [
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ],
)
def test_newcombe_matches_published_method_10(counts, published) -> None:
    # Newcombe (1998b), Table II, method 10 (hybrid score)
    d, lo, hi = newcombe_diff(*counts)
    assert_allclose(d, counts[0] / counts[1] - counts[2] / counts[3])
    assert_allclose((lo, hi), published, atol=5e-5)


def test_mean_and_welch_match_scipy() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.gamma(2.0, 3.0, 40), rng.gamma(2.0, 4.0, 25)
    _, lo, hi = mean_ci(a, 0.9)
    assert_allclose((lo, hi), stats.t.interval(0.9, a.size - 1, a.mean(), stats.sem(a)))
    d, lo, hi = welch_diff(a, b, 0.95)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert_allclose((d, lo, hi), (a.mean() - b.mean(), ci.low, ci.high))


# --- a world small enough to check by hand -------------------------------------------------

T = pd.Timestamp


def _hand_world() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    tx = pd.DataFrame(
        [
            ("A", "2024-01-01", 10.0), ("A", "2024-01-15", 20.0), ("A", "2024-04-10", 30.0),
            ("B", "2024-01-05", 10.0),
            ("C", "2024-01-10", 50.0), ("C", "2024-04-05", 40.0),
            ("D", "2024-01-01", 10.0), ("D", "2024-02-01", 10.0), ("D", "2024-04-20", 25.0),
            ("E", "2024-01-20", 15.0),
            ("F", "2024-02-01", 5.0), ("F", "2024-04-29", 5.0),  # after the holdout
            ("G", "2024-01-01", 10.0), ("G", "2024-04-15", 12.0),
            ("H", "2024-01-02", 8.0),
            ("I", "2024-04-02", 9.0),  # first purchase after the cut-off
            ("J", "2024-01-03", 7.0),  # not in the customers table
        ],
        columns=["customer_id", "timestamp", "amount"],
    )  # fmt: skip
    tx["timestamp"] = pd.to_datetime(tx["timestamp"])
    ev = pd.DataFrame(
        [
            ("A", "2024-02-01 10:00", "twitter", "complaint", "inbound", -0.6, 0, None),
            ("A", "2024-02-01 15:00", "twitter", "reply", "outbound", 0.0, 0, True),
            ("A", "2024-02-10 09:00", "twitter", "mention", "inbound", 0.8, 100, None),
            ("B", "2024-02-05 10:00", "email", "complaint", "inbound", -0.5, 0, None),
            ("B", "2024-02-06 10:00", "email", "reply", "outbound", 0.0, 0, False),
            ("B", "2024-03-01 10:00", "web", "self_help_view", "inbound", np.nan, 0, None),
            ("B", "2024-03-03 10:00", "twitter", "direct_message", "inbound", 0.0, 0, None),
            ("C", "2024-02-01 10:00", "facebook", "share", "inbound", np.nan, 50, None),
            ("C", "2024-03-10 10:00", "app", "self_help_view", "inbound", np.nan, 0, None),
            ("D", "2024-02-15 10:00", "phone", "complaint", "inbound", -0.7, 0, None),
            ("D", "2024-04-02 10:00", "twitter", "mention", "inbound", 0.9, 500, None),
            ("E", "2024-03-01 10:00", "facebook", "complaint", "inbound", -0.3, 0, None),
            ("E", "2024-04-03 10:00", "facebook", "complaint", "inbound", -0.3, 0, None),
            ("G", "2024-03-20 10:00", "phone", "complaint", "inbound", -0.4, 0, None),
            ("G", "2024-03-20 11:00", "phone", "reply", "outbound", 0.0, 0, True),
            ("G", "2024-04-05 10:00", "phone", "complaint", "inbound", -0.4, 0, None),
            ("G", "2024-04-05 11:00", "phone", "reply", "outbound", 0.0, 0, True),
            ("H", "2024-05-01 10:00", "twitter", "complaint", "inbound", -0.4, 0, None),
        ],
        columns=[
            "customer_id", "timestamp", "channel", "kind", "direction", "sentiment", "reach",
            "resolved",
        ],
    )  # fmt: skip
    ev["timestamp"] = pd.to_datetime(ev["timestamp"])
    ev["resolved"] = ev["resolved"].astype("boolean")
    cust = pd.DataFrame(
        {
            "customer_id": list("ABCDEFGHI"),
            "control_group": [False, False, False, True, True, True, False, False, False],
        }
    )
    return tx, ev, cust


@pytest.fixture(scope="module")
def hand() -> SocialImpactReport:
    tx, ev, cust = _hand_world()
    return social_impact_report(tx, ev, cust, cutoff="2024-03-31", horizon_weeks=4)


def _est(rep: SocialImpactReport, *key: str) -> float:
    return float(rep.get(*key)["estimate"])


def test_hand_scope_and_flags(hand: SocialImpactReport) -> None:
    c = hand.customers
    assert list(c.index) == list("ABCDEFGH")  # I bought after the cut-off, J is unknown
    assert any("1 customers with purchases" in n for n in hand.notes)
    assert any("1 customers of the customers table had no purchase" in n for n in hand.notes)
    assert list(c.index[c.eligible]) == list("ABDEG")  # H's complaint is after the cut-off
    assert list(c.index[c.engaged]) == list("ABG")
    assert list(c.index[c.resolved]) == list("AG")
    assert list(c.index[c.retained]) == list("ACDG")  # F's purchase is after the holdout
    assert_allclose(c["revenue"], [30, 0, 40, 25, 0, 0, 12, 0])
    assert hand.parameters["holdout_end"] == "2024-04-28"


def test_hand_retention_and_causal(hand: SocialImpactReport) -> None:
    r = "retention_by_group"
    assert_allclose(_est(hand, r, "engaged", "retention"), 2 / 3)
    assert_allclose(_est(hand, r, "engaged", "mean_holdout_revenue"), 14.0)
    assert_allclose(_est(hand, r, "not_engaged", "retention"), 1 / 2)
    assert_allclose(_est(hand, r, "control", "mean_holdout_revenue"), 25 / 3)
    row = hand.get("causal_itt", "treated_minus_control", "retention_diff")
    assert_allclose(row["estimate"], 2 / 3 - 1 / 2)
    assert_allclose((row["ci_low"], row["ci_high"]), newcombe_diff(2, 3, 1, 2)[1:])
    assert_allclose(_est(hand, "causal_itt", "treated_minus_control", "revenue_diff"), 14 - 12.5)
    assert_allclose(_est(hand, "causal_itt", "treated_eligible", "share_resolved"), 2 / 3)
    naive = "naive_engaged_minus_not"
    assert_allclose(_est(hand, "causal_itt", naive, "retention_diff"), 2 / 3 - 2 / 5)
    assert_allclose(_est(hand, "causal_itt", naive, "revenue_diff"), 14 - 65 / 5)


def test_hand_costs_and_self_help(hand: SocialImpactReport) -> None:
    m = "cost_savings"
    # before the cut-off: A on twitter (1.0), B by email (2.5), G by phone (6.0)
    assert_allclose(_est(hand, m, "all", "contacts_handled"), 3)
    assert_allclose(_est(hand, m, "all", "cost"), 9.5)
    assert_allclose(_est(hand, m, "all", "cost_if_phone"), 18.0)
    assert_allclose(_est(hand, m, "all", "saving_vs_phone"), 8.5)
    assert_allclose(_est(hand, m, "email", "saving_vs_phone"), 3.5)
    # B's view is followed by a DM two days later; C's is not
    assert_allclose(_est(hand, m, "self_help", "deflected_views"), 1)
    assert_allclose(_est(hand, m, "self_help", "saving_from_deflection"), 9.5 / 3)
    assert_allclose(_est(hand, "self_help", "all", "share_customers_using"), 2 / 8)
    assert_allclose(_est(hand, "self_help", "all", "views_per_customer"), 2 / 8)
    assert_allclose(_est(hand, "self_help", "all", "deflection_rate"), 1 / 2)


def test_custom_costs_override_defaults_key_by_key() -> None:
    tx, ev, cust = _hand_world()
    rep = social_impact_report(
        tx, ev, cust, cutoff="2024-03-31", horizon_weeks=4, cost_per_contact={"twitter": 2.0}
    )
    assert_allclose(_est(rep, "cost_savings", "all", "cost"), 2.0 + 2.5 + 6.0)
    # a channel without a cost is listed, left out of the totals and noted
    ev2 = ev.assign(channel=ev["channel"].replace({"email": "web"}))
    rep = social_impact_report(tx, ev2, cust, cutoff="2024-03-31", horizon_weeks=4)
    assert np.isnan(_est(rep, "cost_savings", "web", "cost"))
    assert_allclose(_est(rep, "cost_savings", "all", "cost"), 1.0 + 6.0)
    assert any("web (1)" in n for n in rep.notes)


def test_hand_saves_praise_advocacy(hand: SocialImpactReport) -> None:
    assert list(hand.customers.index[hand.customers.at_risk]) == list("ABDEG")
    assert_allclose(_est(hand, "saves", "treated_at_risk", "saves"), 2)  # A and G
    assert_allclose(_est(hand, "saves", "treated_minus_control", "retention_diff"), 2 / 3 - 1 / 2)
    assert_allclose(
        _est(hand, "saves", "treated_at_risk", "incremental_saves"), 3 * (2 / 3 - 1 / 2)
    )
    m = "praise_advocacy"
    # A praised nine days after the complaint; D's praise came after the cut-off
    assert_allclose(_est(hand, m, "treated_complainers", "turned_praise"), 1 / 3)
    assert_allclose(_est(hand, m, "control_complainers", "turned_praise"), 0.0)
    assert_allclose(_est(hand, m, "all", "advocacy_posts"), 2)  # A's mention, C's share
    assert_allclose(_est(hand, m, "all", "advocacy_reach"), 150)
    assert_allclose(_est(hand, m, "treated_minus_control", "advocacy_reach_diff"), 100 / 3)


def test_hand_cross_sell(hand: SocialImpactReport) -> None:
    # repeat spend per week from the first purchase to the first contact (>= 1 week)
    # (contacts at 10:00: A 31 days 10 hours after its first purchase, D 45 days 10 hours)
    pre = {"A": 20 / ((31 + 10 / 24) / 7), "B": 0.0, "G": 0.0, "D": 10 / ((45 + 10 / 24) / 7)}
    pre["E"] = 0.0
    post = {"A": 30 / 4, "B": 0.0, "G": 12 / 4, "D": 25 / 4, "E": 0.0}
    c = hand.customers
    assert_allclose(c.loc[list(pre), "pre_rate"], list(pre.values()))
    assert c.loc[["C", "F", "H"], "pre_rate"].isna().all()
    delta = {k: post[k] - pre[k] for k in pre}
    did = np.mean([delta[k] for k in "ABG"]) - np.mean([delta[k] for k in "DE"])
    assert_allclose(_est(hand, "cross_sell", "treated_minus_control", "did_spend_per_week"), did)
    theta = _est(hand, "cross_sell", "all_eligible", "theta")
    x, y = np.array(list(pre.values())), np.array(list(post.values()))
    assert_allclose(theta, np.cov(x, y)[0, 1] / np.var(x, ddof=1))
    adj = {k: post[k] - theta * (pre[k] - x.mean()) for k in pre}
    d = np.mean([adj[k] for k in "ABG"]) - np.mean([adj[k] for k in "DE"])
    assert_allclose(_est(hand, "cross_sell", "treated_eligible", "incremental_revenue"), d * 4 * 3)


def test_to_dict_is_json(hand: SocialImpactReport) -> None:
    payload = json.loads(json.dumps(hand.to_dict()))
    assert payload["parameters"]["cutoff"] == "2024-03-31"
    assert len(payload["metrics"]) == len(hand.table)
    assert {r["metric"] for r in payload["metrics"]} == {
        "retention_by_group", "causal_itt", "cost_savings", "self_help", "saves",
        "praise_advocacy", "cross_sell",
    }  # fmt: skip
    assert any(r["ci_low"] is None for r in payload["metrics"])  # NaN became null


# --- bad input ----------------------------------------------------------------------------


def test_missing_control_group_explains_the_design() -> None:
    tx, ev, cust = _hand_world()
    with pytest.raises(DataValidationError, match="randomised control group") as info:
        social_impact_report(
            tx, ev, cust.drop(columns="control_group"), cutoff="2024-03-31", horizon_weeks=4
        )
    assert info.value.column == "control_group"
    rep = social_impact_report(
        tx, ev, cust.drop(columns="control_group"), cutoff="2024-03-31", horizon_weeks=4,
        require_control=False,
    )  # fmt: skip
    assert not (rep.table["group"] == "treated_minus_control").any()
    assert not (rep.table["group"] == "control").any()
    assert_allclose(_est(rep, "cost_savings", "all", "cost"), 9.5)
    assert any("descriptive figures only" in n for n in rep.notes)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (dict(cost_per_contact={"phone": -1}), "finite cost >= 0"),
        (dict(cost_per_contact={"phone": "cheap"}), "not a number"),
        (dict(baseline_channel="fax"), "baseline channel 'fax'"),
        (dict(horizon_weeks=0), "horizon_weeks must be > 0"),
        (dict(confidence=1.0), "confidence"),
        (dict(cutoff="not a day"), "not a date"),
        (dict(cutoff="2023-01-01"), "no purchase on or before the cut-off"),
        (dict(praise_days=-1), "praise_days"),
        (dict(clv=pd.Series({"A": 1.0})), "clv"),
    ],
)
def test_bad_arguments(change, match) -> None:
    tx, ev, cust = _hand_world()
    kw = dict(cutoff="2024-03-31", horizon_weeks=4) | change
    with pytest.raises(DataValidationError, match=match):
        social_impact_report(tx, ev, cust, **kw)


def test_bad_tables() -> None:
    tx, ev, cust = _hand_world()
    kw = dict(cutoff="2024-03-31", horizon_weeks=4)
    with pytest.raises(DataValidationError, match="kind"):
        social_impact_report(tx, ev.drop(columns="kind"), cust, **kw)
    with pytest.raises(DataValidationError, match="datetimes"):
        social_impact_report(tx.assign(timestamp=tx["timestamp"].astype(str)), ev, cust, **kw)
    with pytest.raises(DataValidationError, match="once"):
        social_impact_report(tx, ev, pd.concat([cust, cust.iloc[:1]]), **kw)
    with pytest.raises(DataValidationError, match="missing values"):
        social_impact_report(tx, ev, cust.assign(control_group=[None] + [False] * 8), **kw)


def test_no_engagement_gives_nan_contrasts_and_a_note() -> None:
    tx, ev, cust = _hand_world()
    rep = social_impact_report(tx, ev.iloc[:0], cust, cutoff="2024-03-31", horizon_weeks=4)
    row = rep.get("causal_itt", "treated_minus_control", "retention_diff")
    assert row["n"] == 0 and np.isnan(row["estimate"])
    assert any("no customer contacted the care team" in n for n in rep.notes)
    assert_allclose(_est(rep, "retention_by_group", "not_engaged", "retention"), 3 / 5)


def test_clv_replaces_revenue_in_groups() -> None:
    tx, ev, cust = _hand_world()
    clv = pd.Series(np.arange(8, dtype=float), index=list("ABCDEFGH"))
    rep = social_impact_report(tx, ev, cust, cutoff="2024-03-31", horizon_weeks=4, clv=clv)
    assert_allclose(_est(rep, "retention_by_group", "engaged", "mean_clv"), (0 + 1 + 6) / 3)
    assert_allclose(
        _est(rep, "causal_itt", "treated_minus_control", "clv_diff"), 7 / 3 - (3 + 4) / 2
    )


# --- generated worlds with a planted effect -----------------------------------------------


def _planted_itt(ds, rep: SocialImpactReport) -> tuple[float, float]:
    """The planted intention-to-treat effect on retention and holdout revenue.

    Mean over the treated-arm eligible customers of each one's causal effect, from the
    generator's truth: churn_probability_untreated - churn_probability for retention, and
    for revenue the expected holdout revenue with and without the care term,
    P(alive) * (1 - exp(-lambda p H)) / p * mean_spend (FHL 2005, eq. 5).
    """
    tr = ds.truth.set_index("customer_id").reindex(rep.customers.index)
    c = rep.customers
    t_el = (c["eligible"] & ~c["control"]).to_numpy()
    h = ds.params["horizon_weeks"]
    lam = tr["purchase_rate"].to_numpy()
    buy = -np.expm1(-lam * h)

    def revenue(churn: str, p: str) -> np.ndarray:
        alive = (1.0 - tr[churn].to_numpy()) / buy
        pp = tr[p].to_numpy()
        return alive * -np.expm1(-lam * pp * h) / pp * tr["mean_spend"].to_numpy()

    ret = tr["churn_probability_untreated"].to_numpy() - tr["churn_probability"].to_numpy()
    rev = revenue("churn_probability", "dropout_probability") - revenue(
        "churn_probability_untreated", "dropout_probability_untreated"
    )
    return float(ret[t_el].mean()), float(rev[t_el].mean())


def _world(seed: int, placebo: bool, n: int = 20_000):
    if placebo:
        effects = dict(
            social_effect=0.0, sentiment_effect=0.0, advocacy_effect=0.0, disengagement_effect=0.0
        )
    else:
        effects = dict(social_effect=3.0)
    ds = generate_social_commerce(n, seed=seed, **effects)
    rep = social_impact_report(
        ds.transactions,
        ds.engagement,
        ds.customers,
        cutoff=ds.calibration_end - pd.Timedelta(days=1),
        horizon_weeks=ds.params["horizon_weeks"],
    )
    return ds, rep


def _interval(rep: SocialImpactReport, *key: str) -> tuple[float, float, float]:
    row = rep.get(*key)
    return float(row["estimate"]), float(row["ci_low"]), float(row["ci_high"])


def test_itt_recovers_planted_effect_and_naive_is_biased_down() -> None:
    ds, rep = _world(seed=0, placebo=False)
    ret, rev = _planted_itt(ds, rep)
    assert ret > 0.05  # a strong planted effect
    _, lo, hi = _interval(rep, "causal_itt", "treated_minus_control", "retention_diff")
    assert lo <= ret <= hi and lo > 0
    _, lo_r, hi_r = _interval(rep, "causal_itt", "treated_minus_control", "revenue_diff")
    assert lo_r <= rev <= hi_r and lo_r > 0
    # CUPED-adjusted incremental spend estimates the same revenue effect per week
    _, lo_c, hi_c = _interval(rep, "cross_sell", "treated_minus_control", "adjusted_spend_per_week")
    assert lo_c * 52 <= rev <= hi_c * 52
    # engaged customers are complainers of long tenure: the naive contrast is biased down
    naive, _, naive_hi = _interval(rep, "causal_itt", "naive_engaged_minus_not", "retention_diff")
    assert naive_hi < ret and naive < lo
    # praise follows resolved complaints only in the treated arm
    assert _interval(rep, "praise_advocacy", "treated_minus_control", "turned_praise_diff")[1] > 0


def test_placebo_world_itt_is_zero_and_naive_is_not() -> None:
    ds, rep = _world(seed=0, placebo=True)
    ret, rev = _planted_itt(ds, rep)
    assert ret == pytest.approx(0.0, abs=1e-12) and rev == pytest.approx(0.0, abs=1e-9)
    est, lo, hi = _interval(rep, "causal_itt", "treated_minus_control", "retention_diff")
    assert lo <= 0.0 <= hi and abs(est) < 0.03
    _, lo_r, hi_r = _interval(rep, "causal_itt", "treated_minus_control", "revenue_diff")
    assert lo_r <= 0.0 <= hi_r
    assert _interval(rep, "causal_itt", "naive_engaged_minus_not", "retention_diff")[2] < 0


@pytest.mark.slow
@pytest.mark.parametrize("placebo", [False, True])
def test_itt_interval_coverage_over_seeds(placebo: bool) -> None:
    seeds = range(100, 120)
    covered = covered_rev = 0
    errors = []
    for seed in seeds:
        ds, rep = _world(seed=seed, placebo=placebo)
        ret, rev = _planted_itt(ds, rep)
        est, lo, hi = _interval(rep, "causal_itt", "treated_minus_control", "retention_diff")
        _, lo_r, hi_r = _interval(rep, "causal_itt", "treated_minus_control", "revenue_diff")
        covered += lo <= ret <= hi
        covered_rev += lo_r <= rev <= hi_r
        errors.append(est - ret)
    # nominal 95%: at least 16 of 20 (P(fewer) < 0.3% if the intervals are right)
    assert covered >= 16 and covered_rev >= 16, (covered, covered_rev)
    # unbiased: mean error within 3 standard errors of 0
    err = np.asarray(errors)
    assert abs(err.mean()) < 3 * err.std(ddof=1) / np.sqrt(err.size)


# --- CLI ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory):
    ds = generate_social_commerce(1500, seed=4)
    return write_dataset(ds, tmp_path_factory.mktemp("impact") / "world")


def test_cli_impact_writes_json(folder, tmp_path, capsys) -> None:
    import clvml.cli.impact  # noqa: F401  (registers the command)
    from clvml.cli._app import run

    out = tmp_path / "impact.json"
    code = run(["impact", "--data", str(folder), "--cost-per-contact", "phone=8",
                "--cost-per-contact", "social=0.5", "--out", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    report = json.loads(out.read_text())
    assert report["parameters"]["cost_per_contact"] == {"phone": 8.0, "email": 2.5, "social": 0.5}
    assert report["parameters"]["cutoff"] == "2025-06-29"  # metadata calibration_end - 1 day
    assert "treated minus" in capsys.readouterr().out


def test_cli_impact_errors(folder, tmp_path, capsys) -> None:
    import clvml.cli.impact  # noqa: F401
    from clvml.cli._app import run

    assert run(["impact", "--data", str(folder), "--cost-per-contact", "phone"]) == 2
    assert "channel=value" in capsys.readouterr().err
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("transactions", "engagement"):
        pd.read_parquet(folder / f"{name}.parquet").to_parquet(bare / f"{name}.parquet")
    cust = pd.read_parquet(folder / "customers.parquet").drop(columns="control_group")
    cust.to_parquet(bare / "customers.parquet")
    args = ["impact", "--data", str(bare), "--calibration-end", "2025-06-29"]
    assert run([*args, "--horizon-weeks", "52"]) == 2
    assert "randomised control group" in capsys.readouterr().err
    assert run([*args, "--horizon-weeks", "52", "--descriptive-only"]) == 0
    assert run(args) == 2  # no metadata.json to take the horizon from
    assert "--horizon-weeks" in capsys.readouterr().err
