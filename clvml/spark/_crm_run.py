"""A scoring run whose rows were staged by Spark executors (see :mod:`clvml.spark.score`).

:class:`StagedRun` is a :class:`clvml.scoring.crm.ScoreRun` (same lock, migration,
run record and failure handling) whose write is split in two: :meth:`create_stage`
commits an empty ``UNLOGGED`` staging table that executors fill over their own
connections, and :meth:`merge` runs the sink's single transaction (upsert from the
stage, drop it, replace the run's quarantine rows, mark the run succeeded).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import pandas as pd
import sqlalchemy as sa

from clvml.scoring.crm import RunResult, ScoreRun
from clvml.scoring.errors import CRMError
from clvml.scoring.schema import SCORE_COLUMNS
from clvml.scoring.validation import append_rejected

__all__ = ["StagedRun"]


class StagedRun(ScoreRun):
    """A :class:`~clvml.scoring.crm.ScoreRun` fed through a committed staging table."""

    def _stage_table(self) -> sa.Table:
        digest = hashlib.sha1(self.run_id.encode()).hexdigest()[:16]
        return sa.Table(
            f"_clvml_stage_{digest}",
            sa.MetaData(),
            *(sa.Column(c, t) for c, t in SCORE_COLUMNS.items()),
            sa.Column("_part", sa.Integer),
            schema=self.sink.schema,
            prefixes=["UNLOGGED"],
        )

    def create_stage(self) -> sa.Table:
        """Create (or re-create, after a killed attempt) this run's empty staging table."""
        conn = self._conn
        if conn is None:
            raise CRMError("StagedRun.create_stage must be called inside `with`")
        stage = self._stage_table()
        try:
            with conn.begin():
                stage.drop(conn, checkfirst=True)
                stage.create(conn)
        except sa.exc.DBAPIError as exc:
            raise self._wrap(exc) from None
        return stage

    def merge(
        self,
        stage: sa.Table,
        *,
        n_scored: int,
        n_valid: int,
        quarantine: pd.DataFrame,
        rejected: pd.DataFrame | None = None,
        timings: Mapping[str, float] | None = None,
    ) -> RunResult:
        """Upsert the staged rows and finish the run, in one transaction.

        ``quarantine`` holds the score rows refused by the executors; ``rejected``
        (``customer_id``, ``reason``) the input rows and customers the job could not
        score. Both go to the quarantine table and count as read, as in
        :meth:`clvml.scoring.crm.ScoreRun.write`.
        """
        conn = self._conn
        if conn is None:
            raise CRMError("StagedRun.merge must be called inside `with`")
        phase = {str(k): float(v) for k, v in (timings or {}).items()}
        n_rejected = 0 if rejected is None else len(rejected)
        quarantine = append_rejected(quarantine, rejected, start=n_scored)
        result = self._result(n_scored, n_rejected, n_valid, quarantine, phase)
        try:
            with conn.begin():
                self._merge_stage(conn, stage, quarantine, result, phase)
        except sa.exc.DBAPIError as exc:
            raise self._wrap(exc) from None
        self._done = True
        self.result = result
        return result
