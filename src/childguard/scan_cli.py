"""`childguard scan` and `childguard demo`."""

from __future__ import annotations

import functools
import shutil
import sys
from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from childguard.config import ScanConfig, load_config_file
from childguard.install import command_name, install_hint
from childguard.policy import PolicyError, load_policy

err = Console(stderr=True)
out = Console()


def _summary(result, title: str = "scan summary") -> None:
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
    rate = result.rows / result.seconds if result.seconds > 0 else 0.0
    ok = len(result.shards) - result.skipped_shards
    skipped = f", {result.skipped_shards} already done" if result.skipped_shards else ""
    out.print(
        f"{ok} shard(s) scanned{skipped}, {len(result.failed)} failed, "
        f"{result.seconds:.2f}s ({rate:,.0f} rows/s). Findings: {result.out / 'findings'}"
    )


def run_scan_command(
    cfg: ScanConfig,
    policy_file: Path | None,
    config_file: Path | None,
    restart: bool,
    progress: bool | None,
) -> int:
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
    except (PolicyError, ValueError) as e:
        err.print(f"[red]error:[/red] {e}")
        return 2
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
        if cfg.workers <= EARLY_START_MAX:
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
        err.print(f"[red]error:[/red] {e}")
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
    return 0 if result.ok else 1


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
        int | None, typer.Option(help="Rows per batch (memory bound; default 65,536).")
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
) -> None:
    """Scan dataset shards for children's personal data; write findings under --out."""
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
    if ray_address:
        fields["ray_address"] = ray_address
    cfg = ScanConfig(**fields)
    raise typer.Exit(run_scan_command(cfg, policy, config, restart, progress))


def demo_sample_dir() -> Path:
    return Path(str(files("childguard.demo") / "data"))


def demo(
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Folder for the sample data and its audit (replaced)."),
    ] = Path("childguard-demo"),
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 2,
) -> None:
    """Scan the bundled synthetic sample (offline, seconds) and print a summary."""
    src = demo_sample_dir()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copytree(src, out / "data")
    cfg = ScanConfig(inputs=[str(out / "data")], out=str(out / "audit"), workers=workers)
    code = run_scan_command(cfg, None, None, restart=True, progress=None)
    if code == 0:
        cmd = command_name()
        out_console = Console()
        out_console.print(
            f"\nSample data: {out / 'data'}\nAudit: {out / 'audit'} "
            "(findings/*.parquet hold redacted evidence only)\n"
            f"Next: {cmd} report {out / 'audit'}   |   "
            f"{cmd} release {out / 'audit'} --out {out / 'release'}"
        )
    raise typer.Exit(code)
