"""Check a whole data source (a folder or a database) against the contracts.

:func:`check_folder` reads ``transactions`` and, when present, ``engagement``,
``customers`` and ``subscriptions`` (a subscription business may have no
``transactions``; see :func:`clvml.data.io.load_tables`), runs every rule of
each contract and returns a :class:`FolderCheck` with one
:class:`~clvml.data.report.ValidationReport` per table. It raises only when the
source cannot be read; bad data end up in the reports. :func:`validate_folder`
is the strict form: the cleaned frames, or the first error raised.

Across tables, three things are noted (rows kept, action ``"kept"``):
transactions and subscriptions of customers missing from ``customers`` (no
acquisition data for them) and engagement events of customers with no transaction.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Unpack

import numpy as np
import pandas as pd
from sqlalchemy.engine import URL, Engine

from clvml.data.io import (
    ID_COLUMNS,
    find_tables,
    is_database_url,
    load_tables,
    read_table,
    safe_url,
)
from clvml.data.mapping import rename_columns
from clvml.data.policy import PolicyKeywords, ValidationPolicy, resolve_policy
from clvml.data.report import RuleOutcome, ValidationReport
from clvml.data.validation import check_table

__all__ = ["FolderCheck", "check_folder", "validate_folder"]

#: A source to check holds transactions, subscriptions or both.
_ANY = ("transactions", "subscriptions")


@dataclass
class FolderCheck:
    """The reports of every table of a data source.

    Attributes
    ----------
    source : str
        The folder, or the database URL without its password.
    reports : dict of str to ValidationReport
        One report per table found, in contract order.
    frames : dict of str to pandas.DataFrame
        The cleaned frames of the tables without errors.
    """

    source: str
    reports: dict[str, ValidationReport] = field(default_factory=dict)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        """True when every table can be used."""
        return all(r.ok for r in self.reports.values())

    def raise_for_errors(self) -> None:
        """Raise the first table's first :class:`~clvml.exceptions.DataValidationError`, if any."""
        for report in self.reports.values():
            report.raise_for_errors()


def check_folder(
    source: str | os.PathLike[str] | URL | Engine,
    policy: ValidationPolicy | None = None,
    *,
    columns: Mapping[str, str] | None = None,
    plans: Collection[str] | None = None,
    **keywords: Unpack[PolicyKeywords],
) -> FolderCheck:
    """Check every table of a folder or database against its contract.

    Parameters
    ----------
    source : str, path, sqlalchemy.URL or sqlalchemy.Engine
        A folder with ``transactions.csv|parquet`` and optionally
        ``engagement``, ``customers`` and ``subscriptions`` files (or
        ``subscriptions`` without ``transactions``), or a database with tables of
        those names. A single file is the transactions table, or the subscriptions
        table when its name starts with ``subscriptions``.
    policy : ValidationPolicy, optional
        Applied to every table (see :func:`clvml.data.validation.check_table`).
    columns : mapping, optional
        Contract column -> the source's column name (:mod:`clvml.data.mapping`).
    plans : collection of str, optional
        The known subscription plans (see
        :func:`~clvml.data.validation.validate_subscriptions`).
    **keywords
        The policy's fields as keywords, a convenience (they build, or override, it).

    Returns
    -------
    FolderCheck
        Reports and cleaned frames; never raises for bad data.

    Raises
    ------
    FileNotFoundError, clvml.data.io.DataSourceError
        The source cannot be read (no folder, no transactions, unknown format).

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> d = tempfile.mkdtemp()
    >>> pd.DataFrame({"customer_id": ["a", "b"], "timestamp": ["2024-01-02", "2099-01-01"],
    ...               "amount": [3.0, 4.0]}).to_csv(f"{d}/transactions.csv", index=False)
    >>> check = check_folder(d, now="2024-06-30")
    >>> check.ok, check.reports["transactions"].errors[0].rule
    (False, 'future_timestamp')
    """
    policy = resolve_policy(policy, **keywords)
    if is_database_url(source):
        name = safe_url(source)  # type: ignore[arg-type]
        tables = load_tables(source, require=_ANY)
        where = {t: f"table {t}" for t in tables}
    else:
        name = str(source)
        ids = [v for k, v in (columns or {}).items() if k.rpartition(".")[2] in ID_COLUMNS]
        path = Path(source)  # type: ignore[arg-type]
        if path.is_file():
            table = "subscriptions" if path.name.lower().startswith("subscriptions") else None
            paths = {table or "transactions": path}
        else:
            paths = find_tables(path, require=_ANY)
        tables = {t: read_table(p, text_columns=ids) for t, p in paths.items()}
        where = {t: p.name for t, p in paths.items()}
    if columns:
        tables = rename_columns(tables, columns)
    result = FolderCheck(source=name)
    for table, data in tables.items():
        frame, report = check_table(data, table, policy, source=where[table], plans=plans)
        result.reports[table] = report
        if frame is not None:
            result.frames[table] = frame
    _cross_table(result)
    return result


def validate_folder(
    source: str | os.PathLike[str] | URL | Engine,
    policy: ValidationPolicy | None = None,
    **keywords: Unpack[PolicyKeywords],
) -> dict[str, pd.DataFrame]:
    """The cleaned tables of a folder or database, or the first validation error raised.

    Same parameters as :func:`check_folder`.

    Raises
    ------
    DataValidationError
        A table breaks its contract (the message names the table).
    """
    check = check_folder(source, resolve_policy(policy, **keywords))
    check.raise_for_errors()
    return check.frames


def _cross_table(check: FolderCheck) -> None:
    """Note rows whose customer is missing from another table (kept, for information)."""
    frames = check.frames
    subs, customers = frames.get("subscriptions"), frames.get("customers")
    if subs is not None and customers is not None:
        unknown = ~subs["customer_id"].isin(customers["customer_id"]).to_numpy()
        _note(
            check.reports["subscriptions"],
            subs["customer_id"],
            unknown,
            "belong to customers missing from the customers table (no acquisition data); kept",
        )
    tx = frames.get("transactions")
    if tx is None:
        return
    buyers = tx["customer_id"].unique()
    customers = frames.get("customers")
    if customers is not None:
        unknown = ~tx["customer_id"].isin(customers["customer_id"]).to_numpy()
        _note(
            check.reports["transactions"],
            tx["customer_id"],
            unknown,
            "belong to customers missing from the customers table (no acquisition data); kept",
        )
    events = frames.get("engagement")
    if events is not None:
        silent = ~events["customer_id"].isin(buyers).to_numpy()
        _note(
            check.reports["engagement"],
            events["customer_id"],
            silent,
            "belong to customers with no transaction; kept",
        )


def _note(report: ValidationReport, ids: pd.Series, mask: np.ndarray, message: str) -> None:
    n = int(mask.sum())
    if n:
        example = ids.iloc[int(np.flatnonzero(mask)[0])]
        report.outcomes.append(
            RuleOutcome("unknown_customer", "customer_id", n, "kept", message, example)
        )
