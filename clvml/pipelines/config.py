"""The training configuration: a TOML file, validated, with every key documented.

A config names the data, the time window, the feature set, the models and the
tracking target of :func:`clvml.pipelines.train.train`. Every key is
optional; :data:`DEFAULTS` holds the values used when a key is absent, and
``configs/train.toml`` is a commented example. Command-line flags override
the file (:meth:`TrainConfig.override`).

Keys
----
``[data]``
    ``source``
        A folder laid out as ``clvml generate`` writes it (``transactions``,
        optional ``engagement`` and ``customers`` as CSV or Parquet) or a
        SQLAlchemy URL of a database with tables of those names. Relative
        folders are resolved against the config file's folder. The Spark engine
        reads a folder of Parquet tables (local or on a file system Spark reads,
        ``s3a://...``) or ``table:<database>`` of the Spark catalog. Default
        ``"data/social"``.
    ``transactions``, ``engagement``, ``customers``
        Override one table: a file path or a SQLAlchemy URL. With a URL, the
        table of the same name is read, or ``<name>_query`` (a SELECT with
        named bind parameters) when given.
    ``returns``, ``duplicates``, ``invalid``
        Validation policies (see :func:`clvml.data.validation.validate_transactions`).
        Defaults ``"error"``, ``"error"``, ``"error"``.
    ``columns``
        Your column names for the contract's, a table such as ``{customer_id = "cust",
        timestamp = "order_date", amount = "total"}`` (:mod:`clvml.data.mapping`; the
        ``--columns`` flag overrides it). Default: none.
    ``timestamp_format``, ``tz``
        strftime format of the timestamp columns (default: ISO 8601) and the time zone of
        timestamps without an offset (default ``"UTC"``); ``--timestamp-format``/``--tz``.
``[window]``
    ``calibration_end``
        Last day (inclusive) of the data the models see; the holdout is the
        ``horizon_weeks`` after it. Default: ``calibration_end`` of the
        folder's ``metadata.json`` when present, else the last transaction
        day minus ``horizon_weeks``.
    ``horizon_weeks``
        Horizon of the CLV and length of the holdout, in weeks. Default 52.
``[features]``
    ``engagement``, ``customers``
        Use the engagement events / the customers table when available.
        Default ``true``. Switching one off drops its features everywhere.
``[model]``
    ``methods``
        CLV methods to fit and compare. Default: the composite's own default.
    ``champion``
        Method whose CLV the model serves as ``clv``, any method of the registry
        (``clvml.models.methods.METHODS``; without ``methods``, one outside the
        default methods is fitted beside them). Default ``"btyd"``.
    ``margin``
        Profit margin applied to revenue (0 < margin <= 1). Default 1.0.
    ``annual_discount_rate``
        Discount rate per year (>= 0). Default 0.0.
    ``supervised``
        Labels of the served model's supervised parts: ``"time"`` (the window
        of ``horizon_weeks`` before ``calibration_end``, same customers) or
        ``"none"`` (unsupervised methods only). Default ``"time"``. (Labels of
        other customers over the holdout would leak it into the gate's metric.)
    ``[model.params]``
        Further keyword arguments of :class:`clvml.models.clv_model.CLVModel`
        (hyper-parameters), passed as they are. Checked at load against
        ``CLVModel().get_params()``: an unknown name, or one another key sets
        (``margin``, ``random_state`` ...), is a :class:`ConfigError`, and so is
        a number out of :data:`PARAM_BOUNDS` (``max_iter`` and ``n_draws`` integers in
        [1, 10000], ``ml_cv`` in [2, 20], ``interval`` in (0, 1), penalties in [0, 1e6]).
``[evaluation]``
    ``n_folds``
        Folds of the customer-split comparison. Default 2.
    ``supervised``
        Supervision of the comparison (``"auto"``, ``"time"``,
        ``"customers"``). Default ``"auto"``.
``[gate]``
    ``metric``
        Holdout metric of the champion/challenger gate, computed on the
        served model's predictions: a value metric (``normalized_gini``,
        ``spearman``, ``top_decile_capture``, ``top20_capture``, ``mae``,
        ``total_bias``) on ``clv`` or a churn metric (``roc_auc``,
        ``pr_auc``, ``brier``) on ``churn_probability``. Default
        ``"normalized_gini"``.
``[tracking]``
    ``uri``
        Tracking URI; default ``MLFLOW_TRACKING_URI``, else the embedded
        SQLite store ``mlruns.db`` in the working directory.
    ``experiment``
        Experiment name (1 to 250 characters). Default ``"clvml"``.
    ``model_name``
        Registered model name (1 to 250 characters). Default ``"clvml"``.
    ``register``
        Register the model and run the gate. Default ``true``.
``[local]``
    Settings of the single-machine engine (``clvml train``, the default engine).
    ``sample_customers``
        Most customers the comparison, the supervised parts and the holdout evaluation
        see: above it, they run on a reproducible hash sample of the customers (all their
        rows), the same customers the Spark engine samples with ``spark.sample_customers``
        (the rule: :mod:`clvml.pipelines.sample`), while the BTYD models of the served
        model are fitted on every customer. Default 200000 (docs/scaling.md, "Training a
        million customers on one machine").
``[spark]``
    Settings of the Spark engine (``clvml train --engine spark``, :mod:`clvml.spark.train`).
    ``sample_customers``
        Most customers whose rows are collected to the driver for the comparison, the
        supervised parts and the holdout evaluation; the BTYD models are fitted on every
        customer in Spark whatever this is. Default 200000.
    ``time_resolution``
        Steps per week recency and T are rounded to before the BTYD fit on every
        customer is compressed (``1``: whole weeks). Default: exact days.
    ``monetary_decimals``
        Decimals the mean spend is rounded to before the Gamma-Gamma fit is compressed
        (``2``: cents). Default: not rounded.
    ``master``
        Spark master URL. Default ``$CLVML_SPARK_MASTER``, else ``local[2]`` (ignored
        under ``spark-submit``, where the session exists already).
``seed``
    Top-level key: the random seed of every model, in [0, 2**32). Default 0.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from clvml.data.io import is_database_url
from clvml.data.mapping import parse_columns
from clvml.data.policy import Duplicates, Invalid, Returns
from clvml.evaluation.metrics import HOLDOUT_METRICS
from clvml.exceptions import ClvmlError, DataValidationError

__all__ = [
    "DEFAULTS",
    "GATE_METRICS",
    "MAX_NAME_LENGTH",
    "PARAM_BOUNDS",
    "ConfigError",
    "TrainConfig",
    "data_source",
    "load_config",
    "resolve_source",
    "validate_config",
]


class ConfigError(ClvmlError, ValueError):
    """A training configuration is malformed: unknown key, wrong type or value out of range."""


#: Holdout metrics the gate may use, with their direction (True: greater is better).
GATE_METRICS: dict[str, bool] = dict(HOLDOUT_METRICS)

_POLICIES = {
    "returns": get_args(Returns),
    "duplicates": get_args(Duplicates),
    "invalid": get_args(Invalid),
}

#: Every key a config may hold, with its default (None: computed or the library's default).
DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "data": {
        "source": "data/social",
        "transactions": None,
        "engagement": None,
        "customers": None,
        "transactions_query": None,
        "engagement_query": None,
        "customers_query": None,
        "returns": "error",
        "duplicates": "error",
        "invalid": "error",
        "columns": {},
        "timestamp_format": None,
        "tz": "UTC",
    },
    "window": {"calibration_end": None, "horizon_weeks": 52},
    "features": {"engagement": True, "customers": True},
    "model": {
        "methods": None,
        "champion": "btyd",
        "margin": 1.0,
        "annual_discount_rate": 0.0,
        "supervised": "time",
        "params": {},
    },
    "evaluation": {"n_folds": 2, "supervised": "auto"},
    "gate": {"metric": "normalized_gini"},
    "tracking": {"uri": None, "experiment": "clvml", "model_name": "clvml", "register": True},
    "local": {"sample_customers": 200_000},
    "spark": {
        "sample_customers": 200_000,
        "time_resolution": None,
        "monetary_decimals": None,
        "master": None,
    },
}


@dataclass
class TrainConfig:
    """A validated training configuration (see the module docstring for every key).

    Attributes
    ----------
    values : dict
        The merged configuration: :data:`DEFAULTS` updated with the file and the overrides.
    path : pathlib.Path or None
        The file it was read from.
    """

    values: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULTS))
    path: Path | None = None

    def __getitem__(self, section: str) -> Any:
        return self.values[section]

    @property
    def base_dir(self) -> Path:
        """Folder against which relative data paths are resolved."""
        return self.path.parent if self.path is not None else Path.cwd()

    def override(self, **flags: Any) -> TrainConfig:
        """A copy with command-line values applied (None means "not given").

        Accepted: ``data``, ``tracking_uri``, ``model_name``, ``experiment``,
        ``calibration_end``, ``horizon_weeks``, ``seed``, ``sample_customers`` (Spark),
        ``local_sample_customers`` and the
        data-source flags ``columns`` (``"a=b,c=d"`` text or a mapping),
        ``timestamp_format``, ``tz``, ``returns``, ``duplicates``, ``invalid``.
        """
        where = {
            "data": ("data", "source"),
            "tracking_uri": ("tracking", "uri"),
            "model_name": ("tracking", "model_name"),
            "experiment": ("tracking", "experiment"),
            "calibration_end": ("window", "calibration_end"),
            "horizon_weeks": ("window", "horizon_weeks"),
            "seed": ("seed", None),
            "sample_customers": ("spark", "sample_customers"),
            "local_sample_customers": ("local", "sample_customers"),
            "columns": ("data", "columns"),
            "timestamp_format": ("data", "timestamp_format"),
            "tz": ("data", "tz"),
            "returns": ("data", "returns"),
            "duplicates": ("data", "duplicates"),
            "invalid": ("data", "invalid"),
        }
        values = copy.deepcopy(self.values)
        for key, value in flags.items():
            if key not in where:
                raise ConfigError(f"unknown override {key!r}; expected one of {sorted(where)}")
            if value is None:
                continue
            if key == "columns" and isinstance(value, str):
                value = parse_columns(value)
            section, name = where[key]
            if name is None:
                values[section] = value
            else:
                values[section][name] = str(value) if key == "data" else value
        path = self.path
        if "data" in flags and flags["data"] is not None:
            # a source given on the command line is relative to the working directory
            src = str(flags["data"])
            if "://" not in src and not src.startswith("table:"):
                values["data"]["source"] = str(Path(src).resolve())
        return TrainConfig(validate_config(values, where="overrides"), path)


def _type_name(t: type | tuple[type, ...]) -> str:
    ts = t if isinstance(t, tuple) else (t,)
    return " or ".join(
        {
            str: "a string",
            bool: "true/false",
            int: "an integer",
            float: "a number",
            list: "a list",
            dict: "a table",
        }[x]
        for x in ts
    )


def _check_type(value: Any, expected: type | tuple[type, ...], key: str, where: str) -> None:
    ts = expected if isinstance(expected, tuple) else (expected,)
    ok = isinstance(value, ts) and not (isinstance(value, bool) and bool not in ts)
    if not ok:
        raise ConfigError(
            f"{where}: {key} must be {_type_name(expected)}, got {type(value).__name__} {value!r}"
        )


_TYPES: dict[str, Any] = {
    "seed": int,
    "data": dict.fromkeys(
        [
            "source",
            "transactions",
            "engagement",
            "customers",
            "transactions_query",
            "engagement_query",
            "customers_query",
            "returns",
            "duplicates",
            "invalid",
            "timestamp_format",
            "tz",
        ],
        str,
    )
    | {"columns": dict},
    "window": {"calibration_end": (str, dt.date), "horizon_weeks": (int, float)},
    "features": {"engagement": bool, "customers": bool},
    "model": {
        "methods": list,
        "champion": str,
        "margin": (int, float),
        "annual_discount_rate": (int, float),
        "supervised": str,
        "params": dict,
    },
    "evaluation": {"n_folds": int, "supervised": str},
    "gate": {"metric": str},
    "tracking": {"uri": str, "experiment": str, "model_name": str, "register": bool},
    "local": {"sample_customers": int},
    "spark": {
        "sample_customers": int,
        "time_resolution": (int, float),
        "monetary_decimals": int,
        "master": str,
    },
}


def validate_config(raw: dict[str, Any], *, where: str = "config") -> dict[str, Any]:
    """Check ``raw`` against the schema and return it merged over :data:`DEFAULTS`.

    Raises
    ------
    ConfigError
        Unknown section or key (with the known ones listed), wrong type, or a
        value out of range; the message names the key and the file.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table of sections, got {type(raw).__name__}")
    out = copy.deepcopy(DEFAULTS)
    for section, body in raw.items():
        if section not in _TYPES:
            raise ConfigError(f"{where}: unknown key {section!r}; expected one of {sorted(_TYPES)}")
        spec = _TYPES[section]
        if not isinstance(spec, dict):
            if body is not None:
                _check_type(body, spec, section, where)
                out[section] = body
            continue
        _check_type(body, dict, f"[{section}]", where)
        for key, value in body.items():
            if key not in spec:
                raise ConfigError(
                    f"{where}: unknown key {section}.{key!r}; expected one of {sorted(spec)}"
                )
            if value is None:
                continue
            _check_type(value, spec[key], f"{section}.{key}", where)
            out[section][key] = value
    _check_values(out, where)
    return out


