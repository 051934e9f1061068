"""`childguard scan`, `childguard rematch` and `childguard demo`."""

from __future__ import annotations

import functools
import shutil
import sys
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

# the scan's own modules (config, policy: pyarrow, polars, pydantic) are imported by the
# functions that use them: `childguard.cli` imports this module for every command
if TYPE_CHECKING:
    from childguard.config import ScanConfig
    from childguard.vision.scan_option import ImagesOption

err = Console(stderr=True)
out = Console()


def _summary(result, title: str = "scan summary") -> None:
    from rich.table import Table

    table = Table(title=title, show_edge=False)
    table.add_column("risk")
    table.add_column("rows", justify="right")
    table.add_column("share", justify="right")
    total = max(result.rows, 1)
    for risk in ("blocked", "identifiable_child", "child", "clean"):
        n = result.risk_counts.get(risk, 0)
        table.add_row(risk, f"{n:,}", f"{100 * n / total:.2f}%")
    table.add_row("[bold]total", f"[bold]{result.rows:,}", "")
    out.print(table)
    for det, n in sorted(getattr(result, "row_errors", {}).items()):
        out.print(
            f"[yellow]{n:,} row(s) could not be fully checked by {det}[/yellow] "
            f"(listed in {result.out / 'errors'}: not proven clean)"
        )
    unchecked = result.rows - getattr(result, "picture_checked", 0)
    if unchecked:
        out.print(
            f"{unchecked:,} of {result.rows:,} row(s) had no picture-level check "
            "(no images or CLIP embeddings for them)"
        )
    # the same figures as the progress lines' last one: rows and tasks of this run, its clock
    rows = getattr(result, "rows_scanned", result.rows)
    rate = rows / result.seconds if result.seconds > 0 else 0.0
    ok = len(result.shards) - result.skipped_shards
    skipped = f", {result.skipped_shards} already done" if result.skipped_shards else ""
    tasks = getattr(result, "tasks", 0)
    out.print(
        f"{ok} shard(s) scanned ({tasks} task(s)){skipped}, {len(result.failed)} failed: "
        f"{rows:,} rows in {result.seconds:,.1f} s ({rate:,.0f} rows/s). "
        f"Findings: {result.out / 'findings'}",
        soft_wrap=True,
    )


def _warn_unscored_embeddings(cfg: ScanConfig) -> None:
    """An `img_emb/` beside the inputs with no CLIP prompt file to score it: say so up front
    (the stage is skipped and its rows are counted as having no picture-level check)."""
    clip = cfg.detector_options.get("clip", {})
    if clip.get("prompts") or clip.get("embeddings"):
        return
    from childguard.vision.embeddings import EMB_DIR
    from childguard.vision.prompts import default_prompt_file

    local = [Path(i) for i in cfg.inputs if "://" not in i]
    found = next(
        (d for p in local for d in (p / EMB_DIR, p.parent / EMB_DIR) if d.is_dir()), None
    )
    if found is not None and not default_prompt_file().is_file():
        err.print(
            f"[yellow]note:[/yellow] {escape(str(found))} holds CLIP embeddings, but there is no "
            "prompt file to score them: run `childguard clip-prompts` once (with the internet) "
            "or pass --clip-prompts FILE; this scan checks no picture",
            highlight=False,
        )


# one local file under this size is one task (a 131,072-row batch of LAION rows is ~8 MB of
# parquet): its scan runs in this process, and workers started early would only cost their
# start (~0.25 s wall and ~0.6 s CPU on a 1,500-row file)
_ONE_TASK_BYTES = 4 << 20


def _more_than_one_task(inputs: list[str]) -> bool:
    """Might the inputs make more than one task? False only for one small local file."""
    if len(inputs) != 1 or "://" in inputs[0]:
        return True
    try:
        path = Path(inputs[0]).expanduser()
        return not path.is_file() or path.stat().st_size >= _ONE_TASK_BYTES
    except OSError:
        return True  # the scan reports what is wrong with it


