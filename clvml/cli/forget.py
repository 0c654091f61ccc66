"""``clvml forget``: erase customers from every clvml table of the CRM, with an audit row."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from clvml.cli._app import app, console
from clvml.cli._options import CrmSchema, CrmUrl
from clvml.exceptions import DataValidationError

#: Environment variable holding the salt of the audit table's id hashes (never on the
#: command line, where it would land in the shell history).
SALT_ENV = "CLVML_ERASURE_SALT"


def _read_ids(path: str) -> list[str]:
    """One id per line (blank lines skipped; a first line ``customer_id`` is a header)."""
    lines = [ln.strip() for ln in Path(path).read_text(encoding="utf-8-sig").splitlines()]
    ids = [ln for ln in lines if ln]
    if ids and ids[0] == "customer_id":
        ids = ids[1:]
    if not ids:
        raise DataValidationError(
            f"{path}: no customer id in the file (expected one per line)",
            column="customer_id",
            n_rows=0,
        )
    return ids


@app.command()
def forget(
    crm_url: CrmUrl = None,
    customer_id: Annotated[
        list[str] | None,
        typer.Option(
            "--customer-id", help="A customer to erase (repeat for more) [default: none]."
        ),
    ] = None,
    ids_file: Annotated[
        str | None,
        typer.Option(
            "--ids-file", help="A file of customer ids to erase, one per line [default: none]."
        ),
    ] = None,
    schema: CrmSchema = None,
) -> None:
    """Erase customers from every clvml table (scores, history, alerts, quarantine).

    One transaction: every row of the customers is deleted and one audit row per customer
    is written to clvml_erasures with the SHA-256 of the id (salted with the
    CLVML_ERASURE_SALT environment variable when set) and the time -- never the id. Erase
    them from your source data too, or the next scoring run writes them back.
    """
    from clvml.pipelines.score import default_crm_url
    from clvml.scoring.erasure import erase_customers

    ids = list(customer_id or [])
    if ids_file is not None:
        ids += _read_ids(ids_file)
    if not ids:
        raise typer.BadParameter("give --customer-id or --ids-file", param_hint="--customer-id")
    result = erase_customers(
        crm_url or default_crm_url(),
        ids,
        schema=schema,
        salt=os.environ.get(SALT_ENV) or None,
    )
    tables = ", ".join(f"{t} {n:,}" for t, n in result.rows_deleted.items() if n) or "none"
    console.print(
        f"erased {result.customers:,} customer(s) ({result.found:,} had rows in clvml tables); "
        f"rows deleted: {tables}; recorded in clvml_erasures",
        highlight=False,
    )
