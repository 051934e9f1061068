"""Stream a shard as standard-column Arrow batches: row_index, url, text (+ optional extras).

Parquet is split into one task per row group (row offsets come from the footer, so a task can
run anywhere); CSV/TSV/JSONL stream as one task. Memory is bounded by the batch size, never by
the shard. Bad input raises `ShardError` naming the file and, where known, the row and column.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
from polars.exceptions import PanicException

from childguard.io.columns import ColumnError, ColumnMap, detect_columns
from childguard.io.paths import Shard

BATCH_ROWS = 131_072
_CSV_BLOCK = 8 << 20


class ShardError(RuntimeError):
    """A shard that cannot be read, with path, row and column where known."""
    def __init__(self, path: str, message: str, row: int | None = None, column: str | None = None):
        where = "".join(
            [f", row {row}" if row is not None else "", f", column {column!r}" if column else ""]
        )
        super().__init__(f"{path}{where}: {message}")
        self.path, self.row, self.column, self.reason = path, row, column, message


@dataclass(frozen=True)
class Task:
    """One unit of scan work: a parquet row group, or a whole streamed shard."""
    shard_id: str
    index: int  # task number within the shard
    row_group: int | None  # (first) parquet row group, None for streamed formats
    row_offset: int  # row_index of the task's first row (0 for streamed formats)
    num_rows: int | None  # None when unknown before reading
    # consecutive row groups from `row_group` on: small ones share a task, so their rows
    # share batches (a batch's fixed cost, ~55 ms of per-call overhead, is paid once)
    row_group_count: int = 1

    @property
    def row_groups(self) -> list[int]:
        """The parquet row groups this task reads (none for streamed formats)."""
        if self.row_group is None:
            return []
        return list(range(self.row_group, self.row_group + self.row_group_count))


@dataclass
class ShardInfo:
    """An opened shard: its column map, row count, CSV dialect and tasks."""
    shard: Shard
    columns: ColumnMap
    source_columns: list[str]
    num_rows: int | None
    header: bool = True
    delimiter: str = ","
    tasks: list[Task] = field(default_factory=list)

    def to_json(self) -> dict:
        """The shard, columns, row count (and CSV dialect) as a plain dict."""
        d = self.shard.to_json()
        d.update(
            columns=self.columns.to_json(),
            convention=self.columns.convention,
            num_rows=self.num_rows,
            source_columns=self.source_columns,
        )
        if self.shard.format in ("csv", "tsv"):
            d.update(header=self.header, delimiter=self.delimiter)
        return d


# ------------------------------------------------------------------------------------------
# opening


def open_shard(
    shard: Shard,
    url_col: str | None = None,
    text_col: str | None = None,
    task_rows: int | None = None,
) -> ShardInfo:
    """Open a shard, pick its columns and plan its tasks; raises ShardError. A parquet task is
    one row group, or with `task_rows` consecutive row groups of at most that many rows in
    all (a larger row group is a task of its own)."""
    if shard.format is None:
        raise ShardError(shard.path, "unknown format (expected parquet, csv, tsv or jsonl)")
    try:
        if shard.format == "parquet":
            return _open_parquet(shard, url_col, text_col, task_rows)
        if shard.format in ("csv", "tsv"):
            return _open_csv(shard, url_col, text_col)
        return _open_jsonl(shard, url_col, text_col)
    except ShardError:
        raise
    except ColumnError as e:
        raise ShardError(shard.path, str(e).split(": ", 1)[-1]) from None
    except (OSError, pa.ArrowException, EOFError, ValueError) as e:
        raise ShardError(shard.path, f"unreadable: {_reason(e)}") from None
    except Exception as e:  # a reader library's own failure is still this shard's, not the run's
        raise ShardError(shard.path, f"unreadable: {_reason(e)}") from None


def _reason(e: BaseException) -> str:
    """What went wrong, without the row: Arrow and JSON errors quote the offending text (a
    caption, a URL), which must not reach logs and run.json; keep the kind and the shape."""
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    head = msg.split(": ", 1)[0] if ": " in msg else msg
    if len(head) > 120 or any(q in head for q in ('"', "'", "{", "http")):
        head = ""
    name = type(e).__name__
    return f"{name}: {head}" if head else name


# what a failing decompressor or parser may raise mid-stream; a Rust library's panic
# (pyo3's PanicException) derives from BaseException, so it is named explicitly
_READ_ERRORS: tuple[type[BaseException], ...] = (Exception, PanicException)


def _guarded(batches: Iterator[pa.Table], path: str, first_row: int) -> Iterator[pa.Table]:
    """Batches of a shard; any failure while reading becomes that shard's ShardError naming
    the row where it broke, so one bad file never stops the run (or passes as complete)."""
    row = first_row
    while True:
        try:
            t = next(batches)
        except StopIteration:
            return
        except ShardError:
            raise
        except _READ_ERRORS as e:
            raise ShardError(path, f"read failed: {_reason(e)}", row=row) from None
        row += t.num_rows
        yield t


def _parquet_source(shard: Shard):
    """A seekable file for the parquet reader: the file itself, or (for a `.parquet.gz` /
    `.parquet.zst`, which parquet cannot seek in) its decompressed bytes in memory."""
    if shard.compression is None:
        return shard.open_raw()
    with shard.open("rb") as f:
        return io.BytesIO(f.read())


def _open_parquet(
    shard: Shard, url_col: str | None, text_col: str | None, task_rows: int | None
) -> ShardInfo:
    with _parquet_source(shard) as f:
        pf = pq.ParquetFile(f)
        meta, fields = pf.metadata, pf.schema_arrow.names
        names = [meta.schema.column(i).path.split(".")[0] for i in range(meta.num_columns)]
        names = list(dict.fromkeys(names))
        cols = detect_columns(names, shard.path, url_col, text_col)
        for c in cols.source_columns():
            if fields.count(c) > 1:
                raise ShardError(
                    shard.path, f"column {c!r} appears {fields.count(c)} times", column=c
                )
        sizes = [meta.row_group(rg).num_rows for rg in range(meta.num_row_groups)]
        tasks = _plan_row_groups(shard.shard_id, sizes, task_rows)
    if not tasks:  # a parquet with no row group still gets one (empty) task
        tasks.append(Task(shard.shard_id, 0, None, 0, 0))
    return ShardInfo(shard, cols, names, meta.num_rows, tasks=tasks)


def _plan_row_groups(shard_id: str, sizes: list[int], task_rows: int | None) -> list[Task]:
    """Tasks over row groups of `sizes` rows: each takes the next row groups while their rows
    stay within `task_rows` (one row group each when None)."""
    tasks: list[Task] = []
    first = offset = rows = 0
    for rg, n in enumerate(sizes):
        if rg > first and (task_rows is None or rows + n > task_rows):
            tasks.append(Task(shard_id, len(tasks), first, offset, rows, rg - first))
            first, offset, rows = rg, offset + rows, 0
        rows += n
    if sizes:
        tasks.append(Task(shard_id, len(tasks), first, offset, rows, len(sizes) - first))
    return tasks


def _first_line(shard: Shard) -> str:
    with shard.open("rb") as f:
        raw = f.readline(1 << 20)
    # a UTF-8 byte-order mark (Excel's CSV export) is no part of the first column's name;
    # old Mac files end lines with CR alone
    text = raw.decode("utf-8", "replace").removeprefix("\ufeff")
    return (text.splitlines() or [""])[0]


def _looks_like_url(s: str) -> bool:
    s = s.strip().strip('"').lower()
    return s.startswith(("http://", "https://", "//", "www."))


def _open_csv(shard: Shard, url_col: str | None, text_col: str | None) -> ShardInfo:
    line = _first_line(shard)
    if shard.format == "tsv" or ("\t" in line and "," not in line):
        delim = "\t"
    else:
        delim = ","
    if not line.strip():
        return ShardInfo(
            shard, ColumnMap("url", "text", "empty"), [], 0, True, delim, [_task0(shard)]
        )
    # TSV is read without quoting (CC3M captions may start with `"`): split the header alike
    quoting = csv.QUOTE_NONE if delim == "\t" else csv.QUOTE_MINIMAL
    fields = next(csv.reader([line], delimiter=delim, quoting=quoting))
    header = not any(_looks_like_url(f) for f in fields)
    if header:
        names = fields
        cols = detect_columns(names, shard.path, url_col, text_col)
    else:
        names = [f"c{i}" for i in range(len(fields))]
        url_i = next(i for i, f in enumerate(fields) if _looks_like_url(f))
        text_i = next((i for i in range(len(fields)) if i != url_i), None)
        if text_i is None:
            raise ShardError(shard.path, "no text column beside the URL column", row=0)
        cols = ColumnMap(
            url=url_col or names[url_i], text=text_col or names[text_i], convention="cc3m"
        )
    return ShardInfo(shard, cols, names, None, header, delim, [_task0(shard)])


_JSONL_SNIFF_ROWS = 1000  # objects whose keys name the columns (a first row may lack one)


def _open_jsonl(shard: Shard, url_col: str | None, text_col: str | None) -> ShardInfo:
    keys: dict[str, None] = {}  # every key of the sniffed objects, in first-seen order
    seen = 0
    with shard.open("rb") as f:
        for lineno, raw in enumerate(f):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8", "replace"))  # bad bytes: U+FFFD later too
            except json.JSONDecodeError as e:
                if seen:  # a bad line further down fails when the rows are read, at its row
                    break
                raise ShardError(shard.path, f"invalid JSON: {e.msg}", row=lineno) from None
            if not isinstance(obj, dict):
                raise ShardError(shard.path, "each line must be a JSON object", row=lineno)
            keys.update(dict.fromkeys(obj))
            seen += 1
            if seen >= _JSONL_SNIFF_ROWS:
                break
    if not seen:
        return ShardInfo(shard, ColumnMap("url", "text", "empty"), [], 0, tasks=[_task0(shard)])
    names = list(keys)
    cols = detect_columns(names, shard.path, url_col, text_col)
    return ShardInfo(shard, cols, names, None, tasks=[_task0(shard)])


def _task0(shard: Shard) -> Task:
    return Task(shard.shard_id, 0, None, 0, None)


# ------------------------------------------------------------------------------------------
# reading


def iter_task_batches(
    info: ShardInfo, task: Task, batch_rows: int = BATCH_ROWS
) -> Iterator[pa.Table]:
    """Standard-column batches of one task, with the shard in the schema metadata."""
    meta = {
        b"childguard.shard_path": info.shard.path.encode(),
        b"childguard.shard_id": info.shard.shard_id.encode(),
    }
    if info.num_rows is not None:  # files row-aligned with the shard check their length
        meta[b"childguard.shard_rows"] = str(info.num_rows).encode()
    if info.columns.convention == "empty":
        return
    if info.shard.format == "parquet":
        raw_iter = _parquet_batches(info, task, batch_rows)
    elif info.shard.format in ("csv", "tsv"):
        raw_iter = _csv_batches(info, batch_rows)
    else:
        raw_iter = _jsonl_batches(info, batch_rows)

    def standard() -> Iterator[pa.Table]:
        offset = task.row_offset
        for raw in raw_iter:
            table = standardize(raw, info.columns, offset, info.shard.path)
            offset += table.num_rows
            yield table.replace_schema_metadata(meta)

    yield from _guarded(standard(), info.shard.path, task.row_offset)


def iter_batches(info: ShardInfo, batch_rows: int = BATCH_ROWS) -> Iterator[pa.Table]:
    """Every standardised batch of a shard, task after task."""
    for task in info.tasks:
        yield from iter_task_batches(info, task, batch_rows)


def _parquet_batches(info: ShardInfo, task: Task, batch_rows: int) -> Iterator[pa.Table]:
    groups = task.row_groups
    if not groups:
        return
    cols = info.columns.source_columns()
    with _parquet_source(info.shard) as f:
        pf = pq.ParquetFile(f)
        try:
            # batches run across the task's row groups
            for b in pf.iter_batches(batch_size=batch_rows, row_groups=groups, columns=cols):
                yield pa.Table.from_batches([b])
        except (OSError, pa.ArrowException) as e:
            end = task.row_offset + (task.num_rows or 0) - 1
            which = f"{groups[0]}" if len(groups) == 1 else f"s {groups[0]}-{groups[-1]}"
            raise ShardError(
                info.shard.path,
                f"corrupt row group{which} (rows {task.row_offset}-{end}): {e}",
            ) from None


class _Utf8Repair(io.RawIOBase):
    """Decompressed byte stream with invalid UTF-8 replaced by U+FFFD (fallback path only)."""

    def __init__(self, raw) -> None:
        self._raw = raw
        self._dec = codecs.getincrementaldecoder("utf-8")("replace")
        self._buf = b""
        self.replaced = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._buf:
            chunk = self._raw.read(1 << 20)
            final = not chunk
            text = self._dec.decode(chunk, final=final)
            self.replaced += text.count("\ufffd")
            self._buf = text.encode("utf-8")
            if final:
                break
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def _csv_pass(info: ShardInfo, repair: bool) -> Iterator[pa.Table]:
    read_opts = pacsv.ReadOptions(
        block_size=_CSV_BLOCK,
        use_threads=False,
        column_names=None if info.header else info.source_columns,
    )
    if info.shard.format == "tsv" or info.delimiter == "\t":
        # CC3M-style TSV: no quoting, one row per line
        parse_opts = pacsv.ParseOptions(delimiter="\t", quote_char=False)
    else:
        parse_opts = pacsv.ParseOptions(delimiter=info.delimiter, newlines_in_values=True)
    conv = pacsv.ConvertOptions(
        column_types={c: pa.string() for c in info.source_columns},
        include_columns=info.columns.source_columns(),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    with info.shard.open("rb") as f:
        stream = io.BufferedReader(_Utf8Repair(f), 1 << 20) if repair else f
        for rb in pacsv.open_csv(stream, read_opts, parse_opts, conv):
            yield pa.Table.from_batches([rb])


_CSV_ROW = re.compile(r"Row #(\d+): (Expected \d+ columns?, got \d+)")


def _csv_error(e: Exception, info: ShardInfo, done: int) -> ShardError:
    """Arrow quotes the offending row (caption, URL) in its message: keep only the shape."""
    msg = str(e)
    m = _CSV_ROW.search(msg)
    if m:
        line = int(m.group(1))
        row = line - 2 if info.header else line - 1  # Arrow counts lines from 1, header included
        return ShardError(info.shard.path, f"CSV parse error: {m.group(2)}", row=max(row, 0))
    return ShardError(info.shard.path, f"CSV parse error ({_reason(e)})", row=done)


def _csv_batches(info: ShardInfo, batch_rows: int) -> Iterator[pa.Table]:
    """Strict UTF-8 first; on invalid UTF-8, re-read with U+FFFD repair and go on where we were.
    At the end, the last row is checked for a quote that never closed (`_check_csv_end`): the
    error fails the shard, so rows read before it are never taken for the whole file."""
    done = 0
    last: pa.Table | None = None
    try:
        for t in _csv_pass(info, repair=False):
            done += t.num_rows
            last = t if t.num_rows else last
            yield from _split(t, batch_rows)
    except pa.ArrowInvalid as e:
        if "utf8" not in str(e).lower().replace("-", ""):
            raise _csv_error(e, info, done) from None
        skip = done
        try:
            for t in _csv_pass(info, repair=True):
                if skip:
                    k = min(skip, t.num_rows)
                    skip -= k
                    t = t.slice(k)
                done += t.num_rows
                last = t if t.num_rows else last
                yield from _split(t, batch_rows)
        except pa.ArrowInvalid as e2:
            raise _csv_error(e2, info, done) from None
    if last is not None:
        _check_csv_end(info, last.slice(last.num_rows - 1))


def _check_csv_end(info: ShardInfo, last: pa.Table) -> None:
    """A quoted field that is never closed runs to the end of the file: Arrow returns it as the
    last row's value and the rows after it are lost without an error. When the last row holds
    a line break (the sign of that) or the file ends without one (a quote cut on the last
    line), re-read the file with Python's strict CSV reader, which fails at an unterminated
    quote, and name the row where the field starts."""
    if info.shard.format == "tsv" or info.delimiter == "\t":
        return  # TSV is read without quoting
    broken_line = any(
        "\n" in (v or "") or "\r" in (v or "") for c in last.columns for v in c.to_pylist()
    )
    if not broken_line and not _ends_without_newline(info.shard):
        return
    n = 0
    try:
        with info.shard.open("rb") as f:
            text = io.TextIOWrapper(f, encoding="utf-8", errors="replace", newline="")
            for _ in csv.reader(text, delimiter=info.delimiter, strict=True):
                n += 1
    except csv.Error:
        row = n - 1 if info.header else n  # records before the broken one, header excluded
        raise ShardError(
            info.shard.path,
            "CSV: a quoted field is never closed; it runs to the end of the file and would "
            "hide the rows after it",
            row=max(row, 0),
        ) from None


def _ends_without_newline(shard: Shard) -> bool:
    """An uncompressed file whose last byte is no line break: a quote opened on its last line
    may be cut there (compressed files that are cut fail in the decompressor)."""
    if shard.compression is not None:
        return False
    with shard.open_raw() as f:
        f.seek(0, 2)
        size = f.tell()
        if not size:
            return False
        f.seek(size - 1)
        return f.read(1) not in (b"\n", b"\r")


def _split(t: pa.Table, n: int) -> Iterator[pa.Table]:
    for start in range(0, t.num_rows, n):
        yield t.slice(start, n)


def _jsonl_batches(info: ShardInfo, batch_rows: int) -> Iterator[pa.Table]:
    """Arrow's streaming JSON reader; falls back to a per-line parser for mixed types."""
    wanted = info.columns.source_columns()
    schema = pa.schema([(c, pa.string()) for c in (info.columns.url, info.columns.text)])
    emitted = 0
    try:
        with info.shard.open("rb") as f:
            reader = pajson.open_json(
                f,
                read_options=pajson.ReadOptions(block_size=_CSV_BLOCK, use_threads=False),
                parse_options=pajson.ParseOptions(
                    explicit_schema=schema, unexpected_field_behavior="ignore"
                ),
            )
            for rb in reader:
                t = pa.Table.from_batches([rb])
                emitted += t.num_rows
                yield from _split(t, batch_rows)
        return
    except pa.ArrowInvalid:
        pass  # mixed types or invalid UTF-8: redo the rest line by line
    yield from _jsonl_python(info, wanted, emitted, batch_rows)


