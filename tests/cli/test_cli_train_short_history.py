"""``clvml train`` and ``clvml evaluate`` on a history too short for the horizon (#14 point 1, #16).

A plain two-year transaction log (no metadata) with the default 52-week horizon: the
calibration end is one horizon before the last purchase, so the history before it is one
year, too short for an earlier training window of 52 weeks before the cut-off. Both
commands say so and fall back the same documented way (docs/model_comparison.md,
"Short history"): the supervised methods are left out, label-free methods are compared
and served.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

import clvml.cli.evaluate
import clvml.cli.train  # noqa: F401  (registers the commands)
from clvml.cli._app import run


@pytest.fixture(scope="module")
def two_years(tmp_path_factory):
    rng = np.random.default_rng(0)
    rows = []
    start, end = pd.Timestamp("2024-01-01"), pd.Timestamp("2025-12-31")
    for i in range(400):
        first = start + pd.Timedelta(days=int(rng.integers(0, 360)))
        days = [first]
        rate = rng.gamma(0.8, 1 / 20)  # purchases per day
        life = rng.exponential(400)
        t = first
        while True:
            t = t + pd.Timedelta(days=max(1, int(rng.exponential(1 / rate))))
            if t > end or (t - first).days > life:
                break
            days.append(t)
        for d in days:
            rows.append((f"c{i:04d}", d, round(float(rng.gamma(2.0, 20.0)), 2)))
    tx = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"])
    folder = tmp_path_factory.mktemp("short") / "data"
    folder.mkdir()
    tx.to_csv(folder / "transactions.csv", index=False)
    return folder


def test_train_falls_back_to_label_free_methods_and_says_so(two_years, tmp_path, capsys):
    store = f"sqlite:///{tmp_path / 'store.db'}"
    with threadpool_limits(1, user_api="openmp"):
        code = run(["train", "--data", str(two_years), "--tracking-uri", store, "--seed", "1"])
    out = capsys.readouterr()
    text = out.out + out.err
    assert code == 0, text
    assert "no rows with positive weight" not in text
    # one horizon before the cut-off is the data's second day: the window is too young
    assert "short history" in text and "too young" in text and "label-free" in text


def test_evaluate_falls_back_the_same_way(two_years, capsys):
    with threadpool_limits(1, user_api="openmp"):
        code = run(
            ["evaluate", "--data", str(two_years), "--calibration-end", "2024-12-15",
             "--holdout-end", "2025-12-15"]
        )  # fmt: skip
    out = capsys.readouterr()
    text = out.out + out.err
    assert code == 0, text
    assert "short history" in text and "shorter than" in text and "label-free" in text
