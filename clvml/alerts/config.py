"""The ``[history]`` and ``[alerts]`` sections of the scoring config (a TOML file).

``clvml score --alerts-config FILE`` and ``clvml alerts --config FILE`` read them;
``configs/alerts.toml`` is a commented example and docs/monitoring.md the reference.
Every key is optional; a threshold set to ``false`` switches its rule off. Unknown keys,
wrong types and out-of-range numbers are refused in one line naming the key.

``[history]``
    ``keep_runs`` (default 30), ``keep_days`` (default none): see
    :class:`clvml.scoring.history.HistoryPolicy`.
``[alerts]``
    ``churn_rise``, ``top_tiers``, ``tier_drop_from``, ``tier_order``, ``negative_below``,
    ``lookback_days``, ``health_below``: see :class:`clvml.alerts.rules.AlertRules`;
    ``[alerts.teams]``: owning team per rule.
``[[alerts.destinations]]``
    ``name`` (unique), ``team`` (care, retention or marketing), and either ``webhook``
    (an http(s) URL; ``secret_env`` names the environment variable holding the HMAC key,
    ``max_attempts`` default 5, ``backoff_seconds`` default 1, ``timeout_seconds``
    default 10, ``batch_size`` default 100) or ``csv_dir`` (a folder; relative to the
    config file's folder).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from clvml.alerts.rules import RULES, TEAMS, AlertRules
from clvml.exceptions import ClvmlError, DataValidationError
from clvml.scoring.history import HistoryPolicy

__all__ = ["AlertConfig", "AlertConfigError", "Destination", "load_alert_config"]


class AlertConfigError(ClvmlError, ValueError):
    """A bad ``[history]`` or ``[alerts]`` section (the message names the key)."""


@dataclass(frozen=True)
class Destination:
    """Where a team's alerts go: a webhook or a folder of CSV files."""

    name: str
    team: str
    webhook: str | None = None
    csv_dir: Path | None = None
    secret_env: str | None = None
    max_attempts: int = 5
    backoff_seconds: float = 1.0
    timeout_seconds: float = 10.0
    batch_size: int = 100

    @property
    def where(self) -> str:
        """The destination for messages: the URL's scheme and host only.

        Path and query stay out: webhook URLs often carry their token there (e.g.
        ``/services/T0/B0/<token>``).
        """
        if self.webhook is not None:
            u = urlsplit(self.webhook)
            host = u.hostname or ""
            port = f":{u.port}" if u.port else ""
            return f"{u.scheme}://{host}{port}"
        return str(self.csv_dir)


@dataclass(frozen=True)
class AlertConfig:
    """History retention, alert rules and destinations."""

    history: HistoryPolicy = field(default_factory=HistoryPolicy)
    rules: AlertRules = field(default_factory=AlertRules)
    destinations: tuple[Destination, ...] = ()

    def by_team(self) -> dict[str, list[str]]:
        """Team -> the names of its destinations."""
        out: dict[str, list[str]] = {}
        for d in self.destinations:
            out.setdefault(d.team, []).append(d.name)
        return out


_HISTORY_KEYS = {"keep_runs", "keep_days"}
_RULE_KEYS = {
    "churn_rise",
    "top_tiers",
    "tier_drop_from",
    "tier_order",
    "negative_below",
    "lookback_days",
    "health_below",
}
_DEST_KEYS = {
    "name",
    "team",
    "webhook",
    "csv_dir",
    "secret_env",
    "max_attempts",
    "backoff_seconds",
    "timeout_seconds",
    "batch_size",
}


def _unknown(section: str, got: dict[str, Any], known: set[str]) -> None:
    extra = sorted(set(got) - known)
    if extra:
        raise AlertConfigError(
            f"[{section}]: unknown key {extra[0]!r} (known: {', '.join(sorted(known))})"
        )


def _tiers(key: str, value: Any) -> tuple[str, ...] | None:
    if value is False:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AlertConfigError(f"[alerts] {key}: expected a list of tier names or false")
    return tuple(value)


