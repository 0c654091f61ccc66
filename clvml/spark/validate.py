"""Validation of Spark DataFrames against the data contracts, on every row.

:func:`validate_table` applies exactly the rules of :func:`clvml.data.validation.check_table`
to a Spark DataFrame, so that a Spark job validates all of its data and not a sample.
:func:`validate_or_raise` is the strict form (the cleaned frame, or the first error raised,
like :func:`~clvml.data.validation.validate_transactions`).

How
---
Every row rule of the contracts is local to one customer: a missing id, a bad or future
timestamp, a negative value or an unknown category concern one row; exact duplicate rows
share their ``customer_id``; ``returns="net"`` nets per customer and UTC day; the unique ids
of the customers table are per customer id. So the rows are hash-bucketed by
``customer_id`` -- normalised as the pandas rules normalise it (text stripped of white
space, blank and missing ids in a bucket of their own) -- and each bucket is checked by
``check_table`` itself (``groupBy(bucket).applyInPandas``), in the order the rows were read
(``monotonically_increasing_id``; it decides which of two equal purchases a refund reduces
first). One shuffle of the data. Each bucket returns its cleaned rows and, on its first
row, its :class:`~clvml.data.report.ValidationReport`; the output is checkpointed
(``localCheckpoint``), the per-bucket reports are collected (one per bucket) and merged,
and the cleaned rows are read back from the checkpoint.

What is not local is handled on the driver, once:

* the structure of the table (empty input, repeated or missing columns), from the schema
  and, when it fails, a count;
* ``mixed_time_zones`` (text timestamps with and without a UTC offset in one column): each
  bucket counts both kinds, the driver decides on the totals as pandas does on the column;
* ``no_rows_left`` (everything set aside), on the totals;
* identifiers stored as floating-point numbers: pandas writes them without ``.0`` only when
  every value of the column is whole, which one aggregation decides before bucketing.

The merged report equals the pandas report of the same rows (``tests/spark/
test_spark_validate.py``): ``rows_read``, ``rows_kept`` and, per rule, column and action,
the number of rows, in the pandas order. Messages and examples come from the lowest
bucket where the rule fired; the refund total of ``return_unmatched`` is the sum of the
buckets' totals, each rounded to cents. Examples that name a row (``"row 12"``) give its
``monotonically_increasing_id`` in the input (its position when the input has one
partition). :attr:`ValidationReport.set_aside` stays empty: the set-aside rows are never
collected to the driver. With ``with_set_aside=True`` they come back as a third, lazy Spark
frame (``customer_id`` as the input wrote it, ``rule``, ``row``: the
``monotonically_increasing_id`` label above), written by the buckets next to the cleaned
rows in the same checkpoint, e.g. for a quarantine table (:mod:`clvml.spark.job`).
"""

from __future__ import annotations

import heapq
import itertools
import pickle
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Literal, overload

import numpy as np
import pandas as pd

from clvml.data import _columns as cols
from clvml.data._engine import Options, Run, _structure
from clvml.data.contracts import CONTRACTS, Contract
from clvml.data.report import Action, RuleOutcome, ValidationReport
from clvml.data.validation import Duplicates, Invalid, Returns, check_table
from clvml.spark.session import require_pyspark

__all__ = ["validate_or_raise", "validate_table"]

_ROW = "__clvml_row"
_BUCKET = "__clvml_bucket"
_IS_DATA = "__clvml_is_data"
_REPORT = "__clvml_report"
_ASIDE_ID = "__clvml_aside_id"
_ASIDE_RULE = "__clvml_aside_rule"
_ASIDE_ROW = "__clvml_aside_row"

# Python's str.strip() removes what str.isspace() calls white space: Java's Unicode
# \s plus the separators \x1c-\x1f. Stripping this superset can only merge buckets.
_STRIP = r"(?U)^[\s\x1c-\x1f]+|[\s\x1c-\x1f]+$"

# Rules that are not a property of one bucket: merged on the driver, not summed.
_GLOBAL_RULES = ("mixed_time_zones", "no_rows_left")

