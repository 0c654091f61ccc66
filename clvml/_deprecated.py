"""Deprecated spellings of public names, in one place.

A leaf module (standard library only) that every layer may import, like
:mod:`clvml.exceptions`. Old keyword arguments keep working for a while and say what
replaced them with a :class:`DeprecationWarning`; old function and class names are
kept as aliases that warn when called.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["deprecated_alias", "renamed_kwarg"]

_F = TypeVar("_F", bound=Callable[..., Any])


def renamed_kwarg(
    owner: str, old: str, new: str, old_value: Any, new_value: Any, default: Any
) -> Any:
    """Resolve a renamed keyword argument: the new one, or the old one with a warning.

    Parameters
    ----------
    owner : str
        The function or class taking the argument (named in the message).
    old, new : str
        The deprecated and the current keyword.
    old_value : object
        What the caller passed as ``old`` (``None`` when not passed).
    new_value : object
        What the caller passed as ``new``.
    default : object
        ``new``'s default: ``old`` may only be combined with ``new`` left at it.

    Returns
    -------
    object
        The value to use.

    Raises
    ------
    TypeError
        Both spellings were given with different values.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     renamed_kwarg("f", "seed", "random_state", 3, None, None)
    3
    >>> str(caught[0].message)
    'f: seed= is deprecated; use random_state= instead'
    """
    if old_value is None:
        return new_value
    if new_value != default and new_value != old_value:
        raise TypeError(f"{owner}: pass {new}= only ({old}= is its deprecated spelling)")
    warnings.warn(
        f"{owner}: {old}= is deprecated; use {new}= instead", DeprecationWarning, stacklevel=3
    )
    return old_value


def deprecated_alias(func: _F, old_name: str) -> _F:
    """``func`` under its former name ``old_name``; calling it warns once per call site."""

    @functools.wraps(func)
    def alias(*args: Any, **kwargs: Any) -> Any:
        warnings.warn(
            f"{old_name} is deprecated; use {func.__name__} (same arguments, same result)",
            DeprecationWarning,
            stacklevel=2,
        )
        return func(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old_name
    alias.__doc__ = f"Deprecated alias of :func:`{func.__name__}`."
    return alias  # type: ignore[return-value]
