"""What changed between the scan an audit records (its run.json) and the scan asked for now.

A resume is refused when the configuration hash differs; this module says why in words a user
can act on: which takedown lists changed and how (name, old -> new version), which detector,
detector option, policy or scan setting changed, and whether `childguard rematch` can bring
the audit up to date (only list changes) or a new audit is needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# scan settings that change findings (ScanConfig.fingerprint); the others (workers, engine,
# inputs, out) do not, and are not compared
_SETTINGS = ("batch_rows", "url_col", "text_col", "plugins")
LISTS_DETECTOR = "takedown_lists"


@dataclass
class ConfigDiff:
    """The differences, split into list changes (rematch can apply) and everything else."""

    lists: list[str] = field(default_factory=list)  # "hotline-urls v1 -> v2"
    other: list[str] = field(default_factory=list)  # "detector names: version 1 -> 2"

    @property
    def lists_only(self) -> bool:
        """True when only takedown-list versions or the set of lists changed."""
        return bool(self.lists) and not self.other

    def lines(self) -> list[str]:
        """Every difference, one line each, lists first."""
        return [f"takedown list {x}" for x in self.lists] + self.other


def list_versions(detectors: list[dict]) -> dict[str, int]:
    """name -> version of every takedown list a run's detector descriptions pin."""
    for d in detectors:
        if d.get("name") == LISTS_DETECTOR:
            if d.get("lists"):
                return {str(x["name"]): int(x["version"]) for x in d["lists"]}
            pinned = (d.get("options") or {}).get("lists") or []
            out = {}
            for ref in pinned:
                name, _, ver = str(ref).partition("@")
                if ver.lstrip("v").isdigit():
                    out[name] = int(ver.lstrip("v"))
            return out
    return {}


def _list_changes(old: dict[str, int], new: dict[str, int]) -> list[str]:
    out = []
    for name in sorted(old.keys() | new.keys()):
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        if a is None:
            out.append(f"{name}: added (v{b})")
        elif b is None:
            out.append(f"{name}: no longer used (was v{a})")
        else:
            out.append(f"{name}: v{a} -> v{b}")
    return out


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def compare(prev: dict, new: dict) -> ConfigDiff:
    """Differences between two run records (`config`, `policy`, `policy_hash`, `detectors`)."""
    diff = ConfigDiff()
    old_dets = {d.get("name"): d for d in prev.get("detectors") or []}
    new_dets = {d.get("name"): d for d in new.get("detectors") or []}
    diff.lists = _list_changes(
        list_versions(prev.get("detectors") or []), list_versions(new.get("detectors") or [])
    )
    for name in [n for n in old_dets if n not in new_dets]:
        diff.other.append(f"detector {name}: no longer run")
    for name in [n for n in new_dets if n not in old_dets]:
        diff.other.append(f"detector {name}: added (version {new_dets[name].get('version')})")
    for name in [n for n in new_dets if n in old_dets]:
        a, b = old_dets[name], new_dets[name]
        if a.get("version") != b.get("version"):
            diff.other.append(f"detector {name}: version {a.get('version')} -> {b.get('version')}")
        oa, ob = dict(a.get("options") or {}), dict(b.get("options") or {})
        if name == LISTS_DETECTOR:  # the pinned lists are compared above
            oa.pop("lists", None)
            ob.pop("lists", None)
        for key in sorted(oa.keys() | ob.keys()):
            if oa.get(key) != ob.get(key):
                diff.other.append(
                    f"detector {name}: option {key} {_short(oa.get(key))} -> {_short(ob.get(key))}"
                )
        # everything else a detector records about itself (a model's id, ...)
        extra = {k for k in a.keys() | b.keys() if k not in ("name", "version", "options", "lists")}
        for key in sorted(extra):
            if a.get(key) != b.get(key):
                diff.other.append(
                    f"detector {name}: {key} {_short(a.get(key))} -> {_short(b.get(key))}"
                )
    if [d.get("name") for d in prev.get("detectors") or []] != [
        d.get("name") for d in new.get("detectors") or []
    ] and set(old_dets) == set(new_dets):
        diff.other.append("detectors: same detectors in another order")
    pa, pb = prev.get("policy") or {}, new.get("policy") or {}
    if pa != pb:
        changed = sorted(k for k in pa.keys() | pb.keys() if pa.get(k) != pb.get(k))
        diff.other.append(
            f"policy {pa.get('version')!r} -> {pb.get('version')!r} "
            f"(hash {prev.get('policy_hash')} -> {new.get('policy_hash')}; "
            f"changed: {', '.join(changed)})"
        )
    ca, cb = prev.get("config") or {}, new.get("config") or {}
    for key in _SETTINGS:
        if key in ca and ca.get(key) != cb.get(key):
            diff.other.append(f"setting {key}: {_short(ca.get(key))} -> {_short(cb.get(key))}")
    return diff


def mismatch_message(
    root: str, diff: ConfigDiff, command: str, old_hash, new_hash, rematch_args: str = ""
) -> str:
    """The refusal of a resume: what changed and the exact commands that go on from here."""
    lines = [f"{root} holds a scan made with another configuration ({old_hash} != {new_hash}):"]
    lines += [f"  - {x}" for x in diff.lines() or ["(no difference found in run.json)"]]
    if diff.lists_only:
        lines.append(
            "Only takedown lists changed. To bring this audit up to date (re-matches the lists "
            f"only):\n    {command} rematch {root}{rematch_args}\n"
            "then re-running this scan command resumes. Or start a new audit: the same command "
            "with another --out."
        )
    else:
        lines.append(
            "Start a new audit: the same command with another --out (or --restart to discard "
            "this one)."
        )
    return "\n".join(lines)
