"""``clvml demo``: the main job on the bundled data, printed as tables.

CDNOW (real purchases, 23,570 customers): the closed-form CLV of marketing
teams by acquisition cohort; the BTYD models fitted to the 39-week calibration
period, checked against the published parameters; every CLV method judged on the
39-week holdout; diagnostic plots. Then the bundled social-commerce data: the
social-care impact, training through MLflow with the champion gate, export,
two scoring jobs into the CRM a quarter apart, the monitoring of the earlier one on
the quarter since, the alerts of the later one, the segments and the marketer report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from clvml.cli._app import app, console

if TYPE_CHECKING:  # pandas is imported when a command runs, not by `clvml --help`
    import pandas as pd

#: Published figures for the CDNOW 1/10 sample (Fader, Hardie & Lee 2005).
PUBLISHED = {
    "BG/NBD": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "LL": -9582.4},
    "Pareto/NBD": {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669, "LL": -9595.0},
    "Gamma-Gamma": {"p": 6.25, "q": 3.74, "v": 15.44},
}


def _table(title: str, columns: list[str]) -> Table:
    t = Table(title=title, title_justify="left", header_style="bold")
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right")
    return t


def _published_comparison() -> Table:
    from clvml.data.datasets import load_cdnow_summary
    from clvml.models.btyd import BetaGeo, GammaGamma

    models = {"BG/NBD": BetaGeo, "Gamma-Gamma": GammaGamma}
    try:
        from clvml.models.btyd.pareto_nbd import ParetoNBD

        models["Pareto/NBD"] = ParetoNBD
    except ImportError:  # pragma: no cover - model not available in this build
        pass
    data = load_cdnow_summary(with_spend=True)
    table = _table(
        "BTYD parameters on the CDNOW sample (39 weeks) vs Fader, Hardie & Lee (2005)",
        ["model", "parameter", "clvml", "published", "± 95% CI"],
    )
    for name, cls in models.items():
        model = cls().fit(data)
        ci = model.confidence_intervals_
        for p, pub in PUBLISHED[name].items():
            if p == "LL":
                got = model.log_likelihood_
                table.add_row(name, "log-likelihood", f"{got:.1f}", f"{pub:.1f}", "")
                continue
            got = model.params_[p]
            lo, hi = ci.loc[p].to_numpy()
            table.add_row(name, p, f"{got:.3f}", f"{pub:.3f}", f"[{lo:.3f}, {hi:.3f}]")
        name = ""
    return table


@app.command()
def demo(
    out: Path = typer.Option(Path("out/demo"), help="Folder for plots and the report."),
    social: bool = typer.Option(True, help="Also run the social-commerce pipeline."),
) -> None:
    """Run the main job on the bundled data: CDNOW, then train, score and report on social data.

    The social-commerce part trains through MLflow (embedded store mlruns.db in the
    working directory unless MLFLOW_TRACKING_URI is set), exports the champion to
    out/demo/model (the committed models/clvml is left alone), scores every
    customer into the embedded CRM database crm.db and writes the marketers' report
    to out/demo/report_en.html and report_es.html.
    """
    _cdnow(out)
    if social:
        _social(out)


def _cdnow(out: Path) -> None:
    """CDNOW: closed-form CLV by cohort, BTYD vs the papers, every method on the holdout."""

    import pandas as pd

    from clvml.data.datasets import CDNOW_CALIBRATION_END, CDNOW_OBSERVATION_END, load_cdnow_master
    from clvml.evaluation.comparison import compare_methods
    from clvml.features.dataset import build_customer_dataset
    from clvml.models.btyd import BetaGeo, GammaGamma
    from clvml.models.closed_form import closed_form_clv
    from clvml.models.spend import spend_fit_frame
    from clvml.pipelines.steps import Steps

    tx = load_cdnow_master()
    console.rule("[bold]clvml demo: CDNOW, 23,570 customers, Jan 1997 - Jun 1998")
    console.print(
        f"{len(tx):,} purchases, {tx['customer_id'].nunique():,} customers, "
        f"${tx['amount'].sum():,.0f} revenue; calibration to {CDNOW_CALIBRATION_END}, "
        f"holdout to {CDNOW_OBSERVATION_END}"
    )

    # 1. the closed-form CLV by acquisition cohort (month of first purchase)
    first = tx.groupby("customer_id")["timestamp"].min()
    customers = pd.DataFrame(
        {
            "customer_id": first.index,
            "acquisition_date": first.to_numpy(),
            "cohort": first.dt.strftime("%Y-%m").to_numpy(),
        }
    )
    calib = tx.loc[tx["timestamp"] <= CDNOW_CALIBRATION_END]
    cf = closed_form_clv(
        calib,
        period="M",
        customers=customers,
        segment_col="cohort",
        cutoff=CDNOW_CALIBRATION_END,
    )
    t = _table(
        "Closed-form CLV by acquisition cohort (monthly retention = (CF - CN) / CI, calibration)",
        ["cohort", "customers", "retention", "lifetime (months)", "value / month", "LTV"],
    )
    for seg, row in cf.summary.iterrows():
        t.add_row(
            str(seg),
            f"{row['n_customers']:,.0f}",
            f"{row['retention']:.3f}",
            f"{row['lifetime']:.2f}",
            f"${row['value_per_period']:.2f}",
            f"${row['ltv']:.2f}",
        )
    o = cf.overall
    t.add_row(
        "all",
        f"{o['n_customers']:,.0f}",
        f"{o['retention']:.3f}",
        f"{o['lifetime']:.2f}",
        f"${o['value_per_period']:.2f}",
        f"${o['ltv']:.2f}",
        style="bold",
    )
    console.print(t)

    # 2. BTYD parameters against the papers
    console.print(_published_comparison())

    # 3. per-customer value on the holdout: BG/NBD + Gamma-Gamma vs closed form vs past spend
    ds = build_customer_dataset(tx, cutoff=CDNOW_CALIBRATION_END, holdout_end=CDNOW_OBSERVATION_END)
    feats, realised = ds.features, ds.targets["revenue"]
    bg = BetaGeo().fit(feats)
    # Gamma-Gamma needs positive mean spend; customers whose repeat purchases were all $0
    # are given the population mean spend (the zero-spend rule of clvml.models.spend).
    spend, zero = spend_fit_frame(feats)
    gg = GammaGamma().fit(spend)
    if zero.any():
        console.print(
            f"{int(zero.sum())} customers with only $0 repeat purchases get the "
            "population mean spend."
        )
    # every CLV method judged on the holdout (supervised parts never see the evaluated
    # customers' holdout: they are cross-fitted over customer folds, see .supervision)
    with Steps(console).step("compare methods", "closed form, BTYD, ML on the holdout"):
        cmp = compare_methods(
            tx,
            calibration_end=CDNOW_CALIBRATION_END,
            holdout_end=CDNOW_OBSERVATION_END,
            methods=("closed_form", "btyd", "ml"),
        )
    _print_comparison(
        cmp.table,
        f"Every CLV method vs realised revenue per customer, {ds.horizon_weeks:.0f}-week holdout",
    )
    console.print(f"Realised holdout revenue ${realised.sum():,.0f}. {cmp.supervision}")

    # 4. diagnostics
    saved = _save_plots(bg, gg, spend, ds, out, tx)
    console.print(f"Diagnostic plots written to {out}/: " + ", ".join(p.name for p in saved))


def _print_comparison(table: pd.DataFrame, title: str) -> None:
    """Print a comparison table (one row per method) with rich."""
    import pandas as pd

    t = _table(
        title,
        ["method", "normalised Gini", "Spearman", "top-10% capture", "total bias", "churn AUC"],
    )
    for method, row in table.iterrows():
        auc = row.get("roc_auc", float("nan"))
        t.add_row(
            str(row.get("method", method)),
            f"{row['normalized_gini']:.3f}",
            f"{row['spearman']:.3f}",
            f"{row['top_decile_capture']:.1%}",
            f"{row['total_bias']:+.1%}",
            "" if pd.isna(auc) else f"{auc:.3f}",
        )
    console.print(t)


def _social(out: Path) -> None:
    """Train (MLflow), export, score into the CRM and segment the bundled social-commerce data."""
    import logging

    from clvml.data.datasets import data_path
    from clvml.pipelines.score import default_crm_url, score_customers
    from clvml.pipelines.train import train
    from clvml.scoring.crm import CRMSink
    from clvml.segments import segment_summary
    from clvml.tracking.export import export_model

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # keep the demo's output readable
    data = data_path("social/customers.parquet").parent
    console.rule("[bold]Social commerce: 5,000 generated customers with engagement and truth")
    result = train(data=str(data), console=console)
    _print_comparison(
        result.comparison,
        f"Every CLV method on the holdout {result.calibration_end} -> {result.holdout_end}",
    )
    if result.decision is not None:
        console.print(f"Registry: {result.decision.summary}")

    _impact(data)

    model_dir = out / "model"  # `clvml export` writes models/clvml; the demo keeps it as committed
    exported = export_model("models:/clvml@champion", model_dir)
    console.print(f"Champion exported to {exported.path} (MLflow model format).")

    crm_url = default_crm_url()
    # Two nightly jobs a quarter apart: the earlier one (after the model's training cut-off,
    # so nothing it predicts was seen in training), then, with the quarter's new data,
    # monitoring judges it on what customers did since, and today's job scores again.
    import pandas as pd

    last = pd.read_parquet(data / "transactions.parquet", columns=["timestamp"])["timestamp"].max()
    quarter_ago = (last.normalize() - pd.Timedelta(weeks=13)).date().isoformat()
    for as_of in (quarter_ago, None):
        job = score_customers(
            str(model_dir), data=str(data), crm_url=crm_url, console=console, as_of=as_of
        )
        run = job.run
        assert run is not None  # not a dry run
        console.print(
            f"Scored into {job.crm}: {run.rows_read:,} customers read, {run.rows_written:,} "
            f"written, {run.rows_quarantined:,} quarantined (features as of {job.as_of})."
        )
        if as_of is not None:
            _monitor(crm_url, data, model_dir, result.tracking_uri)
    _alerts(crm_url, job)
    scores = CRMSink(crm_url).read_scores()
    summary = segment_summary(scores, by="segment")
    t = _table(
        "Value x churn-risk segments",
        ["segment", "customers", "share of value", "mean CLV", "mean churn risk"],
    )
    for seg, row in summary.iterrows():
        t.add_row(
            str(seg),
            f"{row['n_customers']:,.0f}",
            f"{row['share_of_value']:.1%}",
            f"${row['mean_clv']:.2f}",
            f"{row['mean_churn_probability']:.1%}",
        )
    console.print(t)

    from clvml.pipelines.report import load_report_inputs
    from clvml.reporting import build_report, write_report

    out.mkdir(parents=True, exist_ok=True)
    inputs = load_report_inputs(crm_url=crm_url, data=str(data), model=str(model_dir))
    for lang in ("en", "es"):
        path = write_report(build_report(inputs, lang=lang), out / f"report_{lang}.html")
        console.print(f"Marketer report ({lang}) written to {path}")
    console.print(_mlflow_lines(result.tracking_uri), highlight=False, soft_wrap=True)


def _alerts(crm_url: str, job: object) -> None:
    """The alerts today's run raised against the earlier one (``clvml alerts`` lists them)."""
    import sqlalchemy as sa

    from clvml.scoring.alert_store import define_alert_tables, read_alerts

    outcome = getattr(job, "alerts", None)
    if outcome is None:
        return
    rules = ", ".join(f"{n:,} {r.replace('_', ' ')}" for r, n in sorted(outcome.by_rule.items()))
    console.print(
        f"Alerts raised by today's run: {outcome.raised:,}" + (f" ({rules})" if rules else ""),
        highlight=False,
    )
    engine = sa.create_engine(crm_url)
    try:
        with engine.connect() as conn:
            alerts = read_alerts(conn, *define_alert_tables(sa.MetaData()))
    finally:
        engine.dispose()
    if alerts.empty:
        return
    t = _table("Open alerts (first 5; clvml alerts lists them all)", ["customer", "rule", "team"])
    for r in alerts.head(5).itertuples(index=False):
        t.add_row(str(r.customer_id), str(r.rule).replace("_", " "), str(r.team))
    console.print(t)


