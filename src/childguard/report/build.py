"""Compute the report's numbers from an audit folder; write report.html and report.json.

Every number comes from the audit (stats for row counts, findings for what fired) and, when
present, reviewers' decisions from the registry. Nothing here reads the source shards.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from childguard import __version__
from childguard.install import install_hint
from childguard.policy import RISKS
from childguard.report.audit import Audit, ReportError, load_audit, safe_error, safe_path
from childguard.report.facets import summarize as summarize_facets
from childguard.report.stats import adjusted_prevalence, cluster_ratio, wilson

REPORT_FORMAT = 1
FLAGGED_RISKS: tuple[str, ...] = tuple(r for r in RISKS if r != "clean")
ACTIONS: tuple[str, ...] = ("remove", "review", "keep")
MAX_EVIDENCE = 200  # characters of (already redacted) evidence shown per reason
MIN_CLUSTERS = 10  # fewer shards than this: no between-shard interval (too few to estimate)


_REMATCH_KEYS = (
    "finished",
    "lists_before",
    "lists_after",
    "rows_newly_matched",
    "rows_no_longer_matched",
)


@dataclass
class ReportResult:
    """Where the report was written (HTML and JSON) and the numbers it holds."""
    html: Path
    json: Path
    data: dict


# --- review decisions ---------------------------------------------------------------------


def load_review(audit_dir: Path, db_url: str | None) -> tuple[pl.DataFrame | None, str | None]:
    """Reviewers' latest decisions, or (None, why not). A --db that fails is an error."""
    try:
        from childguard.registry.decisions import load_decisions
    except ImportError as e:
        if db_url:
            raise ReportError(
                f"--db needs the registry extras ({install_hint('web')}): {e}"
            ) from None
        return None, "registry support not installed; no review data"
    if db_url:
        from childguard.registry.db import sqlite_path

        try:
            path = sqlite_path(db_url)
        except Exception as e:
            raise ReportError(f"--db {db_url!r} is not a database URL: {e}") from None
        if path is not None and not path.exists():
            raise ReportError(f"--db: no database file at {path}")
    try:
        df = load_decisions(audit_dir, db_url)
    except Exception as e:  # a damaged default database must not stop the report
        if db_url:
            raise ReportError(f"cannot read decisions from --db: {safe_error(e)}") from None
        return None, f"registry beside the audit not readable: {safe_error(e)}"
    if df.height == 0:
        return None, "no review decisions recorded"
    return df, None


# --- computation --------------------------------------------------------------------------


def _counts(d: dict, keys: tuple[str, ...]) -> dict[str, int]:
    return {k: int(d.get(k, 0)) for k in keys}


def _share(x: int, n: int) -> float | None:
    return x / n if n else None


