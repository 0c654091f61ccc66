"""The driver half of :mod:`clvml.spark.validate` (private): one report from the buckets'.

Works on the buckets' structured rule outcomes (:class:`~clvml.data.report.RuleOutcome`:
rule, column, action, number of rows, example and, where the rule measures one, its
``total``): row counts and totals are summed, the message and example of the lowest
bucket where the rule fired are kept, and messages that state a whole-table figure are
written again from the merged figure by the engine's own message functions.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
from typing import Any

from clvml.data._columns import mixed_time_zones_message
from clvml.data._engine import no_rows_left_message, unmatched_returns_message
from clvml.data.contracts import Contract
from clvml.data.report import Action, RuleOutcome, ValidationReport

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

_Key = tuple[str, str | None, Action]


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
    merged: dict[_Key, RuleOutcome] = {}
    sequences: list[list[_Key]] = []
    for p in payloads:
        seq = []
        for fields in p["outcomes"]:
            outcome = RuleOutcome(*fields)
            if outcome.rule in _GLOBAL_RULES:
                continue
            key = (outcome.rule, outcome.column, outcome.action)
            seq.append(key)
            merged[key] = _add(merged[key], outcome) if key in merged else outcome
        sequences.append(seq)
    key = ("return_unmatched", "amount", "set aside")
    if key in merged:  # the message states the table's total: write it from the sum
        total = merged[key].total
        message = unmatched_returns_message(float("nan") if total is None else total)
        merged[key] = dataclasses.replace(merged[key], message=message)
    for outcome in _mixed_time_zones(payloads):
        merged[(outcome.rule, outcome.column, outcome.action)] = outcome
    for key in _order(contract, sequences, list(merged)):
        report.outcomes.append(merged[key])
    if report.rows_kept == 0 and report.ok:  # as Run.finish, on the totals
        report.outcomes.append(
            RuleOutcome(
                "no_rows_left",
                None,
                report.rows_read,
                "error",
                no_rows_left_message(contract.name, report.rows_read),
            )
        )
    return report


def _add(first: RuleOutcome, other: RuleOutcome) -> RuleOutcome:
    """``first`` (the lower bucket's message and example) with ``other``'s rows and total."""
    if first.total is None or other.total is None:
        total = first.total if other.total is None else other.total
    else:
        total = first.total + other.total
    return dataclasses.replace(first, n_rows=first.n_rows + other.n_rows, total=total)


def _mixed_time_zones(payloads: list[dict[str, Any]]) -> list[RuleOutcome]:
    """``mixed_time_zones`` decided on the whole column, as :func:`parse_timestamps` does."""
    found = []
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
        message = mixed_time_zones_message(n_offset, n_naive)
        found.append(RuleOutcome("mixed_time_zones", column, n, "error", message, example))
    return found
