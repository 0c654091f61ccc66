"""``clvml validate``: check a data folder (or database) against the data contracts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

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

if TYPE_CHECKING:  # the report's module (pandas) is imported when the command runs
    from clvml.data.report import ValidationReport


_STYLE = {"error": "bold red", "set aside": "yellow", "adjusted": "cyan", "kept": "dim"}


def _example(value: object, width: int = 60) -> str:
    text = "" if value is None else repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _render(report: ValidationReport) -> None:
    status = "[green]ok[/]" if report.ok else "[bold red]cannot be used[/]"
    source = f" ({escape(report.source)})" if report.source else ""
    console.print(
        f"[bold]{report.table}[/]{source}: {report.rows_read:,} rows read, "
        f"{report.rows_kept:,} kept, {report.rows_set_aside:,} set aside; {status}",
        highlight=False,
        soft_wrap=True,
    )
    if not report.outcomes:
        return
    table = Table(box=None, header_style="bold", pad_edge=False, expand=True)
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("rule", no_wrap=True)
    table.add_column("column", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("why", ratio=3, overflow="fold")
    table.add_column("example", ratio=2, overflow="fold")
    for o in report.outcomes:
        table.add_row(
            f"{o.n_rows:,}",
            escape(o.rule),
            escape(o.column or ""),
            f"[{_STYLE[o.action]}]{o.action}[/]",
            escape(o.message),
            escape(_example(o.example)),
        )
    console.print(table)


@app.command()
def validate(
    data: Annotated[
        str,
        typer.Option(
            "--data",
            help="Folder with transactions.csv|parquet (optionally engagement, customers, "
            "subscriptions; or subscriptions without transactions), a transactions or "
            "subscriptions file, or a SQLAlchemy database URL with tables of those names.",
        ),
    ] = "data/social",
    now: Annotated[
        str | None,
        typer.Option(
            callback=iso("--now"),
            help="Timestamps after this instant are errors, e.g. 2024-01-31 [default: now].",
        ),
    ] = None,
    columns: Columns = None,
    timestamp_format: TimestampFormat = None,
    tz: Tz = None,
    returns: Returns = None,
    duplicates: Duplicates = None,
    invalid: Invalid = None,
    plans: Annotated[
        str | None,
        typer.Option(
            help="Subscriptions: the known plans, comma-separated (e.g. basic,premium); a "
            "spell with another plan is an error (set aside with --invalid drop) "
            "[default: any plan name].",
        ),
    ] = None,
) -> None:
    """Check a data folder against the data contracts and print what fails.

    Exits with code 2 when the data cannot be used as they are.
    """
    from clvml.data.folder import check_folder

    flags = DataFlags(columns, timestamp_format, tz, returns, duplicates, invalid)
    known = None if plans is None else [p.strip() for p in plans.split(",") if p.strip()]
    check = check_folder(data, flags.policy(now=now), columns=flags.mapping(), plans=known)
    console.print(
        f"[bold]clvml validate[/] {escape(check.source)}", highlight=False, soft_wrap=True
    )
    for report in check.reports.values():
        _render(report)
    check.raise_for_errors()
    console.print("[green]The data can be used.[/]")
