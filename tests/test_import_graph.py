"""Start-up stays light: ``import clvml`` and ``clvml --help`` load no heavy dependency.

The property checked is the import graph, not a time: a fresh interpreter imports clvml
(or runs ``clvml --help``) and the test reads which third-party packages ended up in
``sys.modules``. The time itself is measured in ``benchmarks/bench_startup.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Packages a command loads when it runs, never at start-up.
HEAVY = ("pandas", "numpy", "scipy", "sklearn", "sqlalchemy", "mlflow", "matplotlib", "pyarrow")


def _loaded_after(code: str) -> list[str]:
    """The :data:`HEAVY` packages in ``sys.modules`` after running ``code`` in a fresh python."""
    probe = (
        f"{code}\n"
        "import json, sys\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True, cwd=ROOT
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_clvml_loads_no_heavy_package() -> None:
    assert _loaded_after("import clvml") == []


def test_cli_help_loads_no_heavy_package() -> None:
    code = (
        "import contextlib, io\n"
        "from clvml.cli import run\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    assert run(['--help']) == 0\n"
        "assert 'train' in out.getvalue()\n"
    )
    assert _loaded_after(code) == []


def test_the_probe_sees_a_heavy_import() -> None:
    # the check is not vacuous: a name that needs pandas does load it
    assert "pandas" in _loaded_after("import clvml; clvml.rfm_summary")


def test_every_public_name_resolves_lazily() -> None:
    import clvml

    assert set(clvml._WHERE) == set(clvml.__all__)
    for name in clvml.__all__:
        value = getattr(clvml, name)
        module = clvml._WHERE[name]
        assert value is getattr(sys.modules[module], name), name
    assert set(clvml.__all__) <= set(dir(clvml))
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        _ = clvml.not_a_name  # type: ignore[attr-defined]