def _check_values(c: dict[str, Any], where: str) -> None:
    def bad(key: str, msg: str) -> ConfigError:
        return ConfigError(f"{where}: {key} {msg}")

    for key, allowed in _POLICIES.items():
        if c["data"][key] not in allowed:
            raise bad(f"data.{key}", f"must be one of {list(allowed)}, got {c['data'][key]!r}")
    try:
        c["data"]["columns"] = parse_columns(c["data"]["columns"], flag="data.columns")
    except DataValidationError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    end = c["window"]["calibration_end"]
    if end is not None:
        if isinstance(end, dt.datetime):
            end = end.date()
        if not isinstance(end, dt.date):
            try:
                end = dt.date.fromisoformat(str(end).strip())
            except ValueError as exc:
                raise bad("window.calibration_end", f"is not a date (YYYY-MM-DD): {end!r}") from exc
        c["window"]["calibration_end"] = end.isoformat()
    if c["spark"]["sample_customers"] < 100:
        raise ConfigError(
            f"{where}: spark.sample_customers must be >= 100, got {c['spark']['sample_customers']}"
        )
    k = c["spark"]["time_resolution"]
    if k is not None and not 0 < k <= 7:
        raise bad("spark.time_resolution", f"must be in (0, 7] steps per week, got {k}")
    h = c["window"]["horizon_weeks"]
    if not 0 < h <= 520:
        raise bad("window.horizon_weeks", f"must be in (0, 520] weeks, got {h}")
    m = c["model"]
    if not 0 < m["margin"] <= 1:
        raise bad("model.margin", f"must be in (0, 1], got {m['margin']}")
    if not 0 <= m["annual_discount_rate"] < 1:
        raise bad(
            "model.annual_discount_rate", f"must be in [0, 1), got {m['annual_discount_rate']}"
        )
    if m["supervised"] not in ("time", "none"):
        raise bad("model.supervised", f"must be 'time' or 'none', got {m['supervised']!r}")
    if m["methods"] is not None:
        if not m["methods"] or not all(isinstance(x, str) for x in m["methods"]):
            raise bad("model.methods", f"must be a non-empty list of names, got {m['methods']!r}")
        if m["champion"] not in m["methods"]:
            raise bad(
                "model.champion", f"{m['champion']!r} is not among model.methods {m['methods']}"
            )
    _check_model_params(m["params"], where)
    if c["evaluation"]["supervised"] not in ("auto", "time", "customers"):
        raise bad("evaluation.supervised", "must be 'auto', 'time' or 'customers'")
    if not 2 <= c["evaluation"]["n_folds"] <= 20:
        raise bad("evaluation.n_folds", f"must be >= 2 and <= 20, got {c['evaluation']['n_folds']}")
    if c["gate"]["metric"] not in GATE_METRICS:
        raise bad(
            "gate.metric", f"must be one of {sorted(GATE_METRICS)}, got {c['gate']['metric']!r}"
        )
    name = c["tracking"]["model_name"]
    if not name or any(ch in name for ch in "/:@"):
        raise bad("tracking.model_name", f"must be non-empty without '/', ':' or '@': {name!r}")
    for key in ("experiment", "model_name"):
        text = c["tracking"][key]
        if not text.strip() or len(text) > MAX_NAME_LENGTH:
            raise bad(
                f"tracking.{key}",
                f"must be 1 to {MAX_NAME_LENGTH} characters, got {len(text):,}",
            )
    if not isinstance(c["seed"], int) or not 0 <= c["seed"] < 2**32:
        raise bad("seed", f"must be a non-negative integer below 2**32, got {c['seed']!r}")
    k = c["local"]["sample_customers"]
    if not 100 <= k <= 100_000_000:
        raise bad("local.sample_customers", f"must be in [100, 100000000], got {k}")
    k = c["spark"]["sample_customers"]
    if k > 100_000_000:
        raise bad("spark.sample_customers", f"must be in [100, 100000000], got {k}")
    d = c["spark"]["monetary_decimals"]
    if d is not None and not 0 <= d <= 10:
        raise bad("spark.monetary_decimals", f"must be in [0, 10], got {d}")


