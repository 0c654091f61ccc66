"""Fixtures of the Spark tests: one local[2] session per test session.

Without PySpark the tests are skipped with a reason, except under ``CI=true``, where a
missing PySpark is an error (the CI job installs the ``spark`` extra).
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _pyspark_or_skip() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("PySpark is not installed but CI=true: install clvml[spark]")
        pytest.skip("PySpark is not installed (pip install 'clvml[spark]')")


@pytest.fixture(scope="session")
def spark():
    _pyspark_or_skip()
    from clvml.spark.session import get_spark

    session = get_spark("local[2]", app_name="clvml-tests", shuffle_partitions=2)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def world(make_world):
    """A small generated social-commerce world (300 customers) for the scoring tests."""
    return make_world(300, random_state=5)


@pytest.fixture(scope="session")
def logged_model(world, tmp_path_factory):
    """A small CLV model (BG/NBD + Gamma-Gamma) logged as a pyfunc in a temporary store.

    Returns ``(model, features, path)``: the fitted model, its customer frame and the
    pyfunc downloaded to a local folder (executors load it from a path, a shared file
    system on a cluster).
    """
    import mlflow

    from clvml.features.dataset import customer_features
    from clvml.models.composite import CLVModel
    from clvml.tracking.pyfunc import log_clv_model
    from clvml.tracking.store import point_mlflow_at

    features = customer_features(
        world.transactions, world.engagement, world.customers, cutoff=world.calibration_end
    )
    model = CLVModel(horizon_weeks=26, methods=("btyd",), interval=None).fit(features)
    root = tmp_path_factory.mktemp("mlflow")
    previous = mlflow.get_tracking_uri()
    point_mlflow_at(f"sqlite:///{root}/mlflow.db")
    try:
        exp = mlflow.create_experiment("spark-tests", (root / "artifacts").as_uri())
        with mlflow.start_run(experiment_id=exp):
            info = log_clv_model(model, features)
        local = mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(root / "model"))
    finally:
        point_mlflow_at(previous)
    from clvml.tracking.integrity import write_manifest

    write_manifest(local)  # the digests clvml export records: a folder is checked before loading
    return model, features, local
