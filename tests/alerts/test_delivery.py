"""Alerts stored with the scores (one transaction) and delivered to a local receiver.

A webhook receiver runs on 127.0.0.1 in a thread (http.server); each test tells it how to
answer. Every test runs on SQLite and PostgreSQL (skipped without a server, failing under
CI=true).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from clvml.alerts.config import AlertConfig, Destination, parse_alert_config
from clvml.alerts.delivery import DELIVERY_HEADER, SIGNATURE_HEADER, deliver_pending
from clvml.alerts.job import AlertStep
from clvml.scoring.crm import CRMSink, ScoreRun
from clvml.segments.names import DEFAULT_CELLS

SECRET = "s3cr3t-webhook-key-do-not-log"
SAVE, CHAMP = DEFAULT_CELLS[("high", "high")], DEFAULT_CELLS[("high", "low")]
COLS = ["customer_id", "clv", "value_tier", "segment", "churn_probability", "p_active"]


def _frame(rows: list[tuple]) -> pd.DataFrame:
    f = pd.DataFrame(rows, columns=COLS[:5])
    f["p_active"] = 1 - f["churn_probability"]
    return f


FIRST = _frame(
    [
        ("a", 900.0, "top 1%", CHAMP.name, 0.10),
        ("b", 800.0, "top 10%", CHAMP.name, 0.10),
        ("c", 700.0, "top 10%", CHAMP.name, 0.20),
        ("d", 100.0, "next 40%", "Grow", 0.50),
    ]
)
SECOND = _frame(
    [
        ("a", 880.0, "top 1%", SAVE.name, 0.40),  # churn_rise
        ("b", 790.0, "top 10%", SAVE.name, 0.50),  # churn_rise
        ("c", 300.0, "next 40%", "Grow", 0.25),  # tier_drop
        ("d", 90.0, "next 40%", "Grow", 0.80),  # low_health
    ]
)
#: Alerts of the second run: (customer, rule, team)
EXPECTED = {
    ("a", "churn_rise", "retention"),
    ("b", "churn_rise", "retention"),
    ("c", "tier_drop", "marketing"),
    ("d", "low_health", "retention"),
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def crm_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'crm.db'}"
    return request.getfixturevalue("pg_url")


class Receiver:
    """A webhook receiver on 127.0.0.1: records requests, answers with ``statuses`` in turn."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []  # consumed one per request; 200 when empty
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((dict(self.headers), body))
                status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/clvml?token=abc"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def alerts(self) -> list[dict]:
        return [a for _, body in self.requests for a in json.loads(body)["alerts"]]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def _config(url: str, tmp_path: Path, **webhook: object) -> AlertConfig:
    return parse_alert_config(
        {
            "alerts": {
                "destinations": [
                    {
                        "name": "retention-hook",
                        "team": "retention",
                        "webhook": url,
                        "secret_env": "CLVML_TEST_SECRET",
                        **webhook,
                    },
                    {"name": "marketing-files", "team": "marketing", "csv_dir": "out"},
                ]
            }
        },
        base=tmp_path,
    )


def _run(sink: CRMSink, scores: pd.DataFrame, as_of: str, cfg: AlertConfig) -> AlertStep:
    step = AlertStep(cfg.rules, cfg.by_team())
    with sink.run(model_name="m", model_version="1", as_of=as_of) as run:
        run.in_transaction.append(step)
        run.write(scores)
    return step


def _deliveries(sink: CRMSink) -> pd.DataFrame:
    with sink.connect() as conn:
        return pd.read_sql(sa.select(sink.tables.deliveries), conn)


def _two_runs(sink: CRMSink, cfg: AlertConfig) -> AlertStep:
    first = _run(sink, FIRST, "2026-11-01", cfg)
    assert first.raised == 0  # nothing to compare with; every health is >= 30
    return _run(sink, SECOND, "2026-11-08", cfg)