def _monitor(crm_url: str, data: Path, model_dir: Path, tracking_uri: str) -> None:
    """``clvml monitor`` on the two runs: the earlier one judged on the quarter since."""
    from clvml.pipelines.monitor import monitor_model

    res = monitor_model(crm_url, data, model_uri=str(model_dir), tracking_uri=tracking_uri)
    acc = res.accuracy
    if acc.empty:
        console.print("Monitoring: no scoring run is old enough to judge yet.")
        return
    first = acc.iloc[0]
    t = _table(
        f"Monitoring: the scores of {first['scored_as_of']} against the "
        f"{first['elapsed_weeks']:.0f} weeks since (predictions pro-rated)",
        ["customers", "n", "predicted", "actual", "bias", "Gini"],
    )
    for r in acc.itertuples(index=False):
        t.add_row(
            "all" if r.scope == "overall" else str(r.scope).removeprefix("tier:"),
            f"{int(r.n_customers):,}",
            f"${r.predicted_total:,.0f}",
            f"${r.realised_total:,.0f}",
            f"{r.total_bias:+.1%}",
            f"{r.normalized_gini:.3f}",
        )
    console.print(t)
    if not res.drift.empty:
        top = res.drift.sort_values("psi", ascending=False).head(3)
        moved = ", ".join(f"{f} {p:.2f}" for f, p in zip(top["feature"], top["psi"], strict=True))
        console.print(f"Input drift since the training cut-off, largest PSI: {moved}")
    verdict = (
        f"[bold red]DEGRADED[/]: {'; '.join(res.reasons)} -- retrain (clvml train)"
        if res.degraded
        else "[green]healthy[/]: within the monitoring thresholds"
    )
    console.print(
        f"Champion {verdict} (model_monitoring table, MLflow experiment clvml-monitoring)"
    )


