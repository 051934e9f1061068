"""What `childguard scan --images` changes: the one place the scan learns about pictures.

It adds the `images` detector (imported in every worker as a plugin, so scans without
`--images` never import or need the vision extra) with its options, and three policy rules
over its scores, placed among the policy's own rules so that the first match still decides:

- `image_minor_unsafe` (blocked, remove): a likely minor (P >= MINOR) in a picture with a
  high unsafe score (>= UNSAFE); right after the takedown-list rules. Such rows are never
  shown to reviewers, not even blurred (`web/reviewer.py`).
- `image_minor_identified` (identifiable_child): a likely minor plus an identifier found in
  the caption or URL by the running identifier detectors (names, handles, institutions,
  birth details); before the policy's first `child` rule.
- `image_minor` (child): a likely minor alone; last.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from childguard.config import ScanConfig
from childguard.policy import Policy, Rule, load_policy

PLUGIN = "childguard.vision.detector"
DETECTOR = "images"
MINOR = 0.5  # P(apparent age < 18) of the likeliest-minor face
UNSAFE = 0.8  # open_nsfw's customary "likely unsafe" cut
IDENTIFIERS = ("names", "handles", "institutions", "birth_details")


@dataclass
class ImagesOption:
    """The `--images` family of scan options."""

    sources: list[str] = field(default_factory=list)
    fetch: bool = False
    batch_size: int = 64
    threads: int = 0
    device: str = "auto"
    num_gpus: float = 0.0
    fetch_interval_s: float = 1.0

    def detector_options(self) -> dict[str, object]:
        """The `images` detector's options (recorded in run.json and the fingerprint); local
        source paths made absolute and checked here, before any worker starts."""
        from fsspec.core import url_to_fs

        sources = []
        for s in self.sources:
            path = s if "://" in s else str(Path(s).resolve())
            fs, root = url_to_fs(path)
            if not fs.exists(root):
                raise ValueError(f"--image-source not found: {s}")
            sources.append(path)
        return {
            "sources": sources,
            "fetch": self.fetch,
            "batch_size": self.batch_size,
            "threads": self.threads,
            "device": self.device,
            "num_gpus": self.num_gpus,
            "fetch_interval_s": self.fetch_interval_s,
        }


def image_rules(policy: Policy, running: list[str]) -> Policy:
    """`policy` with the three image rules inserted (idempotent: existing ones are kept)."""
    if any(r.name.startswith("image_minor") for r in policy.rules):
        return policy
    rules = list(policy.rules)
    likely = f"{DETECTOR} >= {MINOR}"
    blocked_at = max((i + 1 for i, r in enumerate(rules) if r.risk == "blocked"), default=0)
    rules.insert(
        blocked_at,
        Rule(
            name="image_minor_unsafe",
            risk="blocked",
            when=f"{likely} and {DETECTOR}.unsafe >= {UNSAFE}",
            action="remove",
        ),
    )
    ids = [d for d in IDENTIFIERS if d in running]
    if ids:
        child_at = next((i for i, r in enumerate(rules) if r.risk == "child"), len(rules))
        rules.insert(
            child_at,
            Rule(
                name="image_minor_identified",
                risk="identifiable_child",
                when=f"{likely} and ({' or '.join(ids)})",
            ),
        )
    rules.append(Rule(name="image_minor", risk="child", when=likely))
    return policy.model_copy(update={"rules": rules})


def apply_images_option(
    cfg: ScanConfig, policy: Policy | None, option: ImagesOption
) -> tuple[ScanConfig, Policy]:
    """The scan configuration and policy of a scan with `--images`."""
    from childguard.detect import REGISTRY, load_builtin

    policy = policy or load_policy()
    if cfg.detectors:
        running = list(dict.fromkeys([*cfg.detectors, DETECTOR]))
        update: dict[str, object] = {"detectors": running}
    else:
        load_builtin()
        base = list(policy.detectors) if policy.detectors else REGISTRY.names()
        running = list(dict.fromkeys([*base, DETECTOR]))
        policy = policy.model_copy(update={"detectors": running})
        update = {}
    update["plugins"] = list(dict.fromkeys([*cfg.plugins, PLUGIN]))
    update["detector_options"] = {**cfg.detector_options, DETECTOR: option.detector_options()}
    return cfg.model_copy(update=update), image_rules(policy, running)
