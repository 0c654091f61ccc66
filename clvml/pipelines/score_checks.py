"""Refusals before damage: what a scoring job checks before it touches the CRM.

A scoring job replaces the scores marketing works from, so three mistakes are refused
before anything is written (each can be overridden with ``force=True``, ``--force`` on the
command line, when the user means it):

**The as-of date** (:func:`check_as_of`). Features are computed "as of" a day; a day after
the last day of the data (or after today) makes every customer look long gone (their
recency is fixed while the observation window keeps growing), and a day before the model's
training cut-off scores the past with a model that saw the future. Both are refused.

**A jump in the score distribution** (:func:`check_shift`). The new scores are compared with
the scores already in the table (the previous runs): the job is refused when the mean CLV
moves by more than :data:`MAX_MEAN_CLV_CHANGE` (50 %, relative) or when any value tier's
share of customers moves by more than :data:`MAX_TIER_SHARE_CHANGE` (15 percentage
points). Both thresholds are arguments of :func:`clvml.pipelines.score.score_customers`
(``--max-clv-change`` and ``--max-tier-shift`` on the command line).

**What would change** (:func:`plan_changes`, ``--dry-run``): rows inserted and updated and
the customers whose value tier moves, computed read-only from the table.

Examples
--------
>>> import pandas as pd
>>> old = pd.DataFrame({"customer_id": ["a", "b"], "clv": [30.0, 31.0],
...                     "value_tier": ["high", "low"]})
>>> new = pd.DataFrame({"customer_id": ["b", "c"], "clv": [0.7, 0.8],
...                     "value_tier": ["low", "low"]})
>>> check_shift(distribution(old), distribution(new))
Traceback (most recent call last):
...
clvml.pipelines.score_checks.ScoreRefusedError: the mean CLV would move from 30.50 to 0.75 \
(-97.5%, more than the 50% allowed) and the share of tier 'high' from 50.0% to 0.0% \
(-50.0 pp, more than 15.0 pp); pass --force to write these scores anyway
>>> plan_changes(old, new).describe()
'1 row inserted, 1 row updated, 0 customers change value tier'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from clvml.data.membership import isin
from clvml.exceptions import ClvmlError

__all__ = [
    "MAX_MEAN_CLV_CHANGE",
    "MAX_TIER_SHARE_CHANGE",
    "ScoreDistribution",
    "ScorePlan",
    "ScoreRefusedError",
    "check_as_of",
    "check_shift",
    "distribution",
    "plan_changes",
    "plural",
    "read_distribution",
    "read_previous",
    "training_cutoff",
]

#: Largest relative move of the mean CLV against the scores in the table (0.5 = 50 %).
MAX_MEAN_CLV_CHANGE = 0.5
#: Largest move of any value tier's share of customers, as a fraction (0.15 = 15 pp).
MAX_TIER_SHARE_CHANGE = 0.15

_FORCE = "pass --force to write these scores anyway"


class ScoreRefusedError(ClvmlError, ValueError):
    """A scoring job refused before writing (wrong as-of date, scores far from the last run)."""


def plural(n: int, word: str, many: str | None = None) -> str:
    """``"1 row"``, ``"0 rows"``, ``"2 rows"``: a count with its noun agreeing.

    >>> plural(1, "row"), plural(0, "row"), plural(3, "customer")
    ('1 row', '0 rows', '3 customers')
    """
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


# ----------------------------------------------------------------------------- as-of date
def training_cutoff(pyfunc_model: Any) -> pd.Timestamp | None:
    """The last day of data the served model was fitted on, when the model records it."""
    try:
        window = pyfunc_model.unwrap_python_model().model_.training_window_
        return pd.Timestamp(window["cutoff"]).normalize()
    except Exception:  # a model without a recorded window: nothing to check against
        return None


def check_as_of(
    as_of: pd.Timestamp,
    *,
    last_day: pd.Timestamp | None,
    cutoff: pd.Timestamp | None,
    today: dt.date | None = None,
    force: bool = False,
) -> list[str]:
    """Refuse an as-of day the model cannot score honestly; return the reasons overridden.

    Parameters
    ----------
    as_of : pandas.Timestamp
        The day the features are computed at.
    last_day : pandas.Timestamp, optional
        The last day of the data (latest transaction or engagement timestamp).
    cutoff : pandas.Timestamp, optional
        The model's training cut-off (:func:`training_cutoff`).
    today : datetime.date, optional
        Default: today in UTC.
    force : bool, default False
        Return the reasons instead of raising.

    Raises
    ------
    ScoreRefusedError
        ``as_of`` is after ``last_day`` or after today, or before ``cutoff``.
    """
    today = today or dt.datetime.now(dt.UTC).date()
    day = as_of.date()
    reasons = []
    if day > today:
        reasons.append(f"--as-of {day} is after today ({today})")
    if last_day is not None and day > last_day.date():
        reasons.append(
            f"--as-of {day} is after the last day of the data ({last_day.date()}): every "
            f"customer would look {(day - last_day.date()).days:,} days more inactive than "
            "the data say"
        )
    if cutoff is not None and day < cutoff.date():
        reasons.append(
            f"--as-of {day} is before the model's training cut-off ({cutoff.date()}): the model "
            "has seen what happened after it"
        )
    if reasons and not force:
        raise ScoreRefusedError(f"{'; '.join(reasons)}; {_FORCE}")
    return reasons


# ----------------------------------------------------------------------------- distributions
@dataclass(frozen=True)
class ScoreDistribution:
    """Customers, mean CLV and value-tier shares of a set of scores."""

    n: int
    mean_clv: float
    tier_shares: dict[str, float] = field(default_factory=dict)


def distribution(scores: pd.DataFrame) -> ScoreDistribution:
    """The :class:`ScoreDistribution` of rows with a finite CLV (what the table holds)."""
    clv = pd.to_numeric(scores["clv"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(clv)
    n = int(ok.sum())
    shares: dict[str, float] = {}
    if n and "value_tier" in scores.columns:
        tiers = scores["value_tier"][ok].fillna("").astype(str)
        shares = {str(k): float(v) for k, v in (tiers.value_counts() / n).sort_index().items()}
        shares = {} if set(shares) == {""} else shares
    return ScoreDistribution(n, float(clv[ok].mean()) if n else float("nan"), shares)


def check_shift(
    previous: ScoreDistribution,
    new: ScoreDistribution,
    *,
    max_mean_change: float = MAX_MEAN_CLV_CHANGE,
    max_tier_change: float = MAX_TIER_SHARE_CHANGE,
    force: bool = False,
) -> list[str]:
    """Refuse scores far from the previous ones; return the moves overridden by ``force``.

    Nothing is compared when the table held no scores.

    Raises
    ------
    ScoreRefusedError
        The mean CLV moves by more than ``max_mean_change`` (relative) or a tier's share
        by more than ``max_tier_change`` (absolute), with the numbers.
    """
    if previous.n == 0 or new.n == 0:
        return []
    moves = []
    old, cur = previous.mean_clv, new.mean_clv
    change = (cur - old) / abs(old) if old else (0.0 if cur == old else np.inf)
    if abs(change) > max_mean_change:
        moves.append(
            f"the mean CLV would move from {old:,.2f} to {cur:,.2f} ({change:+.1%}, more than "
            f"the {max_mean_change:.0%} allowed)"
        )
    if previous.tier_shares and new.tier_shares:
        for tier in sorted(set(previous.tier_shares) | set(new.tier_shares)):
            a, b = previous.tier_shares.get(tier, 0.0), new.tier_shares.get(tier, 0.0)
            if abs(b - a) > max_tier_change:
                moves.append(
                    f"the share of tier {tier!r} from {a:.1%} to {b:.1%} ({100 * (b - a):+.1f} pp, "
                    f"more than {100 * max_tier_change:.1f} pp)"
                )
                break
    if moves and not force:
        raise ScoreRefusedError(f"{' and '.join(moves)}; {_FORCE}")
    return moves


# ----------------------------------------------------------------------------- dry run
@dataclass(frozen=True)
class ScorePlan:
    """What a scoring run would change in the score table (``--dry-run``).

    Attributes
    ----------
    inserted, updated : int
        Scored customers new to the table, and already in it.
    kept : int
        Customers in the table this run does not score (left as they are).
    tier_moves : dict
        ``(old tier, new tier) -> customers`` for updated customers whose tier changes.
    previous, new : ScoreDistribution
    """

    inserted: int
    updated: int
    kept: int
    tier_moves: Mapping[tuple[str, str], int]
    previous: ScoreDistribution
    new: ScoreDistribution

    @property
    def tier_changes(self) -> int:
        """Customers whose value tier moves."""
        return int(sum(self.tier_moves.values()))

    def describe(self) -> str:
        """One line: rows inserted and updated, customers changing tier."""
        return (
            f"{plural(self.inserted, 'row')} inserted, {plural(self.updated, 'row')} updated, "
            f"{plural(self.tier_changes, 'customer')} change value tier"
        )


def plan_changes(previous: pd.DataFrame, new: pd.DataFrame) -> ScorePlan:
    """Compare the table's rows with the new scores (both ``customer_id``, ``clv``, tier)."""
    old_ids = previous["customer_id"].astype(str)
    new_ids = new["customer_id"].astype(str)
    present = isin(new_ids, old_ids)
    moves: dict[tuple[str, str], int] = {}
    if "value_tier" in previous.columns and "value_tier" in new.columns:
        before = pd.Series(previous["value_tier"].to_numpy(), index=old_ids.to_numpy())
        after = pd.Series(new["value_tier"].to_numpy(), index=new_ids.to_numpy())[present]
        pairs = pd.DataFrame(
            {"old": before.reindex(after.index).fillna("").astype(str), "new": after.astype(str)}
        )
        pairs = pairs[pairs["old"] != pairs["new"]]
        counts = pairs.value_counts().sort_index()
        moves = {(str(a), str(b)): int(n) for (a, b), n in counts.items()}
    return ScorePlan(
        inserted=int((~present).sum()),
        updated=int(present.sum()),
        kept=int((~isin(old_ids, new_ids)).sum()),
        tier_moves=moves,
        previous=distribution(previous),
        new=distribution(new),
    )


