"""Progress of long computations, for whoever shows it; silent when nobody listens.

Library code says how far a long computation is (``report("fitting hybrid", 2, 7)``);
it never prints. A caller that shows progress (the CLI, through
:class:`clvml.pipelines.steps.Steps`) listens for the duration of a step with
:func:`listen`. The listener is held in a context variable, so concurrent callers do not
see each other's events, and nothing at all happens when nobody listens.

Examples
--------
>>> events = []
>>> with listen(lambda what, done, total: events.append((what, done, total))):
...     report("fitting btyd", 0, 2)
>>> report("nobody listens", 1, 2)
>>> events
[('fitting btyd', 0, 2)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["Listener", "listen", "report"]

#: ``listener(what, done, total)``: ``done`` of ``total`` items finished, ``what`` is next.
Listener = Callable[[str, int, int], None]

_LISTENER: ContextVar[Listener | None] = ContextVar("clvml_progress", default=None)


def report(what: str, done: int, total: int) -> None:
    """Tell the listener (if any) that ``done`` of ``total`` items are finished."""
    listener = _LISTENER.get()
    if listener is not None:
        listener(what, done, total)


@contextmanager
def listen(listener: Listener) -> Iterator[None]:
    """Send the :func:`report` calls made inside the block to ``listener``."""
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)