def compute(
    audit: Audit,
    decisions: pl.DataFrame | None = None,
    examples: int = 5,
    review_note: str | None = None,
    now: datetime | None = None,
) -> dict:
    """The report's numbers (report.json's content) from an audit and reviewers' decisions."""
    run = audit.run
    warnings: list[str] = []
    ok = audit.ok_stats
    rows = sum(s["rows"] for s in ok)
    risk_counts = dict.fromkeys(RISKS, 0)
    for s in ok:
        for k, v in s["risk_counts"].items():
            risk_counts[k] += v
    flagged_total = rows - risk_counts["clean"]
    row_errors: dict[str, int] = {}
    for s_ in ok:
        for k, v in (s_.get("row_errors") or {}).items():
            row_errors[k] = row_errors.get(k, 0) + int(v)
    for det, n in sorted(row_errors.items()):
        warnings.append(
            f"{n:,} row(s) could not be fully checked by {det} (see errors/ in the audit): "
            "they are not proven clean"
        )

    findings = audit.findings()
    by_rule = audit.collect(findings.group_by("risk", "action", "rule").len("rows"))
    by_shard_action = audit.collect(findings.group_by("shard_id", "action").len("rows"))
    if by_rule["rows"].sum() != flagged_total:
        warnings.append(
            f"findings hold {by_rule['rows'].sum()} rows, but stats count {flagged_total} "
            "flagged rows; the audit may have been modified"
        )

    action_counts = dict.fromkeys(ACTIONS, 0)
    for r in by_rule.iter_rows(named=True):
        action_counts[r["action"]] = action_counts.get(r["action"], 0) + r["rows"]
    action_counts["keep"] += risk_counts["clean"]

    # per shard ---------------------------------------------------------------------------
    shard_actions: dict[str, dict[str, int]] = {}
    for r in by_shard_action.iter_rows(named=True):
        shard_actions.setdefault(r["shard_id"], {})[r["action"]] = r["rows"]
    inputs = {i.get("shard_id"): i for i in run.get("inputs", [])}
    shards = []
    for s in ok:
        rc = _counts(s["risk_counts"], RISKS)
        flagged = s["rows"] - rc["clean"]
        acts = shard_actions.get(s["shard_id"], {})
        if sum(acts.values()) != flagged:
            warnings.append(
                f"shard {s['shard_id']}: findings file has {sum(acts.values())} rows, "
                f"stats count {flagged} flagged"
            )
        shards.append(
            {
                "shard_id": s["shard_id"],
                "path": safe_path(s.get("path")),
                "format": s.get("format"),
                "convention": s.get("convention")
                or inputs.get(s["shard_id"], {}).get("convention"),
                "rows": s["rows"],
                "risk_counts": rc,
                "flagged": flagged,
                "flagged_share": _share(flagged, s["rows"]),
                "action_counts": _counts(acts, ACTIONS),
                "seconds": s.get("seconds"),
            }
        )
    pictures = _pictures(ok, rows)
    failed = [
        {
            "shard_id": s["shard_id"],
            "path": safe_path(s.get("path")),
            "errors": [safe_error(e) for e in s.get("errors", [])] or ["no reason recorded"],
        }
        for s in audit.failed_stats
    ]

    # per convention ----------------------------------------------------------------------
    conv: dict[str, dict] = {}
    for sh in shards:
        c = conv.setdefault(
            sh["convention"] or "unknown",
            {"shards": 0, "rows": 0, "risk_counts": dict.fromkeys(RISKS, 0)},
        )
        c["shards"] += 1
        c["rows"] += sh["rows"]
        for k, v in sh["risk_counts"].items():
            c["risk_counts"][k] += v
    conventions = [
        {
            "convention": k,
            **v,
            "flagged": v["rows"] - v["risk_counts"]["clean"],
            "flagged_share": _share(v["rows"] - v["risk_counts"]["clean"], v["rows"]),
        }
        for k, v in sorted(conv.items())
    ]

    # prevalence --------------------------------------------------------------------------
    prevalence = []
    ns = [sh["rows"] for sh in shards]
    for risk in (*FLAGGED_RISKS, "any"):
        x = flagged_total if risk == "any" else risk_counts[risk]
        p = wilson(x, rows)
        xs = [sh["flagged"] if risk == "any" else sh["risk_counts"][risk] for sh in shards]
        c = cluster_ratio(xs, ns) if sum(1 for n in ns if n) >= MIN_CLUSTERS else None
        prevalence.append(
            {
                "risk": risk,
                "rows": x,
                "of": rows,
                **_ci(p),
                "cluster_low": c.low if c else None,
                "cluster_high": c.high if c else None,
            }
        )
    shard_shares = [sh["flagged_share"] for sh in shards if sh["rows"]]
    spread = (
        {
            "shards": len(shard_shares),
            "min": min(shard_shares),
            "median": statistics.median(shard_shares),
            "max": max(shard_shares),
        }
        if shard_shares
        else None
    )

    # rules and signals -------------------------------------------------------------------
    rules = [
        {"rule": r["rule"], "risk": r["risk"], "action": r["action"], "rows": r["rows"]}
        for r in by_rule.sort(["rows", "rule"], descending=[True, False]).iter_rows(named=True)
    ]
    signals = _signals(audit, findings, flagged_total)

    # review ------------------------------------------------------------------------------
    review = _review(audit, findings, decisions, risk_counts, rows, review_note)
    decided = _scorer_decisions(audit, findings, rows, action_counts)

    # examples ----------------------------------------------------------------------------
    ex = _examples(audit, findings, examples) if examples > 0 else {}

    policy = run.get("policy") or {}
    summary = run.get("summary") or {}
    return {
        "format": REPORT_FORMAT,
        "generated_by": f"childguard {__version__}",
        "generated_at": (now or _now()).isoformat(timespec="seconds"),
        "run": {
            "tool_version": run.get("tool_version"),
            "status": run.get("status"),
            "config_hash": run.get("config_hash"),
            "policy_version": policy.get("version"),
            "policy_hash": run.get("policy_hash"),
            "policy_rules": [
                {"name": r.get("name"), "risk": r.get("risk"), "when": r.get("when")}
                for r in policy.get("rules", [])
            ],
            "policy_actions": policy.get("actions")
            or {r["risk"]: r["action"] for r in by_rule.iter_rows(named=True)},
            "detectors": [
                {"name": d.get("name"), "version": d.get("version")}
                for d in run.get("detectors", [])
            ],
            # every takedown list and version the scan matched against (not only the detector)
            "lists": [
                {k: lst.get(k) for k in ("name", "version", "type", "entries", "url_key")}
                for d in run.get("detectors", [])
                if d.get("name") == "takedown_lists"
                for lst in d.get("lists", [])
            ],
            "scan_seconds": summary.get("seconds"),
            # `childguard rematch`: the audit brought up to date with newer list versions
            "rematches": [
                {k: m.get(k) for k in _REMATCH_KEYS} for m in run.get("rematches", [])
            ],
        },
        "inputs": {
            "listed": len(run.get("inputs", [])),
            "finished": len(ok),
            "failed": len(failed),
            "unfinished": len(audit.unfinished),
            "bytes": sum(int(i.get("size") or 0) for i in run.get("inputs", [])),
            "rows": rows,
        },
        "failed_shards": failed,
        "unfinished_shards": audit.unfinished,
        "totals": {
            "rows": rows,
            "flagged": flagged_total,
            "risk_counts": risk_counts,
            "action_counts": action_counts,
            "row_errors": row_errors,
        },
        "pictures": pictures,
        "prevalence": prevalence,
        "shard_spread": spread,
        "shards": shards,
        "conventions": conventions,
        "rules": rules,
        "signals": signals,
        "facets": summarize_facets(ok, flagged_total),
        "review": review,
        "scorer_decisions": decided,
        "examples": ex,
        "examples_per_risk": examples,
        "warnings": warnings,
    }


