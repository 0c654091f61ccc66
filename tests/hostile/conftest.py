"""Fixtures of the hostile battery (issue #15): small clean data folders to spoil.

Each test writes a clean folder of a few generated customers, spoils one thing the way
an attacker or an unlucky operator would, and checks the outcome: a count, a quarantine
entry, or one line naming the file, the column and the rows -- never a traceback or a hang.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import clvml.cli.score
import clvml.cli.train
import clvml.cli.validate  # noqa: F401  (the imports register the commands)
from clvml.cli import app

N_CUSTOMERS = 40


@pytest.fixture(scope="session")
def clean_tables() -> dict[str, pd.DataFrame]:
    """transactions, engagement and customers of a small generated world (ids as text)."""
    from clvml.data.synthetic import generate_social_commerce

    data = generate_social_commerce(N_CUSTOMERS, random_state=5)
    return {
        "transactions": data.transactions.reset_index(drop=True),
        "engagement": data.engagement.reset_index(drop=True),
        "customers": data.customers.reset_index(drop=True),
    }


@pytest.fixture
def write_folder(tmp_path: Path, clean_tables: dict[str, pd.DataFrame]) -> Callable[..., Path]:
    """Write the clean tables as CSV, each replaced by the frame given for it (or dropped: None)."""

    def write(name: str = "data", **tables: pd.DataFrame | None) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        for table, frame in clean_tables.items():
            frame = tables.get(table, frame)
            if frame is not None:
                frame.to_csv(folder / f"{table}.csv", index=False)
        return folder

    return write


def cli(args: list[str]):
    """Run the CLI in-process; the result has exit_code, stdout and stderr."""
    return CliRunner().invoke(app, args)


def one_line_error(result) -> str:
    """The single error line of a failed command (asserts exit code 2 and no traceback)."""
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]
