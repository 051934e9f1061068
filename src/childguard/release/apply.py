"""`childguard apply`: purge a downstream copy of a dataset with a release's manifest.

Targets are files or folders holding parquet/CSV/TSV/JSONL metadata shards and img2dataset
outputs (webdataset tars or `files` folders, with their `.parquet` and `_stats.json`). Rows
match by the SHA-256 of their normalised URL or by LAION `hash`; nothing else of the manifest
is needed, and it reveals nothing else.

Modes: `--out DIR` writes a purged copy (every file, changed or not) into DIR; `--in-place`
replaces each changed file atomically (temp file beside it, then rename), keeping
`<file>.bak` only with `keep_backup`; with neither, a dry run reports and writes nothing. A file with nothing to remove is
never rewritten, so a re-run is a no-op; in `--out` mode a state file records which outputs
are complete for which manifest, so a re-run after a kill redoes only the missing ones.
Local targets only (the purge writes beside each file).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa

from childguard.executors import Executor, LocalExecutor
from childguard.formats import FormatError, check_url_norm
from childguard.formats.manifest import ReleaseManifest
from childguard.io.atomic import write_json_atomic
from childguard.io.columns import URL_NAMES
from childguard.io.paths import (
    FOLDER_FORMATS,
    InputError,
    Shard,
    detect_format,
    file_sha256,
    shard_id_for,
)
from childguard.io.readers import ShardError, ShardInfo, open_shard
from childguard.release.faults import checkpoint
from childguard.release.img2dataset import (
    companion_keys,
    folder_removed_keys,
    folder_samples,
    recount_stats,
    scan_tar,
    write_tar_without,
)
from childguard.release.manifest import PL_MANIFEST
from childguard.release.matcher import Matcher
from childguard.release.shards import find_removals, write_without

STATE_FILE = ".childguard-apply.json"


class ApplyError(RuntimeError):
    """An apply that cannot go ahead or would be wrong (target, manifest, columns, counts)."""
    pass


@dataclass
class FileReport:
    """What apply did to one file: rows or samples seen, removed, and its status."""
    path: str
    kind: str  # parquet | csv | tsv | jsonl | tar | files
    units: int  # rows (tables) or samples (tar / files)
    removed: int  # every row/sample left out, the held ones included
    # rewritten (in place) | written (--out: a purged copy; the input untouched) | unchanged |
    # would-rewrite | copied | done-before | failed
    status: str
    error: str | None = None  # why, when failed
    held: int = 0  # of `removed`, rows left out only while they await review (not for cause)
    dest: str | None = None  # with --out: the file written

    def to_json(self) -> dict:
        """The report as a plain dict (for the JSON report)."""
        return asdict(self)


@dataclass
class Item:
    """One unit of a target to purge: a table, an img2dataset tar or folder, or other."""
    kind: str  # table | tar | files | other
    path: Path
    base: Path  # the TARGET folder it was found under (for --out relative names)
    parquet: Path | None = None  # img2dataset companions
    stats: Path | None = None


@dataclass
class LoadedManifest:
    """A validated manifest: its matcher, release id, SHA-256 and entry count."""
    matcher: Matcher
    release_id: str | None
    sha256: str
    entries: int


def load_manifest(
    path: str | Path, *, expect: str | None = None, public_key: str | Path | None = None
) -> LoadedManifest:
    """A release dir, its manifest.json, or a manifest.parquet, validated before any use: a
    manifest that matches nothing by mistake (a wrong type, every key null) purges nothing
    and says "0 removed", which a holder would take for a clean copy.

    expect / public_key: the release's published identity (identity.py); with either, the
    manifest.parquet must also be the one manifest.json lists (size and SHA-256)."""
    from childguard.release.identity import IdentityError, check_identity
    from childguard.release.manifest import MANIFEST_SCHEMA
    from childguard.release.verify import table_problems

    p = Path(path)
    if p.is_dir():
        p = p / "manifest.parquet"
    elif p.name.endswith(".json"):
        p = p.with_name("manifest.parquet")
    if not p.exists():
        raise ApplyError(f"{p}: no manifest here")
    meta_path = p.with_name("manifest.json")
    meta = ReleaseManifest()
    if meta_path.exists():
        try:
            meta = ReleaseManifest.read(meta_path)
        except FormatError as e:
            if expect or public_key:
                raise ApplyError(str(e)) from None
        # hashes of another URL normaliser would silently match nothing
        try:
            check_url_norm(meta.url_norm_version, str(meta_path), "use the childguard that made it")
        except FormatError as e:
            raise ApplyError(str(e)) from None
    digest = file_sha256(p)
    if expect or public_key:
        try:
            check_identity(p.parent, expect, public_key)
        except IdentityError as e:
            raise ApplyError(str(e)) from None
        listed = meta.files.get("manifest.parquet", {})
        if listed.get("sha256") != digest:
            raise ApplyError(f"{p}: not the manifest.parquet that manifest.json lists")
    # the checks `verify` makes of manifest.parquet (schema, hash shapes, keys, reasons)
    problems = table_problems(p, MANIFEST_SCHEMA)
    if problems:
        raise ApplyError("; ".join(problems[:3]))
    # `reason` tells rows held for review apart from rows removed for cause
    df = pl.read_parquet(p, columns=["url_sha256", "laion_hash", "reason"])
    df = df.cast({k: PL_MANIFEST[k] for k in df.columns})  # type: ignore[arg-type]
    return LoadedManifest(Matcher.from_manifest(df), meta.release_id, digest, df.height)


# ------------------------------------------------------------------------------------------
# discovery


# a release's own files, when a target folder holds one (they are not dataset shards)
RELEASE_FILES = ("manifest.parquet", "restored.parquet", "manifest.json")


def _skip(name: str) -> bool:
    return name.startswith(".") or name.endswith(".bak") or ".tmp-" in name or name in RELEASE_FILES


def discover(target: Path) -> list[Item]:
    """The items under a target file or folder, img2dataset companions grouped in."""
    if not target.exists():
        raise ApplyError(f"{target}: no such file or folder")
    if target.is_file():
        return [_classify_file(target, target.parent)]
    items: list[Item] = []
    companions: set[Path] = set()
    for dirpath, dirnames, filenames in os.walk(target):
        d = Path(dirpath)
        dirnames[:] = sorted(n for n in dirnames if not _skip(n))
        files = {n for n in filenames if not _skip(n)}
        for name in sorted(dirnames):
            stem = d / name
            if f"{name}.parquet" in files or f"{name}_stats.json" in files:
                pq_ = d / f"{name}.parquet"
                st = d / f"{name}_stats.json"
                items.append(Item("files", stem, target, _opt(pq_), _opt(st)))
                companions |= {pq_, st}
        for name in sorted(files):
            if name.endswith(".tar"):
                stem = name[: -len(".tar")]
                pq_ = d / f"{stem}.parquet"
                st = d / f"{stem}_stats.json"
                items.append(Item("tar", d / name, target, _opt(pq_), _opt(st)))
                companions |= {pq_, st}
        # sample folders of img2dataset (`files` format) are walked as items, not as files
        dirnames[:] = [n for n in dirnames if not any(i.path == d / n for i in items)]
        for name in sorted(files):
            p = d / name
            if p in companions or name.endswith(".tar"):
                continue
            items.append(_classify_file(p, target))
    return sorted(items, key=lambda i: str(i.path))


def _opt(p: Path) -> Path | None:
    return p if p.exists() else None


def _classify_file(p: Path, base: Path) -> Item:
    if p.name.endswith(".tar"):
        stem = p.name[: -len(".tar")]
        return Item(
            "tar",
            p,
            base,
            _opt(p.with_name(f"{stem}.parquet")),
            _opt(p.with_name(f"{stem}_stats.json")),
        )
    fmt, _ = detect_format(p.name)
    if fmt is not None and fmt in FOLDER_FORMATS.values():
        return Item("table", p, base)
    return Item("other", p, base)


# ------------------------------------------------------------------------------------------
# applying


def _table_info(path: Path, url_column: str | None) -> ShardInfo:
    fmt, comp = detect_format(path.name)
    shard = Shard(str(path), fmt, comp, path.stat().st_size, shard_id_for(str(path)))
    try:
        return open_shard(shard, url_column)
    except ShardError as e:
        if "text" not in str(e):
            raise ApplyError(f"{e} (name the URL column with --url-column)") from None
        # Matching needs only the URL: a table without a caption column is fine.
        for cand in [url_column] if url_column else URL_NAMES:
            try:
                return open_shard(shard, cand, cand)
            except ShardError:
                continue
        raise ApplyError(f"{e} (name the URL column with --url-column)") from None


def _replace(tmp: Path, final: Path, keep_backup: bool) -> None:
    """Put a finished temp file in place (durably: fsync first), keeping `.bak` if asked."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    if keep_backup:
        bak = final.with_name(final.name + ".bak")
        if not bak.exists():  # the oldest backup is the original; keep it
            try:
                os.link(final, bak)
            except OSError:
                shutil.copy2(final, bak)
    os.replace(tmp, final)


