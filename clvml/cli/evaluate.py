"""``clvml evaluate``: compare every CLV method on a data folder's holdout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from clvml.cli._app import app, console
from clvml.cli._options import (
    Columns,
    Currency,
    DataFlags,
    Duplicates,
    Invalid,
    Returns,
    TimestampFormat,
    Tz,
    iso,
    money,
)
from clvml.exceptions import DataValidationError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


@app.command()
def evaluate(
    data: Annotated[
        str,
        typer.Option(
            "--data",
            help="Folder with transactions[, engagement, customers] as CSV/Parquet, or a "
            "SQLAlchemy URL of a database holding those tables.",
        ),
    ],
    calibration_end: Annotated[
        str,
        typer.Option(
            "--calibration-end",
            callback=iso("--calibration-end"),
            help="Last day of the calibration period.",
        ),
    ],
    holdout_end: Annotated[
        str | None,
        typer.Option(
            "--holdout-end",
            callback=iso("--holdout-end"),
            help="Last day of the holdout [default: from --horizon-weeks].",
        ),
    ] = None,
    horizon_weeks: Annotated[
        float | None,
        typer.Option(
            "--horizon-weeks",
            help="Holdout length in weeks, instead of --holdout-end [default: none].",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write the table to FILE.csv or FILE.json [default: print only]."
        ),
    ] = None,
    plots: Annotated[
        Path | None,
        typer.Option("--plots", help="Folder for gain-curve and decile plots [default: no plots]."),
    ] = None,
    predictions: Annotated[
        Path | None,
        typer.Option(
            "--predictions",
            help="Write every method's prediction and the realised value per customer to "
            "FILE.csv[.gz] or FILE.parquet [default: not written].",
        ),
    ] = None,
    supervised: Annotated[
        str, typer.Option(help="How supervised parts train: auto, time or customers.")
    ] = "auto",
    folds: Annotated[int, typer.Option(min=2, help="Customer folds (customers mode).")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the folds and models.")] = 0,
    columns: Columns = None,
    timestamp_format: TimestampFormat = None,
    tz: Tz = None,
    returns: Returns = None,
    duplicates: Duplicates = None,
    invalid: Invalid = None,
    currency: Currency = None,
) -> None:
    """Compare closed form, BTYD, BTYD with covariates, hybrid and ML on the holdout.

    Every method predicts each customer's revenue after the calibration end and is
    judged on what the customer really spent; supervised parts never see the evaluated
    customers' holdout (an earlier window or other customers, printed below the table).
    """
    import numpy as np
    import pandas as pd

    from clvml.evaluation.comparison import REFERENCE_ROWS
    from clvml.pipelines.evaluate import evaluate_methods

    if out is not None and out.suffix.lower() not in (".csv", ".json"):
        raise DataValidationError(f"--out must end in .csv or .json, got {out.name}")
    if predictions is not None and not predictions.name.lower().endswith(
        (".csv", ".csv.gz", ".parquet")
    ):
        raise DataValidationError(
            f"--predictions must end in .csv, .csv.gz or .parquet, got {predictions.name}"
        )
    from clvml.reporting.i18n import check_currency

    currency = check_currency(currency)
    flags = DataFlags(columns, timestamp_format, tz, returns, duplicates, invalid)
    from clvml.pipelines.subscriptions import is_subscription_source

    if is_subscription_source(data):  # subscriptions, no transactions: issue #19
        from clvml.cli import subscriptions

        return subscriptions.evaluate(
            data,
            calibration_end=calibration_end,
            holdout_end=holdout_end,
            horizon_weeks=horizon_weeks,
            out=out,
            predictions=predictions,
            policy=flags.policy(),
            columns=flags.mapping(),
        )
    res = evaluate_methods(
        data,
        calibration_end=calibration_end,
        holdout_end=holdout_end,
        horizon_weeks=horizon_weeks,
        supervised=supervised,
        n_folds=folds,
        random_state=seed,
        policy=flags.policy(),
        columns=flags.mapping(),
        console=console,
    )
    cutoff, end = res.calibration_end, res.holdout_end

    deployable = _deployable(res.table["method"], res.mode)
    protocol = {
        "time": "deployable time split",
        "customers": "customer folds: supervised rows NOT DEPLOYABLE",
        "none": "label-free methods only (short history)",
    }.get(res.mode, res.mode)
    table = Table(
        title=(
            f"CLV methods on the {res.horizon_weeks:.0f}-week holdout "
            f"(after {cutoff.date()} up to {end.date()}, {len(res.predictions):,} customers; "
            f"{protocol})"
        ),
        title_justify="left",
        header_style="bold",
    )
    heads = ["method", "Gini", "Spearman", "top 10%", "top 20%", "MAE", "total bias"]
    heads += ["ROC AUC", "PR AUC", "Brier"]
    with_oracle = bool(res.table["oracle_share"].notna().any())
    if with_oracle:
        heads.append("oracle share")
    table.add_column(heads[0], no_wrap=True, min_width=15)
    for h in heads[1:]:
        table.add_column(h, justify="right", no_wrap=True)

    def fmt(v: float, spec: str) -> str:
        return "" if pd.isna(v) else format(v, spec)

    best = res.best()
    rows = res.table.assign(is_deployable=deployable.to_numpy())
    reference = rows["method"].isin(REFERENCE_ROWS).to_numpy()
    # deployable rows lead, the customer-fold supervised rows follow, references last
    rank = np.where(reference, 2, np.where(rows["is_deployable"].to_numpy(), 0, 1))
    rows = rows.iloc[np.argsort(rank, kind="stable")]
    for row in rows.itertuples(index=False):
        label = row.method if row.is_deployable else f"{row.method} *"
        table.add_row(
            label,
            fmt(row.normalized_gini, ".3f"),
            fmt(row.spearman, ".3f"),
            fmt(row.top_decile_capture, ".1%"),
            fmt(row.top20_capture, ".1%"),
            "" if pd.isna(row.mae) else money(row.mae, currency),
            fmt(row.total_bias, "+.1%"),
            fmt(row.roc_auc, ".3f"),
            fmt(row.pr_auc, ".3f"),
            fmt(row.brier, ".3f"),
            *([fmt(row.oracle_share, ".1%")] if with_oracle else []),
            style="bold" if row.method == best else None,
        )
    console.print(_headline(res, deployable), highlight=False)
    console.print(table)
    if not deployable.all():
        console.print(
            "* not deployable: trained on other customers' labels of the same holdout window",
            highlight=False,
        )
    console.print(escape(res.supervision), highlight=False)
    if with_oracle:
        share = float(res.table.set_index("method").loc[best, "oracle_share"])
        console.print(
            f"best method {escape(best)} reaches {share:.1%} of the attainable oracle's "
            "normalised Gini (oracle: the Bayes-optimal prediction from the history before "
            "the cut-off under the planted model; truth also knows the latent state)",
            highlight=False,
        )
    for method, reason in res.skipped_methods.items():
        console.print(escape(f"skipped {method}: {reason}"), highlight=False)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() == ".csv":
            from clvml.data.spreadsheet import formula_safe

            formula_safe(res.table).to_csv(out, index=False)
        else:
            payload = {
                "calibration_end": str(res.calibration_end.date()),
                "holdout_end": str(res.holdout_end.date()),
                "horizon_weeks": res.horizon_weeks,
                "supervision": res.supervision,
                "skipped_methods": res.skipped_methods,
                "methods": json.loads(res.table.to_json(orient="records")),
            }
            out.write_text(json.dumps(payload, indent=2))
        console.print(escape(f"table written to {out}"), highlight=False)
    if predictions is not None:
        from clvml.data.io import write_table

        predictions.parent.mkdir(parents=True, exist_ok=True)
        write_table(res.predictions.reset_index(), predictions)  # atomic: temp file + replace
        console.print(
            escape(f"{len(res.predictions):,} customers' predictions written to {predictions}"),
            highlight=False,
        )
    if plots is not None:
        from clvml.evaluation.value_plots import save_comparison_plots

        written = save_comparison_plots(res, plots)
        console.print(escape(f"{len(written)} plots written to {plots}"), highlight=False)


def _deployable(methods: pd.Series, mode: str) -> pd.Series:
    """Whether each row's method could be deployed as evaluated.

    Label-free rows always can; supervised rows only when their parts were trained on an
    earlier window (``mode == "time"``), not cross-fitted over other customers' holdout.
    """
    from clvml.models.methods.registry import REGISTRY

    supervised = methods.map(lambda m: bool(getattr(REGISTRY.get(m), "supervised", False)))
    return ~supervised | (mode != "customers")


def _headline(res: Any, deployable: pd.Series) -> str:
    """The line printed first: the best deployable row and how far its total is off."""
    from clvml.evaluation.comparison import REFERENCE_ROWS

    t = res.table
    rows = t[deployable.to_numpy() & ~t["method"].isin(REFERENCE_ROWS).to_numpy()]
    if rows.empty or rows["normalized_gini"].isna().all():
        return escape(f"no deployable row to lead with ({res.supervision})")
    top = rows.loc[rows["normalized_gini"].idxmax()]
    kind = "best method" if res.mode == "time" else "best label-free method"
    line = (
        f"Deployable result: {kind} {top['method']}, normalised Gini "
        f"{top['normalized_gini']:.3f}, total {top['total_bias']:+.1%}"
    )
    if res.mode == "customers":
        line += (
            "; the supervised rows marked * are NOT DEPLOYABLE (customer folds); "
            "--supervised time gives the deployable comparison"
        )
    return escape(line)
