"""Detector `clip`: P(a minor is shown) from the shard's precomputed CLIP image embeddings.

Where a shard has a row-aligned `img_emb_NNNN.npy` (`--embeddings DIR`, or an `img_emb/`
folder beside the shard or its folder: LAION's layout), each batch's vectors are read from the
memory-mapped file and scored with one matrix product against a prompt set or a linear probe
(`childguard.vision.clip`). Columns: `clip__score` P(minor) (0 where the row has no vector),
`clip__picture` (true where the row's picture was checked), label `picture_minor` and fixed
evidence where the score is > 0. The detector's version carries the model and prompt-set
version (`1+ViT-L-14/openai/prompts-cg-minor-1`), so every decision records what scored it.

Rows of shards without embeddings are not checked at picture level (score 0, `clip__picture`
false): the scan counts them and the report says so. An embedding file whose length differs
from its shard's fails that shard, naming both files and both counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import polars as pl
import pyarrow as pa

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

_KEEP_SHARDS = 8  # a worker moves on through shards: keep a few memory maps open


@register
class ClipMinor(Detector):
    """Detector `clip`: P(minor shown) from CLIP image embeddings, one matrix product a batch."""

    name: ClassVar[str] = "clip"
    version: ClassVar[str] = "1"
    # a (rows x 768) @ (768 x 33) product is ~50k FLOPs a row: a CPU core scores millions of
    # rows a second and the stage is bound by reading the vectors, so it asks for no GPU
    resources: ClassVar[Resources] = Resources(num_cpus=1.0, num_gpus=0.0, memory_mb=64)
    outputs: ClassVar[dict[str, pa.DataType]] = {**LABELLED_OUTPUTS, "picture": pa.bool_()}

    class Options(DetectorOptions):
        """The embeddings folder (None: an `img_emb/` beside the shards) and the prompt file."""

        embeddings: Path | str | None = None
        prompts: Path | str | None = None

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        from childguard.vision.clip import ClipError, load_scorer
        from childguard.vision.prompts import default_prompt_file

        emb = options.get("embeddings")
        self.embeddings: str | None = str(Path(str(emb)).resolve()) if emb else None
        if self.embeddings is not None and not Path(self.embeddings).is_dir():
            raise DetectorError(f"--embeddings: no folder at {self.embeddings}")
        given = options.get("prompts")
        path = Path(str(given)) if given else default_prompt_file()
        self.scorer = None
        if given or path.is_file():
            try:
                self.scorer = load_scorer(path)
            except ClipError as e:
                raise DetectorError(str(e)) from None
            self.scorer_path: str | None = str(path.resolve())
            self.version = f"{type(self).version}+{self.scorer.tag}"  # type: ignore[misc]
        else:
            self.scorer_path = None
        if self.embeddings is not None and self.scorer is None:
            raise DetectorError(
                "--embeddings needs a CLIP prompt or probe file for the same model: make one "
                "with `childguard clip-prompts` (once, with the internet) or pass --clip-prompts"
            )
        self._open: dict[str, object] = {}
        self._index: dict = {}

    def describe(self) -> dict[str, object]:
        """The base description plus the scorer file (path, SHA-256, model, version)."""
        d = super().describe()
        d["options"] = {
            **dict(self.options),
            "embeddings": self.embeddings,
            "prompts": self.scorer_path,
        }
        if self.scorer is not None:
            d["scorer"] = {
                "kind": self.scorer.kind,
                "model": self.scorer.model,
                "pretrained": self.scorer.pretrained,
                "version": self.scorer.version,
                "sha256": self.scorer.sha256,
            }
        return d

    def _shard_embeddings(self, batch: pa.Table):
        from childguard.vision.embeddings import ShardEmbeddings, find_embeddings

        meta = batch.schema.metadata or {}
        shard = meta.get(b"childguard.shard_path")
        if shard is None or self.scorer is None:
            return None
        shard_path = shard.decode()
        if shard_path not in self._open:
            if len(self._open) >= _KEEP_SHARDS:
                self._open.clear()
            found = find_embeddings(shard_path, self.embeddings, self._index)
            rows = meta.get(b"childguard.shard_rows")
            self._open[shard_path] = (
                ShardEmbeddings(found, shard_path, int(rows) if rows else None, self.scorer.dim)
                if found is not None
                else None
            )
        return self._open[shard_path]

    def score(self, batch: pa.Table, ctx: BatchContext) -> pa.Table:
        """P(minor) for rows with an embedding; 0 and `clip__picture` false for the others."""
        n = batch.num_rows
        emb = self._shard_embeddings(batch) if n else None
        if emb is None:
            out = self.empty_result(n)
            i = out.schema.get_field_index(self.col("picture"))
            return out.set_column(i, self.col("picture"), _arrow(np.zeros(n, bool)))
        assert self.scorer is not None
        rows = batch.column("row_index").to_numpy()
        p = self.scorer.minor_probability(emb.block(rows))  # type: ignore[attr-defined]
        emb.release(rows)  # type: ignore[attr-defined]
        checked = np.isfinite(p)
        score = np.where(checked, p, 0.0)
        fired = pl.Series((score > 0).astype(np.uint32))
        kind = "clip" if self.scorer.kind == "prompts" else "probe"
        return pa.table(
            {
                self.col("score"): _arrow(score),
                self.col("evidence"): _strings([None, f"picture:minor embedding:{kind}"], fired),
                self.col("label"): _strings([None, "picture_minor"], fired),
                self.col("picture"): _arrow(checked),
            }
        )

    @staticmethod
    def examples() -> list[Example]:
        """Contract row: without embeddings beside the shard nothing is checked or fired."""
        return [Example(text="a child on a swing", url="https://example.org/a.jpg", fires=False)]


# Arrow arrays through Polars: `pa.array` on numpy or lists imports pandas (0.15 s a process)
def _arrow(values: np.ndarray) -> pa.Array:
    return pl.Series(values).to_arrow()


def _strings(choices: list[str | None], pick: pl.Series) -> pa.Array:
    return pl.Series(choices, dtype=pl.String).gather(pick).to_arrow().cast(pa.string())
