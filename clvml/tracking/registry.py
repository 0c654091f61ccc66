"""Champion/challenger gate over the MLflow Model Registry.

A newly registered model version takes the ``champion`` alias only if it beats
the current champion on the chosen holdout metric; otherwise it is tagged
``challenger``. The metric values of both are stored as version tags, so the
decision can be audited from the registry alone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["CHAMPION_ALIAS", "GateDecision", "current_champion", "promote_if_better"]

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

    @property
    def summary(self) -> str:
        """One sentence saying what was decided and why."""
        new = f"version {self.version} ({self.metric} {self.new_value:.4f})"
        if self.champion_version is None:
            return f"{new} is the first champion of {self.model_name}"
        if self.champion_version == self.version:
            return f"{new} already is the champion"
        old = f"champion version {self.champion_version}"
        old += "" if self.champion_value is None else f" ({self.champion_value:.4f})"
        verb = "beats" if self.promoted else "does not beat"
        role = "takes the alias" if self.promoted else "is tagged challenger"
        return f"{new} {verb} {old}: it {role}"


def current_champion(client: Any, model_name: str) -> Any | None:
    """The model version holding the ``champion`` alias, or None (no model, no alias)."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(model_name, CHAMPION_ALIAS)
    except MlflowException:
        return None


def _stored_value(client: Any, mv: Any, metric: str) -> float | None:
    tag = (mv.tags or {}).get(f"holdout_{metric}")
    if tag is not None:
        return float(tag)
    if mv.run_id:
        value = client.get_run(mv.run_id).data.metrics.get(f"holdout.{metric}")
        return None if value is None else float(value)
    return None


def promote_if_better(
    client: Any,
    model_name: str,
    version: str | int,
    metric: str,
    new_value: float,
    *,
    greater_is_better: bool = True,
    champion_value: float | None = None,
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
    champion_value : float, optional
        The current champion's value of ``metric`` on the *same* holdout (the
        caller re-scored it). When None, the value stored when the champion
        was judged is used (its ``holdout_<metric>`` tag, else its run's
        ``holdout.<metric>`` metric), which compares across holdouts.

    Returns
    -------
    GateDecision
        What was decided; the new version is tagged ``role=champion`` or
        ``role=challenger`` and carries the metric values as tags.

    Notes
    -----
    A NaN new value never wins; a champion without a value always loses.
    Ties keep the current champion. Version tags record the decision:
    ``holdout_<metric>`` (the value), ``role`` (``champion``, ``challenger``
    or, on the dethroned version, ``former_champion``) and, on a challenger,
    ``champion_at_decision`` and ``champion_holdout_<metric>``.
    """
    version = str(version)
    mv = current_champion(client, model_name)
    champ_version = None if mv is None else str(mv.version)
    champ_value = champion_value
    if mv is not None and champ_value is None:
        champ_value = _stored_value(client, mv, metric)
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
    if not promoted and champ_version is not None:
        client.set_model_version_tag(model_name, version, "champion_at_decision", champ_version)
        if champ_value is not None:
            client.set_model_version_tag(
                model_name, version, f"champion_holdout_{metric}", repr(float(champ_value))
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
