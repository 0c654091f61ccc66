"""Files the user shares get the user's umask (issue #16), still written atomically.

Reports, segment exports and exported model folders used to be 0600/0700 whatever the
umask (``mkstemp``/``mkdtemp`` then rename). The real commands run here under two umasks.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clvml.cli import app  # noqa: F401  (registers every command)
from clvml.cli._app import run as cli_run
from clvml.data.files import share


@pytest.fixture(params=[0o022, 0o002, 0o077])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def scores_file(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    n = 200
    clv = rng.gamma(2.0, 20.0, n)
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i:04d}" for i in range(n)],
            "clv": clv,
            "churn_probability": rng.uniform(0, 1, n),
            "p_alive": rng.uniform(0, 1, n),
            "value_tier": np.where(clv > np.quantile(clv, 0.8), "top 20%", "rest"),
        }
    )
    path = tmp_path / "scores.csv"
    frame.to_csv(path, index=False)
    return path


def test_segment_exports_follow_the_umask(umask, scores_file, tmp_path, capsys):
    out = tmp_path / "lists"
    assert cli_run(["segments", "--scores", str(scores_file), "--export", str(out)]) == 0, (
        capsys.readouterr().err
    )
    files = sorted(out.glob("*.csv"))
    assert files
    for f in files:
        assert _mode(f) == 0o666 & ~umask, f
    assert not list(out.glob(".*"))  # no temporary file left behind


def test_report_follows_the_umask(umask, scores_file, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert cli_run(["report", "--scores", str(scores_file), "--out", str(out)]) == 0, (
        capsys.readouterr().err
    )
    assert _mode(out) == 0o666 & ~umask


def test_a_folder_made_by_mkdtemp_is_shared_as_mkdir_would(umask):
    """What export_model does to the model folder before moving it into place."""
    root = Path(tempfile.mkdtemp())
    (root / "artifacts").mkdir()
    (root / "artifacts" / "clv_model.pkl").write_bytes(b"x")
    fd, name = tempfile.mkstemp(dir=root)
    os.close(fd)
    assert _mode(root) == 0o700 and _mode(Path(name)) == 0o600
    share(root)
    assert _mode(root) == _mode(root / "artifacts") == 0o777 & ~umask
    assert _mode(Path(name)) == _mode(root / "artifacts" / "clv_model.pkl") == 0o666 & ~umask


# ----------------------------------------------------------------------------- --currency
def test_report_and_segments_show_money_in_the_currency(scores_file, tmp_path, capsys):
    import re

    from clvml.reporting.i18n import fmt_money

    mean = pd.read_csv(scores_file)["clv"].mean()
    out = tmp_path / "r.html"
    argv = ["report", "--scores", str(scores_file), "--out", str(out), "--lang", "es"]
    assert cli_run([*argv, "--currency", "eur"]) == 0, capsys.readouterr().err
    html = out.read_text()
    assert fmt_money(mean, "es", "EUR") in html and fmt_money(mean, "es", "EUR").endswith("€")
    assert cli_run(["segments", "--scores", str(scores_file), "--currency", "USD"]) == 0
    text = capsys.readouterr().out
    assert re.search(r"\$\d+\.\d\d", text), text  # mean CLV per segment: $12.34
    assert not re.search(r"\d\.\d{3}\b", text)  # no 5166.000-style amounts
    code = cli_run(["report", "--scores", str(scores_file), "--out", str(out), "--currency", "$"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "ISO 4217" in err
