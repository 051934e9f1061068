"""Reopen a shard an audit scanned, checking it is still the file the scan saw.

Used by every step that goes back to an audit's inputs after the scan (release, rematch), so
they refuse the same changed files with the same words."""

from __future__ import annotations

import os
from pathlib import Path

from childguard.io.columns import ColumnMap
from childguard.io.paths import Shard
from childguard.io.readers import ShardError, ShardInfo, open_shard


class ShardChanged(ValueError):
    """A scanned shard that is missing, unreadable or no longer the file the scan read."""


def reopen_scanned_shard(entry: dict, audit_dir: Path) -> ShardInfo:
    """Reopen one `run.json` input entry; ShardChanged says why it cannot be used."""
    sid = entry.get("shard_id", "?")
    if "columns" not in entry or "error" in entry:
        raise ShardChanged(f"{audit_dir}/run.json: shard {sid} was not scanned successfully")
    shard = Shard(entry["path"], entry["format"], entry.get("compression"), entry.get("size"), sid)
    cols = entry["columns"]
    try:
        info = open_shard(shard, cols.get("url"), cols.get("text"))
    except ShardError as e:
        raise ShardChanged(f"shard {sid}: {e}") from None
    if info.columns != ColumnMap(**cols):
        raise ShardChanged(f"{shard.path}: columns differ from the scan's ({cols})")
    if shard.format in ("csv", "tsv") and (
        info.header != entry.get("header", info.header)
        or info.delimiter != entry.get("delimiter", info.delimiter)
    ):
        raise ShardChanged(f"{shard.path}: header/delimiter differ from the scan's")
    if shard.is_local and shard.size is not None and os.path.getsize(shard.path) != shard.size:
        raise ShardChanged(
            f"{shard.path}: size changed since the scan ({shard.size} -> "
            f"{os.path.getsize(shard.path)} bytes); scan it again"
        )
    return info
