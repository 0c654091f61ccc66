"""Bundled data sets: the CDNOW purchase records (Fader, Hardie & Lee 2005).

The files ship inside the wheel (``clvml/_data/cdnow``) and, in a source
checkout, live in the repository's ``data/cdnow`` folder.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

__all__ = [
    "data_path",
    "load_cdnow_master",
    "load_cdnow_sample",
    "load_cdnow_summary",
    "load_donations",
]

#: Last day of the 39-week calibration period used in the BTYD papers.
CDNOW_CALIBRATION_END = "1997-09-30"
#: Last day of the 78 weeks of CDNOW data.
CDNOW_OBSERVATION_END = "1998-06-30"


def data_path(name: str) -> Path:
    """Return the path of a bundled data file, e.g. ``data_path("cdnow/CDNOW_sample.txt")``."""
    packaged = resources.files("clvml") / "_data" / name
    if packaged.is_file():
        return Path(str(packaged))
    source_tree = Path(__file__).resolve().parents[2] / "data" / name
    if source_tree.is_file():
        return source_tree
    raise FileNotFoundError(
        f"bundled data file {name!r} not found (looked in the package and {source_tree})"
    )


def _read_cdnow(path: Path, names: list[str], skiprows: int) -> pd.DataFrame:
    df = pd.read_csv(
        path,
        sep=r"\s+",
        header=None,
        skiprows=skiprows,
        names=names,
        dtype={"customer_id": str, "master_id": str, "date": str},
    )
    df["timestamp"] = pd.to_datetime(df.pop("date"), format="%Y%m%d")
    return df.rename(columns={"dollar_value": "amount", "number_of_cds": "quantity"})


def load_cdnow_sample() -> pd.DataFrame:
    """The 1/10 CDNOW sample: 2,357 customers, 6,919 purchases.

    Returns
    -------
    pandas.DataFrame
        Columns ``customer_id`` (str), ``master_id`` (str), ``quantity`` (int),
        ``amount`` (float, US dollars) and ``timestamp`` (datetime64, day precision),
        in the layout of the transactions data contract.

    Examples
    --------
    >>> df = load_cdnow_sample()
    >>> df["customer_id"].nunique(), len(df)
    (2357, 6919)
    """
    cols = ["customer_id", "master_id", "date", "number_of_cds", "dollar_value"]
    return _read_cdnow(data_path("cdnow/CDNOW_sample.txt"), cols, skiprows=0)


def load_cdnow_master() -> pd.DataFrame:
    """All 69,659 CDNOW purchases of the 23,570 customers of the 1997-Q1 cohort.

    Returns
    -------
    pandas.DataFrame
        Columns ``customer_id``, ``quantity``, ``amount``, ``timestamp``.
    """
    cols = ["customer_id", "date", "number_of_cds", "dollar_value"]
    return _read_cdnow(data_path("cdnow/CDNOW_master.txt"), cols, skiprows=1)


def load_cdnow_summary(with_spend: bool = False) -> pd.DataFrame:
    """The published 39-week calibration summary of the CDNOW sample (time unit: weeks).

    Parameters
    ----------
    with_spend : bool, default False
        Also return ``monetary_value`` (mean spend of repeat purchases, the
        paper's z-bar), as used for the Gamma-Gamma model.

    Returns
    -------
    pandas.DataFrame
        Indexed by customer ID with ``frequency``, ``recency``, ``T``
        (and ``monetary_value``), the layout of :func:`clvml.rfm_summary`.
    """
    if with_spend:
        df = pd.read_csv(data_path("cdnow/cdnow_customers_summary_with_transactions.csv"))
        df = df.rename(columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value"})
    else:
        df = pd.read_csv(data_path("cdnow/cdnow_customers_summary.csv"))
    return df.set_index("ID")


def load_donations() -> pd.DataFrame:
    """The BG/BB donations data set (discrete opportunities, compressed with weights)."""
    return pd.read_csv(data_path("cdnow/donations.csv"))
