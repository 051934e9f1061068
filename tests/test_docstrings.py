"""Every public module, class and function of the package says what it is for.

Read with `ast` from the source files, so optional extras (ray, web, ...) need not be installed.
Public: a name without a leading `_`; methods of public classes count, dunder methods do not,
nor functions defined inside functions.
"""

from __future__ import annotations

import ast
from fnmatch import fnmatch
from pathlib import Path

import childguard

PACKAGE = Path(childguard.__file__).parent

# docstrings added with their rewrite (these files are being rewritten; not edited here)
ALLOWLIST: tuple[str, ...] = ()


def _public_defs(path: Path) -> list[tuple[str, bool]]:
    """(qualified name, has a docstring) for the module and each public class and function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = [("<module>", ast.get_docstring(tree) is not None)]

    def walk(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            if node.name.startswith("_"):
                continue
            out.append((prefix + node.name, ast.get_docstring(node) is not None))
            if isinstance(node, ast.ClassDef):
                walk(node.body, f"{prefix}{node.name}.")

    walk(tree.body, "")
    return out


def _coverage() -> dict[str, list[tuple[str, bool]]]:
    return {
        p.relative_to(PACKAGE).as_posix(): _public_defs(p) for p in sorted(PACKAGE.rglob("*.py"))
    }


def _allowed(rel: str) -> bool:
    return any(fnmatch(rel, pattern) for pattern in ALLOWLIST)


def test_every_public_definition_has_a_docstring() -> None:
    cov = _coverage()
    total = sum(len(defs) for defs in cov.values())
    have = sum(ok for defs in cov.values() for _, ok in defs)
    print(f"docstring coverage: {have}/{total} public definitions ({100 * have / total:.1f}%)")
    missing = [
        f"{rel}: {name}"
        for rel, defs in cov.items()
        if not _allowed(rel)
        for name, ok in defs
        if not ok
    ]
    assert not missing, "public definitions without a docstring:\n" + "\n".join(missing)


def test_allowlist_names_existing_files() -> None:
    rels = list(_coverage())
    stale = [pat for pat in ALLOWLIST if not any(fnmatch(rel, pat) for rel in rels)]
    assert not stale, f"allowlist entries that match no file: {stale}"
