"""`childguard report AUDIT_DIR`: an HTML report (and report.json) of what a scan found."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report_cmd(
    audit_dir: Annotated[
        Path, typer.Argument(help="The --out folder of `childguard scan`.", show_default=False)
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="HTML file to write [default: AUDIT_DIR/report.html]."),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Registry database URL with reviewers' decisions "
            "[default: AUDIT_DIR/registry.sqlite when it exists].",
        ),
    ] = None,
    examples: Annotated[
        int, typer.Option("--examples", min=0, help="Redacted example rows shown per risk.")
    ] = 5,
    no_examples: Annotated[
        bool, typer.Option("--no-examples", help="Leave redacted examples out.")
    ] = False,
) -> None:
    """Report what a scan found: counts, plots, prevalence estimates, redacted examples."""
    from rich.console import Console

    from childguard.report import ReportError, build_report

    err = Console(stderr=True)
    try:
        res = build_report(audit_dir, out, db_url=db, examples=0 if no_examples else examples)
    except ReportError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(2) from None
    t = res.data["totals"]
    flagged = t["flagged"]
    share = f" ({100 * flagged / t['rows']:.2f}%)" if t["rows"] else ""
    Console().print(
        f"{t['rows']:,} rows, {flagged:,} flagged{share}; "
        f"{res.data['inputs']['failed']} failed shard(s). "
        f"Wrote {res.html} and {res.json}",
        highlight=False,
    )
