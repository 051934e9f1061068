"""Which audits pin which list versions: a small registry kept in the list store.

`scan` and `rematch` write one file per audit, `lists/.audits/<sha256(audit path)[:16]>.json`
(`{"audit": path, "lists": {name: version}, "updated": time}`), so `lists rm` can tell which
audits still need a list. An entry is trusted only while the audit's run.json still pins the
list; entries of audits moved or deleted are dropped when read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from childguard.io.atomic import write_json_atomic

REFS_DIR = ".audits"


def _entry(lists_root: Path, audit: Path) -> Path:
    key = hashlib.sha256(str(audit).encode()).hexdigest()[:16]
    return lists_root / REFS_DIR / f"{key}.json"


def record(lists_root: Path, audit: str | Path, versions: dict[str, int]) -> None:
    """Note that `audit` pins these list versions (no lists: the audit's entry is removed)."""
    audit = Path(audit).resolve()
    path = _entry(lists_root, audit)
    if not versions:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(
        path,
        {
            "audit": str(audit),
            "lists": dict(sorted(versions.items())),
            "updated": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )


def _pinned(audit: Path) -> dict[str, int] | None:
    """The list versions the audit's run.json pins now, or None when it has none to read."""
    from childguard.engine.config_diff import list_versions

    try:
        run = json.loads((audit / "run.json").read_text())
    except (OSError, ValueError):
        return None
    return list_versions(run.get("detectors") or [])


def audits_using(lists_root: Path, name: str) -> list[tuple[str, int]]:
    """(audit folder, version) of every audit whose run.json pins list `name`, by path."""
    folder = lists_root / REFS_DIR
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.json")):
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        audit = Path(entry.get("audit", ""))
        pinned = _pinned(audit)
        if pinned is None:  # the audit is gone: its entry is spent
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        if name in pinned:
            out.append((str(audit), pinned[name]))
    return sorted(out)
