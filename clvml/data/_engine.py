"""The rule engine behind :mod:`clvml.data.validation` (private).

:class:`Run` holds one table while its contract's rules run: it raises at the
first error (``validate_*``) or collects every outcome (``check_table``), and
tracks which rows are set aside so the report's counts add up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection
from typing import Any

import numpy as np
import pandas as pd

from clvml.data import _columns as cols
from clvml.data.contracts import (
    CONTRACTS,
    CUSTOMERS,
    MAX_COLUMNS,
    SUBSCRIPTIONS,
    TRANSACTIONS,
    Contract,
)
from clvml.data.policy import ValidationPolicy
from clvml.data.report import Action, RuleOutcome, ValidationReport
from clvml.exceptions import DataValidationError

_EXAMPLE_CHARS = 60


def _example(values: pd.Series, mask: np.ndarray) -> object:
    """The first value of ``values`` where ``mask`` holds, as a plain Python object."""
    v = values.iloc[int(np.flatnonzero(mask)[0])]
    if isinstance(v, pd.Timestamp):
        return str(v)
    if isinstance(v, str) and len(v) > _EXAMPLE_CHARS:  # a 20,000-character id: its start
        return f"{v[:_EXAMPLE_CHARS]}... ({len(v):,} characters)"
    return v.item() if isinstance(v, np.generic) else v


def no_rows_left_message(table: str, n_rows: int) -> str:
    """The message of ``no_rows_left``: every one of ``n_rows`` rows was set aside."""
    return f"of {n_rows} set aside; no {table} left to use"


def unmatched_returns_message(total: float) -> str:
    """The message of ``return_unmatched``, stating the ``total`` of refunds left unnetted."""
    return (
        "are returns or refunds with no same-day purchase to net against "
        f"({total:,.2f} in refunds left unnetted); set aside"
    )


def _is_blank(v: object) -> bool:
    if isinstance(v, str):
        return not v.strip()
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v))


class Run:
    """Applies the rules to one table: raises at the first error, or collects them all."""

    def __init__(
        self, contract: Contract, data: object, *, collect: bool, invalid: str, source: str | None
    ) -> None:
        if not isinstance(data, pd.DataFrame):
            raise DataValidationError(
                f"expected a pandas DataFrame of {contract.name}, got {type(data).__name__}"
            )
        self.contract = contract
        self.collect = collect
        self.invalid = invalid
        self.index = data.index
        self.raw = data.reset_index(drop=True)
        self.frame = self.raw.copy()
        self.keep = np.ones(len(data), dtype=bool)
        self.aside: list[tuple[np.ndarray, str]] = []
        self.report = ValidationReport(contract.name, len(data), len(data), source=source)

    def error(
        self, rule: str, column: str | None, n_rows: int | None, message: str, example: Any = None
    ) -> None:
        outcome = RuleOutcome(rule, column, int(n_rows or 0), "error", message, example)
        if not self.collect:
            raise DataValidationError(message, column=column, n_rows=n_rows, example=example)
        self.report.outcomes.append(outcome)

    def problem(self, column: str, p: cols.Problem) -> None:
        """Handle a parser problem: an error, or rows set aside under ``invalid="drop"``."""
        mask = p.mask & self.keep
        n = int(mask.sum())
        if not n:
            return
        if p.note:  # kept with an adjusted value; the row, not the (long) value, as example
            row = f"row {self.index[int(np.flatnonzero(mask)[0])]!r}"
            self.note(p.rule, column, mask, "adjusted", p.message, row)
            return
        example = _example(self.raw[column], mask)
        if _is_blank(example):  # a blank says nothing; name the row instead
            example = f"row {self.index[int(np.flatnonzero(mask)[0])]!r}"
        if p.row_level and self.invalid == "drop":
            self.set_aside(
                p.rule, column, mask, f"{p.message}; set aside (--invalid drop)", example
            )
        else:
            self.error(p.rule, column, n, p.message, example)

    def set_aside(
        self,
        rule: str,
        column: str | None,
        mask: np.ndarray,
        message: str,
        example: Any,
        total: float | None = None,
    ) -> None:
        mask = mask & self.keep
        n = int(mask.sum())
        if n:
            self.report.outcomes.append(
                RuleOutcome(rule, column, n, "set aside", message, example, total)
            )
            self.aside.append((mask, rule))
            self.keep &= ~mask

    def note(
        self,
        rule: str,
        column: str | None,
        mask: np.ndarray,
        action: Action,
        message: str,
        example: Any,
    ) -> None:
        n = int((mask & self.keep).sum())
        if n:
            self.report.outcomes.append(RuleOutcome(rule, column, n, action, message, example))

    def row_example(self, mask: np.ndarray) -> dict[str, object]:
        i = int(np.flatnonzero(mask)[0])
        names = [c.name for c in self.contract.columns if c.name in self.raw.columns]
        return {k: _example(self.raw[k], np.arange(len(self.raw)) == i) for k in names}

    def finish(self) -> tuple[pd.DataFrame, ValidationReport]:
        report = self.report
        if self.aside:
            parts = [
                self.raw[m].assign(rule=rule).set_axis(self.index[m]) for m, rule in self.aside
            ]
            report.set_aside = pd.concat(parts)
        report.rows_kept = int(self.keep.sum())
        if report.rows_kept == 0 and report.ok:
            self.error(
                "no_rows_left",
                None,
                report.rows_read,
                no_rows_left_message(self.contract.name, report.rows_read),
            )
        frame = self.frame[self.keep]
        frame.index = self.index[self.keep]
        return frame, report


def _listed(names: list[str], most: int = 20) -> str:
    """The column names found, the first ``most`` of them (messages stay one short line)."""
    if not names:
        return "no columns"
    more = f", ... ({len(names):,} columns)" if len(names) > most else ""
    return ", ".join(n[:60] for n in names[:most]) + more


def _structure(run: Run) -> bool:
    """Empty input and missing required columns; False when nothing more can be checked."""
    name = run.contract.name
    if len(run.raw) == 0:
        run.error("empty", None, 0, f"the {name} table is empty; expected at least one row")
        return False
    present = [str(c) for c in run.raw.columns]
    if len(present) > MAX_COLUMNS:
        run.error(
            "too_many_columns",
            None,
            None,
            f"the {name} table has {len(present):,} columns; at most {MAX_COLUMNS:,} are "
            "accepted (keep the contract's columns and a few others)",
        )
        return False
    counts = Counter(present)  # linear in the number of columns
    repeated = sorted(c for c, k in counts.items() if k > 1)
    for c in repeated:
        run.error("repeated_column", c, None, f"appears {counts[c]} times in {name}")
    if repeated:
        return False
    names = set(present)
    missing = [c for c in run.contract.required if c not in names]
    for c in missing:
        near = [p for p in present if p.strip().lower() == c]
        hint = (
            f" (found {near[0]!r}: rename it)"
            if near
            else f" (name yours with --columns {c}=<your column>)"
        )
        run.error(
            "missing_column",
            c,
            None,
            f"is missing from {name}{hint}; required: {', '.join(run.contract.required)}; "
            f"found: {_listed(present)}",
        )
    return not missing


def _parse(run: Run, opts: ValidationPolicy, tz: str, now: pd.Timestamp) -> None:
    """Parse every contract column present and handle the problems found."""
    parsers: dict[str, Callable[..., tuple[pd.Series, list[cols.Problem]]]] = {
        "amount": cols.parse_amounts,
        "count": cols.parse_counts,
        "text": cols.parse_texts,
        "flag": cols.parse_flags,
    }
    for c in run.contract.columns:
        if c.name not in run.raw.columns:
            continue
        raw = run.raw[c.name]
        if c.kind == "id":
            parsed, problems = cols.parse_ids(raw)
            if not c.required:  # an optional id (order_id) may have gaps
                problems = [p for p in problems if p.rule != "missing_id"]
        elif c.kind == "timestamp":
            parsed, problems = cols.parse_timestamps(raw, tz=tz, fmt=opts.timestamp_format)
            if not c.required:  # an optional date (a subscription's end) may be empty
                problems = [p for p in problems if p.rule != "missing_timestamp"]
        elif c.kind == "category":
            assert c.allowed is not None
            parsed, problems = cols.parse_categories(raw, allowed=c.allowed, required=c.required)
        else:
            parsed, problems = parsers[c.kind](raw, required=c.required)
        run.frame[c.name] = parsed
        for p in problems:
            run.problem(c.name, p)
    for c in run.contract.columns:
        if c.kind == "timestamp" and c.name in run.frame.columns:
            ts = run.frame[c.name].to_numpy()
            future = ~np.isnat(ts) & (ts > now.to_datetime64())
            run.problem(
                c.name,
                cols.Problem("future_timestamp", future, f"are after now ({now} UTC)"),
            )


def _comparable(run: Run, rows: np.ndarray) -> pd.DataFrame:
    """The normalised rows, with a value that failed to parse kept as its raw text.

    Two rows whose dates cannot be read (``31/01/2024`` and ``30/01/2024``) both parse to
    NaT; comparing the raw text keeps them apart, so they are not counted as duplicates.
    """
    frame = run.frame.iloc[rows]
    out = None
    for c in frame.columns:
        if c not in run.raw.columns:
            continue
        lost = frame[c].isna().to_numpy() & run.raw[c].iloc[rows].notna().to_numpy()
        if lost.any():
            out = frame.copy() if out is None else out
            col = out[c].astype(object)
            col[lost] = ("\0raw:" + run.raw[c].iloc[rows][lost].astype(str)).to_numpy()
            out[c] = col
    return frame if out is None else out


def _duplicates(run: Run, policy: str) -> None:
    """Rows identical in every column, after normalisation, to an earlier row."""
    kept = np.flatnonzero(run.keep)
    dup = np.zeros(len(run.raw), dtype=bool)
    dup[kept[_comparable(run, kept).duplicated(keep="first").to_numpy()]] = True
    if not dup.any():
        return
    example = run.row_example(dup)
    if policy == "error":
        run.error(
            "duplicate_row",
            None,
            int(dup.sum()),
            "are exact duplicates of an earlier row; pass --duplicates drop to set them "
            "aside, or --duplicates keep if they are separate events (duplicates= in the "
            "config and in Python)",
            example,
        )
    elif policy == "drop":
        msg = "are exact duplicates of an earlier row; set aside (--duplicates drop)"
        run.set_aside("duplicate_row", None, dup, msg, example)
    else:
        msg = "are exact duplicates of an earlier row; kept (--duplicates keep)"
        run.note("duplicate_row", None, dup, "kept", msg, example)


# --- the tables ---


def _returns(run: Run, policy: str) -> None:
    """Negative amounts (returns and refunds) under the ``returns`` policy."""
    amount = run.frame["amount"].to_numpy()
    neg = run.keep & (amount < 0)
    if not neg.any():
        return
    example = _example(run.raw["amount"], neg)
    if policy == "error":
        run.error(
            "negative_amount",
            "amount",
            int(neg.sum()),
            "are negative (returns or refunds); choose a policy: --returns drop sets them "
            "aside, --returns net subtracts them from the customer's same-day purchases "
            "(returns= in the config and in Python)",
            example,
        )
    elif policy == "drop":
        msg = "are returns or refunds (amount < 0); set aside (--returns drop)"
        run.set_aside("return", "amount", neg, msg, example)
    else:
        _net_returns(run, neg)


def _net_returns(run: Run, neg: np.ndarray) -> None:
    """Subtract each customer's refunds of a UTC day from their purchases that day.

    Purchases absorb the refund latest first. Vectorised with group-wise
    cumulative sums: for purchases sorted latest first within a (customer, day)
    group with refund total R, purchase i is reduced by
    ``clip(R - sum of the amounts before it, 0, amount_i)``.
    """
    f = run.frame
    amount = f["amount"].to_numpy()
    g = pd.DataFrame(
        {
            "c": f["customer_id"].to_numpy(),
            "d": f["timestamp"].dt.floor("D").to_numpy(),
            "t": f["timestamp"].to_numpy(),
            "a": amount,
            "pos": np.arange(len(f)),
        }
    )
    usable = f["customer_id"].notna().to_numpy() & f["timestamp"].notna().to_numpy()
    refunds = g[neg & usable]
    keys = ["c", "d"]
    groups = refunds.groupby(keys, sort=False, as_index=False)["a"].sum()
    groups = groups.assign(R=-groups["a"]).drop(columns="a")
    buys = g[run.keep & usable & (amount >= 0)].merge(groups, on=keys, how="inner")
    buys = buys.sort_values([*keys, "t", "pos"], ascending=[True, True, False, False])
    before = (buys.groupby(keys, sort=False)["a"].cumsum() - buys["a"]).to_numpy()
    cut = np.clip(buys["R"].to_numpy() - before, 0.0, buys["a"].to_numpy())
    new = buys["a"].to_numpy() - cut
    pos = buys["pos"].to_numpy()
    absorbed = buys.groupby(keys, sort=False, as_index=False)["a"].sum().rename(columns={"a": "P"})
    groups = groups.merge(absorbed, on=keys, how="left").fillna({"P": 0.0})
    groups["ok"] = groups["R"] <= groups["P"] + 1e-9 * np.maximum(1.0, groups["R"])
    is_matched = (
        refunds.merge(groups[[*keys, "ok"]], on=keys, how="left")["ok"]
        .astype("boolean")
        .fillna(False)
        .to_numpy(dtype=bool)
    )
    neg_pos = np.flatnonzero(neg & usable)

    matched = np.zeros(len(f), dtype=bool)
    matched[neg_pos[is_matched]] = True
    unmatched = neg & ~matched
    cancelled = np.zeros(len(f), dtype=bool)
    cancelled[pos[(cut > 0) & np.isclose(new, 0.0, atol=1e-9)]] = True
    reduced = np.zeros(len(f), dtype=bool)
    reduced[pos[(cut > 0) & ~np.isclose(new, 0.0, atol=1e-9)]] = True

    raw = run.raw["amount"]
    f.loc[pos, "amount"] = np.where(np.isclose(new, 0.0, atol=1e-9), 0.0, new)
    if matched.any():
        msg = "are returns or refunds netted against the same customer's same-day purchases"
        run.set_aside("return_netted", "amount", matched, msg, _example(raw, matched))
    if unmatched.any():
        left = float((groups["R"] - groups["P"]).clip(lower=0).sum())
        msg = unmatched_returns_message(left)
        run.set_aside(
            "return_unmatched", "amount", unmatched, msg, _example(raw, unmatched), total=left
        )
    if cancelled.any():
        msg = "are purchases cancelled in full by a same-day refund; set aside"
        run.set_aside("purchase_refunded", "amount", cancelled, msg, _example(raw, cancelled))
    if reduced.any():
        msg = "are purchases reduced by a same-day refund (--returns net)"
        run.note("purchase_reduced", "amount", reduced, "adjusted", msg, _example(raw, reduced))


def _unique_ids(run: Run) -> None:
    """Customer ids that appear on more than one (non-identical) row."""
    ids = run.frame["customer_id"]
    dup = run.keep & ids.notna().to_numpy() & ids.where(run.keep).duplicated(keep=False).to_numpy()
    if dup.any():
        run.error(
            "duplicate_id",
            "customer_id",
            int(dup.sum()),
            "share a customer id with another row; each customer must appear once",
            _example(run.raw["customer_id"], dup),
        )


def _subscriptions(run: Run, plans: Collection[str] | None) -> None:
    """The subscription rules: end before start, negative price, unknown plan, overlaps."""
    f = run.frame
    if "end" in f.columns:
        start, end = f["start"].to_numpy(), f["end"].to_numpy()
        backwards = ~np.isnat(start) & ~np.isnat(end) & (end < start)
        run.problem("end", cols.Problem("end_before_start", backwards, "are before start"))
    if "price_per_period" in f.columns:
        price = f["price_per_period"].to_numpy(dtype=float, na_value=np.nan)
        run.problem(
            "price_per_period",
            cols.Problem("negative_amount", price < 0, "are negative; expected a price >= 0"),
        )
    if plans is not None and "plan" in f.columns:
        known = {str(p).strip() for p in plans}
        plan = f["plan"]
        unknown = plan.notna().to_numpy() & ~plan.str.strip().isin(known).to_numpy(dtype=bool)
        listed = ", ".join(sorted(known)[:10]) + (", ..." if len(known) > 10 else "")
        run.problem(
            "plan",
            cols.Problem("unknown_plan", unknown, f"are not one of the known plans ({listed})"),
        )
    _overlaps(run)


def _overlaps(run: Run) -> None:
    """Spells starting before an earlier spell of the same customer has ended.

    Spells are taken in order of start; a spell overlaps when it starts before the latest
    end of the customer's earlier spells (an active spell, with no end, never ends).
    Touching spells (one starts the day the other ends) do not overlap.
    """
    f = run.frame
    usable = run.keep & f["customer_id"].notna().to_numpy() & ~np.isnat(f["start"].to_numpy())
    if usable.sum() < 2:
        return
    pos = np.flatnonzero(usable)
    start = f["start"].to_numpy()[pos]
    if "end" in f.columns:
        end = f["end"].to_numpy()[pos].copy()
        end[np.isnat(end)] = np.datetime64("9999-12-31", "us")
    else:
        end = np.full(pos.size, np.datetime64("9999-12-31", "us"))
    g = pd.DataFrame({"c": f["customer_id"].to_numpy()[pos], "s": start, "e": end, "p": pos})
    g = g.sort_values(["c", "s", "p"], kind="stable")
    # the latest end among the customer's earlier spells (NaT for the first spell)
    prev_end = g.groupby("c", sort=False)["e"].cummax().groupby(g["c"], sort=False).shift(1)
    clash = (prev_end.notna() & (g["s"] < prev_end)).to_numpy()
    mask = np.zeros(len(f), dtype=bool)
    mask[g["p"].to_numpy()[clash]] = True
    run.problem(
        "start",
        cols.Problem(
            "overlapping_spells",
            mask,
            "start before an earlier subscription of the same customer has ended (a "
            "customer's spells must not overlap; an active spell has no end)",
        ),
    )


def run_rules(
    table: str,
    data: object,
    opts: ValidationPolicy,
    *,
    collect: bool,
    source: str | None = None,
    plans: Collection[str] | None = None,
) -> tuple[pd.DataFrame | None, ValidationReport]:
    """Run every rule of ``table``'s contract on ``data``.

    ``plans`` (subscriptions only): the known plans; a row with another plan is
    ``unknown_plan``. ``None`` accepts every plan name.
    """
    contract = CONTRACTS[table]
    tz = cols.resolve_tz(opts.tz)
    now = cols.resolve_now(opts.now, tz)
    run = Run(contract, data, collect=collect, invalid=opts.invalid, source=source)
    if not _structure(run):
        return None, run.report
    _parse(run, opts, tz, now)
    _duplicates(run, opts.duplicates)
    if contract is TRANSACTIONS:
        _returns(run, opts.returns)
    elif contract is CUSTOMERS:
        cost = run.frame["acquisition_cost"].to_numpy()
        run.problem(
            "acquisition_cost",
            cols.Problem("negative_amount", cost < 0, "are negative; expected a cost >= 0"),
        )
        _unique_ids(run)
    elif contract is SUBSCRIPTIONS:
        _subscriptions(run, plans)
    frame, report = run.finish()
    return (frame if report.ok else None), report