# The order in which the pandas engine checks (clvml.data._engine.run_rules): the
# parsers column by column, then the rules on the parsed frame. Merged outcomes follow
# the buckets' own orders and use this one where the buckets do not say.
_PARSE_ORDER = (
    "missing_id",
    "invalid_id",
    "missing_timestamp",
    "not_a_timestamp",
    "mixed_time_zones",
    "nonexistent_local_time",
    "unparseable_timestamp",
    "missing_value",
    "not_numeric",
    "not_whole",
    "negative_count",
    "unknown_category",
    "not_a_flag",
)
_LATE_ORDER = (
    "future_timestamp",
    "duplicate_row",
    "negative_amount",
    "return",
    "return_netted",
    "return_unmatched",
    "purchase_refunded",
    "purchase_reduced",
    "duplicate_id",
)
_UNNETTED = re.compile(r"\((\S+) in refunds left unnetted\)")

_Key = tuple[str, str | None, Action]


def _col(name: str) -> Any:
    """The column ``name``, whatever characters it holds (dots, backticks)."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _spark_type(kind: str) -> Any:
    """The Spark type of a validated column of contract kind ``kind``."""
    from pyspark.sql import types as T

    return {
        "id": T.StringType(),
        "timestamp": T.TimestampType(),
        "amount": T.DoubleType(),
        "count": T.LongType(),
        "category": T.StringType(),
        "text": T.StringType(),
        "flag": T.BooleanType(),
    }[kind]


def _is_integral(dtype: Any) -> bool:
    from pyspark.sql import types as T

    return isinstance(dtype, T.ByteType | T.ShortType | T.IntegerType | T.LongType)


def _is_floating(dtype: Any) -> bool:
    from pyspark.sql import types as T

    return isinstance(dtype, T.FloatType | T.DoubleType)


def _structure_report(
    frame: Any, contract: Contract, invalid: str, source: str | None
) -> ValidationReport | None:
    """The report of the whole-table rules when they fail, else None (no job unless they do)."""
    columns = list(frame.columns)
    probe = Run(
        contract,
        pd.DataFrame([[None] * len(columns)], columns=columns),
        collect=True,
        invalid=invalid,
        source=source,
    )
    if _structure(probe):
        return None
    n = int(frame.count())
    return _empty_report(contract, columns, invalid, source, n)


def _empty_report(
    contract: Contract, columns: list[str], invalid: str, source: str | None, n: int
) -> ValidationReport:
    """The pandas structure report of a table with ``columns`` and ``n`` rows."""
    rows = min(n, 1)
    run = Run(
        contract,
        pd.DataFrame([[None] * len(columns)] * rows, columns=columns),
        collect=True,
        invalid=invalid,
        source=source,
    )
    _structure(run)
    report = run.report
    report.rows_read = report.rows_kept = n  # as pandas: nothing is kept or set aside
    return report


def _floating_ids_as_text(frame: Any, contract: Contract) -> list[str]:
    """Floating-point id columns that pandas writes as float text (not all whole, or inf).

    :func:`clvml.data._columns.parse_ids` drops the ``.0`` of whole floats only when every
    finite value of the column is whole and none is infinite: a property of the whole
    column, decided here on all of it.
    """
    from pyspark.sql import functions as F

    names = [
        c.name
        for c in contract.columns
        if c.kind == "id"
        and c.name in frame.columns
        and _is_floating(frame.schema[c.name].dataType)
    ]
    if not names:
        return []
    checks = []
    for name in names:
        v = _col(name).cast("double")
        inf = F.abs(v) == F.lit(float("inf"))
        finite = v.isNotNull() & ~F.isnan(v) & ~inf
        checks.append(F.count_if(inf | (finite & (v != F.round(v, 0)))).alias(name))
    counts = frame.agg(*checks).first()
    return [name for name in names if counts[name]]


def _bucket_key(frame: Any) -> Any:
    """``customer_id`` as the rules compare it, or null when it is missing."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    c = _col("customer_id")
    dtype = frame.schema["customer_id"].dataType
    if isinstance(dtype, T.StringType):
        key = F.regexp_replace(c, _STRIP, "")
        return F.when(key != F.lit(""), key)
    if _is_floating(dtype):
        v = c.cast("double")
        return F.when(~F.isnan(v), v + F.lit(0.0))  # NaN is missing; -0.0 meets 0.0
    return c


