"""The logged model serves over HTTP with ``mlflow models serve --env-manager local``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from numpy.testing import assert_allclose

from clvml.data.io import load_folder
from clvml.data.validation import validate_customers, validate_engagement, validate_transactions
from clvml.features.dataset import customer_features
from clvml.models.model_input import to_model_input
from clvml.pipelines.train import train
from clvml.tracking.pyfunc import scheme_of, served_frame

STARTUP_TIMEOUT = 180  # seconds; the machine may be busy


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server and its workers: its process group, whose id is its PID."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.mark.slow
def test_mlflow_models_serve_answers_one_request(small_social, fast_config, tmp_path, monkeypatch):
    result = train(fast_config, data=str(small_social), workdir=tmp_path / "runs")
    raw = load_folder(small_social)
    features = customer_features(
        validate_transactions(raw["transactions"]),
        validate_engagement(raw["engagement"]),
        validate_customers(raw["customers"]),
        cutoff=result.calibration_end,
    ).head(25)

    port = _free_port()
    bin_dir = Path(sys.executable).parent  # mlflow serve runs python tools from the venv's bin
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_TRACKING_URI": result.tracking_uri,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "OMP_NUM_THREADS": "1",
    }
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        [
            str(bin_dir / "mlflow"),
            "models",
            "serve",
            "-m",
            result.model_uri,
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            "1",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited: {(tmp_path / 'serve.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no answer on /ping in {STARTUP_TIMEOUT} s")
            time.sleep(1)
        x = to_model_input(features)
        # json.dumps writes floats exactly (repr); missing values as null
        rows = x.astype(object).where(x.notna(), None).to_numpy().tolist()
        body = json.dumps({"dataframe_split": {"columns": list(x.columns), "data": rows}})
        request = urllib.request.Request(
            f"{base}/invocations",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=60) as r:
            got = pd.DataFrame(json.loads(r.read())["predictions"])
    finally:
        _stop(proc)
        log.close()
    assert proc.returncode is not None
    # what the served model answers: the estimator's frame labelled by its stored scheme
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", result.tracking_uri)
    scheme = scheme_of(mlflow.pyfunc.load_model(result.model_uri))
    want = served_frame(result.model, scheme, features)
    assert got["customer_id"].tolist() == want["customer_id"].tolist()
    assert_allclose(got["clv"].to_numpy(float), want["clv"].to_numpy(), rtol=1e-12)
    assert_allclose(got["p_active"].to_numpy(float), want["p_active"].to_numpy(), rtol=1e-12)
    assert got["segment"].tolist() == want["segment"].tolist()