#: CLVModel parameters the pipeline sets from other keys, with the key to set instead.
_SET_ELSEWHERE = {
    "horizon_weeks": "window.horizon_weeks",
    "margin": "model.margin",
    "annual_discount_rate": "model.annual_discount_rate",
    "methods": "model.methods",
    "champion": "model.champion",
    "random_state": "seed",
}


#: The numbers ``[model.params]`` accepts: (kind, low, high, low included, high included).
#: Beyond them a fit would run for days or allocate terabytes (``n_draws = 1e12``).
PARAM_BOUNDS: dict[str, tuple[str, float, float, bool, bool]] = {
    "max_iter": ("int", 1, 10_000, True, True),
    "n_draws": ("int", 1, 10_000, True, True),
    "ml_cv": ("int", 2, 20, True, True),
    "interval": ("float", 0.0, 1.0, False, False),
    "penalizer": ("float", 0.0, 1e6, True, True),
    "covariate_penalizer": ("float", 0.0, 1e6, True, True),
    "closed_form_period_weeks": ("float", 0.0, 520.0, False, True),
    "value_per_advocacy_point": ("float", 0.0, 1e9, True, True),
}
#: Words a bounded ``[model.params]`` key also accepts instead of a number.
PARAM_WORDS: dict[str, tuple[str, ...]] = {"covariate_penalizer": ("auto",)}
#: Longest experiment and registered-model names (MLflow's SQL store holds 256 characters).
MAX_NAME_LENGTH = 250


