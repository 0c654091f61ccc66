"""CSV files for people: no cell a spreadsheet would run as a formula (CSV injection).

A spreadsheet opening a CSV treats a cell starting with ``=``, ``+``, ``-`` or ``@`` as a
formula (``=HYPERLINK(...)``, ``@SUM(...)``), and a leading tab or carriage return can hide
one. Customer ids, segment names and any other text clvml writes into a CSV meant for
people (the campaign lists of ``clvml segments --export``, ``clvml evaluate --out``) go
through :func:`formula_safe`: such a text cell gets a leading ``'``, which spreadsheets
show as text and never evaluate. Numbers stay numbers (``-3.5`` is written as is).

For a machine reading the file back, the change is undone exactly by
:func:`restore_formula_safe` (drop one leading ``'``): a text cell that already started
with ``'`` is prefixed too, so the rule has one inverse.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["FORMULA_TRIGGERS", "formula_safe", "restore_formula_safe"]

#: First characters that make a spreadsheet read a cell as a formula (and the quote itself,
#: so that the prefix can always be removed again).
FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r", "'")


def _safe_text(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def _restore_text(value: object) -> object:
    if isinstance(value, str) and value.startswith("'"):
        return value[1:]
    return value


def _is_text(col: pd.Series) -> bool:
    return bool(
        pd.api.types.is_object_dtype(col)
        or pd.api.types.is_string_dtype(col)
        or isinstance(col.dtype, pd.CategoricalDtype)
    )


def formula_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names cannot be run as formulas.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table to write to a CSV meant for people.

    Returns
    -------
    pandas.DataFrame
        Text cells (and column names) starting with ``=``, ``+``, ``-``, ``@``, tab, CR
        or ``'`` get a leading ``'``; numeric columns and other text are unchanged.

    Examples
    --------
    >>> df = pd.DataFrame({"customer_id": ["=HYPERLINK(\\"x\\")", "@SUM(A1)", "c-1"],
    ...                    "clv": [-1.5, 2.0, 3.0]})
    >>> formula_safe(df).to_dict("list")
    {'customer_id': ['\\'=HYPERLINK("x")', "'@SUM(A1)", 'c-1'], 'clv': [-1.5, 2.0, 3.0]}
    >>> restore_formula_safe(formula_safe(df)).equals(df)
    True
    """
    out = frame.copy()
    for name in out.columns:
        col = out[name]
        if _is_text(col):
            values = col.astype(object).map(_safe_text)
            out[name] = values.astype(col.dtype) if not _is_categorical(col) else values
    out.columns = [_safe_text(c) for c in out.columns]
    return out


def _is_categorical(col: pd.Series) -> bool:
    return isinstance(col.dtype, pd.CategoricalDtype)


def restore_formula_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Undo :func:`formula_safe` on a table read back from such a CSV (read ids as text).

    Every text cell and column name starting with ``'`` loses that one character.
    """
    out = frame.copy()
    for name in out.columns:
        col = out[name]
        if _is_text(col):
            values = col.astype(object).map(_restore_text)
            out[name] = values.astype(col.dtype) if not _is_categorical(col) else values
    out.columns = [_restore_text(c) for c in out.columns]
    return out
