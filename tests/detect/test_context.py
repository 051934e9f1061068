"""Detectors get the batch's shared work explicitly, computed once per batch by the engine."""

from __future__ import annotations

import pyarrow as pa

from childguard.detect import REGISTRY, load_builtin, signals
from childguard.detect.base import Detector
from childguard.detect.output import detector_output
from childguard.engine.batch import score_batch, score_batch_with_context

ROWS = [
    ("my son Lucas, 5, at Escola Pequeno Mundo", "https://x.com/festa-5-anos.jpg"),
    ("Sunset over the lake", "https://cdn.example/a.jpg"),
]


class LegacyDetector(Detector):
    """A plugin written before the context existed: `score(batch)` only."""

    name = "legacy_test"
    version = "1"

    def score(self, batch: pa.Table) -> pa.Table:
        import polars as pl

        n = batch.num_rows
        return detector_output(self.name, n, pl.Series([1.0] * n))


def test_signals_computed_once_per_batch(make_batch, monkeypatch) -> None:
    load_builtin()
    dets = REGISTRY.create(REGISTRY.names())
    calls = []
    real = signals.compute

    def counting(batch, lex_dir=None):
        calls.append(batch.num_rows)
        return real(batch, lex_dir)

    monkeypatch.setattr(signals, "compute", counting)
    table, ctx = score_batch_with_context(make_batch(ROWS), dets)
    assert calls == [2]  # every signal-reading detector shared one computation
    assert ctx.signals["candidate"].to_list() == [True, False]
    assert table["names__score"].to_pylist()[0] > 0
    assert not hasattr(signals, "_CACHE")  # no module-level state between batches


def test_legacy_signature_still_runs(make_batch) -> None:
    det = LegacyDetector()
    out = score_batch(make_batch(ROWS), [det])
    assert out["legacy_test__score"].to_pylist() == [1.0, 1.0]
    # called directly without a context, a detector gets a fresh one
    load_builtin()
    (ages,) = [d for d in REGISTRY.create(["ages"]) if d.name == "ages"]
    assert ages.run(make_batch(ROWS))["ages__score"].to_pylist()[0] > 0
