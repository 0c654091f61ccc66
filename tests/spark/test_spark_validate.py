"""Spark validation (clvml.spark.validate) equals the pandas check_table on the same rows."""

from __future__ import annotations

import itertools
import pickle
import re
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from clvml.data.validation import check_table
from clvml.exceptions import DataValidationError

pytestmark = pytest.mark.spark

NOW = "2025-01-01"
LATER = "2030-01-01"  # after the social data
N_BUCKETS = 7
_UNNETTED = re.compile(r"\((\S+) in refunds left unnetted\)")


def _dirty_transactions(seed: int = 0) -> pd.DataFrame:
    """Purchases of 200 customers with every row problem of the transactions contract."""
    rng = np.random.default_rng(seed)
    n = 1500
    ids = np.array([f"c{i:03d}" for i in rng.integers(0, 200, n)], dtype=object)
    days = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D")
    # few distinct times of day: same-day purchases, some at the very same instant
    ts = days + pd.to_timedelta(rng.choice([9, 12, 18], n), unit="h")
    tx = pd.DataFrame(
        {
            "customer_id": ids,
            "timestamp": ts.strftime("%Y-%m-%d %H:%M:%S").to_numpy(dtype=object),
            "amount": np.round(rng.gamma(2.0, 15.0, n), 2),
            "channel": rng.choice(["web", "store"], n).astype(object),
        }
    )
    # same-day refunds: full, partial, larger than the day's purchases; and unmatched ones
    buys = tx.sample(120, random_state=seed)
    refunds = buys.assign(amount=-np.round(buys["amount"] * rng.choice([1.0, 0.5, 1.7], 120), 2))
    orphans = tx.sample(15, random_state=seed + 1).assign(
        amount=-5.0, timestamp="2023-06-01 10:00:00"
    )
    dups = tx.sample(40, random_state=seed + 2)
    rows = [tx, refunds, orphans, dups]
    # a customer id written with white space is the same customer (and duplicate rows)
    spaced = tx.sample(30, random_state=seed + 3)
    rows.append(spaced.assign(customer_id=" " + spaced["customer_id"] + "\t"))
    bad = tx.sample(60, random_state=seed + 4).reset_index(drop=True)
    bad.loc[0:9, "customer_id"] = None
    bad.loc[10:14, "customer_id"] = "  "
    bad.loc[15:24, "timestamp"] = ["not a date", "2024-13-45", "", None, "31/12/2024"] * 2
    bad.loc[25:34, "timestamp"] = "2030-01-01 00:00:00"  # after now
    bad.loc[35:39, "amount"] = np.nan
    bad.loc[40:44, "amount"] = -np.inf
    rows.append(bad)
    out = pd.concat(rows, ignore_index=True)
    return out.iloc[rng.permutation(len(out))].reset_index(drop=True)


def _outcomes(report) -> list[tuple]:
    return [(o.rule, o.column, o.n_rows, o.action) for o in report.outcomes]


def _value(v: object) -> str:
    """One value as comparable text: exact for big integers, timestamps to the microsecond."""
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v)):
        return "null"
    if isinstance(v, datetime | np.datetime64):
        return pd.Timestamp(v).as_unit("us").isoformat()
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        return repr(float(v))
    return repr(str(v))


def _rows(frame) -> list[tuple[str, ...]]:
    """The rows of a pandas or Spark frame as sorted tuples of text (Spark rows collected
    as Python objects: ``toPandas`` would turn long columns with nulls into floats)."""
    if isinstance(frame, pd.DataFrame):
        rows = frame.astype(object).itertuples(index=False)
    else:
        rows = frame.collect()
    return sorted(tuple(_value(v) for v in row) for row in rows)


