"""``clvml alerts``: list the open alerts of the CRM, and deliver the pending ones."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from clvml.cli._app import app, console
from clvml.cli._options import CrmSchema, CrmUrl, iso

_TEAMS = ("care", "retention", "marketing")


def _value(v: Any) -> str:
    return "-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def _evidence(ev: Any) -> str:
    """A short text of an alert's evidence: before -> after values and message ids."""
    if isinstance(ev, str):
        ev = json.loads(ev)
    parts = []
    for key, value in ev.items():
        if isinstance(value, dict) and set(value) == {"before", "after"}:
            parts.append(f"{key} {_value(value['before'])} -> {_value(value['after'])}")
        elif key == "message_ids":
            more = ev.get("messages", len(value)) - len(value)
            parts.append("messages " + ", ".join(value) + (f" (+{more})" if more > 0 else ""))
    return "; ".join(parts)


def _has_alerts(conn: Any, sink: Any) -> bool:
    from sqlalchemy import inspect

    return bool(inspect(conn).has_table(sink.tables.alerts.name, schema=sink.schema))


@app.command()
def alerts(
    crm_url: CrmUrl = None,
    team: Annotated[
        str | None,
        typer.Option(
            "--team",
            help="Only this team's alerts: care, retention or marketing [default: every team].",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            callback=iso("--since"),
            help="Only alerts of runs as of this day or later, YYYY-MM-DD [default: every run].",
        ),
    ] = None,
    table: Annotated[
        str, typer.Option("--table", help="Score table whose alerts to list.")
    ] = "customer_scores",
    schema: CrmSchema = None,
    deliver: Annotated[
        bool,
        typer.Option(
            "--deliver",
            help="First send the pending deliveries to the destinations of --config "
            "(after a receiver was down).",
        ),
    ] = False,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="The TOML file with [alerts] destinations (for --deliver) [default: none].",
        ),
    ] = None,
    close: Annotated[
        list[str] | None,
        typer.Option(
            "--close",
            help="Mark this alert (its alert_id) closed: handled; repeat for several "
            "[default: none].",
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Alerts shown at most.")] = 50,
) -> None:
    """List the open alerts raised by scoring runs (newest first), by team and date.

    Each line names the alert (the first 8 characters of its id, enough for --close), the
    customer, the rule, the owning team, the evidence (before and
    after values, message ids, never message text), the suggested action and how many of
    its deliveries are done. Prints nothing but a count when there are none.
    """
    from clvml.alerts.config import load_alert_config
    from clvml.exceptions import DataValidationError
    from clvml.pipelines.score import default_crm_url
    from clvml.pipelines.score_checks import plural
    from clvml.scoring.alert_store import read_alerts
    from clvml.scoring.crm import CRMSink

    if team is not None and team not in _TEAMS:
        raise DataValidationError(f"--team must be one of {', '.join(_TEAMS)}", example=team)
    if deliver and config is None:
        raise DataValidationError("--deliver needs --config (the file naming the destinations)")
    with CRMSink(crm_url or default_crm_url(), table=table, schema=schema) as sink:
        if deliver:
            from clvml.alerts.delivery import deliver_pending

            cfg = load_alert_config(config)
            with sink.hold_lock():
                sink.migrate()
                report = deliver_pending(sink, cfg.destinations)
            console.print(
                f"delivered {report.n_delivered:,}, pending {report.n_pending:,}", highlight=False
            )
            for dest, error in report.errors.items():
                console.print(
                    f"[yellow]alerts to {escape(dest)} stay pending[/]: {escape(error)}",
                    highlight=False,
                )
        if close:
            from datetime import UTC, datetime

            from clvml.scoring.alert_store import close_alerts, find_open_alert

            with sink.connect() as conn, conn.begin():
                if not _has_alerts(conn, sink):
                    raise DataValidationError("the CRM holds no alerts", example=close[0])
                ids = []
                for prefix in close:
                    match = find_open_alert(conn, sink.tables.alerts, prefix.strip().lower())
                    if len(match) != 1:
                        raise DataValidationError(
                            "--close: no open alert has this id (give at least its first 8 "
                            "characters, as listed)"
                            if not match
                            else "--close: several open alerts start with this; give more of it",
                            example=prefix,
                        )
                    ids.append(match[0])
                done = close_alerts(conn, sink.tables.alerts, ids, now=datetime.now(UTC))
            console.print(f"closed {plural(len(done), 'alert')}", highlight=False)
        from datetime import date

        day = date.fromisoformat(since) if since else None
        with sink.connect() as conn:
            if not _has_alerts(conn, sink):
                found = None
            else:
                found = read_alerts(
                    conn,
                    sink.tables.alerts,
                    sink.tables.deliveries,
                    table=table,
                    team=team,
                    since=day,
                )
    if found is None or found.empty:
        console.print("no open alerts", highlight=False)
        return
    out = Table(
        title=plural(len(found), "open alert")
        + (f" (first {limit})" if len(found) > limit else ""),
        title_justify="left",
        header_style="bold",
    )
    cols = ("id", "as of", "customer", "rule", "team", "evidence", "suggested action", "sent")
    for col in cols:
        out.add_column(col, no_wrap=col == "id")
    for r in found.head(limit).itertuples():
        total = int(r.delivered) + int(r.pending)
        out.add_row(
            str(r.alert_id)[:8],
            str(r.as_of)[:10],
            escape(str(r.customer_id)),
            r.rule.replace("_", " "),
            r.team,
            escape(_evidence(r.evidence)),
            escape(r.suggested_action or ""),
            f"{int(r.delivered)}/{total}" if total else "-",
        )
    console.print(out)
