"""The ``clvml`` command line: a thin typer layer over the library.

Each command lives in its own module of this package and registers itself on
:data:`app`; this module only assembles them and turns clvml errors into one
readable line and a non-zero exit code.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from clvml.cli._app import app, run  # noqa: E402
from clvml.cli import demo as _demo  # noqa: E402,F401  (registers `clvml demo`)

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``clvml`` console script."""
    sys.exit(run(sys.argv[1:]))
