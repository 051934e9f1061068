"""`stats/<shard-id>.json`: a shard's counts; `status: ok` is the shard's completion marker."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeInt, model_validator

from childguard.formats.base import Record
from childguard.policy import RISKS


class ShardStats(Record):
    """Per-shard counts (every row, clean included) or a failed shard's errors."""

    KIND = "shard stats"

    shard_id: str
    path: str | None = None
    format: str | None = None
    rows: NonNegativeInt
    risk_counts: dict[str, NonNegativeInt]
    errors: list[str] = Field(default_factory=list)
    status: Literal["ok", "failed"]
    tool_version: str | None = None
    # written for finished shards only
    compression: str | None = None
    convention: str | None = None
    columns: dict | None = None
    findings: NonNegativeInt | None = None
    tasks: NonNegativeInt | None = None
    seconds: float | None = None
    row_errors: dict[str, NonNegativeInt] = Field(default_factory=dict)
    facets: dict = Field(default_factory=dict)
    picture_checked: NonNegativeInt = 0  # rows whose image or embedding a detector looked at
    sha256: str | None = None  # of the bytes the scan read (local files)

    @model_validator(mode="after")
    def _counts_add_up(self) -> ShardStats:
        unknown = set(self.risk_counts) - set(RISKS)
        if unknown:
            raise ValueError(f"unknown risk(s) in risk_counts: {sorted(unknown)}")
        total = sum(self.risk_counts.values())
        if self.status == "ok" and total != self.rows:
            raise ValueError(f"risk_counts add up to {total}, but rows is {self.rows}")
        return self

    @property
    def ok(self) -> bool:
        """The shard finished (its findings are complete)."""
        return self.status == "ok"
