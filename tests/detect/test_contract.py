"""Every registered detector honours the contract on its own examples."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pytest

from childguard.detect import REGISTRY, load_builtin
from childguard.detect.textnorm import prepare
from childguard.policy import load_policy

load_builtin()
POLICY = load_policy()


def _examples():
    for name in REGISTRY.names():
        for i, ex in enumerate(REGISTRY.get(name).examples()):
            yield pytest.param(name, ex, id=f"{name}-{i}")


@pytest.mark.parametrize(("name", "example"), list(_examples()))
def test_examples(name, example, make_batch) -> None:
    dets = REGISTRY.create([name])
    table = prepare(make_batch([(example.text, example.url), ("Sunset over the lake", None)]))
    for det in dets:
        det.ensure_setup()
        out = det.run(table)
        assert out.num_rows == table.num_rows
        for c in out.column_names:
            table = table.append_column(c, out.column(c))
    det = dets[-1]
    score = table.column(f"{name}__score")
    evidence = table.column(f"{name}__evidence")
    assert score.type == pa.float64()
    assert evidence.type == pa.string()
    scores = pl.Series(score).fill_null(0.0).to_list()
    assert all(0.0 <= s <= 1.0 for s in scores)
    for s, e in zip(scores, evidence.to_pylist(), strict=True):
        assert (e is None) == (s == 0.0), (s, e)  # evidence exactly when something was found
    fired = scores[0] >= POLICY.threshold(name) and scores[0] > 0
    assert fired is example.fires, (example, scores[0], evidence[0])
    assert det.version


def test_every_detector_has_examples() -> None:
    mine = ["ages", "birth_details", "child_terms", "dates", "handles", "institutions", "names"]
    for name in [*mine, "places"]:
        exs = REGISTRY.get(name).examples()
        assert any(e.fires for e in exs) and any(not e.fires for e in exs), name