def _mlflow_lines(tracking_uri: str) -> str:
    """Where the demo's MLflow runs are, and the command that opens them in a browser."""
    from clvml.tracking.store import redact_uri

    shown = redact_uri(tracking_uri)
    return (
        f"MLflow store: {shown} (runs, metrics, the registered model clvml@champion)\n"
        f"Open its UI:  mlflow ui --backend-store-uri {shown}  (then http://127.0.0.1:5000)"
    )


def _impact(data: Path) -> None:
    """Print the headline of the social-care impact report (randomised control group)."""
    import pandas as pd

    from clvml.data.dates import as_day
    from clvml.data.io import load_folder
    from clvml.evaluation.social_impact import social_impact_report

    frames = load_folder(data)
    end = json.loads((data / "metadata.json").read_text())["calibration_end"]
    report = social_impact_report(
        frames["transactions"],
        frames["engagement"],
        frames["customers"],
        cutoff=as_day(end, name="calibration_end", exclusive=True),
        horizon_weeks=52,
    )
    tab = report.table.set_index(["metric", "group", "statistic"])
    rows = [
        (
            "Retention, customers who engaged with care",
            ("retention_by_group", "engaged", "retention"),
        ),
        ("Retention, customers who did not", ("retention_by_group", "not_engaged", "retention")),
        ("Retention, control group", ("retention_by_group", "control", "retention")),
        (
            "Causal effect on retention (treated - control)",
            ("causal_itt", "treated_minus_control", "retention_diff"),
        ),
        (
            "Causal effect on holdout revenue per customer",
            ("causal_itt", "treated_minus_control", "revenue_diff"),
        ),
        (
            "Naive engaged - not engaged (selection-biased)",
            ("causal_itt", "naive_engaged_minus_not", "retention_diff"),
        ),
        (
            "Saving vs handling the same contacts by phone",
            ("cost_savings", "all", "saving_vs_phone"),
        ),
    ]
    t = _table("Social-care impact (randomised control group)", ["metric", "estimate", "95% CI"])
    for label, key in rows:
        if key not in tab.index:
            continue
        r = tab.loc[key]
        ci = "" if pd.isna(r["ci_low"]) else f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        t.add_row(label, f"{r['estimate']:.3f}", ci)
    console.print(t)


