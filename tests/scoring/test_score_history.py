"""customer_score_history: appended per run, idempotent, atomic with the scores, pruned.

Each test runs on SQLite and on PostgreSQL (skipped without a server, failing under CI=true).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clvml.exceptions import DataValidationError
from clvml.scoring.crm import CRMSink, ScoreRun
from clvml.scoring.history import HistoryPolicy, health_score

from .test_crm_sink import make_scores


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def crm_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'crm.db'}"
    return request.getfixturevalue("pg_url")


def _run(sink: CRMSink, scores: pd.DataFrame, as_of: str, version: str = "1") -> str:
    return sink.write(scores, model_name="m", model_version=version, as_of=as_of).run_id


def test_each_run_appends_its_scores_and_the_current_table_stays_one_row_each(
    crm_url: str,
) -> None:
    with CRMSink(crm_url) as sink:
        first = make_scores(300, seed=1)
        second = make_scores(200, seed=2, start=200)  # 200 customers left, 100 new
        r1 = _run(sink, first, "2026-11-01")
        r2 = _run(sink, second, "2026-11-08")
        hist = sink.read_history()
        assert len(sink.read_scores()) == 400  # union, one row per customer
        assert hist.groupby("run_id").size().to_dict() == {r1: 300, r2: 200}
        assert not hist.duplicated(["run_id", "customer_id"]).any()
        # a customer's trajectory: both runs' values, as each run wrote them
        c = "c0000250"
        traj = sink.read_history(c).set_index("run_id")
        np.testing.assert_allclose(
            traj.loc[r1, "clv"], first.set_index("customer_id").loc[c, "clv"], rtol=1e-12
        )
        np.testing.assert_allclose(
            traj.loc[r2, "clv"], second.set_index("customer_id").loc[c, "clv"], rtol=1e-12
        )
        assert str(traj.loc[r2, "as_of"])[:10] == "2026-11-08"
        assert traj.loc[r2, "value_tier"] == second.set_index("customer_id").loc[c, "value_tier"]
        # health = 100 (1 - churn probability), computed by the database as by Python
        got = hist[hist.run_id == r2].set_index("customer_id")["health_score"]
        want = health_score(second).set_axis(second["customer_id"])
        np.testing.assert_allclose(got.loc[want.index], want, rtol=1e-12)


def test_health_falls_back_to_p_active_without_a_churn_probability(crm_url: str) -> None:
    scores = make_scores(50, seed=3)
    scores["churn_probability"] = np.nan
    with CRMSink(crm_url) as sink:
        _run(sink, scores, "2026-11-01")
        hist = sink.read_history().set_index("customer_id")
    np.testing.assert_allclose(
        hist.loc[scores["customer_id"], "health_score"], 100 * scores["p_active"], rtol=1e-12
    )


def test_rerunning_the_same_run_id_does_not_duplicate(crm_url: str) -> None:
    with CRMSink(crm_url) as sink:
        scores = make_scores(120, seed=4)
        r1 = _run(sink, scores, "2026-11-01")
        again = scores.copy()
        again["clv"] *= 2  # the same run id rewritten (e.g. after a fix of the data)
        assert _run(sink, again, "2026-11-01") == r1
        hist = sink.read_history()
    assert len(hist) == 120 and set(hist.run_id) == {r1}
    np.testing.assert_allclose(
        hist.set_index("customer_id").loc[again["customer_id"], "clv"], again["clv"], rtol=1e-12
    )


def test_a_crash_before_the_commit_leaves_the_history_as_it_was(
    crm_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with CRMSink(crm_url, history=HistoryPolicy(keep_runs=2)) as sink:
        _run(sink, make_scores(100, seed=1), "2026-11-01")
        _run(sink, make_scores(100, seed=2), "2026-11-08")
        before = sink.read_history()

        def crash(self: ScoreRun) -> None:  # history appended and pruned, not committed
            raise RuntimeError("power cut")

        monkeypatch.setattr(ScoreRun, "_before_commit", crash)
        with pytest.raises(RuntimeError, match="power cut"):
            _run(sink, make_scores(100, seed=3), "2026-11-15")
        after = sink.read_history()
    pd.testing.assert_frame_equal(after, before)  # nothing appended, nothing pruned


def test_retention_keeps_the_newest_runs_in_the_same_transaction(crm_url: str) -> None:
    days = ["2026-10-04", "2026-10-11", "2026-10-18", "2026-10-25", "2026-11-01"]
    with CRMSink(crm_url, history=HistoryPolicy(keep_runs=3)) as sink:
        ids = [_run(sink, make_scores(40, seed=i), d) for i, d in enumerate(days)]
        hist = sink.read_history()
    assert set(hist.run_id) == set(ids[-3:])
    assert hist.groupby("run_id").size().eq(40).all()


def test_retention_by_days_and_an_older_rerun_keeps_itself(crm_url: str) -> None:
    with CRMSink(crm_url, history=HistoryPolicy(keep_runs=None, keep_days=10)) as sink:
        old = _run(sink, make_scores(10, seed=1), "2026-10-01")
        mid = _run(sink, make_scores(10, seed=2), "2026-10-25")
        new = _run(sink, make_scores(10, seed=3), "2026-11-01")
        assert set(sink.read_history().run_id) == {mid, new}  # 2026-10-01 is 31 days older
        # a back-filled run older than the window is written, then kept (it is this run)
        back = _run(sink, make_scores(10, seed=4), "2026-09-01", version="2")
        assert set(sink.read_history().run_id) == {mid, new, back}
        assert old not in set(sink.read_history().run_id)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"keep_runs": 1}, "keep_runs must be an integer >= 2"),
        ({"keep_runs": 2.5}, "keep_runs must be an integer >= 2"),
        ({"keep_days": 0}, "keep_days must be an integer >= 1"),
        ({"keep_days": True}, "keep_days must be an integer >= 1"),
    ],
)
def test_bad_retention_is_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(DataValidationError, match=match):
        HistoryPolicy(**kwargs)  # type: ignore[arg-type]


def test_the_previous_run_is_the_newest_earlier_one_with_history_rows(crm_url: str) -> None:
    import sqlalchemy as sa

    from clvml.alerts.job import AlertStep
    from clvml.alerts.rules import AlertRules

    with CRMSink(crm_url) as sink:
        a = _run(sink, make_scores(30, seed=1), "2026-11-01")
        b = _run(sink, make_scores(30, seed=2), "2026-11-08")
        h = sink.tables.history
        with sink.connect() as conn, conn.begin():  # as if b ran before the history existed
            conn.execute(h.delete().where(h.c.run_id == b))
        _run(sink, make_scores(30, seed=3), "2026-10-25", version="2")  # an older back-fill
        step = AlertStep(AlertRules(), {})
        with sink.run(model_name="m", model_version="1", as_of="2026-11-15") as run:
            run.in_transaction.append(step)
            run.write(make_scores(30, seed=4))
        assert step.previous_run_id == a
        with sink.connect() as conn:
            n = conn.execute(sa.select(sa.func.count()).select_from(h).where(h.c.run_id == b))
            assert n.scalar_one() == 0