def run_scan_command(
    cfg: ScanConfig,
    policy_file: Path | None,
    config_file: Path | None,
    restart: bool,
    progress: bool | None,
    images: ImagesOption | None = None,
    url_index: bool = False,
) -> int:
    """Run a scan from the CLI's options (and a --config file), print its summary; exit code."""
    from childguard.config import ScanConfig, load_config_file
    from childguard.install import install_hint
    from childguard.policy import PolicyError, load_policy

    policy = None
    try:
        if config_file is not None:
            scan_fields, policy = load_config_file(config_file)
            merged = {
                **scan_fields,
                **{k: v for k, v in cfg.model_dump().items() if k in cfg.model_fields_set},
            }
            cfg = ScanConfig.model_validate(merged)
        if policy_file is not None:
            policy = load_policy(policy_file)
        # --- issue 13: images (picture-level checks; `childguard.vision.scan_option`) ---
        if images is not None:
            from childguard.vision.scan_option import apply_images_option

            cfg, policy = apply_images_option(cfg, policy, images)
    except (PolicyError, ValueError) as e:
        err.print(f"[red]error:[/red] {e}")
        return 2
    _warn_unscored_embeddings(cfg)
    executor = None
    if cfg.engine == "ray":
        try:
            from childguard.engine.ray import run_scan as run
        except ImportError as e:
            err.print(
                f"[red]error:[/red] --engine ray needs Ray: {escape(install_hint('ray'))} ({e})"
            )
            return 2
    elif cfg.engine == "local":
        from childguard.executors.local import EARLY_START_MAX, LocalExecutor

        executor = LocalExecutor(cfg.workers)
        if 1 < cfg.workers <= EARLY_START_MAX and _more_than_one_task(cfg.inputs):
            executor.start()  # the workers import while this process imports and plans
        from childguard.engine.local import run_scan

        run = functools.partial(run_scan, executor=executor)
    else:
        err.print(f"[red]error:[/red] unknown engine {cfg.engine!r} (local or ray)")
        return 2
    from childguard.detect.base import DetectorError
    from childguard.engine.local import ScanConfigMismatch
    from childguard.io.paths import InputError
    from childguard.scorer.model import ModelError

    try:
        result = run(cfg, policy, restart=restart, progress=progress)
    except (InputError, ScanConfigMismatch, PolicyError, DetectorError, ModelError) as e:
        # soft_wrap: a command in the message is never broken mid-path
        err.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
        return 2
    finally:
        if executor is not None:
            executor.close()  # run_scan closed it already, unless an import failed first
    _summary(result)
    for f in result.failed:
        # a shard error names its path already ("path, row 10: reason"): print the path once
        tails = [
            e.removeprefix(f["path"]) if e.startswith(f["path"]) else f": {e}" for e in f["errors"]
        ]
        print(f"FAILED {f['path']}{'; '.join(tails)[:500]}", file=sys.stderr)
    if url_index and result.ok:
        return _build_url_index(cfg)
    return 0 if result.ok else 1


def _build_url_index(cfg: ScanConfig) -> int:
    """`scan --url-index`: index the scanned shards' URL keys (and LAION hashes)."""
    from childguard.registry.jobs import JobError
    from childguard.registry.url_index import UrlIndexError, build_index

    try:
        meta = build_index(
            Path(cfg.out), engine=cfg.engine, workers=cfg.workers, ray_address=cfg.ray_address
        )
    except (JobError, UrlIndexError) as e:
        err.print(f"[red]error:[/red] URL index: {e}")
        return 1
    size = sum(meta["bytes"].values())
    out.print(f"URL index: {meta['rows']:,} rows, {size / 1e6:.1f} MB in {Path(cfg.out) / 'index'}")
    return 0


