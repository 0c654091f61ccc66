"""The steps of a pipeline run: a progress line per step and the seconds each took."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Steps"]


class Steps:
    """Progress display and timings of the pipeline's steps (rich, when a console is given)."""

    def __init__(self, console: Any | None) -> None:
        self.console = console
        self.timings: dict[str, float] = {}

    @contextmanager
    def step(self, name: str, detail: str = "") -> Iterator[Callable[[str], None]]:
        """Time the block as step ``name``; it receives ``note(text)`` for the progress line."""
        notes: list[str] = []
        began = time.perf_counter()
        if self.console is None:
            yield notes.append
        else:
            with self.console.status(f"[bold]{name}[/] {detail}", spinner="dots"):
                yield notes.append
        took = time.perf_counter() - began
        self.timings[name] = took
        if self.console is not None:
            extra = f" — {'; '.join(notes)}" if notes else ""
            self.console.print(f"[green]✓[/] {name} [dim]({took:.1f} s)[/]{extra}", highlight=False)
