"""A release's `manifest.json`: ids, hashes and sizes of every file, counts, the audit's ids.

Its version is `format` ("childguard-release/1"), kept from before versions were numbered
elsewhere. Written with ASCII escapes and sorted keys, byte for byte as before, since its
SHA-256 is the release's published identity."""

from __future__ import annotations

import json
from typing import Self

from pydantic import Field

from childguard.formats.base import FormatError, Record

FORMAT = "childguard-release/1"


class ReleaseManifest(Record):
    """manifest.json's fields; `files` and `shards` carry size and SHA-256 of each file."""

    KIND = "release manifest"

    format: str = FORMAT
    release_id: str | None = None
    parent_id: str | None = None
    created: str | None = None
    tool_version: str | None = None
    audit: dict = Field(default_factory=dict)
    config_hash: str | None = None
    policy_hash: str | None = None
    review_default: str | None = None
    url_norm_version: int | None = None  # None: recorded before versions, i.e. 1
    counts: dict = Field(default_factory=dict)
    shards: list[dict] = Field(default_factory=list)
    files: dict[str, dict] = Field(default_factory=dict)

    @classmethod
    def parse(cls, obj: object, where: str) -> Self:
        """Validate, and refuse a `format` other than this childguard's."""
        rec = super().parse(obj, where)
        if rec.format != FORMAT:
            raise FormatError(f"{where}: format {rec.format!r} != {FORMAT!r}")
        return rec

    def dump(self) -> dict:
        """The fields as given; the version is `format`, so no `format_version` key."""
        out = self.model_dump(mode="json", exclude_unset=True)
        out.pop("format_version", None)
        out["format"] = self.format
        return out

    def to_bytes(self) -> bytes:
        """manifest.json's bytes (the release's identity is their SHA-256)."""
        return (json.dumps(self.dump(), indent=2, sort_keys=True) + "\n").encode("utf-8")
