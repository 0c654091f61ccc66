"""The training config: defaults, the commented example, overrides and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from clvml.pipelines.config import DEFAULTS, ConfigError, load_config, validate_config

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "train.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file():
    cfg = load_config()
    assert cfg.values == DEFAULTS
    assert cfg["data"]["source"] == "data/social"
    assert cfg["gate"]["metric"] == "normalized_gini"


def test_example_config_is_valid_and_sets_every_section():
    cfg = load_config(ROOT / "configs" / "train.toml")
    for section in ("data", "window", "features", "model", "evaluation", "gate", "tracking"):
        assert section in cfg.values
    assert cfg["window"]["horizon_weeks"] == 52
    # relative data paths are resolved against the config's folder
    assert cfg.base_dir == (ROOT / "configs").resolve()


def test_file_values_and_flag_overrides(tmp_path):
    path = _write(
        tmp_path,
        """
        seed = 7
        [window]
        calibration_end = 2025-06-29
        horizon_weeks = 26
        [tracking]
        model_name = "from-file"
        """,
    )
    cfg = load_config(path)
    assert cfg["seed"] == 7
    assert cfg["window"]["calibration_end"] == "2025-06-29"  # TOML date normalised to text
    assert cfg["tracking"]["model_name"] == "from-file"
    over = cfg.override(model_name="from-flag", horizon_weeks=None, seed=1, data="some/dir")
    assert over["tracking"]["model_name"] == "from-flag"
    assert over["window"]["horizon_weeks"] == 26  # None means "flag not given"
    assert over["seed"] == 1
    assert over["data"]["source"] == str(Path("some/dir").resolve())  # flags: relative to cwd
    assert cfg["tracking"]["model_name"] == "from-file"  # the original is unchanged


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[dta]\nsource = 'x'", r"unknown key 'dta'; expected one of \['data'"),
        ("[data]\nsorce = 'x'", r"unknown key data.'sorce'"),
        ("[window]\nhorizon_weeks = 'long'", r"horizon_weeks must be an integer or a number"),
        ("[window]\nhorizon_weeks = 0", r"window.horizon_weeks must be in \(0, 520\]"),
        ("[window]\ncalibration_end = 'June'", r"window.calibration_end is not a date"),
        ("[model]\nmargin = 1.5", r"model.margin must be in \(0, 1\]"),
        ("[model]\nannual_discount_rate = -0.1", r"annual_discount_rate must be in \[0, 1\)"),
        ("[model]\nmethods = ['ml']\nchampion = 'btyd'", r"'btyd' is not among model.methods"),
        ("[model]\nmethods = []", r"model.methods must be a non-empty list"),
        ("[model]\nsupervised = 'customers'", r"model.supervised must be 'time' or 'none'"),
        ("[data]\nreturns = 'ignore'", r"data.returns must be one of \['error', 'drop', 'net'\]"),
        ("[gate]\nmetric = 'accuracy'", r"gate.metric must be one of"),
        ("[tracking]\nmodel_name = 'a/b'", r"tracking.model_name must be non-empty without"),
        ("[tracking]\nregister = 'yes'", r"tracking.register must be true/false"),
        ("seed = -1", r"seed must be a non-negative integer"),
        ("seed = true", r"seed must be an integer, got bool"),
        ("[evaluation]\nn_folds = 1", r"evaluation.n_folds must be >= 2"),
        ("data = 3", r"\[data\] must be a table"),
        ("[model.params]\npenalizr = 0.1", r"model.params.'penalizr'.* did you mean 'penalizer'"),
        ("[model.params]\nrandom_state = 3", r"model.params.random_state is set by seed"),
        ("[model.params]\nmargin = 0.5", r"model.params.margin is set by model.margin"),
    ],
)
def test_errors_name_the_key_and_the_file(tmp_path, text, match):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_invalid_toml_reports_the_position(tmp_path):
    path = _write(tmp_path, "[data]\nsource = \n")
    with pytest.raises(ConfigError, match=r"not valid TOML: .*line 2"):
        load_config(path)


def test_missing_file_and_wrong_suffix(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such config file"):
        load_config(tmp_path / "nope.toml")
    other = tmp_path / "train.yaml"
    other.write_text("data: {}")
    with pytest.raises(ConfigError, match=r"expected a \.toml file"):
        load_config(other)


def test_unknown_override_is_refused():
    with pytest.raises(ConfigError, match="unknown override 'horizon'"):
        load_config().override(horizon=3)


def test_validate_config_does_not_mutate_the_defaults():
    validate_config({"model": {"params": {"max_iter": 5}}})
    assert DEFAULTS["model"]["params"] == {}


def test_default_data_falls_back_to_the_shipped_data_set(tmp_path, monkeypatch):
    from clvml.pipelines.config import data_source

    monkeypatch.chdir(tmp_path)  # no data/social here
    assert Path(data_source(load_config())) == ROOT / "data" / "social"
    (tmp_path / "data" / "social").mkdir(parents=True)  # a local folder wins
    assert Path(data_source(load_config())) == tmp_path / "data" / "social"