MAX_PICTURE_SHARDS = 20  # shards listed by name in the "no picture-level check" table


def _pictures(ok: list[dict], rows: int) -> dict:
    """How many rows an image or CLIP-embedding detector looked at, and which shards' rows no
    picture-level check reached (no images or embeddings beside them), most rows first."""
    checked = sum(int(s.get("picture_checked", 0)) for s in ok)
    per_shard = [
        {
            "shard_id": s["shard_id"],
            "path": safe_path(s.get("path")),
            "rows": s["rows"],
            "unchecked": s["rows"] - int(s.get("picture_checked", 0)),
        }
        for s in ok
    ]
    missing = sorted(
        (p for p in per_shard if p["unchecked"] > 0), key=lambda p: (-p["unchecked"], p["shard_id"])
    )
    return {
        "checked": checked,
        "unchecked": rows - checked,
        "unchecked_share": _share(rows - checked, rows),
        "shards_unchecked": len(missing),
        "shards": missing[:MAX_PICTURE_SHARDS],
    }


def _now() -> datetime:
    # SOURCE_DATE_EPOCH (reproducible-builds convention) pins the date for byte-identical output
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), UTC)
    return datetime.now(UTC)


def _ci(p) -> dict:
    return {"share": p.estimate, "ci_low": p.low, "ci_high": p.high}


LAION_5B_ROWS = 5_850_000_000


