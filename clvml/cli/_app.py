"""The typer application object and the error policy shared by every command.

A command that fails because of something the user can fix -- any error clvml raises on
purpose (:class:`~clvml.exceptions.ClvmlError` and its subclasses: bad data, a bad
config, an unreachable CRM) or a file the operating system refuses (the ``OSError``
family: a missing file, a permission, a directory where a file was expected) -- prints
one line on stderr and exits with code 2. Anything else is a bug: it keeps its
traceback. ``clvml --debug <command>`` shows the traceback of every error.

The policy lives in the command group (:class:`ClvmlGroup`), so it holds however the
app is run: the ``clvml`` script, :func:`run`, or typer's ``CliRunner`` in tests.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from clvml.data.secrets import scrub
from clvml.exceptions import ClvmlError

__all__ = ["USER_ERRORS", "ClvmlGroup", "app", "console", "err_console", "run"]

#: Errors a user can cause and fix; they get one line and exit code 2, not a traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (ClvmlError, OSError)

_DEBUG = "clvml.debug"

console = Console()
err_console = Console(stderr=True)


def _one_line(exc: BaseException) -> None:
    err_console.print("error: ", style="bold red", end="")
    # the last defence: any URL in the message is printed with its secrets masked
    text = scrub(f"{type(exc).__name__}: {exc}")
    err_console.print(text, markup=False, highlight=False, soft_wrap=True)


_DEFAULT_TAG = re.compile(r"(?<!\\)\[default:")


def _flags_without_type(params: list[Any]) -> list[Any]:
    """Tidy the options for ``--help``.

    Flags (``--force``, ``--help``) take no value: no ``<bool>`` type is shown. A
    ``[default: ...]`` written in a help text is escaped, or rich would read it as markup
    and drop it (leaving a bare " .").
    """
    for p in params:
        if getattr(p, "is_flag", False) and getattr(p, "metavar", None) is None:
            p.metavar = ""
        text = getattr(p, "help", None)
        if text and "[default:" in text:
            p.help = _DEFAULT_TAG.sub(r"\\[default:", text)
    return params


class ClvmlGroup(TyperGroup):
    """The ``clvml`` command group: :data:`USER_ERRORS` of a command become one line."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_without_type(super().get_params(ctx))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None:
            _flags_without_type(cmd.get_params(ctx))
        return cmd

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click.Context
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            if ctx.meta.get(_DEBUG):
                raise
            _one_line(exc)
            raise typer.Exit(2) from exc


app = typer.Typer(
    name="clvml",
    cls=ClvmlGroup,
    help="Customer lifetime value: closed-form CLV, BTYD models and a social churn model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def run(argv: Sequence[str]) -> int:
    """Run the CLI on ``argv`` and return the exit code (0 on success).

    Usage errors are reported by typer itself (exit code 2); errors the user can fix
    (:data:`USER_ERRORS`) are printed as one line with exit code 2; anything else is a
    bug and is raised with its traceback.
    """
    try:
        app(list(argv))
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def _print_version(value: bool) -> None:
    if value:
        from clvml._version import __version__

        console.print(f"clvml {__version__}", highlight=False)
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of every error, even bad input.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Customer lifetime value: closed-form CLV, BTYD models and a social churn model."""
    ctx.meta[_DEBUG] = debug
