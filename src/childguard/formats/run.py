"""`run.json`: what a scan was run with (config, policy, detectors, inputs) and its totals."""

from __future__ import annotations

from pydantic import Field

from childguard.formats.base import Record


class RunRecord(Record):
    """A scan's record; a resume with another `config_hash` or `url_norm_version` is refused.

    Open to fields other parts add (e.g. a `rematch` record): they are kept on rewrite."""

    KIND = "run.json"

    tool: str = "childguard"
    tool_version: str | None = None
    status: str | None = None
    config: dict = Field(default_factory=dict)
    config_hash: str | None = None
    policy: dict | None = None
    policy_hash: str | None = None
    detectors: list[dict] = Field(default_factory=list)
    inputs: list[dict] = Field(default_factory=list)
    url_norm_version: int | None = None  # None: recorded before versions, i.e. 1
    summary: dict | None = None
