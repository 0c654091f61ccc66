"""The input check the evaluation metrics share: two flat float arrays, one value each."""

from __future__ import annotations

from typing import Any

import numpy as np

from clvml.exceptions import DataValidationError

__all__ = ["paired"]


def paired(y_true: Any, y_other: Any, other_name: str) -> tuple[np.ndarray, np.ndarray]:
    """``y_true`` and ``y_other`` as flat float arrays of the same, non-zero length.

    Raises
    ------
    DataValidationError
        When the lengths differ (naming both) or there are no values.
    """
    t = np.asarray(y_true, dtype=float).ravel()
    o = np.asarray(y_other, dtype=float).ravel()
    if t.shape != o.shape:
        raise DataValidationError(
            f"y_true has {t.size} values but {other_name} has {o.size}; expected one per customer"
        )
    if t.size == 0:
        raise DataValidationError("no customers to evaluate")
    return t, o
