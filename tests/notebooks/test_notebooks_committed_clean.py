"""The notebooks in notebooks/ are committed clean and use only clvml's public modules.

Running them is `make test-notebooks` (nbmake); these checks are instant and run in the
default suite, so a notebook saved with outputs or reaching into a private module fails fast.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def _code_cells(path: Path) -> list[dict]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def test_the_four_notebooks_are_there():
    names = [p.name for p in NOTEBOOKS]
    assert len(names) >= 4, names
    assert [n[:3] for n in names[:4]] == ["01_", "02_", "03_", "04_"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    dirty = [
        i
        for i, c in enumerate(_code_cells(path))
        if c.get("outputs") or c.get("execution_count") is not None
    ]
    assert not dirty, f"{path.name}: code cells {dirty} hold outputs; strip them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_imports_only_public_clvml_modules(path):
    private = []
    for cell in _code_cells(path):
        source = "".join(cell["source"])
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            else:
                continue
            for module in modules:
                parts = module.split(".")
                if parts[0] == "clvml" and any(p.startswith("_") for p in parts[1:]):
                    private.append(module)
    assert not private, f"{path.name} imports private clvml names: {private}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_limits_openmp_threads_before_imports(path):
    first = "".join(_code_cells(path)[0]["source"])
    assert "OMP_NUM_THREADS" in first
    assert first.index("OMP_NUM_THREADS") < first.index("import clvml")
