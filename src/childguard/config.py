"""Run configuration (pydantic), loadable from TOML/YAML with `--config`.

A config file may hold a `[scan]` table (these fields) and a `[policy]` table (see policy.py).
Command-line options override the file.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from childguard.policy import Policy, PolicyError, load_policy, parse_settings


class ScanConfig(BaseModel):
    """A validated scan configuration: inputs, output folder, engine, workers, detectors."""
    model_config = ConfigDict(extra="forbid")
    inputs: list[str] = Field(default_factory=list)
    out: str = "audit"
    engine: str = "local"
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1)
    batch_rows: int = 131_072
    url_col: str | None = None
    text_col: str | None = None
    detectors: list[str] | None = None  # None: the policy's list, else every registered one
    detector_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # extra modules to import in every worker, for detectors not installed as entry points
    plugins: list[str] = Field(default_factory=list)
    ray_address: str | None = None

    def fingerprint(self, policy: Policy, detectors: list[dict]) -> str:
        """What must not change between a run and its resume (outputs depend on it)."""
        blob = json.dumps(
            {
                "batch_rows": self.batch_rows,
                "url_col": self.url_col,
                "text_col": self.text_col,
                "policy": policy.model_dump(mode="json"),
                "detectors": detectors,
                "plugins": self.plugins,
            },
            sort_keys=True,
            default=str,
        ).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def load_config_file(path: str | Path) -> tuple[dict[str, Any], Policy | None]:
    """(scan fields, policy or None) from a TOML/YAML file."""
    p = Path(path)
    try:
        raw = p.read_text(encoding="utf-8")
    except OSError as e:
        raise PolicyError(f"cannot read config {p}: {e.strerror}") from None
    data = parse_settings(p, raw) or {}
    scan = data.get("scan", {})
    policy = None
    if "policy" in data:
        policy = Policy.model_validate(data["policy"])
    elif "rules" in data:
        policy = load_policy(p)
    return scan, policy