def _sqlite_missing(sink: Any) -> bool:
    url = sink.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return False
    from pathlib import Path

    return not Path(url.database).is_file()


def read_distribution(sink: Any) -> ScoreDistribution:
    """The :class:`ScoreDistribution` of the score table, by two aggregate queries (read-only)."""
    t = sink.tables.scores
    if _sqlite_missing(sink):
        return ScoreDistribution(0, float("nan"))
    with sink.connect() as conn:
        if not sa.inspect(conn).has_table(t.name, schema=sink.schema):
            return ScoreDistribution(0, float("nan"))
        n, mean = conn.execute(sa.select(sa.func.count(t.c.clv), sa.func.avg(t.c.clv))).one()
        tiers = conn.execute(
            sa.select(t.c.value_tier, sa.func.count(t.c.clv)).group_by(t.c.value_tier)
        ).all()
    n = int(n or 0)
    if n == 0:
        return ScoreDistribution(0, float("nan"))
    named: dict[str, float] = {}
    for k, c in tiers:
        if c:
            key = "" if k is None else str(k)
            named[key] = named.get(key, 0.0) + int(c) / n
    shares = {} if set(named) == {""} else dict(sorted(named.items()))
    return ScoreDistribution(n, float(mean), shares)


def read_previous(sink: Any) -> pd.DataFrame:
    """``customer_id``, ``clv``, ``value_tier`` of the score table, read-only (empty if none).

    An SQLite file that does not exist is not created.
    """
    empty = pd.DataFrame({"customer_id": [], "clv": [], "value_tier": []})
    if _sqlite_missing(sink):
        return empty
    t = sink.tables.scores
    with sink.connect() as conn:
        if not sa.inspect(conn).has_table(t.name, schema=sink.schema):
            return empty
        return pd.read_sql(sa.select(t.c.customer_id, t.c.clv, t.c.value_tier), conn)
