"""Read takedown-list files into digests: plain text, CSV with a named column, HMA/ThreatExchange.

Formats:
- `text`: one entry a line; blank lines and lines starting with `#` are skipped (for hash and
  laion_hash lists a trailing ` # comment` is allowed too; URL lines are kept whole because `#`
  can belong to a URL).
- `csv`: a header row, entries in `--column` (or the only column, or the column named after
  the list type).
- `hma`: the ThreatExchange / Hasher-Matcher-Actioner bank export shapes: `signal_type signal`
  lines (`threatexchange dataset` output), CSV with `signal_type` and `signal_value` (or HMA 1's
  `signal_hash`, or ThreatExchange's `indicator_type`,`indicator` with `HASH_PDQ`/`HASH_MD5`),
  and JSON/JSONL records with those keys or a `signals` map {type: value}. Signals of other
  types are counted and ignored; PDQ and MD5 are the types these exports carry.
Files may be gzip/zstd compressed and local or fsspec URLs.

A malformed entry is reported with file and line. The import fails on the first file with
errors unless `skip_bad`; callers write nothing until every file has been read.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import fsspec
import numpy as np

from childguard.lists.digests import as_digest_array
from childguard.lists.types import WIDTH, EntryError, ListType, parse_entry

FORMATS = ("auto", "text", "csv", "hma")

# HMA / ThreatExchange signal type names -> list type.
HMA_SIGNAL_TYPES: dict[str, ListType] = {
    "pdq": ListType.pdq,
    "hash_pdq": ListType.pdq,
    "photo_pdq": ListType.pdq,
    "md5": ListType.md5,
    "video_md5": ListType.md5,
    "photo_md5": ListType.md5,
    "hash_md5": ListType.md5,
    "sha1": ListType.sha1,
    "hash_sha1": ListType.sha1,
    "sha256": ListType.sha256,
    "hash_sha256": ListType.sha256,
    "url": ListType.url,
    "uri": ListType.url,
}
_TX_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\s+(\S+)")
_MAX_SHOWN = 20


class ListImportError(ValueError):
    """A list file that cannot be imported; the message names the file and line."""


# a CSV value that spans lines: reported as a bad entry, never imported as one joined "URL"
_SPANS_LINES = "\x00spans-lines"


@dataclass
class BadEntry:
    """One malformed entry: file, line and why."""
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class ImportReport:
    """What reading one list file gave: its format, entries and malformed entries."""
    file: str
    format: str
    entries: int = 0  # valid entries read (before de-duplication)
    bad: list[BadEntry] = field(default_factory=list)
    other_signal_types: dict[str, int] = field(default_factory=dict)


def _open_text(path: str) -> io.TextIOBase:
    return fsspec.open(path, "rt", encoding="utf-8-sig", compression="infer", newline="").open()


def _sniff(path: str) -> str:
    name = path.lower()
    for suffix in (".gz", ".zst", ".zstd", ".bz2"):
        name = name.removesuffix(suffix)
    if name.endswith((".json", ".jsonl", ".ndjson")):
        return "hma"
    with _open_text(path) as f:
        head = [line for line in (f.readline() for _ in range(50)) if line.strip()]
    first = next((ln for ln in head if not ln.lstrip().startswith("#")), "")
    if name.endswith((".csv", ".tsv")):
        cols = {c.strip().lower() for c in next(csv.reader([first]), [])}
        if (
            {"signal_type", "signal_value"} <= cols
            or {"signal_type", "signal_hash"} <= cols
            or {"indicator_type", "indicator"} <= cols
        ):
            return "hma"
        return "csv"
    m = _TX_LINE.match(first.strip())
    if m and m.group(1).lower() in HMA_SIGNAL_TYPES:
        return "hma"
    return "text"


def _text_entries(path: str, kind: ListType) -> Iterator[tuple[int, str]]:
    with _open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            if kind is not ListType.url and "#" in s:
                s = s.split("#", 1)[0].strip()
            yield lineno, s


def _csv_entries(path: str, kind: ListType, column: str | None) -> Iterator[tuple[int, str]]:
    with _open_text(path) as f:
        delim = "\t" if path.lower().split(".gz")[0].endswith(".tsv") else ","
        reader = csv.DictReader(f, delimiter=delim)
        fields = reader.fieldnames or []
        col = column
        if col is None:
            if len(fields) == 1:
                col = fields[0]
            elif kind.value in fields:
                col = kind.value
            else:
                raise ListImportError(
                    f"{path}: CSV has columns {fields}; name the entry column with --column"
                )
        if col not in fields:
            raise ListImportError(f"{path}: no column {col!r} (columns: {fields})")
        for row in reader:
            value = row.get(col)
            if value is not None and ("\n" in value or "\r" in value):
                # an unbalanced quote joins the lines up to the next quote into one "entry"
                yield reader.line_num, _SPANS_LINES
                continue
            yield reader.line_num, "" if value is None else value


def _hma_entries(
    path: str, kind: ListType, report: ImportReport
) -> Iterator[tuple[int, str | None]]:
    """Yields (line, value) for signals of `kind`; (line, None) for unparseable records."""

    def typed(line: int, stype: object, value: object) -> Iterator[tuple[int, str | None]]:
        name = str(stype or "").strip().lower()
        mapped = HMA_SIGNAL_TYPES.get(name)
        if mapped is None or (mapped is not kind and {mapped, kind} != {ListType.url}):
            report.other_signal_types[name or "?"] = report.other_signal_types.get(name, 0) + 1
            return
        yield line, None if value is None else str(value)

    def from_record(line: int, rec: object) -> Iterator[tuple[int, str | None]]:
        if not isinstance(rec, dict):
            yield line, None
            return
        if isinstance(rec.get("signals"), dict):
            for stype, value in rec["signals"].items():
                yield from typed(line, stype, value)
            return
        stype = rec.get("signal_type", rec.get("indicator_type"))
        value = next(
            (rec[k] for k in ("signal_value", "signal_hash", "signal", "indicator") if k in rec),
            None,
        )
        if stype is None:
            yield line, None
            return
        yield from typed(line, stype, value)

    lower = path.lower()
    for suffix in (".gz", ".zst", ".zstd", ".bz2"):
        lower = lower.removesuffix(suffix)
    with _open_text(path) as f:
        if lower.endswith(".json"):
            data = json.load(f)
            records = data
            if isinstance(data, dict) and ("signals" in data or "data" in data):
                records = data.get("signals", data.get("data"))
            if isinstance(records, dict):  # {"pdq": [...], "video_md5": [...]}
                for stype, values in records.items():
                    for v in values if isinstance(values, list) else [values]:
                        yield from typed(0, stype, v)
                return
            for i, rec in enumerate(records or [], 1):
                yield from from_record(i, rec)
            return
        if lower.endswith((".jsonl", ".ndjson")):
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    yield lineno, None
                    continue
                yield from from_record(lineno, rec)
            return
        if lower.endswith((".csv", ".tsv")):
            reader = csv.DictReader(f, delimiter="\t" if lower.endswith(".tsv") else ",")
            for row in reader:
                norm = {k.strip().lower(): v for k, v in row.items() if k}
                yield from from_record(reader.line_num, norm)
            return
        for lineno, line in enumerate(f, 1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            m = _TX_LINE.match(s)
            if not m:
                yield lineno, None
                continue
            yield from typed(lineno, m.group(1), m.group(2))


# `scheme://host...`: what `url_digest` accepts, checked on the whole column at once. Entries
# with a "[" (IPv6 literals, which urlsplit may reject) take the per-entry path.
_ABSOLUTE_URL = r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/?#\[]"


def _url_digests(
    path: str, urls: list[tuple[int, str]], report: ImportReport, url_key: str
) -> list[bytes]:
    """URL entries -> SHA-256 of their list key, vectorised (about 10x the per-entry path)."""
    import polars as pl

    from childguard.urls import list_key_digests, url_sha256_digests

    values = pl.Series([v.strip() for _, v in urls], dtype=pl.String)
    fast = (values.str.contains(_ABSOLUTE_URL) & ~values.str.contains("[", literal=True)).to_list()
    digests: list[bytes] = []
    fast_vals = values.filter(pl.Series(fast))
    arr, _ = (list_key_digests if url_key == "sb1" else url_sha256_digests)(fast_vals)
    it = iter(arr)
    for (lineno, value), ok in zip(urls, fast, strict=True):
        if ok:
            digests.append(bytes(next(it)))
            continue
        try:
            digests.append(parse_entry(ListType.url, value, url_key))
        except EntryError as e:
            report.bad.append(BadEntry(path, lineno, str(e)))
    return digests


def read_list_file(
    path: str,
    kind: ListType | str,
    *,
    fmt: str = "auto",
    column: str | None = None,
    skip_bad: bool = False,
    url_key: str = "sb1",
) -> tuple[np.ndarray, ImportReport]:
    """Parse one file into an (n, width) digest array (unsorted, may repeat). `url_key`: how
    a `url` list keys its entries (lists/types.py URL_KEYS)."""
    kind = ListType(kind)
    if fmt not in FORMATS:
        raise ListImportError(f"unknown list format {fmt!r}; use one of {', '.join(FORMATS)}")
    try:
        if fmt == "auto":
            fmt = _sniff(path)
        report = ImportReport(file=path, format=fmt)
        if fmt == "text":
            entries: Iterator[tuple[int, str | None]] = _text_entries(path, kind)
        elif fmt == "csv":
            entries = _csv_entries(path, kind, column)
        else:
            entries = _hma_entries(path, kind, report)
        digests: list[bytes] = []
        urls: list[tuple[int, str]] = []
        for lineno, value in entries:
            if value is None:
                report.bad.append(
                    BadEntry(path, lineno, "not a recognised HMA/ThreatExchange record")
                )
                continue
            if value == _SPANS_LINES:
                report.bad.append(
                    BadEntry(path, lineno, "a quoted value spans lines (an unbalanced quote?)")
                )
                continue
            if kind is ListType.url:
                urls.append((lineno, value))
                continue
            try:
                digests.append(parse_entry(kind, value))
            except EntryError as e:
                report.bad.append(BadEntry(path, lineno, str(e)))
        if urls:
            digests = _url_digests(path, urls, report, url_key)
    except FileNotFoundError:
        raise ListImportError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ListImportError(f"{path}: is a folder; give the list file itself") from None
    except (UnicodeDecodeError, csv.Error, json.JSONDecodeError, RecursionError) as e:
        raise ListImportError(f"{path}: cannot be read as {fmt}: {str(e)[:200]}") from None
    except (OSError, EOFError) as e:  # not gzip after all, a cut stream, a broken zstd frame
        raise ListImportError(f"{path}: cannot be read: {type(e).__name__}: {e}") from None
    if report.bad and not skip_bad:
        shown = "\n  ".join(str(b) for b in report.bad[:_MAX_SHOWN])
        more = len(report.bad) - _MAX_SHOWN
        raise ListImportError(
            f"{len(report.bad)} malformed entr{'y' if len(report.bad) == 1 else 'ies'} "
            f"(nothing was imported; --skip-bad skips them):\n  {shown}"
            + (f"\n  ... and {more} more" if more > 0 else "")
        )
    report.entries = len(digests)
    if not digests and not report.bad:
        raise ListImportError(
            f"{path}: no entries (an empty file would make an empty list version); nothing "
            "was imported"
        )
    return as_digest_array(digests, WIDTH[kind]), report
