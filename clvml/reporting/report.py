"""The marketer report: one self-contained, responsive HTML file in English or Spanish.

:func:`build_report` turns the :class:`ReportInputs` it is handed into HTML;
:func:`write_report` writes it atomically. This module opens no database and no
tracking store: :func:`clvml.pipelines.report.load_report_inputs` gathers the inputs
(the scores from the CRM or a file, the data, the model's holdout metrics).

The file embeds every chart as a base64 PNG and its CSS inline; it loads
nothing from the network, so it opens offline and can be mailed. A viewport
meta tag, fluid images, horizontally scrollable tables and a media query make
it readable at phone width. Sections whose inputs are missing are left out
with a note saying what to pass.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from clvml.data.files import share
from clvml.evaluation.metrics import HOLDOUT_METRICS
from clvml.exceptions import DataValidationError
from clvml.reporting import figures
from clvml.reporting.i18n import (
    cell_text,
    check_currency,
    fmt_money,
    fmt_number,
    fmt_pct,
    tier_name,
    translator,
)
from clvml.segments import SegmentScheme

__all__ = ["ReportInputs", "build_report", "write_report"]

#: The metrics a report shows: every holdout metric, by name from the evaluation layer.
_METRICS: tuple[str, ...] = tuple(HOLDOUT_METRICS)
_SHARE_METRICS = {"top_decile_capture", "top20_capture", "total_bias"}  # shown as percentages


@dataclass
class ReportInputs:
    """Everything a report shows.

    Attributes
    ----------
    scores : pandas.DataFrame
        One row per customer: ``customer_id``, ``clv``, ``churn_probability``
        (or ``p_active``, its complement), optionally ``p_alive_btyd`` (the raw BTYD
        P(alive), shown with its caveat) and the other score columns.
    customers, transactions, engagement : pandas.DataFrame or None
        Validated input tables, when a data folder was given.
    model_name, model_version, as_of : str or None
        Which model scored the customers, and the features' date.
    metrics : pandas.DataFrame or None
        Holdout metrics: one row per method (index) and one column per metric.
    scheme : SegmentScheme or None
        The segment scheme stored with the model, used only when the scores hold
        no ``value_tier``/``segment`` (the stored ones are the record).
    scheme_model : str or None
        Which model the scheme came from (shown in the report).
    notes : list of str
        Facts about the inputs (e.g. why metrics are missing).
    monitoring : pandas.DataFrame or None
        The rows of the latest ``clvml monitor`` job (``model_monitoring`` table) for the
        "how good were last quarter's predictions" section; None or empty: not shown.
    """

    scores: pd.DataFrame
    customers: pd.DataFrame | None = None
    transactions: pd.DataFrame | None = None
    engagement: pd.DataFrame | None = None
    model_name: str | None = None
    model_version: str | None = None
    as_of: str | None = None
    metrics: pd.DataFrame | None = None
    scheme: SegmentScheme | None = None
    scheme_model: str | None = None
    notes: list[str] = field(default_factory=list)
    monitoring: pd.DataFrame | None = None


# ------------------------------------------------------------------------------ HTML
_CSS = """
:root{--ink:#1d1d1f;--muted:#5f6368;--line:#e3e3e3;--accent:#08519c;--warn:#d94801}
*{box-sizing:border-box}
body{margin:0;font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;
color:var(--ink);background:#fafafa}
main{max-width:980px;margin:0 auto;padding:24px 28px 48px;background:#fff}
h1{font-size:1.9rem;margin:.2em 0}h2{font-size:1.35rem;margin:2em 0 .5em;
border-bottom:2px solid var(--line);padding-bottom:.2em}
p.caption{color:var(--muted);margin:.4em 0 1em}p.note{color:var(--warn)}
.sub{color:var(--muted);margin:0 0 1em}
img{max-width:100%;height:auto;display:block;margin:.5em auto}
.kpis{display:grid;grid-template-columns:repeat(3,1fr);gap:12px;margin:1em 0}
.kpi{border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.kpi .v{font-size:1.45rem;font-weight:650;color:var(--accent)}
.kpi .l{font-size:.86rem;color:var(--muted)}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;font-size:.92rem;margin:.5em 0}
th,td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
td.n,th.n{text-align:right;white-space:nowrap}
nav ol{columns:2;padding-left:1.2em}
details summary{cursor:pointer;color:var(--accent)}
footer{color:var(--muted);font-size:.85rem;margin-top:3em}
@media (max-width:640px){
 main{padding:14px 14px 32px}h1{font-size:1.45rem}h2{font-size:1.15rem}
 .kpis{grid-template-columns:1fr 1fr}.kpi .v{font-size:1.2rem}
 nav ol{columns:1}table{font-size:.85rem}
}
"""

_PAGE = """<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="clvml {version}">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<main>
<h1>{title}</h1>
<p class="sub">{subtitle}</p>
<nav><strong>{toc}</strong><ol>{nav}</ol></nav>
{sections}
<footer>{generated} {footer}</footer>
</main>
</body>
</html>
"""


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{_e(alt)}" loading="eager">'


def _table(header: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    th = "".join(
        f'<th class="n">{_e(h)}</th>' if i in numeric else f"<th>{_e(h)}</th>"
        for i, h in enumerate(header)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{_e(c)}</td>' if i in numeric else f"<td>{_e(c)}</td>"
            for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    table = f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{table}</div>'


class _Builder:
    def __init__(self, lang: str, currency: str | None = None) -> None:
        self.lang = lang
        self.currency = currency
        self.t: Callable[..., str] = translator(lang)
        self.sections: list[tuple[str, str, str]] = []  # (anchor, heading, body)

    def add(self, anchor: str, key: str, body: str) -> None:
        self.sections.append((anchor, self.t(key), body))

    def money(self, x: float) -> str:
        return fmt_money(x, self.lang, self.currency)

    def pct(self, x: float, digits: int = 1) -> str:
        return fmt_pct(x, self.lang, digits)

    def num(self, x: float, digits: int = 0) -> str:
        return fmt_number(x, self.lang, digits)


def _headline(b: _Builder, assigned: pd.DataFrame) -> None:
    t = b.t
    clv = assigned["clv"].to_numpy(dtype=float)
    total = float(clv.sum())
    k = max(1, math.ceil(0.10 * len(clv)))
    top10 = float(np.sort(clv)[::-1][:k].sum()) / total
    high = (assigned["risk_level"] == "high").to_numpy()
    var = float(clv[high].sum()) / total
    kpis = [
        (b.num(len(clv)), t("k_customers")),
        (b.money(total), t("k_total_clv")),
        (b.money(total / len(clv)), t("k_mean_clv")),
        (b.pct(top10), t("k_top10_share")),
        (b.num(int(high.sum())), t("k_at_risk")),
        (b.pct(var), t("k_value_at_risk")),
    ]
    cards = "".join(
        f'<div class="kpi"><div class="v">{_e(v)}</div><div class="l">{_e(lbl)}</div></div>'
        for v, lbl in kpis
    )
    caption = t("c_headline", top10=b.pct(top10), at_risk=b.num(int(high.sum())), var=b.pct(var))
    b.add(
        "headline",
        "h_headline",
        f'<div class="kpis">{cards}</div><p class="caption">{_e(caption)}</p>',
    )


def _distribution(b: _Builder, assigned: pd.DataFrame) -> None:
    clv = assigned["clv"].to_numpy(dtype=float)
    fig = figures.distribution_chart(clv, b.t)
    cap = b.t("c_distribution", median=b.money(float(np.median(clv))), mean=b.money(clv.mean()))
    b.add(
        "distribution",
        "h_distribution",
        _img(figures.to_data_uri(fig), b.t("h_distribution")) + f'<p class="caption">{_e(cap)}</p>',
    )


def _tiers(b: _Builder, assigned: pd.DataFrame, source: str) -> None:
    from clvml.segments import segment_summary

    summary = segment_summary(assigned, by="value_tier")
    fig = figures.tier_chart(summary, b.t, lambda s: tier_name(s, b.lang))
    best = assigned["value_tier"].cat.categories[0]
    top1 = float(summary["share_of_value"].get(best, 0.0))
    rows = [
        [
            tier_name(str(tier), b.lang),
            b.num(int(r["n_customers"])),
            b.pct(r["share_of_customers"]),
            b.pct(r["share_of_value"]),
            b.money(r["mean_clv"]),
            b.pct(r["mean_churn_probability"]),
        ]
        for tier, r in summary.iterrows()
    ]
    t = b.t
    header = [
        t("tier"),
        t("n_customers"),
        t("share_customers"),
        t("share_value"),
        t("mean_clv"),
        t("mean_risk"),
    ]
    body = (
        _img(figures.to_data_uri(fig), t("h_tiers"))
        + f'<p class="caption">{_e(t("c_tiers", top1=b.pct(top1)))}</p>'
        + _table(header, rows, {1, 2, 3, 4, 5})
        + f'<p class="caption">{_e(source)}</p>'
    )
    b.add("tiers", "h_tiers", body)


def _matrix(b: _Builder, assigned: pd.DataFrame) -> None:
    from clvml.segments import value_risk_table

    t = b.t
    counts = value_risk_table(assigned)
    values = value_risk_table(assigned, assigned["clv"])
    share = values / float(assigned["clv"].sum())
    fig = figures.matrix_chart(counts, share, t, b.num)
    cells = (
        assigned.groupby(["value_level", "risk_level"], observed=True)
        .agg(
            n=("clv", "size"),
            value=("clv", "sum"),
            name=("cell_name", "first"),
            action=("action", "first"),
        )
        .reset_index()
    )
    order = {"high": 0, "medium": 1, "low": 2}
    cells = cells.sort_values(
        ["value_level", "risk_level"],
        key=lambda s: s.map(order),
        ascending=[True, False],
    )
    total = float(assigned["clv"].sum())
    rows = []
    for _, r in cells.iterrows():
        name, action = cell_text(str(r["name"]), str(r["action"]), b.lang)
        rows.append(
            [
                name,
                t(f"level_{r['value_level']}"),
                t(f"level_{r['risk_level']}"),
                b.num(int(r["n"])),
                b.pct(float(r["value"]) / total),
                action,
            ]
        )
    header = [
        t("cell"),
        t("value_level"),
        t("risk_level"),
        t("n_customers"),
        t("share_value"),
        t("action"),
    ]
    body = (
        _img(figures.to_data_uri(fig), t("h_matrix"))
        + f'<p class="caption">{_e(t("c_matrix"))}</p>'
        + _table(header, rows, {3, 4})
    )
    b.add("matrix", "h_matrix", body)


def _channels(b: _Builder, assigned: pd.DataFrame, customers: pd.DataFrame | None) -> None:
    from clvml.segments import ltv_cac_by_channel

    t = b.t
    need = ["customer_id", "acquisition_channel", "acquisition_cost"]
    if customers is None or any(c not in customers.columns for c in need):
        b.add("channels", "h_channels", f'<p class="note">{_e(t("no_channels"))}</p>')
        return
    extra = customers[need].astype({"customer_id": str}).set_index("customer_id")
    joined = assigned.drop(columns=need[1:], errors="ignore").join(extra, how="inner")
    table = ltv_cac_by_channel(joined)
    fig = figures.channel_chart(table, t)
    rows = [
        [
            str(ch),
            b.num(int(r["n_customers"])),
            b.money(r["ltv_mean"]),
            b.money(r["cac_mean"]),
            b.num(float(r["ltv_cac"]), 2),
            t("healthy") if r["healthy"] else t("below"),
        ]
        for ch, r in table.iterrows()
    ]
    header = [
        t("channel"),
        t("n_customers"),
        t("ltv_mean"),
        t("cac_mean"),
        t("ltv_cac"),
        t("verdict"),
    ]
    cap = t("c_channels", n_below=int((~table["healthy"]).sum()), n_channels=len(table))
    body = (
        _img(figures.to_data_uri(fig), t("h_channels"))
        + f'<p class="caption">{_e(cap)}</p>'
        + _table(header, rows, {1, 2, 3, 4})
    )
    b.add("channels", "h_channels", body)


def _impact(b: _Builder, inputs: ReportInputs, horizon_weeks: float, cutoff: object | None) -> None:
    t = b.t
    if inputs.transactions is None or inputs.engagement is None or inputs.customers is None:
        b.add(
            "impact",
            "h_impact",
            f'<p class="note">{_e(t("impact_missing", reason=t("impact_no_data")))}</p>',
        )
        return
    try:
        from clvml.evaluation.social_impact import social_impact_report
    except ImportError:
        b.add(
            "impact",
            "h_impact",
            f'<p class="note">{_e(t("impact_missing", reason=t("impact_unavailable")))}</p>',
        )
        return
    tx = inputs.transactions
    if cutoff is None:
        cutoff = tx["timestamp"].max().normalize() - pd.Timedelta(days=round(7 * horizon_weeks))
    try:
        rep = social_impact_report(
            tx, inputs.engagement, inputs.customers, cutoff=cutoff, horizon_weeks=horizon_weeks
        )
    except DataValidationError as exc:
        reason = t("impact_failed", error=str(exc))
        b.add("impact", "h_impact", f'<p class="note">{_e(t("impact_missing", reason=reason))}</p>')
        return
    table = rep.table
    groups = table[(table["metric"] == "retention_by_group") & (table["statistic"] == "retention")]
    fig = figures.retention_chart(groups, t)

    def fig_of(metric: str, group: str, stat: str) -> pd.Series | None:
        try:
            return rep.get(metric, group, stat)
        except KeyError:
            return None

    itt = fig_of("causal_itt", "treated_minus_control", "retention_diff")
    headline = [
        ("m_itt", itt, "points"),
        (
            "m_naive",
            fig_of("causal_itt", "naive_engaged_minus_not", "retention_diff"),
            "points",
        ),
        ("m_saving", fig_of("cost_savings", "all", "saving_vs_phone"), "money"),
        ("m_deflection", fig_of("self_help", "all", "deflection_rate"), "share"),
        ("m_saves", fig_of("saves", "treated_at_risk", "incremental_saves"), "count"),
        (
            "m_praise",
            fig_of("praise_advocacy", "treated_minus_control", "turned_praise_diff"),
            "points",
        ),
        ("m_cross_sell", fig_of("cross_sell", "treated_eligible", "incremental_revenue"), "money"),
    ]

    def show(x: float | None, kind: str) -> str:
        if x is None or not math.isfinite(x):
            return "\u2013"
        if kind == "points":
            return b.num(100 * x, 1) + " pp"
        if kind == "share":
            return b.pct(x)
        if kind == "count":
            return b.num(x)
        return b.money(x)

    rows = []
    for key, row, kind in headline:
        if row is None:
            continue
        lo, hi = row["ci_low"], row["ci_high"]
        interval = (
            ""
            if not (math.isfinite(lo) and math.isfinite(hi))
            else f"{show(lo, kind)} \u2013 {show(hi, kind)}"
        )
        rows.append([t(key), show(row["estimate"], kind), interval])
    full = table.drop(columns=["method"], errors="ignore")
    full_rows = [
        [
            str(r["metric"]),
            str(r["group"]),
            str(r["statistic"]),
            b.num(r["estimate"], 3),
            b.num(r["ci_low"], 3),
            b.num(r["ci_high"], 3),
            b.num(r["n"]),
        ]
        for _, r in full.iterrows()
    ]
    cap = t(
        "c_impact",
        cutoff=str(pd.Timestamp(cutoff).date()),
        weeks=b.num(horizon_weeks),
        itt=show(None if itt is None else itt["estimate"], "points"),
    )
    body = (
        _img(figures.to_data_uri(fig), t("h_impact"))
        + f'<p class="caption">{_e(cap)}</p>'
        + _table([t("measure"), t("estimate"), t("interval")], rows, {1, 2})
        + f"<details><summary>{_e(t('all_figures'))}</summary>"
        + _table(
            ["metric", "group", "statistic", "estimate", "ci_low", "ci_high", "n"],
            full_rows,
            {3, 4, 5, 6},
        )
        + "</details>"
        + "".join(f'<p class="caption">{_e(n)}</p>' for n in rep.notes)
    )
    b.add("impact", "h_impact", body)


def _top_risk(b: _Builder, assigned: pd.DataFrame, n: int) -> None:
    t = b.t
    sel = assigned[(assigned["value_level"] == "high") & (assigned["risk_level"] == "high")]
    if sel.empty:
        b.add("top-risk", "h_top_risk", f'<p class="caption">{_e(t("none_at_risk"))}</p>')
        return
    order = np.lexsort((sel.index.astype(str), -sel["clv"].to_numpy()))
    top = sel.iloc[order[:n]]
    active = 1.0 - top["churn_probability"].to_numpy(dtype=float)
    has_raw = "p_alive_btyd" in top.columns and top["p_alive_btyd"].notna().any()
    header = (
        [t("customer"), t("clv"), t("churn_probability"), t("p_active")]
        + ([t("p_alive_btyd")] if has_raw else [])
        + [t("tier")]
    )
    rows = []
    for k, (cid, r) in enumerate(top.iterrows()):
        row = [str(cid), b.money(r["clv"]), b.pct(r["churn_probability"]), b.pct(active[k])]
        if has_raw:
            row.append(b.pct(r["p_alive_btyd"]))
        rows.append([*row, tier_name(str(r["value_tier"]), b.lang)])
    numeric = {1, 2, 3, 4} if has_raw else {1, 2, 3}
    body = (
        f'<p class="caption">{_e(t("c_top_risk", n=len(top)))}</p>'
        + _table(header, rows, numeric)
        + f'<p class="caption">{_e(t("c_alive_caveat"))}</p>'
    )
    b.add("top-risk", "h_top_risk", body)


def _performance(b: _Builder, metrics: pd.DataFrame | None) -> None:
    t = b.t
    if metrics is None or metrics.empty:
        b.add("performance", "h_performance", f'<p class="note">{_e(t("performance_missing"))}</p>')
        return
    cols = [c for c in _METRICS if c in metrics.columns]

    def show(c: str, v: float) -> str:
        if v is None or not math.isfinite(v):
            return "\u2013"
        return b.pct(v) if c in _SHARE_METRICS else b.num(v, 3 if c != "mae" else 2)

    if len(metrics) == 1:
        r = metrics.iloc[0]
        rows = [[t(f"mt_{c}"), show(c, float(r[c]))] for c in cols]
        table = _table([t("metric"), t("value")], rows, {1})
    else:
        rows = [[str(m), *(show(c, float(r[c])) for c in cols)] for m, r in metrics.iterrows()]
        table = _table(
            [t("method"), *(t(f"mt_{c}") for c in cols)], rows, set(range(1, len(cols) + 1))
        )
    b.add(
        "performance", "h_performance", f'<p class="caption">{_e(t("c_performance"))}</p>' + table
    )


#: The run judged in the "last quarter" section: the one scored closest to this many weeks
#: before the data's end (among the runs ``clvml monitor`` judged).
QUARTER_WEEKS = 13.0


def _past_predictions(b: _Builder, rows: pd.DataFrame | None) -> None:
    """How the scores of about a quarter ago did, from the latest monitoring job's rows."""
    if rows is None or rows.empty:
        return
    acc = rows[rows["kind"] == "accuracy"]
    if acc.empty:
        return
    t = b.t
    runs = acc[["score_run_id", "elapsed_weeks"]].drop_duplicates("score_run_id")
    pick = runs.iloc[int((runs["elapsed_weeks"] - QUARTER_WEEKS).abs().to_numpy().argmin())]
    mine = acc[acc["score_run_id"] == pick["score_run_id"]]
    wide = mine.pivot_table(index="scope", columns="metric", values="value", aggfunc="first")
    first = mine.iloc[0]
    tiers = wide.drop(index="overall", errors="ignore")
    per_customer = tiers.get("predicted_total", 0.0) / tiers.get("n_customers", 1.0)
    order = ["overall", *per_customer.sort_values(ascending=False).index]
    table_rows = []
    for scope in order:
        r = wide.loc[scope]
        label = t("past_all") if scope == "overall" else tier_name(scope.split(":", 1)[1], b.lang)
        table_rows.append(
            [
                label,
                b.num(float(r.get("n_customers", float("nan")))),
                b.money(float(r.get("predicted_total", float("nan")))),
                b.money(float(r.get("realised_total", float("nan")))),
                b.pct(float(r.get("total_bias", float("nan")))),
                b.num(float(r.get("normalized_gini", float("nan"))), 3),
            ]
        )
    header = [
        t("past_scope"),
        t("past_n"),
        t("past_predicted"),
        t("past_actual"),
        t("past_bias"),
        t("past_gini"),
    ]
    caption = t(
        "c_past",
        as_of=str(first["scored_as_of"])[:10],
        weeks=b.num(float(first["elapsed_weeks"]), 1),
        through=str(first["data_through"])[:10],
        horizon=b.num(float(first["horizon_weeks"])),
    )
    status = rows[(rows["kind"] == "status") & (rows["metric"] == "degraded")]
    verdict = ""
    if len(status):
        s0 = status.iloc[0]
        verdict = (
            f'<p class="note">{_e(t("past_degraded", reasons=s0["note"]))}</p>'
            if float(s0["value"]) > 0
            else f'<p class="caption">{_e(t("past_healthy"))}</p>'
        )
    body = (
        f'<p class="caption">{_e(caption)}</p>'
        + _table(header, table_rows, {1, 2, 3, 4, 5})
        + verdict
    )
    b.add("past", "h_past", body)


def build_report(
    inputs: ReportInputs,
    *,
    lang: str = "en",
    top_n: int = 20,
    impact_horizon_weeks: float = 52.0,
    impact_cutoff: object | None = None,
    now: dt.datetime | None = None,
    currency: str | None = None,
) -> str:
    """The report as one self-contained HTML document.

    Parameters
    ----------
    inputs : ReportInputs
        See :func:`clvml.pipelines.report.load_report_inputs`.
    lang : {"en", "es"}, default "en"
    top_n : int, default 20
        Customers listed among the high-value customers at risk.
    impact_horizon_weeks : float, default 52
        Holdout length of the social-care measures.
    impact_cutoff : date-like, optional
        Cut-off of the social-care measures (default: the last transaction
        day minus the horizon, so the holdout is the most recent period).
    now : datetime, optional
        Time stamp printed in the footer (default: now, UTC).
    currency : str, optional
        ISO 4217 code (``USD``, ``EUR``...) every amount is shown in, with the language's
        conventions (``$1,234`` / ``1.234 €``); default: numbers without a currency.

    Returns
    -------
    str
        HTML (UTF-8 text).
    """
    from clvml._version import __version__
    from clvml.segments import resolve_segments

    b = _Builder(lang, check_currency(currency))
    t = b.t
    # the stored value_tier/segment are the record; else the model's scheme; else ranks
    assigned, how = resolve_segments(inputs.scores, inputs.scheme)
    source = t(f"seg_{how}", **({"model": inputs.scheme_model or ""} if how == "scheme" else {}))
    _headline(b, assigned)
    _distribution(b, assigned)
    _tiers(b, assigned, source)
    _matrix(b, assigned)
    _channels(b, assigned, inputs.customers)
    _impact(b, inputs, impact_horizon_weeks, impact_cutoff)
    _top_risk(b, assigned, top_n)
    _performance(b, inputs.metrics)
    _past_predictions(b, inputs.monitoring)

    model = (
        t("model_part", name=inputs.model_name, version=inputs.model_version)
        if inputs.model_name and inputs.model_version
        else ""
    )
    as_of = t("as_of_part", as_of=inputs.as_of) if inputs.as_of else ""
    when = (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(f'<li><a href="#{a}">{_e(h)}</a></li>' for a, h, _ in b.sections)
    sections = "\n".join(
        f'<section id="{a}"><h2>{_e(h)}</h2>{body}</section>' for a, h, body in b.sections
    )
    return _PAGE.format(
        lang=lang,
        version=_e(__version__),
        title=_e(t("title")),
        css=_CSS,
        subtitle=_e(t("subtitle", n=b.num(len(assigned)), model=model, as_of=as_of)),
        toc=_e(t("toc")),
        nav=nav,
        sections=sections,
        generated=_e(t("generated", when=when, version=__version__)),
        footer=_e(t("footer")),
    )


def write_report(html_text: str, out: str | os.PathLike[str]) -> Path:
    """Write the HTML to ``out`` atomically (temporary file, then rename)."""
    path = Path(out)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path.parent}: no such folder")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(html_text)
        share(tmp)  # the user's umask, not mkstemp's 0600: a report is shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
