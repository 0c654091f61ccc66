"""Alert rules on planted cases: each rule fires exactly where it should, with its evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvml.alerts.config import AlertConfigError, parse_alert_config
from clvml.alerts.rules import AlertRules, evaluate_rules, message_ids
from clvml.exceptions import DataValidationError
from clvml.scoring.history import health_score
from clvml.segments.names import DEFAULT_CELLS


def _scores(rows: list[tuple[str, float, str, str, float]]) -> pd.DataFrame:
    f = pd.DataFrame(
        rows, columns=["customer_id", "clv", "value_tier", "segment", "churn_probability"]
    )
    f["p_active"] = 1 - f["churn_probability"]
    f["health_score"] = health_score(f)
    return f


SAVE = DEFAULT_CELLS[("high", "high")]
CHAMP = DEFAULT_CELLS[("high", "low")]

PREV = _scores(
    [
        ("a", 900.0, "top 1%", CHAMP.name, 0.10),  # churn rises 0.10 -> 0.40: alert
        ("b", 800.0, "top 10%", CHAMP.name, 0.10),  # rises 0.10 -> 0.20: below the threshold
        ("c", 50.0, "rest", "Automate", 0.10),  # rises 0.10 -> 0.60 but not a top tier
        ("d", 700.0, "top 10%", CHAMP.name, 0.20),  # drops to next 40%: tier_drop
        ("e", 100.0, "next 40%", "Grow", 0.50),  # health 50 -> 20: low_health
        ("f", 100.0, "next 40%", "Grow", 0.75),  # health already below 30: no new alert
    ]
)
CUR = _scores(
    [
        ("a", 880.0, "top 1%", SAVE.name, 0.40),
        ("b", 790.0, "top 10%", CHAMP.name, 0.20),
        ("c", 40.0, "rest", "Automate", 0.60),
        ("d", 300.0, "next 40%", "Grow", 0.25),
        ("e", 90.0, "next 40%", "Grow", 0.80),
        ("f", 95.0, "next 40%", "Grow", 0.76),
        ("g", 10.0, "rest", "Let go gently", 0.90),  # new customer, health 10: low_health
    ]
)


def _by(alerts: pd.DataFrame) -> dict[tuple[str, str], dict]:
    return {(r.customer_id, r.rule): r for r in alerts.itertuples()}


def test_each_score_rule_fires_on_its_planted_customer_only() -> None:
    alerts = evaluate_rules(CUR, PREV, as_of="2026-11-08", since="2026-11-01")
    got = _by(alerts)
    assert set(got) == {
        ("a", "churn_rise"),
        ("d", "tier_drop"),
        ("e", "low_health"),
        ("g", "low_health"),
    }
    a = got[("a", "churn_rise")]
    assert a.team == "retention"
    assert a.evidence["churn_probability"] == {"before": 0.1, "after": 0.4}
    assert a.evidence["rise"] == pytest.approx(0.3)
    assert a.segment == SAVE.name and a.suggested_action == SAVE.action
    d = got[("d", "tier_drop")]
    assert d.team == "marketing"
    assert d.evidence["value_tier"] == {"before": "top 10%", "after": "next 40%"}
    assert d.evidence["clv"] == {"before": 700.0, "after": 300.0}
    e = got[("e", "low_health")]
    assert e.evidence["health_score"] == {
        "before": pytest.approx(50.0),
        "after": pytest.approx(20.0),
    }
    assert got[("g", "low_health")].evidence["health_score"]["before"] is None
    # rules in their fixed order, customers sorted within a rule
    assert alerts["rule"].tolist() == ["churn_rise", "tier_drop", "low_health", "low_health"]


def test_thresholds_and_teams_come_from_the_config() -> None:
    cfg = parse_alert_config(
        {
            "alerts": {
                "churn_rise": 0.05,
                "tier_drop_from": False,
                "health_below": False,
                "teams": {"churn_rise": "care"},
            }
        }
    )
    alerts = evaluate_rules(CUR, PREV, as_of="2026-11-08", rules=cfg.rules)
    assert set(_by(alerts)) == {("a", "churn_rise"), ("b", "churn_rise")}
    assert set(alerts["team"]) == {"care"}


def test_a_first_run_raises_no_score_change_alert() -> None:
    assert evaluate_rules(CUR, None, as_of="2026-11-08").empty


def _events(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["customer_id", "timestamp", "channel", "kind", "direction", "text"]
    ).assign(timestamp=lambda f: pd.to_datetime(f["timestamp"]))


SECRET_TEXT = "this product is terrible and broken, I hate it"


def test_unanswered_negative_messages_since_the_last_run_go_to_care_by_id_not_text() -> None:
    ev = _events(
        [
            ("a", "2026-11-03 10:00", "twitter", "mention", "inbound", SECRET_TEXT),  # open
            ("b", "2026-11-03 10:00", "twitter", "complaint", "inbound", None),  # answered
            ("b", "2026-11-04 09:00", "twitter", "reply", "outbound", "sorry!"),
            ("c", "2026-10-30 10:00", "email", "complaint", "inbound", None),  # before the last run
            (
                "d",
                "2026-11-05 10:00",
                "email",
                "mention",
                "inbound",
                "I love it, great",
            ),  # positive
            ("e", "2026-11-09 10:00", "email", "complaint", "inbound", None),  # after as-of
            ("f", "2026-11-06 10:00", "web", "complaint", "inbound", None),  # answered BEFORE only
            ("f", "2026-11-05 10:00", "web", "reply", "outbound", "hello"),
            ("f", "2026-11-07 12:00", "app", "complaint", "inbound", None),
        ]
    )
    rules = AlertRules(churn_rise=None, tier_drop_from=None, health_below=None)
    alerts = evaluate_rules(
        CUR, PREV, as_of="2026-11-08", since="2026-11-01", engagement=ev, rules=rules
    )
    got = _by(alerts)
    assert set(got) == {("a", "unanswered_negative"), ("f", "unanswered_negative")}
    a = got[("a", "unanswered_negative")]
    assert a.team == "care"
    assert a.evidence["messages"] == 1 and a.evidence["lowest_sentiment"] < -0.05
    assert a.evidence["message_ids"] == message_ids(ev.iloc[[0]]).tolist()
    f = got[("f", "unanswered_negative")].evidence
    assert f["messages"] == 2 and f["complaints"] == 2 and f["channels"] == ["app", "web"]
    # the text never reaches an alert
    assert SECRET_TEXT not in repr(alerts.to_dict("records"))
    assert "terrible" not in repr(alerts.to_dict("records"))


def test_message_ids_are_stable_and_given_ids_win() -> None:
    ev = _events([("a", "2026-11-03 10:00", "twitter", "mention", "inbound", "x")])
    assert message_ids(ev).tolist() == message_ids(ev.copy()).tolist()
    assert message_ids(ev)[0].startswith("m-")
    assert message_ids(ev.assign(text="other")).tolist() == message_ids(ev).tolist()
    assert message_ids(ev.assign(message_id="tw-123")).tolist() == ["tw-123"]


def test_suggested_action_falls_back_to_the_runs_matrix_for_unknown_segments() -> None:
    cur = CUR.assign(segment="custom segment")
    alerts = evaluate_rules(cur, PREV, as_of="2026-11-08")
    a = _by(alerts)[("a", "churn_rise")]
    # a: highest CLV of the run (high value) with churn 0.40 (medium risk)
    assert a.suggested_action == DEFAULT_CELLS[("high", "medium")].action
    assert a.segment == "custom segment"


def test_vectorised_on_many_customers() -> None:
    rng = np.random.default_rng(0)
    n = 100_000
    tiers = np.array(["top 1%", "top 10%", "next 40%", "rest"])
    prev = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "clv": rng.gamma(2, 50, n),
            "value_tier": tiers[rng.integers(0, 4, n)],
            "segment": "Grow",
            "churn_probability": rng.random(n),
        }
    )
    cur = prev.assign(
        churn_probability=np.clip(prev["churn_probability"] + rng.normal(0, 0.1, n), 0, 1)
    )
    for f in (prev, cur):
        f["p_active"] = 1 - f["churn_probability"]
        f["health_score"] = health_score(f)
    alerts = evaluate_rules(
        cur, prev, as_of="2026-11-08", rules=AlertRules(health_below=None, tier_drop_from=None)
    )
    top = prev["value_tier"].isin(["top 1%", "top 10%"])
    want = prev.loc[
        top & (cur["churn_probability"] - prev["churn_probability"] > 0.15), "customer_id"
    ]
    assert sorted(alerts["customer_id"]) == sorted(want)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"alerts": {"churn_rise": 2}}, "churn_rise must be between 0 and 1"),
        ({"alerts": {"chrn_rise": 0.1}}, "unknown key 'chrn_rise'"),
        ({"alerts": {"teams": {"churn_rise": "sales"}}}, "unknown team 'sales'"),
        ({"alerts": {"teams": {"nope": "care"}}}, "unknown rule 'nope'"),
        ({"history": {"keep_runs": 1}}, "keep_runs must be an integer >= 2"),
        ({"alerts": {"destinations": [{"name": "x", "team": "care"}]}}, "exactly one of webhook"),
        (
            {"alerts": {"destinations": [{"name": "x", "team": "care", "webhook": "ftp://h/x"}]}},
            "webhook must be an http",
        ),
        (
            {
                "alerts": {
                    "destinations": [
                        {"name": "x", "team": "care", "csv_dir": "a"},
                        {"name": "x", "team": "care", "csv_dir": "b"},
                    ]
                }
            },
            "used twice",
        ),
    ],
)
def test_bad_config_is_refused_naming_the_key(data: dict, match: str) -> None:
    with pytest.raises(AlertConfigError, match=match) as info:
        parse_alert_config(data)
    assert isinstance(info.value, ValueError)


def test_rules_check_their_numbers() -> None:
    with pytest.raises(DataValidationError, match="health_below must be between 0 and 100"):
        AlertRules(health_below=150)


def test_the_example_config_is_valid() -> None:
    from pathlib import Path

    from clvml.alerts.config import load_alert_config

    cfg = load_alert_config(Path(__file__).resolve().parents[2] / "configs" / "alerts.toml")
    assert cfg.rules == AlertRules()  # the example spells out the defaults
    assert cfg.history.keep_runs == 30
    assert cfg.by_team() == {"marketing": ["marketing-files"]}
