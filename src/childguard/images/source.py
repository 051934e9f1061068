"""Where a shard's image bytes are: a tar or a folder beside the metadata, joined on `key`.

img2dataset writes `00000.parquet` with `00000.tar` (webdataset output) or a folder `00000/`
(files output) beside it; both hold `<key>.jpg|png|webp` with `<key>.json` (`url`, ...) and
`<key>.txt` sidecars.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import fsspec
from fsspec.core import url_to_fs

from childguard.images.tar import TarIndex

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp", "gif", "bmp")
_META_SUFFIXES = (".parquet", ".pq", ".csv", ".tsv", ".jsonl", ".ndjson", ".json")
_COMPRESSIONS = (".gz", ".gzip", ".zst", ".zstd", ".bz2")


class ImageSource(ABC):
    """Image bytes of one shard's samples by key (a tar or a folder beside it)."""
    path: str

    @abstractmethod
    def keys(self) -> set[str]:
        """Keys of the samples that have an image."""

    @abstractmethod
    def read(self, keys: list[str]) -> dict[str, bytes]:
        """Image bytes for the keys that have an image (others are absent from the result)."""


class TarImageSource(ImageSource):
    """Images in an img2dataset webdataset tar, read by key through its header index."""
    def __init__(self, path: str) -> None:
        self.path = path
        self._index: TarIndex | None = None

    @property
    def index(self) -> TarIndex:
        """The tar's member index (headers read on first use)."""
        if self._index is None:
            self._index = TarIndex(self.path)
        return self._index

    def keys(self) -> set[str]:
        """Keys of the tar's samples that have an image member."""
        return {k for k, m in self.index.members.items() if any(e in m for e in IMAGE_EXTS)}

    def read(self, keys: list[str]) -> dict[str, bytes]:
        """Image bytes for the keys that have an image (others are absent from the result)."""
        wanted = []
        for k in keys:
            exts = self.index.members.get(k, {})
            ext = next((e for e in IMAGE_EXTS if e in exts), None)
            if ext is not None:
                wanted.append((k, ext))
        return {k: data for (k, _), data in self.index.read_many(wanted).items()}


class FolderImageSource(ImageSource):
    """Images in an img2dataset `files` folder (local or fsspec), read by key."""
    def __init__(self, path: str) -> None:
        self.path = path.rstrip("/")
        self.fs, self.root = url_to_fs(self.path)
        self._files: dict[str, str] | None = None

    @property
    def files(self) -> dict[str, str]:
        """Sample key -> path of its image file (the folder listed on first use)."""
        if self._files is None:
            files: dict[str, str] = {}
            for full in sorted(self.fs.find(self.root)):
                rel = full[len(self.root) :].lstrip("/")
                slash = rel.rfind("/")
                dot = rel.find(".", slash + 1)
                if dot > 0 and rel[dot + 1 :].lower() in IMAGE_EXTS:
                    files.setdefault(rel[:dot], full)
            self._files = files
        return self._files

    def keys(self) -> set[str]:
        """Keys of the folder's samples that have an image file."""
        return set(self.files)

    def read(self, keys: list[str]) -> dict[str, bytes]:
        """Image bytes for the keys that have an image (others are absent from the result)."""
        out = {}
        for k in keys:
            full = self.files.get(k)
            if full is not None:
                with self.fs.open(full, "rb") as f:
                    out[k] = f.read()
        return out


def _stem(path: str) -> str:
    p = path
    for suffix in _COMPRESSIONS:
        if p.lower().endswith(suffix):
            p = p[: -len(suffix)]
            break
    for suffix in _META_SUFFIXES:
        if p.lower().endswith(suffix):
            return p[: -len(suffix)]
    return p


def find_image_source(shard_path: str) -> ImageSource | None:
    """The tar or folder of images beside a metadata shard, or None when there is none."""
    stem = _stem(shard_path)
    if stem == shard_path:
        return None
    fs, _ = url_to_fs(shard_path)
    tar = stem + ".tar"
    if fs.exists(url_to_fs(tar)[1]):
        return TarImageSource(tar)
    folder = url_to_fs(stem)[1]
    if fs.isdir(folder):
        return FolderImageSource(stem)
    return None


__all__ = [
    "IMAGE_EXTS",
    "FolderImageSource",
    "ImageSource",
    "TarImageSource",
    "find_image_source",
    "fsspec",
]
