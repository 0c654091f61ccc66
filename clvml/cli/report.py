"""``clvml report``: the marketer report as one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from clvml.cli._app import app, console
from clvml.cli._options import (
    Columns,
    DataFlags,
    Duplicates,
    Invalid,
    Returns,
    TimestampFormat,
    TrustModel,
    Tz,
    iso,
)


@app.command()
def report(
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.", dir_okay=False)],
    lang: Annotated[str, typer.Option("--lang", help="Language: en or es.")] = "en",
    crm_url: Annotated[
        str | None,
        typer.Option(
            "--crm-url",
            help="SQLAlchemy URL of the CRM database holding the scores, e.g. "
            "sqlite:///crm.db [default: none, give it or --scores].",
        ),
    ] = None,
    scores: Annotated[
        Path | None,
        typer.Option(
            "--scores",
            help="Scores as CSV or Parquet instead of --crm-url [default: read the CRM].",
            dir_okay=False,
        ),
    ] = None,
    table: Annotated[
        str, typer.Option(help="Score table in the CRM database.")
    ] = "customer_scores",
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="Data folder or URL (customers for LTV:CAC; transactions, engagement and "
            "customers for the social-care impact) [default: none, those sections left out]. "
            "Read with --returns net --duplicates keep --invalid drop unless given.",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Model URI or folder whose holdout metrics to show "
            "[default: the version in the CRM run table, if the registry has it]."
        ),
    ] = None,
    comparison: Annotated[
        Path | None,
        typer.Option(
            help="Comparison table (CSV/Parquet, one row per method) for the "
            "model-performance section [default: none, the model's holdout metrics].",
            dir_okay=False,
        ),
    ] = None,
    tracking_uri: Annotated[
        str | None,
        typer.Option(help="MLflow tracking URI [default: MLFLOW_TRACKING_URI, else ./mlruns.db]."),
    ] = None,
    top: Annotated[int, typer.Option(min=1, help="High-value customers at risk to list.")] = 20,
    impact_weeks: Annotated[
        float, typer.Option(min=1, help="Holdout weeks of the social-care impact measures.")
    ] = 52.0,
    impact_cutoff: Annotated[
        str | None,
        typer.Option(
            callback=iso("--impact-cutoff"),
            help="Cut-off day of the social-care measures [default: last day - weeks].",
        ),
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option(
            help="ISO 4217 code amounts are shown in (USD, EUR, GBP...), written the way --lang "
            "writes money ($1,234 / 1.234 €) [default: none, plain numbers].",
        ),
    ] = None,
    columns: Columns = None,
    timestamp_format: TimestampFormat = None,
    tz: Tz = None,
    returns: Returns = None,
    duplicates: Duplicates = None,
    invalid: Invalid = None,
    trust_model: TrustModel = False,
) -> None:
    """Write the marketer report: headline figures, CLV distribution, tiers, value x risk,
    LTV:CAC by channel, social-care impact, customers at risk and model performance."""
    from clvml.pipelines.report import load_report_inputs
    from clvml.reporting import build_report, write_report
    from clvml.reporting.i18n import LANGUAGES

    if lang not in LANGUAGES:
        raise typer.BadParameter(f"must be one of {', '.join(LANGUAGES)}", param_hint="--lang")
    from clvml.reporting.i18n import check_currency

    currency = check_currency(currency)
    flags = DataFlags(columns, timestamp_format, tz, returns, duplicates, invalid)
    inputs = load_report_inputs(
        crm_url=crm_url,
        scores=scores,
        table=table,
        data=data,
        model=model,
        comparison=comparison,
        tracking_uri=tracking_uri,
        policy=flags.policy(returns="net", duplicates="keep", invalid="drop"),
        columns=flags.mapping(),
        trust_model=trust_model,
    )
    text = build_report(
        inputs,
        lang=lang,
        top_n=top,
        impact_horizon_weeks=impact_weeks,
        impact_cutoff=impact_cutoff,
        currency=currency,
    )
    path = write_report(text, out)
    size = path.stat().st_size / 1024
    console.print(
        f"wrote {escape(str(path))} ({size:,.0f} KiB, {len(inputs.scores):,} customers, "
        f"language {lang})",
        highlight=False,
    )
