"""``clvml validate``: check a data folder (or database) against the data contracts."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from clvml.cli._app import app, console
from clvml.cli._options import iso

if TYPE_CHECKING:  # the report's module (pandas) is imported when the command runs
    from clvml.data.report import ValidationReport


class ReturnsPolicy(StrEnum):
    """What to do with negative amounts (returns and refunds)."""

    error = "error"
    drop = "drop"
    net = "net"


class DuplicatesPolicy(StrEnum):
    """What to do with rows identical to an earlier row."""

    error = "error"
    drop = "drop"
    keep = "keep"


class InvalidPolicy(StrEnum):
    """What to do with rows breaking a row-level rule."""

    error = "error"
    drop = "drop"


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
            help="Folder with transactions.csv|parquet (optionally engagement, customers), "
            "or a SQLAlchemy database URL with tables of those names.",
        ),
    ],
    now: Annotated[
        str | None,
        typer.Option(
            callback=iso("--now"),
            help="Timestamps after this instant are errors (default: now), e.g. 2024-01-31.",
        ),
    ] = None,
    returns: Annotated[
        ReturnsPolicy,
        typer.Option(
            help="Negative amounts: error, drop (set aside) or net against same-day buys."
        ),
    ] = ReturnsPolicy.error,
    duplicates: Annotated[
        DuplicatesPolicy,
        typer.Option(help="Exact duplicate rows: error, drop (set aside) or keep."),
    ] = DuplicatesPolicy.error,
    invalid: Annotated[
        InvalidPolicy,
        typer.Option(help="Rows breaking a row-level rule: error, or drop (set aside)."),
    ] = InvalidPolicy.error,
    tz: Annotated[str, typer.Option(help="Time zone of timestamps without a UTC offset.")] = "UTC",
) -> None:
    """Check a data folder against the data contracts and print what fails.

    Exits with code 2 when the data cannot be used as they are.
    """
    from clvml.data.folder import check_folder
    from clvml.data.policy import ValidationPolicy

    policy = ValidationPolicy(
        returns=returns.value,
        duplicates=duplicates.value,
        invalid=invalid.value,
        now=now,
        tz=tz,
    )
    check = check_folder(data, policy)
    console.print(
        f"[bold]clvml validate[/] {escape(check.source)}", highlight=False, soft_wrap=True
    )
    for report in check.reports.values():
        _render(report)
    check.raise_for_errors()
    console.print("[green]The data can be used.[/]")
