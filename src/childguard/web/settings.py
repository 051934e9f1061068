"""One settings object for the web service (built by `childguard serve` or by tests)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from childguard.registry.db import default_db_url, normalize_db_url


class RateLimit(BaseModel):
    """A token bucket: `burst` requests at once, refilled at `per_second`."""

    model_config = ConfigDict(extra="forbid")
    per_second: float = Field(gt=0)
    burst: int = Field(ge=1)


class Settings(BaseModel):
    """Settings of the web service: audit folder, database, limits, cookies."""
    model_config = ConfigDict(extra="forbid")
    audit_dir: Path
    db_url: str | None = None
    # Rate limiting is on by default; the load test turns it off to measure the server itself.
    rate_limit: bool = True
    intake_per_ip: RateLimit = RateLimit(per_second=5 / 60, burst=5)
    lookup_per_ip: RateLimit = RateLimit(per_second=1.0, burst=30)
    lookup_per_token: RateLimit = RateLimit(per_second=1 / 10, burst=6)
    login_per_ip: RateLimit = RateLimit(per_second=1 / 6, burst=10)
    session_hours: float = 8.0
    # Set behind HTTPS (a TLS-terminating proxy): cookies then carry the Secure flag.
    secure_cookies: bool = False
    max_photo_bytes: int = 8 * 1024 * 1024
    max_targets: int = 50
    # Import findings into the queue when the app starts (and on a reviewer's "sync").
    sync_on_start: bool = True
    page_size: int = 50
    # Removal requests are matched in batches (one read of the data for all of them): when
    # this many are waiting, or when the oldest has waited this long. The requester's status
    # does not depend on either.
    match_batch_size: int = Field(default=100, ge=1)
    match_batch_seconds: float = Field(default=60.0, gt=0)

    @property
    def database_url(self) -> str:
        """The registry's database URL (the SQLite file beside the audit by default)."""
        return normalize_db_url(self.db_url) if self.db_url else default_db_url(self.audit_dir)
