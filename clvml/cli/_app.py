"""The typer application object and the one-line error handling shared by every command."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer
from rich.console import Console

from clvml.exceptions import ClvmlError

app = typer.Typer(
    name="clvml",
    help="Customer lifetime value: closed-form CLV, BTYD models and a social churn model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

console = Console()
err_console = Console(stderr=True)

#: Errors a user can cause and fix; they get one line, never a traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ClvmlError,
    ValueError,
    FileNotFoundError,
    PermissionError,
    KeyError,
)


def run(argv: Sequence[str]) -> int:
    """Run the CLI on ``argv`` and return the exit code (0 on success)."""
    try:
        app(list(argv), standalone_mode=False)
    except typer.Exit as exc:  # raised by commands that choose their exit code
        return int(exc.exit_code or 0)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except USER_ERRORS as exc:
        msg = str(exc) if not isinstance(exc, KeyError) else f"missing key {exc}"
        err_console.print(f"[bold red]error:[/] {type(exc).__name__}: {msg}", highlight=False, soft_wrap=True)
        return 2
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.ClickException):
            exc.show(file=sys.stderr)
            return exc.exit_code
        if isinstance(exc, click.exceptions.Abort):
            err_console.print("aborted")
            return 1
        raise
    return 0
