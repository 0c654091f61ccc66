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
and the cleaned rows are read back from the checkpoint. The bucket runner is
:mod:`clvml.spark._buckets`, the report merge :mod:`clvml.spark._merge`.

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
bucket where the rule fired; the merge works on the buckets' structured outcomes
(:class:`~clvml.data.report.RuleOutcome`: rows and totals are summed; the refund total of
``return_unmatched`` is the sum of the buckets' ``total``, its message written again from
it), never on numbers read back from message text. Examples that name a row (``"row 12"``) give its
``monotonically_increasing_id`` in the input (its position when the input has one
partition). :attr:`ValidationReport.set_aside` stays empty: the set-aside rows are never
collected to the driver. With ``with_set_aside=True`` they come back as a third, lazy Spark
frame (``customer_id`` as the input wrote it, ``rule``, ``row``: the
``monotonically_increasing_id`` label above), written by the buckets next to the cleaned
rows in the same checkpoint, e.g. for a quarantine table (:mod:`clvml.spark.job`).
"""

from __future__ import annotations

import pickle
from typing import Any, Literal, Unpack, overload

from clvml.data import _columns as cols
from clvml.data.contracts import CONTRACTS
from clvml.data.policy import PolicyKeywords, ValidationPolicy, resolve_policy
from clvml.data.report import ValidationReport
from clvml.spark._buckets import (
    _ASIDE_ID,
    _ASIDE_ROW,
    _ASIDE_RULE,
    _BUCKET,
    _IS_DATA,
    _REPORT,
    _ROW,
    _bucket_checker,
    _bucket_key,
    _col,
    _empty_report,
    _floating_ids_as_text,
    _is_integral,
    _spark_type,
    _structure_report,
)
from clvml.spark._merge import _merge
from clvml.spark.session import require_pyspark

__all__ = ["validate_or_raise", "validate_table"]


@overload
def validate_table(
    frame: Any,
    table: str,
    policy: ValidationPolicy | None = None,
    *,
    n_buckets: int | None = None,
    source: str | None = None,
    with_set_aside: Literal[False] = False,
    **keywords: Unpack[PolicyKeywords],
) -> tuple[Any | None, ValidationReport]: ...


@overload
def validate_table(
    frame: Any,
    table: str,
    policy: ValidationPolicy | None = None,
    *,
    n_buckets: int | None = None,
    source: str | None = None,
    with_set_aside: Literal[True],
    **keywords: Unpack[PolicyKeywords],
) -> tuple[Any | None, ValidationReport, Any | None]: ...


def validate_table(
    frame: Any,
    table: str,
    policy: ValidationPolicy | None = None,
    *,
    n_buckets: int | None = None,
    source: str | None = None,
    with_set_aside: bool = False,
    **keywords: Unpack[PolicyKeywords],
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
    policy : ValidationPolicy, optional
        As in :func:`clvml.data.validation.check_table` (``returns`` only applies to
        transactions). Its ``now`` (default: the current time) is fixed once on the
        driver, so every bucket compares with the same instant.
    n_buckets : int, optional
        Customer buckets (groups handed to pandas; each must fit in a Python worker's
        memory). Default: ``spark.sql.shuffle.partitions``. Rows with a missing or blank
        ``customer_id`` form one more bucket.
    source : str, optional
        Where the data came from, recorded in the report.
    with_set_aside : bool, default False
        Also return the set-aside rows as a Spark frame (third item). Off, the result is
        the pair of earlier versions.
    **keywords
        The policy's fields as keywords, a convenience (they build, or override, it).

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
    if table == "subscriptions":  # its own rules (ends, overlaps) have no Spark version yet
        raise ValueError(
            "the Spark engine does not check subscriptions (end before start, overlapping "
            "spells); validate them with clvml.data.validation.validate_subscriptions"
        )
    require_pyspark()
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if table not in CONTRACTS:
        raise ValueError(f"table={table!r}; expected one of {', '.join(CONTRACTS)}")
    policy = resolve_policy(policy, **keywords)
    invalid = policy.invalid
    contract = CONTRACTS[table]
    tz = cols.resolve_tz(policy.tz)
    now_utc = cols.resolve_now(policy.now, tz).tz_localize("UTC")  # aware: not read in tz again
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
    bucket_policy = resolve_policy(policy, now=now_utc, tz=tz)
    checked = (
        frame.select(
            *select,
            F.monotonically_increasing_id().alias(_ROW),
            bucket.cast("int").alias(_BUCKET),
        )
        .groupBy(_BUCKET)
        .applyInPandas(
            _bucket_checker(table, bucket_policy, names, float_text, with_set_aside), schema
        )
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
    policy: ValidationPolicy | None = None,
    *,
    n_buckets: int | None = None,
    source: str | None = None,
    **keywords: Unpack[PolicyKeywords],
) -> Any:
    """The cleaned Spark frame of :func:`validate_table`, or its first error raised.

    The strict form, like :func:`clvml.data.validation.validate_transactions` and friends
    (which raise at the first rule broken; this checks every rule first, and the message
    says how many others fail too).

    Parameters
    ----------
    frame, table, policy, n_buckets, source, **keywords
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
        frame, table, resolve_policy(policy, **keywords), n_buckets=n_buckets, source=source
    )
    report.raise_for_errors()
    assert clean is not None  # no error, so a frame
    return clean
