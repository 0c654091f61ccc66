"""Collection rules for the doctests in ``clvml/`` (``make test`` runs them).

The examples in ``clvml/spark/`` need the ``spark`` extra (pyspark); without it those
modules are not collected, so the default run works on the default install.
"""

from __future__ import annotations

import importlib.util

collect_ignore_glob: list[str] = []
if importlib.util.find_spec("pyspark") is None:
    collect_ignore_glob.append("clvml/spark/*")
