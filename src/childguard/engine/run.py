"""One scan run, whichever executor runs its tasks: resolve, plan, account, close.

`ScanRun` does everything around the tasks: resolve policy and detectors, refuse a resume
with another configuration, plan shards, write run.json, count task results, finalise each
shard when its last task is in, and total the run. The local and Ray executors only decide
where `run_task` runs and hand each `TaskResult` to `ScanRun.on_result`.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from childguard import __version__
from childguard.config import ScanConfig
from childguard.engine.progress import ScanProgress
from childguard.engine.state import OutLayout
from childguard.engine.tasks import (
    ScanContext,
    ShardPlan,
    TaskResult,
    build_detectors,
    fail_shard,
    finalize_shard,
    plan_shard,
    resolve_detector_names,
)
from childguard.formats import FormatError, check_url_norm
from childguard.formats.run import RunRecord
from childguard.formats.stats import ShardStats
from childguard.io.atomic import clean_stale_temps
from childguard.io.paths import InputError, check_out_dir, expand_inputs
from childguard.io.readers import ShardInfo, Task
from childguard.policy import RISKS, Policy, load_policy
from childguard.urls import URL_NORM_VERSION


class ScanConfigMismatch(RuntimeError):
    """A resume refused: the folder holds a scan made with another configuration."""


@dataclass
class ScanResult:
    """A finished scan's totals: shards, failures, rows, rows per risk, time and row errors."""
    out: Path
    shards: list[dict] = field(default_factory=list)  # per-shard stats
    failed: list[dict] = field(default_factory=list)
    rows: int = 0
    risk_counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RISKS, 0))
    seconds: float = 0.0
    skipped_shards: int = 0
    rows_scanned: int = 0  # rows this run read (not those of shards finished before it)
    tasks: int = 0  # tasks this run ran
    row_errors: dict[str, int] = field(default_factory=dict)  # detector -> rows it failed on
    picture_checked: int = 0  # rows whose image or embedding a detector looked at

    @property
    def ok(self) -> bool:
        """True when no shard failed."""
        return not self.failed


def prepare_run(config: ScanConfig, policy: Policy | None = None, restart: bool = False):
    """Resolve policy/detectors, check resume compatibility, write run.json. Shared by engines."""
    check_out_dir(config.out)
    policy = policy or load_policy()
    names = resolve_detector_names(policy, config.detectors, config.plugins)
    ctx = ScanContext(
        out=str(Path(config.out).resolve()),
        policy=policy,
        detector_names=names,
        detector_options=config.detector_options,
        batch_rows=config.batch_rows,
        url_col=config.url_col,
        text_col=config.text_col,
        plugins=config.plugins,
    )
    dets = build_detectors(ctx)  # fail fast in the parent on a bad policy or detector
    # a review band sized in rows per million becomes a concrete rule for the running model
    policy = ctx.policy = policy.resolve(dets)
    described = [d.describe() for d in dets]
    # workers rebuild detectors from the options the parent resolved (e.g. takedown lists
    # pinned at name@version), so every worker matches what run.json records
    ctx.detector_options = {d["name"]: dict(d["options"]) for d in described}
    config_hash = config.fingerprint(policy, described)
    layout = OutLayout(Path(ctx.out))
    if restart:
        layout.wipe()
    prev = _previous_run(layout)
    if prev is not None:
        if (prev.model_extra or {}).get("rematch_unfinished"):
            from childguard.install import command_name

            raise ScanConfigMismatch(
                f"{layout.root}: a `rematch` of this audit was interrupted; finish it first: "
                f"{command_name()} rematch {layout.root} (or start a new audit: another --out, "
                "or --restart to discard this one)"
            )
        if prev.config_hash not in (None, config_hash):
            raise ScanConfigMismatch(
                _mismatch(layout, prev.dump(), config, policy, described, config_hash)
            )
        try:
            check_url_norm(
                prev.url_norm_version, str(layout.run_json), "use another --out or --restart"
            )
        except FormatError as e:
            raise ScanConfigMismatch(str(e)) from None
    clean_stale_temps(layout.root)
    _record_list_refs(layout.root, described)
    # a folder scanned with its own audit inside must not read the findings as shards
    out_root = Path(ctx.out)
    shards = [s for s in expand_inputs(config.inputs) if not _under(s.path, out_root)]
    if not shards:
        raise InputError(f"no input shards outside the output folder {out_root}")
    return ctx, dets, described, config_hash, layout, shards


