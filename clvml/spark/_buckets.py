"""The per-bucket half of :mod:`clvml.spark.validate` (private).

The rows of a Spark table are hash-bucketed by ``customer_id`` and every bucket is
checked by :func:`clvml.data.validation.check_table` itself (:func:`_bucket_checker`,
run by ``groupBy(bucket).applyInPandas``). A bucket returns its cleaned rows, optionally
its set-aside rows, and on its first row its report: the bucket's
:class:`~clvml.data.report.RuleOutcome` records (as tuples of their fields, in field
order) and, per text timestamp column, the counts the driver needs to decide
``mixed_time_zones`` on the whole column. :mod:`clvml.spark._merge` merges them.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from clvml.data import _columns as cols
from clvml.data._engine import Run, _structure
from clvml.data.contracts import CONTRACTS, Contract
from clvml.data.policy import ValidationPolicy
from clvml.data.report import ValidationReport
from clvml.data.validation import check_table

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
    policy: ValidationPolicy | Mapping[str, Any],
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
    if not isinstance(policy, ValidationPolicy):
        policy = ValidationPolicy(**policy)

    def check(pdf: pd.DataFrame) -> pd.DataFrame:
        bucket = int(pdf[_BUCKET].iat[0])
        pdf = pdf.sort_values(_ROW, kind="stable")
        data = pdf[names].set_axis(pd.Index(pdf[_ROW].tolist(), dtype=object), axis=0)
        for name in float_text:  # as parse_ids reads a column that is not all whole
            data[name] = data[name].astype("str").where(data[name].notna())
        offsets = _offset_counts(data, contract, policy.invalid)
        clean, report = check_table(data, table, policy)
        payload = pickle.dumps(
            {
                "bucket": bucket,
                "rows_read": report.rows_read,
                "rows_kept": report.rows_kept,
                "outcomes": [
                    tuple(getattr(o, f.name) for f in dataclasses.fields(o))
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
