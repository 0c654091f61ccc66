"""Option helpers shared by the commands: ISO dates and the data-source flags."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from clvml.data.policy import ValidationPolicy


def iso(name: str) -> Callable[[str | None], str | None]:
    """A typer callback refusing a date that is not ISO 8601 (one line, the expected form).

    Raised as a :class:`~clvml.exceptions.DataValidationError`, so the command group prints
    it as one line (a typer ``BadParameter`` would print a usage box).
    """

    def check(value: str | None) -> str | None:
        from clvml.data.dates import iso_date  # pandas: imported when a command runs

        return None if value is None else iso_date(value, name=name)

    return check


# ----------------------------------------------------------------------------- the CRM
#: ``--crm-url`` of the commands that read or change clvml's CRM tables.
CrmUrl = Annotated[
    str | None,
    typer.Option(
        "--crm-url",
        help="SQLAlchemy URL of the CRM database [default: sqlite:///crm.db in the "
        "working directory].",
    ),
]

#: ``--schema``: the PostgreSQL schema of clvml's CRM tables.
CrmSchema = Annotated[
    str | None,
    typer.Option(
        "--schema", help="PostgreSQL schema of the CRM tables [default: the search_path]."
    ),
]


# ----------------------------------------------------------------------------- model trust
#: ``--trust-model``: load a model whose files do not match their recorded digests.
TrustModel = Annotated[
    bool,
    typer.Option(
        "--trust-model",
        help="Load the model even if its files do not match the SHA-256 digests recorded by "
        "clvml export (a folder) or when it was logged (models:/, runs:/): its code runs, "
        "and it is named unverified.",
    ),
]


#: ``--currency``: how money is written for people.
Currency = Annotated[
    str | None,
    typer.Option(
        "--currency",
        help="ISO 4217 code amounts are shown in (USD, EUR, GBP...) "
        "[default: none, plain numbers].",
    ),
]


def money(x: float, currency: str | None) -> str:
    """An amount as the report writes it (``$1,234``, ``12.50 CHF``); ``1,234.00`` without one."""
    if currency is None:
        return f"{x:,.2f}"
    from clvml.reporting.i18n import fmt_money

    return fmt_money(float(x), "en", currency)


# ----------------------------------------------------------------------------- data source
#: ``--columns``: the user's column names for the contract's.
Columns = Annotated[
    str | None,
    typer.Option(
        "--columns",
        help="Your column names for the contract's, e.g. "
        "customer_id=cust,timestamp=order_date,amount=total (a <table>.<column> key maps one "
        "table only) [default: the contract names].",
    ),
]
TimestampFormat = Annotated[
    str | None,
    typer.Option(
        "--timestamp-format",
        help="strftime format of every timestamp column, e.g. '%d/%m/%Y' or '%d/%m/%Y %H:%M' "
        "[default: ISO 8601 only].",
    ),
]
Tz = Annotated[
    str | None,
    typer.Option(
        "--tz",
        help="Time zone of timestamps without a UTC offset, e.g. Europe/Madrid [default: UTC].",
    ),
]
Returns = Annotated[
    str | None,
    typer.Option(
        "--returns",
        help="Negative amounts: error, drop (set aside) or net (against same-day purchases) "
        "[default: error].",
    ),
]
Duplicates = Annotated[
    str | None,
    typer.Option(
        "--duplicates",
        help="Rows identical to an earlier row: error, drop (set aside) or keep [default: error].",
    ),
]
Invalid = Annotated[
    str | None,
    typer.Option(
        "--invalid",
        help="Rows breaking a row-level rule (bad id, date, amount): error, or drop (set aside) "
        "[default: error].",
    ),
]


@dataclass(frozen=True)
class DataFlags:
    """The data-source flags of a command, as given (None: not given)."""

    columns: str | None = None
    timestamp_format: str | None = None
    tz: str | None = None
    returns: str | None = None
    duplicates: str | None = None
    invalid: str | None = None

    def mapping(self) -> dict[str, str]:
        """The column mapping of ``--columns`` (checked)."""
        from clvml.data.mapping import parse_columns

        return parse_columns(self.columns)

    def policy(self, base: ValidationPolicy | None = None, **defaults: object) -> ValidationPolicy:
        """``base`` (or the defaults given) with every flag that was given on top."""
        from clvml.data.policy import resolve_policy

        given = {
            k: v
            for k, v in (
                ("returns", self.returns),
                ("duplicates", self.duplicates),
                ("invalid", self.invalid),
                ("tz", self.tz),
                ("timestamp_format", self.timestamp_format),
            )
            if v is not None
        }
        return resolve_policy(resolve_policy(base, **defaults), **given)