def _mismatch(layout, prev: dict, config, policy, described, config_hash) -> str:
    """The refusal of a resume, naming what changed (engine/config_diff.py)."""
    from childguard.engine.config_diff import compare, mismatch_message
    from childguard.install import command_name

    new = {
        "config": config.model_dump(mode="json"),
        "policy": policy.model_dump(mode="json"),
        "policy_hash": policy.fingerprint(),
        "detectors": described,
    }
    diff = compare(prev, new)
    command = command_name()
    chosen = (config.detector_options.get("takedown_lists") or {}).get("lists")
    if chosen is not None:
        command_args = f" --lists {','.join(map(str, chosen))}" if chosen else " --lists ''"
    else:
        command_args = ""
    return mismatch_message(
        str(layout.root), diff, command, prev.get("config_hash"), config_hash, command_args
    )


def _record_list_refs(root: Path, described: list[dict]) -> None:
    """Tell the list store which list versions this audit pins (`lists rm` reads it)."""
    from childguard.engine.config_diff import LISTS_DETECTOR, list_versions
    from childguard.lists.refs import record

    for d in described:
        home = (d.get("options") or {}).get("home") if d.get("name") == LISTS_DETECTOR else None
        if home:
            record(Path(home) / "lists", root, list_versions(described))


def _previous_run(layout: OutLayout) -> RunRecord | None:
    """The run.json an earlier run left, or None (none, or unreadable: written again)."""
    if not layout.run_json.exists():
        return None
    try:
        return RunRecord.read(layout.run_json)
    except FormatError:
        return None


def _under(path: str, root: Path) -> bool:
    if "://" in path and not path.startswith("file://"):
        return False
    return Path(path.removeprefix("file://")).resolve().is_relative_to(root)


def write_run_json(layout, config, ctx, described, config_hash, plans, status, result=None):
    """Write run.json: what this scan runs with, its inputs, and its totals once done."""
    inputs = [
        (p.info.to_json() if p.info is not None else {**p.shard.to_json(), "error": p.error})
        for p in plans
    ]
    prev = _previous_run(layout)
    extra: dict = {}
    if prev is not None:
        # keep what earlier (resumed) runs learnt about shards finished before this one
        known = {i["shard_id"]: i for i in prev.inputs}
        inputs = [known.get(i["shard_id"], i) if "columns" not in i else i for i in inputs]
        extra = dict(prev.model_extra or {})  # records other steps added (e.g. a rematch)
    fields: dict = {
        "tool": "childguard",
        "tool_version": __version__,
        "status": status,
        "config": config.model_dump(mode="json"),
        "config_hash": config_hash,
        "policy": ctx.policy.model_dump(mode="json"),
        "policy_hash": ctx.policy.fingerprint(),
        "detectors": described,
        "inputs": inputs,
        "url_norm_version": URL_NORM_VERSION,
    }
    if result is not None:
        fields["summary"] = {
            "rows": result.rows,
            "risk_counts": result.risk_counts,
            "row_errors": result.row_errors,
            "picture_checked": result.picture_checked,
            "picture_unchecked": result.rows - result.picture_checked,
            "shards": len(result.shards),
            "failed_shards": [f["shard_id"] for f in result.failed],
            "seconds": round(result.seconds, 3),
        }
    RunRecord.new(**extra, **fields).write(layout.run_json)


