"""Step 8's first half of the scoring job: the pyfunc model over the features, in chunks.

Each chunk's output is checked against its input (one score row per customer, in order,
with a ``clv`` column); a failing model raises :class:`ModelLoadError` in one line.

A clvml CLV model is scored on its **scoring steps** only (:func:`scores_only`): the
champion, BG/NBD and what they need, not every fitted method (their ``clv_<method>``
columns are not score-table columns), through the same code as the pyfunc model
(:func:`clvml.tracking.pyfunc.served_frame`). When those steps read the RFM columns
alone (:data:`RFM_ONLY_STEPS`), the job skips the engagement features too
(:func:`needs_engagement`). The scores are the pyfunc model's, column for column
(tests/scoring/test_score_fast_path.py).
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

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "RFM_ONLY_STEPS",
    "needs_engagement",
    "predict_in_chunks",
    "predict_with_progress",
    "scores_only",
]

DEFAULT_CHUNK_SIZE = 100_000
#: Steps that read the RFM columns alone and give a churn probability in closed form (the
#: BTYD family): a champion among them needs no engagement feature to be scored.
RFM_ONLY_STEPS: frozenset[str] = frozenset(
    {"btyd", "btyd_all_spend", "pareto_nbd", "pareto_nbd_all_spend"}
)


def _estimator(model: ScoringModel) -> Any | None:
    """The fitted clvml estimator inside clvml's pyfunc wrapper (None for any other model)."""
    from clvml.tracking.pyfunc import CLVPyfuncModel

    try:
        wrapper = model.pyfunc.unwrap_python_model()
    except Exception:  # not a Python model: only its own predict is known
        return None
    est = getattr(wrapper, "model_", None)
    if not isinstance(wrapper, CLVPyfuncModel) or not callable(
        getattr(est, "predict_scores", None)
    ):
        return None
    return est


def scores_only(model: ScoringModel) -> Callable[[pd.DataFrame], pd.DataFrame] | None:
    """The score columns of a chunk from the model's scoring steps alone, or None.

    For clvml's pyfunc model: :func:`clvml.tracking.pyfunc.served_frame` with
    ``scores_only=True`` (the estimator's ``predict_scores``, labelled by the stored
    segment scheme); None for any other model (scored by its own ``predict``).
    """
    from clvml.tracking.pyfunc import served_frame

    est = _estimator(model)
    if est is None:
        return None
    scheme = getattr(model.pyfunc.unwrap_python_model(), "scheme_", None)
    return lambda part: served_frame(est, scheme, part, scores_only=True)


def needs_engagement(model: ScoringModel) -> bool:
    """Whether scoring with ``model`` reads engagement features.

    False only for a clvml CLV model whose scoring steps are all :data:`RFM_ONLY_STEPS`
    (e.g. a BG/NBD + Gamma-Gamma champion); its other feature columns are then filled with
    NaN, which no step it runs reads.
    """
    est = _estimator(model)
    if est is None:
        return True
    try:
        steps = est.scoring_steps()
    except Exception:  # not fitted as expected: score it the full way
        return True
    return not set(steps) <= RFM_ONLY_STEPS


def _score_chunk(
    model: ScoringModel,
    part: pd.DataFrame,
    predict: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """One chunk through the model, with the output checked against its input."""
    try:
        pred = model.pyfunc.predict(part) if predict is None else predict(part)
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
    fast: bool = True,
) -> pd.DataFrame:
    """Score ``features`` with the pyfunc model, ``chunk_size`` customers at a time.

    With ``workers > 1`` chunks are scored in that many threads (the model's numerical
    kernels release the GIL); the result does not depend on ``chunk_size`` or ``workers``.
    With ``fast`` (default) a clvml model runs its scoring steps only (:func:`scores_only`;
    the same scores); ``fast=False`` calls the pyfunc model's ``predict``.

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
    predict = scores_only(model) if fast else None

    def one(start: int) -> pd.DataFrame:
        return _score_chunk(
            model, to_model_input(features.iloc[start : start + chunk_size], columns), predict
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
    model: ScoringModel,
    features: pd.DataFrame,
    chunk_size: int,
    workers: int,
    console: Any | None,
    fast: bool = True,
) -> pd.DataFrame:
    if not live_console(console):  # no bar written to a file or pipe
        return predict_in_chunks(model, features, chunk_size=chunk_size, workers=workers, fast=fast)
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
            fast=fast,
        )
