"""Read a `childguard scan` output folder for the report: run.json, stats, findings.

Only the audit is read, never the source shards: findings hold hashes and redacted evidence,
so nothing read here can carry a caption or an image URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from childguard.formats import FormatError, Record
from childguard.formats.run import RunRecord
from childguard.formats.stats import ShardStats


class ReportError(RuntimeError):
    """An audit folder that cannot be reported on (missing, unreadable or malformed)."""


@dataclass
class Audit:
    """A scan's output folder as read for the report: run.json, shard stats, findings files."""
    root: Path
    run: dict
    stats: list[dict]  # one per shard that has a stats file, sorted by shard_id
    findings_files: list[Path]  # of shards whose stats say "ok"
    unfinished: list[str] = field(default_factory=list)  # listed in run.json, no stats yet

    @property
    def ok_stats(self) -> list[dict]:
        """Stats of the shards that finished."""
        return [s for s in self.stats if s.get("status") == "ok"]

    @property
    def failed_stats(self) -> list[dict]:
        """Stats of the shards that failed."""
        return [s for s in self.stats if s.get("status") != "ok"]

    def findings(self) -> pl.LazyFrame:
        """Every finding of every finished shard, with its shard_id (the file's stem)."""
        if not self.findings_files:
            return _empty_findings()
        lf = pl.scan_parquet(
            [str(p) for p in self.findings_files],
            include_file_paths="_file",
            missing_columns="insert",
        )
        return lf.with_columns(
            pl.col("_file").str.extract(r"([^/\\]+)\.parquet$", 1).alias("shard_id")
        ).drop("_file")

    def collect(self, lf: pl.LazyFrame) -> pl.DataFrame:
        """Collect a query over findings; a broken findings file is named in the error."""
        try:
            return lf.collect(engine="streaming")
        except (pl.exceptions.PolarsError, OSError) as e:
            for p in self.findings_files:
                try:
                    pq.read_metadata(p)
                except Exception as inner:
                    raise ReportError(f"{p}: unreadable findings file: {inner}") from None
            raise ReportError(f"{self.root / 'findings'}: cannot read findings: {e}") from None


def _empty_findings() -> pl.LazyFrame:
    reason = pl.Struct(
        {
            "detector": pl.String,
            "version": pl.String,
            "label": pl.String,
            "score": pl.Float64,
            "threshold": pl.Float64,
            "evidence": pl.String,
        }
    )
    return pl.LazyFrame(
        schema={
            "row_index": pl.Int64,
            "url_sha256": pl.String,
            "laion_hash": pl.Int64,
            "risk": pl.String,
            "action": pl.String,
            "rule": pl.String,
            "reasons": pl.List(reason),
            "shard_id": pl.String,
        }
    )


def _read(model: type[Record], path: Path) -> dict:
    """A record file as the dict it holds (plus its format version), or ReportError."""
    try:
        return model.read(path).dump()
    except FormatError as e:
        raise ReportError(str(e)) from None


def load_audit(root: str | Path) -> Audit:
    """Read and check an audit folder's run.json and stats (ReportError naming the file)."""
    root = Path(root)
    run_path = root / "run.json"
    if not root.is_dir():
        raise ReportError(f"{root}: no such folder (give the --out folder of `childguard scan`)")
    if not run_path.exists():
        raise ReportError(f"{run_path}: not found; is {root} the output folder of a scan?")
    run = _read(RunRecord, run_path)
    stats = [_read(ShardStats, p) for p in sorted((root / "stats").glob("*.json"))]
    stats.sort(key=lambda s: s["shard_id"])
    files = []
    for s in stats:
        if s["status"] != "ok":
            continue
        f = root / "findings" / f"{s['shard_id']}.parquet"
        if not f.exists():
            raise ReportError(f"{f}: missing, but {root / 'stats'} says shard finished")
        files.append(f)
    have = {s["shard_id"] for s in stats}
    unfinished = sorted(
        i["shard_id"] for i in run.get("inputs", []) if i.get("shard_id") not in have
    )
    return Audit(root, run, stats, files, unfinished)


# --- keeping secrets and source text out of what the report shows ------------------------

_USERINFO = re.compile(r"(\b[a-zA-Z][\w+.-]*://)[^/\s@]+@")
_QUERY = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^\s?]*)\?\S*?(?=:\s|:?$|\s)")
# pyarrow's CSV errors quote the offending row, i.e. a URL and caption
_CSV_ROW = re.compile(r"(Expected \d+ columns?, got \d+)\s*:.*", re.DOTALL)
_MAX_ERROR = 300


def safe_path(path: str | None) -> str | None:
    """A shard path without credentials or signed query strings."""
    if path is None:
        return None
    return _QUERY.sub(r"\1", _USERINFO.sub(r"\1", str(path)))


def safe_error(msg: object) -> str:
    """One line of an error message, with quoted source rows and credentials removed."""
    text = str(msg)
    text = _CSV_ROW.sub(r"\1: [row text withheld]", text)
    text = safe_path(text.strip().splitlines()[0] if text.strip() else "") or ""
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 1] + "…"
