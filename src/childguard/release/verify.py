"""`childguard verify RELEASE_DIR`: recompute everything manifest.json claims.

Checks: every listed file exists with its size and SHA-256; no unlisted file under data/;
each shard's rows are counted again and match rows_out; rows_in = rows_out + rows_removed per
shard and in total; manifest.parquet and restored.parquet have the documented schema (no URL,
caption or evidence column), their row counts, well-formed hashes, known reasons, and a
removed_in on every entry. Each problem names the file it is about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from childguard.formats import FormatError, check_url_norm
from childguard.formats.manifest import ReleaseManifest
from childguard.io.columns import ColumnMap
from childguard.io.paths import Shard, file_sha256
from childguard.io.readers import ShardInfo
from childguard.release.identity import SIG_NAME
from childguard.release.manifest import (
    FORBIDDEN_COLUMNS,
    MANIFEST_SCHEMA,
    REASON_RANK,
    RESTORED_SCHEMA,
)
from childguard.release.shards import count_rows


class VerifyError(RuntimeError):
    """Not raised by verify_release, which lists problems in its report instead."""
    pass


@dataclass
class VerifyReport:
    """The result of verifying a release: files checked and problems found."""
    release_dir: Path
    release_id: str | None = None
    files_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when verification found no problem."""
        return not self.problems


def _check_file(root: Path, name: str, rec: dict, rep: VerifyReport) -> bool:
    p = root / name
    rep.files_checked += 1
    if not p.is_file():
        rep.problems.append(f"{p}: missing")
        return False
    size = p.stat().st_size
    if size != rec.get("size"):
        rep.problems.append(f"{p}: size {size} != {rec.get('size')} in manifest.json")
        return False
    digest = file_sha256(p)
    if digest != rec.get("sha256"):
        rep.problems.append(f"{p}: SHA-256 {digest} != {rec.get('sha256')} in manifest.json")
        return False
    return True


def _check_table(root: Path, name: str, schema, rep: VerifyReport, rows: int | None) -> None:
    rep.problems.extend(table_problems(root / name, schema, rows))


def table_problems(p: Path, schema, rows: int | None = None) -> list[str]:
    """What is wrong with a manifest.parquet / restored.parquet (empty: nothing). `apply`
    runs the same checks before it trusts a manifest."""
    problems: list[str] = []
    try:
        t = pq.read_table(p)
    except Exception as e:
        return [f"{p}: unreadable ({e})"]
    leaks = [c for c in t.column_names if c in FORBIDDEN_COLUMNS]
    if leaks:
        problems.append(f"{p}: must not carry column(s) {leaks}")
    if not t.schema.equals(schema, check_metadata=False):
        problems.append(f"{p}: schema {t.schema.names} != expected {schema.names}")
        return problems
    if rows is not None and t.num_rows != rows:
        problems.append(f"{p}: {t.num_rows} rows != {rows} in manifest.json")
    df = pl.from_arrow(t)
    assert isinstance(df, pl.DataFrame)
    bad_hash = df.filter(
        pl.col("url_sha256").is_not_null() & ~pl.col("url_sha256").str.contains("^[0-9a-f]{64}$")
    )
    if bad_hash.height:
        problems.append(f"{p}: {bad_hash.height} malformed url_sha256 value(s)")
    no_key = df.filter(pl.col("url_sha256").is_null() & pl.col("laion_hash").is_null())
    if no_key.height:
        problems.append(f"{p}: {no_key.height} entr(ies) with neither url_sha256 nor laion_hash")
    if "reason" in df.columns:
        unknown = set(df["reason"].drop_nulls().unique().to_list()) - set(REASON_RANK)
        if unknown or df["reason"].null_count():
            problems.append(f"{p}: unknown or missing reason(s) {sorted(unknown)}")
        if df["removed_in"].null_count():
            problems.append(f"{p}: {df['removed_in'].null_count()} entr(ies) lack removed_in")
    return problems


