"""Reading and writing the input tables: CSV, Parquet and any SQLAlchemy database.

* :func:`read_table` reads one table from a ``.csv``/``.csv.gz``/``.parquet``
  file, or from a database given as a SQLAlchemy URL (``sqlite:///shop.db``,
  ``postgresql+psycopg://user@host/db``) or :class:`~sqlalchemy.engine.Engine`,
  by table name (validated identifier) or by a parameterised query.
* :func:`find_tables` / :func:`load_folder` find ``transactions`` and the
  optional ``engagement``, ``customers`` and ``subscriptions`` in a folder (or,
  with ``require``, a folder of a subscription business without ``transactions``);
  :func:`load_tables` does the same for a folder or a database.
* :func:`write_table` writes a CSV or Parquet file atomically.

Identifier columns (``customer_id``, ``order_id``) are read from CSV as text,
so ``"00123"`` keeps its leading zeros, and ``NA``, ``null`` or ``None`` are ids of
real customers (only an empty field is missing). A file with more than
:data:`~clvml.data.contracts.MAX_COLUMNS` columns is refused before it is parsed, and
an empty, damaged or non-UTF-8 file is a :class:`DataSourceError` naming it.
Nothing is parsed or checked here: that is :mod:`clvml.data.validation`'s job.
Database passwords never appear in messages.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import os
import re
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from clvml.data.contracts import CONTRACTS, MAX_COLUMNS
from clvml.data.files import share
from clvml.data.secrets import mask_url, scrub
from clvml.exceptions import ClvmlError

__all__ = [
    "DataSourceError",
    "find_tables",
    "is_database_url",
    "load_folder",
    "load_tables",
    "read_table",
    "safe_url",
    "write_table",
]

#: File suffixes read and written, by format.
SUFFIXES: dict[str, tuple[str, ...]] = {
    "csv": (".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz"),
    "parquet": (".parquet", ".pq"),
    "text": (".txt", ".dat"),
}

#: Columns read from CSV as text.
ID_COLUMNS: tuple[str, ...] = ("customer_id", "order_id")

#: A SQL identifier clvml accepts: letters, digits and underscores, not starting with a digit.
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+://")


class DataSourceError(ClvmlError, ValueError):
    """A data source cannot be read or written: unknown format, bad table name, database error."""


def is_database_url(source: object) -> bool:
    """True for a SQLAlchemy URL (object or ``scheme://`` text) or an Engine."""
    if isinstance(source, URL | Engine):
        return True
    return isinstance(source, str) and bool(_URL_SCHEME.match(source))


def safe_url(source: str | URL | Engine) -> str:
    """The URL with its secrets masked, for messages and logs (see :mod:`clvml.data.secrets`)."""
    return mask_url(source)


def _format(path: Path) -> str:
    name = path.name.lower()
    for fmt, suffixes in SUFFIXES.items():
        if name.endswith(suffixes):
            return fmt
    known = ", ".join(s for group in SUFFIXES.values() for s in group)
    raise DataSourceError(f"{path}: unknown file format {path.suffix!r}; expected one of {known}")


def _check_identifier(name: str, what: str) -> str:
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise DataSourceError(
            f"{what} {name!r} is not a plain SQL identifier (letters, digits, underscores; "
            "at most 63 characters, not starting with a digit)"
        )
    return name


def read_table(
    source: str | os.PathLike[str] | URL | Engine,
    *,
    table: str | None = None,
    query: str | None = None,
    params: Mapping[str, Any] | None = None,
    schema: str | None = None,
    text_columns: Iterable[str] = (),
) -> pd.DataFrame:
    """Read one table from a file or a database.

    Parameters
    ----------
    source : str, path, sqlalchemy.URL or sqlalchemy.Engine
        A ``.csv`` (optionally compressed) or ``.parquet`` file, or a database.
    table : str, optional
        For a database: the table to read. Must be a plain identifier
        (``[A-Za-z_][A-Za-z0-9_]*``); it is quoted by SQLAlchemy, never
        pasted into SQL text.
    query : str, optional
        For a database, instead of ``table``: a SELECT with named bind
        parameters (``... WHERE timestamp >= :since``) whose values come in
        ``params``. Never format values into the query text.
    params : mapping, optional
        Values of the query's bind parameters.
    schema : str, optional
        Database schema of ``table`` (validated like ``table``).
    text_columns : iterable of str, optional
        Further columns of a CSV or text file read as text (``customer_id`` and
        ``order_id`` always are), e.g. an id column under another name.

    Returns
    -------
    pandas.DataFrame
        The rows as stored; nothing is parsed beyond the file format's types. A ``.txt``
        or ``.dat`` file is read as whitespace-separated columns under a header row (the
        layout of the raw CDNOW files).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    DataSourceError
        Unknown file format, a bad table name, or a database error (the
        message shows the URL without its password).

    Examples
    --------
    >>> import pandas as pd, sqlalchemy as sa, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "shop.db")
    >>> engine = sa.create_engine(f"sqlite:///{path}")
    >>> _ = pd.DataFrame({"customer_id": ["a"], "amount": [9.5]}).to_sql("tx", engine)
    >>> read_table(f"sqlite:///{path}", query="SELECT * FROM tx WHERE amount > :m",
    ...            params={"m": 5})[["customer_id", "amount"]]
      customer_id  amount
    0           a     9.5
    """
    if is_database_url(source):
        return _read_sql(source, table=table, query=query, params=params, schema=schema)  # type: ignore[arg-type]
    if table is not None or query is not None:
        raise DataSourceError("table= and query= apply to database URLs, not to files")
    path = Path(source)  # type: ignore[arg-type]
    fmt = _format(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if fmt in ("csv", "text"):
        sep = r"\s+" if fmt == "text" else ","
        return _read_csv(path, sep=sep, text_columns=text_columns)
    try:
        import pyarrow.parquet as pq

        _check_width(path, len(pq.read_schema(path).names))
        return pd.read_parquet(path)
    except DataSourceError:
        raise
    except Exception as exc:  # pyarrow raises its own error types for corrupt files
        raise DataSourceError(f"{path}: cannot read as Parquet ({_one_line(exc)})") from exc


#: Text pandas reads as missing in a CSV's other columns (its documented defaults). In
#: the id columns only an empty field is missing: ``NA`` or ``null`` is a customer.
_NA_TEXT = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
    "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip

#: What reading a damaged, empty or badly encoded CSV raises (pandas, the decoders).
_CSV_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,  # pandas' ParserError and EmptyDataError, UnicodeDecodeError
    EOFError,  # a truncated .gz/.bz2/.xz
    OSError,  # gzip.BadGzipFile, a corrupt .zip member
    zlib.error,
    lzma.LZMAError,
    zipfile.BadZipFile,
)


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else 'no details'}"[:300]