def _assert_parity(pdf: pd.DataFrame, sdf, table: str, **kw) -> None:
    from clvml.spark.validate import validate_table

    expected, want = check_table(pdf, table, **kw)
    got, report = validate_table(sdf, table, n_buckets=N_BUCKETS, **kw)
    assert (report.table, report.rows_read, report.rows_kept) == (
        want.table,
        want.rows_read,
        want.rows_kept,
    )
    assert _outcomes(report) == _outcomes(want)
    assert report.rows_read == report.rows_kept + report.rows_set_aside
    for o, w in zip(report.outcomes, want.outcomes, strict=True):
        if o.rule == "return_unmatched":  # a sum of the buckets' totals, each in cents
            got_left, want_left = (
                float(_UNNETTED.search(x.message).group(1).replace(",", "")) for x in (o, w)
            )
            assert got_left == pytest.approx(want_left, abs=0.005 * (N_BUCKETS + 1))
            assert _UNNETTED.sub("", o.message) == _UNNETTED.sub("", w.message)
        else:
            assert o.message == w.message
    if expected is None:
        assert got is None
        return
    assert got is not None
    assert got.columns == list(expected.columns)
    assert _rows(got) == _rows(expected)


@pytest.fixture(scope="module")
def transactions(spark):
    pdf = _dirty_transactions()
    return pdf, spark.createDataFrame(pdf)


@pytest.mark.parametrize(
    ("returns", "duplicates", "invalid"),
    list(itertools.product(("error", "drop", "net"), ("error", "drop", "keep"), ("error", "drop"))),
)
def test_transactions_equal_pandas(transactions, returns, duplicates, invalid):
    pdf, sdf = transactions
    _assert_parity(
        pdf, sdf, "transactions", returns=returns, duplicates=duplicates, invalid=invalid, now=NOW
    )


def test_transactions_fixture_is_dirty(transactions):
    """The parity above covers every rule it claims to."""
    pdf, _ = transactions
    _, report = check_table(
        pdf, "transactions", returns="net", duplicates="drop", invalid="drop", now=NOW
    )
    rules = {o.rule for o in report.outcomes}
    assert rules >= {
        "missing_id",
        "missing_timestamp",
        "unparseable_timestamp",
        "future_timestamp",
        "missing_value",
        "not_numeric",
        "duplicate_row",
        "return_netted",
        "return_unmatched",
        "purchase_refunded",
        "purchase_reduced",
    }


def test_same_report_whatever_the_buckets(transactions):
    from clvml.spark.validate import validate_table

    _, sdf = transactions
    kw = dict(returns="net", duplicates="drop", invalid="drop", now=NOW)
    reports = [validate_table(sdf, "transactions", n_buckets=b, **kw)[1] for b in (1, 3, 16)]
    for r in reports[1:]:
        assert (r.rows_read, r.rows_kept) == (reports[0].rows_read, reports[0].rows_kept)
        assert _outcomes(r) == _outcomes(reports[0])
    again = validate_table(sdf, "transactions", n_buckets=16, **kw)[1]
    assert again.outcomes == reports[2].outcomes  # messages and examples too: deterministic


def test_buckets_are_checked_in_input_order():
    """Which of two same-instant purchases a refund reduces first depends on the row order:
    a bucket sorts its rows back into input order, whatever order the shuffle delivers."""
    from clvml.spark.validate import _BUCKET, _REPORT, _ROW, _bucket_checker

    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a"],
            "timestamp": ["2024-01-02 10:00:00"] * 3,
            "amount": [10.0, 20.0, -15.0],
        }
    )
    kw = dict(
        returns="net", duplicates="error", invalid="error", now=NOW, tz="UTC", timestamp_format=None
    )
    _, want = check_table(tx, "transactions", **kw)
    _, other = check_table(tx.iloc[[1, 0, 2]], "transactions", **kw)
    assert _outcomes(other) != _outcomes(want)  # the order matters
    for order in ([0, 1, 2], [2, 1, 0], [1, 0, 2]):
        shuffled = tx.assign(**{_ROW: [10, 11, 12], _BUCKET: 3}).iloc[order]
        out = _bucket_checker("transactions", kw, list(tx.columns), [])(shuffled)
        report = pickle.loads(out[_REPORT].dropna().iloc[0])
        assert [tuple(o[:4]) for o in report["outcomes"]] == _outcomes(want)