def verify_release(release_dir: str | Path) -> VerifyReport:
    """Check a release's manifest, checksums, row counts and listing; returns the report."""
    root = Path(release_dir)
    rep = VerifyReport(root)
    mj = root / "manifest.json"
    if not mj.exists():
        rep.problems.append(f"{mj}: missing (not a release, or an unfinished one)")
        return rep
    try:
        rec = ReleaseManifest.read(mj)
        check_url_norm(rec.url_norm_version, str(mj), "it needs the childguard that made it")
    except FormatError as e:
        rep.problems.append(str(e))
        return rep
    meta = rec.model_dump(mode="json")
    rep.release_id = rec.release_id
    for key in ("release_id", "created", "tool_version", "config_hash", "policy_hash"):
        if not meta.get(key):
            rep.problems.append(f"{mj}: {key} is missing")

    files = meta.get("files", {})
    for name, schema in (
        ("manifest.parquet", MANIFEST_SCHEMA),
        ("restored.parquet", RESTORED_SCHEMA),
    ):
        if name not in files:
            rep.problems.append(f"{mj}: no entry for {name}")
            continue
        if _check_file(root, name, files[name], rep):
            _check_table(root, name, schema, rep, files[name].get("rows"))

    if rep.ok and "restored.parquet" in files and "manifest.parquet" in files:
        man = pl.read_parquet(root / "manifest.parquet", columns=["url_sha256"])
        back = pl.read_parquet(root / "restored.parquet", columns=["url_sha256"])
        both = back.join(man, on="url_sha256", how="semi").height
        if both:
            rep.problems.append(
                f"{root / 'restored.parquet'}: {both} restored entr(ies) still in manifest.parquet"
            )

    listed: set[Path] = set()
    tot_in = tot_out = tot_rm = 0
    for s in meta.get("shards", []):
        name = s.get("name", "?")
        p = root / name
        listed.add(p.resolve())
        tot_in += s.get("rows_in", 0)
        tot_out += s.get("rows_out", 0)
        tot_rm += s.get("rows_removed", 0)
        if s.get("rows_in") != s.get("rows_out", 0) + s.get("rows_removed", 0):
            rep.problems.append(
                f"{p}: rows_in {s.get('rows_in')} != rows_out {s.get('rows_out')} + "
                f"rows_removed {s.get('rows_removed')}"
            )
        # a release from before the split has no rows_held: its rows_removed held them too
        if "rows_held" in s and s.get("rows_removed") != s.get("rows_held", 0) + s.get(
            "rows_removed_for_cause", 0
        ):
            rep.problems.append(
                f"{p}: rows_removed {s.get('rows_removed')} != rows_removed_for_cause "
                f"{s.get('rows_removed_for_cause')} + rows_held {s.get('rows_held')}"
            )
        if not _check_file(root, name, s, rep):
            continue
        info = ShardInfo(
            Shard(str(p), s.get("format"), s.get("compression"), None, s.get("shard_id", "?")),
            ColumnMap("url", "text", "release"),
            [],
            None,
            header=s.get("header", True),
            delimiter=s.get("delimiter", ","),
        )
        try:
            n = count_rows(info)
        except Exception as e:
            rep.problems.append(f"{p}: cannot count rows ({e})")
            continue
        if n != s.get("rows_out"):
            rep.problems.append(f"{p}: {n} rows != rows_out {s.get('rows_out')}")
    # every file of the release is listed (a signature is checked by --public-key)
    own = {root / "manifest.json", root / SIG_NAME} | {root / n for n in files}
    listed |= {p.resolve() for p in own}
    for p in sorted(root.rglob("*")):
        if (p.is_file() or p.is_symlink()) and p.resolve() not in listed:
            rep.problems.append(f"{p}: not listed in manifest.json")
    counts = meta.get("counts", {})
    for key, val in (("rows_in", tot_in), ("rows_out", tot_out), ("rows_removed", tot_rm)):
        if counts.get(key) != val:
            rep.problems.append(f"{mj}: counts.{key} {counts.get(key)} != {val} (sum of shards)")
    if "manifest.parquet" in files and counts.get("manifest_entries") != files[
        "manifest.parquet"
    ].get("rows"):
        rep.problems.append(f"{mj}: counts.manifest_entries disagrees with manifest.parquet rows")
    return rep
