"""The steps of a pipeline run: progress while a step runs, a line when it is done, its seconds.

:class:`Steps` shows, on a rich console, a live progress line for the running step (a
spinner, what it is doing and, when the library reports it through
:mod:`clvml._progress`, a bar of the items done: the methods fitted, the chunks scored)
and, when the step ends, one line ``✓ <step> (<seconds> s) — <notes>``. The live line is
shown only on a terminal: written to a file or a pipe, the output holds the ✓ lines and
nothing else. Every step's events are kept in :attr:`Steps.events`, so what was reported
can be checked without a terminal.

While the live line is shown, what other code writes to stdout or stderr (MLflow's
messages) is printed above it instead of through it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from clvml._progress import listen

__all__ = ["Steps", "live_console"]


def live_console(console: Any | None) -> bool:
    """Whether ``console`` can show a live progress display (a terminal, not a file or pipe)."""
    return console is not None and bool(getattr(console, "is_terminal", False))


class Steps:
    """Progress display and timings of the pipeline's steps (rich, when a console is given).

    Attributes
    ----------
    timings : dict of str to float
        Seconds of every finished step.
    events : list of (step, what, done, total)
        The progress reported inside each step, in order; ``what`` is ``"start"`` and
        ``"done"`` for the step's own start and end.
    """

    def __init__(self, console: Any | None) -> None:
        self.console = console
        self.timings: dict[str, float] = {}
        self.events: list[tuple[str, str, int, int]] = []

    @contextmanager
    def step(self, name: str, detail: str = "") -> Iterator[Callable[[str], None]]:
        """Time the block as step ``name``; it receives ``note(text)`` for the done line."""
        notes: list[str] = []
        began = time.perf_counter()
        title = f"[bold]{name}[/] {detail}".rstrip()
        self.events.append((name, "start", 0, 0))
        with ExitStack() as stack:
            update: Callable[[str, int, int], None] | None = None
            if live_console(self.console):
                update = self._live(stack, title)

            def on_report(what: str, done: int, total: int) -> None:
                self.events.append((name, what, done, total))
                if update is not None:
                    update(what, done, total)

            stack.enter_context(listen(on_report))
            yield notes.append
        took = time.perf_counter() - began
        self.timings[name] = took
        self.events.append((name, "done", 0, 0))
        if self.console is not None:
            extra = f" — {'; '.join(notes)}" if notes else ""
            self.console.print(f"[green]✓[/] {name} [dim]({took:.1f} s)[/]{extra}", highlight=False)

    def _live(self, stack: ExitStack, title: str) -> Callable[[str, int, int], None]:
        """Start a transient progress line on the console; return how to update it."""
        from rich.markup import escape
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        progress = stack.enter_context(
            Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
        )
        task = progress.add_task(title, total=None)

        def update(what: str, done: int, total: int) -> None:
            progress.update(
                task,
                description=f"{title}: {escape(what)}",
                completed=done,
                total=total or None,
                refresh=True,  # a few events per step: each is shown, however short
            )

        return update
