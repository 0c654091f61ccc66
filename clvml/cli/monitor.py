"""``clvml monitor``: past scoring runs against what customers then did, and input drift."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from clvml.cli._app import app, console
from clvml.cli._options import (
    Columns,
    CrmSchema,
    DataFlags,
    Duplicates,
    Returns,
    TimestampFormat,
    TrustModel,
    Tz,
    iso,
)


def _fmt(value: float, pct: bool = False) -> str:
    if value != value:  # NaN
        return "-"
    return f"{value:+.1%}" if pct else f"{value:.3f}"


@app.command()
def monitor(
    ctx: typer.Context,
    crm_url: Annotated[
        str | None,
        typer.Option(
            "--crm-url",
            help="SQLAlchemy URL of the CRM database the scoring runs wrote to "
            "[default: sqlite:///crm.db in the working directory].",
        ),
    ] = None,
    data: Annotated[
        str,
        typer.Option(
            "--data",
            help="The data as they are now (folder, file or SQLAlchemy URL), later than the "
            "scoring runs' as-of days.",
        ),
    ] = "data/social",
    model: Annotated[
        str, typer.Option("--model", help="The served model (as clvml score --model).")
    ] = "models:/clvml@champion",
    table: Annotated[
        str, typer.Option("--table", help="Score table (lower-case letters, digits, _).")
    ] = "customer_scores",
    schema: CrmSchema = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            callback=iso("--as-of"),
            help="Use the data up to this day, YYYY-MM-DD [default: the last purchase day].",
        ),
    ] = None,
    max_gini_drop: Annotated[
        float,
        typer.Option(
            min=0, help="Degraded when the Gini falls more than this below the holdout Gini."
        ),
    ] = 0.10,
    min_gini: Annotated[
        float | None,
        typer.Option(help="Degraded when the Gini falls below this floor [default: none]."),
    ] = None,
    max_bias: Annotated[
        float,
        typer.Option(min=0, help="Degraded when |total bias| exceeds this share (0.25 = 25%)."),
    ] = 0.25,
    max_psi: Annotated[
        float, typer.Option(min=0, help="A feature with a larger PSI is reported as drifted.")
    ] = 0.25,
    degrade_on_drift: Annotated[
        bool,
        typer.Option("--degrade-on-drift", help="A drifted feature also marks the model degraded."),
    ] = False,
    min_elapsed_weeks: Annotated[
        float, typer.Option(min=0, help="Runs younger than this many weeks are not judged yet.")
    ] = 4.0,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="TOML file whose [monitor] table sets the thresholds (max_gini_drop, min_gini, "
            "max_abs_bias, max_psi, degrade_on_drift, min_elapsed_weeks); options given on "
            "the command line win [default: none].",
        ),
    ] = None,
    no_mlflow: Annotated[
        bool, typer.Option("--no-mlflow", help="Do not log a monitoring run to MLflow.")
    ] = False,
    columns: Columns = None,
    timestamp_format: TimestampFormat = None,
    tz: Tz = None,
    returns: Returns = None,
    duplicates: Duplicates = None,
    tracking_uri: Annotated[
        str | None,
        typer.Option(help="MLflow tracking URI [default: MLFLOW_TRACKING_URI, else ./mlruns.db]."),
    ] = None,
    trust_model: TrustModel = False,
) -> None:
    """Judge past scoring runs on what customers did since, and the drift of the inputs.

    For every scoring run old enough, the realised revenue over the elapsed part of the
    horizon is compared with the pro-rated predictions (normalised Gini, total bias, churn
    calibration), overall and per value tier; the model's input features at its training
    cut-off are compared with the same features now (PSI, unseen categories). Results go to
    the model_monitoring table and an MLflow monitoring run; exit code 3 when the champion
    is degraded (retrain it).
    """
    import dataclasses

    from clvml.pipelines.monitor import MonitorThresholds, load_thresholds, monitor_model
    from clvml.pipelines.score import default_crm_url

    flags = DataFlags(columns, timestamp_format, tz, returns, duplicates)
    given: dict[str, Any] = {
        "max_gini_drop": max_gini_drop,
        "min_gini": min_gini,
        "max_abs_bias": max_bias,
        "max_psi": max_psi,
        "degrade_on_drift": degrade_on_drift,
        "min_elapsed_weeks": min_elapsed_weeks,
    }
    params = {"max_abs_bias": "max_bias"}
    base = load_thresholds(config) if config is not None else None
    if base is None:
        thresholds = MonitorThresholds(**given)
    else:  # the file's values, except the options given on the command line
        explicit = {
            k: v
            for k, v in given.items()
            if getattr(ctx.get_parameter_source(params.get(k, k)), "name", "") == "COMMANDLINE"
        }
        thresholds = dataclasses.replace(base, **explicit)
    result = monitor_model(
        crm_url or default_crm_url(),
        data,
        model_uri=model,
        table=table,
        schema=schema,
        as_of=as_of,
        thresholds=thresholds,
        policy=flags.policy(),
        columns=flags.mapping(),
        tracking_uri=tracking_uri,
        trust_model=trust_model,
        log_to_mlflow=not no_mlflow,
    )
    acc = result.accuracy
    title = (
        f"Past predictions of {escape(result.model_name)} version "
        f"{escape(result.model_version)} against what customers did (data through "
        f"{result.data_through})"
    )
    out = Table(title=title, title_justify="left", header_style="bold")
    for col, justify in (
        ("run as of", "left"),
        ("weeks", "right"),
        ("scope", "left"),
        ("customers", "right"),
        ("Gini", "right"),
        ("total bias", "right"),
        ("purchases bias", "right"),
        ("churn pred.", "right"),
        ("no purchase yet", "right"),
        ("churn ECE", "right"),
    ):
        out.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in acc.itertuples(index=False) if not acc.empty else []:
        out.add_row(
            str(r.scored_as_of),
            f"{r.elapsed_weeks:.1f}",
            escape(str(r.scope)),
            f"{int(r.n_customers):,}",
            _fmt(r.normalized_gini),
            _fmt(r.total_bias, pct=True),
            _fmt(r.purchases_bias, pct=True),
            _fmt(r.mean_churn_probability),
            _fmt(r.churn_rate_so_far),
            _fmt(r.churn_ece),
        )
    if acc.empty:
        console.print("no scoring run is old enough to judge yet", highlight=False)
    else:
        console.print(out)
    drift = result.drift
    if not drift.empty:
        top = drift.sort_values("psi", ascending=False).head(8)
        d = Table(
            title="input drift since the training cut-off (largest PSI)",
            title_justify="left",
            header_style="bold",
        )
        d.add_column("feature")
        d.add_column("PSI", justify="right")
        d.add_column("unseen categories", justify="right")
        for r in top.itertuples(index=False):
            d.add_row(escape(str(r.feature)), _fmt(r.psi), _fmt(r.unseen_share, pct=False))
        console.print(d)
    for w in result.warnings:
        console.print(f"[yellow]note[/]: {escape(w)}", highlight=False)
    where = f"model_monitoring (monitor id {result.monitor_id})"
    if result.mlflow_run_id:
        where += f" and MLflow run {result.mlflow_run_id}"
    console.print(f"written to {where}", highlight=False)
    if result.degraded:
        console.print(
            f"[bold red]DEGRADED[/]: {escape('; '.join(result.reasons))}. Retrain the model "
            "(clvml train) and score again.",
            highlight=False,
        )
        raise typer.Exit(3)
    console.print("[green]healthy[/]: within the thresholds", highlight=False)
