"""The release invariant on randomised data: apply(manifest, original) == release, and the
release holds exactly the original rows minus the flagged ones, in order."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from childguard.io.paths import expand_inputs
from childguard.io.readers import iter_batches, open_shard
from childguard.release.apply import apply_manifest
from childguard.release.build import build_release
from childguard.release.verify import verify_release
from release.helpers import decisions_frame, make_audit

CAPTIONS = [
    "plain caption",
    '"quoted, with comma"',
    '"multi\nline ""quoted"" caption"',
    '5" screen, unquoted'.replace(",", ";"),  # a quote inside an unquoted field is literal
    "",
    "criança feliz no parque",
    '"ends with CRLF inside\r\nthe field"',
]


def _csv(path: Path, n: int, rng: random.Random, header: bool) -> None:
    lines = ["url,caption,n\r\n"] if header else []
    for i in range(n):
        lines.append(
            f"https://h{i % 5}.example.com/{path.stem}/{i}.jpg,{rng.choice(CAPTIONS)},{i}\r\n"
        )
        if rng.random() < 0.05:
            lines.append("\r\n")  # blank lines are not rows
    data = "".join(lines).encode()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)


def _parquet(path: Path, n: int, rng: random.Random) -> None:
    urls = [f"https://h{i % 5}.example.com/{path.stem}/{i}.jpg" for i in range(n)]
    pq.write_table(
        pa.table(
            {
                "url": urls,
                "text": [rng.choice(CAPTIONS) for _ in range(n)],
                "n": pa.array(range(n), pa.int16()),
                "tags": [[str(i)] * (i % 3) for i in range(n)],
            }
        ),
        path,
        row_group_size=rng.randint(7, 40),
        compression=rng.choice(["snappy", "zstd", "gzip", "none"]),
    )


def _jsonl(path: Path, n: int, rng: random.Random) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            rec = {
                "url": f"https://h.example.com/{path.stem}/{i}.jpg",
                "text": rng.choice(CAPTIONS),
            }
            f.write(json.dumps(rec, ensure_ascii=rng.random() < 0.5) + "\n")


def _rows(path: Path) -> list[dict]:
    (shard,) = expand_inputs([str(path)])
    out = []
    for b in iter_batches(open_shard(shard)):
        out += b.select(["url", "text"]).to_pylist()
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_apply_to_original_equals_release(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    d = tmp_path / "ds"
    d.mkdir()
    _csv(d / "a.csv", rng.randint(20, 80), rng, header=True)
    _csv(d / "b.csv.gz", rng.randint(20, 80), rng, header=False)
    _parquet(d / "c.parquet", rng.randint(20, 120), rng)
    _jsonl(d / "e.jsonl", rng.randint(5, 50), rng)
    counts = {p.name: len(_rows(p)) for p in d.iterdir()}
    risks = ["blocked", "identifiable_child", "child"]
    flagged = {
        name: {i: rng.choice(risks) for i in rng.sample(range(n), k=rng.randint(0, n // 3))}
        for name, n in counts.items()
    }
    make_audit(tmp_path / "audit", [d], flagged)
    res = build_release(tmp_path / "audit", tmp_path / "rel", decisions=decisions_frame([]))
    assert verify_release(tmp_path / "rel").ok
    for s in res.shards:
        name = Path(s["name"]).name
        assert s["rows_in"] == counts[name]
        assert s["rows_removed"] == len(flagged[name])
        kept = _rows(tmp_path / "rel" / s["name"])
        assert kept == [r for i, r in enumerate(_rows(d / name)) if i not in flagged[name]]
    apply_manifest(tmp_path / "rel", [d], out=tmp_path / "copy")
    for name in counts:
        a, b = tmp_path / "copy" / name, tmp_path / "rel/data" / name
        if name.endswith(".parquet"):
            assert pq.read_table(a).equals(pq.read_table(b))
            assert (
                pq.ParquetFile(a).metadata.num_row_groups
                <= pq.ParquetFile(d / name).metadata.num_row_groups
            )
        else:
            assert a.read_bytes() == b.read_bytes()
