"""CLI: `childguard match` (every pending removal request in one job) and `childguard index`
(the URL index of an audit)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _audit(audit: Path) -> Path:
    if not (audit / "run.json").is_file():
        raise typer.BadParameter(f"{audit} has no run.json (not a scan's audit folder)")
    return audit.resolve()


def match_cmd(
    audit: Annotated[Path, typer.Argument(help="The scan's audit folder.")],
    db: Annotated[
        str | None, typer.Option(help="Database URL (default: sqlite:///AUDIT/registry.sqlite).")
    ] = None,
    engine: Annotated[str, typer.Option(help="local (default) or ray.")] = "local",
    workers: Annotated[int, typer.Option(help="Processes (local) or Ray tasks at once.")] = 1,
    batch_size: Annotated[int, typer.Option(help="Requests matched together per job.")] = 1000,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
    no_index: Annotated[
        bool, typer.Option("--no-index", help="Read the rows even where a URL index exists.")
    ] = False,
) -> None:
    """Match every pending removal request against the scanned shards in one pass.

    Finishes a job a kill interrupted first. Matches become review tasks; nothing a
    requester sees changes."""
    from childguard.registry.db import default_db_url, normalize_db_url, session_factory, upgrade
    from childguard.registry.jobs import JobError
    from childguard.registry.match_job import run_pending

    folder = _audit(audit)
    eng = upgrade(normalize_db_url(db) if db else default_db_url(folder))
    try:
        summary = run_pending(
            session_factory(eng),
            folder,
            batch_size=batch_size,
            engine=engine,
            workers=workers,
            ray_address=ray_address,
            use_index=not no_index,
        )
    except JobError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    finally:
        eng.dispose()
    typer.echo(
        f"matched {summary.requests} request(s) in {summary.jobs} job(s): "
        f"{summary.shards_read} shard(s) read, {summary.shards_resumed} resumed"
        + (", exact URLs from the URL index" if summary.index_used else "")
        + f"; {summary.tasks} review task(s) queued"
    )


def index_cmd(
    audit: Annotated[Path, typer.Argument(help="The scan's audit folder.")],
    engine: Annotated[str, typer.Option(help="local (default) or ray.")] = "local",
    workers: Annotated[int, typer.Option(help="Processes (local) or Ray tasks at once.")] = 1,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
) -> None:
    """Build the audit's URL index (URL key and LAION hash -> shard, row); resumable."""
    from childguard.registry.jobs import JobError
    from childguard.registry.url_index import UrlIndexError, build_index

    folder = _audit(audit)
    try:
        meta = build_index(folder, engine=engine, workers=workers, ray_address=ray_address)
    except (JobError, UrlIndexError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    size = sum(meta["bytes"].values())
    typer.echo(
        f"URL index: {meta['rows']} row(s), {16 ** meta['prefix_digits']} partition(s), "
        f"{size / 1e6:.1f} MB in {folder / 'index'}"
    )
