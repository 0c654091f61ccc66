"""``clvml train`` and ``clvml export`` through ``clvml.cli._app.run`` (the path users take)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

import clvml.cli.export
import clvml.cli.train  # noqa: F401  (registers the command)
from clvml.cli._app import run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """The first 800 customers of data/social, with its metadata."""
    from clvml.data.synthetic import load_social_commerce

    social = load_social_commerce()
    folder = tmp_path_factory.mktemp("cli") / "social"
    folder.mkdir()
    ids = set(social.customers["customer_id"].iloc[:800])
    for name in ("transactions", "engagement", "customers"):
        frame = getattr(social, name)
        frame.loc[frame["customer_id"].isin(ids)].to_parquet(folder / f"{name}.parquet")
    shutil.copy(ROOT / "data" / "social" / "metadata.json", folder / "metadata.json")
    return folder


def test_train_then_export(data, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    config = tmp_path / "fast.toml"
    config.write_text('[model]\nmethods = ["btyd"]\n[model.params]\nn_draws = 20\n')
    store = f"sqlite:///{tmp_path / 'store.db'}"
    args = ["train", "--data", str(data), "--config", str(config), "--tracking-uri", store]
    with threadpool_limits(1, user_api="openmp"):
        code = run([*args, "--model-name", "cli-model", "--seed", "5", "--horizon-weeks", "52"])
    printed = capsys.readouterr()
    out = printed.out
    assert code == 0, out
    assert "✓ compare methods" in out and "gini" in out and "btyd" in out
    assert "INFO mlflow" not in out + printed.err  # MLflow's INFO lines do not interleave
    assert "fitting" not in out  # no live progress line written to a pipe
    assert "is the first champion of cli-model" in out
    assert "Holdout 2025-06-29 -> 2026-06-28" in out

    dest = tmp_path / "models" / "cli-model"
    code = run(
        [
            "export",
            "--model-uri",
            "models:/cli-model@champion",
            "--out",
            str(dest),
            "--tracking-uri",
            store,
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "version 1 of cli-model" in out and "holdout.normalized_gini" in out
    assert (dest / "MLmodel").is_file()
    assert json.loads((dest / "export.json").read_text())["registered_name"] == "cli-model"


def test_bad_config_is_one_line_and_exit_code_2(tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text("[model]\nmargin = 2\n")
    code = run(["train", "--config", str(config), "--tracking-uri", f"sqlite:///{tmp_path}/x.db"])
    err = capsys.readouterr().err
    assert code == 2
    assert "ConfigError" in err and "model.margin must be in (0, 1]" in err
    assert "Traceback" not in err


def test_model_params_typo_fails_in_one_line_before_any_work(tmp_path, capsys, monkeypatch):
    import clvml.pipelines.engine as engine

    def no_work(*args, **kwargs):
        raise AssertionError("the data were read before the config was checked")

    monkeypatch.setattr(engine, "load_tables_of", no_work)
    config = tmp_path / "typo.toml"
    config.write_text("[model.params]\npenalizr = 0.1\n")
    store = tmp_path / "x.db"
    code = run(["train", "--config", str(config), "--tracking-uri", f"sqlite:///{store}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1, err
    assert "ConfigError" in err[0] and "model.params.'penalizr'" in err[0]
    assert "did you mean 'penalizer'?" in err[0] and str(config) in err[0]
    assert not store.exists()  # no tracking store was created: nothing ran


def test_missing_data_folder_is_a_user_error(tmp_path, capsys):
    code = run(["train", "--data", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert code == 2 and "no such data folder" in err


def test_export_without_champion_is_a_user_error(tmp_path, capsys):
    store = f"sqlite:///{tmp_path / 'empty.db'}"
    code = run(["export", "--tracking-uri", store, "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 2 and "models:/clvml@champion: not found" in err


def test_engine_spark_without_pyspark_is_one_line(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pyspark", None)  # as if the extra were not installed
    uri = f"sqlite:///{tmp_path}/m.db"
    assert run(["train", "--engine", "spark", "--tracking-uri", uri]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'clvml[spark]'" in err[0]
    assert run(["train", "--engine", "dask", "--tracking-uri", uri]) == 2
