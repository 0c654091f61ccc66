"""The typer application object and the one-line error handling shared by every command."""

from __future__ import annotations

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
    """Run the CLI on ``argv`` and return the exit code (0 on success).

    Usage errors are reported by typer itself (exit code 2); errors the user
    can fix (bad data, missing files) are printed as one line with exit code 2;
    anything else is a bug and keeps its traceback.
    """
    try:
        app(list(argv))
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except USER_ERRORS as exc:
        msg = str(exc) if not isinstance(exc, KeyError) else f"missing key {exc}"
        err_console.print("error: ", style="bold red", end="")
        err_console.print(
            f"{type(exc).__name__}: {msg}", markup=False, highlight=False, soft_wrap=True
        )
        return 2
    return 0


@app.callback()
def _root() -> None:
    """Customer lifetime value: closed-form CLV, BTYD models and a social churn model."""
