"""Alerts to the care, retention and marketing teams after each scoring run.

* :mod:`clvml.alerts.rules` -- the rules (pure pandas: this run vs the previous one,
  engagement since then) and their thresholds;
* :mod:`clvml.alerts.config` -- the ``[history]`` and ``[alerts]`` TOML sections;
* :mod:`clvml.alerts.job` -- the step the scoring run executes inside its transaction;
* :mod:`clvml.alerts.delivery` -- webhooks (HMAC-SHA256 signed, retried) and CSV files,
  with a delivery state per alert.

See docs/monitoring.md. Nothing is imported until used (``import clvml`` stays light).
"""