def _save_plots(bg, gg, feats, ds, out: Path, transactions) -> list[Path]:
    """Write the BTYD diagnostic plots of the CDNOW fit to ``out``."""
    import matplotlib
    import pandas as pd

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from clvml.models.btyd import plotting

    cal_holdout = pd.DataFrame(
        {
            "frequency_cal": feats["frequency"],
            "recency_cal": feats["recency"],
            "T_cal": feats["T"],
            "frequency_holdout": ds.targets["purchases"],
            "duration_holdout": ds.horizon_weeks,
        }
    )
    # tracking plots step in days (freq "D") while the model's unit is the week (multiplier 7)
    start = transactions["timestamp"].min()
    days = (ds.holdout_end - start).days + 1
    t_cal = (ds.cutoff - start).days + 1
    tracking = {"freq": "D", "freq_multiplier": 7}
    max_f, max_r = int(feats["frequency"].quantile(0.99)), float(feats["T"].max())
    figures = {
        "frequency_recency_matrix.png": lambda ax: plotting.plot_frequency_recency_matrix(
            bg, max_f, max_r, t=1.0, ax=ax
        ),
        "probability_alive_matrix.png": lambda ax: plotting.plot_probability_alive_matrix(
            bg, max_f, max_r, ax=ax
        ),
        "calibration_vs_holdout.png": lambda ax: (
            plotting.plot_calibration_purchases_vs_holdout_purchases(bg, cal_holdout, ax=ax)
        ),
        "period_transactions.png": lambda ax: plotting.plot_period_transactions(bg, feats, ax=ax),
        "cumulative_transactions.png": lambda ax: plotting.plot_cumulative_transactions(
            bg, transactions, days, t_cal, ax=ax, **tracking
        ),
        "incremental_transactions.png": lambda ax: plotting.plot_incremental_transactions(
            bg, transactions, days, t_cal, ax=ax, **tracking
        ),
        "spend_fit.png": lambda ax: plotting.plot_spend_fit(gg, feats, ax=ax),
    }
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    for name, draw in figures.items():
        fig, ax = plt.subplots(figsize=(7, 5))
        draw(ax)
        fig.tight_layout()
        path = out / name
        fig.savefig(path, dpi=100)
        plt.close(fig)
        saved.append(path)
    return saved
