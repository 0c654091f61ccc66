"""Exceptions and warnings raised by clvml.

Every error about bad input subclasses :class:`ValueError`, so callers that
already catch ``ValueError`` keep working, and names the column, the number of
offending rows and an example value where that makes sense.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ClvmlError",
    "ConvergenceError",
    "ConvergenceWarning",
    "DataValidationError",
    "MissingDependencyError",
]


class ClvmlError(Exception):
    """Base class of every exception clvml raises on purpose."""


class DataValidationError(ClvmlError, ValueError):
    """Input data break a data contract.

    Parameters
    ----------
    message : str
        What is wrong and what was expected.
    column : str, optional
        The offending column.
    n_rows : int, optional
        How many rows fail the rule.
    example : object, optional
        One offending value (or row) to help find the problem.

    Examples
    --------
    >>> err = DataValidationError("must be >= 0", column="amount", n_rows=3, example=-1.5)
    >>> str(err)
    "column 'amount': 3 rows must be >= 0 (e.g. -1.5)"
    """

    def __init__(
        self,
        message: str,
        *,
        column: str | None = None,
        n_rows: int | None = None,
        example: Any = None,
    ) -> None:
        self.column = column
        self.n_rows = n_rows
        self.example = example
        self.reason = message
        parts = []
        if column is not None:
            parts.append(f"column {column!r}:")
        if n_rows is not None:
            parts.append(f"{n_rows} row{'s' if n_rows != 1 else ''}")
            message = agree(n_rows, message)
        parts.append(message)
        text = " ".join(parts)
        if example is not None:
            text += f" (e.g. {example!r})"
        super().__init__(text)


#: Verbs a count of rows starts a message with: plural -> singular.
_VERBS = {
    "are": "is",
    "were": "was",
    "have": "has",
    "do": "does",
    "belong": "belongs",
    "break": "breaks",
    "fail": "fails",
    "hold": "holds",
    "mix": "mixes",
    "appear": "appears",
    "contain": "contains",
    "fall": "falls",
    "lie": "lies",
    "repeat": "repeats",
    "refer": "refers",
    "lack": "lacks",
    "need": "needs",
}
_PLURAL = {v: k for k, v in _VERBS.items()}


def agree(n: int, message: str) -> str:
    """Make the verb a row count starts ``message`` with agree with ``n`` rows.

    >>> agree(1, "are missing"), agree(0, "is missing"), agree(3, "belongs to nobody")
    ('is missing', 'are missing', 'belong to nobody')
    >>> agree(1, "do not exist or are ambiguous")
    'does not exist or is ambiguous'
    """
    verb, sep, rest = message.partition(" ")
    table = _VERBS if n == 1 else _PLURAL
    if verb not in table:
        return message
    a, b = (" or are ", " or is ") if n == 1 else (" or is ", " or are ")
    return f"{table[verb]}{sep}{rest.replace(a, b, 1)}"


class ConvergenceError(ClvmlError, RuntimeError):
    """An optimiser did not converge; the message says what to try next."""


class MissingDependencyError(ClvmlError, ImportError):
    """An optional dependency (an extra such as ``spark``) is not installed; says how to."""


class ConvergenceWarning(UserWarning):
    """A fit finished but its result should be checked (e.g. singular Hessian)."""