def _tmp(final: Path) -> Path:
    return final.with_name(f".{final.name}.tmp-{os.getpid()}")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def clean_stale_temps(root: Path) -> int:
    """Delete temp files a killed apply left (`.<name>.tmp-<pid>` of a dead pid)."""
    n = 0
    if not root.is_dir():
        return 0
    for p in root.rglob(".*.tmp-*"):
        pid = p.name.split(".tmp-", 1)[1].split("-", 1)[0]
        if p.is_file() and pid.isdigit() and not _pid_alive(int(pid)):
            p.unlink(missing_ok=True)
            n += 1
    return n


class _Run:
    def __init__(
        self,
        manifest: LoadedManifest,
        out: Path | None,
        in_place: bool,
        keep_backup: bool,
        url_column: str | None,
        multi: bool,
    ):
        self.m = manifest
        self.out = out
        self.in_place = in_place
        self.keep_backup = keep_backup
        self.url_column = url_column
        self.multi = multi
        self.state: dict = {}
        if out is not None:
            sp = out / STATE_FILE
            if sp.exists():
                with contextlib.suppress(ValueError):
                    self.state = json.loads(sp.read_text())
            if self.state.get("manifest_sha256") != manifest.sha256:
                self.state = {"manifest_sha256": manifest.sha256, "done": {}}

    @property
    def writing(self) -> bool:
        return self.in_place or self.out is not None

    def dest(self, item: Item, p: Path) -> Path:
        """Where `p` (the item or a companion) goes: itself in place, else under --out."""
        if self.out is None:
            return p
        rel = p.relative_to(item.base)
        return self.out / (item.base.name if self.multi else "") / rel

    def done_before(self, item: Item) -> bool:
        key = str(item.path)
        return self.out is not None and key in self.state.get("done", {})

    def mark_done(self, item: Item, report: FileReport) -> None:
        if self.out is None:
            return
        # where it went is --out's own business: the state is the same whatever the folder
        self.state["done"][str(item.path)] = {
            k: v for k, v in report.to_json().items() if k != "dest"
        }
        write_json_atomic(self.out / STATE_FILE, self.state)

    # tables -------------------------------------------------------------------------------
    def table(self, item: Item, path: Path | None = None) -> FileReport:
        path = path or item.path
        info = _table_info(path, self.url_column)
        rem = find_removals(info, self.m.matcher)
        n = len(rem.removed)
        kind = info.shard.format or "?"
        if not self.writing:
            return FileReport(
                str(path),
                kind,
                rem.rows_in,
                n,
                "would-rewrite" if n else "unchanged",
                held=len(rem.held),
            )
        final = self.dest(item, path)
        if n == 0:
            if self.out is None:
                return FileReport(str(path), kind, rem.rows_in, 0, "unchanged")
            self._copy(path, final)
            return FileReport(str(path), kind, rem.rows_in, 0, "copied", dest=str(final))
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = _tmp(final)
        try:
            kept = write_without(info, rem.removed, tmp)
            if kept + n != rem.rows_in:
                raise ApplyError(f"{path}: {rem.rows_in} rows in != {kept} kept + {n} removed")
            checkpoint("apply:before-replace")
            _replace(tmp, final, self.keep_backup and self.in_place)
        finally:
            tmp.unlink(missing_ok=True)
        return self._done(FileReport(str(path), kind, rem.rows_in, n, "", held=len(rem.held)), final)

    def _done(self, rep: FileReport, final: Path) -> FileReport:
        """A changed file's report: rewritten in place, or written under --out."""
        rep.status = "rewritten" if self.out is None else "written"
        rep.dest = None if self.out is None else str(final)
        return rep

    def _copy(self, src: Path, final: Path) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = _tmp(final)
        try:
            # a link is copied as a link: following it could copy a file from outside the
            # target (`k3.jpg -> /etc/passwd`) into the purged copy
            shutil.copyfile(src, tmp, follow_symlinks=False)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)

    # img2dataset companions ------------------------------------------------------------------
    def companions(self, item: Item) -> list[FileReport]:
        """Stats first (recounted from the parquet minus matches), then the parquet: after a
        kill between the two, the parquet still has matches and both are redone."""
        reports: list[FileReport] = []
        if item.parquet is None:
            if item.stats is not None and self.out is not None:
                self._copy(item.stats, self.dest(item, item.stats))
            return reports
        info = _table_info(item.parquet, self.url_column)
        rem = find_removals(info, self.m.matcher)
        if item.stats is not None and self.writing:
            final = self.dest(item, item.stats)
            if len(rem.removed):
                stats = json.loads(item.stats.read_text())
                new = recount_stats(stats, item.parquet, set(rem.removed.tolist()))
                if self.in_place and self.keep_backup:
                    bak = item.stats.with_name(item.stats.name + ".bak")
                    if not bak.exists():
                        shutil.copy2(item.stats, bak)
                final.parent.mkdir(parents=True, exist_ok=True)
                write_json_atomic(final, new)
            elif self.out is not None:
                self._copy(item.stats, final)
        checkpoint("apply:after-stats")
        reports.append(self.table(item, item.parquet))
        return reports

    # tars ---------------------------------------------------------------------------------
    def tar(self, item: Item) -> list[FileReport]:
        known, extra, extra_held = companion_keys(item.parquet, self.m.matcher)
        scan = scan_tar(item.path, self.m.matcher, extra, known, extra_held)
        removed = scan.removed
        rep = FileReport(
            str(item.path), "tar", scan.samples, len(removed), "unchanged", held=len(scan.held)
        )
        final = self.dest(item, item.path)
        if not self.writing:
            rep.status = "would-rewrite" if removed else "unchanged"
        elif removed:
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = _tmp(final)
            try:
                write_tar_without(item.path, tmp, scan)
                checkpoint("apply:before-replace")
                _replace(tmp, final, self.keep_backup and self.in_place)
            finally:
                tmp.unlink(missing_ok=True)
            self._done(rep, final)
        elif self.out is not None:
            self._copy(item.path, final)
            rep.status, rep.dest = "copied", str(final)
        checkpoint("apply:after-tar")
        return [rep, *self.companions(item)]

    # files folders --------------------------------------------------------------------------
    def files(self, item: Item) -> list[FileReport]:
        known, extra, extra_held = companion_keys(item.parquet, self.m.matcher)
        samples = folder_samples(item.path)
        removed, held = folder_removed_keys(samples, self.m.matcher, extra, known, extra_held)
        rep = FileReport(
            str(item.path), "files", len(samples), len(removed), "unchanged", held=len(held)
        )
        if not self.writing:
            rep.status = "would-rewrite" if removed else "unchanged"
        elif self.in_place:
            bak_dir = item.path.with_name(item.path.name + ".bak")
            for k in sorted(removed):
                # the sidecar last: a re-run after a kill still finds the sample's URL
                for p in sorted(samples[k], key=lambda p: p.name.endswith(".json")):
                    if self.keep_backup:
                        bak_dir.mkdir(exist_ok=True)
                        os.replace(p, bak_dir / p.name)
                    else:
                        p.unlink()
                    checkpoint("apply:file-removed")
            rep.status = "rewritten" if removed else "unchanged"
        else:
            for k, files in samples.items():
                if k in removed:
                    continue
                for p in files:
                    dst = self.dest(item, p)
                    if not dst.is_symlink() and (
                        not dst.exists() or dst.lstat().st_size != p.lstat().st_size
                    ):
                        self._copy(p, dst)
            if removed:
                self._done(rep, self.dest(item, item.path))
            else:
                rep.status, rep.dest = "copied", str(self.dest(item, item.path))
        return [rep, *self.companions(item)]

    def other(self, item: Item) -> list[FileReport]:
        if self.out is not None:
            self._copy(item.path, self.dest(item, item.path))
        return []

    def run_item(self, item: Item) -> list[FileReport]:
        """The work on one item. Touches no shared state (the --out state file is kept by
        the caller), so it may run in a worker process or on another executor.

        A file that cannot be read or written is reported `failed` (with the reason) and the
        run goes on with the others; whatever was already replaced is complete (atomic)."""
        try:
            if item.kind == "table":
                return [self.table(item)]
            return getattr(self, item.kind)(item)
        except (ApplyError, ShardError) as e:
            msg = str(e)
        except (OSError, tarfile.TarError, pa.ArrowException, ValueError) as e:
            text = str(e)  # most name their file already
            msg = (
                text
                if text.startswith(str(item.path))
                else f"{item.path}: {type(e).__name__}: {text}"
            )
        kind = item.kind if item.kind != "table" else (detect_format(item.path.name)[0] or "?")
        return [FileReport(str(item.path), kind, 0, 0, "failed", msg)]


