"""Step 8's first half of the scoring job: the pyfunc model over the features, in chunks.

Each chunk's output is checked against its input (one score row per customer, in order,
with a ``clv`` column); a failing model raises :class:`ModelLoadError` in one line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError
from clvml.pipelines.steps import live_console
from clvml.scoring.schema import SCORE_COLUMNS
from clvml.scoring.validation import legacy_activity_columns
from clvml.tracking.scoring_model import ModelLoadError, ScoringModel

__all__ = ["DEFAULT_CHUNK_SIZE", "predict_in_chunks", "predict_with_progress"]

DEFAULT_CHUNK_SIZE = 100_000


def _score_chunk(model: ScoringModel, part: pd.DataFrame) -> pd.DataFrame:
    """One chunk through the pyfunc model, with the output checked against its input."""
    try:
        pred = model.pyfunc.predict(part)
    except DataValidationError:
        raise
    except Exception as exc:
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ModelLoadError(
            f"model {model.name} version {model.version} failed to score the features: {line}"
        ) from exc
    if not isinstance(pred, pd.DataFrame):
        pred = pd.DataFrame(pred)
    if "customer_id" not in pred.columns and pred.index.name == "customer_id":
        pred = pred.reset_index()
    missing = [c for c in ("customer_id", "clv") if c not in pred.columns]
    if missing:
        raise ModelLoadError(
            f"model {model.name} version {model.version} returned no {missing} column; "
            "expected a clvml CLV model"
        )
    if len(pred) != len(part) or not np.array_equal(
        pred["customer_id"].astype(str).to_numpy(), part["customer_id"].to_numpy(dtype=str)
    ):
        raise ModelLoadError(
            f"model {model.name} version {model.version} returned {len(pred)} scores for "
            f"{len(part)} customers, not one per customer in the order given"
        )
    pred = legacy_activity_columns(pred)  # a model exported before p_active (schema v3)
    return pred[[c for c in SCORE_COLUMNS if c in pred.columns]]


def predict_in_chunks(
    model: ScoringModel,
    features: pd.DataFrame,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    workers: int = 1,
    on_chunk: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Score ``features`` with the pyfunc model, ``chunk_size`` customers at a time.

    With ``workers > 1`` chunks are scored in that many threads (the model's numerical
    kernels release the GIL); the result does not depend on ``chunk_size`` or ``workers``.

    Returns the score columns the CRM table knows (``customer_id``, ``clv``, ...),
    one row per customer, in the order of ``features``.
    """
    from clvml.models.model_input import to_model_input

    if chunk_size < 1:
        raise DataValidationError("chunk size must be >= 1", example=chunk_size)
    if workers < 1:
        raise DataValidationError("workers must be >= 1", example=workers)
    columns = [c for c in model.feature_columns if c in features.columns]
    starts = range(0, len(features), chunk_size)

    def one(start: int) -> pd.DataFrame:
        return _score_chunk(
            model, to_model_input(features.iloc[start : start + chunk_size], columns)
        )

    out: list[pd.DataFrame] = []
    if workers == 1 or len(starts) < 2:
        results: Any = map(one, starts)
        pool = None
    else:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="clvml-score")
        results = pool.map(one, starts)  # in order; at most `workers` chunks in flight
    try:
        for pred in results:
            out.append(pred)
            if on_chunk is not None:
                on_chunk(len(pred))
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if not out:
        return pd.DataFrame(columns=["customer_id", "clv"])
    return pd.concat(out, ignore_index=True)


def predict_with_progress(
    model: ScoringModel, features: pd.DataFrame, chunk_size: int, workers: int, console: Any | None
) -> pd.DataFrame:
    if not live_console(console):  # no bar written to a file or pipe
        return predict_in_chunks(model, features, chunk_size=chunk_size, workers=workers)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("customers"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("scoring", total=len(features))
        return predict_in_chunks(
            model,
            features,
            chunk_size=chunk_size,
            workers=workers,
            on_chunk=lambda n: progress.advance(task, n),
        )
