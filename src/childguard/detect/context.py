"""Per-batch work that several detectors share, computed once and handed to each of them.

The engine normalises a batch (`textnorm.prepare`) and builds one `BatchContext`; every
detector's `score(batch, ctx)` reads the shared signals from it (as Presidio hands its
recognisers one `NlpArtifacts`), so a detector depends only on its arguments: no module-level
cache, no hidden state between detectors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl
import pyarrow as pa


@dataclass
class BatchContext:
    """The prepared batch and what is computed from it once (signals on first use)."""

    table: pa.Table  # the batch with textnorm's columns
    lex_dir: str | None = None
    _signals: pl.DataFrame | None = field(default=None, repr=False)

    @classmethod
    def of(cls, batch: pa.Table, lex_dir: str | None = None) -> BatchContext:
        """A context for a raw or prepared batch (normalised here when it is raw)."""
        from childguard.detect.textnorm import prepare

        return cls(prepare(batch), lex_dir)

    @property
    def signals(self) -> pl.DataFrame:
        """The shared row signals (`signals.compute`), computed on first use."""
        if self._signals is None:
            from childguard.detect import signals

            self._signals = signals.compute(self.table, self.lex_dir)
        return self._signals