def _scorer_decisions(audit: Audit, findings: pl.LazyFrame, rows: int, actions: dict) -> dict:
    """What the scorer's calibrated probabilities say about the decisions: the expected
    precision of automatic removals (mean P(identifiable) of the rows removed by a scorer
    rule) and the reviewer load the policy implies, per million rows and at LAION-5B scale."""
    sc = audit.collect(
        findings.select("action", "rule", "reasons")
        .explode("reasons")
        .filter(pl.col("reasons").struct.field("detector") == "scorer")
        .select("action", "rule", p=pl.col("reasons").struct.field("score"))
    )
    if not sc.height:
        return {"available": False}
    out: dict = {"available": True, "rows": rows}
    for action in ("remove", "review"):
        d = sc.filter(pl.col("action") == action)
        n = d.height
        out[action] = {
            "rows_scored": n,
            "expected_identifiable": round(float(d["p"].sum()), 1) if n else 0.0,
            "expected_precision": round(float(d["p"].mean()), 3) if n else None,
        }
    n_review = int(actions.get("review", 0))
    per_million = n_review / rows * 1e6 if rows else 0.0
    out["review"]["rows"] = n_review
    out["review"]["per_million"] = round(per_million, 1)
    out["review"]["at_laion_5b"] = int(per_million * LAION_5B_ROWS / 1e6)
    # a reviewer reading ~600 redacted rows an hour (one every ~6 s)
    out["review"]["reviewer_hours"] = round(n_review / 600, 1)
    out["review"]["reviewer_hours_at_laion_5b"] = int(per_million * LAION_5B_ROWS / 1e6 / 600)
    return out


def _signals(audit: Audit, findings: pl.LazyFrame, flagged_total: int) -> list[dict]:
    """Which detector labels fired on flagged rows, per risk: what drives the findings."""
    q = (
        findings.select("risk", "reasons")
        .explode("reasons")
        .drop_nulls("reasons")
        .unnest("reasons")
        .group_by("detector", "version", "label", "risk")
        .agg(pl.len().alias("rows"), pl.col("score").mean().alias("mean_score"))
    )
    df = audit.collect(q)
    out: dict[tuple, dict] = {}
    for r in df.iter_rows(named=True):
        key = (r["detector"], r["version"], r["label"])
        s = out.setdefault(
            key,
            {
                "detector": r["detector"],
                "version": r["version"],
                "label": r["label"],
                "rows": 0,
                "by_risk": dict.fromkeys(FLAGGED_RISKS, 0),
                "_score_sum": 0.0,
            },
        )
        s["rows"] += r["rows"]
        s["by_risk"][r["risk"]] = s["by_risk"].get(r["risk"], 0) + r["rows"]
        s["_score_sum"] += (r["mean_score"] or 0.0) * r["rows"]
    result = []
    for s in out.values():
        s["mean_score"] = s.pop("_score_sum") / s["rows"] if s["rows"] else None
        s["share_of_flagged"] = _share(s["rows"], flagged_total)
        result.append(s)
    result.sort(key=lambda s: (-s["rows"], s["detector"] or "", s["label"] or ""))
    return result


