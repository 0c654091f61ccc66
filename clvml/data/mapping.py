"""Your own column names: map them onto the data contracts' (``--columns``, ``[data] columns``).

A mapping says which column of the user's table holds each contract column:
``customer_id=cust,timestamp=order_date,amount=total``. A key without a table applies to
every table that has the source column (``customer_id`` is in all three); a key with one
(``customers.acquisition_date=signup``) applies to that table only. The CLI flag
``--columns`` and the ``columns`` table of a config's ``[data]`` section are read by
:func:`parse_columns`; :func:`rename_columns` applies the mapping to the tables read, so
validation, features and models only ever see the contract names.

Examples
--------
>>> import pandas as pd
>>> mapping = parse_columns("customer_id=cust, timestamp=order_date, amount=total")
>>> mapping
{'customer_id': 'cust', 'timestamp': 'order_date', 'amount': 'total'}
>>> tx = pd.DataFrame({"cust": ["a"], "order_date": ["2024-01-02"], "total": [9.5]})
>>> rename_columns({"transactions": tx}, mapping)["transactions"].columns.tolist()
['customer_id', 'timestamp', 'amount']
>>> parse_columns("amount")
Traceback (most recent call last):
...
clvml.exceptions.DataValidationError: --columns: 'amount' is not of the form \
contract_column=your_column (e.g. --columns customer_id=cust,timestamp=order_date,amount=total)
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from clvml.data.contracts import CONTRACTS
from clvml.exceptions import DataValidationError

__all__ = ["parse_columns", "rename_columns"]

_EXAMPLE = "--columns customer_id=cust,timestamp=order_date,amount=total"


def _known() -> dict[str, set[str]]:
    return {name: {c.name for c in contract.columns} for name, contract in CONTRACTS.items()}


def parse_columns(
    value: str | Mapping[str, str] | None, *, flag: str = "--columns"
) -> dict[str, str]:
    """Read a column mapping from ``"a=b,c=d"`` text or a mapping (a TOML table).

    Raises
    ------
    DataValidationError
        A pair not of the form ``contract_column=your_column``, a key that is no contract
        column (the message lists them), or a contract column mapped twice.
    """
    if value is None:
        return {}
    if isinstance(value, Mapping):
        pairs = [(str(k), v) for k, v in value.items()]
    else:
        pairs = []
        for part in str(value).split(","):
            if not part.strip():
                continue
            key, sep, source = part.partition("=")
            if not sep or not key.strip() or not source.strip():
                raise DataValidationError(
                    f"{flag}: {part.strip()!r} is not of the form contract_column=your_column "
                    f"(e.g. {_EXAMPLE})"
                )
            pairs.append((key, source))
    known = _known()
    every = sorted(set().union(*known.values()))
    out: dict[str, str] = {}
    for key, source in pairs:
        key = key.strip()
        if not isinstance(source, str) or not source.strip():
            raise DataValidationError(f"{flag}: {key} must name a column, got {source!r}")
        table, dot, column = key.rpartition(".")
        ok = column in known[table] if dot and table in known else (not dot and column in every)
        if not ok:
            raise DataValidationError(
                f"{flag}: {key!r} is not a column of the data contracts; map one of "
                f"{', '.join(every)} (optionally as <table>.<column>, tables "
                f"{', '.join(known)})"
            )
        if key in out:
            raise DataValidationError(f"{flag}: {key} is mapped twice")
        out[key] = source.strip()
    return out


def rename_columns(
    frames: Mapping[str, pd.DataFrame], mapping: Mapping[str, str], *, flag: str = "--columns"
) -> dict[str, pd.DataFrame]:
    """Rename the user's columns to the contract's in every table the mapping applies to.

    Raises
    ------
    DataValidationError
        A mapped column found in no table (the message lists the columns there are), or a
        table holding both the contract column and the column mapped onto it.
    """
    out = dict(frames)
    used: set[str] = set()
    for name, frame in frames.items():
        renames: dict[str, str] = {}
        for key, source in mapping.items():
            table, dot, column = key.rpartition(".")
            if dot and table != name:
                continue
            if source in frame.columns and source != column:
                if column in frame.columns:
                    raise DataValidationError(
                        f"{flag} {key}={source}: table {name} has both {source!r} and "
                        f"{column!r}; drop one or map the other"
                    )
                renames[source] = column
            if source in frame.columns:
                used.add(key)
        if renames:
            out[name] = frame.rename(columns=renames)
    for key, source in mapping.items():
        if key not in used:
            table = key.rpartition(".")[0]
            where = [table] if table else list(frames)
            seen = {t: list(map(str, frames[t].columns))[:12] for t in where if t in frames}
            listing = "; ".join(f"{t}: {', '.join(c)}" for t, c in seen.items())
            raise DataValidationError(
                f"{flag} {key}={source}: no column {source!r} in "
                f"{' or '.join(where) or 'the data'} (columns there: {listing or 'none'})"
            )
    return out
