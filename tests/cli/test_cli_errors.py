"""The CLI's error policy, through typer's CliRunner.

clvml's own errors (ClvmlError and subclasses) and file/permission errors (OSError family)
become one line on stderr and exit code 2; anything else keeps its traceback (it is a bug);
``clvml --debug <command>`` keeps the traceback of every error.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from clvml.cli import app
from clvml.cli._app import run
from clvml.data.io import DataSourceError
from clvml.exceptions import ConvergenceError, DataValidationError
from clvml.pipelines.config import ConfigError
from clvml.scoring.errors import CRMConnectionError

_RAISE: dict[str, BaseException] = {}


@pytest.fixture
def boom() -> Iterator[dict[str, BaseException]]:
    """A temporary ``boom`` command raising whatever the test puts in the dict."""

    def _boom() -> None:
        raise _RAISE["error"]

    app.command("boom")(_boom)
    try:
        yield _RAISE
    finally:
        app.registered_commands[:] = [c for c in app.registered_commands if c.name != "boom"]
        _RAISE.clear()


def _invoke(args: list[str]):
    return CliRunner().invoke(app, args)


@pytest.mark.parametrize(
    "error",
    [
        DataValidationError("must be >= 0", column="amount", n_rows=3, example=-1.0),
        ConfigError("config.toml: [model.params] has no key 'penalty'"),
        DataSourceError("table:crm: no transactions table"),
        CRMConnectionError("cannot reach postgresql://crm"),
        ConvergenceError("BG/NBD did not converge; try penalizer=0.01"),
        FileNotFoundError(2, "No such file or directory", "missing.csv"),
        PermissionError(13, "Permission denied", "/root/out"),
        IsADirectoryError(21, "Is a directory", "data"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_user_errors_are_one_line_and_exit_2(boom, error: BaseException) -> None:
    boom["error"] = error
    result = _invoke(["boom"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: {type(error).__name__}: {error}"]
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "error",
    [
        ValueError("operands could not be broadcast together"),
        KeyError("clv_closed_form"),
        TypeError("unsupported operand type(s)"),
        ZeroDivisionError("division by zero"),
        RuntimeError("internal state"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_other_errors_are_not_swallowed(boom, error: BaseException) -> None:
    boom["error"] = error
    result = _invoke(["boom"])
    assert result.exception is error  # propagated as is: the runner saw the bug itself
    assert result.exit_code == 1
    assert "error:" not in result.stderr
    with pytest.raises(type(error)):  # the script's entry point lets it through too
        run(["boom"])


def test_debug_shows_the_traceback_of_clvml_errors(boom) -> None:
    error = DataValidationError("must be >= 0", column="amount")
    boom["error"] = error
    assert _invoke(["boom"]).exit_code == 2
    result = _invoke(["--debug", "boom"])
    assert result.exception is error
    assert result.exit_code == 1
    assert "error:" not in result.stderr
    with pytest.raises(DataValidationError):
        run(["--debug", "boom"])
    assert run(["boom"]) == 2


def test_usage_errors_stay_typer_s(boom) -> None:
    result = _invoke(["boom", "--no-such-option"])
    assert result.exit_code == 2
    assert "No such option" in result.output
    assert _invoke(["no-such-command"]).exit_code == 2


def test_bad_validate_options_are_clvml_errors(tmp_path) -> None:
    """What ``clvml validate`` rejects for bad user input is a clvml error (one line)."""
    for argv, message in [
        (["--tz", "Mars/Olympus"], "tz='Mars/Olympus' is not an IANA time zone"),
        (["--now", "someday"], "now='someday' is not a date"),
    ]:
        (tmp_path / "transactions.csv").write_text("customer_id,timestamp,amount\na,2024-01-02,5\n")
        result = _invoke(["validate", "--data", str(tmp_path), *argv])
        assert result.exit_code == 2, result.output
        assert message in result.stderr
        assert "DataValidationError" in result.stderr
