"""`childguard lists ...`: manage the local takedown-list store and query it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Takedown lists (URLs, URL SHA-256, MD5/SHA-1/SHA-256, PDQ, LAION hash): "
    "a versioned local store that `scan` matches every row against.",
    no_args_is_help=True,
)

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="Store folder (default: $CHILDGUARD_HOME or the user data dir)."),
]


def _store(home: Path | None):
    from childguard.lists.store import ListStore

    return ListStore(home)


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


@app.command("add")
def add_cmd(
    name: Annotated[str, typer.Argument(help="List name (letters, digits, . _ -).")],
    files: Annotated[list[str], typer.Argument(help="File(s) to import (local or fsspec URL).")],
    type_: Annotated[
        str,
        typer.Option("--type", "-t", help="url|url_sha256|md5|sha1|sha256|pdq|laion_hash"),
    ] = "url",
    fmt: Annotated[str, typer.Option("--format", help="auto|text|csv|hma")] = "auto",
    column: Annotated[str | None, typer.Option("--column", help="CSV column with entries.")] = None,
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Skip malformed entries instead of failing.")
    ] = False,
    description: Annotated[
        str | None, typer.Option("--description", help="What the list is and where it came from.")
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Create a list or add entries to it (a new version)."""
    from childguard.lists.importers import ListImportError
    from childguard.lists.store import ListStoreError
    from childguard.lists.types import ListType

    try:
        kind = ListType(type_)
    except ValueError:
        _fail(f"unknown list type {type_!r}; use one of {', '.join(t.value for t in ListType)}")
    try:
        s = _store(home).add(
            name, files, kind, fmt=fmt, column=column, skip_bad=skip_bad, description=description
        )
    except (ListImportError, ListStoreError) as e:
        _fail(str(e))
    if s["added"] == 0 and s["version"]:
        typer.echo(f"{name}: nothing new; still v{s['version']} ({s['entries']:,} entries)")
        return
    skipped = f", {s['bad']} malformed skipped" if s["bad"] else ""
    typer.echo(
        f"{name}@v{s['version']} ({s['type']}): {s['added']:,} added, "
        f"{s['entries']:,} entries{skipped}"
    )