def test_mixed_time_zones_decided_on_the_whole_column(spark):
    # customers c0..c9 write offsets, c10..c29 do not: no bucket may see both kinds
    rng = np.random.default_rng(1)
    ids = [f"c{i}" for i in rng.integers(0, 30, 400)]
    ts = ["2024-03-01T10:00:00+01:00" if int(i[1:]) < 10 else "2024-03-01 10:00:00" for i in ids]
    pdf = pd.DataFrame({"customer_id": ids, "timestamp": ts, "amount": 1.0})
    pdf.loc[:5, "customer_id"] = None  # set aside first under invalid="drop"
    pdf.loc[0, "timestamp"] = "2024-03-01T10:00:00Z"
    sdf = spark.createDataFrame(pdf)
    for invalid in ("error", "drop"):
        _assert_parity(pdf, sdf, "transactions", invalid=invalid, duplicates="keep", now=NOW)
        from clvml.spark.validate import validate_table

        _, report = validate_table(
            sdf, "transactions", invalid=invalid, duplicates="keep", now=NOW, n_buckets=N_BUCKETS
        )
        _, want = check_table(pdf, "transactions", invalid=invalid, duplicates="keep", now=NOW)
        mixed = [o.message for o in report.outcomes if o.rule == "mixed_time_zones"]
        assert mixed == [o.message for o in want.outcomes if o.rule == "mixed_time_zones"]
        assert len(mixed) == 1


def test_local_time_zone_and_numeric_ids(spark):
    """Naive times read in ``tz`` (a DST gap), integer ids with gaps, float ids."""
    rng = np.random.default_rng(2)
    n = 300
    base = pd.DataFrame(
        {
            "timestamp": pd.Timestamp("2024-03-30")
            + pd.to_timedelta(rng.integers(0, 3 * 24 * 60, n), unit="min"),
            "amount": np.round(rng.gamma(2.0, 10.0, n), 2),
            "order_id": pd.array(rng.integers(2**60, 2**60 + 50, n), dtype="Int64"),
            "batch": pd.array(rng.integers(2**62, 2**62 + 9, n), dtype="Int64"),
        }
    )
    base.loc[::17, "order_id"] = pd.NA
    base.loc[::23, "batch"] = pd.NA
    int_ids = base.assign(customer_id=pd.array(rng.integers(0, 40, n), dtype="Int64"))
    int_ids.loc[::31, "customer_id"] = pd.NA
    whole = base.assign(customer_id=rng.integers(0, 40, n).astype(float))
    whole.loc[::29, "customer_id"] = np.nan
    frac = whole.copy()
    frac.loc[1, "customer_id"] = 2.5  # now no id of the column loses its ".0"
    for pdf in (int_ids, whole, frac):
        sdf = spark.createDataFrame(pdf)
        for invalid in ("error", "drop"):
            _assert_parity(
                pdf,
                sdf,
                "transactions",
                invalid=invalid,
                duplicates="keep",
                tz="Europe/Madrid",
                now=NOW,
            )