def _range_text(low: float, high: float, low_in: bool, high_in: bool) -> str:
    return f"{'[' if low_in else '('}{low:g}, {high:g}{']' if high_in else ')'}"


def _check_param_value(key: str, value: Any, where: str) -> None:
    """A ``[model.params]`` number must have the right kind and lie in :data:`PARAM_BOUNDS`."""
    if key not in PARAM_BOUNDS or value is None:  # None: the estimator's "off" (interval, ml_cv)
        return
    if isinstance(value, str) and value in PARAM_WORDS.get(key, ()):
        return
    kind, low, high, low_in, high_in = PARAM_BOUNDS[key]
    allowed = _range_text(low, high, low_in, high_in)
    is_int = isinstance(value, int) and not isinstance(value, bool)
    ok_kind = is_int if kind == "int" else (is_int or isinstance(value, float))
    if not ok_kind:
        raise ConfigError(
            f"{where}: model.params.{key} must be {'an integer' if kind == 'int' else 'a number'}"
            f" in {allowed}, got {type(value).__name__} {value!r}"
        )
    inside = (low <= value if low_in else low < value) and (
        value <= high if high_in else value < high
    )
    if not inside:  # NaN is never inside
        raise ConfigError(f"{where}: model.params.{key} must be in {allowed}, got {value!r}")


