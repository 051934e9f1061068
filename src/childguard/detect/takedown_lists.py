"""Detector `takedown_lists`: match every row against the takedown lists in the store.

- URL lists (`url`, `url_sha256`): SHA-256 of the row's normalised URL (childguard.urls).
- `laion_hash` lists: the row's `laion_hash` column, computed where absent or null.
- File-hash (`md5`, `sha1`, `sha256`) and `pdq` lists: the image bytes of rows whose shard has
  a tar or folder of images beside it (joined on `key`); PDQ matches within `max_distance`
  (default 31), hashes below `min_quality` (default 50) are not matched and are reported.

Score 1.0 on a match; the evidence names list, version and type (`list:csam-urls@v3 type:url`)
and never the matched entry. Rows whose image could not be checked are not passed over in
silence: `__label` says `image_error` or `pdq_low_quality` (score 0, evidence says why) and
`counters` counts them (the policy decides what such rows become). With no lists the detector
returns zeros without reading anything.
"""

from __future__ import annotations

from collections import Counter
from os import PathLike, fspath
from typing import ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator

from childguard.detect.base import (
    LABELLED_OUTPUTS,
    Detector,
    DetectorOptions,
    Example,
    Resources,
    register,
)
from childguard.detect.context import BatchContext
from childguard.lists.store import ListRef, ListStore, LoadedList
from childguard.lists.types import FILE_HASH_TYPES, URL_TYPES, ListType, int64_digests

_IMAGE_CHUNK = 512  # images read and hashed at a time, to bound memory on big batches


