"""The CLI explains itself (issue #16): defaults on every option, no <bool>, --version."""

from __future__ import annotations

import re

import pytest
import typer.main

from clvml.cli import app
from clvml.cli._app import run as cli_run


def _commands():
    group = typer.main.get_command(app)
    ctx = group.context_class(group)
    return [(name, group.get_command(ctx, name), ctx) for name in group.list_commands(ctx)]


def test_every_option_says_its_default():
    missing = []
    for name, cmd, ctx in _commands():
        for p in cmd.get_params(ctx):
            is_option = getattr(p, "param_type_name", "") == "option"
            if not is_option or p.name == "help" or p.required or p.is_flag:
                continue
            if p.default is None and "[default:" not in (p.help or ""):
                missing.append(f"{name} {p.opts[0]}")
    assert not missing, missing


@pytest.mark.parametrize("command", [None, "score", "generate", "demo", "validate", "train"])
def test_help_shows_no_bool_type_and_no_raw_backticks(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    argv = ["--help"] if command is None else [command, "--help"]
    assert cli_run(argv) == 0
    out = capsys.readouterr().out
    assert "<bool>" not in out
    assert "``" not in out
    assert "--help" in out


def test_options_with_a_value_show_their_default_in_help(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    assert cli_run(["score", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "[default: data/social]" in out and "[default: error]" in out
    assert re.search(r"--schema .*\[default:", out)


def test_version(capsys):
    from clvml._version import __version__

    assert cli_run(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"clvml {__version__}"


def test_demo_ends_with_the_mlflow_store_and_the_command_opening_it(tmp_path):
    from clvml.cli.demo import _mlflow_lines

    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    lines = _mlflow_lines(uri).splitlines()
    assert lines[0].startswith(f"MLflow store: {uri}")
    assert f"mlflow ui --backend-store-uri {uri}" in lines[1]
    secret = _mlflow_lines("postgresql://u:hunter2@db/mlflow")
    assert "hunter2" not in secret
