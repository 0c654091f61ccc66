"""``clvml train``: data to a registered champion model, tracked in MLflow."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from clvml.cli._app import app, console
from clvml.cli._options import (
    Columns,
    Duplicates,
    Invalid,
    Returns,
    TimestampFormat,
    Tz,
    iso,
)

if TYPE_CHECKING:
    from clvml.pipelines.train import TrainResult

#: Comparison columns shown, with short headers.
_SHOWN = {
    "normalized_gini": "gini",
    "spearman": "spearman",
    "top_decile_capture": "top 10%",
    "mae": "MAE",
    "total_bias": "bias",
    "roc_auc": "churn AUC",
}


@app.command()
def train(
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="Data folder (as `clvml generate` writes it) or SQLAlchemy URL "
            "[default: data.source of the config, else data/social].",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="TOML config (see configs/train.toml) [default: the built-in defaults].",
        ),
    ] = None,
    tracking_uri: Annotated[
        str | None,
        typer.Option(help="MLflow tracking URI [default: MLFLOW_TRACKING_URI, else ./mlruns.db]."),
    ] = None,
    model_name: Annotated[
        str | None, typer.Option(help="Registered model name [default: clvml].")
    ] = None,
    experiment: Annotated[
        str | None, typer.Option(help="MLflow experiment [default: clvml].")
    ] = None,
    calibration_end: Annotated[
        str | None,
        typer.Option(
            callback=iso("--calibration-end"),
            help="Last day of the calibration period [default: from the data].",
        ),
    ] = None,
    horizon_weeks: Annotated[
        float | None, typer.Option(min=1, help="CLV horizon and holdout length [default: 52].")
    ] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Random seed [default: 0].")] = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="'local' (pandas on this machine) or 'spark' (the `spark` extra: BTYD fitted "
            "on every customer in Spark, the rest on a customer sample; reads a folder of "
            "<name>.parquet; master from spark.master, CLVML_SPARK_MASTER or local[2]).",
        ),
    ] = "local",
    sample_customers: Annotated[
        int | None,
        typer.Option(
            min=100,
            help="With --engine spark: most customers collected to the driver "
            "[default: spark.sample_customers of the config, 200000].",
        ),
    ] = None,
    columns: Columns = None,
    timestamp_format: TimestampFormat = None,
    tz: Tz = None,
    returns: Returns = None,
    duplicates: Duplicates = None,
    invalid: Invalid = None,
) -> None:
    """Train, compare and register the CLV model; promote it if it beats the champion.

    The data-source flags (--columns, --timestamp-format, --tz, --returns, --duplicates,
    --invalid) override the keys of the config's data table.

    Runs data -> validation -> features -> models -> evaluation, logs everything to
    MLflow (parent run with nested runs per method) and moves the alias `champion`
    only if the new model beats the current champion on the holdout metric.
    With --engine spark, Spark reads and validates the data and fits the BTYD models
    on every customer; the comparison, the supervised parts and the holdout metrics
    run on a sample of customers (docs/scaling.md).
    """
    import logging

    import mlflow  # noqa: F401  (configures its loggers on import; quieted below)

    if engine not in ("local", "spark"):
        raise typer.BadParameter("must be 'local' or 'spark'", param_hint="--engine")
    run_training: Callable[..., TrainResult]
    if engine == "spark":
        from clvml.spark.train import train as spark_training

        run_training = partial(spark_training, sample_customers=sample_customers)
    else:
        if sample_customers is not None:
            raise typer.BadParameter("only with --engine spark", param_hint="--sample-customers")
        from clvml.pipelines.train import train as run_training

    # the progress lines say what happens; MLflow's INFO lines would repeat it
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    from clvml.pipelines.subscriptions import is_subscription_source

    if data is not None and engine == "local" and is_subscription_source(data):  # issue #19
        from clvml.cli import subscriptions
        from clvml.cli._options import DataFlags

        flags = DataFlags(None, timestamp_format, tz, returns, duplicates, invalid)
        return subscriptions.train(
            data,
            tracking_uri=tracking_uri,
            model_name=model_name,
            experiment=experiment,
            calibration_end=calibration_end,
            horizon_weeks=horizon_weeks,
            policy=flags.policy(),
            columns=DataFlags(columns).mapping(),
        )
    result = run_training(
        config,
        console=console,
        data=data,
        tracking_uri=tracking_uri,
        model_name=model_name,
        experiment=experiment,
        calibration_end=calibration_end,
        horizon_weeks=horizon_weeks,
        seed=seed,
        columns=columns,
        timestamp_format=timestamp_format,
        tz=tz,
        returns=returns,
        duplicates=duplicates,
        invalid=invalid,
    )
    table = Table(
        title=f"Holdout {result.calibration_end} -> {result.holdout_end}",
        title_justify="left",
        header_style="bold",
    )
    table.add_column("method")
    for header in _SHOWN.values():
        table.add_column(header, justify="right")
    for method, row in result.comparison.iterrows():
        table.add_row(
            str(method), *("" if row.get(c) != row.get(c) else f"{row[c]:.3f}" for c in _SHOWN)
        )
    console.print(table)
    console.print(f"run {result.run_id} in {escape(result.tracking_uri)}", highlight=False)
    console.print(f"model {result.model_uri}", highlight=False)
    if result.decision is not None:
        style = "bold green" if result.decision.promoted else "yellow"
        console.print(result.decision.summary, style=style, highlight=False)
    if result.skipped_plots:
        console.print(f"plots skipped: {', '.join(result.skipped_plots)}", style="dim")
