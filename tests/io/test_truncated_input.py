"""Bad input never passes as complete and never stops the run (issue 11, items 1 and 3): a cut
compressed shard or a never-closed CSV quote fails that shard naming the file (and the row where
known); the other shards finish; invalid UTF-8 in a parquet string column is repaired, not a
panic."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from typer.testing import CliRunner

from childguard.cli import app
from childguard.io.paths import Shard, TruncatedError, expand_inputs
from childguard.io.readers import ShardError, iter_batches, open_shard

N = 3000


def _jsonl(n: int = N) -> bytes:
    return "".join(
        json.dumps({"url": f"https://x.example/{i}.jpg", "caption": f"lake view number {i}"}) + "\n"
        for i in range(n)
    ).encode()


def _csv(n: int = N) -> str:
    return "url,caption\n" + "".join(f"https://x.example/{i}.jpg,lake view {i}\n" for i in range(n))


def _shard(path: Path) -> Shard:
    (s,) = expand_inputs([str(path)])
    return s


def _rows(path: Path) -> int:
    return sum(t.num_rows for t in iter_batches(open_shard(_shard(path)), batch_rows=512))


@pytest.mark.parametrize("seed", range(12))
def test_a_cut_zstd_shard_is_an_error_at_any_offset(tmp_path: Path, seed: int) -> None:
    # two frames, so some cuts land in the second one, after many good rows
    blob = _jsonl()
    z = zstandard.ZstdCompressor()
    data = z.compress(blob[: len(blob) // 2]) + z.compress(blob[len(blob) // 2 :])
    cut = random.Random(seed).randrange(1, len(data) - 1)
    p = tmp_path / "part.jsonl.zst"
    p.write_bytes(data[:cut])
    with pytest.raises(ShardError) as e:
        _rows(p)
    assert str(p) in str(e.value) and "truncated" in str(e.value)


def test_whole_zstd_frames_read_completely(tmp_path: Path) -> None:
    blob = _jsonl()
    z = zstandard.ZstdCompressor()
    p = tmp_path / "part.jsonl.zst"
    p.write_bytes(z.compress(blob[:1000]) + z.compress(blob[1000:]))
    assert _rows(p) == N
    with _shard(p).open() as f:
        assert f.read() == blob


def test_zstd_reader_raises_on_a_cut_frame(tmp_path: Path) -> None:
    p = tmp_path / "x.csv.zst"
    p.write_bytes(zstandard.ZstdCompressor().compress(b"a,b\n" * 1000)[:-4])
    with pytest.raises(TruncatedError), _shard(p).open() as f:
        f.read()


def test_a_cut_gzip_shard_is_an_error(tmp_path: Path) -> None:
    data = gzip.compress(_csv().encode())
    p = tmp_path / "part.csv.gz"
    p.write_bytes(data[: len(data) - 20])
    with pytest.raises(ShardError) as e:
        _rows(p)
    assert str(p) in str(e.value)


@pytest.mark.parametrize("at", [10, 500, N - 2])
def test_an_unterminated_quote_fails_the_shard_at_its_row(tmp_path: Path, at: int) -> None:
    lines = _csv().splitlines()
    lines[at + 1] = f'https://x.example/{at}.jpg,"a caption whose quote never closes'
    p = tmp_path / "part.csv"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(ShardError) as e:
        _rows(p)
    assert e.value.row == at and "never closed" in str(e.value)


def test_quoted_line_breaks_are_still_fine(tmp_path: Path) -> None:
    p = tmp_path / "part.csv"
    p.write_text(_csv(20) + 'https://x.example/last.jpg,"two\nlines"\n')
    assert _rows(p) == 21


def test_invalid_utf8_in_a_parquet_string_column_is_repaired(tmp_path: Path) -> None:
    vals = [b"https://x.example/%ff\xff.jpg", b"https://x.example/ok.jpg"]
    offs = np.cumsum([0] + [len(v) for v in vals]).astype(np.int32)
    url = pa.Array.from_buffers(
        pa.string(), 2, [None, pa.py_buffer(offs), pa.py_buffer(b"".join(vals))]
    )
    p = tmp_path / "part.parquet"
    pq.write_table(pa.table({"url": url, "caption": ["a boy", "a lake"]}), p)
    (t,) = list(iter_batches(open_shard(_shard(p))))
    assert t.column("url").to_pylist()[0] == "https://x.example/%ff\ufffd.jpg"


def test_bad_shards_fail_alone_and_the_run_says_so(tmp_path: Path) -> None:
    data = tmp_path / "in"
    data.mkdir()
    (data / "good.csv").write_text(_csv())
    blob = zstandard.ZstdCompressor().compress(_jsonl(20000))
    (data / "cut.jsonl.zst").write_bytes(blob[: len(blob) // 2])
    lines = _csv().splitlines()
    lines[11] = 'https://x.example/10.jpg,"never closed'
    (data / "quote.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "audit"
    res = CliRunner().invoke(app, ["scan", str(data), "--out", str(out), "--no-progress"])
    assert res.exit_code == 1, res.output
    failed = [ln for ln in res.output.splitlines() if ln.startswith("FAILED")]
    assert len(failed) == 2
    assert any("quote.csv, row 10:" in f for f in failed)
    assert any("cut.jsonl.zst" in f and "truncated" in f for f in failed)
    run = json.loads((out / "run.json").read_text())
    assert run["summary"]["rows"] == N  # the good shard, every row of it
    assert run["status"] == "finished_with_errors"
    # the scan records the bytes it read, so a release can refuse a same-size edit later
    from childguard.io.paths import file_sha256

    (ok,) = [json.loads(p.read_text()) for p in (out / "stats").glob("good-*.json")]
    assert ok["sha256"] == file_sha256(data / "good.csv")


def test_odd_files_fail_alone_or_are_read(tmp_path: Path) -> None:
    """Issue 11, item 3: each of these once stopped the run with a traceback."""
    d = tmp_path / "in"
    d.mkdir()
    (d / "good.csv").write_text(_csv(10))
    (d / "cr_only.csv").write_bytes(
        b"url,caption\rhttps://x.example/1.jpg,a\rhttps://x.example/2.jpg,b\r"
    )
    (d / "binary.csv").write_bytes(random.Random(0).randbytes(4000))
    (d / "surrogate.jsonl").write_text(
        '{"url": "https://x.example/1.jpg", "caption": "\\ud800 x"}\n'
    )
    (d / "deep.jsonl").write_text(
        '{"url": "https://x.example/1.jpg", "caption": ' + "[" * 5000 + "]" * 5000 + "}\n"
    )
    (d / "huge.jsonl").write_text(
        '{"url": "https://x.example/1.jpg", "caption": ' + "9" * 5000 + "}\n"
    )
    (d / "not_gzip.csv.gz").write_text(_csv(3))
    dup = pa.table(
        [pa.array(["https://x.example/1.jpg"]), pa.array(["a"]), pa.array(["b"])],
        names=["url", "caption", "caption"],
    )
    pq.write_table(dup, d / "dup_columns.parquet")
    res = CliRunner().invoke(app, ["scan", str(d), "--out", str(tmp_path / "a"), "--no-progress"])
    assert res.exit_code == 1, res.output
    failed = {
        ln.split()[1].rstrip(":,").rsplit("/", 1)[-1]
        for ln in res.output.splitlines()
        if ln.startswith("FAILED")
    }
    assert failed == {
        "binary.csv",
        "deep.jsonl",
        "huge.jsonl",
        "not_gzip.csv.gz",
        "dup_columns.parquet",
    }
    assert "Traceback" not in res.output and "\ufffd\ufffd" not in res.output
    run = json.loads((tmp_path / "a" / "run.json").read_text())
    assert run["summary"]["rows"] == 10 + 2 + 1  # good, CR-only and the repaired surrogate
