"""The alerts step of a scoring run, executed inside the run's one transaction.

:class:`AlertStep` is appended to :attr:`clvml.scoring.crm.ScoreRun.in_transaction` by the
scoring job. When the run writes, after its scores are upserted and appended to the
history, the step reads this run's and the previous run's history rows, evaluates the
rules (:func:`clvml.alerts.rules.evaluate_rules`) and stores the alerts with a ``pending``
delivery per destination of their team (:func:`clvml.scoring.alert_store.store_alerts`).
The alerts therefore commit with the scores, or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime

import pandas as pd
from sqlalchemy.engine import Connection

from clvml.alerts.rules import AlertRules, evaluate_rules
from clvml.scoring.alert_store import store_alerts
from clvml.scoring.crm import CRMSink, ScoreRun
from clvml.scoring.history import HISTORY_COLUMNS, health_score, previous_run, read_run

__all__ = ["AlertStep", "preview_alerts"]


class AlertStep:
    """Raise and store a run's alerts (see the module notes).

    Parameters
    ----------
    rules : AlertRules
    destinations : mapping of str to list of str
        Team -> names of its destinations (a pending delivery row each).
    engagement : pandas.DataFrame, optional
        The validated engagement events of the run's data.

    Attributes
    ----------
    raised : int
        Alerts of the run (set when the step ran).
    by_rule : dict
        Alerts per rule.
    previous_run_id : str or None
        The run compared with.
    """

    def __init__(
        self,
        rules: AlertRules,
        destinations: Mapping[str, Sequence[str]],
        engagement: pd.DataFrame | None = None,
    ) -> None:
        self.rules = rules
        self.destinations = {k: list(v) for k, v in destinations.items()}
        self.engagement = engagement
        self.raised = 0
        self.by_rule: dict[str, int] = {}
        self.previous_run_id: str | None = None

    def __call__(self, conn: Connection, run: ScoreRun) -> None:
        tables, table = run.sink.tables, run.sink.table
        prev = previous_run(
            conn, tables.history, tables.runs, table, run_id=run.run_id, as_of=run.as_of
        )
        current = read_run(conn, tables.history, table, run.run_id)
        previous = None if prev is None else read_run(conn, tables.history, table, prev[0])
        now = datetime.now(UTC)
        as_of = run.as_of or (run.scored_at or now).date()
        frame = evaluate_rules(
            current,
            previous,
            as_of=as_of,
            since=None if prev is None else prev[1],
            engagement=self.engagement,
            rules=self.rules,
        )
        self.previous_run_id = None if prev is None else prev[0]
        self.by_rule = frame["rule"].value_counts().to_dict() if len(frame) else {}
        self.raised = store_alerts(
            conn,
            tables.alerts,
            tables.deliveries,
            frame,
            table=table,
            run_id=run.run_id,
            as_of=run.as_of,
            now=now,
            destinations=self.destinations,
        )


def preview_alerts(
    sink: CRMSink,
    scores: pd.DataFrame,
    *,
    run_id: str,
    as_of: date,
    rules: AlertRules,
    engagement: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The alerts a run would raise, without writing (``clvml score --dry-run``).

    ``scores`` are the valid score rows; the previous run is read from the history as the
    run would read it (nothing is created when the tables do not exist yet).
    """
    import sqlalchemy as sa

    current = scores.reindex(columns=["customer_id", *HISTORY_COLUMNS])
    current["health_score"] = health_score(current)
    tables, table = sink.tables, sink.table
    prev = None
    previous = None
    url = sink.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        from pathlib import Path

        if not Path(str(url.database)).is_file():  # a dry run creates no database file
            return evaluate_rules(current, None, as_of=as_of, engagement=engagement, rules=rules)
    with sink.connect() as conn:
        conn = conn.execution_options(clvml_read_only=True)
        present = set(sa.inspect(conn).get_table_names(schema=sink.schema))
        if {tables.history.name, tables.runs.name} <= present:
            prev = previous_run(
                conn, tables.history, tables.runs, table, run_id=run_id, as_of=as_of
            )
            if prev is not None:
                previous = read_run(conn, tables.history, table, prev[0])
    return evaluate_rules(
        current,
        previous,
        as_of=as_of,
        since=None if prev is None else prev[1],
        engagement=engagement,
        rules=rules,
    )