def _process(run: _Run, item: Item) -> list[FileReport]:
    return run.run_item(item)


def apply_manifest(
    manifest: str | Path | LoadedManifest,
    targets: list[str | Path],
    *,
    out: str | Path | None = None,
    in_place: bool = False,
    keep_backup: bool = False,
    url_column: str | None = None,
    on_report: Callable[[FileReport], None] | None = None,
    executor: Executor | None = None,
    workers: int = 1,
) -> list[FileReport]:
    """Purge `targets` with the manifest (module docstring: the modes). Each item's work runs
    on `executor` (default: `workers` local processes; closed at the end); reports come in
    item order and the --out state file is kept here, in the caller."""
    if out is not None and in_place:
        raise ApplyError("choose --out DIR or --in-place, not both")
    if keep_backup and not in_place:
        raise ApplyError("--keep-backup only applies with --in-place")
    m = manifest if isinstance(manifest, LoadedManifest) else load_manifest(manifest)
    paths = [Path(t).resolve() for t in targets]
    out_p = Path(out).resolve() if out is not None else None
    if out_p is not None:
        for t in paths:
            if out_p == t or t in out_p.parents:
                raise ApplyError(f"--out {out_p} is inside the target {t}")
        out_p.mkdir(parents=True, exist_ok=True)
    run = _Run(m, out_p, in_place, keep_backup, url_column, multi=len(paths) > 1)
    if in_place:
        for t in paths:
            clean_stale_temps(t if t.is_dir() else t.parent)
    if out_p is not None:
        clean_stale_temps(out_p)
    reports: list[FileReport] = []

    def emit(reps: list[FileReport]) -> None:
        for rep in reps:
            reports.append(rep)
            if on_report:
                on_report(rep)

    todo: list[Item] = []
    for item in (item for t in paths for item in discover(t)):
        if run.done_before(item):  # --out re-run: finished by an earlier (killed) run
            prev = run.state["done"][str(item.path)]
            emit([FileReport(**{**prev, "status": "done-before"})])
        else:
            todo.append(item)
    with executor or LocalExecutor(workers) as ex:
        try:
            if todo and run.writing:  # workers write there: every node must see it
                where = [run.out] if run.out is not None else {i.base for i in todo}
                for folder in sorted(where):
                    ex.check_shared(folder)
            per_item = ex.map_ordered(_process, [(i,) for i in todo], run)
            for item, reps in zip(todo, per_item, strict=True):
                if reps and all(r.status != "failed" for r in reps):
                    run.mark_done(item, reps[0])
                emit(reps)
        except InputError as e:  # the executor's own (e.g. an unreachable cluster)
            raise ApplyError(str(e)) from None
    return reports