def test_alerts_are_stored_with_the_scores_and_delivered_once_signed(
    crm_url: str,
    receiver: Receiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("CLVML_TEST_SECRET", SECRET)
    caplog.set_level(logging.DEBUG)
    cfg = _config(receiver.url, tmp_path)
    with CRMSink(crm_url) as sink:
        step = _two_runs(sink, cfg)
        assert step.raised == 4
        with sink.connect() as conn:
            stored = pd.read_sql(sa.select(sink.tables.alerts), conn)
        assert set(zip(stored.customer_id, stored.rule, stored.team, strict=True)) == EXPECTED
        assert (stored.status == "open").all()
        assert (_deliveries(sink).status == "pending").all()

        report = deliver_pending(sink, cfg.destinations)
        assert report.delivered == {"retention-hook": 3, "marketing-files": 1}
        assert report.n_pending == 0 and not report.errors
        # one POST, signed over the exact body with the shared secret
        assert len(receiver.requests) == 1
        headers, body = receiver.requests[0]
        want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers[SIGNATURE_HEADER], want)
        payload = json.loads(body)
        assert payload["delivery_id"] == headers[DELIVERY_HEADER]
        assert {(a["customer_id"], a["rule"]) for a in payload["alerts"]} == {
            ("a", "churn_rise"),
            ("b", "churn_rise"),
            ("d", "low_health"),
        }
        a = next(x for x in payload["alerts"] if x["customer_id"] == "a")
        assert a["evidence"]["churn_probability"] == {"before": 0.1, "after": 0.4}
        assert a["suggested_action"] == SAVE.action
        # the marketing team's file
        files = list((tmp_path / "out").glob("alerts_marketing_*.csv"))
        assert len(files) == 1
        rows = pd.read_csv(files[0])
        assert rows[["customer_id", "rule"]].values.tolist() == [["c", "tier_drop"]]
        assert json.loads(rows.loc[0, "evidence"])["value_tier"]["after"] == "next 40%"

        # a second delivery pass, and a re-run of the same run, send nothing again
        assert deliver_pending(sink, cfg.destinations).n_delivered == 0
        again = _run(sink, SECOND, "2026-11-08", cfg)
        assert again.raised == 4
        assert deliver_pending(sink, cfg.destinations).n_delivered == 0
        assert len(receiver.requests) == 1
        assert len(list((tmp_path / "out").glob("*.csv"))) == 1
        assert (_deliveries(sink).status == "delivered").all()
    logged = caplog.text + repr(_deliveries(sink).to_dict("records"))
    assert SECRET not in logged