def _check_model_params(params: dict[str, Any], where: str) -> None:
    """Refuse ``[model.params]`` keys that are not parameters of the estimator.

    The names are :meth:`CLVModel.get_params` of a default model, so a typo (or a
    parameter another key sets) fails here, before any data are read; numbers must
    lie in :data:`PARAM_BOUNDS`.
    """
    if not params:
        return
    from clvml.models.clv_model import CLVModel

    known = set(CLVModel().get_params(deep=False))
    for key in params:
        if key in _SET_ELSEWHERE:
            raise ConfigError(
                f"{where}: model.params.{key} is set by {_SET_ELSEWHERE[key]}; "
                "give it there instead"
            )
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"expected one of {sorted(known)}"
            raise ConfigError(
                f"{where}: unknown key model.params.{key!r}: not a parameter of CLVModel; {hint}"
            )
        _check_param_value(key, params[key], where)


def load_config(path: str | os.PathLike[str] | None = None) -> TrainConfig:
    """Read and validate a TOML training config (the defaults when ``path`` is None).

    Raises
    ------
    FileNotFoundError
        No such file.
    ConfigError
        The file is not valid TOML (with line and column) or breaks the schema.

    Examples
    --------
    >>> cfg = load_config()
    >>> cfg["window"]["horizon_weeks"], cfg["tracking"]["model_name"]
    (52, 'clvml')
    """
    if path is None:
        return TrainConfig()
    p = Path(path).resolve()
    if not p.is_file():
        raise FileNotFoundError(f"{path}: no such config file")
    if p.suffix.lower() != ".toml":
        raise ConfigError(f"{path}: expected a .toml file")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    values = validate_config(raw, where=str(path))
    return TrainConfig(values, p)


def resolve_source(cfg: TrainConfig, source: str) -> str:
    """A source as given: URLs and catalogs unchanged, folders relative to the config file."""
    if is_database_url(source) or source.startswith("table:"):  # a URL, a Spark catalog
        return source
    p = Path(source)
    return str(p if p.is_absolute() else (cfg.base_dir / p).resolve())


def data_source(cfg: TrainConfig) -> str:
    """The data source: a database URL or an absolute folder.

    The default ``data/social`` falls back to the data set shipped with clvml
    when there is no such folder under the working directory.
    """
    given = cfg["data"]["source"]
    source = resolve_source(cfg, given)
    if given == DEFAULTS["data"]["source"] and not Path(source).is_dir():
        from clvml.data.datasets import data_path

        source = str(data_path("social/metadata.json").parent)
    return source
