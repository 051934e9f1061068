"""LAION-layout CLIP image embeddings: find a shard's `img_emb_NNNN.npy`, memory-map it, check it.

LAION-5B (and clip-retrieval's output) ship one embedding file per metadata shard, row for row:
`metadata/metadata_0003.parquet` <-> `img_emb/img_emb_0003.npy` (float16, one 768-d vector per
row for ViT-L/14). The file is memory-mapped (`numpy.load(mmap_mode="r")`), so a scan reads
only the rows of the batch in hand; its length must equal the shard's row count, else every
row after the first gap would be scored with another picture's vector.
"""

from __future__ import annotations

import mmap
import re
from pathlib import Path

import numpy as np

from childguard.images.source import _stem
from childguard.io.readers import ShardError

EMB_DIR = "img_emb"
_FILE = re.compile(r"^img_emb_(\d+)\.npy$")
_TRAILING_NUMBER = re.compile(r"(\d+)$")


class EmbeddingError(ShardError):
    """An embedding file that cannot be used for its shard (length, shape, dtype, unreadable)."""


def shard_number(shard_path: str) -> int | None:
    """The number a shard's name ends with (`metadata_0003.parquet` -> 3), or None."""
    m = _TRAILING_NUMBER.search(Path(_stem(shard_path.removeprefix("file://"))).name)
    return int(m.group(1)) if m else None


def embedding_dirs(shard_path: str, explicit: str | None = None) -> list[Path]:
    """Folders that may hold a local shard's `img_emb_NNNN.npy`, in the order they are tried:
    `explicit` (or its `img_emb/`), else `img_emb/` beside the shard or beside its folder."""
    if explicit is not None:
        root = Path(explicit)
        return [root / EMB_DIR, root] if (root / EMB_DIR).is_dir() else [root]
    if "://" in shard_path and not shard_path.startswith("file://"):
        return []  # memory-mapping needs a local file
    here = Path(shard_path.removeprefix("file://")).parent
    return [here / EMB_DIR, here.parent / EMB_DIR]


class EmbeddingIndex:
    """The `img_emb_NNNN.npy` files of one folder, by shard number (listed once)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: dict[int, Path] = {}
        if folder.is_dir():
            for p in sorted(folder.iterdir()):
                m = _FILE.match(p.name)
                if m:
                    self.files.setdefault(int(m.group(1)), p)

    def get(self, number: int) -> Path | None:
        """The embedding file of shard `number`, or None."""
        return self.files.get(number)


def find_embeddings(
    shard_path: str, explicit: str | None = None, cache: dict[Path, EmbeddingIndex] | None = None
) -> Path | None:
    """The embedding file row-aligned with a shard, or None when there is none."""
    number = shard_number(shard_path)
    if number is None:
        return None
    cache = {} if cache is None else cache
    for folder in embedding_dirs(shard_path, explicit):
        if folder not in cache:
            cache[folder] = EmbeddingIndex(folder)
        found = cache[folder].get(number)
        if found is not None:
            return found
    return None


class ShardEmbeddings:
    """One shard's embeddings, memory-mapped and checked against the shard's row count."""

    def __init__(
        self, path: Path, shard_path: str, shard_rows: int | None, dim: int | None
    ) -> None:
        self.path = path
        self.shard_path = shard_path
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as e:
            raise EmbeddingError(str(path), f"cannot read embeddings: {e}") from None
        if arr.ndim != 2 or arr.dtype not in (np.float16, np.float32):
            raise EmbeddingError(
                str(path),
                f"expected a 2-D float16/float32 array (rows x {dim or 'd'}), got {arr.dtype} "
                f"with shape {arr.shape}",
            )
        if dim is not None and arr.shape[1] != dim:  # None: any width (the probe trainer)
            raise EmbeddingError(
                str(path),
                f"embeddings are {arr.shape[1]}-d, but the CLIP prompt/probe file is {dim}-d: "
                "they come from different models",
            )
        self.array = arr
        if shard_rows is not None and arr.shape[0] != shard_rows:
            raise self.mismatch(shard_rows)

    @property
    def rows(self) -> int:
        """Rows (vectors) in the file."""
        return int(self.array.shape[0])

    def mismatch(self, shard_rows: int, at_least: bool = False) -> EmbeddingError:
        """The error for an embedding file whose length differs from its shard's."""
        has = "at least " if at_least else ""
        return EmbeddingError(
            str(self.path),
            f"has {self.rows:,} rows but its metadata shard {self.shard_path} has {has}{shard_rows:,}: "
            "embeddings must be row-aligned with their shard (same rows, same order)",
        )

    def block(self, row_index: np.ndarray) -> np.ndarray:
        """The vectors of these shard rows in the file's dtype: a view of the mapped file when
        the rows are contiguous (a scan's batches are), so nothing is copied or converted
        here; the scorer converts them to float32 a chunk at a time."""
        if row_index.size == 0:
            return np.zeros((0, self.array.shape[1]), self.array.dtype)
        lo, hi = int(row_index[0]), int(row_index[-1])
        top = int(row_index.max())
        if top >= self.rows:
            raise self.mismatch(top + 1, at_least=True)
        if hi - lo + 1 == row_index.size and hi >= lo:
            return self.array[lo : hi + 1]
        return np.asarray(self.array[row_index])

    def release(self, row_index: np.ndarray) -> None:
        """Done with these rows (contiguous, as `block` gave them): unmap their pages."""
        if row_index.size:
            lo, hi = int(row_index[0]), int(row_index[-1])
            if hi - lo + 1 == row_index.size and hi >= lo:
                self._release(lo, hi + 1)

    def _release(self, lo: int, hi: int) -> None:
        """Unmap the pages of rows [lo, hi) once read: a scan walks a shard's file once, and
        mapped pages would otherwise add up in the worker's RSS (1.5 KB a row) until the file
        is closed. The bytes stay in the OS page cache; a re-read maps them again."""
        mm = getattr(self.array, "_mmap", None)
        if mm is None or not hasattr(mmap, "MADV_DONTNEED"):
            return
        row = self.array.strides[0]
        base = int(self.array.offset) % mmap.ALLOCATIONGRANULARITY  # where row 0 is in `mm`
        start = (base + lo * row) // mmap.PAGESIZE * mmap.PAGESIZE
        end = (base + hi * row) // mmap.PAGESIZE * mmap.PAGESIZE  # the last partial page stays
        if end > start:
            mm.madvise(mmap.MADV_DONTNEED, start, end - start)
