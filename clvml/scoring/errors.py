"""Errors of the CRM sink.

Each is a :class:`clvml.exceptions.ClvmlError`, so the CLI prints it as one line.
Messages name the database by its URL with the password masked.
"""

from __future__ import annotations

from clvml.exceptions import ClvmlError

__all__ = ["CRMConnectionError", "CRMError", "CRMLockError"]


class CRMError(ClvmlError, RuntimeError):
    """Writing to the CRM database failed; the previous scores are left whole."""


class CRMConnectionError(CRMError, ConnectionError):
    """The CRM database cannot be reached (or its driver is not installed)."""


class CRMLockError(CRMError):
    """Another scoring job is writing to the same score table."""
