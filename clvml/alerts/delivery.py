"""Delivering alerts to the teams: signed webhooks and CSV files, with a state per alert.

:func:`deliver_pending` sends, for each destination, the alerts whose delivery row is
still ``pending`` (:mod:`clvml.scoring.alert_store`), oldest first, in batches:

webhook
    ``POST`` of a JSON body ``{"delivery_id", "destination", "team", "alerts": [...]}``
    (keys sorted, UTF-8) with the headers ``Content-Type: application/json``,
    ``X-Clvml-Delivery: <delivery_id>`` and, when the destination has a secret,
    ``X-Clvml-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>``. The
    secret comes from the environment variable ``secret_env`` names; it is never
    written to a log, a message or the CRM. A 2xx answer delivers the batch. Connection
    errors, timeouts, 429 and 5xx are retried up to ``max_attempts`` times, waiting
    ``backoff_seconds * 2**k`` (at most 60 s) between tries; any other answer is not
    retried. A batch that fails stays ``pending`` (attempts and the one-line error are
    recorded) and the destination's later batches wait for the next delivery, so
    nothing is lost while a receiver is down: the next ``clvml score`` or
    ``clvml alerts --deliver`` sends it.
CSV file
    ``<csv_dir>/alerts_<team>_<delivery_id>.csv`` written atomically (temporary file,
    then rename): one row per alert, the evidence as JSON; ready to attach to an e-mail.

Each delivered batch is marked ``delivered`` in its own transaction right after the
receiver accepted it, so a crash or a re-run sends nothing that was marked delivered
again. The one window left (the process dies after the receiver's 2xx and before that
commit) resends the same batch with the same ``delivery_id`` (derived from the alert ids
and the destination) and, for files, rewrites the same file name: receivers drop a
delivery id they already processed.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import logging
import os
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from clvml.alerts.config import Destination
from clvml.exceptions import ClvmlError
from clvml.scoring.alert_store import mark_delivery, pending_deliveries
from clvml.scoring.crm import CRMSink

__all__ = ["DeliveryReport", "deliver_pending", "sign", "webhook_body"]

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Clvml-Signature"
DELIVERY_HEADER = "X-Clvml-Delivery"
_MAX_BACKOFF = 60.0
_NAMESPACE = uuid.UUID("5d9e8b1c-3a2f-4e6d-8c7b-1a0f9e8d7c6b")
_CSV_COLUMNS = [
    "alert_id",
    "as_of",
    "customer_id",
    "rule",
    "team",
    "segment",
    "suggested_action",
    "evidence",
    "run_id",
]


class DeliveryError(ClvmlError, RuntimeError):
    """A batch could not be delivered (one line, no secret)."""


@dataclass
class DeliveryReport:
    """What a delivery pass did: alerts delivered and still pending, per destination."""

    delivered: dict[str, int] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def n_delivered(self) -> int:
        """Alert deliveries made (an alert sent to two destinations counts twice)."""
        return sum(self.delivered.values())

    @property
    def n_pending(self) -> int:
        """Alert deliveries still pending."""
        return sum(self.pending.values())


def sign(body: bytes, secret: str) -> str:
    """The signature header value of ``body``: ``sha256=<hex HMAC-SHA256>``.

    >>> sign(b'{"a":1}', "k")
    'sha256=c3a92ff9e274cdcce27a58c15a78ec6dcbbdbd0038a87e7a11baef2028fd8bff'
    """
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _jsonable(v: Any) -> Any:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return None
    if isinstance(v, datetime | date | pd.Timestamp):
        return v.isoformat()
    if isinstance(v, str):
        try:
            return json.loads(v) if v[:1] in "{[" else v
        except ValueError:
            return v
    return v


def _records(batch: pd.DataFrame) -> list[dict[str, Any]]:
    cols = [c for c in _CSV_COLUMNS if c in batch.columns] + ["table_name"]
    return [
        {k: _jsonable(v) for k, v in rec.items()}
        for rec in batch[[c for c in cols if c in batch.columns]].to_dict(orient="records")
    ]


def delivery_id(alert_ids: Sequence[str], destination: str) -> str:
    """The id of a batch: the same alerts to the same destination always get the same id."""
    return str(uuid.uuid5(_NAMESPACE, destination + "|" + "|".join(sorted(alert_ids))))


def webhook_body(batch: pd.DataFrame, dest: Destination, did: str) -> bytes:
    """The JSON body of one webhook batch (keys sorted, compact, UTF-8)."""
    payload = {
        "delivery_id": did,
        "destination": dest.name,
        "team": dest.team,
        "alerts": _records(batch),
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _secret(dest: Destination) -> str | None:
    if dest.secret_env is None:
        return None
    value = os.environ.get(dest.secret_env)
    if not value:
        raise DeliveryError(
            f"destination {dest.name!r}: environment variable {dest.secret_env} "
            "(the webhook secret) is not set"
        )
    return value


def _post(dest: Destination, body: bytes, did: str, sleep: Callable[[float], None]) -> None:
    headers = {"Content-Type": "application/json", DELIVERY_HEADER: did}
    secret = _secret(dest)
    if secret is not None:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    assert dest.webhook is not None
    last = ""
    for attempt in range(dest.max_attempts):
        if attempt:
            sleep(min(dest.backoff_seconds * 2 ** (attempt - 1), _MAX_BACKOFF))
        req = urllib.request.Request(dest.webhook, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=dest.timeout_seconds) as resp:
                resp.read()
            return
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
            if exc.code != 429 and exc.code < 500:
                break  # the receiver refuses this body: trying again changes nothing
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            text = str(reason).strip()
            last = type(reason).__name__ + (f": {text.splitlines()[0][:200]}" if text else "")
        logger.warning(
            "alert delivery to %s failed (try %d of %d): %s",
            dest.where,
            attempt + 1,
            dest.max_attempts,
            last,
        )
    raise DeliveryError(f"destination {dest.name!r} ({dest.where}): {last}")


def _write_csv(dest: Destination, batch: pd.DataFrame, did: str) -> None:
    assert dest.csv_dir is not None
    dest.csv_dir.mkdir(parents=True, exist_ok=True)
    final = dest.csv_dir / f"alerts_{dest.team}_{did}.csv"
    fd, tmp = tempfile.mkstemp(dir=dest.csv_dir, prefix=".alerts_", suffix=".csv.tmp")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(_CSV_COLUMNS)
            for rec in _records(batch):
                w.writerow(
                    json.dumps(rec.get(c), sort_keys=True)
                    if c == "evidence"
                    else ("" if rec.get(c) is None else rec.get(c))
                    for c in _CSV_COLUMNS
                )
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def deliver_pending(
    sink: CRMSink,
    destinations: Sequence[Destination],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryReport:
    """Send every pending alert delivery of ``destinations`` (see the module notes).

    Returns
    -------
    DeliveryReport
        Deliveries made and still pending per destination, and the last error of each
        destination that failed (one line, no secret).
    """
    report = DeliveryReport()
    tables = sink.tables
    for dest in destinations:
        with sink.connect() as conn:
            todo = pending_deliveries(conn, tables.alerts, tables.deliveries, dest.name)
        done = 0
        for start in range(0, len(todo), dest.batch_size):
            batch = todo.iloc[start : start + dest.batch_size]
            ids = batch["alert_id"].astype(str).tolist()
            did = delivery_id(ids, dest.name)
            error: str | None = None
            try:
                if dest.webhook is not None:
                    _post(dest, webhook_body(batch, dest, did), did, sleep)
                else:
                    _write_csv(dest, batch, did)
            except (DeliveryError, OSError) as exc:
                error = str(exc).splitlines()[0][:300]
            with sink.connect() as conn, conn.begin():
                mark_delivery(
                    conn,
                    tables.deliveries,
                    ids,
                    dest.name,
                    delivered=error is None,
                    now=datetime.now(UTC),
                    error=error,
                )
            if error is not None:
                report.errors[dest.name] = error
                logger.warning("alerts to %s stay pending: %s", dest.name, error)
                break
            done += len(ids)
        report.delivered[dest.name] = done
        report.pending[dest.name] = len(todo) - done
    return report
