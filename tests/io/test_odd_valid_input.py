"""Valid input that looks odd is read, not refused (issue 11, item 7)."""

from __future__ import annotations

from pathlib import Path

from childguard.io.paths import expand_inputs
from childguard.io.readers import iter_batches, open_shard


def _read(path: Path) -> list[tuple[str, str]]:
    (s,) = expand_inputs([str(path)])
    out = []
    for t in iter_batches(open_shard(s)):
        out += list(zip(t.column("url").to_pylist(), t.column("text").to_pylist(), strict=True))
    return out


def test_csv_with_a_utf8_byte_order_mark(tmp_path: Path) -> None:
    p = tmp_path / "excel.csv"
    p.write_bytes(b"\xef\xbb\xbfurl,caption\nhttps://x.example/1.jpg,a lake\n")
    assert _read(p) == [("https://x.example/1.jpg", "a lake")]


def test_cc3m_tsv_whose_caption_starts_with_a_quote(tmp_path: Path) -> None:
    p = tmp_path / "cc3m.tsv"
    p.write_text(
        '"quoted" start of a caption\thttps://x.example/1.jpg\nplain\thttps://x.example/2.jpg\n'
    )
    assert _read(p) == [
        ("https://x.example/1.jpg", '"quoted" start of a caption'),
        ("https://x.example/2.jpg", "plain"),
    ]


def test_jsonl_whose_first_line_lacks_the_caption(tmp_path: Path) -> None:
    p = tmp_path / "part.jsonl"
    p.write_text(
        '{"url": "https://x.example/1.jpg"}\n{"url": "https://x.example/2.jpg", "caption": "a lake"}\n'
    )
    assert _read(p) == [("https://x.example/1.jpg", None), ("https://x.example/2.jpg", "a lake")]