def scan(
    inputs: Annotated[list[str], typer.Argument(help="Files, folders, globs or fsspec URLs.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Audit folder to write (default: audit).")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Processes (default: all cores).")] = None,
    engine: Annotated[str | None, typer.Option(help="local (default) or ray.")] = None,
    url_col: Annotated[str | None, typer.Option(help="URL column (default: detected).")] = None,
    text_col: Annotated[
        str | None, typer.Option(help="Caption column (default: detected).")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="TOML/YAML with [scan] and [policy].")] = None,
    policy: Annotated[Path | None, typer.Option(help="Policy file (TOML/YAML).")] = None,
    detectors: Annotated[str | None, typer.Option(help="Comma-separated detector names.")] = None,
    lists: Annotated[str | None, typer.Option(help="Takedown lists to use (default: all).")] = None,
    batch_rows: Annotated[
        int | None, typer.Option(help="Rows per batch (memory bound; default 131,072).")
    ] = None,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
    restart: Annotated[bool, typer.Option(help="Discard earlier results in --out.")] = False,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Progress bar (default: on a terminal; plain lines otherwise).",
        ),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(help="Scorer model from `childguard train` (default: the shipped one)."),
    ] = None,
    # --- issue 13: images (picture-level checks) ---
    images: Annotated[
        bool,
        typer.Option(
            "--images",
            help="Also check each row's picture: faces, apparent age, unsafe score, PDQ "
            "(needs the vision extra). Pictures: the img2dataset tar/folder beside each shard, "
            "--image-source, or with --fetch the row's URL.",
        ),
    ] = False,
    image_source: Annotated[
        list[str] | None,
        typer.Option(
            "--image-source",
            help="img2dataset output folder, tar or folder of pictures, matched to rows by "
            "key or URL (repeatable; with --images).",
        ),
    ] = None,
    fetch: Annotated[
        bool,
        typer.Option(
            "--fetch",
            help="With --images: fetch pictures found in no source from their URL (named user "
            "agent, per-host rate limit, robots.txt and X-Robots-Tag noai honoured).",
        ),
    ] = False,
    image_batch: Annotated[
        int, typer.Option(help="With --images: pictures per model batch.")
    ] = 64,
    image_device: Annotated[
        str, typer.Option(help="With --images: auto (CUDA when present), cpu or cuda.")
    ] = "auto",
    image_gpus: Annotated[
        float, typer.Option(help="With --images and --engine ray: GPUs per image worker.")
    ] = 0.0,
    embeddings: Annotated[
        Path | None,
        typer.Option(
            help="Folder of CLIP image embeddings img_emb_NNNN.npy, row-aligned with the "
            "shards (default: an img_emb/ folder beside the shards)."
        ),
    ] = None,
    clip_prompts: Annotated[
        Path | None,
        typer.Option(
            help="CLIP prompt or probe file for the embeddings' model (default: the one "
            "`childguard clip-prompts` cached)."
        ),
    ] = None,
    url_index: Annotated[
        bool,
        typer.Option(
            "--url-index",
            help="Also index every row's URL key and LAION hash (for removal requests).",
        ),
    ] = False,
) -> None:
    """Scan dataset shards for children's personal data; write findings under --out."""
    from childguard.config import ScanConfig

    fields: dict = {"inputs": inputs}
    if out is not None:
        fields["out"] = str(out)
    if engine is not None:
        fields["engine"] = engine
    if batch_rows is not None:
        fields["batch_rows"] = batch_rows
    if workers is not None:
        fields["workers"] = workers
    if url_col:
        fields["url_col"] = url_col
    if text_col:
        fields["text_col"] = text_col
    if detectors:
        fields["detectors"] = [d.strip() for d in detectors.split(",") if d.strip()]
    if lists is not None:
        fields["detector_options"] = {
            "takedown_lists": {"lists": [x.strip() for x in lists.split(",") if x.strip()]}
        }
    if model is not None:
        if not model.is_file():
            raise typer.BadParameter(f"model file not found: {model}", param_hint="--model")
        fields.setdefault("detector_options", {})["scorer"] = {"model": str(model.resolve())}
    if embeddings is not None or clip_prompts is not None:
        if clip_prompts is not None and not clip_prompts.is_file():
            raise typer.BadParameter(f"file not found: {clip_prompts}", param_hint="--clip-prompts")
        clip: dict[str, str] = {}
        if embeddings is not None:
            clip["embeddings"] = str(embeddings.resolve())
        if clip_prompts is not None:
            clip["prompts"] = str(clip_prompts.resolve())
        fields.setdefault("detector_options", {})["clip"] = clip
    if ray_address:
        fields["ray_address"] = ray_address
    cfg = ScanConfig(**fields)
    images_opt = None
    # --- issue 13: images ---
    if images:
        from childguard.vision.scan_option import ImagesOption

        images_opt = ImagesOption(
            sources=list(image_source or []),
            fetch=fetch,
            batch_size=image_batch,
            device=image_device,
            num_gpus=image_gpus,
        )
    elif fetch or image_source:
        raise typer.BadParameter("--fetch and --image-source need --images", param_hint="--images")
    raise typer.Exit(run_scan_command(cfg, policy, config, restart, progress, images_opt, url_index))


