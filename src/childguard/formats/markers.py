"""`_state/<shard-id>/task-N.done.json`: one task's completion marker (its part is complete)."""

from __future__ import annotations

from pydantic import Field, NonNegativeInt

from childguard.formats.base import Record


class TaskMarker(Record):
    """What one task counted; written after its findings part, so it proves the part."""

    KIND = "task marker"

    rows: NonNegativeInt
    risk_counts: dict[str, NonNegativeInt]
    seconds: float = 0.0
    row_offset: NonNegativeInt | None = None
    row_errors: dict[str, NonNegativeInt] = Field(default_factory=dict)
    facets: dict = Field(default_factory=dict)
    picture_checked: NonNegativeInt = 0  # rows whose image or embedding a detector looked at