def _dirty_engagement(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 1200
    ev = pd.DataFrame(
        {
            "customer_id": np.array([f"u{i}" for i in rng.integers(0, 150, n)], dtype=object),
            "timestamp": (
                pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D")
            )
            .strftime("%Y-%m-%d")
            .to_numpy(dtype=object),
            "channel": rng.choice(
                ["twitter", " Email ", "web", "myspace"], n, p=[0.4, 0.3, 0.28, 0.02]
            ),
            "kind": rng.choice(["reply", "like", "shout"], n, p=[0.5, 0.48, 0.02]),
            "direction": rng.choice(["inbound", "outbound", "sideways"], n, p=[0.6, 0.39, 0.01]),
            "text": rng.choice(["great", "awful", None], n),
            "language": rng.choice(["en", "es", "fr", None], n, p=[0.5, 0.3, 0.02, 0.18]),
            "reach": rng.choice(
                ["3", "0", "-1", "2.5", "many", None], n, p=[0.5, 0.4, 0.02, 0.02, 0.02, 0.04]
            ),
            "resolved": rng.choice(["true", "no", "maybe", None], n, p=[0.3, 0.3, 0.02, 0.38]),
        }
    ).astype(object)
    dups = ev.sample(30, random_state=seed)
    bad = ev.sample(20, random_state=seed + 1).reset_index(drop=True)
    bad.loc[0:4, "customer_id"] = None
    bad.loc[5:9, "timestamp"] = "2031-05-05"
    bad.loc[10:14, "channel"] = None
    out = pd.concat([ev, dups, bad], ignore_index=True)
    return out.iloc[rng.permutation(len(out))].reset_index(drop=True)


@pytest.fixture(scope="module")
def engagement(spark):
    pdf = _dirty_engagement()
    return pdf, spark.createDataFrame(pdf)


@pytest.mark.parametrize(
    ("duplicates", "invalid"),
    list(itertools.product(("error", "drop", "keep"), ("error", "drop"))),
)
def test_engagement_equals_pandas(engagement, duplicates, invalid):
    pdf, sdf = engagement
    _assert_parity(pdf, sdf, "engagement", duplicates=duplicates, invalid=invalid, now=NOW)


def _dirty_customers(seed: int = 0, *, duplicate_ids: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 400
    cu = pd.DataFrame(
        {
            "customer_id": [f"k{i}" for i in range(n)],
            "acquisition_date": (
                pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 600, n), unit="D")
            ).strftime("%Y-%m-%d"),
            "acquisition_channel": rng.choice(
                ["paid_search", "referral", " "], n, p=[0.5, 0.48, 0.02]
            ),
            "acquisition_cost": np.round(rng.normal(20.0, 15.0, n), 2),
            "segment": rng.choice(["a", "b", None], n),
            "control_group": rng.choice(["yes", "0", "maybe", None], n, p=[0.3, 0.6, 0.05, 0.05]),
        }
    ).astype(object)
    cu.loc[::50, "customer_id"] = None
    cu.loc[3::70, "acquisition_date"] = "2029-01-01"
    parts = [cu, cu.sample(12, random_state=seed)]  # exact duplicate rows
    if duplicate_ids:  # the same id on a different row
        parts.append(cu.sample(8, random_state=seed + 1).assign(segment="z"))
    out = pd.concat(parts, ignore_index=True)
    return out.iloc[rng.permutation(len(out))].reset_index(drop=True)


@pytest.mark.parametrize("duplicate_ids", [True, False])
@pytest.mark.parametrize(
    ("duplicates", "invalid"), [("error", "error"), ("drop", "drop"), ("keep", "drop")]
)
def test_customers_equal_pandas(spark, duplicate_ids, duplicates, invalid):
    pdf = _dirty_customers(duplicate_ids=duplicate_ids)
    _assert_parity(
        pdf,
        spark.createDataFrame(pdf),
        "customers",
        duplicates=duplicates,
        invalid=invalid,
        now=NOW,
    )
    if duplicate_ids:  # always an error, whatever the policies
        _, want = check_table(pdf, "customers", duplicates=duplicates, invalid=invalid, now=NOW)
        assert "duplicate_id" in {o.rule for o in want.errors}


def test_social_tables_validate_clean(spark):
    from clvml.data.datasets import data_path
    from clvml.spark.io import read_tables
    from clvml.spark.validate import validate_table

    folder = data_path("social/metadata.json").parent
    tables = read_tables(spark, str(folder))
    assert set(tables) == {"transactions", "engagement", "customers"}
    for name, sdf in tables.items():
        pdf = pd.read_parquet(folder / f"{name}.parquet")
        expected, want = check_table(pdf, name, now=LATER)
        got, report = validate_table(sdf, name, now=LATER, source=name)
        assert report.outcomes == [] == want.outcomes
        assert report.rows_read == report.rows_kept == want.rows_kept == len(pdf)
        assert report.source == name
        assert _rows(got) == _rows(expected)