def _offset_counts(data: pd.DataFrame, contract: Contract, invalid: str) -> dict[str, list[Any]]:
    """Per text timestamp column: values with and without a UTC offset, all and still kept.

    Mirrors :func:`clvml.data._columns.parse_timestamps` (which values carry an offset)
    and the engine (which rows are still kept when the timestamp column is parsed: in the
    contracts only ``customer_id`` comes before it, whose rows are set aside under
    ``invalid="drop"``). Returns ``[n_offset, n_naive, n_offset_kept, n_naive_kept,
    example_offset, example_naive]`` per column.
    """
    dropped = np.zeros(len(data), dtype=bool)
    out: dict[str, list[Any]] = {}
    for c in contract.columns:
        if c.name not in data.columns:
            continue
        s = data[c.name]
        if c.kind == "id" and c.required and invalid == "drop":
            _, problems = cols.parse_ids(s)
            for p in problems:
                if p.row_level:
                    dropped |= p.mask
        if c.kind != "timestamp":
            continue
        if (
            pd.api.types.is_datetime64_any_dtype(s.dtype)
            or pd.api.types.is_numeric_dtype(s.dtype)
            or pd.api.types.is_bool_dtype(s.dtype)
        ):
            continue
        if s.dtype == object:
            s = s.map(lambda v: v.isoformat() if isinstance(v, datetime | date) else v)
        text, miss = cols._text(s)
        offset = text.str.contains(cols._OFFSET_RE, na=False).to_numpy(dtype=bool)
        naive = ~offset & ~miss
        raw = data[c.name]
        examples = [
            raw.iloc[int(np.flatnonzero(m)[0])] if m.any() else None
            for m in (
                offset & ~dropped,
                naive & ~dropped,
            )
        ]
        out[c.name] = [
            int(offset.sum()),
            int(naive.sum()),
            int((offset & ~dropped).sum()),
            int((naive & ~dropped).sum()),
            *[v.item() if isinstance(v, np.generic) else v for v in examples],
        ]
    return out


def _bucket_checker(
    table: str,
    kw: dict[str, Any],
    names: list[str],
    float_text: list[str],
    with_set_aside: bool = False,
) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """The function run on each bucket: its cleaned rows, its report on the first row.

    With ``with_set_aside`` the bucket's set-aside rows follow its cleaned rows (data
    columns null, ``_IS_DATA`` false, the id as text, the rule and the row label in the
    ``_ASIDE_*`` columns, null on the other rows).
    """
    contract = CONTRACTS[table]

    def check(pdf: pd.DataFrame) -> pd.DataFrame:
        bucket = int(pdf[_BUCKET].iat[0])
        pdf = pdf.sort_values(_ROW, kind="stable")
        data = pdf[names].set_axis(pd.Index(pdf[_ROW].tolist(), dtype=object), axis=0)
        for name in float_text:  # as parse_ids reads a column that is not all whole
            data[name] = data[name].astype("str").where(data[name].notna())
        offsets = _offset_counts(data, contract, kw["invalid"])
        clean, report = check_table(data, table, **kw)
        payload = pickle.dumps(
            {
                "bucket": bucket,
                "rows_read": report.rows_read,
                "rows_kept": report.rows_kept,
                "outcomes": [
                    (o.rule, o.column, o.n_rows, o.action, o.message, o.example)
                    for o in report.outcomes
                ],
                "offsets": offsets,
            }
        )
        aside = report.set_aside if with_set_aside else None
        extra = {_ASIDE_ID: None, _ASIDE_RULE: None, _ASIDE_ROW: None} if with_set_aside else {}
        if aside is not None and len(aside):
            ids = aside["customer_id"] if "customer_id" in aside.columns else [None] * len(aside)
            aside_rows = pd.DataFrame(
                {
                    _IS_DATA: False,
                    _ASIDE_ID: [None if _missing(v) else str(v) for v in ids],
                    _ASIDE_RULE: aside["rule"].astype(str).to_numpy(dtype=object),
                    _ASIDE_ROW: np.asarray(aside.index, dtype=np.int64),
                }
            )
        else:
            aside_rows = None
        if clean is None or clean.empty:
            if aside_rows is not None:
                data = pd.DataFrame({n: [None] * len(aside_rows) for n in names}, dtype=object)
                out = pd.concat([data, aside_rows], axis=1)
                reports = np.full(len(out), None, dtype=object)
                reports[0] = payload
                out[_REPORT] = reports
                return out
            row = dict.fromkeys(names) | {_IS_DATA: False, _REPORT: payload} | extra
            return pd.DataFrame({k: [v] for k, v in row.items()}, dtype=object)
        out = clean.reset_index(drop=True)
        out[_IS_DATA] = True
        if with_set_aside:
            out = out.assign(**extra)
            if aside_rows is not None:
                # the data columns of set-aside rows repeat a clean row (never read:
                # _IS_DATA is false), so every column keeps its type through Arrow
                filler = out.iloc[[0] * len(aside_rows)].reset_index(drop=True)
                filler[list(aside_rows.columns)] = aside_rows
                out = _arrow_safe(pd.concat([out, filler], ignore_index=True))
        reports = np.full(len(out), None, dtype=object)
        reports[0] = payload
        out[_REPORT] = reports
        return out

    return check