def _review(
    audit: Audit,
    findings: pl.LazyFrame,
    decisions: pl.DataFrame | None,
    risk_counts: dict[str, int],
    rows: int,
    note: str | None,
) -> dict:
    if decisions is None or decisions.height == 0:
        return {"available": False, "note": note or "no review decisions recorded"}
    dec = decisions.select("shard_id", "row_index", "decision", "request_id")
    # rows reviewed because a guardian asked are not a random sample of flagged rows
    scan_dec = dec.filter(pl.col("request_id").is_null()).drop("request_id")
    on_findings = findings.select("shard_id", "row_index", "risk").join(
        scan_dec.lazy(), on=["shard_id", "row_index"], how="inner"
    )
    joined = audit.collect(on_findings.group_by("risk", "decision").len("rows"))
    # how spread the reviewed rows are: a queue worked in order covers few shards
    spread = {
        r["risk"]: r["shards"]
        for r in audit.collect(
            on_findings.group_by("risk").agg(pl.col("shard_id").n_unique().alias("shards"))
        ).iter_rows(named=True)
    }
    flagged_in = {
        r["risk"]: r["shards"]
        for r in audit.collect(
            findings.group_by("risk").agg(pl.col("shard_id").n_unique().alias("shards"))
        ).iter_rows(named=True)
    }
    tally: dict[str, dict[str, int]] = {
        r: dict.fromkeys(("remove", "keep", "escalate"), 0) for r in FLAGGED_RISKS
    }
    for r in joined.iter_rows(named=True):
        tally.setdefault(r["risk"], {})[r["decision"]] = r["rows"]
    matched = int(joined["rows"].sum()) if joined.height else 0
    by_risk = []
    for risk in FLAGGED_RISKS:
        t = tally[risk]
        confirmed, rejected, escalated = t.get("remove", 0), t.get("keep", 0), t.get("escalate", 0)
        flagged = risk_counts[risk]
        adj = adjusted_prevalence(flagged, rows, confirmed, rejected)
        by_risk.append(
            {
                "risk": risk,
                "flagged": flagged,
                "reviewed": confirmed + rejected + escalated,
                "confirmed": confirmed,
                "rejected": rejected,
                "escalated": escalated,
                "coverage": _share(confirmed + rejected + escalated, flagged),
                "reviewed_shards": spread.get(risk, 0),
                "flagged_shards": flagged_in.get(risk, 0),
                "precision": adj.precision.estimate,
                "precision_low": adj.precision.low,
                "precision_high": adj.precision.high,
                "adjusted_share": adj.share,
                "adjusted_low": adj.low,
                "adjusted_high": adj.high,
                "confirmed_rows_estimate": adj.confirmed_rows,
                "confirmed_rows_low": adj.confirmed_low,
                "confirmed_rows_high": adj.confirmed_high,
            }
        )
    return {
        "available": True,
        "decisions": decisions.height,
        "request_decisions": decisions.height - scan_dec.height,
        "scan_decisions_on_findings": matched,
        "scan_decisions_elsewhere": scan_dec.height - matched,
        "by_risk": by_risk,
    }


def _examples(audit: Audit, findings: pl.LazyFrame, n: int) -> dict[str, list[dict]]:
    """Up to n flagged rows per risk, in url_sha256 order: a fixed pseudo-random sample.

    Only shard id, row index, rule and the reasons (already redacted) are kept; the hash
    itself is used for ordering and dropped.
    """
    out: dict[str, list[dict]] = {}
    for risk in FLAGGED_RISKS:
        df = audit.collect(
            findings.filter(pl.col("risk") == risk)
            .sort("url_sha256", "shard_id", "row_index", nulls_last=True)
            .head(n)
            .select("shard_id", "row_index", "action", "rule", "reasons")
        )
        rows = []
        for r in df.iter_rows(named=True):
            reasons = [
                {
                    "detector": x["detector"],
                    "version": x["version"],
                    "label": x["label"],
                    "score": x["score"],
                    "threshold": x["threshold"],
                    "evidence": _clip(x["evidence"]),
                }
                for x in (r["reasons"] or [])
            ]
            rows.append(
                {
                    **{k: r[k] for k in ("shard_id", "row_index", "action", "rule")},
                    "reasons": reasons,
                }
            )
        if rows:
            out[risk] = rows
    return out


def _clip(s: str | None) -> str | None:
    if s is None or len(s) <= MAX_EVIDENCE:
        return s
    return s[: MAX_EVIDENCE - 1] + "…"


# --- entry point --------------------------------------------------------------------------


def build_report(
    audit_dir: str | Path,
    out: str | Path | None = None,
    db_url: str | None = None,
    examples: int = 5,
    plots: bool = True,
    now: datetime | None = None,
) -> ReportResult:
    """Write `out` (default AUDIT_DIR/report.html) and a JSON twin with the same numbers."""
    from childguard.io.atomic import write_bytes_atomic, write_json_atomic
    from childguard.report.render import render_html

    audit_dir = Path(audit_dir)
    if examples < 0:
        raise ReportError(f"--examples must be 0 or more, got {examples}")
    audit = load_audit(audit_dir)
    decisions, note = load_review(audit_dir, db_url)
    data = compute(audit, decisions, examples, note, now)
    html_path = Path(out) if out is not None else audit_dir / "report.html"
    json_path = html_path.with_suffix(".json")
    if json_path == html_path:
        json_path = html_path.with_name(html_path.name + ".json")
    html = render_html(data, plots=plots)
    write_json_atomic(json_path, data)
    write_bytes_atomic(html_path, html.encode("utf-8"))
    return ReportResult(html_path, json_path, data)