def test_whole_table_rules_come_out_once(spark):
    from clvml.spark.validate import validate_table

    pdf = _dirty_transactions().drop(columns="amount")
    sdf = spark.createDataFrame(pdf)
    got, report = validate_table(sdf, "transactions", n_buckets=N_BUCKETS, now=NOW)
    _, want = check_table(pdf, "transactions", now=NOW)
    assert got is None
    assert report.outcomes == want.outcomes  # one missing_column, message and all
    assert (report.rows_read, report.rows_kept) == (want.rows_read, want.rows_kept)

    empty = sdf.limit(0)
    got, report = validate_table(empty, "transactions", now=NOW)
    _, want = check_table(pdf.iloc[:0], "transactions", now=NOW)
    assert got is None
    assert report.outcomes == want.outcomes
    assert [o.rule for o in report.outcomes] == ["empty"]


def test_validate_or_raise(transactions):
    from clvml.spark.validate import validate_or_raise

    _, sdf = transactions
    with pytest.raises(DataValidationError, match="table transactions") as info:
        validate_or_raise(sdf, "transactions", now=NOW, n_buckets=N_BUCKETS)
    assert info.value.column == "customer_id"
    clean = validate_or_raise(
        sdf.where("customer_id is not null"),
        "transactions",
        returns="net",
        duplicates="drop",
        invalid="drop",
        now=NOW,
    )
    assert clean.count() > 0
    with pytest.raises(ValueError, match="returns="):
        validate_or_raise(sdf, "transactions", returns="refund")


def _full(o) -> tuple:
    return (o.rule, o.column, o.n_rows, o.action, o.message, o.example)


@pytest.mark.parametrize(
    ("table", "kw"),
    [
        ("transactions", dict(returns="net", duplicates="drop")),
        ("transactions", dict(returns="drop", duplicates="keep")),
        ("engagement", dict(duplicates="drop")),
        ("customers", dict(duplicates="drop")),
    ],
)
def test_set_aside_rows_equal_pandas(spark, transactions, engagement, table, kw):
    """``with_set_aside=True``: the set-aside rows (id, rule, row label) are the pandas
    ``report.set_aside`` rows; the frame and the report are those of the pair form."""
    from clvml.spark.validate import validate_table

    if table == "transactions":
        pdf = transactions[0]
    elif table == "engagement":
        pdf = engagement[0]
    else:
        pdf = _dirty_customers(duplicate_ids=False)
    sdf = spark.createDataFrame(pdf).coalesce(1)  # one partition: labels are positions
    kw = dict(kw, invalid="drop", now=NOW)
    _, want = check_table(pdf, table, **kw)
    assert want.rows_set_aside > 0  # the fixture is dirty
    clean, report, aside = validate_table(
        sdf, table, n_buckets=N_BUCKETS, with_set_aside=True, **kw
    )
    pair_clean, pair_report = validate_table(sdf, table, n_buckets=N_BUCKETS, **kw)
    assert [o[:5] for o in map(_full, report.outcomes)] == [
        o[:5] for o in map(_full, pair_report.outcomes)
    ]
    assert report.ok
    assert _rows(clean) == _rows(pair_clean)
    assert aside.columns == ["customer_id", "rule", "row"]
    expected = sorted(
        ("\0" if pd.isna(c) else str(c), r, int(i))
        for c, r, i in zip(
            want.set_aside["customer_id"],
            want.set_aside["rule"],
            want.set_aside.index,
            strict=True,
        )
    )
    got = sorted((r["customer_id"] or "\0", r["rule"], r["row"]) for r in aside.collect())
    assert got == expected
    assert report.set_aside.empty


def test_set_aside_is_none_on_errors(transactions):
    from clvml.spark.validate import validate_table

    _, sdf = transactions
    clean, report, aside = validate_table(sdf, "transactions", now=NOW, with_set_aside=True)
    assert not report.ok and clean is None and aside is None
