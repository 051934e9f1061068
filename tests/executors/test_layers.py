"""The layers import downwards only: executors and formats know no step, release and engine
know nothing of each other (steps never know which executor runs them)."""

from __future__ import annotations

import ast
from pathlib import Path

import childguard

PACKAGE = Path(childguard.__file__).parent

# package -> packages of childguard it must never import (at module level or inside functions)
FORBIDDEN = {
    "executors": {"engine", "release", "registry", "web", "report", "lists", "detect"},
    "formats": {"engine", "release", "executors", "registry", "web", "report"},
    "release": {"engine"},
    "engine": {"release"},
}


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_no_layer_imports_upwards_or_sideways() -> None:
    bad = []
    for pkg, forbidden in FORBIDDEN.items():
        for path in sorted((PACKAGE / pkg).rglob("*.py")):
            for mod in _imports(path):
                parts = mod.split(".")
                if parts[0] == "childguard" and len(parts) > 1 and parts[1] in forbidden:
                    bad.append(f"{path.relative_to(PACKAGE)} imports {mod}")
    assert bad == []
