"""CLI: `childguard release`, `childguard verify`, `childguard apply` (heavy imports inside)."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def release_cmd(
    audit_dir: Path = typer.Argument(..., help="Audit directory written by `childguard scan`."),
    out: Path = typer.Option(..., "--out", help="New release directory (must not exist)."),
    parent: Path | None = typer.Option(
        None, "--parent", help="Previous release: its removals are carried forward."
    ),
    policy: Path | None = typer.Option(
        None, "--policy", help="Policy whose risk -> action map decides (default: the scan's)."
    ),
    db: str | None = typer.Option(
        None, "--db", help="Registry database URL (default: AUDIT_DIR/registry.sqlite)."
    ),
    release_id: str | None = typer.Option(None, "--id", help="Release id (default: timestamp)."),
    review: str = typer.Option(
        "hold", "--review", help="Rows awaiting review: 'hold' them out (default) or 'keep'."
    ),
    workers: int = typer.Option(1, "--workers", help="Local processes writing shards."),
    engine: str = typer.Option("local", "--engine", help="local or ray (one task per shard)."),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="With --engine ray: auto, ray://host:port (default: local)."
    ),
    sign_key: Path | None = typer.Option(
        None, "--sign-key", help="Ed25519 private key (`childguard keygen`): sign manifest.json."
    ),
) -> None:
    """Write a cleaned release of the scanned dataset, with its removal manifest."""
    from childguard.policy import PolicyError
    from childguard.release.build import ReleaseError, build_release

    if review not in ("hold", "keep"):
        raise typer.BadParameter("--review must be 'hold' or 'keep'")
    executor = _executor(engine, workers, ray_address)
    try:
        res = build_release(
            audit_dir,
            out,
            parent=parent,
            policy=policy,
            db_url=db,
            release_id=release_id,
            review_default=review,  # type: ignore[arg-type]
            log=typer.echo,
            executor=executor,
        )
    except (ReleaseError, PolicyError) as e:
        typer.secho(f"release failed, nothing published: {e}", fg="red", err=True)
        raise typer.Exit(1) from None
    from childguard.release.build import rows_left_out

    c = res.manifest["counts"]
    typer.echo(
        f"release {res.release_id} -> {res.out}: {c['rows_in']} rows in, {c['rows_out']} kept, "
        f"{rows_left_out(c)}; manifest {c['manifest_entries']} entries "
        f"({c['new_entries']} new, {c['carried_entries']} carried, {c['restored']} restored)"
        + (
            "; held rows are left out until a reviewer decides, not removed for cause (a "
            "later release restores the ones kept)"
            if c.get("rows_held")
            else ""
        )
    )
    from childguard.release.identity import IdentityError, manifest_digest, sign_release

    if sign_key is not None:
        try:
            sig = sign_release(res.out, sign_key)
        except (IdentityError, OSError) as e:
            typer.secho(f"release written but NOT signed: {e}", fg="red", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"signed: {sig}")
    typer.echo(
        f"manifest.json SHA-256 {manifest_digest(res.out)}: publish it; holders check it with "
        "`childguard verify --expect` or `apply --expect`"
    )


def keygen_cmd(
    key: Path = typer.Argument(..., help="Private key file to create (KEY.pub beside it)."),
) -> None:
    """Make an Ed25519 key pair for signing releases (`release --sign-key KEY`)."""
    from childguard.release.identity import IdentityError, generate_key

    try:
        priv, pub = generate_key(key)
    except (IdentityError, OSError) as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"private key {priv} (mode 600: keep it secret); public key {pub} (publish it)")


_EXPECT_HELP = "The manifest.json SHA-256 the maintainer published: refuse any other release."
_PUBKEY_HELP = "The maintainer's Ed25519 public key: require a valid manifest.json.sig."


def verify_cmd(
    release_dir: Path = typer.Argument(..., help="Release directory to check."),
    expect: str | None = typer.Option(None, "--expect", help=_EXPECT_HELP),
    public_key: Path | None = typer.Option(None, "--public-key", help=_PUBKEY_HELP),
) -> None:
    """Recompute and check a release's checksums, row counts and manifest."""
    from childguard.release.identity import IdentityError, check_identity
    from childguard.release.verify import verify_release

    try:
        check_identity(release_dir, expect, public_key)
    except IdentityError as e:
        typer.secho(f"FAIL {e}", fg="red", err=True)
        raise typer.Exit(1) from None
    rep = verify_release(release_dir)
    if not rep.ok:
        for p in rep.problems:
            typer.secho(f"FAIL {p}", fg="red", err=True)
        typer.secho(f"{release_dir}: {len(rep.problems)} problem(s)", fg="red", err=True)
        raise typer.Exit(1)
    who = " (identity checked)" if expect or public_key else ""
    typer.echo(
        f"{release_dir}: release {rep.release_id} OK ({rep.files_checked} files checked){who}"
    )