def _check_width(path: Path, n_columns: int) -> None:
    if n_columns > MAX_COLUMNS:
        raise DataSourceError(
            f"{path}: {n_columns:,} columns; at most {MAX_COLUMNS:,} are read "
            "(keep the contract's columns and a few others)"
        )


def _csv_width(path: Path) -> int:
    """The number of fields of the CSV's first record, read in linear time."""
    compression = _compression(path)
    if compression == "zip":
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
            if not members:
                raise DataSourceError(f"{path}: the zip archive is empty")
            with archive.open(members[0]) as raw:
                return _first_record_width(raw)
    opener: Any = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}.get(compression or "", open)
    with opener(path, "rb") as raw:
        return _first_record_width(raw)


def _first_record_width(raw: Any) -> int:
    text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
    try:
        return len(next(csv.reader(text)))
    except StopIteration:
        return 0
    except csv.Error:  # a field beyond the csv module's size limit: pandas will say
        return 0


def _read_csv(path: Path, sep: str = ",", text_columns: Iterable[str] = ()) -> pd.DataFrame:
    """A CSV with id columns as text (only an empty field missing); errors name the file.

    ``sep=r"\\s+"`` reads whitespace-separated columns (``.txt``); ``text_columns`` are
    further id columns under the user's names (``--columns``).
    """
    ids = (*ID_COLUMNS, *text_columns)
    try:
        _check_width(path, _csv_width(path))  # pandas' header parsing is quadratic in width
        header = [str(c) for c in pd.read_csv(path, nrows=0, sep=sep).columns]
        na = {c: [""] if c in ids else list(_NA_TEXT) for c in header}
        dtype = {c: "str" for c in ids if c in header}
        frame = pd.read_csv(path, dtype=dtype, keep_default_na=False, na_values=na, sep=sep)
    except DataSourceError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise DataSourceError(f"{path}: the file is empty; expected a CSV header row") from exc
    except UnicodeDecodeError as exc:
        raise DataSourceError(
            f"{path}: not UTF-8 text (byte {exc.object[exc.start : exc.start + 1]!r} at "
            f"position {exc.start}); save the file as UTF-8"
        ) from exc
    except _CSV_ERRORS as exc:
        raise DataSourceError(f"{path}: cannot read as CSV ({_one_line(exc)})") from exc
    if not isinstance(frame.index, pd.RangeIndex):  # pandas took the extra fields as an index
        raise DataSourceError(
            f"{path}: cannot read as CSV (the rows have more fields than the header's "
            f"{len(header)})"
        )
    return frame


