"""Readers and column conventions: every format, every convention, every kind of bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from childguard.io.columns import ColumnError, detect_columns
from childguard.io.paths import InputError, expand_inputs, shard_id_for
from childguard.io.readers import ShardError, iter_batches, iter_task_batches, open_shard

from datagen import make_rows, write_jsonl


def read_all(path: Path, **kw) -> tuple[pa.Table, object]:
    [shard] = expand_inputs([str(path)])
    info = open_shard(shard, **kw)
    batches = list(iter_batches(info, batch_rows=128))
    table = pa.concat_tables(batches) if batches else None
    return table, info


def test_laion_parquet_tasks_per_row_group(laion_parquet: Path) -> None:
    table, info = read_all(laion_parquet)
    assert info.columns.convention == "laion"
    assert [(t.row_group, t.row_offset, t.num_rows) for t in info.tasks] == [
        (0, 0, 300),
        (1, 300, 300),
        (2, 600, 300),
        (3, 900, 100),
    ]
    assert table.column("row_index").to_pylist() == list(range(1000))
    assert table.column("laion_hash").to_pylist()[:3] == [0, 1, 2]
    assert table.column("text")[7].as_py() == "little girl with kite 7"
    assert table.schema.metadata[b"childguard.shard_id"].decode() == info.shard.shard_id


def test_small_row_groups_share_a_task(laion_parquet: Path) -> None:
    # row groups of 300, 300, 300, 100 rows: whole row groups while they fit in task_rows
    def plan(task_rows: int | None) -> list[tuple]:
        _, info = read_all(laion_parquet, task_rows=task_rows)
        return [(t.index, t.row_groups, t.row_offset, t.num_rows) for t in info.tasks]

    assert plan(600) == [(0, [0, 1], 0, 600), (1, [2, 3], 600, 400)]
    assert plan(700) == [(0, [0, 1], 0, 600), (1, [2, 3], 600, 400)]
    assert plan(1000) == [(0, [0, 1, 2, 3], 0, 1000)]
    per_group = [(i, [i], 300 * i, 300 if i < 3 else 100) for i in range(4)]
    assert plan(None) == per_group
    assert plan(250) == per_group  # a row group larger than task_rows is a task alone
    # batches run across the row groups of a task: the same rows, in order
    whole, _ = read_all(laion_parquet)
    [shard] = expand_inputs([str(laion_parquet)])
    info = open_shard(shard, task_rows=600)
    sizes = [b.num_rows for b in iter_task_batches(info, info.tasks[0], 256)]
    assert sizes == [256, 256, 88]
    grouped = pa.concat_tables(iter_batches(info, 256))
    assert grouped.equals(whole)


@pytest.mark.parametrize(
    ("columns", "convention", "key"),
    [
        ({"url": ["https://a/1.jpg"], "text": ["x"], "uid": ["u1"]}, "datacomp", None),
        ({"url": ["https://a/1.jpg"], "text": ["x"], "id": [1]}, "coyo", None),
        (
            {
                "url": ["https://a/1.jpg"],
                "caption": ["x"],
                "key": ["000001"],
                "status": ["success"],
            },
            "img2dataset",
            "000001",
        ),
        ({"image_url": ["https://a/1.jpg"], "alt_text": ["x"]}, "custom", None),
    ],
)
def test_parquet_conventions(tmp_path: Path, columns: dict, convention: str, key) -> None:
    p = tmp_path / "s.parquet"
    pq.write_table(pa.table(columns), p)
    table, info = read_all(p)
    assert info.columns.convention == convention
    assert table.column("url").to_pylist() == ["https://a/1.jpg"]
    if key:
        assert table.column("key").to_pylist() == [key]


@pytest.mark.parametrize("compression", [None, "gzip", "zstd"])
def test_jsonl_compressions(tmp_path: Path, compression: str | None) -> None:
    ext = {None: "", "gzip": ".gz", "zstd": ".zst"}[compression]
    recs = [{"url": u, "text": t, "id": i} for i, (u, t) in enumerate(make_rows(300))]
    p = write_jsonl(tmp_path / f"coyo.jsonl{ext}", recs, compression)
    table, info = read_all(p)
    assert info.shard.compression == compression
    assert table.num_rows == 300
    assert table.column("row_index").to_pylist() == list(range(300))
    assert table.column("text")[14].as_py() == "little girl with kite 14"


def test_cc3m_tsv_without_header(tmp_path: Path) -> None:
    p = tmp_path / "Train_GCC-training.tsv"
    p.write_text("".join(f'{t} "quoted"\t{u}\n' for u, t in make_rows(50)), encoding="utf-8")
    table, info = read_all(p)
    assert info.columns.convention == "cc3m" and info.header is False
    assert table.column("url")[3].as_py() == "https://example.org/img/3.jpg"
    assert table.column("text")[3].as_py() == 'mountain landscape 3 "quoted"'


def test_csv_with_header_quoted_newlines_and_gzip(tmp_path: Path) -> None:
    body = 'url,caption,key\n"https://a/1.jpg","line one\nline two",k1\nhttps://a/2.jpg,plain,k2\n'
    p = tmp_path / "x.csv.gz"
    p.write_bytes(gzip.compress(body.encode()))
    table, info = read_all(p)
    assert info.columns.text == "caption"
    assert table.column("text").to_pylist() == ["line one\nline two", "plain"]


def test_overrides_and_missing_columns(tmp_path: Path) -> None:
    p = tmp_path / "odd.parquet"
    pq.write_table(pa.table({"link_to_img": ["https://a/1.jpg"], "words": ["hi"]}), p)
    [shard] = expand_inputs([str(p)])
    with pytest.raises(ShardError) as e:
        open_shard(shard)
    msg = str(e.value)
    assert str(p) in msg and "link_to_img" in msg and "words" in msg
    table, _ = read_all(p, url_col="link_to_img", text_col="words")
    assert table.column("text").to_pylist() == ["hi"]
    with pytest.raises(ColumnError, match="--text-col 'nope'"):
        detect_columns(["url", "text"], "f", text_col="nope")


def test_null_and_non_string_values(tmp_path: Path) -> None:
    p = tmp_path / "n.parquet"
    pq.write_table(
        pa.table(
            {"url": [None, "https://a/2.jpg", 5], "text": [1, None, 2]}
            if False
            else {
                "url": pa.array([None, "https://a/2.jpg", "x"]),
                "text": pa.array([1, None, 3], pa.int64()),
            }
        ),
        p,
    )
    table, _ = read_all(p)
    assert table.column("url").to_pylist() == [None, "https://a/2.jpg", "x"]
    assert table.column("text").to_pylist() == ["1", None, "3"]


def test_invalid_utf8_binary_parquet(tmp_path: Path) -> None:
    p = tmp_path / "b.parquet"
    pq.write_table(
        pa.table({"URL": ["https://a/1", "https://a/2"], "TEXT": pa.array([b"ok", b"bad \xff"])}), p
    )
    table, _ = read_all(p)
    assert table.column("text").to_pylist() == ["ok", "bad \ufffd"]


def test_invalid_utf8_csv_is_repaired_without_losing_rows(tmp_path: Path) -> None:
    lines = [b"url,text\n"] + [f"https://a/{i}.jpg,row {i}\n".encode() for i in range(2000)]
    lines[1500] = b"https://a/1499.jpg,bad \xff\xfe byte\n"
    p = tmp_path / "u.csv"
    p.write_bytes(b"".join(lines))
    table, _ = read_all(p)
    assert table.num_rows == 2000
    assert table.column("row_index").to_pylist() == list(range(2000))
    assert "\ufffd" in table.column("text")[1499].as_py()


def test_invalid_utf8_and_mixed_types_jsonl(tmp_path: Path) -> None:
    good = [f'{{"url": "https://a/{i}", "text": "t{i}"}}\n'.encode() for i in range(100)]
    good[60] = b'{"url": "https://a/60", "text": 12345}\n'
    good[70] = b'{"url": "https://a/70", "text": "bad \xff"}\n'
    p = tmp_path / "m.jsonl"
    p.write_bytes(b"".join(good))
    table, _ = read_all(p)
    assert table.num_rows == 100
    assert table.column("text")[60].as_py() == "12345"
    assert table.column("text")[70].as_py() == "bad \ufffd"
    assert table.column("row_index").to_pylist() == list(range(100))


def test_invalid_json_line_names_row(tmp_path: Path) -> None:
    lines = [f'{{"url": "https://a/{i}", "text": "t"}}\n' for i in range(10)]
    lines[6] = '{"url": "https://a/6", "text": \n'
    p = tmp_path / "bad.jsonl"
    p.write_text("".join(lines))
    with pytest.raises(ShardError, match=r"row 6"):
        read_all(p)


def test_megabyte_caption(tmp_path: Path) -> None:
    big = "menina " * 300_000  # ~2 MB
    p = tmp_path / "big.parquet"
    pq.write_table(pa.table({"url": ["https://a/1", "https://a/2"], "text": [big, "x"]}), p)
    table, _ = read_all(p)
    assert len(table.column("text")[0].as_py()) == len(big)


@pytest.mark.parametrize("kind", ["parquet", "jsonl", "csv"])
def test_empty_shards(tmp_path: Path, kind: str) -> None:
    p = tmp_path / f"empty.{kind}"
    if kind == "parquet":
        pq.write_table(
            pa.table({"url": pa.array([], pa.string()), "text": pa.array([], pa.string())}), p
        )
    else:
        p.write_bytes(b"")
    table, _ = read_all(p)
    assert table is None or table.num_rows == 0


def test_corrupt_parquet(tmp_path: Path) -> None:
    p = tmp_path / "corrupt.parquet"
    p.write_bytes(b"PAR1 this is not parquet")
    [shard] = expand_inputs([str(p)])
    with pytest.raises(ShardError, match=r"corrupt\.parquet"):
        open_shard(shard)


def test_expand_folders_globs_and_ids(tmp_path: Path, laion_parquet: Path) -> None:
    other = tmp_path / "data" / "other" / "part-00000.parquet"
    other.parent.mkdir(parents=True)
    other.write_bytes(laion_parquet.read_bytes())
    (other.parent / "00000_stats.json").write_text("{}")
    (other.parent / "00000.tar").write_bytes(b"")
    shards = expand_inputs([str(tmp_path / "data")])
    assert [Path(s.path).name for s in shards] == ["part-00000.parquet", "part-00000.parquet"]
    ids = {s.shard_id for s in shards}
    assert len(ids) == 2 and all(i.startswith("part-00000-") for i in ids)
    assert shard_id_for(shards[0].path) == shards[0].shard_id  # stable
    globbed = expand_inputs([str(tmp_path / "data" / "*" / "*.parquet")])
    assert [s.shard_id for s in globbed] == [s.shard_id for s in shards]
    assert (
        expand_inputs([f"file://{laion_parquet}"])[0].shard_id
        == expand_inputs([str(laion_parquet)])[0].shard_id
    )
    with pytest.raises(InputError, match="no such file"):
        expand_inputs([str(tmp_path / "missing.parquet")])


def test_fsspec_url_inputs(tmp_path: Path) -> None:
    """Remote protocols go through fsspec; the in-memory filesystem stands in for s3/hf/https."""
    import fsspec

    fs = fsspec.filesystem("memory")
    with fs.open("/bucket/laion/part-00000.parquet", "wb") as f:
        pq.write_table(pa.table({"URL": ["https://a/1.jpg"] * 3, "TEXT": ["x", "y", "z"]}), f)
    with fs.open("/bucket/laion/part-00001.jsonl.gz", "wb") as f:
        f.write(gzip.compress(b'{"url": "https://a/2.jpg", "text": "w"}\n'))
    shards = expand_inputs(["memory://bucket/laion/"])
    assert [s.path for s in shards] == [
        "memory:///bucket/laion/part-00000.parquet",
        "memory:///bucket/laion/part-00001.jsonl.gz",
    ]
    infos = [open_shard(s) for s in shards]
    assert [pa.concat_tables(list(iter_batches(i))).num_rows for i in infos] == [3, 1]
    assert expand_inputs(["memory://bucket/laion/*.parquet"])[0].shard_id == shards[0].shard_id


def test_csv_parse_error_names_row_without_quoting_it(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text('url,text\nhttps://a/1.jpg,ok\nhttps://a/2.jpg,"Festa da Valentina",x,y\n')
    with pytest.raises(ShardError) as e:
        read_all(p)
    msg = str(e.value)
    assert "row 1" in msg and "Expected 2 columns, got 4" in msg and str(p) in msg
    assert "Valentina" not in msg and "https://a/2.jpg" not in msg
