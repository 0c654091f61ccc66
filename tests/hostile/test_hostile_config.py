"""Hostile configs and tracking targets (issue #15): bounded numbers, one line, no wait.

``max_iter = 1e9`` or ``n_draws = 1e12`` (a 29 TiB allocation) in a TOML config, an
unknown ``[model.params]`` key, an experiment name of 600 characters, a tracking URI
under a file or a server that does not answer: each is one line naming the key or the
URI, before any data are read or any model fitted.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from clvml.pipelines.config import PARAM_BOUNDS, ConfigError, load_config
from clvml.tracking import store
from clvml.tracking.store import TrackingError, configure_mlflow

from .conftest import cli, one_line_error


def _config(tmp_path: Path, body: str, data: Path | None = None, top: str = "") -> Path:
    path = tmp_path / "train.toml"
    source = f'{top}[data]\nsource = "{data or tmp_path / "no-data"}"\n'
    path.write_text(source + body)
    return path


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("max_iter = 1e9", "model.params.max_iter must be an integer in [1, 10000], got float"),
        ("max_iter = 1000000000", "model.params.max_iter must be in [1, 10000], got 1000000000"),
        ("n_draws = 1e12", "model.params.n_draws must be an integer in [1, 10000]"),
        ("n_draws = 1000000000000", "model.params.n_draws must be in [1, 10000]"),
        ("n_draws = 0", "model.params.n_draws must be in [1, 10000], got 0"),
        ("interval = 5.0", "model.params.interval must be in (0, 1), got 5.0"),
        ("interval = nan", "model.params.interval must be in (0, 1), got nan"),
        ("penalizer = -1.0", "model.params.penalizer must be in [0, 1e+06], got -1.0"),
        ("penalizer = inf", "model.params.penalizer must be in [0, 1e+06], got inf"),
        ("ml_cv = 1", "model.params.ml_cv must be in [2, 20], got 1"),
        ('covariate_penalizer = "big"', "model.params.covariate_penalizer must be a number"),
        ("max_iter = true", "model.params.max_iter must be an integer in [1, 10000], got bool"),
        ("bogus = 3", "unknown key model.params.'bogus'"),
    ],
)
def test_model_params_out_of_bounds_are_one_line_naming_the_key(tmp_path, line, says) -> None:
    path = _config(tmp_path, f"[model.params]\n{line}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert says in str(err.value) and str(path) in str(err.value)
    # the CLI says it in one line, before reading the (absent) data
    assert says in one_line_error(cli(["train", "--config", str(path)]))


def test_every_bounded_param_is_a_clv_model_parameter_and_its_default_is_inside() -> None:
    from clvml.models.clv_model import CLVModel

    defaults = CLVModel().get_params(deep=False)
    assert set(PARAM_BOUNDS) <= set(defaults)
    from clvml.pipelines.config import _check_param_value

    for key in PARAM_BOUNDS:
        _check_param_value(key, defaults[key], "defaults")  # does not raise


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("", "seed must be a non-negative integer below 2**32"),
        ("[evaluation]\nn_folds = 1000000\n", "evaluation.n_folds must be >= 2 and <= 20"),
        ("[spark]\nmonetary_decimals = 400\n", "spark.monetary_decimals must be in [0, 10]"),
        (f'[tracking]\nexperiment = "{"e" * 600}"\n', "tracking.experiment must be 1 to 250"),
        (f'[tracking]\nmodel_name = "{"m" * 600}"\n', "tracking.model_name must be 1 to 250"),
    ],
)
def test_other_numbers_and_names_are_bounded(tmp_path, body, says) -> None:
    top = "" if body else "seed = 18446744073709551615\n"
    path = _config(tmp_path, body, top=top)
    assert says in one_line_error(cli(["train", "--config", str(path)]))


def test_a_long_experiment_flag_is_one_line(tmp_path) -> None:
    path = _config(tmp_path, "")
    line = one_line_error(cli(["train", "--config", str(path), "--experiment", "x" * 600]))
    assert "tracking.experiment must be 1 to 250 characters, got 600" in line


@pytest.mark.parametrize("uri", ["/dev/null/x", "sqlite:////dev/null/x.db"])
@pytest.mark.parametrize("given", ["flag", "config"])
def test_a_tracking_uri_under_a_file_is_one_line_before_any_work(
    tmp_path, write_folder, uri, given
) -> None:
    data = write_folder()
    if given == "flag":
        args = ["--config", str(_config(tmp_path, "", data)), "--tracking-uri", uri]
    else:
        args = ["--config", str(_config(tmp_path, f'[tracking]\nuri = "{uri}"\n', data))]
    result = cli(["train", *args])
    line = one_line_error(result)
    assert f"TrackingError: tracking store {uri} cannot be used" in line
    assert "compare methods" not in result.output  # nothing was fitted


def test_a_refused_tracking_server_is_one_line_at_once(tmp_path, write_folder) -> None:
    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["--config", str(_config(tmp_path, "", write_folder()))]
    line = one_line_error(cli(["train", *args, "--tracking-uri", f"http://127.0.0.1:{port}"]))
    assert f"tracking server http://127.0.0.1:{port} does not answer" in line


def test_a_silent_tracking_server_is_given_up_after_the_probe_timeout(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(store, "PROBE_TIMEOUT", 0.5)
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        with pytest.raises(TrackingError, match=r"does not answer within 0\.5 s \(ReadTimeout\)"):
            configure_mlflow(f"http://u:s3cret@127.0.0.1:{port}", "clvml", tmp_path)
    # MLflow's own retries are short too (its defaults retried for 272 s)
    import os

    assert int(os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]) <= 2
    assert float(os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"]) <= 30


def test_the_probe_masks_the_password(tmp_path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TrackingError) as err:
        configure_mlflow(f"http://u:s3cret@127.0.0.1:{port}", "clvml", tmp_path)
    assert "s3cret" not in str(err.value) and "u:***@" in str(err.value)
