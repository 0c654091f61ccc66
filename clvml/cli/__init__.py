"""The ``clvml`` command line: a thin typer layer over the library.

Each command lives in its own module of this package and registers itself on
:data:`app`; this module only assembles them. The command group
(:class:`clvml.cli._app.ClvmlGroup`) turns errors a user can fix (clvml's own errors, file
and permission errors) into one readable line and exit code 2; anything else keeps its
traceback, and ``clvml --debug <command>`` keeps it for every error.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# Importing a command module registers its command on the app.
from clvml.cli import alerts as _alerts  # noqa: F401
from clvml.cli import demo as _demo  # noqa: F401
from clvml.cli import evaluate as _evaluate  # noqa: F401
from clvml.cli import export as _export  # noqa: F401
from clvml.cli import forget as _forget  # noqa: F401
from clvml.cli import generate as _generate  # noqa: F401
from clvml.cli import impact as _impact  # noqa: F401
from clvml.cli import monitor as _monitor  # noqa: F401
from clvml.cli import report as _report  # noqa: F401
from clvml.cli import score as _score  # noqa: F401
from clvml.cli import segments as _segments  # noqa: F401
from clvml.cli import train as _train  # noqa: F401
from clvml.cli import validate as _validate  # noqa: F401
from clvml.cli._app import app, run

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``clvml`` console script."""
    sys.exit(run(sys.argv[1:]))