def _arrow_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with text columns as Python objects (a concatenated Arrow-backed text
    column is chunked, which Spark's Arrow conversion does not take)."""
    text = [c for c in frame.columns if isinstance(frame[c].dtype, pd.StringDtype)]
    return frame.astype(dict.fromkeys(text, object)) if text else frame


def _missing(value: object) -> bool:
    """A missing id as pandas sees one (None, NaN, NaT, pd.NA)."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _rank(contract: Contract, key: _Key) -> tuple[int, int, int]:
    rule, column, _ = key
    names = [c.name for c in contract.columns]
    pos = names.index(column) if column in names else len(names)
    if rule in _PARSE_ORDER:
        return (0, pos, _PARSE_ORDER.index(rule))
    if rule in _LATE_ORDER:
        return (1, _LATE_ORDER.index(rule), pos)
    return (2, 0, 0)


def _order(contract: Contract, sequences: list[list[_Key]], keys: list[_Key]) -> list[_Key]:
    """Merge the buckets' outcome orders (all follow the engine's) into one.

    A topological sort of "comes before in some bucket"; where no bucket orders two rules,
    the engine's order (:func:`_rank`) decides.
    """
    after: dict[_Key, set[_Key]] = {k: set() for k in keys}
    indegree = dict.fromkeys(keys, 0)
    for seq in sequences:
        for a, b in itertools.pairwise(seq):
            if b not in after[a]:
                after[a].add(b)
                indegree[b] += 1
    first = {k: i for i, k in enumerate(keys)}
    heap = [(_rank(contract, k), first[k], k) for k in keys if indegree[k] == 0]
    heapq.heapify(heap)
    ordered = []
    while heap:
        _, _, k = heapq.heappop(heap)
        ordered.append(k)
        for b in sorted(after[k], key=first.__getitem__):
            indegree[b] -= 1
            if indegree[b] == 0:
                heapq.heappush(heap, (_rank(contract, b), first[b], b))
    return ordered


def _unnetted(message: str) -> float:
    """The refund total left unnetted in a ``return_unmatched`` message (``inf`` too)."""
    m = _UNNETTED.search(message)
    try:
        return float(m.group(1).replace(",", "")) if m else float("nan")
    except ValueError:
        return float("nan")


def _merge(
    contract: Contract, payloads: list[dict[str, Any]], source: str | None
) -> ValidationReport:
    """One report from the buckets' reports (``payloads``, sorted by bucket)."""
    report = ValidationReport(
        contract.name,
        sum(p["rows_read"] for p in payloads),
        sum(p["rows_kept"] for p in payloads),
        source=source,
    )
    merged: dict[_Key, list[Any]] = {}  # key -> [n_rows, message, example]
    sequences: list[list[_Key]] = []
    unnetted = 0.0
    for p in payloads:
        seq = []
        for rule, column, n_rows, action, message, example in p["outcomes"]:
            if rule in _GLOBAL_RULES:
                continue
            key = (rule, column, action)
            seq.append(key)
            if rule == "return_unmatched":
                unnetted += _unnetted(message)
            if key in merged:
                merged[key][0] += n_rows
            else:
                merged[key] = [n_rows, message, example]
        sequences.append(seq)
    key = ("return_unmatched", "amount", "set aside")
    if key in merged:
        merged[key][1] = _UNNETTED.sub(
            f"({unnetted:,.2f} in refunds left unnetted)", merged[key][1]
        )
    for column, outcome in _mixed_time_zones(payloads).items():
        merged[("mixed_time_zones", column, "error")] = outcome
    for rule, column, action in _order(contract, sequences, list(merged)):
        n_rows, message, example = merged[(rule, column, action)]
        report.outcomes.append(RuleOutcome(rule, column, n_rows, action, message, example))
    if report.rows_kept == 0 and report.ok:  # as Run.finish, on the totals
        report.outcomes.append(
            RuleOutcome(
                "no_rows_left",
                None,
                report.rows_read,
                "error",
                f"of {report.rows_read} set aside; no {contract.name} left to use",
            )
        )
    return report