def apply_cmd(
    manifest: Path = typer.Argument(..., help="Release dir, manifest.json or manifest.parquet."),
    targets: list[Path] = typer.Argument(..., help="Files or folders of the copy to purge."),
    out: Path | None = typer.Option(None, "--out", help="Write the purged copy here."),
    in_place: bool = typer.Option(False, "--in-place", help="Replace changed files in place."),
    keep_backup: bool = typer.Option(
        False, "--keep-backup", help="With --in-place: keep the original as <file>.bak."
    ),
    url_column: str | None = typer.Option(None, "--url-column", help="URL column name."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON lines."),
    workers: int = typer.Option(1, "--workers", help="Local processes purging files."),
    engine: str = typer.Option("local", "--engine", help="local or ray (one task per file)."),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="With --engine ray: auto, ray://host:port (default: local)."
    ),
    expect: str | None = typer.Option(None, "--expect", help=_EXPECT_HELP),
    public_key: Path | None = typer.Option(None, "--public-key", help=_PUBKEY_HELP),
) -> None:
    """Purge a downstream copy with a release's manifest (dry run without --out/--in-place)."""
    from childguard.io.readers import ShardError
    from childguard.release.apply import ApplyError, FileReport, apply_manifest, load_manifest

    def show(r: FileReport) -> None:
        if as_json:
            typer.echo(json.dumps(r.to_json()))
        elif r.status == "failed":
            typer.echo(f"{'failed':>13}  {'':>8}    {'':>9} {'':<7}  {r.path}")
        else:
            unit = "samples" if r.kind in ("tar", "files") else "rows"
            held = f" ({r.held} held for review)" if r.held else ""
            where = f"{r.path} -> {r.dest}" if r.dest else r.path
            typer.echo(
                f"{r.status:>13}  {r.removed:>8} of {r.units:>9} {unit:<7}  {where}{held}"
            )

    executor = _executor(engine, workers, ray_address)
    try:
        loaded = load_manifest(manifest, expect=expect, public_key=public_key)
    except ApplyError as e:
        typer.secho(f"apply failed: {e}", fg="red", err=True)
        raise typer.Exit(1) from None
    try:
        reports = apply_manifest(
            loaded,
            list(targets),
            out=out,
            in_place=in_place,
            keep_backup=keep_backup,
            url_column=url_column,
            on_report=show,
            executor=executor,
        )
    except (ApplyError, ShardError) as e:
        typer.secho(f"apply failed: {e}", fg="red", err=True)
        raise typer.Exit(1) from None
    held = sum(r.held for r in reports)
    removed = sum(r.removed for r in reports) - held
    failed = [r for r in reports if r.status == "failed"]
    mode = "dry run, nothing written" if not (out or in_place) else "done"
    if not as_json:
        left_out = f"{removed} removed, {held} held for review" if held else f"{removed} removed"
        where = f"; the purged copy is in {out}, the input untouched" if out else ""
        typer.echo(f"{len(reports)} file(s), {left_out} ({mode}{where})")
    for r in failed:
        typer.secho(f"FAILED {r.error}", fg="red", err=True)
    if failed:
        typer.secho(f"{len(failed)} file(s) failed; fix them and re-run", fg="red", err=True)
        raise typer.Exit(1)


def _executor(engine: str, workers: int, address: str | None):
    """Where the per-shard / per-file work runs: local processes or Ray (one task each);
    a clear exit when Ray is not installed."""
    if engine == "local":
        from childguard.executors import LocalExecutor

        return LocalExecutor(workers)
    if engine != "ray":
        raise typer.BadParameter(f"unknown engine {engine!r} (local or ray)")
    try:
        from childguard.executors.ray import RayExecutor
    except ImportError as e:
        from childguard.install import install_hint

        typer.secho(
            f"error: --engine ray needs Ray: {install_hint('ray')} ({e})",
            fg="red",
            err=True,
        )
        raise typer.Exit(2) from None
    # --workers left at 1 on a cluster: as many tasks as the cluster holds
    return RayExecutor(address, workers if workers > 1 else None)
