"""Make executed notebooks fit to commit: outputs kept, what varies between runs removed.

``make notebooks`` executes every ``notebooks/*.ipynb`` in place and then runs this script
on them. It

* replaces absolute paths with what a reader can use: the repository root becomes ``.``,
  a temporary folder becomes ``<tmp>``, a home folder ``~``;
* replaces what changes on every run by a placeholder: MLflow run and model ids
  (``<run id>``), log time stamps (``<time>``) and step timings (``(<s> s)``); what a
  notebook prints on purpose (e.g. seconds per step) stays as that run printed it;
* drops the execution metadata of every cell (timings) and the kernel's widget state;
* records in the notebook's metadata (``clvml.code_sha256``) the SHA-256 of its code
  cells' sources, so a test can tell that the outputs were produced by these cells (a cell
  edited after the run no longer matches: run ``make notebooks`` again).

``--check`` only reports what :func:`problems` finds (what
``tests/notebooks/test_notebooks_committed_with_outputs.py`` checks), without writing.

Usage::

    python tools/notebook_outputs.py [--check] notebooks/*.ipynb
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: Largest committed notebook (outputs included).
MAX_BYTES = 2_000_000
STAMP = "code_sha256"

_TMP_ROOTS = sorted(
    {tempfile.gettempdir(), "/tmp", "/var/tmp", "/private/var/folders"}, key=len, reverse=True
)
#: Text that must never be committed: absolute paths and secrets.
FORBIDDEN = [
    (
        re.compile(r"(?<![\w.<~])/(?:home|root|Users|tmp|var/tmp|private|work|mnt)/"),
        "absolute path",
    ),
    (re.compile(r"[A-Za-z]:\\\\(?:Users|Windows)"), "absolute path"),
    (re.compile(r"(?i)(password|passwd|pwd|secret|token|api_key)=(?!\*\*\*)[^&\s'\"]+"), "secret"),
    (re.compile(r"://[^/\s:@]+:(?!\*\*\*@)[^/\s@]+@"), "password in a URL"),
]
_VOLATILE = [
    (re.compile(r"\b[0-9a-f]{32}\b"), "<run id>"),
    (re.compile(r"\bm-[0-9a-f]{32}\b"), "m-<model id>"),
    # log lines' time stamps (MLflow writes 2026/12/05 14:02:23); data's ISO times are kept
    (re.compile(r"\b\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b"), "<time>"),
    (re.compile(r"\(\d+(?:\.\d+)? s\)"), "(<s> s)"),
]


def code_digest(nb: dict[str, Any]) -> str:
    """SHA-256 of the notebook's code cells' sources, in order."""
    h = hashlib.sha256()
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            h.update("".join(cell["source"]).encode())
            h.update(b"\0")
    return h.hexdigest()


def _clean_text(text: str) -> str:
    root = str(ROOT)
    text = text.replace(root + "/", "./").replace(root, ".")
    for tmp in _TMP_ROOTS:
        text = re.sub(re.escape(tmp) + r"/[^\s'\"),\]]*", "<tmp>", text)
    home = str(Path.home())
    if home not in ("/", ""):
        text = text.replace(home, "~")
    for pattern, repl in _VOLATILE:
        text = pattern.sub(repl, text)
    return text


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: (v if k.startswith("image/") else _clean(v)) for k, v in value.items()}
    return value


def normalise(nb: dict[str, Any]) -> dict[str, Any]:
    """The notebook with its outputs cleaned (see the module documentation)."""
    for cell in nb["cells"]:
        cell.get("metadata", {}).pop("execution", None)
        if cell["cell_type"] == "code":
            cell["outputs"] = [_clean(o) for o in cell.get("outputs", [])]
    nb.get("metadata", {}).pop("widgets", None)
    nb.setdefault("metadata", {}).setdefault("clvml", {})[STAMP] = code_digest(nb)
    return nb


def problems(path: Path) -> list[str]:
    """What keeps ``path`` from being committed as ``make notebooks`` leaves it."""
    raw = path.read_bytes()
    nb = json.loads(raw)
    found = []
    if len(raw) > MAX_BYTES:
        found.append(f"{len(raw):,} bytes (more than {MAX_BYTES:,})")
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    counts = [c.get("execution_count") for c in code]
    if counts != list(range(1, len(code) + 1)):
        found.append(f"execution counts {counts} are not 1..{len(code)} in order")
    if not any(c.get("outputs") for c in code):
        found.append("no outputs")
    errors = [
        i
        for i, c in enumerate(code)
        if any(o.get("output_type") == "error" for o in c.get("outputs", []))
    ]
    if errors:
        found.append(f"code cells {errors} end in an error")
    if nb.get("metadata", {}).get("clvml", {}).get(STAMP) != code_digest(nb):
        found.append("the code cells changed after the outputs were made")
    text = json.dumps([c.get("outputs", []) for c in code] + [nb.get("metadata", {})])
    text = re.sub(r'"image/[a-z+]+": "[^"]*"', "", text)
    for pattern, what in FORBIDDEN:
        hit = pattern.search(text)
        if hit:
            found.append(f"{what} in an output: {hit.group(0)[:40]!r}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="report only, write nothing")
    args = parser.parse_args(argv)
    bad = 0
    for path in args.paths:
        if not args.check:
            nb = normalise(json.loads(path.read_text(encoding="utf-8")))
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        for problem in problems(path):
            bad += 1
            print(f"{path}: {problem}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
