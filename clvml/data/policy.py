"""How validation treats rows that break a rule: one object, passed as one argument.

:class:`ValidationPolicy` holds the six choices every validation entry point takes
(``returns``, ``duplicates``, ``invalid``, ``now``, ``tz``, ``timestamp_format``; see
:mod:`clvml.data.validation` for what each does). The ``validate_*`` functions,
:func:`~clvml.data.validation.check_table`, the folder checks, the scoring job, the Spark
validation and the CLI all take it as ``policy=``; the public ``validate_*`` functions also
accept the six keywords as a convenience (they build, or override, the policy).

Examples
--------
>>> policy = ValidationPolicy(returns="net", duplicates="keep")
>>> policy.invalid
'error'
>>> resolve_policy(policy, invalid="drop")
ValidationPolicy(returns='net', duplicates='keep', invalid='drop', now=None, tz='UTC', \
timestamp_format=None)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal, TypedDict, get_args

from clvml.exceptions import DataValidationError

__all__ = [
    "Duplicates",
    "Invalid",
    "PolicyKeywords",
    "Returns",
    "ValidationPolicy",
    "resolve_policy",
]

Returns = Literal["error", "drop", "net"]
Duplicates = Literal["error", "drop", "keep"]
Invalid = Literal["error", "drop"]


@dataclass(frozen=True)
class ValidationPolicy:
    """What validation does with rows that break a rule, and how it reads time.

    Parameters
    ----------
    returns : {"error", "drop", "net"}, default "error"
        Negative amounts (returns and refunds; transactions only): refuse them, set them
        aside, or net them against the customer's purchases of the same UTC day.
    duplicates : {"error", "drop", "keep"}, default "error"
        Rows identical to an earlier row: refuse them, set them aside, or keep them
        (noted in the report).
    invalid : {"error", "drop"}, default "error"
        Rows breaking a row-level rule (missing id, bad or future timestamp, bad value,
        unknown category): refuse them, or set them aside.
    now : str, datetime or pandas.Timestamp, optional
        Timestamps after this instant are errors. Default: the current time when the
        table is validated. A naive value is read in ``tz``.
    tz : str, default "UTC"
        IANA time zone of naive timestamps; everything is converted to naive UTC.
    timestamp_format : str, optional
        ``strftime`` format of timestamp text; default ISO 8601.

    Raises
    ------
    DataValidationError
        An unknown ``returns``, ``duplicates`` or ``invalid`` choice.

    Examples
    --------
    >>> ValidationPolicy(duplicates="first")
    Traceback (most recent call last):
    ...
    clvml.exceptions.DataValidationError: duplicates='first'; expected one of error, drop, keep
    """

    returns: Returns = "error"
    duplicates: Duplicates = "error"
    invalid: Invalid = "error"
    now: object = None
    tz: str = "UTC"
    timestamp_format: str | None = None

    def __post_init__(self) -> None:
        for name, kind in (("returns", Returns), ("duplicates", Duplicates), ("invalid", Invalid)):
            value, allowed = getattr(self, name), get_args(kind)
            if value not in allowed:
                raise DataValidationError(f"{name}={value!r}; expected one of {', '.join(allowed)}")


class PolicyKeywords(TypedDict, total=False):
    """The fields of :class:`ValidationPolicy` as keyword arguments (all optional)."""

    returns: Returns
    duplicates: Duplicates
    invalid: Invalid
    now: object
    tz: str
    timestamp_format: str | None


def resolve_policy(policy: ValidationPolicy | None = None, **keywords: object) -> ValidationPolicy:
    """``policy`` (default: all defaults) with the fields given as keywords replaced.

    Parameters
    ----------
    policy : ValidationPolicy, optional
        The policy to start from.
    **keywords
        Fields of :class:`ValidationPolicy` to set (``returns="net"``, ...).

    Returns
    -------
    ValidationPolicy

    Raises
    ------
    TypeError
        ``policy`` is not a ValidationPolicy, or a keyword is not one of its fields.
    DataValidationError
        An unknown policy choice.
    """
    if policy is None:
        policy = ValidationPolicy()
    elif not isinstance(policy, ValidationPolicy):
        raise TypeError(
            f"policy must be a clvml.ValidationPolicy, not {type(policy).__name__}; "
            "pass the policy's fields as keywords or build one with ValidationPolicy(...)"
        )
    return dataclasses.replace(policy, **keywords) if keywords else policy  # type: ignore[arg-type]
