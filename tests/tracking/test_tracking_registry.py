"""The champion/challenger gate on a real (embedded) MLflow registry."""

from __future__ import annotations

import math

import pytest

from clvml.tracking.registry import CHAMPION_ALIAS, current_champion, promote_if_better
from clvml.tracking.store import configure_mlflow

NAME = ""


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One embedded store for the module (creating its tables takes seconds)."""
    import mlflow

    configure_mlflow(None, "gate", workdir=tmp_path_factory.mktemp("store"))
    return mlflow.MlflowClient()


@pytest.fixture
def client(store, request):
    """A fresh registered model per test, named after it (module-global NAME)."""
    global NAME
    NAME = f"gate-{request.node.name}".replace("[", "-").replace("]", "")[:200]
    store.create_registered_model(NAME)
    return store


def _version(client, tmp_path) -> str:
    """A model version without a model: the gate only reads and writes registry metadata."""
    source = tmp_path / "source"
    source.mkdir(exist_ok=True)
    return str(client.create_model_version(NAME, source=source.as_uri()).version)


def _champion(client) -> str | None:
    mv = current_champion(client, NAME)
    return None if mv is None else str(mv.version)


def test_first_version_becomes_champion(client, tmp_path):
    v1 = _version(client, tmp_path)
    d = promote_if_better(client, NAME, v1, "normalized_gini", 0.60)
    assert d.promoted and d.champion_version is None
    assert _champion(client) == v1
    tags = client.get_model_version(NAME, v1).tags
    assert tags["role"] == "champion"
    assert float(tags["holdout_normalized_gini"]) == 0.60
    assert "first champion" in d.summary


def test_worse_challenger_does_not_take_the_alias(client, tmp_path):
    v1 = _version(client, tmp_path)
    promote_if_better(client, NAME, v1, "normalized_gini", 0.60)
    v2 = _version(client, tmp_path)
    d = promote_if_better(client, NAME, v2, "normalized_gini", 0.55)
    assert not d.promoted
    assert (d.champion_version, d.champion_value, d.new_value) == (v1, 0.60, 0.55)
    assert _champion(client) == v1
    tags = client.get_model_version(NAME, v2).tags
    assert tags["role"] == "challenger"
    assert tags["champion_at_decision"] == v1
    assert float(tags["champion_holdout_normalized_gini"]) == 0.60
    assert "does not beat" in d.summary


def test_better_challenger_takes_the_alias(client, tmp_path):
    v1 = _version(client, tmp_path)
    promote_if_better(client, NAME, v1, "normalized_gini", 0.60)
    v2 = _version(client, tmp_path)
    d = promote_if_better(client, NAME, v2, "normalized_gini", 0.61)
    assert d.promoted and d.champion_version == v1
    assert _champion(client) == v2
    assert client.get_model_version(NAME, v1).tags["role"] == "former_champion"
    assert client.get_model_version(NAME, v2).tags["role"] == "champion"


def test_tie_keeps_the_champion(client, tmp_path):
    v1 = _version(client, tmp_path)
    promote_if_better(client, NAME, v1, "normalized_gini", 0.60)
    v2 = _version(client, tmp_path)
    assert not promote_if_better(client, NAME, v2, "normalized_gini", 0.60).promoted
    assert _champion(client) == v1


def test_lower_is_better_metric(client, tmp_path):
    v1 = _version(client, tmp_path)
    promote_if_better(client, NAME, v1, "mae", 40.0, greater_is_better=False)
    v2 = _version(client, tmp_path)
    assert not promote_if_better(client, NAME, v2, "mae", 41.0, greater_is_better=False).promoted
    v3 = _version(client, tmp_path)
    assert promote_if_better(client, NAME, v3, "mae", 39.0, greater_is_better=False).promoted
    assert _champion(client) == v3


def test_champion_rescored_on_the_same_holdout_overrides_its_stored_value(client, tmp_path):
    v1 = _version(client, tmp_path)
    promote_if_better(client, NAME, v1, "normalized_gini", 0.60)  # stored: 0.60
    v2 = _version(client, tmp_path)
    # on the new holdout the champion scores 0.50: a challenger at 0.55 beats it
    d = promote_if_better(client, NAME, v2, "normalized_gini", 0.55, champion_value=0.50)
    assert d.promoted and d.champion_value == 0.50
    assert _champion(client) == v2


def test_nan_never_wins_and_a_champion_without_value_loses(client, tmp_path):
    v1 = _version(client, tmp_path)
    client.set_registered_model_alias(NAME, CHAMPION_ALIAS, v1)  # champion with no metric
    v2 = _version(client, tmp_path)
    assert not promote_if_better(client, NAME, v2, "normalized_gini", math.nan).promoted
    assert _champion(client) == v1
    v3 = _version(client, tmp_path)
    d = promote_if_better(client, NAME, v3, "normalized_gini", 0.1)
    assert d.promoted and d.champion_value is None
    assert _champion(client) == v3


def test_judging_the_champion_again_keeps_it(client, tmp_path):
    v1 = _version(client, tmp_path)
    promote_if_better(client, NAME, v1, "normalized_gini", 0.60)
    d = promote_if_better(client, NAME, v1, "normalized_gini", 0.60)
    assert d.promoted and _champion(client) == v1
