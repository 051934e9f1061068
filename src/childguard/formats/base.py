"""The base of every on-disk record: version, strict read with a clear error, atomic write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from childguard.io.atomic import write_json_atomic
from childguard.urls import URL_NORM_VERSION


class FormatError(ValueError):
    """A record file that is missing, not JSON, or not of its format; names file and field."""


class Record(BaseModel):
    """A JSON record with a format version; unknown fields are kept, not dropped."""

    model_config = ConfigDict(extra="allow")

    FORMAT_VERSION: ClassVar[int] = 1
    KIND: ClassVar[str] = "record"
    format_version: int = 1  # missing in files written before versions: those are format 1

    @classmethod
    def parse(cls, obj: Any, where: str) -> Self:
        """Validate a parsed JSON object; `where` (a path) starts every error message."""
        if not isinstance(obj, dict):
            raise FormatError(f"{where}: expected a JSON object, found {type(obj).__name__}")
        try:
            rec = cls.model_validate(obj)
        except ValidationError as e:
            err = e.errors()[0]
            field = ".".join(str(x) for x in err["loc"])
            msg = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "missing":
                raise FormatError(f"{where}: missing field {field!r} ({cls.KIND})") from None
            if not field:  # a check across fields
                raise FormatError(f"{where}: {msg} ({cls.KIND})") from None
            raise FormatError(f"{where}: field {field!r}: {msg} ({cls.KIND})") from None
        if rec.format_version > cls.FORMAT_VERSION:
            raise FormatError(
                f"{where}: {cls.KIND} format {rec.format_version}, written by a newer "
                f"childguard; this one reads up to format {cls.FORMAT_VERSION}"
            )
        return rec

    @classmethod
    def read(cls, path: str | Path) -> Self:
        """Read and validate `path`; FormatError names the file and the field."""
        p = Path(path)
        try:
            obj = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FormatError(f"{p}: missing ({cls.KIND})") from None
        except (OSError, ValueError) as e:
            raise FormatError(f"{p}: not readable JSON ({e})") from None
        return cls.parse(obj, str(p))

    @classmethod
    def new(cls, **fields: Any) -> Self:
        """A record of the current format version with exactly these fields."""
        return cls(format_version=cls.FORMAT_VERSION, **fields)

    def dump(self) -> dict:
        """The fields this record was given (plus its version), as JSON values."""
        out = self.model_dump(mode="json", exclude_unset=True)
        out["format_version"] = self.format_version
        return out

    def write(self, path: str | Path) -> None:
        """Write the record atomically (indented, key-sorted JSON)."""
        write_json_atomic(path, self.dump())


def check_url_norm(version: int | None, where: str, redo: str) -> None:
    """Refuse hashes made with another URL normaliser (`None`: recorded before versions: 1)."""
    got = 1 if version is None else version
    if got != URL_NORM_VERSION:
        raise FormatError(
            f"{where}: its url_sha256 values were made with URL normalisation version {got}, "
            f"this childguard normalises with version {URL_NORM_VERSION}: the hashes would "
            f"not match; {redo}"
        )
