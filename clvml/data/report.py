"""What validation found: a per-table report of rules, counts and examples.

Every rule that fires leaves one :class:`RuleOutcome`. Its ``action`` says
what happened to the rows:

``"error"``
    The data cannot be used as they are; :func:`~clvml.data.validation.validate_transactions`
    and friends raise :class:`~clvml.exceptions.DataValidationError` for it.
``"set aside"``
    The rows were removed from the cleaned frame under an explicit policy
    (e.g. ``duplicates="drop"``); they are counted here and kept in
    :attr:`ValidationReport.set_aside`.
``"adjusted"``
    The rows were kept with a changed value (e.g. a purchase reduced by a
    same-day refund under ``returns="net"``).
``"kept"``
    The rows were noticed and kept as they are (e.g. ``duplicates="keep"``).

The counts add up: ``rows_read == rows_kept + rows_set_aside``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from clvml.exceptions import DataValidationError

__all__ = ["Action", "RuleOutcome", "ValidationReport"]

Action = Literal["error", "set aside", "adjusted", "kept"]


@dataclass(frozen=True)
class RuleOutcome:
    """One rule that fired on a table.

    Attributes
    ----------
    rule : str
        Short identifier, e.g. ``"negative_amount"`` or ``"duplicate_row"``.
    column : str or None
        The column the rule is about (None for whole-row rules).
    n_rows : int
        How many rows the rule concerns.
    action : {"error", "set aside", "adjusted", "kept"}
        What happened to those rows.
    message : str
        Why, and what was expected.
    example : object
        One offending value (or row, as a dict), or None.
    total : float or None
        A figure the rule measured over its rows, when it has one (``return_unmatched``:
        the refunds left unnetted, also stated in the message); None otherwise. Reports
        of parts of a table (the Spark buckets) are merged by adding it up, never by
        reading the message.
    """

    rule: str
    column: str | None
    n_rows: int
    action: Action
    message: str
    example: Any = None
    total: float | None = None

    def to_error(self) -> DataValidationError:
        """The :class:`DataValidationError` describing this outcome."""
        return DataValidationError(
            self.message, column=self.column, n_rows=self.n_rows, example=self.example
        )


@dataclass
class ValidationReport:
    """The result of checking one table against its contract.

    Attributes
    ----------
    table : str
        Contract name (``"transactions"``, ``"engagement"``, ``"customers"``).
    rows_read : int
        Rows in the input.
    rows_kept : int
        Rows in the cleaned frame.
    outcomes : list of RuleOutcome
        The rules that fired, in the order they were checked.
    set_aside : pandas.DataFrame
        The rows removed from the cleaned frame, as read, with a ``rule``
        column naming why (empty when nothing was set aside).
    source : str or None
        Where the table came from (a file name), when known.
    """

    table: str
    rows_read: int
    rows_kept: int
    outcomes: list[RuleOutcome] = field(default_factory=list)
    set_aside: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    source: str | None = None

    @property
    def rows_set_aside(self) -> int:
        """Rows removed under a policy (the sum over ``"set aside"`` outcomes)."""
        return sum(o.n_rows for o in self.outcomes if o.action == "set aside")

    @property
    def errors(self) -> list[RuleOutcome]:
        """Outcomes that make the data unusable."""
        return [o for o in self.outcomes if o.action == "error"]

    @property
    def ok(self) -> bool:
        """True when no rule failed with ``"error"``."""
        return not self.errors

    def raise_for_errors(self) -> None:
        """Raise the :class:`DataValidationError` of the first error, if any.

        When several rules fail, the message says how many others do too.
        """
        errors = self.errors
        if not errors:
            return
        first = errors[0]
        more = len(errors) - 1
        message = f"{first.message} (table {self.table}"
        if more:
            message += f"; {more} more rule{'s fail' if more > 1 else ' fails'}, see the report"
        message += ")"
        raise DataValidationError(  # a whole-column problem (n_rows 0) counts no rows
            message, column=first.column, n_rows=first.n_rows or None, example=first.example
        )

    def to_frame(self) -> pd.DataFrame:
        """The outcomes as a frame (one row per rule) for display or logging."""
        cols = ["rule", "column", "n_rows", "action", "message", "example"]
        return pd.DataFrame([{c: getattr(o, c) for c in cols} for o in self.outcomes], columns=cols)
