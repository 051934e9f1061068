"""Word tables built once per machine and kept in the user cache folder.

The names detector's table (~68k words with their class bits, hashed and sorted) costs
~0.2 s to build, in every worker process of every scan. Built once, it is stored as an Arrow
file under `$CHILDGUARD_CACHE` (default: the platform's user cache folder) and read back
by later processes (~5 ms). `cached_frame` keeps other derived tables the same way (the
scorer's word look-up, ~0.1 s to build). The file name carries a digest of everything the table derives from:
every file of `childguard.detect` (code, lexicons, name and place lists), the package and
Polars versions (Polars' string hash places the words). A file that is missing, unreadable
or malformed is rebuilt; a cache folder that cannot be written is skipped (the table is
built in memory, as before). Same table either way (`tests/detect/test_table_cache.py`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from childguard.detect._word_table import WordTable

if TYPE_CHECKING:
    import polars as pl

FORMAT = "1"  # bump when the file's layout changes


def cache_dir() -> Path:
    """Where built tables are kept: $CHILDGUARD_CACHE, else the user cache folder."""
    env = os.environ.get("CHILDGUARD_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("childguard"))


@lru_cache(maxsize=1)
def source_digest() -> str:
    """SHA-256 over every file of the detect package (relative path and bytes), the package
    version and the Polars version."""
    import polars as pl

    from childguard import __version__

    root = Path(__file__).resolve().parent
    h = hashlib.sha256(f"{FORMAT}\0{__version__}\0{pl.__version__}\0".encode())
    for path in sorted(root.rglob("*")):
        if "__pycache__" in path.parts or not path.is_file():
            continue
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def table_path(name: str, sources: tuple[Path, ...] = ()) -> Path:
    """The cache file of table `name` for this code and data (and the files `sources`)."""
    digest = source_digest()
    if sources:
        h = hashlib.sha256(digest.encode())
        for path in sources:
            h.update(b"\0" + path.read_bytes())
        digest = h.hexdigest()
    return cache_dir() / "tables" / f"{name}-{digest[:24]}.arrow"


def cached_word_table(name: str, classes: Callable[[], dict[str, int]]) -> WordTable:
    """The `WordTable` of `classes()`, read from the cache when built before, else built
    (and stored for the next process)."""
    path = table_path(name)
    # read whole (~1 MB): no memory mapping stays open
    broken = (OSError, ValueError, pa.ArrowException)
    with contextlib.suppress(*broken), pa.OSFile(str(path), "rb") as source:
        return WordTable.from_arrow(pa.ipc.open_file(source).read_all())
    table = WordTable(classes())
    _store(path, table)
    return table


def cached_frame(
    name: str, build: Callable[[], pl.DataFrame], sources: tuple[Path, ...] = ()
) -> pl.DataFrame:
    """The frame `build()` returns, read from the cache when built before, else built (and
    stored); `sources` are the files outside `childguard.detect` that `build` derives from."""
    import polars as pl

    path = table_path(name, sources)
    broken = (OSError, ValueError, pa.ArrowException)
    with contextlib.suppress(*broken), pa.OSFile(str(path), "rb") as source:
        data = pa.ipc.open_file(source).read_all()
        if data.schema.metadata and data.schema.metadata.get(b"childguard") == b"frame":
            return pl.from_arrow(data, rechunk=True)  # type: ignore[return-value]
    frame = build()
    table = frame.to_arrow()
    _store(path, table.replace_schema_metadata({"childguard": "frame"}))
    return frame


def _store(path: Path, table: WordTable | pa.Table) -> None:
    """Write the table atomically; a folder that cannot be written is no error."""
    from childguard.io.atomic import atomic_write

    data = table if isinstance(table, pa.Table) else table.to_arrow()
    with (
        contextlib.suppress(OSError),
        atomic_write(path) as tmp,
        pa.ipc.new_file(str(tmp), data.schema) as writer,
    ):
        writer.write_table(data)
