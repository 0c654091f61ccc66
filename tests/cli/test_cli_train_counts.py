"""One ``clvml train`` builds each distinct cut-off's customer frame once and scores each
distinct text's sentiment once (issue #13: it used to build 2 cut-offs 4 times)."""

from __future__ import annotations

import sys
from collections import Counter

import pandas as pd
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

import clvml.cli.train  # noqa: F401  (registers the command)
from clvml.cli._app import app


def test_train_builds_each_cutoff_once_and_scores_each_text_once(tmp_path, monkeypatch):
    import clvml.features.dataset as dataset
    import clvml.features.sentiment as sentiment
    from clvml.data.synthetic import generate_social_commerce, write_dataset

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    folder = write_dataset(generate_social_commerce(600, random_state=7), tmp_path / "world")
    config = tmp_path / "fast.toml"
    config.write_text(
        '[model]\nmethods = ["btyd", "hybrid"]\n'  # hybrid is supervised: a second cut-off
        "[model.params]\nmax_iter = 30\nn_draws = 20\n"
        "[tracking]\nregister = false\n"
    )

    built: Counter[pd.Timestamp] = Counter()
    real_features = dataset.customer_features

    def spy_features(*args, **kwargs):
        built[pd.Timestamp(kwargs["cutoff"]).normalize()] += 1
        return real_features(*args, **kwargs)

    # every module that bound the frame-building function, whatever its import path
    for module in list(sys.modules.values()):
        name = getattr(module, "__name__", "")
        if name.startswith("clvml.") and getattr(module, "customer_features", None) is (
            real_features
        ):
            monkeypatch.setattr(module, "customer_features", spy_features)

    scored: Counter[tuple[str, str]] = Counter()
    for lang, scorer in list(sentiment._SCORERS.items()):

        def spy_scorer(text: str, _lang: str = lang, _scorer=scorer) -> float:
            scored[(_lang, text)] += 1
            return _scorer(text)

        monkeypatch.setitem(sentiment._SCORERS, lang, spy_scorer)

    args = ["train", "--data", str(folder), "--config", str(config)]
    args += ["--tracking-uri", f"sqlite:///{tmp_path / 'runs.db'}", "--seed", "1"]
    with threadpool_limits(1, user_api="openmp"):
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "✓ compare methods" in result.output

    assert len(built) >= 2, built  # the cut-off and the supervised training cut-off
    assert all(n == 1 for n in built.values()), built
    assert len(scored) > 100  # the world's inbound texts were scored ...
    assert max(scored.values()) == 1, scored.most_common(3)  # ... each distinct text once
