"""The local list store: named, typed, versioned takedown lists under `$CHILDGUARD_HOME/lists`.

Layout of one list, `lists/<name>/`:
  list.json             name, type, description, current version, and every version's history
                        (entries, added, removed, source files by name + SHA-256, never content)
  v0003.npy             the current version's digests: (n, width) uint8, sorted, unique
  v0003.prefix.npy      their first 8 bytes as uint64, for the binary search
  v0003.mih-order.npy   PDQ lists only: the multi-index-hashing tables (see pdq.py)
  v0003.mih-offsets.npy
  delta-v0003.add.npy   what each version added / removed, so any older version can be rebuilt
  delta-v0003.del.npy   (a scan records `name@version`, and can be re-run against it)
Every file is written under a temporary name and renamed; `list.json` is renamed last, so a
reader sees the old version or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from childguard.io.atomic import atomic_write, write_json_atomic
from childguard.io.paths import file_sha256
from childguard.lists.digests import DigestSet, difference, prefixes, sort_unique
from childguard.lists.importers import ImportReport, read_list_file
from childguard.lists.pdq import PDQIndex
from childguard.lists.types import WIDTH, ListType
from childguard.urls import URL_NORM_VERSION

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_LOCK_WAIT_S = 60.0


class ListStoreError(ValueError):
    """A list or version that is not in the store, or a store that cannot be written."""


def default_home() -> Path:
    """The store's home: $CHILDGUARD_HOME, else the platform's user data folder."""
    env = os.environ.get("CHILDGUARD_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("childguard"))


@dataclass(frozen=True)
class ListRef:
    """`name` or `name@version` as given on the command line or in detector options."""

    name: str
    version: int | None = None

    @classmethod
    def parse(cls, text: str) -> ListRef:
        """Parse `name` or `name@N` (also `name@vN`)."""
        name, _, ver = text.strip().partition("@")
        if ver:
            v = ver.lstrip("v")
            if not v.isdigit():
                raise ListStoreError(f"bad list version in {text!r}; use NAME or NAME@N")
            return cls(name, int(v))
        return cls(name)


@dataclass
class LoadedList:
    """One version of a list loaded for matching: its digests (and PDQ index)."""
    name: str
    type: ListType
    version: int
    digests: DigestSet
    pdq: PDQIndex | None = None
    # how a `url` list's entries are keyed (types.URL_KEYS); url_sha256 lists are rfc3986
    url_key: str = "rfc3986"

    @property
    def label(self) -> str:
        """`name@vN`, as evidence names the list."""
        return f"{self.name}@v{self.version}"

    def __len__(self) -> int:
        return len(self.digests)


def _write_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_write(path) as tmp, open(tmp, "wb") as f:
        np.save(f, np.ascontiguousarray(arr))


def _check_url_norm(meta: dict, path: Path) -> None:
    """A URL list's digests were made with this childguard's URL normaliser (a list made
    before versions were recorded has none: version 1), else ListStoreError."""
    from childguard.formats import FormatError, check_url_norm

    try:
        check_url_norm(meta.get("url_norm_version"), str(path), "import the list again")
    except FormatError as e:
        raise ListStoreError(str(e)) from None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ListStore:
    """The local store of named, typed, versioned takedown lists."""
    def __init__(self, home: str | Path | None = None) -> None:
        self.home = Path(home).expanduser() if home is not None else default_home()
        self.root = self.home / "lists"

    # reading ------------------------------------------------------------------------------------
    def names(self, *, retired: bool = False) -> list[str]:
        """Names of the lists in the store (retired ones too with `retired=True`)."""
        if not self.root.is_dir():
            return []
        out = sorted(
            p.name
            for p in self.root.iterdir()
            if not p.name.startswith(".") and (p / "list.json").is_file()
        )
        return out if retired else [n for n in out if not self.info(n).get("retired")]

    def _checked(self, name: str) -> str:
        """A list name is one path segment of safe characters: `../../x` never leaves the
        store."""
        if not _NAME.match(name):
            raise ListStoreError(
                f"bad list name {name!r}: letters, digits, '.', '_' and '-', starting with a "
                "letter or digit"
            )
        return name

    def info(self, name: str) -> dict:
        """A list's list.json: type, description, current version and history."""
        path = self.root / self._checked(name) / "list.json"
        if not path.is_file():
            known = ", ".join(self.names()) or "none"
            raise ListStoreError(f"no list named {name!r} in {self.root} (lists: {known})")
        return json.loads(path.read_text())

    def load(self, ref: str | ListRef, *, pdq_index: bool = True) -> LoadedList:
        """Load a list at its current or a pinned version (older ones rebuilt from deltas)."""
        ref = ListRef.parse(ref) if isinstance(ref, str) else ref
        meta = self.info(ref.name)
        kind = ListType(meta["type"])
        folder = self.root / ref.name
        current = int(meta["version"])
        version = current if ref.version is None else ref.version
        if not 1 <= version <= current:
            raise ListStoreError(f"list {ref.name!r} has versions 1..{current}, not {version}")
        if version == current:
            digests = DigestSet.load(
                folder / f"v{version:04d}.npy", folder / f"v{version:04d}.prefix.npy"
            )
        else:
            digests = DigestSet(self._rebuild(folder, version, WIDTH[kind]))
        index = None
        if kind is ListType.pdq and pdq_index:
            order = folder / f"v{version:04d}.mih-order.npy"
            offsets = folder / f"v{version:04d}.mih-offsets.npy"
            if order.is_file() and offsets.is_file():
                # Verification reads hashes at random: keep them in RAM (32 bytes a hash).
                index = PDQIndex.load(np.array(digests.digests), order, offsets)
            else:
                index = PDQIndex.build(np.array(digests.digests))
        if kind is ListType.url:
            _check_url_norm(meta, folder / "list.json")
        url_key = meta.get("url_key", "rfc3986") if kind is ListType.url else "rfc3986"
        return LoadedList(ref.name, kind, version, digests, index, url_key)

    def _rebuild(self, folder: Path, version: int, width: int) -> np.ndarray:
        arr = np.zeros((0, width), dtype=np.uint8)
        for v in range(1, version + 1):
            add = folder / f"delta-v{v:04d}.add.npy"
            rem = folder / f"delta-v{v:04d}.del.npy"
            if add.is_file():
                arr = sort_unique(np.concatenate([arr, np.load(add)]))
            if rem.is_file():
                arr = difference(arr, np.load(rem))
        return arr

    # writing ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self, name: str):
        """One writer per list: an O_EXCL lock file (stale after an hour)."""
        folder = self.root / self._checked(name)
        folder.mkdir(parents=True, exist_ok=True)
        lock = folder / ".lock"
        deadline = time.monotonic() + _LOCK_WAIT_S
        while True:
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                break
            except FileExistsError:
                with contextlib.suppress(FileNotFoundError):
                    if time.time() - lock.stat().st_mtime > 3600:
                        lock.unlink()
                        continue
                if time.monotonic() > deadline:
                    raise ListStoreError(
                        f"list {name!r} is locked by another writer ({lock})"
                    ) from None
                time.sleep(0.1)
        try:
            yield folder
        finally:
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()

    def add(
        self,
        name: str,
        files: list[str],
        kind: ListType | str,
        *,
        fmt: str = "auto",
        column: str | None = None,
        skip_bad: bool = False,
        description: str | None = None,
    ) -> dict:
        """Import entries from files; creates the list or a new version of it.

        Returns a summary {name, type, version, entries, added, bad, files}. Raises (and writes
        nothing) on malformed entries unless skip_bad."""
        if not _NAME.match(name):
            raise ListStoreError(
                f"bad list name {name!r}: letters, digits, '.', '_', '-' (up to 100 chars)"
            )
        kind = ListType(kind)
        reports: list[ImportReport] = []
        parts = []
        # a new url list keys its entries Safe-Browsing-style; an older one keeps its key, so
        # every version of a list is keyed alike
        url_key = "sb1"
        if kind is ListType.url and (self.root / name / "list.json").is_file():
            url_key = self.info(name).get("url_key", "rfc3986")
        for path in files:
            arr, report = read_list_file(
                path, kind, fmt=fmt, column=column, skip_bad=skip_bad, url_key=url_key
            )
            parts.append(arr)
            reports.append(report)
        new = sort_unique(np.concatenate(parts)) if parts else np.zeros((0, WIDTH[kind]), np.uint8)
        sources = [
            {
                "file": os.path.basename(r.file),
                "sha256": file_sha256(r.file),
                "format": r.format,
                "entries": r.entries,
                "bad": len(r.bad),
                "other_signal_types": r.other_signal_types,
            }
            for r in reports
        ]
        return self._commit(name, kind, new, None, sources, description)

    def add_digests(
        self,
        name: str,
        kind: ListType | str,
        digests: np.ndarray,
        source: str,
        *,
        description: str | None = None,
    ) -> dict:
        """Add entries that are already digests ((n, width) uint8, as `parse_entry` makes):
        for lists built by other tools and for benchmarks. `source` names where they came from."""
        if not _NAME.match(name):
            raise ListStoreError(f"bad list name {name!r}")
        kind = ListType(kind)
        arr = np.ascontiguousarray(digests, dtype=np.uint8)
        if arr.ndim != 2 or arr.shape[1] != WIDTH[kind]:
            raise ListStoreError(f"{kind.value} digests must have shape (n, {WIDTH[kind]})")
        src = {
            "file": source,
            "sha256": hashlib.sha256(arr.tobytes()).hexdigest(),
            "format": "digests",
            "entries": len(arr),
            "bad": 0,
        }
        return self._commit(name, kind, sort_unique(arr), None, [src], description)

    def remove_entries(
        self,
        name: str,
        files: list[str],
        *,
        fmt: str = "auto",
        column: str | None = None,
        skip_bad: bool = False,
    ) -> dict:
        """Retract entries (e.g. a hotline withdrew them): a new version without them."""
        kind = ListType(self.info(name)["type"])
        parts = [
            read_list_file(p, kind, fmt=fmt, column=column, skip_bad=skip_bad)[0] for p in files
        ]
        gone = sort_unique(np.concatenate(parts))
        sources = [
            {"file": os.path.basename(p), "sha256": file_sha256(p), "removed": True} for p in files
        ]
        return self._commit(name, kind, None, gone, sources, None)

    def _commit(
        self,
        name: str,
        kind: ListType,
        add: np.ndarray | None,
        rem: np.ndarray | None,
        sources: list[dict],
        description: str | None,
    ) -> dict:
        with self._lock(name) as folder:
            meta_path = folder / "list.json"
            if meta_path.is_file():
                meta = json.loads(meta_path.read_text())
                if meta["type"] != kind.value:
                    raise ListStoreError(
                        f"list {name!r} holds {meta['type']} entries, not {kind.value}"
                    )
                if kind is ListType.url:  # new entries are hashed with this normaliser
                    _check_url_norm(meta, meta_path)
                version = int(meta["version"])
                current = np.load(folder / f"v{version:04d}.npy")
            else:
                if rem is not None:
                    raise ListStoreError(f"no list named {name!r}")
                meta = {
                    "name": name,
                    "type": kind.value,
                    "description": description or "",
                    "created": _now(),
                    "version": 0,
                    "versions": [],
                }
                if kind is ListType.url:
                    meta["url_key"] = "sb1"
                    meta["url_norm_version"] = URL_NORM_VERSION
                version = 0
                current = np.zeros((0, WIDTH[kind]), dtype=np.uint8)
            if description:
                meta["description"] = description
            meta.pop("retired", None)  # new entries: the list is in use again
            added = removed = np.zeros((0, WIDTH[kind]), dtype=np.uint8)
            if add is not None:
                added = difference(add, current) if len(current) else add
                if not len(current):
                    nxt = added
                elif len(added):
                    nxt = sort_unique(np.concatenate([current, added]))
                else:
                    nxt = current
            else:
                assert rem is not None
                nxt = difference(current, rem)
                removed = difference(current, nxt)
            summary = {
                "name": name,
                "type": kind.value,
                "version": version,
                "entries": len(current),
                "added": len(added),
                "removed": len(removed),
                "bad": sum(int(s.get("bad", 0)) for s in sources),
            }
            if version and not len(added) and not len(removed):
                return summary  # nothing new: no new version
            v = version + 1
            stem = f"v{v:04d}"
            _write_npy(folder / f"delta-{stem}.add.npy", added)
            if len(removed):
                _write_npy(folder / f"delta-{stem}.del.npy", removed)
            _write_npy(folder / f"{stem}.npy", nxt)
            _write_npy(folder / f"{stem}.prefix.npy", prefixes(nxt))
            if kind is ListType.pdq:
                PDQIndex.build(nxt).save(
                    folder / f"{stem}.mih-order.npy", folder / f"{stem}.mih-offsets.npy"
                )
            meta["version"] = v
            meta["updated"] = _now()
            meta["versions"].append(
                {
                    "version": v,
                    "created": meta["updated"],
                    "entries": len(nxt),
                    "added": len(added),
                    "removed": len(removed),
                    "sources": sources,
                }
            )
            write_json_atomic(meta_path, meta)
            # Older snapshots can be rebuilt from the deltas; keep only the current one.
            for old in folder.glob("v*.npy"):
                if not old.name.startswith(stem + "."):
                    with contextlib.suppress(FileNotFoundError):
                        old.unlink()
            summary.update(version=v, entries=len(nxt))
            return summary

    def audits_using(self, name: str) -> list[tuple[str, int]]:
        """(audit folder, version) of every audit that pins list `name` (lists/refs.py)."""
        from childguard.lists.refs import audits_using

        return audits_using(self.root, name)

    def retire(self, name: str) -> None:
        """Keep a list's versions for the audits that pin them, but use it in no new scan
        (`names()` leaves it out; `name@N` still loads). Adding entries revives it."""
        with self._lock(name) as folder:
            meta = self.info(name)
            meta["retired"] = _now()
            write_json_atomic(folder / "list.json", meta)

    def remove(self, name: str) -> None:
        """Delete a list and every version of it."""
        self.info(name)
        folder = self.root / name
        # Rename first so a concurrent reader never sees a half-deleted list.
        trash = self.root / f".deleted-{name}-{os.getpid()}"
        os.replace(folder, trash)
        shutil.rmtree(trash)