@app.command("ls")
def ls_cmd(
    home: HomeOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the lists in the store."""
    store = _store(home)
    rows = []
    for name in store.names(retired=True):
        meta = store.info(name)
        cur = meta["versions"][-1] if meta["versions"] else {}
        rows.append(
            {
                "name": name,
                "type": meta["type"],
                "version": meta["version"],
                "entries": cur.get("entries", 0),
                "updated": meta.get("updated", meta.get("created")),
                "description": meta.get("description", ""),
                "retired": meta.get("retired"),
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo(f"no lists in {store.root}")
        return
    typer.echo(f"{'NAME':24} {'TYPE':10} {'VERSION':>7} {'ENTRIES':>12}  UPDATED")
    for r in rows:
        typer.echo(
            f"{r['name']:24} {r['type']:10} {'v' + str(r['version']):>7} "
            f"{r['entries']:>12,}  {r['updated']}"
            + (
                f"  (retired {r['retired']}: kept for the audits that pin it)"
                if r["retired"]
                else ""
            )
        )


@app.command("show")
def show_cmd(
    name: Annotated[str, typer.Argument(help="List name.")],
    home: HomeOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show a list's versions and the files each was imported from."""
    from childguard.lists.store import ListStoreError

    try:
        meta = _store(home).info(name)
    except ListStoreError as e:
        _fail(str(e))
    if as_json:
        typer.echo(json.dumps(meta, indent=2))
        return
    typer.echo(f"{meta['name']} ({meta['type']}), current v{meta['version']}")
    if meta.get("description"):
        typer.echo(f"  {meta['description']}")
    for v in meta["versions"]:
        typer.echo(
            f"  v{v['version']}  {v['created']}  {v['entries']:,} entries "
            f"(+{v['added']:,} -{v['removed']:,})"
        )
        for src in v["sources"]:
            extra = f", {src['bad']} malformed skipped" if src.get("bad") else ""
            verb = "removed from" if src.get("removed") else "from"
            typer.echo(f"      {verb} {src['file']} sha256:{src['sha256'][:16]}{extra}")


@app.command("rm")
def rm_cmd(
    name: Annotated[str, typer.Argument(help="List name.")],
    entries: Annotated[
        list[str] | None,
        typer.Option(
            "--entries",
            help="Retract the entries in this file (a new version) "
            "instead of deleting the whole list.",
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="Format of the --entries file.")] = "auto",
    column: Annotated[
        str | None, typer.Option("--column", help="CSV column of the --entries file.")
    ] = None,
    yes: Annotated[
        bool,
        typer.Option("--yes", "-y", help="Do it without asking."),
    ] = False,
    purge: Annotated[
        bool,
        typer.Option(
            "--purge",
            help="Delete the list even where audits pin it (they can then no longer be re-run "
            "or re-matched); without it such a list is retired and its versions kept.",
        ),
    ] = False,
    home: HomeOpt = None,
) -> None:
    """Delete a list (retired instead while audits pin it), or retract entries with --entries."""
    from childguard.lists.importers import ListImportError
    from childguard.lists.store import ListStoreError

    store = _store(home)
    try:
        if entries:
            s = store.remove_entries(name, entries, fmt=fmt, column=column)
            typer.echo(f"{name}@v{s['version']}: {s['removed']:,} removed, {s['entries']:,} left")
            return
        meta = store.info(name)
        users = store.audits_using(name)
        pinned = "; ".join(f"{a} ({name}@{v})" for a, v in users)
        if users and not purge:
            if meta.get("retired"):
                typer.echo(
                    f"list {name!r} is retired already, kept for {len(users)} audit(s): {pinned}"
                )
                return
            what = (
                f"retire list {name!r}: no new scan uses it, and its {meta['version']} "
                f"version(s) are kept for the {len(users)} audit(s) that pin it: {pinned} "
                "(--purge deletes it anyway)"
            )
            _confirm(what, yes)
            store.retire(name)
            typer.echo(f"retired list {name}; kept for {len(users)} audit(s)")
            return
        what = f"delete list {name!r}: all {meta['version']} version(s)"
        if users:
            what += f"; these {len(users)} audit(s) can then no longer be re-run or re-matched: {pinned}"
        _confirm(what, yes)
        store.remove(name)
        typer.echo(f"removed list {name}" + (f"; audits broken: {pinned}" if users else ""))
    except (ListImportError, ListStoreError) as e:
        _fail(str(e))


def _confirm(what: str, yes: bool) -> None:
    """Ask before a removal (--yes skips; without a terminal, refuse)."""
    if yes:
        return
    if not sys.stdin.isatty():
        _fail(f"refusing to {what} without --yes (or --entries FILE)")
    if not typer.confirm(f"{what}?", default=False):
        typer.echo("nothing deleted")
        raise typer.Exit(1)


@app.command("query")
def query_cmd(
    name: Annotated[str, typer.Argument(help="List name, or NAME@VERSION.")],
    file: Annotated[str, typer.Argument(help="Query values, one a line ('-' for stdin).")],
    max_distance: Annotated[
        int, typer.Option("--max-distance", help="PDQ Hamming distance for a match.")
    ] = 31,
    fmt: Annotated[str, typer.Option("--format", help="csv|json")] = "csv",
    home: HomeOpt = None,
) -> None:
    """Look up values (URLs, hex hashes, PDQ hashes, LAION hashes); print every match.

    Output: query, list entry, distance (0 for exact lists). URL entries are printed as the
    SHA-256 of the normalised URL: the store holds no URLs."""
    import numpy as np

    from childguard.lists.store import ListStoreError
    from childguard.lists.types import WIDTH, EntryError, ListType, format_entry, parse_entry

    if fmt not in ("csv", "json"):
        _fail("--format must be csv or json")
    try:
        lst = _store(home).load(name)
    except ListStoreError as e:
        _fail(str(e))
    src = sys.stdin if file == "-" else open(file, encoding="utf-8-sig")  # noqa: SIM115
    queries: list[str] = []
    digests: list[bytes] = []
    bad = 0
    with src:
        for lineno, line in enumerate(src, 1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            try:
                digests.append(parse_entry(lst.type, s))
                queries.append(s)
            except EntryError as e:
                typer.echo(f"{file}:{lineno}: skipped: {e}", err=True)
                bad += 1
    width = WIDTH[lst.type]
    q = np.frombuffer(b"".join(digests), np.uint8).reshape(-1, width)
    matches: list[tuple[int, int, int]] = []
    if lst.type is ListType.pdq:
        assert lst.pdq is not None
        qi, ei, d = lst.pdq.search(q, max_distance)
        matches = list(zip(qi.tolist(), ei.tolist(), d.tolist(), strict=True))
    else:
        found = lst.digests.contains(q)
        matches = [(i, -1, 0) for i in np.flatnonzero(found).tolist()]
    out = []
    for qi_, ei_, d_ in matches:
        entry = digests[qi_] if ei_ < 0 else bytes(np.asarray(lst.digests.digests[ei_]))
        out.append(
            {"query": queries[qi_], "entry": format_entry(lst.type, entry), "distance": int(d_)}
        )
    if fmt == "json":
        typer.echo(json.dumps({"list": lst.label, "queries": len(queries), "matches": out}))
    else:
        import csv

        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(["query", "entry", "distance"])
        for m in out:
            w.writerow([m["query"], m["entry"], m["distance"]])
    typer.echo(f"{len(out)} match(es) for {len(queries)} queries in {lst.label}", err=True)
    if bad:
        raise typer.Exit(1)