def rematch(
    audit_dir: Annotated[Path, typer.Argument(help="Audit folder written by `childguard scan`.")],
    lists: Annotated[
        str | None,
        typer.Option(help="Takedown lists to use from now on, as scan --lists (default: the audit's)."),
    ] = None,
) -> None:
    """Bring an audit up to date with the current takedown-list versions (lists only)."""
    from childguard.engine.rematch import RematchError, rematch_audit
    from childguard.lists.store import ListStoreError

    chosen = None if lists is None else [x.strip() for x in lists.split(",") if x.strip()]
    try:
        res = rematch_audit(audit_dir, chosen, log=lambda m: err.print(escape(m), soft_wrap=True))
    except (RematchError, ListStoreError, ValueError) as e:
        err.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(2) from None

    def fmt(v: dict[str, int]) -> str:
        return ", ".join(f"{k}@v{n}" for k, n in sorted(v.items())) or "none"

    if res.up_to_date:
        hint = " (the audit pins these versions: --lists NAME follows a list's newest)"
        out.print(
            f"{audit_dir}: already matched against {fmt(res.after)}; nothing to do"
            + (hint if res.pinned else ""),
            soft_wrap=True,
        )
        return
    out.print(
        f"{audit_dir}: lists {fmt(res.before)} -> {fmt(res.after)}; {res.shards} shard(s), "
        f"{res.rows:,} rows re-matched in {res.seconds:.2f} s: {res.newly_matched:,} newly "
        f"matched, {res.no_longer_matched:,} no longer matched, {res.rows_rescored:,} row(s) "
        "decided again (recorded in run.json; re-running the scan now resumes)",
        soft_wrap=True,
    )


def demo_sample_dir() -> Path:
    """The bundled synthetic sample's folder."""
    return Path(str(files("childguard.demo") / "data"))


def demo(
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Folder for the sample data and its audit (replaced)."),
    ] = Path("childguard-demo"),
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 2,
) -> None:
    """Scan the bundled synthetic sample (offline, seconds) and print a summary."""
    from childguard.config import ScanConfig
    from childguard.install import command_name

    src = demo_sample_dir()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copytree(src, out / "data")
    # an empty list store of its own: the demo never reads (or pins) the user's lists
    cfg = ScanConfig(
        inputs=[str(out / "data")],
        out=str(out / "audit"),
        workers=workers,
        detector_options={"takedown_lists": {"home": str((out / "lists-home").resolve())}},
    )
    code = run_scan_command(cfg, None, None, restart=True, progress=None)
    if code == 0:
        cmd = command_name()
        out_console = Console()
        out_console.print(
            f"\nSample data: {out / 'data'}\nAudit: {out / 'audit'} "
            "(findings/*.parquet hold redacted evidence only)\n"
            f"Next: {cmd} report {out / 'audit'}   |   "
            f"{cmd} release {out / 'audit'} --out {out / 'release'}",
            soft_wrap=True,  # a path is never broken across lines
        )
    raise typer.Exit(code)
