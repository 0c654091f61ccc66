"""The layers of docs/architecture.md, checked against the imports of every module.

Each package under ``clvml/`` belongs to a layer; a module may import clvml modules of its
own package and of the packages its layer lists in :data:`MAY_IMPORT`, nothing else. The
test reads the source (``ast``), so an import inside a function counts as much as one at the
top of a module; ``TYPE_CHECKING`` blocks count too (a type is a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "clvml"

#: Leaves every layer may import.
LEAVES = {"exceptions", "_version", "_deprecated", "_progress"}

#: Package -> the clvml packages its modules may import (besides itself and LEAVES).
#: Read top to bottom: data, features, models, evaluation and segments are the library;
#: tracking, scoring, reporting and spark adapt it to MLflow, the CRM database, HTML and
#: Spark; pipelines wire them; the CLI parses and prints.
MAY_IMPORT: dict[str, set[str]] = {
    "data": set(),
    "features": {"data"},
    "models": {"data", "features"},
    "evaluation": {"data", "features", "models"},
    "segments": {"data", "models"},
    "scoring": {"data"},
    "tracking": {"data", "features", "models", "evaluation", "segments"},
    "reporting": {"data", "evaluation", "segments"},
    "spark": {"data", "features", "models", "scoring"},
    # the alert rules and their delivery (clvml.alerts): scores, history and engagement in,
    # alerts to the CRM and the teams out
    "alerts": {"data", "features", "segments", "scoring"},
    # lifetimes' API over the library (an adapter: clvml.compat.lifetimes)
    "compat": {"data", "features", "models"},
    "pipelines": {
        "data",
        "features",
        "models",
        "evaluation",
        "segments",
        "tracking",
        "scoring",
        "reporting",
        "alerts",
    },
}


# the Spark engines of `clvml train` and `clvml score`: they plug Spark into the pipelines,
# which never import Spark (the CLI picks the engine)
MAY_IMPORT["spark-pipelines"] = {
    "data",
    "features",
    "models",
    "evaluation",
    "segments",
    "tracking",
    "scoring",
    "pipelines",
    "spark",
}
# the CLI parses, calls and prints: it may import every layer
MAY_IMPORT["cli"] = MAY_IMPORT["pipelines"] | {"pipelines", "spark"}

#: Modules whose layer is not their package's.
MODULE_LAYER = {"spark/train.py": "spark-pipelines", "spark/job.py": "spark-pipelines"}


def _layer(module: Path) -> str:
    rel = module.relative_to(ROOT)
    return MODULE_LAYER.get(rel.as_posix(), rel.parts[0] if len(rel.parts) > 1 else rel.stem)


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, first component under clvml) of every clvml import in ``tree``."""
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "clvml":
                names = [f"clvml.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "clvml" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
    return found


def _modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if p.parent != ROOT)


def test_every_package_has_a_layer() -> None:
    layers = {_layer(p) for p in _modules()}
    assert layers <= set(MAY_IMPORT), f"packages without a layer: {layers - set(MAY_IMPORT)}"


@pytest.mark.parametrize("module", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_layers(module: Path) -> None:
    own = _layer(module)
    package = module.relative_to(ROOT).parts[0]
    allowed = MAY_IMPORT[own] | LEAVES | {package}
    tree = ast.parse(module.read_text(encoding="utf-8"))
    wrong = [f"line {line}: clvml.{pkg}" for line, pkg in _imported(tree) if pkg not in allowed]
    assert not wrong, f"{own} may not import {wrong} (docs/architecture.md)"


def test_the_rule_is_not_vacuous() -> None:
    """The checker sees imports inside functions and ``from clvml import x`` forms."""
    src = "def f():\n    from clvml.pipelines import train\nfrom clvml import segments\n"
    assert sorted(_imported(ast.parse(src))) == [(2, "pipelines"), (3, "segments")]
