"""Helpers for the caption/URL detector tests: score rows through the engine's batch code."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

SHARED_DATA = Path(__file__).parents[2].parent / "shared" / "data"


def batch(rows: list[tuple[str | None, str | None]]) -> pa.Table:
    """rows: (text, url) pairs -> a standard detector batch."""
    return pa.table(
        {
            "row_index": pa.array(range(len(rows)), pa.int64()),
            "url": pa.array([u for _, u in rows], pa.string()),
            "text": pa.array([t for t, _ in rows], pa.string()),
        }
    )


@pytest.fixture(scope="session")
def make_batch():
    return batch


@pytest.fixture(scope="session")
def text_detectors():
    from childguard.detect import REGISTRY, load_builtin
    from childguard.detect.signals import POSITIVE  # noqa: F401  (import check)

    load_builtin()
    names = [
        "ages", "birth_details", "child_terms", "dates", "handles", "institutions", "names",
        "places",
    ]  # fmt: skip
    dets = REGISTRY.create(names)
    for d in dets:
        d.ensure_setup()
    return dets


@pytest.fixture(scope="session")
def text_policy():
    """The shipped hand-rule policy (`rules`) without rules for detectors of other areas
    (lists, images): these tests are about the caption detectors, not the trained scorer."""
    from childguard.policy import Policy, load_policy

    mine = {"ages", "birth_details", "child_terms", "dates", "handles", "institutions", "names"}
    mine |= {"places"}
    pol = load_policy("rules")
    data = pol.model_dump()
    data["rules"] = [
        r
        for r in data["rules"]
        if Policy.model_validate({**data, "rules": [r]}).signal_names() <= mine
    ]
    return Policy.model_validate(data)


@pytest.fixture(scope="session")
def classify(text_detectors, text_policy):
    """(text, url) rows -> DataFrame with risk, rule and every detector's score/evidence."""
    from childguard.engine.batch import score_batch

    def run(rows: list[tuple[str | None, str | None]]) -> pl.DataFrame:
        scored = pl.from_arrow(score_batch(batch(rows), text_detectors))
        assert isinstance(scored, pl.DataFrame)
        dec = text_policy.decide(scored, {d.name: d.version for d in text_detectors})
        return pl.concat([scored, dec], how="horizontal")

    return run