def _read_sql(
    source: str | URL | Engine,
    *,
    table: str | None,
    query: str | None,
    params: Mapping[str, Any] | None,
    schema: str | None,
) -> pd.DataFrame:
    where = safe_url(source)
    if (table is None) == (query is None):
        raise DataSourceError(f"{where}: give exactly one of table= or query=")
    if table is not None:
        _check_identifier(table, "table name")
        if schema is not None:
            _check_identifier(schema, "schema name")
    try:
        engine = source if isinstance(source, Engine) else sa.create_engine(source)
        try:
            with engine.connect() as conn:
                if table is not None:
                    t = sa.Table(table, sa.MetaData(), schema=schema, autoload_with=conn)
                    return pd.read_sql(sa.select(t), conn)
                return pd.read_sql(sa.text(query), conn, params=dict(params or {}))  # type: ignore[arg-type]
        finally:
            if not isinstance(source, Engine):
                engine.dispose()
    except sa.exc.NoSuchTableError as exc:
        name = f"{schema}.{table}" if schema else table
        raise DataSourceError(f"{where}: no table {name!r}") from exc
    except (sa.exc.SQLAlchemyError, ImportError) as exc:
        raise DataSourceError(f"{where}: {_first_line(exc, source)}") from exc


def _first_line(exc: BaseException, source: object) -> str:
    """One line describing a database error, with any password scrubbed."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return scrub(f"{type(orig).__name__}: {lines[0] if lines else 'no details'}", [source])


def find_tables(
    folder: str | os.PathLike[str], *, require: str | Iterable[str] = "transactions"
) -> dict[str, Path]:
    """Find the contract tables' files in ``folder``: ``transactions``, ``engagement``, ...

    Each is a file named after its table with a CSV or Parquet suffix
    (``transactions.parquet``, ``customers.csv``, ``subscriptions.csv``, ...). Other
    files are ignored.

    Parameters
    ----------
    folder : str or path
        The data folder.
    require : str or iterable of str, default "transactions"
        The folder must hold this table, or at least one of these tables
        (``("transactions", "subscriptions")`` for a folder that may be a
        subscription business's without purchases).

    Raises
    ------
    FileNotFoundError
        ``folder`` is not a directory or holds none of the required tables.
    DataSourceError
        A table exists in two formats (ambiguous).
    """
    path = Path(folder)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such folder")
    wanted = (require,) if isinstance(require, str) else tuple(require)
    files = {p.name.lower(): p for p in path.iterdir() if p.is_file()}
    found: dict[str, Path] = {}
    for name in CONTRACTS:
        hits = [files[name + s] for group in SUFFIXES.values() for s in group if name + s in files]
        if len(hits) > 1:
            listed = ", ".join(p.name for p in hits)
            raise DataSourceError(f"{path}: {name} is there twice ({listed}); keep one")
        if hits:
            found[name] = hits[0]
    if not any(name in found for name in wanted):
        names = sorted(p.name for p in files.values())
        there = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "") if names else "none"
        what = " or ".join(wanted)
        expected = " or ".join(f"{n}.csv or {n}.parquet" for n in wanted)
        raise FileNotFoundError(
            f"{path}: no {what} file (expected {expected}; "
            f"files there: {there}); give --data such a folder or the {wanted[0]} file itself"
        )
    return found


def load_folder(
    folder: str | os.PathLike[str],
    *,
    text_columns: Iterable[str] = (),
    require: str | Iterable[str] = "transactions",
) -> dict[str, pd.DataFrame]:
    """Read the tables :func:`find_tables` finds, keyed by table name.

    ``require`` is passed to :func:`find_tables`.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> d = tempfile.mkdtemp()
    >>> pd.DataFrame({"customer_id": ["007"], "timestamp": ["2024-01-02"], "amount": [3.0]}
    ...              ).to_csv(f"{d}/transactions.csv", index=False)
    >>> load_folder(d)["transactions"]["customer_id"].tolist()
    ['007']
    """
    return {
        name: read_table(p, text_columns=text_columns)
        for name, p in find_tables(folder, require=require).items()
    }


def load_tables(
    source: str | os.PathLike[str] | URL | Engine,
    *,
    schema: str | None = None,
    columns: Mapping[str, str] | None = None,
    text_columns: Iterable[str] = (),
    require: str | Iterable[str] = "transactions",
) -> dict[str, pd.DataFrame]:
    """Read the contract tables from a folder (see :func:`load_folder`) or a database.

    In a database, tables named ``transactions`` (required), ``engagement``,
    ``customers`` and ``subscriptions`` are read, from ``schema`` if given. A file (CSV,
    Parquet or whitespace-separated text) is the transactions table alone, or the
    subscriptions table when ``require`` names only ``subscriptions``. ``columns`` maps
    the contract's column names to the source's (:mod:`clvml.data.mapping`,
    ``--columns``). ``require``: the table, or at least one of the tables, the source
    must hold (see :func:`find_tables`).
    """
    wanted = (require,) if isinstance(require, str) else tuple(require)
    if columns:
        from clvml.data.mapping import rename_columns

        ids = [v for k, v in columns.items() if k.rpartition(".")[2] in ID_COLUMNS]
        raw = load_tables(source, schema=schema, text_columns=ids, require=wanted)
        return rename_columns(raw, columns)
    if not is_database_url(source):
        if Path(source).is_file():  # type: ignore[arg-type]
            name = "transactions" if "transactions" in wanted else wanted[0]
            return {name: read_table(source, text_columns=text_columns)}
        return load_folder(source, text_columns=text_columns, require=wanted)  # type: ignore[arg-type]
    where = safe_url(source)  # type: ignore[arg-type]
    try:
        engine = source if isinstance(source, Engine) else sa.create_engine(source)  # type: ignore[arg-type]
        try:
            names = set(sa.inspect(engine).get_table_names(schema=schema))
        finally:
            if not isinstance(source, Engine):
                engine.dispose()
    except (sa.exc.SQLAlchemyError, ImportError) as exc:
        raise DataSourceError(f"{where}: {_first_line(exc, source)}") from exc
    if not any(name in names for name in wanted):
        raise DataSourceError(f"{where}: no {' or '.join(wanted)} table")
    return {
        name: read_table(source, table=name, schema=schema) for name in CONTRACTS if name in names
    }


def write_table(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``df`` to a CSV or Parquet file atomically.

    The frame goes to a temporary file in the same folder, which then
    replaces ``path`` in one step (:func:`os.replace`): readers see the old
    file or the new one, never a half-written one. The index is not written.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    fmt = _format(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path.parent}: no such folder")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        if fmt == "csv":
            df.to_csv(tmp, index=False, compression=_compression(path))
        else:
            df.to_parquet(tmp, index=False)
        share(tmp)  # the user's umask, not mkstemp's 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _compression(path: Path) -> str | None:
    """Compression of a CSV path from its suffix (the temp file's suffix says nothing)."""
    return {".gz": "gzip", ".bz2": "bz2", ".zip": "zip", ".xz": "xz"}.get(path.suffix.lower())
