"""Removal-request intake shared by the JSON API and the HTML form.

The reference photo arrives as bytes in memory, is hashed (PDQ) and dropped; it is never
written anywhere. The child's name is kept normalised (for matching later scans), and shown
to reviewers as initials.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.orm import Session

from childguard.redact import initials
from childguard.registry.audit import record
from childguard.registry.matching import (
    Targets,
    normalize_domain,
    normalize_name,
    normalize_target_url,
    pdq_hex_from_bytes,
)
from childguard.registry.models import RemovalRequest, RequestTarget, utcnow
from childguard.web.security import new_token, sha256

Relationship = Literal["parent", "legal_guardian", "self", "authorised_representative"]
RELATIONSHIPS: tuple[str, ...] = ("parent", "legal_guardian", "self", "authorised_representative")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
# The patterns below are both the check and what /openapi.json states, so a client (or a
# schema-driven fuzzer) that follows the schema is never refused (tests/web/test_api_contract.py).
_HTTP = r"(?:[Hh][Tt][Tt][Pp][Ss]?://)?"
# ASCII white space only: `\s` differs between Python, JSON Schema and pydantic's regex engine
_WS = r"[ \t\n\r\f\v]"
_NWS = r"[^ \t\n\r\f\v]"
_BLANKS = " \t\n\r\f\v"
# a web address: optional http(s) scheme, a dotted host, optional port, then anything unspaced
_HOST_LABEL = r"[^ \t\n\r\f\v/?#:.@]+"
URL_PATTERN = rf"{_HTTP}{_HOST_LABEL}(?:\.{_HOST_LABEL})+(?::[0-9]{{1,5}})?(?:[/?#]{_NWS}*)?"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DOMAIN_PATTERN = _HTTP + rf"(?:{_LABEL}\.)+[A-Za-z0-9-]{{2,63}}/?"
CONTACT_PATTERN = (
    rf"^{_WS}*(?:{_NWS.replace('^', '^@')}+@{_NWS.replace('^', '^@')}+\.{_NWS.replace('^', '^@')}+"
    rf"|\+?[0-9(][0-9 ()-]{{4,18}}[0-9)]){_WS}*$"
)
NAME_PATTERN = r"[^\W_][\s\S]*[^\W_]"  # two letters or digits somewhere: a name, not punctuation
# what base64.b64decode(validate=True) accepts
BASE64_PATTERN = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
_URL_RE = re.compile(f"^{_WS}*{URL_PATTERN}{_WS}*$")
_DOMAIN_IN = re.compile(f"^{_WS}*{DOMAIN_PATTERN}{_WS}*$")
_CONTACT = re.compile(CONTACT_PATTERN)
_NAME = re.compile(NAME_PATTERN)
_BASE64 = re.compile(BASE64_PATTERN)
# "at least one thing to look for", as JSON Schema
_SOMETHING_TO_FIND = {
    "anyOf": [
        {"required": ["urls"], "properties": {"urls": {"minItems": 1}}},
        {"required": ["domains"], "properties": {"domains": {"minItems": 1}}},
        {"required": ["child_name"], "properties": {"child_name": {"type": "string"}}},
        {
            "required": ["photo_base64"],
            "properties": {"photo_base64": {"type": "string", "minLength": 1}},
        },
    ]
}


class IntakeError(ValueError):
    """A request the schema cannot reject that is still invalid (e.g. a bad photo)."""


class RequestIn(BaseModel):
    """A guardian's removal request (JSON body of `POST /api/requests`)."""

    # No str_strip_whitespace: pydantic strips more than ASCII blanks, and lengths would then
    # be checked on other strings than the schema's; the validators strip ASCII blanks.
    model_config = ConfigDict(extra="forbid", json_schema_extra=_SOMETHING_TO_FIND)
    urls: list[
        Annotated[str, Field(max_length=2048, json_schema_extra={"pattern": _URL_RE.pattern})]
    ] = Field(
        default_factory=list,
        max_length=50,
        description="image or page URLs (http/https) where the child's photo appears",
    )
    domains: list[
        Annotated[str, Field(max_length=253, json_schema_extra={"pattern": _DOMAIN_IN.pattern})]
    ] = Field(default_factory=list, max_length=10)
    child_name: str | None = Field(
        default=None,
        max_length=100,
        json_schema_extra={"pattern": NAME_PATTERN},
        description="the child's name as it may appear in captions",
    )
    contact: str = Field(
        min_length=3,
        max_length=320,
        json_schema_extra={"pattern": CONTACT_PATTERN},
        description="e-mail address or phone",
    )
    relationship: Relationship
    declaration: bool = Field(
        json_schema_extra={"const": True},
        description="I declare I am the child's parent/guardian or authorised to act for them",
    )
    note: str | None = Field(default=None, max_length=2000)

    @field_validator("note")
    @classmethod
    def _note(cls, v: str | None) -> str | None:
        return (v or "").strip(_BLANKS) or None

    photo_base64: str | None = Field(
        default=None,
        json_schema_extra={"pattern": BASE64_PATTERN},
        description="optional reference photo (an image, base64); hashed in memory, never stored",
    )

    @field_validator("urls")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        for i, u in enumerate(v):
            if not _URL_RE.match(u):
                raise ValueError(f"urls[{i}] is not an http(s) web address")
        return [u.strip(_BLANKS) for u in v]

    @field_validator("domains")
    @classmethod
    def _domains(cls, v: list[str]) -> list[str]:
        out = []
        for i, d in enumerate(v):
            nd = normalize_domain(d.strip(_BLANKS))
            if not _DOMAIN_IN.match(d) or not _DOMAIN.match(nd):
                raise ValueError(f"domains[{i}] is not a domain name (like example.org)")
            out.append(nd)
        return out

    @field_validator("contact")
    @classmethod
    def _contact(cls, v: str) -> str:
        if not _CONTACT.match(v):
            raise ValueError("contact must be an e-mail address or a phone number")
        return v.strip(_BLANKS)

    @field_validator("declaration")
    @classmethod
    def _declared(cls, v: bool) -> bool:
        if v is not True:
            raise ValueError("the declaration must be accepted")
        return v

    @field_validator("child_name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is None:
            return None
        if not _NAME.search(v) or len(normalize_name(v)) < 2:
            raise ValueError("child_name must contain letters")
        return v.strip(_BLANKS)

    @field_validator("photo_base64")
    @classmethod
    def _photo(cls, v: str | None) -> str | None:
        if v and not _BASE64.match(v):
            raise ValueError("photo_base64 is not valid base64")
        return v or None

    @model_validator(mode="after")
    def _something_to_find(self) -> RequestIn:
        if not (self.urls or self.domains or self.child_name or self.photo_base64):
            raise ValueError("give at least one URL, domain, name or reference photo")
        return self

    def photo_bytes(self, max_bytes: int) -> bytes | None:
        """The decoded reference photo, or None (IntakeError when too large or not base64)."""
        if not self.photo_base64:
            return None
        if len(self.photo_base64) > (max_bytes * 4) // 3 + 8:
            raise IntakeError(f"photo is larger than {max_bytes // (1024 * 1024)} MiB")
        try:
            return base64.b64decode(self.photo_base64, validate=True)
        except (binascii.Error, ValueError):
            raise IntakeError("photo_base64 is not valid base64") from None


def photo_hash(data: bytes | None) -> str | None:
    """PDQ hex of the photo, computed in memory; the bytes are dropped by the caller."""
    if not data:
        return None
    try:
        from childguard.images.hashing import ImageError
    except ImportError:
        return None  # no image extra: the request still goes to reviewers by its other fields
    try:
        return pdq_hex_from_bytes(data)
    except ImportError:
        return None
    except ImageError:
        raise IntakeError("the reference photo is not an image we can read") from None


def create_request(db: Session, data: RequestIn, pdq: str | None) -> tuple[str, str, Targets]:
    """Store the request; returns (tracking token, request id, targets to match)."""
    token = new_token(24)
    now = utcnow()
    targets = Targets(
        urls=sorted({normalize_target_url(u) for u in data.urls}),
        domains=sorted(set(data.domains)),
        names=[normalize_name(data.child_name)] if data.child_name else [],
        pdq=[pdq] if pdq else [],
    )
    req = RemovalRequest(
        id=str(uuid.uuid4()),
        token_sha256=sha256(token),
        status="received",
        contact=data.contact,
        relationship_to_child=data.relationship,
        child_name_initials=initials(data.child_name) if data.child_name else None,
        note=data.note,
        created_at=now,
        updated_at=now,
    )
    for kind, values in (
        ("url", targets.urls),
        ("domain", targets.domains),
        ("name", targets.names),
        ("pdq", targets.pdq),
    ):
        for v in values:
            req.targets.append(RequestTarget(kind=kind, value=v))
    db.add(req)
    record(
        db,
        "public",
        "request_received",
        f"request:{req.id}",
        {
            "urls": len(targets.urls),
            "domains": len(targets.domains),
            "name": bool(targets.names),
            "photo": bool(pdq),
        },
    )
    db.commit()
    return token, req.id, targets