def _jsonl_python(
    info: ShardInfo, wanted: list[str], skip: int, batch_rows: int
) -> Iterator[pa.Table]:
    rows: dict[str, list] = {c: [] for c in wanted}
    n = 0
    with info.shard.open("rb") as f:
        for raw in f:
            if not raw.strip():
                continue
            if n < skip:
                n += 1
                continue
            try:
                obj = json.loads(raw.decode("utf-8", "replace"))
            except json.JSONDecodeError as e:
                raise ShardError(info.shard.path, f"invalid JSON: {e.msg}", row=n) from None
            if not isinstance(obj, dict):
                raise ShardError(info.shard.path, "line is not a JSON object", row=n)
            for c in wanted:
                v = obj.get(c)
                rows[c].append(None if v is None else _text(v))
            n += 1
            if len(rows[wanted[0]]) >= batch_rows:
                yield pa.table({c: pa.array(v, pa.string()) for c, v in rows.items()})
                rows = {c: [] for c in wanted}
    if rows[wanted[0]]:
        yield pa.table({c: pa.array(v, pa.string()) for c, v in rows.items()})


def _as_string(arr: pa.ChunkedArray, path: str, column: str, offset: int) -> pa.Array:
    """Any column type to utf8 strings; invalid UTF-8 bytes become U+FFFD, never an error."""
    # one chunk (every parquet batch): no copy; `combine_chunks` copies even a single chunk
    arr = arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        # parquet does not check that a string column holds UTF-8; Polars panics on one that
        # does not. Validation is ~15 ns/row; a bad batch is repaired like binary
        try:
            arr.validate(full=True)
        except pa.ArrowInvalid:
            return _repair_utf8(
                arr.view(pa.binary()) if pa.types.is_string(t) else arr.cast(pa.large_binary())
            )
        return arr if pa.types.is_string(t) else arr.cast(pa.string())
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        try:
            return arr.cast(pa.string())
        except pa.ArrowInvalid:  # invalid UTF-8 somewhere in the batch: repair row by row
            return _repair_utf8(arr)
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    try:
        return pc.cast(arr, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array(
            [None if v is None else json.dumps(v, default=str) for v in arr.to_pylist()],
            pa.string(),
        )


def _text(v: object) -> str:
    """A JSON value as text; lone surrogates (`"\\ud800"`, valid JSON, no valid UTF-8)
    become U+FFFD like any other invalid text."""
    s = v if isinstance(v, str) else json.dumps(v)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        s = s.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return s


def _repair_utf8(arr: pa.Array) -> pa.Array:
    """Binary values as strings, invalid UTF-8 bytes as U+FFFD (per-row Python: rare)."""
    return pa.array(
        [None if b is None else b.decode("utf-8", "replace") for b in arr.to_pylist()],
        pa.string(),
    )


def standardize(raw: pa.Table, cols: ColumnMap, offset: int, path: str) -> pa.Table:
    """A raw batch as the standard columns (row_index, url, text, extras)."""
    n = raw.num_rows
    out: dict[str, pa.Array] = {
        # from the buffer: `pa.array(ndarray)` imports pandas (0.15 s of start-up) to check for
        # a pandas object
        "row_index": pa.Array.from_buffers(
            pa.int64(), n, [None, pa.py_buffer(np.arange(offset, offset + n, dtype=np.int64))]
        ),
        "url": _as_string(raw.column(cols.url), path, cols.url, offset),
        "text": _as_string(raw.column(cols.text), path, cols.text, offset),
    }
    if cols.laion_hash and cols.laion_hash in raw.column_names:
        try:
            out["laion_hash"] = pc.cast(raw.column(cols.laion_hash).combine_chunks(), pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            out["laion_hash"] = pa.nulls(n, pa.int64())
    for name in ("uid", "key", "language"):
        src = getattr(cols, name)
        if src and src in raw.column_names:
            out[name] = _as_string(raw.column(src), path, src, offset)
    return pa.table(out)
