"""Detector `images`: faces, apparent age, unsafe score and PDQ of each row's picture.

Runs only when asked for (`scan --images`, or naming it in a policy's detectors): it reads
pictures, which the caption detectors never do. Output columns, one row per input row:
- `images__score`: P(a minor is shown) = max over aged faces of P(apparent age < 18); 0 when
  no face was found (the policy's `images` signal);
- `images__unsafe`: open_nsfw P(unsafe) of the picture (`images.unsafe` in a rule);
- `images__faces`, `images__age` (youngest aged face's expected apparent age),
  `images__age_confidence`, `images__pdq` (hex), `images__pdq_quality`, `images__models`;
- `images__label`: `apparent_minor`, `apparent_minor+unsafe` or `faces`; `images__evidence`
  numbers only (`faces:2 youngest_age:9 age_conf:0.31 minor:0.93 unsafe:0.02`);
- `images__picture`: true where the picture was checked;
- `images__error`: why a row's picture was not checked (missing, fetch refused or failed,
  undecodable); the engine lists these rows in `errors/`, never as clean.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field

from childguard.detect.base import (
    LABELLED_OUTPUTS,
    Detector,
    DetectorError,
    DetectorOptions,
    Example,
    Resources,
    register,
)
from childguard.detect.context import BatchContext
from childguard.vision import REQUIRES

# label thresholds (what the evidence calls a minor / unsafe); the policy sets its own
LABEL_MINOR = 0.5
LABEL_UNSAFE = 0.8
_ROWS_PER_READ = 1024  # pictures held in memory at a time (~30-100 MB of encoded bytes)


@register
class ImagesDetector(Detector):
    """Detector `images`: picture-level minor and unsafe-content scores (the vision extra)."""

    name: ClassVar[str] = "images"
    version: ClassVar[str] = "1"
    requires: ClassVar[tuple[str, ...]] = REQUIRES
    resources: ClassVar[Resources] = Resources(num_cpus=1.0, memory_mb=2048, stateful=True)
    outputs: ClassVar[dict[str, pa.DataType]] = {
        **LABELLED_OUTPUTS,
        "error": pa.string(),
        "picture": pa.bool_(),
        "unsafe": pa.float64(),
        "faces": pa.int32(),
        "age": pa.float64(),
        "age_confidence": pa.float64(),
        "pdq": pa.string(),
        "pdq_quality": pa.int32(),
        "models": pa.string(),
    }

    class Options(DetectorOptions):
        """Where pictures are, whether to fetch them, and how the models run."""

        sources: list[str] | str | None = None
        fetch: bool = False
        batch_size: int = Field(64, ge=1)
        device: str = "auto"
        num_gpus: float = Field(0.0, ge=0)
        threads: int | None = None
        fetch_interval_s: float = Field(1.0, ge=0)

    def __init__(self, **options: object) -> None:
        try:
            super().__init__(**options)
        except DetectorError as e:  # name the extra and the command that installs it
            from childguard.install import install_hint

            raise DetectorError(f"{e}: {install_hint('vision')}") from None
        src = options.get("sources") or []
        self.sources = [str(s) for s in ([src] if isinstance(src, str) else src)]  # type: ignore[union-attr]
        self.fetch = bool(options.get("fetch", False))
        self.batch_size = int(options.get("batch_size", 64))  # type: ignore[arg-type]
        self.device = str(options.get("device", "auto"))
        gpus = float(options.get("num_gpus", 0.0))  # type: ignore[arg-type]
        # worker threads for decoding and preprocessing: one on CPU (the engine already runs a
        # process per core), a few on a GPU actor (to keep the device fed)
        default_threads = min(4, os.cpu_count() or 1) if gpus > 0 else 1
        self.threads = int(options.get("threads") or default_threads)  # type: ignore[arg-type]
        # per instance: the Ray engine places a detector with num_gpus on GPU actors
        self.resources = Resources(
            num_cpus=max(1.0, float(self.threads or 1)),
            num_gpus=gpus,
            memory_mb=2048,
            stateful=True,
        )
        self.fetch_interval = float(options.get("fetch_interval_s", 1.0))  # type: ignore[arg-type]
        self.counters: Counter[str] = Counter()
        self._stage = None
        self._resolver = None

    def describe(self) -> dict[str, object]:
        """The base description plus the models (and their package releases) it runs."""
        from childguard.vision.stage import model_versions

        d = super().describe()
        d["options"] = {
            **dict(self.options),
            "sources": self.sources,
            "fetch": self.fetch,
            "batch_size": self.batch_size,
        }
        d["models"] = model_versions()
        return d

    def setup(self) -> None:
        """Load the models (once per worker) and the image lookup."""
        from childguard.vision.fetch import FetchConfig, Fetcher
        from childguard.vision.sources import ImageResolver
        from childguard.vision.stage import ImageStage, StageConfig

        self._stage = ImageStage(
            StageConfig(batch_size=self.batch_size, threads=self.threads, device=self.device)
        )
        fetcher = (
            Fetcher(FetchConfig(per_host_interval_s=self.fetch_interval)) if self.fetch else None
        )
        self._resolver = ImageResolver(self.sources, fetcher)

    def score(self, batch: pa.Table, ctx: BatchContext) -> pa.Table:
        """Look up, decode and check every row's picture; one output row per input row."""
        assert self._stage is not None and self._resolver is not None
        n = batch.num_rows
        meta = batch.schema.metadata or {}
        shard = meta.get(b"childguard.shard_path")
        keys = batch.column("key").to_pylist() if "key" in batch.column_names else [None] * n
        urls = batch.column("url").to_pylist()
        results = []
        # a scan batch is up to 65,536 rows: read and check their pictures a chunk at a time,
        # so memory holds one chunk's bytes, not the batch's
        for start in range(0, n, _ROWS_PER_READ):
            stop = min(n, start + _ROWS_PER_READ)
            blobs = self._resolver.blobs(
                shard.decode() if shard else None, keys[start:stop], urls[start:stop]
            )
            results += self._stage.run(blobs)
        return self._columns(results)

    def _columns(self, results) -> pa.Table:
        n = len(results)
        p = np.array([r.p_minor or 0.0 for r in results], np.float64)
        unsafe = pa.array([r.unsafe for r in results], pa.float64())
        labels: list[str | None] = []
        evidence: list[str | None] = []
        for r in results:
            if r.error is not None:
                self.counters["image_errors"] += 1
                labels.append(None)
                evidence.append(None)
                continue
            self.counters["images_checked"] += 1
            if not r.p_minor:  # evidence exactly where the score is > 0 (detector contract)
                labels.append(None)
                evidence.append(None)
                continue
            minor = (r.p_minor or 0.0) >= LABEL_MINOR
            lab = "apparent_minor" if minor else "faces"
            if minor and (r.unsafe or 0.0) >= LABEL_UNSAFE:
                lab += "+unsafe"
            labels.append(lab)
            age = (
                f" youngest_age:{r.age:.0f} age_conf:{r.age_confidence:.2f}" if r.aged_faces else ""
            )
            evidence.append(
                f"faces:{r.faces}{age} minor:{r.p_minor or 0.0:.2f} unsafe:{r.unsafe:.2f}"
            )
        self.counters["rows"] += n
        return pa.table(
            {
                self.col("score"): pa.array(p, pa.float64()),
                self.col("evidence"): pa.array(evidence, pa.string()),
                self.col("label"): pa.array(labels, pa.string()),
                self.col("error"): pa.array([r.error for r in results], pa.string()),
                # the picture-level check convention (`{name}__picture`): true where the
                # picture was looked at, so reports can count the rows that had none
                self.col("picture"): pa.array([r.error is None for r in results], pa.bool_()),
                self.col("unsafe"): unsafe,
                self.col("faces"): pa.array([r.faces for r in results], pa.int32()),
                self.col("age"): pa.array([r.age for r in results], pa.float64()),
                self.col("age_confidence"): pa.array(
                    [r.age_confidence for r in results], pa.float64()
                ),
                self.col("pdq"): pa.array([r.pdq for r in results], pa.string()),
                self.col("pdq_quality"): pa.array([r.pdq_quality for r in results], pa.int32()),
                self.col("models"): pa.DictionaryArray.from_arrays(
                    pa.array(np.zeros(n, np.int32)), pa.array([self._stage.versions])
                ).cast(pa.string()),
            }
        )

    @staticmethod
    def examples() -> list[Example]:
        """Contract row: a row with no picture anywhere does not fire (it is a row error)."""
        return [Example(text="a photo", url="https://example.org/a.jpg", fires=False)]