def test_a_500_is_retried_with_back_off_and_delivered_once(
    crm_url: str, receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLVML_TEST_SECRET", SECRET)
    cfg = _config(receiver.url, tmp_path, backoff_seconds=0.5)
    receiver.statuses = [500, 503]
    waits: list[float] = []
    with CRMSink(crm_url) as sink:
        _two_runs(sink, cfg)
        report = deliver_pending(sink, cfg.destinations, sleep=waits.append)
    assert report.delivered["retention-hook"] == 3 and report.n_pending == 0
    assert waits == [0.5, 1.0]  # exponential back-off
    assert len(receiver.requests) == 3
    bodies = {body for _, body in receiver.requests}
    assert len(bodies) == 1  # the same batch each time: a receiver dedupes on delivery id
    assert len({h[DELIVERY_HEADER] for h, _ in receiver.requests}) == 1


def test_nothing_is_lost_while_the_receiver_is_down(
    crm_url: str, receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLVML_TEST_SECRET", SECRET)
    cfg = _config(receiver.url, tmp_path, max_attempts=3, backoff_seconds=0.01, batch_size=2)
    receiver.statuses = [503] * 3  # down for the whole first pass
    with CRMSink(crm_url) as sink:
        _two_runs(sink, cfg)
        first = deliver_pending(sink, cfg.destinations, sleep=lambda s: None)
        assert first.delivered["retention-hook"] == 0 and first.pending["retention-hook"] == 3
        assert first.errors["retention-hook"].endswith("HTTP 503")
        # the URL's path and query (where webhook tokens live) stay out of messages
        assert "token" not in first.errors["retention-hook"]
        assert "/hooks" not in first.errors["retention-hook"]
        d = _deliveries(sink).set_index("destination").loc["retention-hook"]
        assert (d.status == "pending").all()
        # a connection refused (the receiver process is gone) keeps them pending too
        down = Destination(
            "retention-hook",
            "retention",
            webhook="http://127.0.0.1:9/x",
            max_attempts=2,
            backoff_seconds=0.0,
        )
        assert deliver_pending(sink, [down], sleep=lambda s: None).pending["retention-hook"] == 3
        # back up: the next attempt delivers every alert, once
        second = deliver_pending(sink, cfg.destinations, sleep=lambda s: None)
        assert second.delivered["retention-hook"] == 3 and second.n_pending == 0
    delivered = [r for r in receiver.requests[3:]]
    got = [a["alert_id"] for _, b in delivered for a in json.loads(b)["alerts"]]
    assert len(got) == 3 and len(set(got)) == 3  # in two batches (batch_size 2), no repeat


def test_a_crash_mid_delivery_resends_only_what_was_not_marked(
    crm_url: str, receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLVML_TEST_SECRET", SECRET)
    cfg = _config(receiver.url, tmp_path, batch_size=1)
    import clvml.alerts.delivery as delivery

    real = delivery.mark_delivery
    calls = {"n": 0}

    def crash_after_first(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the job dies after the 2nd POST, before its mark
        real(*args, **kwargs)  # type: ignore[arg-type]

    with CRMSink(crm_url) as sink:
        _two_runs(sink, cfg)
        monkeypatch.setattr(delivery, "mark_delivery", crash_after_first)
        with pytest.raises(KeyboardInterrupt):
            deliver_pending(sink, cfg.destinations)
        monkeypatch.setattr(delivery, "mark_delivery", real)
        deliver_pending(sink, cfg.destinations)
        assert (_deliveries(sink).status == "delivered").all()
    ids = [json.loads(b)["alerts"][0]["alert_id"] for _, b in receiver.requests]
    # 1st marked, 2nd sent but not marked (sent again, same delivery id), 3rd once
    assert len(ids) == 4 and len(set(ids)) == 3
    assert ids[1] == ids[2]
    assert receiver.requests[1][0][DELIVERY_HEADER] == receiver.requests[2][0][DELIVERY_HEADER]


def test_alerts_roll_back_with_the_scores(
    crm_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _config("http://127.0.0.1:9/x", tmp_path)
    with CRMSink(crm_url) as sink:
        _run(sink, FIRST, "2026-11-01", cfg)

        def crash(self: ScoreRun) -> None:
            raise RuntimeError("power cut")

        monkeypatch.setattr(ScoreRun, "_before_commit", crash)
        with pytest.raises(RuntimeError, match="power cut"):
            _run(sink, SECOND, "2026-11-08", cfg)
        with sink.connect() as conn:
            n_alerts = conn.execute(sa.select(sa.func.count()).select_from(sink.tables.alerts))
            assert n_alerts.scalar_one() == 0
        assert _deliveries(sink).empty
        assert set(sink.read_history().run_id) == {sink.read_runs().run_id.iloc[0]}


def test_a_missing_secret_keeps_alerts_pending_in_one_line(
    crm_url: str, receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLVML_TEST_SECRET", raising=False)
    cfg = _config(receiver.url, tmp_path)
    with CRMSink(crm_url) as sink:
        _two_runs(sink, cfg)
        report = deliver_pending(sink, cfg.destinations)
    assert report.pending["retention-hook"] == 3 and not receiver.requests
    assert report.errors["retention-hook"] == (
        "destination 'retention-hook': environment variable CLVML_TEST_SECRET "
        "(the webhook secret) is not set"
    )


def test_erasing_a_customer_removes_their_history_alerts_and_deliveries(
    crm_url: str, tmp_path: Path
) -> None:
    from clvml.scoring import alert_store, history

    cfg = _config("http://127.0.0.1:9/x", tmp_path)
    with CRMSink(crm_url) as sink:
        _two_runs(sink, cfg)
        t = sink.tables
        with sink.connect() as conn, conn.begin():
            assert alert_store.erase_customers(conn, t.alerts, t.deliveries, ["a", "zz"]) == 1
            assert history.erase_customers(conn, t.history, ["a"]) == 2  # two runs
        hist = sink.read_history()
        with sink.connect() as conn:
            alerts = pd.read_sql(sa.select(t.alerts), conn)
        deliveries = _deliveries(sink)
    assert "a" not in set(hist.customer_id) and set(hist.customer_id) == {"b", "c", "d"}
    assert set(alerts.customer_id) == {"b", "c", "d"}
    assert set(deliveries.alert_id) <= set(alerts.alert_id) and len(deliveries) == 3
