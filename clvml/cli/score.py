"""``clvml score``: score every customer with the champion model and write to the CRM."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from clvml.cli._app import app, console
from clvml.cli._options import (
    Columns,
    CrmSchema,
    Currency,
    DataFlags,
    Duplicates,
    Returns,
    TimestampFormat,
    TrustModel,
    Tz,
    iso,
    money,
)

#: clvml.pipelines.score_checks.MAX_MEAN_CLV_CHANGE and MAX_TIER_SHARE_CHANGE (in pp), written
#: out so --help does not import pandas (tests/cli/test_cli_score_refusals.py checks they agree).
MAX_MEAN_CLV_CHANGE = 0.5
MAX_TIER_SHARE_PP = 15.0


@app.command()
def score(
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="models:/<name>@<alias>, models:/<name>/<version>, runs:/<run_id>/<path> "
            "or a models/ folder written by clvml export.",
        ),
    ] = "models:/clvml@champion",
    data: Annotated[
        str,
        typer.Option(
            "--data",
            help="Folder with transactions (and engagement, customers) as CSV/Parquet, "
            "or a SQLAlchemy URL of a database holding those tables.",
        ),
    ] = "data/social",
    crm_url: Annotated[
        str | None,
        typer.Option(
            "--crm-url",
            help="SQLAlchemy URL of the CRM database (postgresql+psycopg://... or "
            "sqlite:///file.db) [default: sqlite:///crm.db in the working directory].",
        ),
    ] = None,
    table: Annotated[
        str, typer.Option("--table", help="Score table (lower-case letters, digits, _).")
    ] = "customer_scores",
    schema: CrmSchema = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            callback=iso("--as-of"),
            help="Compute features with the data up to this day, YYYY-MM-DD; refused after the "
            "last day of the data or today, or before the model's training cut-off, unless "
            "--force [default: the last day with a purchase].",
        ),
    ] = None,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, help="Customers per prediction call.")
    ] = 100_000,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Threads scoring chunks at once.")
    ] = 1,
    bad_rows: Annotated[
        str,
        typer.Option(
            "--bad-rows",
            help="Rows breaking a rule and unknown customer ids: 'quarantine' (set aside "
            "with the reason) or 'error' (refuse the job).",
        ),
    ] = "quarantine",
    columns: Columns = None,
    timestamp_format: TimestampFormat = None,
    tz: Tz = None,
    returns: Returns = None,
    duplicates: Duplicates = None,
    tracking_uri: Annotated[
        str | None,
        typer.Option(help="MLflow tracking URI [default: MLFLOW_TRACKING_URI, else ./mlruns.db]."),
    ] = None,
    wait: Annotated[
        float,
        typer.Option(min=0, help="Seconds to wait for another job on the same table."),
    ] = 0.0,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="'local' (this machine, chunked) or 'spark' (the `spark` extra; local[2] "
            "unless SPARK_MASTER / spark-submit says otherwise).",
        ),
    ] = "local",
    output: Annotated[
        str | None,
        typer.Option(
            help="With --engine spark: write the scores as Parquet here, not to the CRM "
            "[default: none, write to the CRM]."
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Validate and score, print the summary and what would change in the CRM "
            "(rows inserted/updated, tier moves); write nothing.",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Write even if --as-of is outside the data or before the model's training "
            "cut-off, or the scores moved beyond --max-clv-change / --max-tier-shift.",
        ),
    ] = False,
    max_clv_change: Annotated[
        float,
        typer.Option(
            min=0,
            help="Refuse (unless --force) when the mean CLV moves by more than this share "
            "against the scores in the table (0.5 = 50%).",
        ),
    ] = MAX_MEAN_CLV_CHANGE,
    max_tier_shift: Annotated[
        float,
        typer.Option(
            min=0,
            help="Refuse (unless --force) when a value tier's share of customers moves by "
            "more than this many percentage points.",
        ),
    ] = MAX_TIER_SHARE_PP,
    alerts_config: Annotated[
        str | None,
        typer.Option(
            "--alerts-config",
            help="TOML file with [history] (retention of customer_score_history) and [alerts] "
            "(rule thresholds, teams' webhooks and CSV folders; configs/alerts.toml) "
            "[default: keep 30 runs, the default rules, no destinations].",
        ),
    ] = None,
    trust_model: TrustModel = False,
    currency: Currency = None,
) -> None:
    """Score every customer and write the predictions into the CRM score table.

    Loads the model, reads and validates the data, computes the features as of a
    date, predicts in chunks and upserts the scores in one transaction. Rows that
    fail validation go to the quarantine table; the run table records the counts.
    """
    from clvml.alerts.config import load_alert_config
    from clvml.pipelines.score import default_crm_url, score_customers

    if engine not in ("local", "spark"):
        raise typer.BadParameter("must be 'local' or 'spark'", param_hint="--engine")
    if bad_rows not in ("quarantine", "error"):
        raise typer.BadParameter("must be 'quarantine' or 'error'", param_hint="--bad-rows")
    from clvml.reporting.i18n import check_currency

    currency = check_currency(currency)
    flags = DataFlags(columns, timestamp_format, tz, returns, duplicates)
    policy, mapping = flags.policy(), flags.mapping()
    if dry_run:
        console.print("[bold]dry run[/]: nothing is written to the CRM", highlight=False)
    if engine == "spark":
        if alerts_config is not None:  # the Spark job appends the history, raises no alerts yet
            from clvml.exceptions import DataValidationError

            raise DataValidationError("--alerts-config is not supported with --engine spark yet")
        from clvml.spark.job import score_job

        if dry_run and output:
            raise typer.BadParameter("a dry run compares with the CRM", param_hint="--output")
        spark_result = score_job(
            model,
            data,
            crm_url=None if output else (crm_url or default_crm_url()),
            output=output,
            table=table,
            schema=schema,
            as_of=as_of,
            bad_rows=bad_rows,
            policy=policy,
            tracking_uri=tracking_uri,
            lock_timeout=wait,
            columns=mapping,
            trust_model=trust_model,
            force=force,
            dry_run=dry_run,
            max_mean_change=max_clv_change,
            max_tier_change=max_tier_shift / 100,
        )
        for reason in spark_result.overridden:
            console.print(f"[yellow]--force[/]: {escape(reason)}", highlight=False)
        if spark_result.plan is not None:
            _print_plan(spark_result, engine="Spark", currency=currency)
            return
        where = spark_result.output
        if spark_result.run is not None:
            r = spark_result.run
            where = f"{r.rows_written:,} written, {r.rows_quarantined:,} quarantined -> {where}"
        else:
            from clvml.spark.job import quarantine_path

            n = sum(spark_result.set_aside.values())
            where = f"{where} ({n:,} quarantined -> {quarantine_path(where)})"
        console.print(
            f"Scored on Spark with {escape(spark_result.model_name)} version "
            f"{escape(spark_result.model_version)} as of {spark_result.as_of}: {escape(where)}",
            highlight=False,
        )
        return
    if output is not None:
        raise typer.BadParameter("only with --engine spark", param_hint="--output")
    from clvml.pipelines.subscriptions import is_subscription_source

    if is_subscription_source(data):  # subscriptions, no transactions: issue #19
        from clvml.cli import subscriptions

        return subscriptions.score(
            model,
            data,
            crm_url,
            table=table,
            schema=schema,
            as_of=as_of,
            tracking_uri=tracking_uri,
            policy=policy,
            columns=mapping,
            lock_timeout=wait,
            dry_run=dry_run,
            force=force,
            trust_model=trust_model,
            max_mean_change=max_clv_change,
            max_tier_change=max_tier_shift / 100,
            alerts=load_alert_config(alerts_config),
        )
    alert_cfg = load_alert_config(alerts_config)
    result = score_customers(
        model,
        data,
        crm_url,
        table=table,
        schema=schema,
        as_of=as_of,
        chunk_size=chunk_size,
        workers=workers,
        bad_rows=bad_rows,  # type: ignore[arg-type]
        policy=policy,
        columns=mapping,
        tracking_uri=tracking_uri,
        lock_timeout=wait,
        console=console,
        force=force,
        dry_run=dry_run,
        max_mean_change=max_clv_change,
        max_tier_change=max_tier_shift / 100,
        trust_model=trust_model,
        alerts=alert_cfg,
    )
    for reason in result.overridden:
        console.print(f"[yellow]--force[/]: {escape(reason)}", highlight=False)
    if result.plan is not None:
        _print_plan(result, currency=currency)
        return
    run = result.run
    assert run is not None
    out = Table(
        title=f"Scored with {escape(result.model_name)} version {escape(result.model_version)} "
        f"as of {result.as_of}",
        title_justify="left",
        header_style="bold",
    )
    out.add_column("rows")
    out.add_column("count", justify="right")
    out.add_row("read (customers scored + set aside)", f"{run.rows_read:,}")
    out.add_row("scored", f"{run.rows_scored:,}")
    out.add_row("written", f"{run.rows_written:,}")
    out.add_row("quarantined", f"{run.rows_quarantined:,}")
    for cause, n in result.set_aside.items():
        out.add_row(f"  of which {cause.replace('_', ' ')}", f"{n:,}")
    if result.transactions_only:
        out.add_row(
            "scored on transactions only (no profiling consent)", f"{result.transactions_only:,}"
        )
    console.print(out)
    phases = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
    console.print(f"timings: {phases}", style="dim", highlight=False)
    console.print(
        f"run {run.run_id} -> table {escape(run.table)} in {escape(result.crm)}", highlight=False
    )
    _print_alerts(result.alerts)


def _print_alerts(alerts: Any) -> None:
    if alerts is None:
        return
    rules = ", ".join(f"{n} {r.replace('_', ' ')}" for r, n in sorted(alerts.by_rule.items()))
    line = f"alerts: {alerts.raised:,} raised" + (f" ({rules})" if rules else "")
    line += f"; {alerts.delivered:,} delivered, {alerts.pending:,} pending"
    console.print(line, highlight=False, soft_wrap=True)
    for dest, error in alerts.errors.items():
        console.print(
            f"[yellow]alerts to {escape(dest)} stay pending[/]: {escape(error)} "
            "(clvml alerts --deliver retries)",
            highlight=False,
        )


def _print_plan(result: Any, engine: str | None = None, currency: str | None = None) -> None:
    from clvml.pipelines.score_checks import plural

    plan = result.plan
    n_aside = sum(result.set_aside.values())
    where = result.crm if engine is None else result.output
    on = "" if engine is None else f" on {engine}"
    console.print(
        f"Would score{on} with {escape(result.model_name)} version {escape(result.model_version)} "
        f"as of {result.as_of} into {escape(where)}: {plan.new.n:,} scores, "
        f"{plural(n_aside, 'row')} set aside",
        highlight=False,
    )
    console.print(f"would write: {plan.describe()}", highlight=False)
    alerts = result.alerts
    if alerts is not None:
        rules = ", ".join(f"{n} {r.replace('_', ' ')}" for r, n in sorted(alerts.by_rule.items()))
        console.print(
            f"would raise: {alerts.raised:,} alerts" + (f" ({rules})" if rules else ""),
            highlight=False,
            soft_wrap=True,
        )
    if plan.kept:
        console.print(
            f"{plural(plan.kept, 'customer')} in the table not scored by this run would keep "
            "their scores",
            highlight=False,
        )
    prev, new = plan.previous, plan.new
    if prev.n:
        change = (new.mean_clv - prev.mean_clv) / abs(prev.mean_clv) if prev.mean_clv else 0.0
        console.print(
            f"mean CLV {money(prev.mean_clv, currency)} -> {money(new.mean_clv, currency)} "
            f"({change:+.1%})",
            highlight=False,
        )
    else:
        console.print(
            f"mean CLV {money(new.mean_clv, currency)} (the table holds no scores)",
            highlight=False,
        )
    if plan.tier_moves:
        moves = Table(title="value tier moves", title_justify="left", header_style="bold")
        moves.add_column("from")
        moves.add_column("to")
        moves.add_column("customers", justify="right")
        for (a, b), n in plan.tier_moves.items():
            moves.add_row(escape(a or "(none)"), escape(b or "(none)"), f"{n:,}")
        console.print(moves)