def _mixed_time_zones(payloads: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """``mixed_time_zones`` decided on the whole column, as :func:`parse_timestamps` does."""
    found: dict[str, list[Any]] = {}
    columns = sorted({c for p in payloads for c in p["offsets"]})
    for column in columns:
        counts = [p["offsets"][column] for p in payloads if column in p["offsets"]]
        n_offset = sum(c[0] for c in counts)
        n_naive = sum(c[1] for c in counts)
        if not (n_offset and n_naive):
            continue
        minority = 0 if n_offset <= n_naive else 1  # the pandas choice, on the totals
        n = sum(c[2 + minority] for c in counts)
        if not n:  # every such row was set aside before: pandas reports nothing
            continue
        example = next(c[4 + minority] for c in counts if c[2 + minority])
        message = (
            f"mix {n_offset} values with a UTC offset and {n_naive} without; "
            "give every value an offset, or none and pass tz="
        )
        found[column] = [n, message, example]
    return found


@overload
def validate_table(
    frame: Any,
    table: str,
    *,
    returns: Returns = "error",
    duplicates: Duplicates = "error",
    invalid: Invalid = "error",
    now: object = None,
    tz: str = "UTC",
    timestamp_format: str | None = None,
    n_buckets: int | None = None,
    source: str | None = None,
    with_set_aside: Literal[False] = False,
) -> tuple[Any | None, ValidationReport]: ...


@overload
def validate_table(
    frame: Any,
    table: str,
    *,
    returns: Returns = "error",
    duplicates: Duplicates = "error",
    invalid: Invalid = "error",
    now: object = None,
    tz: str = "UTC",
    timestamp_format: str | None = None,
    n_buckets: int | None = None,
    source: str | None = None,
    with_set_aside: Literal[True],
) -> tuple[Any | None, ValidationReport, Any | None]: ...


def validate_table(
    frame: Any,
    table: str,
    *,
    returns: Returns = "error",
    duplicates: Duplicates = "error",
    invalid: Invalid = "error",
    now: object = None,
    tz: str = "UTC",
    timestamp_format: str | None = None,
    n_buckets: int | None = None,
    source: str | None = None,
    with_set_aside: bool = False,
) -> tuple[Any | None, ValidationReport] | tuple[Any | None, ValidationReport, Any | None]:
    """Check a Spark DataFrame against the contract ``table``, every row of it.

    The Spark counterpart of :func:`clvml.data.validation.check_table`: the same rules and
    policies, run by ``check_table`` itself on buckets of customers (see the module
    docstring), and the same report.

    Parameters
    ----------
    frame : pyspark.sql.DataFrame
        The table as read (e.g. by :func:`clvml.spark.io.read_tables`). Spark timestamps
        are read as the naive wall-clock values of the session time zone (UTC in sessions
        of :func:`clvml.spark.session.get_spark`), i.e. like naive pandas timestamps:
        ``tz`` applies to them.
    table : {"transactions", "engagement", "customers"}
        Which contract to check against.
    returns, duplicates, invalid, now, tz, timestamp_format
        As in :func:`clvml.data.validation.validate_transactions` (``returns`` only
        applies to transactions). ``now`` (default: the current time) is fixed once on
        the driver, so every bucket compares with the same instant.
    n_buckets : int, optional
        Customer buckets (groups handed to pandas; each must fit in a Python worker's
        memory). Default: ``spark.sql.shuffle.partitions``. Rows with a missing or blank
        ``customer_id`` form one more bucket.
    source : str, optional
        Where the data came from, recorded in the report.
    with_set_aside : bool, default False
        Also return the set-aside rows as a Spark frame (third item). Off, the result is
        the pair of earlier versions.

    Returns
    -------
    frame : pyspark.sql.DataFrame or None
        The cleaned rows, unordered, or None when the report has errors (as
        ``check_table``). Contract columns have the contract's types (``customer_id``
        and other ids string, timestamps as Spark timestamps holding naive UTC values,
        amounts double, counts long, flags boolean, categories lower-cased strings);
        other columns keep their types (floating-point NaN comes back as null). The rows
        are read from a local checkpoint of the validation pass (computed once, released
        when the frame is garbage-collected); like any local checkpoint it does not
        survive the loss of an executor, so persist or write the frame when that matters.
    report : ValidationReport
        Rows read and kept and every rule that fired, with counts (summed over the
        buckets) and one example each. ``set_aside`` is empty: set-aside rows are counted
        in the outcomes, not collected.
    set_aside : pyspark.sql.DataFrame or None
        Only with ``with_set_aside=True``: one row per input row set aside, with
        ``customer_id`` (string: the id as the input wrote it, as ``str`` of the pandas
        value -- not stripped -- null when missing), ``rule`` (the rule that set it
        aside, as in :attr:`ValidationReport.set_aside`) and ``row`` (long: the row's
        ``monotonically_increasing_id`` in the input, its position when the input has
        one partition). Read from the same checkpoint as the cleaned rows, nothing is
        collected. None when the report has errors (as ``frame``).

    Raises
    ------
    ValueError
        Unknown ``table``, policy, time zone or ``now``; a column named ``__clvml_*``.

    Examples
    --------
    >>> from clvml.spark.session import get_spark
    >>> spark = get_spark()  # doctest: +SKIP
    >>> tx = spark.createDataFrame(  # doctest: +SKIP
    ...     [("a", "2024-01-02", 5.0), ("a", "2024-01-02", -2.0), (None, "2024-01-03", 1.0)],
    ...     "customer_id string, timestamp string, amount double",
    ... )
    >>> clean, report = validate_table(  # doctest: +SKIP
    ...     tx, "transactions", returns="net", invalid="drop", now="2024-02-01"
    ... )
    >>> for o in report.outcomes:  # doctest: +SKIP
    ...     print(o.rule, o.n_rows, o.action)
    missing_id 1 set aside
    return_netted 1 set aside
    purchase_reduced 1 adjusted
    >>> clean.collect()  # doctest: +SKIP
    [Row(customer_id='a', timestamp=datetime.datetime(2024, 1, 2, 0, 0), amount=3.0)]
    """
    require_pyspark()
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if table not in CONTRACTS:
        raise ValueError(f"table={table!r}; expected one of {', '.join(CONTRACTS)}")
    Options(returns, duplicates, invalid, now, tz, timestamp_format)  # checks the policies
    contract = CONTRACTS[table]
    tz = cols.resolve_tz(tz)
    now_utc = cols.resolve_now(now, tz).tz_localize("UTC")  # aware: not read in tz again
    if n_buckets is not None and n_buckets < 1:
        raise ValueError(f"n_buckets={n_buckets!r}; expected a positive number")

    reserved = [c for c in frame.columns if c.startswith("__clvml_")]
    if reserved:
        raise ValueError(f"columns {reserved} use the prefix '__clvml_' reserved for validation")
    failed = _structure_report(frame, contract, invalid, source)
    if failed is not None:
        return (None, failed, None) if with_set_aside else (None, failed)

    names = list(frame.columns)
    kinds = {c.name: c.kind for c in contract.columns}
    restore: dict[str, Any] = {}  # integral extra columns travel as text (no float64 detour)
    select = []
    fields = []
    for field in frame.schema.fields:
        name, dtype = field.name, field.dataType
        column = _col(name)
        if name in kinds:
            if kinds[name] == "id" and _is_integral(dtype):
                column = column.cast("string")
            out_type = _spark_type(kinds[name])
        elif _is_integral(dtype):
            column, out_type = column.cast("string"), T.StringType()
            restore[name] = dtype
        else:
            out_type = dtype
        select.append(column.alias(name))
        fields.append(T.StructField(name, out_type, True))
    schema = T.StructType(
        [
            *fields,
            T.StructField(_IS_DATA, T.BooleanType(), True),
            T.StructField(_REPORT, T.BinaryType(), True),
            *(
                [
                    T.StructField(_ASIDE_ID, T.StringType(), True),
                    T.StructField(_ASIDE_RULE, T.StringType(), True),
                    T.StructField(_ASIDE_ROW, T.LongType(), True),
                ]
                if with_set_aside
                else []
            ),
        ]
    )
    float_text = _floating_ids_as_text(frame, contract)
    buckets = n_buckets or int(frame.sparkSession.conf.get("spark.sql.shuffle.partitions"))
    key = _bucket_key(frame)
    bucket = F.when(key.isNull(), F.lit(buckets)).otherwise(F.pmod(F.xxhash64(key), F.lit(buckets)))
    kw = dict(
        returns=returns,
        duplicates=duplicates,
        invalid=invalid,
        now=now_utc,
        tz=tz,
        timestamp_format=timestamp_format,
    )
    checked = (
        frame.select(
            *select,
            F.monotonically_increasing_id().alias(_ROW),
            bucket.cast("int").alias(_BUCKET),
        )
        .groupBy(_BUCKET)
        .applyInPandas(_bucket_checker(table, kw, names, float_text, with_set_aside), schema)
        .localCheckpoint(eager=True)
    )
    rows = checked.where(F.col(_REPORT).isNotNull()).select(_REPORT).collect()
    payloads = sorted((pickle.loads(r[0]) for r in rows), key=lambda p: p["bucket"])
    if not payloads:
        empty = _empty_report(contract, names, invalid, source, 0)
        return (None, empty, None) if with_set_aside else (None, empty)
    report = _merge(contract, payloads, source)
    if not report.ok:
        return (None, report, None) if with_set_aside else (None, report)
    clean = checked.where(F.col(_IS_DATA)).select(
        *[(_col(n).cast(restore[n]) if n in restore else _col(n)).alias(n) for n in names]
    )
    if not with_set_aside:
        return clean, report
    aside = checked.where(F.col(_ASIDE_RULE).isNotNull()).select(
        F.col(_ASIDE_ID).alias("customer_id"),
        F.col(_ASIDE_RULE).alias("rule"),
        F.col(_ASIDE_ROW).alias("row"),
    )
    return clean, report, aside


def validate_or_raise(
    frame: Any,
    table: str,
    *,
    returns: Returns = "error",
    duplicates: Duplicates = "error",
    invalid: Invalid = "error",
    now: object = None,
    tz: str = "UTC",
    timestamp_format: str | None = None,
    n_buckets: int | None = None,
    source: str | None = None,
) -> Any:
    """The cleaned Spark frame of :func:`validate_table`, or its first error raised.

    The strict form, like :func:`clvml.data.validation.validate_transactions` and friends
    (which raise at the first rule broken; this checks every rule first, and the message
    says how many others fail too).

    Parameters
    ----------
    frame, table, returns, duplicates, invalid, now, tz, timestamp_format, n_buckets, source
        As in :func:`validate_table`.

    Returns
    -------
    pyspark.sql.DataFrame
        The cleaned rows.

    Raises
    ------
    DataValidationError
        When a rule fails with ``"error"`` (:meth:`ValidationReport.raise_for_errors`).
    ValueError
        Unknown ``table``, policy, time zone or ``now``.
    """
    clean, report = validate_table(
        frame,
        table,
        returns=returns,
        duplicates=duplicates,
        invalid=invalid,
        now=now,
        tz=tz,
        timestamp_format=timestamp_format,
        n_buckets=n_buckets,
        source=source,
    )
    report.raise_for_errors()
    assert clean is not None  # no error, so a frame
    return clean
