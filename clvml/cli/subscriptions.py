"""What ``clvml evaluate``, ``train`` and ``score`` print for a subscription business.

The commands call these when their ``--data`` holds a ``subscriptions`` table and no
``transactions`` (:func:`clvml.pipelines.subscriptions.is_subscription_source`); the work
is :mod:`clvml.pipelines.subscriptions`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from clvml.cli._app import console

__all__ = ["evaluate", "score", "train"]


def _fmt(value: float, spec: str) -> str:
    return "" if value != value else format(value, spec)


def _comparison(evaluation: Any) -> Table:
    table = Table(
        caption="renewals: expected in the holdout; paid: realised; MAE per spell; Brier: "
        "the first renewal",
        title=(
            f"Subscription methods on the holdout (after {evaluation.calibration_end.date()} "
            f"up to {evaluation.holdout_end.date()}, {len(evaluation.predictions):,} active "
            "spells)"
        ),
        title_justify="left",
        header_style="bold",
    )
    heads = ["method", "renewals", "paid", "bias", "MAE", "value bias", "Brier"]
    table.add_column(heads[0], no_wrap=True, min_width=14)
    for h in heads[1:]:
        table.add_column(h, justify="right", no_wrap=True, min_width=len(h))
    for row in evaluation.table.itertuples(index=False):
        star = " *" if row.method == evaluation.champion else ""
        table.add_row(
            f"{row.method}{star}",
            _fmt(row.renewals_expected, ",.0f"),
            _fmt(row.renewals_paid, ",.0f"),
            _fmt(row.renewals_bias, "+.1%"),
            _fmt(row.mae_renewals, ".3f"),
            _fmt(row.value_bias, "+.1%"),
            _fmt(row.brier_next_renewal, ".4f"),
        )
    return table


def _footer(evaluation: Any) -> None:
    console.print(
        f"* lowest MAE of renewals per spell among the models: {evaluation.champion}; covariates: "
        f"{', '.join(evaluation.covariates) or 'none'}",
        highlight=False,
    )
    rates = ", ".join(f"{r:.1%} a {p}" for p, r in sorted(evaluation.formula_retention.items()))
    if rates:
        console.print(
            f"formula: constant retention (CF - CN) / CI = {rates}, whatever the tenure",
            highlight=False,
        )
    for note in evaluation.notes:
        console.print(f"note: {escape(note)}", style="dim", highlight=False)
    for period, lr in evaluation.lr_tests.items():
        console.print(
            f"sBG vs BdW ({period}ly billing): LR {lr['statistic']:.2f}, p {lr['p_value']:.3g}"
            + (" (churn changes with tenure)" if lr["p_value"] < 0.05 else ""),
            highlight=False,
        )


def evaluate(
    data: str,
    *,
    calibration_end: str | None,
    holdout_end: str | None,
    horizon_weeks: float | None,
    out: Path | None,
    predictions: Path | None,
    policy: Any,
    columns: Any,
) -> None:
    """``clvml evaluate`` on subscriptions: the comparison table, written on request."""
    from clvml.data.io import write_table
    from clvml.pipelines.subscriptions import evaluate_subscriptions

    res = evaluate_subscriptions(
        data,
        calibration_end=calibration_end,
        holdout_end=holdout_end,
        horizon_weeks=horizon_weeks,
        policy=policy,
        columns=columns,
    )
    console.print(_comparison(res))
    _footer(res)
    if out is not None:
        if out.suffix.lower() == ".json":
            tmp = out.with_name(f".{out.name}.tmp")
            tmp.write_text(res.table.to_json(orient="records", indent=2))
            tmp.replace(out)
        else:
            write_table(res.table, out)
        console.print(f"table -> {escape(str(out))}", highlight=False)
    if predictions is not None:
        write_table(res.predictions, predictions)
        console.print(f"predictions -> {escape(str(predictions))}", highlight=False)


def train(
    data: str,
    *,
    tracking_uri: str | None,
    model_name: str | None,
    experiment: str | None,
    calibration_end: str | None,
    horizon_weeks: float | None,
    policy: Any,
    columns: Any,
) -> None:
    """``clvml train`` on subscriptions: comparison, champion, registry decision, LTV:CAC."""
    from clvml.pipelines.subscriptions import train_subscriptions

    res = train_subscriptions(
        data,
        tracking_uri=tracking_uri,
        model_name=model_name,
        experiment=experiment,
        calibration_end=calibration_end,
        horizon_weeks=horizon_weeks,
        policy=policy,
        columns=columns,
    )
    console.print(_comparison(res.evaluation))
    _footer(res.evaluation)
    if res.ltv_cac is not None:
        table = Table(title="LTV:CAC by acquisition channel", title_justify="left")
        for h in ("channel", "customers", "LTV mean", "CAC mean", "LTV:CAC", "verdict"):
            table.add_column(h, justify="left" if h in ("channel", "verdict") else "right")
        for channel, row in res.ltv_cac.iterrows():
            table.add_row(
                escape(str(channel)),
                f"{int(row['n_customers']):,}",
                f"{row['ltv_mean']:,.2f}",
                f"{row['cac_mean']:,.2f}",
                _fmt(float(row["ltv_cac"]), ".2f"),
                str(row["verdict"]),
            )
        console.print(table)
    console.print(
        f"served method {res.model.champion_} fitted on the spells known on {res.as_of.date()}",
        highlight=False,
    )
    console.print(f"run {res.run_id} in {escape(res.tracking_uri)}", highlight=False)
    console.print(f"model {res.model_uri}", highlight=False)
    style = "bold green" if res.decision.promoted else "yellow"
    console.print(res.decision.summary, style=style, highlight=False)


def score(
    model: str,
    data: str,
    crm_url: str | None,
    *,
    table: str,
    schema: str | None,
    as_of: str | None,
    tracking_uri: str | None,
    policy: Any,
    columns: Any,
    lock_timeout: float,
    dry_run: bool,
    force: bool = False,
    trust_model: bool = False,
    max_mean_change: float | None = None,
    max_tier_change: float | None = None,
    alerts: Any = None,
) -> None:
    """``clvml score`` on subscriptions: each customer's latest spell into the CRM, with the
    transaction path's refusals, history, alerts and dry run."""
    from types import SimpleNamespace

    from clvml.cli.score import _print_alerts, _print_plan
    from clvml.pipelines.subscriptions import score_subscriptions

    if dry_run:
        console.print("[bold]dry run[/]: nothing is written to the CRM", highlight=False)
    res = score_subscriptions(
        model,
        data,
        crm_url,
        table=table,
        schema=schema,
        as_of=as_of,
        tracking_uri=tracking_uri,
        policy=policy,
        columns=columns,
        lock_timeout=lock_timeout,
        force=force,
        dry_run=dry_run,
        trust_model=trust_model,
        max_mean_change=max_mean_change,
        max_tier_change=max_tier_change,
        alerts=alerts,
    )
    for reason in res.overridden:
        console.print(f"[yellow]--force[/]: {escape(reason)}", highlight=False)
    if res.plan is not None:
        _print_plan(
            SimpleNamespace(
                plan=res.plan,
                set_aside={},
                model_name=res.model_name,
                model_version=res.model_version,
                as_of=str(res.as_of.date()),
                crm=res.crm,
                alerts=res.alerts,
            )
        )
        return
    run = res.run
    console.print(
        f"Scored subscriptions with {escape(res.model_name)} version "
        f"{escape(res.model_version)} as of {res.as_of.date()}: {run.rows_written:,} "
        f"written, {run.rows_quarantined:,} quarantined",
        highlight=False,
    )
    console.print(
        f"run {run.run_id} -> table {escape(run.table)} in {escape(res.crm)}", highlight=False
    )
    _print_alerts(res.alerts)
