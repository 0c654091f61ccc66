"""Option helpers shared by the commands: ISO dates, flags without a type column."""

from __future__ import annotations

from collections.abc import Callable


def iso(name: str) -> Callable[[str | None], str | None]:
    """A typer callback refusing a date that is not ISO 8601 (one line, the expected form).

    Raised as a :class:`~clvml.exceptions.DataValidationError`, so the command group prints
    it as one line (a typer ``BadParameter`` would print a usage box).
    """

    def check(value: str | None) -> str | None:
        from clvml.data.dates import iso_date  # pandas: imported when a command runs

        return None if value is None else iso_date(value, name=name)

    return check
