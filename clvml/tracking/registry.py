"""Champion/challenger gate over the MLflow Model Registry.

A newly registered model version takes the ``champion`` alias only if it beats
the current champion on the chosen holdout metric; otherwise it is tagged
``challenger``. The metric values of both are stored as version tags, so the
decision can be audited from the registry alone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = ["CHAMPION_ALIAS", "GateDecision", "promote_if_better"]

CHAMPION_ALIAS = "champion"


@dataclass(frozen=True)
class GateDecision:
    """Outcome of the champion/challenger gate.

    Attributes
    ----------
    model_name, version : str
        The registered model and the version that was judged.
    metric : str
        The holdout metric compared.
    new_value : float
        The new version's metric.
    champion_version : str or None
        The champion before the decision (None when there was none).
    champion_value : float or None
        Its metric.
    promoted : bool
        Whether the new version now holds the ``champion`` alias.
    """

    model_name: str
    version: str
    metric: str
    new_value: float
    champion_version: str | None
    champion_value: float | None
    promoted: bool

    def as_dict(self) -> dict[str, object]:
        """Plain dict, e.g. for ``mlflow.log_dict``."""
        return asdict(self)


def _champion(client, name: str) -> tuple[str | None, float | None, str]:
    from mlflow.exceptions import MlflowException

    try:
        mv = client.get_model_version_by_alias(name, CHAMPION_ALIAS)
    except MlflowException:
        return None, None, ""
    return mv.version, mv.tags, mv.run_id  # type: ignore[return-value]


def promote_if_better(
    client,
    model_name: str,
    version: str | int,
    metric: str,
    new_value: float,
    *,
    greater_is_better: bool = True,
) -> GateDecision:
    """Give ``version`` the champion alias if it beats the current champion on ``metric``.

    Parameters
    ----------
    client : mlflow.MlflowClient
        Client bound to the registry.
    model_name : str
        Registered model name.
    version : str or int
        The new version.
    metric : str
        Name of the holdout metric (e.g. ``normalized_gini``).
    new_value : float
        The new version's value of ``metric``.
    greater_is_better : bool, default True
        Direction of the metric.

    Returns
    -------
    GateDecision
        What was decided; the new version is tagged ``role=champion`` or
        ``role=challenger`` and carries the metric values as tags.

    Notes
    -----
    The champion's value is read from its ``holdout_<metric>`` version tag
    (written by this function when it was judged), falling back to the metric
    of the run that logged it. A NaN new value never wins; a missing champion
    value always loses. Ties keep the current champion.
    """
    version = str(version)
    champ_version, champ_tags, champ_run = _champion(client, model_name)
    champ_value: float | None = None
    if champ_version is not None:
        tag = (champ_tags or {}).get(f"holdout_{metric}")
        if tag is not None:
            champ_value = float(tag)
        elif champ_run:
            champ_value = client.get_run(champ_run).data.metrics.get(metric)
    if champ_version == version:
        promoted = True
    elif math.isnan(new_value):
        promoted = False
    elif champ_version is None or champ_value is None or math.isnan(champ_value):
        promoted = True
    else:
        promoted = new_value > champ_value if greater_is_better else new_value < champ_value
    client.set_model_version_tag(model_name, version, f"holdout_{metric}", repr(float(new_value)))
    client.set_model_version_tag(
        model_name, version, "role", "champion" if promoted else "challenger"
    )
    if promoted:
        client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version)
        if champ_version is not None and champ_version != version:
            client.set_model_version_tag(model_name, champ_version, "role", "former_champion")
    return GateDecision(
        model_name=model_name,
        version=version,
        metric=metric,
        new_value=float(new_value),
        champion_version=champ_version,
        champion_value=champ_value,
        promoted=promoted,
    )