@register
class TakedownLists(Detector):
    """Detector `takedown_lists`: match URLs, LAION hashes and images against takedown lists."""
    name: ClassVar[str] = "takedown_lists"
    version: ClassVar[str] = "1"
    resources: ClassVar[Resources] = Resources(num_cpus=1.0, memory_mb=512, stateful=True)
    outputs: ClassVar[dict[str, pa.DataType]] = {**LABELLED_OUTPUTS, "error": pa.string()}

    class Options(DetectorOptions):
        """Which lists (`name` or `name@version`; None: every list in the store) and PDQ limits."""

        lists: list[str] | None = None
        home: str | None = None  # the list store's folder (None: the default home)
        max_distance: int = Field(31, ge=0, le=256)
        min_quality: int = Field(50, ge=0, le=100)

        @field_validator("lists", mode="before")
        @classmethod
        def _split(cls, v: object) -> object:
            # `--lists a,b` and `lists = "a,b"` in a config file
            return [s for s in v.split(",") if s.strip()] if isinstance(v, str) else v

        @field_validator("home", mode="before")
        @classmethod
        def _path(cls, v: object) -> object:
            return fspath(v) if isinstance(v, PathLike) else v

    opts: Options

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        self.store = ListStore(self.opts.home or None)
        self.max_distance = self.opts.max_distance
        self.min_quality = self.opts.min_quality
        names = self.opts.lists if self.opts.lists is not None else self.store.names()
        # Pin versions now, so every worker of one scan matches the same versions that
        # describe() records, even if a list grows while the scan runs.
        self.refs: list[ListRef] = []
        self.list_info: list[dict[str, object]] = []
        for text in names:
            ref = ListRef.parse(str(text))
            meta = self.store.info(ref.name)
            version = ref.version or int(meta["version"])
            entries = next(
                (v["entries"] for v in meta["versions"] if v["version"] == version), None
            )
            if entries is None:
                raise ValueError(f"list {ref.name!r} has no version {version}")
            self.refs.append(ListRef(ref.name, version))
            info = {"name": ref.name, "type": meta["type"], "version": version, "entries": entries}
            if meta["type"] == "url":  # how its entries are keyed (lists/types.py URL_KEYS)
                info["url_key"] = meta.get("url_key", "rfc3986")
            self.list_info.append(info)
        self.lists: list[LoadedList] = []
        self.counters: Counter[str] = Counter()
        self._sources: dict[str, object] = {}

    def describe(self) -> dict[str, object]:
        """The base description plus pinned list versions, store home and PDQ options."""
        d = super().describe()
        d["options"] = {
            **dict(self.options),
            "lists": [f"{r.name}@{r.version}" for r in self.refs],
            "home": str(self.store.home),
            "max_distance": self.max_distance,
            "min_quality": self.min_quality,
        }
        d["lists"] = self.list_info
        return d

    def setup(self) -> None:
        """Load the pinned versions of the chosen lists from the store."""
        self.lists = [self.store.load(r) for r in self.refs]

    # scoring ------------------------------------------------------------------------------------
    def score(self, batch: pa.Table, ctx: BatchContext) -> pa.Table:
        """1.0 on a list match; label and error columns for images that could not be checked."""
        n = batch.num_rows
        if not self.lists or n == 0:
            return self.empty_result(n)
        # Only matching rows get per-row Python (their evidence); everything else is vectorised.
        hits: dict[int, list[str]] = {}
        kinds: dict[int, list[str]] = {}
        problems: dict[int, tuple[str, str]] = {}

        def mark(mask: np.ndarray, lst: LoadedList, extra: list[str] | None = None) -> None:
            for j, i in enumerate(np.flatnonzero(mask).tolist()):
                ev = f"list:{lst.label} type:{lst.type.value}"
                if extra is not None:
                    ev += " " + extra[j]
                hits.setdefault(i, []).append(ev)
                kinds.setdefault(i, []).append(lst.type.value)

        url_lists = [x for x in self.lists if x.type in URL_TYPES]
        if url_lists:
            from childguard.urls import list_key_digests, url_sha256_digests

            # each key computed once per batch, only if a list uses it: `sb1` lists match the
            # Safe-Browsing key (evasions included), older url and url_sha256 lists the identity
            keyed = {"sb1": list_key_digests, "rfc3986": url_sha256_digests}
            cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
            for lst in url_lists:
                if lst.url_key not in cache:
                    cache[lst.url_key] = keyed[lst.url_key](batch.column("url"))
                digests, valid = cache[lst.url_key]
                mark(lst.digests.contains(digests) & valid, lst)

        laion_lists = [x for x in self.lists if x.type is ListType.laion_hash]
        if laion_lists:
            lh = _laion_hashes(batch)
            digests = int64_digests(lh)
            for lst in laion_lists:
                mark(lst.digests.contains(digests), lst)

        image_lists = [x for x in self.lists if x.type in FILE_HASH_TYPES | {ListType.pdq}]
        if image_lists:
            self._score_images(batch, image_lists, mark, problems)

        scores = np.zeros(n, dtype=np.float64)
        rows_out: dict[int, tuple[str, str]] = dict(problems)
        for i, evs in hits.items():  # a match wins over a problem with another list
            scores[i] = 1.0
            rows_out[i] = ("+".join(dict.fromkeys(kinds[i])), "; ".join(evs))
        self.counters["rows_matched"] += len(hits)
        self.counters["rows"] += n
        # Strings only for the few rows with something to say: gather them by index.
        pick = np.zeros(n, dtype=np.int32)
        order = sorted(rows_out)
        pick[order] = np.arange(1, len(order) + 1, dtype=np.int32)
        labels = pa.array([None] + [rows_out[i][0] for i in order], pa.string())
        evidence = pa.array([None] + [rows_out[i][1] for i in order], pa.string())
        # a row whose image could not be checked is not clean: the engine lists it in errors/
        err_pick = np.zeros(n, dtype=np.int32)
        err_rows = sorted(i for i in problems if i not in hits)
        err_pick[err_rows] = np.arange(1, len(err_rows) + 1, dtype=np.int32)
        err_text = pa.array(
            [None] + [f"{problems[i][0]}: {problems[i][1]}" for i in err_rows], pa.string()
        )
        return pa.table(
            {
                self.col("score"): pa.array(scores, pa.float64()),
                self.col("evidence"): evidence.take(pick),
                self.col("label"): labels.take(pick),
                self.col("error"): err_text.take(err_pick),
            }
        )

    def _score_images(self, batch: pa.Table, image_lists: list[LoadedList], mark, problems) -> None:
        from childguard.images.hashing import ImageError, file_hashes, pdq_hash
        from childguard.images.source import find_image_source

        meta = batch.schema.metadata or {}
        shard = meta.get(b"childguard.shard_path")
        if shard is None or "key" not in batch.column_names:
            self.counters["rows_without_images"] += batch.num_rows
            return
        shard_path = shard.decode()
        if shard_path not in self._sources:
            if len(self._sources) > 8:  # a worker moves on through shards: keep a few
                self._sources.clear()
            self._sources[shard_path] = find_image_source(shard_path)
        source = self._sources[shard_path]
        if source is None:
            self.counters["rows_without_images"] += batch.num_rows
            return
        keys = batch.column("key").to_pylist()
        want_pdq = any(x.type is ListType.pdq for x in image_lists)
        want_files = any(x.type in FILE_HASH_TYPES for x in image_lists)
        rows = [i for i, k in enumerate(keys) if k is not None]
        self.counters["rows_without_images"] += batch.num_rows - len(rows)
        for start in range(0, len(rows), _IMAGE_CHUNK):
            chunk = rows[start : start + _IMAGE_CHUNK]
            try:
                data = source.read([str(keys[i]) for i in chunk])  # type: ignore[attr-defined]
            except Exception as e:  # an unreadable tar fails these rows, not the scan
                for i in chunk:
                    problems[i] = ("image_error", f"image source unreadable: {type(e).__name__}")
                self.counters["image_errors"] += len(chunk)
                continue
            got = [i for i in chunk if str(keys[i]) in data]
            self.counters["image_missing"] += len(chunk) - len(got)
            fh: dict[str, list[bytes]] = {"md5": [], "sha1": [], "sha256": []}
            pdq_rows: list[int] = []
            pdq_vals: list[bytes] = []
            for i in got:
                blob = data[str(keys[i])]
                self.counters["images_checked"] += 1
                if want_files:
                    for name, digest in file_hashes(blob).items():
                        fh[name].append(digest)
                if want_pdq:
                    try:
                        h, quality = pdq_hash(blob)
                    except ImageError as e:
                        problems[i] = ("image_error", f"image undecodable ({e})")
                        self.counters["image_errors"] += 1
                        continue
                    if quality < self.min_quality:
                        problems[i] = (
                            "pdq_low_quality",
                            f"pdq quality {quality} < {self.min_quality}",
                        )
                        self.counters["pdq_low_quality"] += 1
                        continue
                    pdq_rows.append(i)
                    pdq_vals.append(h)
            for lst in image_lists:
                if lst.type in FILE_HASH_TYPES and got:
                    q = np.frombuffer(b"".join(fh[lst.type.value]), np.uint8).reshape(len(got), -1)
                    m = lst.digests.contains(q)
                    full = np.zeros(batch.num_rows, dtype=bool)
                    full[np.array(got)[m]] = True
                    mark(full, lst)
                elif lst.type is ListType.pdq and pdq_rows:
                    assert lst.pdq is not None
                    q = np.frombuffer(b"".join(pdq_vals), np.uint8).reshape(-1, 32)
                    qi, _, dist = lst.pdq.search(q, self.max_distance)
                    best: dict[int, int] = {}
                    for a, d in zip(qi.tolist(), dist.tolist(), strict=True):
                        best[a] = min(d, best.get(a, 256))
                    full = np.zeros(batch.num_rows, dtype=bool)
                    rows_hit = sorted(pdq_rows[a] for a in best)
                    full[rows_hit] = True
                    by_row = {pdq_rows[a]: d for a, d in best.items()}
                    mark(full, lst, [f"distance:{by_row[r]}" for r in rows_hit])

    @staticmethod
    def examples() -> list[Example]:
        """Contract row: with an empty store nothing fires."""
        # Matches depend on the lists in the store; with an empty store nothing fires.
        return [Example(text="a photo", url="https://example.org/a.jpg", fires=False)]


def _laion_hashes(batch: pa.Table) -> np.ndarray:
    """The batch's `laion_hash` column, computed (mmh3 of URL+TEXT) where absent or null."""
    import polars as pl

    from childguard.urls import laion_hash_column

    if "laion_hash" in batch.column_names:
        col = pl.Series(batch.column("laion_hash")).cast(pl.Int64)
        if col.null_count() == 0:
            return col.to_numpy()
        nulls = col.is_null()
        idx = nulls.arg_true()
        sub = batch.take(pa.array(idx.to_numpy()))
        computed = laion_hash_column(pl.Series(sub.column("url")), pl.Series(sub.column("text")))
        return col.scatter(idx, computed).to_numpy()
    return laion_hash_column(
        pl.Series(batch.column("url")), pl.Series(batch.column("text"))
    ).to_numpy()
