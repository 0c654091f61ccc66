"""`clvml score` raises and counts alerts; `clvml alerts` lists them (one-line errors)."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from threadpoolctl import threadpool_limits

from clvml.cli import app  # noqa: F401  (registers every command)
from clvml.cli._app import run as cli_run
from clvml.scoring.crm import CRMSink

ROOT = Path(__file__).resolve().parents[2]
MODEL = str(ROOT / "models" / "clvml")


@pytest.fixture(autouse=True)
def _one_openmp_thread():
    with threadpool_limits(1, user_api="openmp"):
        yield


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, list[str], Path]:
    """Two scoring runs four weeks apart on 600 customers; the second with CSV destinations.

    Returns the CRM URL, the alerts config, the second run's arguments, the folder and what the
    second run printed.
    """
    from clvml.data.synthetic import load_social_commerce

    data = load_social_commerce()
    root = tmp_path_factory.mktemp("alerts")
    folder = root / "data"
    folder.mkdir()
    ids = set(data.customers["customer_id"].iloc[:600])
    for name in ("transactions", "engagement", "customers"):
        frame = getattr(data, name)
        frame.loc[frame["customer_id"].isin(ids)].to_parquet(folder / f"{name}.parquet")
    last = pd.Timestamp(data.transactions["timestamp"].max()).date()
    config = root / "alerts.toml"
    config.write_text(
        "[history]\nkeep_runs = 5\n\n[alerts]\nchurn_rise = 0.05\n\n"
        + "".join(
            f'[[alerts.destinations]]\nname = "{t}-files"\nteam = "{t}"\ncsv_dir = "out/{t}"\n\n'
            for t in ("care", "retention", "marketing")
        )
    )
    crm = f"sqlite:///{root / 'crm.db'}"
    base = ["score", "--model", MODEL, "--data", str(folder), "--crm-url", crm, "--force"]
    earlier = str(last - dt.timedelta(days=28))
    assert cli_run([*base, "--as-of", earlier]) == 0
    argv = [*base, "--alerts-config", str(config)]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):  # the second run, with the alerts config
        assert cli_run(argv) == 0
    return crm, config, argv, root, out.getvalue()


def test_score_prints_the_alerts_it_raised_and_delivered(two_runs) -> None:
    crm, _, argv, root, out = two_runs
    line = next(x for x in out.splitlines() if x.startswith("alerts: "))
    with CRMSink(crm) as sink, sink.connect() as conn:
        stored = pd.read_sql(sa.select(sink.tables.alerts), conn)
        hist = sink.read_history()
        last_run = sink.read_runs()["run_id"].iloc[-1]
    # the first run (no previous run) can only raise unanswered messages of its last 7 days
    assert set(stored.loc[stored["run_id"] != last_run, "rule"]) <= {"unanswered_negative"}
    stored = stored[stored["run_id"] == last_run]
    assert len(stored) > 0, out
    assert line.startswith(f"alerts: {len(stored):,} raised (")
    assert f"{len(stored):,} delivered, 0 pending" in line
    assert hist["run_id"].nunique() == 2
    # every alert of the run went to its team's folder, once (the first run had no destinations)
    files = {t: list((root / "out" / t).glob("*.csv")) for t in ("care", "retention", "marketing")}
    sent = pd.concat([pd.read_csv(f) for fs in files.values() for f in fs], ignore_index=True)
    assert sorted(sent["alert_id"]) == sorted(stored["alert_id"])
    for team, fs in files.items():
        for f in fs:
            assert set(pd.read_csv(f)["team"]) == {team}
    # no message text anywhere in the alerts
    texts = pd.read_parquet(Path(argv[4]) / "engagement.parquet")["text"].dropna()
    blob = json.dumps(stored.astype(str).to_dict("records"))
    long_texts = [t for t in texts.unique() if len(t) >= 12]
    assert long_texts and not any(t in blob for t in long_texts)


def test_a_dry_run_says_how_many_alerts_the_run_would_raise(two_runs, capsys) -> None:
    crm, _, argv, *_ = two_runs
    with CRMSink(crm) as sink, sink.connect() as conn:
        stored = pd.read_sql(sa.select(sink.tables.alerts), conn)
        runs = sink.read_runs()
    assert len(stored) > 0  # the fixture ran both runs
    last = stored[stored["run_id"] == runs["run_id"].iloc[-1]]
    capsys.readouterr()
    assert cli_run([*argv, "--dry-run"]) == 0  # the second run again: same run id
    out = capsys.readouterr().out
    assert f"would raise: {len(last):,} alerts (" in out, out
    with CRMSink(crm) as sink, sink.connect() as conn:  # and nothing was written
        assert len(pd.read_sql(sa.select(sink.tables.alerts), conn)) == len(stored)
        pd.testing.assert_frame_equal(sink.read_runs(), runs)


def test_alerts_lists_open_alerts_by_team_and_date(two_runs, capsys) -> None:
    crm, *_ = two_runs
    with CRMSink(crm) as sink, sink.connect() as conn:
        stored = pd.read_sql(sa.select(sink.tables.alerts), conn)
    assert len(stored) > 0  # the fixture ran both runs
    capsys.readouterr()
    assert cli_run(["alerts", "--crm-url", crm, "--limit", "1000"]) == 0
    out = capsys.readouterr().out
    assert f"{len(stored):,} open alert{'s' * (len(stored) != 1)}" in out
    team = stored["team"].iloc[0]
    n_team = int((stored["team"] == team).sum())
    assert cli_run(["alerts", "--crm-url", crm, "--team", team, "--limit", "1000"]) == 0
    assert f"{n_team:,} open alert{'s' * (n_team != 1)}" in capsys.readouterr().out
    assert cli_run(["alerts", "--crm-url", crm, "--since", "2100-01-01"]) == 0
    assert "no open alerts" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--team", "sales"], "must be one of care, retention, marketing"),
        (["--since", "yesterday"], "--since"),
        (["--deliver"], "needs --config"),
        (["--crm-url", "mysql://u:pw@h/db"], "unsupported CRM database"),
    ],
)
def test_alerts_errors_are_one_line(argv: list[str], needle: str, tmp_path: Path, capsys) -> None:
    base = ["alerts", "--crm-url", f"sqlite:///{tmp_path / 'crm.db'}"]
    code = cli_run([*base, *argv] if argv[0] != "--crm-url" else ["alerts", *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert needle in err and "pw" not in err


def test_alerts_on_an_empty_crm_and_a_bad_config(tmp_path: Path, capsys) -> None:
    crm = f"sqlite:///{tmp_path / 'crm.db'}"
    assert cli_run(["alerts", "--crm-url", crm]) == 0
    assert "no open alerts" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text("[alerts]\nhealth_below = 300\n")
    code = cli_run(["alerts", "--crm-url", crm, "--deliver", "--config", str(bad)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "health_below must be between 0 and 100" in err


def test_deliver_sends_what_a_failed_pass_left_pending(tmp_path: Path, capsys, monkeypatch) -> None:
    from clvml.alerts.config import load_alert_config
    from clvml.alerts.delivery import deliver_pending
    from clvml.alerts.job import AlertStep

    crm = f"sqlite:///{tmp_path / 'crm.db'}"
    config = tmp_path / "alerts.toml"
    config.write_text(
        '[[alerts.destinations]]\nname = "files"\nteam = "retention"\ncsv_dir = "out"\n'
    )
    cfg = load_alert_config(config)
    cols = ["customer_id", "clv", "value_tier", "segment", "churn_probability", "p_active"]
    runs = [
        ("2026-11-01", [("a", 900.0, "top 1%", "Champions", 0.1, 0.9)]),
        ("2026-11-08", [("a", 880.0, "top 1%", "Save now", 0.5, 0.5)]),  # churn_rise
    ]
    with CRMSink(crm) as sink:
        for day, rows in runs:
            with sink.run(model_name="m", model_version="1", as_of=day) as run:
                run.in_transaction.append(AlertStep(cfg.rules, cfg.by_team()))
                run.write(pd.DataFrame(rows, columns=cols))
        (tmp_path / "out").write_text("a file where the folder should be")
        failed = deliver_pending(sink, cfg.destinations)
    assert failed.pending == {"files": 1} and "files" in failed.errors
    (tmp_path / "out").unlink()
    from clvml.cli._app import console

    # the shared console is created once per process (its width read then): widen it here
    monkeypatch.setattr(console, "width", 250)
    capsys.readouterr()
    assert cli_run(["alerts", "--crm-url", crm, "--deliver", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "delivered 1, pending 0" in out
    assert "1 open alert " in out and "churn rise" in out and "1/1" in out
    (sent,) = (tmp_path / "out").glob("alerts_retention_*.csv")
    assert pd.read_csv(sent)["customer_id"].tolist() == ["a"]
    # handled: closed by the short id the list shows, then gone from the list
    alert_id = pd.read_csv(sent)["alert_id"].iloc[0]
    assert alert_id[:8] in out
    for bad, needle in (("zz", "no open alert has this id"), ("'; drop", "no open alert")):
        assert cli_run(["alerts", "--crm-url", crm, "--close", bad]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err, err
    assert cli_run(["alerts", "--crm-url", crm, "--close", alert_id[:8]]) == 0
    out = capsys.readouterr().out
    assert "closed 1 alert\n" in out and "no open alerts" in out
    with CRMSink(crm) as sink, sink.connect() as conn:
        row = conn.execute(sa.select(sink.tables.alerts)).one()
    assert row.status == "closed" and row.closed_at is not None
    assert cli_run(["alerts", "--crm-url", crm, "--close", alert_id]) == 2  # no longer open
    capsys.readouterr()


def test_alerts_config_with_the_spark_engine_is_refused_in_one_line(tmp_path: Path, capsys) -> None:
    code = cli_run(
        [
            "score",
            "--engine",
            "spark",
            "--alerts-config",
            str(tmp_path / "a.toml"),
            "--crm-url",
            f"sqlite:///{tmp_path / 'crm.db'}",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "--alerts-config is not supported with --engine spark" in err
