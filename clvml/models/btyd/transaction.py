"""Purchase-count models: the BTYD base plus the four standard predictions.

Example of a complete declaration (the real one lives in ``beta_geo.py``)::

    class BetaGeo(TransactionModel):
        _param_names = ("r", "alpha", "a", "b")
        _data_columns = ("frequency", "recency", "T")
        _scale_column = "T"
        _scaled_columns = ("recency", "T")
        _scaled_params = ("alpha",)
        _loglik = staticmethod(bgnbd_loglik)
        _loglik_grad = staticmethod(bgnbd_loglik_grad)
        _probability_alive = staticmethod(bgnbd_probability_alive)
        ...  # and the other three prediction functions (see TransactionModel)

        def _initial_params(self, columns, weights):
            return np.array([1.0, 1.0, 1.0, 1.0])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError
from clvml.models.btyd.base import BTYDModel
from clvml.models.btyd.rows import (
    CompressedRows,
    FitProblem,
    PreparedSummary,
    all_rows,
    check_horizon,
    compress_rows,
)

__all__ = ["TransactionModel", "per_row"]


class TransactionModel(BTYDModel):
    """A BTYD model of purchase counts: the base plus the four standard predictions.

    A subclass declares, besides the :class:`BTYDModel` attributes, four pure
    functions of a parameter vector (``_param_names`` order) as staticmethods:

    ``_expected_purchases(params, *columns, t)``
        Conditional expected purchases in the next ``t`` periods, per row.
    ``_probability_alive(params, *columns)``
        P(active at the end of the observation), per row.
    ``_expected_purchases_new(params, t)``
        Expected purchases in ``(0, t]`` of a new customer (t broadcasts).
    ``_probability_of_purchases(params, x, t)``
        P(X(t) = x) for a new customer (x, t broadcast).

    and gets ``expected_purchases``, ``probability_alive``,
    ``expected_purchases_new_customer`` and ``probability_of_purchases``, which check
    the fit and inputs and evaluate each distinct row once.
    """

    _expected_purchases: ClassVar[Callable[..., np.ndarray]]
    _probability_alive: ClassVar[Callable[..., np.ndarray]]
    _expected_purchases_new: ClassVar[Callable[..., np.ndarray]]
    _probability_of_purchases: ClassVar[Callable[..., np.ndarray]]
    # True where _probability_alive is a few arithmetic operations per row: every row is
    # then evaluated as it is, without finding the distinct rows first
    _cheap_probability_alive: ClassVar[bool] = False

    # ---------------------------------------------------------------- fit rows
    def _prepare_fit(self, data: Any, weights: Any) -> FitProblem:
        """The base's rows, ordered by frequency (stable).

        The fitting kernels then read the terms in ``x`` alone as runs and the rows
        without repeat purchases as one slice (:mod:`clvml.models.btyd.bgnbd_kernels`);
        the order changes no result beyond rounding.
        """
        problem = super()._prepare_fit(data, weights)
        x = problem.columns[0]
        if x.size < 2 or bool(np.all(x[1:] >= x[:-1])):
            return problem
        # whole counts below 2^15 sort as int16: numpy's stable sort is then a radix sort
        small = x.max() < 2**15
        order = np.argsort(x.astype(np.int16) if small else x, kind="stable")
        return FitProblem(
            tuple(c[order] for c in problem.columns),
            tuple(c[order] for c in problem.scaled),
            problem.counts[order],
            problem.total,
            problem.scale,
            problem.extra,
        )

    # ---------------------------------------------------------------- predictions
    def expected_purchases(self, data: Any, t: float | np.ndarray) -> Any:
        """Expected repeat purchases of each customer in the next ``t`` periods (conditional).

        Parameters
        ----------
        data : pandas.DataFrame, mapping or 2-d array
            RFM summary (``frequency``, ``recency``, ``T``) in the fit's time unit.
        t : float or 1-d array
            Length of the future period (>= 0): one horizon for every customer, or
            one per customer (an array as long as ``data``).

        Returns
        -------
        pandas.Series or ndarray
            A Series on ``data``'s index for a frame, an array otherwise. Each
            distinct (frequency, recency, T, t) is evaluated once.
        """
        t_arr = check_horizon(t)
        rows = self._rows(data)
        params = self._params_array()
        if t_arr.ndim == 0:
            values = type(self)._expected_purchases(params, *rows.columns, float(t_arr))
            return rows.expand(values, name="expected_purchases")
        each = per_row(rows, t=t_arr)
        values = type(self)._expected_purchases(params, *each.columns[:-1], each.columns[-1])
        return each.expand(values, name="expected_purchases")

    def probability_alive(self, data: Any) -> Any:
        """Probability that each customer is still active at the end of the data (age T).

        Returns a Series on ``data``'s index for a frame, an array otherwise. On a
        :class:`PreparedSummary` (:meth:`prepare`) each distinct row is evaluated once;
        on a summary every row is (the formula is cheaper than finding them).
        """
        if type(self)._cheap_probability_alive and not isinstance(data, PreparedSummary):
            self._check_fitted()
            frame = self._as_frame(data)
            index = frame.index if isinstance(data, pd.DataFrame) else None
            rfm = None
            if self._data_columns == ("frequency", "recency", "T") and self._zero_age_ok:
                rfm = "grid" if self._grid_rows_ok else "strict"
            rows = all_rows(frame, self._data_columns, self._validate_prediction, index, rfm)
        else:
            rows = self._rows(data)
        values = type(self)._probability_alive(self._params_array(), *rows.columns)
        return rows.expand(values, name="probability_alive")

    def expected_purchases_new_customer(self, t: float | np.ndarray) -> np.ndarray | float:
        """Expected repeat purchases in the first ``t`` periods of a newly acquired customer."""
        t_arr = check_horizon(t)
        values = type(self)._expected_purchases_new(self._params_array(), t_arr)
        return float(values) if np.ndim(values) == 0 else values

    def probability_of_purchases(
        self, x: int | np.ndarray, t: float | np.ndarray
    ) -> np.ndarray | float:
        """P(X(t) = x): probability of exactly ``x`` repeat purchases by a new customer in ``t``.

        ``x`` and ``t`` broadcast against each other.
        """
        x_arr = np.asarray(x, dtype=float)
        bad = ~np.isfinite(x_arr) | (x_arr < 0) | (x_arr != np.floor(x_arr))
        if bad.any():
            raise DataValidationError(
                "must be whole numbers >= 0",
                column="x",
                n_rows=int(bad.sum()),
                example=float(x_arr[bad].flat[0]),
            )
        t_arr = check_horizon(t)
        values = type(self)._probability_of_purchases(self._params_array(), x_arr, t_arr)
        return float(values) if np.ndim(values) == 0 else values


def per_row(rows: CompressedRows, **values: np.ndarray) -> CompressedRows:
    """Distinct (row, value...) tuples when each customer has her own ``values``.

    Every array of ``values`` (keyword = its name in error messages) must hold one
    number per customer; the returned rows carry them as extra columns, in order.
    """
    n = rows.inverse.size
    for name, v in values.items():
        if v.shape != (n,):
            raise DataValidationError(
                f"expected a single number or one per customer ({n}), got shape {v.shape}",
                column=name,
            )
    if n and all(v.min() == v.max() for v in values.values()):
        # the same value for everyone (a broadcast scalar): the rows stay as they are
        k = rows.columns[0].size
        constant = tuple(np.full(k, v[0], dtype=float) for v in values.values())
        columns = (*rows.columns, *constant)
        return CompressedRows(columns, rows.counts, rows.inverse, rows.index, rows.identity)
    (which, *extra), _, inverse = compress_rows((rows.inverse.astype(float), *values.values()))
    pick = which.astype(np.int64)
    columns = (*(c[pick] for c in rows.columns), *extra)
    return CompressedRows(columns, np.ones(pick.size), inverse, rows.index)
