"""Fixtures of the tracking tests: a small slice of data/social and a fast training config."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

N_CUSTOMERS = 1000

#: Fast settings: two methods (one supervised), short boosting, few bootstrap draws.
FAST_CONFIG = """
seed = 3

[model]
methods = ["btyd", "hybrid"]

[model.params]
max_iter = 30
n_draws = 40
"""


def write_small_social(folder: Path, n_customers: int = N_CUSTOMERS) -> Path:
    """The first ``n_customers`` customers of the shipped data/social, with its metadata."""
    from clvml.data.synthetic import load_social_commerce

    data = load_social_commerce()
    folder.mkdir(parents=True, exist_ok=True)
    ids = set(data.customers["customer_id"].iloc[:n_customers])
    for name in ("transactions", "engagement", "customers"):
        frame = getattr(data, name)
        frame.loc[frame["customer_id"].isin(ids)].to_parquet(
            folder / f"{name}.parquet", index=False
        )
    root = Path(__file__).resolve().parents[2]
    shutil.copy(root / "data" / "social" / "metadata.json", folder / "metadata.json")
    return folder


@pytest.fixture(scope="session")
def small_social(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_small_social(tmp_path_factory.mktemp("social") / "data")


@pytest.fixture(scope="session")
def fast_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "fast.toml"
    path.write_text(FAST_CONFIG)
    return path


@pytest.fixture(autouse=True)
def _one_openmp_thread():
    """HistGradientBoosting oversubscribes the shared cores otherwise (20x slower)."""
    with threadpool_limits(1, user_api="openmp"):
        yield
