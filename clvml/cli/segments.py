"""``clvml segments``: the marketer segment table from scored customers, and CSV lists.

The ``value_tier`` and ``segment`` stored with the scores (what ``clvml score`` wrote
to the CRM) are the record and are shown as they are. Scores without them are placed
with the segment scheme of ``--model``, or else ranked among themselves (said on the
screen); ``--tier-cuts``, ``--value-cuts`` and ``--risk-thresholds`` ask explicitly
for such a ranking with other cuts (a what-if, not the record).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from clvml.cli._app import app, console
from clvml.cli._options import TrustModel
from clvml.exceptions import DataValidationError

if TYPE_CHECKING:  # pandas is imported when the command runs, not by `clvml --help`
    import pandas as pd


def _shares(text: str, option: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise DataValidationError(
            f"{option} must be comma-separated numbers, e.g. 0.01,0.10,0.50", example=text
        ) from None


def _tier_labels(cuts: tuple[float, ...]) -> tuple[str, ...]:
    from clvml.segments import DEFAULT_TIER_CUTS, DEFAULT_TIER_LABELS

    if cuts == DEFAULT_TIER_CUTS:
        return DEFAULT_TIER_LABELS
    return (*(f"top {100 * c:g}%" for c in cuts), "rest")


_HOW = {
    "record": "tiers and segments as stored with the scores (the record)",
    "scheme": "the scores hold no value_tier/segment: placed with the segment scheme of {model}",
    "ranked": "tiers and segments ranked among these customers (a what-if, not the stored record)",
}


def _model_scheme(model: str, tracking_uri: str | None, trust_model: bool = False):
    from clvml.tracking.pyfunc import scheme_of
    from clvml.tracking.scoring_model import ModelLoadError, load_scoring_model

    loaded = load_scoring_model(model, tracking_uri=tracking_uri, trust_model=trust_model)
    scheme = scheme_of(loaded.pyfunc)
    if scheme is None:
        raise ModelLoadError(
            f"{model} was logged without a segment scheme: score the customers with it "
            "(clvml score) and read the CRM, or leave out --model to rank them"
        )
    return scheme


def _load(scores: Path | None, crm_url: str | None, table: str) -> pd.DataFrame:
    from clvml.data.io import read_table

    if scores is not None and crm_url is not None:
        raise DataValidationError("give exactly one of --scores FILE or --crm-url URL")
    if scores is None and crm_url is None:  # the CRM clvml score writes by default
        from clvml.pipelines.score import default_crm_url

        crm_url = default_crm_url()
        if not Path(crm_url.removeprefix("sqlite:///")).is_file():
            raise FileNotFoundError(
                f"{crm_url.removeprefix('sqlite:///')}: no CRM database here (the default of "
                "clvml score); run clvml score first, or give exactly one of --scores FILE or "
                "--crm-url URL"
            )
    if crm_url is not None:
        return read_table(crm_url, table=table)
    return read_table(scores)  # type: ignore[arg-type]


def _money(x: float, currency: str | None) -> str:
    from clvml.reporting.i18n import fmt_money

    return fmt_money(float(x), "en", currency)


def _render(
    summary: pd.DataFrame, by: str, actions: pd.Series | None, currency: str | None = None
) -> None:
    out = Table(
        title=f"Segments by {by}",
        header_style="bold",
        title_justify="left",
        caption="active: mean probability of at least one purchase in the horizon "
        "(100% - churn risk)",
        caption_justify="left",
    )
    out.add_column(by)
    for name in ("customers", "% customers", "% value", "mean CLV", "churn risk", "active"):
        out.add_column(name, justify="right")
    if actions is not None:
        out.add_column("recommended action")
    for label, row in summary.iterrows():
        cells = [
            escape(str(label)),
            f"{int(row['n_customers']):,}",
            f"{100 * row['share_of_customers']:.1f}",
            f"{100 * row['share_of_value']:.1f}",
            _money(row["mean_clv"], currency),
            f"{100 * row['mean_churn_probability']:.1f}%",
            f"{100 * row['mean_p_active']:.1f}%",
        ]
        if actions is not None:
            cells.append(escape(str(actions.get(label, ""))))
        out.add_row(*cells)
    console.print(out)


def _render_channels(table: pd.DataFrame, currency: str | None = None) -> None:
    out = Table(title="LTV:CAC by acquisition channel", header_style="bold", title_justify="left")
    for name in ("channel", "customers", "mean LTV", "mean CAC", "LTV:CAC", "3:1 rule"):
        out.add_column(name, justify="left" if name in ("channel", "3:1 rule") else "right")
    for channel, row in table.iterrows():
        out.add_row(
            escape(str(channel)),
            f"{int(row['n_customers']):,}",
            _money(row["ltv_mean"], currency),
            _money(row["cac_mean"], currency),
            f"{row['ltv_cac']:.2f}",
            escape(str(row["verdict"])),
        )
    console.print(out)


@app.command()
def segments(
    scores: Annotated[
        Path | None,
        typer.Option(
            "--scores",
            help="Scored customers as CSV or Parquet (customer_id, clv, "
            "churn_probability or p_active; optionally frequency, recency, T, "
            "monetary_value) [default: read the CRM].",
            dir_okay=False,
        ),
    ] = None,
    crm_url: Annotated[
        str | None,
        typer.Option(
            "--crm-url",
            help="SQLAlchemy URL of the CRM database holding the scores "
            "[default: sqlite:///crm.db in the working directory, as clvml score].",
        ),
    ] = None,
    table: Annotated[
        str, typer.Option(help="Table of scores in the CRM database.")
    ] = "customer_scores",
    by: Annotated[
        str,
        typer.Option(
            help="Segment column: value_tier, cell, rfm_segment, value_level, "
            "risk_level, or any column of the scores."
        ),
    ] = "value_tier",
    customers: Annotated[
        Path | None,
        typer.Option(
            help="Customers table (CSV/Parquet) adding acquisition_channel and "
            "acquisition_cost: prints LTV:CAC by channel [default: none].",
            dir_okay=False,
        ),
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option(
            help="Folder to write one CSV of customers per segment into [default: no export].",
            file_okay=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Model URI or folder whose stored segment scheme places scores that have no "
            "value_tier/segment columns [default: none]."
        ),
    ] = None,
    tracking_uri: Annotated[
        str | None,
        typer.Option(help="MLflow tracking URI [default: MLFLOW_TRACKING_URI, else ./mlruns.db]."),
    ] = None,
    tier_cuts: Annotated[
        str | None,
        typer.Option(
            help="What-if: rank the customers among themselves with these cumulative shares "
            "closing each value tier [default: 0.01,0.10,0.50]."
        ),
    ] = None,
    value_cuts: Annotated[
        str | None,
        typer.Option(
            help="What-if: shares of customers that are high and high+medium value "
            "[default: 0.20,0.50]."
        ),
    ] = None,
    risk_thresholds: Annotated[
        str | None,
        typer.Option(
            help="What-if: churn probabilities opening medium and high risk [default: 0.30,0.60]."
        ),
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option(
            help="ISO 4217 code amounts are shown in (USD, EUR, GBP...) "
            "[default: none, plain numbers].",
        ),
    ] = None,
    trust_model: TrustModel = False,
) -> None:
    """Print the segment table (counts, shares of customers and value, mean CLV and churn
    risk) of scored customers, and optionally export the customer lists as CSV."""
    from clvml.reporting.i18n import check_currency
    from clvml.segments import (
        SegmentScheme,
        export_segment_lists,
        has_record,
        ltv_cac_by_channel,
        resolve_segments,
        segment_summary,
        with_rfm,
    )

    currency = check_currency(currency)
    data = _load(scores, crm_url, table)
    refit = None
    if (tier_cuts, value_cuts, risk_thresholds) != (None, None, None):
        params: dict[str, Any] = {}
        if tier_cuts is not None:
            cuts = _shares(tier_cuts, "--tier-cuts")
            params.update(tier_cuts=cuts, tier_labels=_tier_labels(cuts))
        if value_cuts is not None:
            params["value_cuts"] = _shares(value_cuts, "--value-cuts")
        if risk_thresholds is not None:
            params["risk_thresholds"] = _shares(risk_thresholds, "--risk-thresholds")
        refit = SegmentScheme(**params)
    scheme = None
    if refit is None and model is not None and not has_record(data):
        scheme = _model_scheme(model, tracking_uri, trust_model)
    assigned, how = resolve_segments(data, scheme, refit=refit)
    assigned = with_rfm(assigned)
    summary = segment_summary(assigned, by=by)
    actions = None
    if by == "cell":
        actions = assigned.groupby("cell", observed=True)["action"].first()
    source = escape(str(scores)) if scores is not None else f"table {table}"
    console.print(f"{len(assigned):,} customers from {source}", highlight=False)
    console.print(_HOW[how].format(model=escape(str(model))), highlight=False)
    _render(summary, by, actions, currency)
    if customers is not None:
        from clvml.data.io import read_table

        extra = read_table(customers)
        needed = ["customer_id", "acquisition_channel", "acquisition_cost"]
        missing = [c for c in needed if c not in extra.columns]
        if missing:
            raise DataValidationError(
                f"{customers}: customers table lacks {missing}", column=missing[0]
            )
        extra = extra[needed].astype({"customer_id": str}).set_index("customer_id")
        joined = assigned.drop(columns=needed[1:], errors="ignore").join(extra, how="left")
        unknown = joined["acquisition_channel"].isna()
        if unknown.any():
            raise DataValidationError(
                "scored customers missing from the customers table",
                column="customer_id",
                n_rows=int(unknown.sum()),
                example=joined.index[unknown][0],
            )
        _render_channels(ltv_cac_by_channel(joined), currency)
    if export is not None:
        from clvml.segments import marketing_consented

        _, refused = marketing_consented(assigned)
        paths = export_segment_lists(assigned, export, by=by)
        console.print(
            f"wrote {len(paths)} customer lists to {escape(str(export))}", highlight=False
        )
        if refused:
            console.print(
                f"{refused:,} customer(s) left off the lists: no marketing consent",
                highlight=False,
            )
