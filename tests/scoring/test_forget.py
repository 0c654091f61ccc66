"""clvml forget: a customer leaves every clvml table in one transaction; the audit keeps a hash.

Planted: two score tables (each with quarantine rows of the customer), a score-history
table, and a table clvml does not own holding the same id (left alone). After the erasure
no clvml table holds the id, every other row is unchanged, and the audit table holds the
SHA-256 of the id (salted when asked) with the rows deleted -- never the id itself.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest
import sqlalchemy as sa

import clvml.cli.forget  # noqa: F401  (registers the command)
from clvml.cli._app import run as cli_run
from clvml.exceptions import DataValidationError
from clvml.scoring.crm import CRMSink
from clvml.scoring.erasure import ERASURE_TABLE, erase_customers, forget_customers

GONE = "cust-gone-7781"
KEPT = ["cust-a", "cust-b", "cust-c"]


def _plant(url: str) -> None:
    scores = pd.DataFrame({"customer_id": [GONE, *KEPT], "clv": [10.0, 20.0, 30.0, 40.0]})
    rejected = pd.DataFrame({"customer_id": [GONE, "cust-a"], "reason": ["no purchase"] * 2})
    for table in ("customer_scores", "vip_scores"):
        with CRMSink(url, table=table) as sink:
            sink.write(
                scores, model_name="m", model_version="1", as_of="2026-01-31", rejected=rejected
            )
    # each write also appended its rows to customer_score_history (2 rows of GONE in all);
    # alerts of the customers, each with two deliveries, in clvml's own alert tables
    from datetime import UTC, datetime

    from clvml.scoring.alert_store import define_alert_tables

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        md = sa.MetaData()
        foreign = sa.Table("crm_contacts", md, sa.Column("customer_id", sa.Text))
        alerts, deliveries = define_alert_tables(md)
        md.create_all(conn)
        now = datetime.now(UTC)
        conn.execute(
            alerts.insert(),
            [
                {
                    "alert_id": f"a-{c}",
                    "table_name": "customer_scores",
                    "run_id": "r1",
                    "customer_id": c,
                    "rule": "tier_drop",
                    "team": "retention",
                    "evidence": {"before": "top 10%", "after": "rest"},
                    "status": "open",
                    "raised_at": now,
                }
                for c in [GONE, *KEPT]
            ],
        )
        conn.execute(
            deliveries.insert(),
            [
                {
                    "alert_id": f"a-{c}",
                    "destination": d,
                    "team": "retention",
                    "status": "pending",
                    "attempts": 0,
                }
                for c in [GONE, *KEPT]
                for d in ("hook", "csv")
            ],
        )
        conn.execute(foreign.insert(), [{"customer_id": GONE}])
    engine.dispose()


def _count(url: str, table: str, cid: str | None = None) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            sql = f"SELECT COUNT(*) FROM {table}"  # table names are the test's own constants
            if cid is None:
                return int(conn.exec_driver_sql(sql).scalar_one())
            return int(
                conn.execute(sa.text(sql + " WHERE customer_id = :c"), {"c": cid}).scalar_one()
            )
    finally:
        engine.dispose()


def _audit(url: str) -> pd.DataFrame:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return pd.read_sql(sa.text(f"SELECT * FROM {ERASURE_TABLE}"), conn)
    finally:
        engine.dispose()


_TABLES = [
    "alerts",
    "customer_scores",
    "customer_scores_quarantine",
    "vip_scores",
    "vip_scores_quarantine",
    "customer_score_history",
]


def _check_erased(url: str, salt: str | None) -> None:
    for table in _TABLES:
        assert _count(url, table, GONE) == 0, table
    # everyone else's rows are all there; a table clvml does not own is not touched
    assert _count(url, "customer_scores") == 3
    assert _count(url, "customer_scores_quarantine") == 1
    assert _count(url, "customer_score_history") == 6  # 4 customers x 2 score tables, less 2
    assert _count(url, "crm_contacts", GONE) == 1
    assert _count(url, "alerts") == 3
    assert _count(url, "alert_deliveries") == 6  # the erased customer's 2 went
    audit = _audit(url)
    assert len(audit) == 1
    expected = hashlib.sha256(((salt or "") + GONE).encode()).hexdigest()
    assert audit["id_sha256"].iloc[0] == expected
    assert bool(audit["salted"].iloc[0]) is (salt is not None)
    # 2 score rows, 2 quarantine rows, 2 history rows, 1 alert, 2 deliveries
    assert int(audit["rows_deleted"].iloc[0]) == 9
    flat = audit.astype(str).to_numpy().ravel().tolist()
    assert not any(GONE in v for v in flat), "the audit table must not hold the id"


def _erase_and_check(url: str) -> None:
    _plant(url)
    res = erase_customers(url, [GONE, GONE, "never-seen"], salt="pepper")
    assert (res.customers, res.found) == (2, 1)
    assert res.rows_deleted["customer_score_history"] == 2
    assert res.rows_deleted["vip_scores_quarantine"] == 1
    audit = _audit(url)
    audit = audit[audit["id_sha256"] == hashlib.sha256(b"pepper" + GONE.encode()).hexdigest()]
    assert len(audit) == 1 and int(audit["rows_deleted"].iloc[0]) == 9
    assert res.rows_deleted["alert_deliveries"] == 2
    for table in _TABLES:
        assert _count(url, table, GONE) == 0, table


def test_forget_erases_every_clvml_table_and_audits_a_hash_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    _plant(url)
    assert cli_run(["forget", "--crm-url", url, "--customer-id", GONE]) == 0
    _check_erased(url, None)


@pytest.mark.postgres
def test_forget_erases_every_clvml_table_and_audits_a_hash_postgres(pg_url):
    _erase_and_check(pg_url)


def test_forget_with_a_salt_and_an_ids_file(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    _plant(url)
    ids = tmp_path / "ids.txt"
    ids.write_text(f"customer_id\n{GONE}\n\n")
    monkeypatch.setenv("CLVML_ERASURE_SALT", "s3cret")
    assert cli_run(["forget", "--crm-url", url, "--ids-file", str(ids)]) == 0
    out = capsys.readouterr().out
    assert GONE not in out and "s3cret" not in out
    _check_erased(url, "s3cret")


def test_forget_leaves_a_namesake_table_of_the_user_alone(tmp_path):
    """A table called like clvml's (``alerts``) but not clvml's keeps every row."""
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE alerts (customer_id TEXT, note TEXT)")
        conn.exec_driver_sql("CREATE TABLE alert_deliveries (alert_id TEXT, customer_id TEXT)")
        conn.exec_driver_sql(f"INSERT INTO alerts VALUES ('{GONE}', 'theirs')")
        conn.exec_driver_sql(f"INSERT INTO alert_deliveries VALUES ('x', '{GONE}')")
    engine.dispose()
    res = erase_customers(url, [GONE])
    assert res.found == 0 and sum(res.rows_deleted.values()) == 0
    assert _count(url, "alerts", GONE) == 1 and _count(url, "alert_deliveries", GONE) == 1


def test_forget_is_one_transaction(tmp_path, monkeypatch):
    """A failure half-way (after some deletes) leaves every table and the audit unchanged."""
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    _plant(url)
    import clvml.scoring.erasure as erasure

    def boom(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(erasure, "erasure_table", boom)  # fails after every delete ran
    with pytest.raises(RuntimeError, match="disk full"):
        erase_customers(url, [GONE])
    for table in _TABLES:
        assert _count(url, table, GONE) >= 1, table
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert not sa.inspect(conn).has_table(ERASURE_TABLE)
    engine.dispose()


def test_bad_ids_are_refused_before_anything_is_touched(tmp_path):
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    _plant(url)
    with pytest.raises(DataValidationError, match="customer_id"):
        erase_customers(url, ["  "])
    with pytest.raises(DataValidationError, match="no customer id"):
        erase_customers(url, [])
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    assert cli_run(["forget", "--crm-url", url, "--ids-file", str(empty)]) == 2
    assert _count(url, "customer_scores", GONE) == 1


def test_forget_on_an_empty_database_records_the_request(tmp_path):
    """Nothing to erase is still an erasure request honoured (and audited)."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.db'}")
    with engine.begin() as conn:
        res = forget_customers(conn, ["x1"])
    with engine.connect() as conn:
        n = conn.exec_driver_sql(f"SELECT COUNT(*) FROM {ERASURE_TABLE}").scalar_one()
    engine.dispose()
    assert (res.customers, res.found, n) == (1, 0, 1)
