"""Collection rules for the doctests in ``clvml/`` (``make test`` runs them), and the end of a run.

The examples in ``clvml/spark/`` need the ``spark`` extra (pyspark); without it those
modules are not collected, so the default run works on the default install. At the end of
a session the garbage is collected before a ``pytest -n 2`` worker reports that it has
finished (:func:`pytest_sessionfinish`), so the worker exits at once when asked to.
"""

from __future__ import annotations

import gc
import importlib.util

import pytest

collect_ignore_glob: list[str] = []
if importlib.util.find_spec("pyspark") is None:
    collect_ignore_glob.append("clvml/spark/*")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Collect the session's garbage now, then freeze what survives.

    Under ``pytest -n 2`` a worker tells the controller it has finished at the end of this
    hook; the controller then asks it to exit and, 5 s later, execnet interrupts a worker
    that is still busy (SIGINT), which ends the run with a
    ``PytestUnraisableExceptionWarning ... KeyboardInterrupt``. What kept the worker busy
    was pytest's own two garbage collections after that point (``pytest_unconfigure`` and
    its cleanup), each scanning the ~800,000 objects the session's caches hold: 4.6 s and
    3.5 s on the loaded 2-core machine. Collecting here, while the controller still waits
    for the session, and freezing the survivors (``gc.freeze``: later collections skip
    them) leaves those two collections next to nothing to do. Finalizers of garbage cycles
    still run, in this collection, under pytest's unraisable-exception hook.
    """
    gc.collect()
    gc.freeze()
