"""The notebooks in notebooks/ are committed with the outputs ``make notebooks`` gives them.

A reader on the web sees results, so the committed notebooks carry their outputs, made by
``make notebooks`` (every notebook executed top to bottom, then
``tools/notebook_outputs.py``: paths relative, run ids and time stamps replaced, the code
cells' digest recorded). These checks are instant and run in the default suite: every
code cell executed once, in order, without an error; the outputs made by the code cells as
committed (the digest); no absolute path or secret in any output; the file size bounded.
Running the notebooks on the current code is ``make test-notebooks`` (nbmake).
"""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _tool():
    spec = importlib.util.spec_from_file_location(
        "notebook_outputs", ROOT / "tools" / "notebook_outputs.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _code_cells(path: Path) -> list[dict]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def test_the_four_notebooks_are_there():
    names = [p.name for p in NOTEBOOKS]
    assert len(names) >= 4, names
    assert [n[:3] for n in names[:4]] == ["01_", "02_", "03_", "04_"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_with_the_outputs_of_make_notebooks(path):
    found = _tool().problems(path)
    assert not found, f"{path.name}: {'; '.join(found)}; run make notebooks and commit the result"


def test_the_check_catches_what_it_should(tmp_path):
    """A stale, unexecuted, leaking or bloated notebook is refused (the check is not empty)."""
    tool = _tool()
    nb = json.loads(NOTEBOOKS[0].read_text(encoding="utf-8"))
    cases = {
        "edited": lambda n: n["cells"][[c["cell_type"] for c in n["cells"]].index("code")][
            "source"
        ].append("\n# edited after the run"),
        "unexecuted": lambda n: [c.update(execution_count=None, outputs=[]) for c in _code(n)],
        "path": lambda n: _code(n)[0]["outputs"].append(
            {"output_type": "stream", "name": "stdout", "text": ["/home/ana/crm.db\n"]}
        ),
        "secret": lambda n: _code(n)[0]["outputs"].append(
            {"output_type": "stream", "name": "stdout", "text": ["postgresql://u:hunter2@db/x\n"]}
        ),
        "error": lambda n: _code(n)[0]["outputs"].append(
            {"output_type": "error", "ename": "E", "evalue": "", "traceback": []}
        ),
    }
    expected = {
        "edited": "changed after",
        "unexecuted": "execution counts",
        "path": "absolute path",
        "secret": "password in a URL",
        "error": "end in an error",
    }
    assert not tool.problems(NOTEBOOKS[0])  # the committed one passes
    for name, spoil in cases.items():
        bad = json.loads(json.dumps(nb))
        spoil(bad)
        target = tmp_path / f"{name}.ipynb"
        target.write_text(json.dumps(bad))
        found = "; ".join(tool.problems(target))
        assert expected[name] in found, (name, found)


def _code(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


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
