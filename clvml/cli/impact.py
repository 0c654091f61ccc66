"""``clvml impact``: the social-care impact report of a data folder."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from clvml.cli._app import app, console
from clvml.cli._options import (
    Columns,
    DataFlags,
    Duplicates,
    Invalid,
    Returns,
    TimestampFormat,
    Tz,
    iso,
)
from clvml.exceptions import DataValidationError


def _parse_costs(items: list[str] | None) -> dict[str, float]:
    """``["phone=6", "social=1.0"]`` -> ``{"phone": 6.0, "social": 1.0}``."""
    costs: dict[str, float] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise DataValidationError(
                f"--cost-per-contact expects channel=value (e.g. phone=6.0), got {item!r}"
            )
        try:
            costs[key.strip().lower()] = float(value)
        except ValueError as exc:
            raise DataValidationError(
                f"--cost-per-contact {item!r}: {value!r} is not a number"
            ) from exc
    return costs


def _defaults(folder: Path) -> tuple[str | None, float | None]:
    """Cut-off day and horizon from a generated folder's metadata.json, if any."""
    from clvml.data.dates import as_day

    meta = folder / "metadata.json"
    if not meta.is_file():
        return None, None
    info = json.loads(meta.read_text())
    cutoff = None
    if "calibration_end" in info:
        # the generator's calibration_end is an exclusive midnight: its last day is the day before
        end = info["calibration_end"]
        cutoff = str(as_day(end, name=f"calibration_end in {meta}", exclusive=True).date())
    weeks = info.get("horizon_weeks")
    return cutoff, (float(weeks) if weeks is not None else None)


_COUNTS = ("contacts_handled", "deflected_views", "saves", "advocacy_posts", "advocacy_reach")


def _fmt(v: float, statistic: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if statistic in ("retention", "retention_diff", "turned_praise", "turned_praise_diff") or (
        statistic.startswith("share_") or statistic == "deflection_rate"
    ):
        return f"{v:+.1%}" if statistic.endswith("_diff") else f"{v:.1%}"
    if statistic in _COUNTS:
        return f"{v:,.0f}"
    return f"{v:,.2f}"


@app.command()
def impact(
    data: Annotated[
        str,
        typer.Option(
            "--data",
            help="Folder with transactions, engagement and customers (CSV/Parquet), or a "
            "SQLAlchemy URL of a database holding those tables.",
        ),
    ] = "data/social",
    calibration_end: Annotated[
        str | None,
        typer.Option(
            "--calibration-end",
            callback=iso("--calibration-end"),
            help="Last day before the holdout [default: from the folder's metadata.json].",
        ),
    ] = None,
    horizon_weeks: Annotated[
        float | None,
        typer.Option(
            "--horizon-weeks", help="Holdout length in weeks [default: from metadata.json]."
        ),
    ] = None,
    cost_per_contact: Annotated[
        list[str] | None,
        typer.Option(
            "--cost-per-contact",
            help="Cost of one handled contact, channel=value (repeat; 'social' prices every "
            "social channel) [default: phone=6 email=2.5 social=1].",
        ),
    ] = None,
    deflection_days: Annotated[
        float, typer.Option(help="Days without a contact after a self-help view to deflect it.")
    ] = 7.0,
    praise_days: Annotated[
        float, typer.Option(help="Days after a complaint in which praise counts.")
    ] = 30.0,
    descriptive_only: Annotated[
        bool,
        typer.Option(
            "--descriptive-only", help="Allow data without a control group (no causal estimate)."
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the report to FILE.json [default: print only]."),
    ] = None,
    columns: Columns = None,
    timestamp_format: TimestampFormat = None,
    tz: Tz = None,
    returns: Returns = None,
    duplicates: Duplicates = None,
    invalid: Invalid = None,
) -> None:
    """Measure what social care does for retention, cost, advocacy and revenue.

    Compares customers the care team answered with those it did not and with the
    randomised control group; the causal estimate is treated minus control among
    customers who contacted the care team before the cut-off (intention to treat).
    """
    from clvml.data.io import is_database_url, load_tables
    from clvml.data.validation import validate_customers, validate_engagement, validate_transactions
    from clvml.evaluation.social_impact import social_impact_report

    if out is not None and out.suffix.lower() != ".json":
        raise DataValidationError(f"--out must end in .json, got {out.name}")
    costs = _parse_costs(cost_per_contact)
    is_dir = not is_database_url(data) and Path(data).is_dir()
    meta_cutoff, meta_weeks = _defaults(Path(data)) if is_dir else (None, None)
    cutoff = calibration_end or meta_cutoff
    weeks = horizon_weeks if horizon_weeks is not None else meta_weeks
    if cutoff is None or weeks is None:
        raise DataValidationError(
            "give --calibration-end and --horizon-weeks (the folder has no metadata.json "
            "to take them from)"
        )
    flags = DataFlags(columns, timestamp_format, tz, returns, duplicates, invalid)
    policy = flags.policy()
    if not is_database_url(data) and not Path(data).exists():
        raise FileNotFoundError(f"{data}: no such data folder (--data)")
    found = load_tables(data, columns=flags.mapping())
    for name in ("engagement", "customers"):
        if name not in found:
            raise DataValidationError(
                f"{data} has no {name} table; the impact report needs transactions, "
                "engagement and customers"
            )
    tx = validate_transactions(found["transactions"], policy)
    eng = validate_engagement(found["engagement"], policy)
    cust = validate_customers(found["customers"], policy)
    rep = social_impact_report(
        tx,
        eng,
        cust,
        cutoff=cutoff,
        horizon_weeks=weeks,
        cost_per_contact=costs,
        deflection_days=deflection_days,
        praise_days=praise_days,
        require_control=not descriptive_only,
    )

    par = rep.parameters
    level = f"{par['confidence']:.0%}"
    table = Table(
        title=(
            f"Social-care impact: holdout {par['holdout_start']} to {par['holdout_end']}, "
            f"{par['n_customers']:,} customers, {par['n_eligible']:,} contacted care "
            f"({par['n_control']:,} in control)"
        ),
        title_justify="left",
        header_style="bold",
    )
    table.add_column("group")
    table.add_column("statistic")
    table.add_column("estimate", justify="right", no_wrap=True)
    table.add_column(f"{level} interval", justify="right", no_wrap=True)
    table.add_column("n", justify="right", no_wrap=True)
    last = None
    for row in rep.table.itertuples(index=False):
        if row.metric != last:
            if last is not None:
                table.add_section()
            table.add_row(f"[bold]{escape(row.metric.replace('_', ' '))}[/bold]")
            last = row.metric
        interval = ""
        if not math.isnan(row.ci_low):
            interval = f"{_fmt(row.ci_low, row.statistic)}, {_fmt(row.ci_high, row.statistic)}"
        table.add_row(
            escape(row.group.replace("_", " ")),
            escape(row.statistic.replace("_", " ")),
            _fmt(row.estimate, row.statistic),
            interval,
            f"{row.n:,}",
            style="bold" if row.group == "treated_minus_control" else None,
        )
    console.print(table)
    for note in rep.notes:
        console.print(escape(f"note: {note}"), highlight=False)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rep.to_dict(), indent=2) + "\n")
        console.print(escape(f"report written to {out}"), highlight=False)