class ScanRun:
    """The bookkeeping of one scan; an executor feeds it task results."""

    def __init__(
        self,
        config: ScanConfig,
        policy: Policy | None = None,
        *,
        restart: bool = False,
        progress: bool | None = None,
    ) -> None:
        self.t0 = time.perf_counter()
        self.config = config
        (
            self.ctx,
            self.dets,
            self.described,
            self.config_hash,
            self.layout,
            shards,
        ) = prepare_run(config, policy, restart)
        with ThreadPoolExecutor(max_workers=min(16, max(1, len(shards)))) as tp:
            self.plans: list[ShardPlan] = list(tp.map(lambda s: plan_shard(s, self.ctx), shards))
        self._write("running")
        self.result = ScanResult(out=self.layout.root)
        for p in self.plans:
            if p.error is not None:
                self.result.failed.append(fail_shard(p.shard, self.ctx, [p.error]))
        self.todo = [p for p in self.plans if not p.done and p.error is None]
        rows_known = all(p.info is not None and p.info.num_rows is not None for p in self.todo)
        total_rows = sum((p.info.num_rows or 0) for p in self.todo if p.info is not None)
        self.progress = ScanProgress(
            total_rows if rows_known else None,
            sum(len(p.pending) for p in self.todo),
            enabled=progress,
            shards=len(self.todo),
            t0=self.t0,
        )
        self._remaining = {p.shard.shard_id: len(p.pending) for p in self.todo}
        self._errors: dict[str, list[str]] = {}
        self._by_id = {p.shard.shard_id: p for p in self.todo}

    @property
    def work(self) -> list[tuple[ShardInfo, Task]]:
        """Every task still to run, in plan order."""
        return [(p.info, t) for p in self.todo for t in p.pending if p.info is not None]

    def __enter__(self) -> ScanRun:
        self.progress.__enter__()
        for p in self.todo:  # shards whose tasks all finished in an earlier run
            if not p.pending:
                self._finish(p)
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def on_result(self, r: TaskResult) -> None:
        """Count one task's result; finalise its shard when its last task is in."""
        self.progress.advance(r.rows)
        if r.error:
            self._errors.setdefault(r.shard_id, []).append(r.error)
        self._remaining[r.shard_id] -= 1
        if self._remaining[r.shard_id] == 0:
            self._finish(self._by_id[r.shard_id])

    def _finish(self, p: ShardPlan) -> None:
        errs = self._errors.get(p.shard.shard_id)
        if errs:
            self.result.failed.append(fail_shard(p.shard, self.ctx, errs))
            return
        try:
            self.result.shards.append(finalize_shard(p, self.ctx))
        except RuntimeError as e:
            self.result.failed.append(fail_shard(p.shard, self.ctx, [str(e)]))

    def _write(self, status: str, result: ScanResult | None = None) -> None:
        write_run_json(
            self.layout,
            self.config,
            self.ctx,
            self.described,
            self.config_hash,
            self.plans,
            status,
            result,
        )

    def close(self) -> ScanResult:
        """Totals over every shard (finished now or earlier) and the final run.json."""
        result = self.result
        for p in self.plans:
            if p.done:
                result.skipped_shards += 1
                result.shards.append(ShardStats.read(self.layout.stats(p.shard.shard_id)).dump())
        result.shards.sort(key=lambda s: s["shard_id"])
        for s in result.shards:
            result.rows += s["rows"]
            for k, v in s["risk_counts"].items():
                result.risk_counts[k] = result.risk_counts.get(k, 0) + v
            for k, v in s.get("row_errors", {}).items():
                result.row_errors[k] = result.row_errors.get(k, 0) + v
            result.picture_checked += int(s.get("picture_checked", 0))
        result.seconds = time.perf_counter() - self.t0
        result.rows_scanned, result.tasks = self.progress.rows, self.progress.tasks
        self.progress.done(result.seconds)
        self._write("finished" if result.ok else "finished_with_errors", result)
        return result
