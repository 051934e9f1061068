"""Where a row's picture is: beside its shard, in other image sources, or (with --fetch) online.

Looked up in this order, first hit wins:
1. the img2dataset tar or `files` folder beside the shard (`00000.parquet` + `00000.tar`),
   joined on `key` (`childguard.images.source`);
2. each `--image-source`: an img2dataset output folder (`NNNNN.parquet` + `NNNNN.tar` or
   `NNNNN/`), one such tar, or a plain folder of pictures; matched by `key`, else by URL
   (img2dataset's parquet gives url -> key; a plain folder may name files `<url_sha256>.jpg`,
   the SHA-256 of the normalised URL as in findings);
3. with `--fetch`, the row's URL (`fetch.Fetcher`).
A row found nowhere gets a `MissingImage`: the stage turns it into a row error, never clean.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from fsspec.core import url_to_fs

from childguard.images.source import (
    FolderImageSource,
    ImageSource,
    TarImageSource,
    find_image_source,
)
from childguard.vision.fetch import Fetcher, FetchError

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class MissingImage(LookupError):
    """A row whose picture is in no source (and was not, or could not be, fetched)."""


@dataclass
class _External:
    """One `--image-source`: its image sources and a url_sha256 -> (source, key) index."""

    sources: list[ImageSource]
    by_url: dict[str, tuple[int, str]]


def open_external(path: str) -> _External:
    """Index one image source path (img2dataset output folder, a tar, or a plain folder)."""
    import polars as pl

    from childguard.urls import url_sha256_column

    fs, root = url_to_fs(path)
    if not fs.exists(root):
        raise FileNotFoundError(f"image source not found: {path}")
    if root.endswith(".tar"):
        return _External([TarImageSource(path)], {})
    metas = sorted(p for p in fs.glob(root.rstrip("/") + "/*.parquet"))
    sources: list[ImageSource] = []
    by_url: dict[str, tuple[int, str]] = {}
    for meta in metas:
        prefix = path[: len(path) - len(root)] if "://" in path else ""
        src = find_image_source(prefix + meta)
        if src is None:
            continue
        if not {"url", "key"} <= set(pl.read_parquet_schema(prefix + meta)):
            raise ValueError(f"{meta}: an img2dataset parquet needs url and key columns")
        frame = pl.read_parquet(prefix + meta, columns=["url", "key"]).drop_nulls()
        digests = url_sha256_column(frame["url"]).to_list()
        idx = len(sources)
        sources.append(src)
        for d, k in zip(digests, frame["key"].cast(pl.String).to_list(), strict=True):
            if d is not None:
                by_url.setdefault(d, (idx, k))
    if sources:
        return _External(sources, by_url)
    folder = FolderImageSource(path)  # a plain folder: `<key>.<ext>` or `<url_sha256>.<ext>`
    named = {k.rsplit("/", 1)[-1]: k for k in folder.files}
    return _External([folder], {s: (0, k) for s, k in named.items() if _HEX64.match(s)})


@dataclass
class ImageResolver:
    """Bytes of each row's picture, from the shard's own images, other sources or the web."""

    extra: list[str] = field(default_factory=list)
    fetcher: Fetcher | None = None
    fetch_threads: int = 8
    _beside: dict[str, ImageSource | None] = field(default_factory=dict, repr=False)
    _external: list[_External] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def external(self) -> list[_External]:
        """The indexed `--image-source` paths (indexed on first use, once per worker)."""
        with self._lock:
            if self._external is None:
                self._external = [open_external(p) for p in self.extra]
            return self._external

    def beside(self, shard_path: str | None) -> ImageSource | None:
        """The tar or folder next to a shard (cached for the last few shards)."""
        if shard_path is None:
            return None
        if shard_path not in self._beside:
            if len(self._beside) > 8:  # a worker moves on through shards: keep a few
                self._beside.clear()
            self._beside[shard_path] = find_image_source(shard_path)
        return self._beside[shard_path]

    def blobs(
        self, shard_path: str | None, keys: list[str | None], urls: list[str | None]
    ) -> list[bytes | BaseException]:
        """Per row, its picture's bytes or the exception saying why there is none."""
        from childguard.urls import url_sha256

        n = len(keys)
        out: list[bytes | BaseException | None] = [None] * n
        own = self.beside(shard_path)
        if own is not None:
            self._read_keys(own, keys, range(n), out)
        for ext in self.external:
            todo = [i for i in range(n) if out[i] is None]
            if not todo:
                break
            for src in ext.sources:
                self._read_keys(src, keys, todo, out)
            by_source: dict[int, list[tuple[int, str]]] = {}
            for i in todo:
                if out[i] is None and urls[i]:
                    hit = ext.by_url.get(url_sha256(urls[i]) or "")
                    if hit is not None:
                        by_source.setdefault(hit[0], []).append((i, hit[1]))
            for s, pairs in by_source.items():
                try:
                    got = ext.sources[s].read([k for _, k in pairs])
                except Exception as e:  # an unreadable tar fails these rows, not the scan
                    for i, _ in pairs:
                        out[i] = MissingImage(f"image source unreadable ({type(e).__name__})")
                    continue
                for i, k in pairs:
                    if k in got:
                        out[i] = got[k]
        todo = [i for i in range(n) if out[i] is None]
        if todo and self.fetcher is not None:
            with ThreadPoolExecutor(self.fetch_threads) as pool:
                fetched = list(pool.map(lambda i: self._fetch(urls[i]), todo))
            for i, r in zip(todo, fetched, strict=True):
                out[i] = r
        hint = "" if self.fetcher is not None else "; --fetch not given"
        return [
            r if r is not None else MissingImage(f"no image for this row in the sources{hint}")
            for r in out
        ]

    def _fetch(self, url: str | None) -> bytes | BaseException:
        if not url:
            return MissingImage("no image and no URL to fetch it from")
        assert self.fetcher is not None
        try:
            return self.fetcher.fetch(url)
        except FetchError as e:
            return FetchError(f"fetch failed: {e}")

    @staticmethod
    def _read_keys(src: ImageSource, keys, rows, out) -> None:
        want = [i for i in rows if out[i] is None and keys[i] is not None]
        if not want:
            return
        try:
            got = src.read([str(keys[i]) for i in want])
        except Exception as e:  # an unreadable tar fails these rows, not the scan
            for i in want:
                out[i] = MissingImage(f"image source unreadable ({type(e).__name__})")
            return
        for i in want:
            blob = got.get(str(keys[i]))
            if blob is not None:
                out[i] = blob


__all__ = ["ImageResolver", "MissingImage", "open_external"]
