"""The report's "who is affected where" tables: flagged rows per language, hosting platform,
site type, year in the URL path and place mentioned, summed from the shards' stats (the scan
counts them; the report reads no row). Counts only; a platform is named only when at least
`HOST_MIN` flagged rows share it, the others are one "other hosts" line."""

from __future__ import annotations

from childguard.engine.facets import HASHED, HOST_MIN, hashed, merge

OTHER_HOSTS = "other hosts"


def _rows(counts: dict[str, int], total: int, key=None) -> list[dict]:
    items = sorted(counts.items(), key=key or (lambda kv: (-kv[1], kv[0])))
    return [{"name": k, "rows": v, "share": v / total if total else None} for k, v in items]


def summarize(stats: list[dict], flagged: int) -> dict:
    """`stats`: the finished shards' stats; `flagged`: their flagged rows (the shares' base)."""
    merged: dict[str, dict[str, int]] = {}
    for s in stats:
        merge(merged, s.get("facets") or {})
    if not merged:
        return {"available": False}
    platforms = merged.get("platform", {})
    named = {k: v for k, v in platforms.items() if not k.startswith(HASHED)}
    # a platform named in one shard and hashed (too few rows) in another: one total
    totals = {k: v + platforms.get(hashed(k), 0) for k, v in named.items()}
    shown = {k: v for k, v in totals.items() if v >= HOST_MIN}
    hidden_keys = {hashed(k) for k in shown} | set(shown)
    other = {k: v for k, v in platforms.items() if k not in hidden_keys}
    other_rows = sum(other.values())
    hosts = _rows(shown, flagged)
    if other_rows:
        hosts.append(
            {
                "name": OTHER_HOSTS,
                "rows": other_rows,
                "share": other_rows / flagged if flagged else None,
                "platforms": len(other),
            }
        )
    years = merged.get("year", {})
    return {
        "available": True,
        "flagged": flagged,
        "host_min": HOST_MIN,
        "language": _rows(merged.get("language", {}), flagged),
        "platform": hosts,
        "site_type": _rows(merged.get("site_type", {}), flagged),
        # by year; rows with no year in the path last
        "year": _rows(years, flagged, key=lambda kv: (kv[0] == "none", kv[0])),
        "place": _rows(merged.get("place", {}), flagged),
        "place_rows": sum(merged.get("place", {}).values()),
    }
