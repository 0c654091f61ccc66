"""lifetimes' bundled data sets (``lifetimes.datasets``), read from clvml's copies.

The CDNOW files and the donations data are clvml's (``data/cdnow``); the synthetic
example transactions are in ``data/lifetimes``. The frames have lifetimes' layout (the
CDNOW summary with its ``ID`` column, not indexed).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from clvml.data.datasets import data_path

__all__ = [
    "load_cdnow_summary",
    "load_cdnow_summary_data_with_monetary_value",
    "load_dataset",
    "load_donations",
    "load_transaction_data",
]

_FOLDERS = ("cdnow", "lifetimes")


def load_dataset(filename: str, **kwargs: Any) -> pd.DataFrame:
    """Read a bundled file (e.g. ``"CDNOW_sample.txt"``) with :func:`pandas.read_csv`."""
    for folder in _FOLDERS:
        try:
            path = data_path(f"{folder}/{filename}")
        except FileNotFoundError:
            continue
        return pd.read_csv(path, **kwargs)
    raise FileNotFoundError(f"no bundled data set named {filename!r}")


def load_donations(**kwargs: Any) -> pd.DataFrame:
    """The BG/BB donations data: frequency, recency, periods, weights."""
    return load_dataset("donations.csv", **kwargs)


def load_cdnow_summary(**kwargs: Any) -> pd.DataFrame:
    """The CDNOW 39-week calibration summary: ID, frequency, recency, T (weeks)."""
    return load_dataset("cdnow_customers_summary.csv", **kwargs)


def load_transaction_data(**kwargs: Any) -> pd.DataFrame:
    """The synthetic example purchase log: date, id (5,000 customers, 2014)."""
    return load_dataset("example_transactions.csv", **kwargs)


def load_cdnow_summary_data_with_monetary_value(**kwargs: Any) -> pd.DataFrame:
    """The CDNOW summary with mean repeat spend, indexed by ``customer_id``."""
    df = load_dataset("cdnow_customers_summary_with_transactions.csv", **kwargs)
    df.columns = ["customer_id", "frequency", "recency", "T", "monetary_value"]
    return df.set_index("customer_id")
