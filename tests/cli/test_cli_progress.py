"""Progress on the long steps (issue 16): model fitting and the method comparison report it.

The library reports how far a fit is (:mod:`clvml._progress`); the pipelines' steps
(:class:`clvml.pipelines.steps.Steps`) show it live on a terminal and keep it as events;
written to a file or pipe, the output holds only the ``✓`` line of each finished step.
"""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

import clvml.cli.evaluate
from clvml.cli._app import run
from clvml.pipelines.steps import Steps

BAR = "━"


def _plain(text: str) -> str:
    """The text without its terminal control sequences (colours, cursor moves)."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=terminal, width=120), buf


@pytest.fixture(scope="module")
def features(make_world):
    from clvml.features.dataset import customer_features

    world = make_world(300, random_state=5)
    return customer_features(
        world.transactions, world.engagement, world.customers, cutoff=world.calibration_end
    )


def _fit(steps: Steps, features) -> None:
    from clvml.models.composite import CLVModel

    with steps.step("fit model", "up to the cut-off") as note:
        model = CLVModel(horizon_weeks=26, methods=("closed_form", "btyd"), interval=None)
        model.fit(features)
        note(f"methods {', '.join(model.methods_)}")


def test_fitting_reports_every_method_and_shows_a_live_line_on_a_terminal(features) -> None:
    console, buf = _console(terminal=True)
    steps = Steps(console)
    _fit(steps, features)
    events = [e for e in steps.events if e[0] == "fit model"]
    assert events[0][1] == "start" and events[-1][1] == "done"
    reported = [(what, done, total) for _, what, done, total in events[1:-1]]
    whats = [what for what, _, _ in reported]
    assert whats[0] == "fitting btyd" and whats[-1] == "fitted"
    assert {"fitting closed_form"} <= set(whats)
    dones = [done for _, done, _ in reported]
    assert dones == sorted(dones) and dones[-1] == reported[-1][2] > 1  # all of them done
    out = _plain(buf.getvalue())
    assert "fitting" in out and BAR in out  # the live line, while it ran
    assert "✓ fit model" in out and "— methods " in out


def test_no_live_output_when_not_a_terminal_only_the_done_lines(features) -> None:
    console, buf = _console(terminal=False)
    steps = Steps(console)
    _fit(steps, features)
    lines = buf.getvalue().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("✓ fit model (")
    assert any(what == "fitting btyd" for _, what, _, _ in steps.events)  # still recorded
    quiet = Steps(None)
    _fit(quiet, features)  # no console: nothing printed, the events kept
    assert [e[1] for e in quiet.events][-2:] == ["fitted", "done"]


def test_evaluate_shows_the_comparison_progress_on_a_terminal(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from clvml.data.synthetic import generate_social_commerce, write_dataset

    # the world of tests/cli/test_cli_evaluate.py
    write_dataset(generate_social_commerce(700, seed=2), tmp_path / "world", fmt="csv")
    argv = ["evaluate", "--data", str(tmp_path / "world"), "--calibration-end", "2025-06-29"]
    argv += ["--horizon-weeks", "52", "--currency", "EUR"]
    console, buf = _console(terminal=True)
    monkeypatch.setattr(clvml.cli.evaluate, "console", console)
    assert run(argv) == 0, capsys.readouterr().err
    out = _plain(buf.getvalue())
    for line in ("✓ load data", "✓ validate", "✓ compare methods"):
        assert line in out
    assert "compare methods" in out and "fitting hybrid" in out and BAR in out
    assert "Gini" in out and "€" in out  # the table follows, its MAE in the currency