def _destination(i: int, raw: Any, base: Path) -> Destination:
    where = f"[[alerts.destinations]] #{i + 1}"
    if not isinstance(raw, dict):
        raise AlertConfigError(f"{where}: expected a table")
    _unknown("alerts.destinations", raw, _DEST_KEYS)
    name, team = raw.get("name"), raw.get("team")
    if not isinstance(name, str) or not name.strip():
        raise AlertConfigError(f"{where}: name is required (a non-empty string)")
    if team not in TEAMS:
        raise AlertConfigError(f"{where} {name!r}: team must be one of {', '.join(TEAMS)}")
    webhook, csv_dir = raw.get("webhook"), raw.get("csv_dir")
    if (webhook is None) == (csv_dir is None):
        raise AlertConfigError(f"{where} {name!r}: give exactly one of webhook or csv_dir")
    kw: dict[str, Any] = {}
    for key, kind, low in (
        ("max_attempts", int, 1),
        ("batch_size", int, 1),
        ("backoff_seconds", float, 0.0),
        ("timeout_seconds", float, 0.001),
    ):
        if key in raw:
            v = raw[key]
            if (
                isinstance(v, bool)
                or not isinstance(v, int | float)
                or (kind is int and not isinstance(v, int))
            ):
                raise AlertConfigError(f"{where} {name!r}: {key} must be a number")
            if v < low:
                raise AlertConfigError(f"{where} {name!r}: {key} must be >= {low}")
            kw[key] = kind(v)
    if webhook is not None:
        u = urlsplit(str(webhook))
        if u.scheme not in ("http", "https") or not u.hostname:
            raise AlertConfigError(f"{where} {name!r}: webhook must be an http(s) URL")
        secret_env = raw.get("secret_env")
        if secret_env is not None and (not isinstance(secret_env, str) or not secret_env):
            raise AlertConfigError(f"{where} {name!r}: secret_env must name a variable")
        return Destination(name, team, webhook=str(webhook), secret_env=secret_env, **kw)
    if not isinstance(csv_dir, str) or not csv_dir:
        raise AlertConfigError(f"{where} {name!r}: csv_dir must be a folder path")
    folder = Path(os.path.expanduser(csv_dir))
    return Destination(name, team, csv_dir=folder if folder.is_absolute() else base / folder, **kw)


def parse_alert_config(data: dict[str, Any], base: Path | None = None) -> AlertConfig:
    """An :class:`AlertConfig` from the parsed TOML (other sections are ignored)."""
    base = base or Path.cwd()
    hist = data.get("history", {})
    alerts = dict(data.get("alerts", {}))
    if not isinstance(hist, dict) or not isinstance(alerts, dict):
        raise AlertConfigError("[history] and [alerts] must be tables")
    _unknown("history", hist, _HISTORY_KEYS)
    teams = alerts.pop("teams", {})
    dests = alerts.pop("destinations", [])
    _unknown("alerts", alerts, _RULE_KEYS)
    if not isinstance(teams, dict):
        raise AlertConfigError("[alerts.teams] must be a table of rule = team")
    for rule in teams:
        if rule not in RULES:
            raise AlertConfigError(f"[alerts.teams]: unknown rule {rule!r} ({', '.join(RULES)})")
    try:
        history = HistoryPolicy(**{k: (None if v is False else v) for k, v in hist.items()})
        kw: dict[str, Any] = {}
        for key in ("churn_rise", "negative_below", "health_below"):
            if key in alerts:
                kw[key] = None if alerts[key] is False else alerts[key]
        for key in ("top_tiers", "tier_drop_from", "tier_order"):
            if key in alerts:
                tiers = _tiers(key, alerts[key])
                if tiers is None and key != "tier_drop_from":
                    raise AlertConfigError(f"[alerts] {key}: expected a list of tier names")
                kw[key] = tiers
        if "lookback_days" in alerts:
            kw["lookback_days"] = alerts["lookback_days"]
        rules = AlertRules(teams=teams, **kw)
    except DataValidationError as exc:
        raise AlertConfigError(str(exc)) from None
    if not isinstance(dests, list):
        raise AlertConfigError("[[alerts.destinations]] must be an array of tables")
    destinations = tuple(_destination(i, d, base) for i, d in enumerate(dests))
    names = [d.name for d in destinations]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise AlertConfigError(f"[[alerts.destinations]]: name {dup[0]!r} is used twice")
    return AlertConfig(history, rules, destinations)


def load_alert_config(path: str | os.PathLike[str] | None) -> AlertConfig:
    """Read ``[history]`` and ``[alerts]`` from the TOML file ``path`` (None: defaults)."""
    if path is None:
        return AlertConfig()
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such config file")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise AlertConfigError(f"{p}: not valid TOML ({exc})") from None
    return parse_alert_config(data, base=p.resolve().parent)
