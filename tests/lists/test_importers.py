"""Importers: plain text, CSV with a named column, HMA/ThreatExchange shapes; bad entries."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from childguard.lists.importers import ListImportError, read_list_file
from childguard.lists.types import ListType, parse_entry

PDQ_A = "d8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PDQ_B = "e4cc89d91c623842f8d1f1d9a398e78c9f199a3bf87925f2b7e11e0bf061b064"
MD5_A = hashlib.md5(b"a").hexdigest()
MD5_B = hashlib.md5(b"b").hexdigest()


def _rows(arr: np.ndarray) -> list[str]:
    return [bytes(r).hex() for r in arr]


def test_plain_text_comments_blank_lines_and_gzip(tmp_path: Path) -> None:
    body = f"# hotline export\n\n{MD5_A}\n  {MD5_B.upper()}   # inline note\n"
    p = tmp_path / "md5.txt.gz"
    p.write_bytes(gzip.compress(body.encode()))
    arr, rep = read_list_file(str(p), ListType.md5)
    assert _rows(arr) == [MD5_A, MD5_B]
    assert rep.format == "text" and rep.entries == 2


def test_url_lines_keep_hash_signs(tmp_path: Path) -> None:
    p = tmp_path / "urls.txt"
    p.write_text("# comment\nhttps://e.com/a.jpg#frag\nhttps://e.com/b.jpg\n")
    arr, _ = read_list_file(str(p), ListType.url)
    assert _rows(arr) == [
        hashlib.sha256(b"https://e.com/a.jpg").hexdigest(),
        hashlib.sha256(b"https://e.com/b.jpg").hexdigest(),
    ]


def test_csv_named_column(tmp_path: Path) -> None:
    p = tmp_path / "list.csv"
    p.write_text(f'id,sha,note\n1,{MD5_A},x\n2,{MD5_B},"a, b"\n')
    arr, rep = read_list_file(str(p), ListType.md5, column="sha")
    assert _rows(arr) == [MD5_A, MD5_B] and rep.format == "csv"
    with pytest.raises(ListImportError, match="--column"):
        read_list_file(str(p), ListType.md5)
    with pytest.raises(ListImportError, match="no column 'nope'"):
        read_list_file(str(p), ListType.md5, column="nope")


def test_bad_entries_report_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(f"md5\n{MD5_A}\nnot-a-hash\n{MD5_B}\n{MD5_A[:-2]}\n")
    with pytest.raises(ListImportError) as e:
        read_list_file(str(p), ListType.md5)
    msg = str(e.value)
    assert f"{p}:3:" in msg and f"{p}:5:" in msg and "2 malformed entries" in msg
    assert "not-a-hash" not in msg  # the entry itself is never echoed
    arr, rep = read_list_file(str(p), ListType.md5, skip_bad=True)
    assert _rows(arr) == [MD5_A, MD5_B]
    assert [b.line for b in rep.bad] == [3, 5]


def test_threatexchange_signal_lines(tmp_path: Path) -> None:
    p = tmp_path / "dataset.txt"
    p.write_text(f"pdq {PDQ_A} tag1,tag2\nvideo_md5 {MD5_A}\npdq {PDQ_B}\n")
    arr, rep = read_list_file(str(p), ListType.pdq)
    assert rep.format == "hma"
    assert _rows(arr) == [PDQ_A, PDQ_B]
    assert rep.other_signal_types == {"video_md5": 1}
    md5, _ = read_list_file(str(p), ListType.md5)
    assert _rows(md5) == [MD5_A]


def test_hma_csv_and_threatexchange_indicators(tmp_path: Path) -> None:
    p = tmp_path / "bank.csv"
    p.write_text(f"bank_content_id,signal_type,signal_value\n1,pdq,{PDQ_A}\n2,video_md5,{MD5_A}\n")
    arr, rep = read_list_file(str(p), ListType.pdq)
    assert rep.format == "hma" and _rows(arr) == [PDQ_A]
    h = tmp_path / "hma1.csv"
    h.write_text(f"signal_id,signal_type,signal_hash,tags\n7,pdq,{PDQ_A},t\n")
    assert _rows(read_list_file(str(h), ListType.pdq)[0]) == [PDQ_A]
    q = tmp_path / "te.csv"
    q.write_text(f"indicator_type,indicator\nHASH_MD5,{MD5_B}\nHASH_PDQ,{PDQ_B}\n")
    assert _rows(read_list_file(str(q), ListType.md5)[0]) == [MD5_B]


def test_hma_json_shapes(tmp_path: Path) -> None:
    jl = tmp_path / "bank.jsonl"
    jl.write_text(
        json.dumps({"signals": {"pdq": PDQ_A, "video_md5": MD5_A}})
        + "\n"
        + json.dumps({"signal_type": "pdq", "signal_value": PDQ_B})
        + "\n"
    )
    assert _rows(read_list_file(str(jl), ListType.pdq)[0]) == [PDQ_A, PDQ_B]
    js = tmp_path / "bank.json"
    js.write_text(json.dumps({"pdq": [PDQ_A], "video_md5": [MD5_A, MD5_B]}))
    assert _rows(read_list_file(str(js), ListType.md5)[0]) == [MD5_A, MD5_B]
    bad = tmp_path / "broken.jsonl"
    bad.write_text('{"signal_type": "pdq", "signal_value": "zz"}\n{not json\n')
    with pytest.raises(ListImportError, match=r"(?s)broken.jsonl:1:.*broken.jsonl:2:"):
        read_list_file(str(bad), ListType.pdq, fmt="hma")


@pytest.mark.parametrize(
    ("kind", "raw", "ok"),
    [
        (ListType.laion_hash, "-3599477493208416315", True),
        (ListType.laion_hash, "18446744073709551615", True),  # unsigned spelling of -1
        (ListType.laion_hash, "12.5", False),
        (ListType.laion_hash, str(2**64), False),
        (ListType.sha1, "a" * 40, True),
        (ListType.sha1, "a" * 41, False),
        (ListType.sha256, "g" * 64, False),
        (ListType.url, "example.com/a.jpg", False),
        (ListType.url, "https://example.com/a.jpg", True),
        (ListType.url_sha256, "A" * 64, True),
    ],
)
def test_parse_entry(kind: ListType, raw: str, ok: bool) -> None:
    if ok:
        parse_entry(kind, raw)
    else:
        with pytest.raises(ValueError):
            parse_entry(kind, raw)


def test_unsigned_laion_hash_equals_signed() -> None:
    assert parse_entry(ListType.laion_hash, "18446744073709551615") == parse_entry(
        ListType.laion_hash, "-1"
    )


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ListImportError, match="no such file"):
        read_list_file(str(tmp_path / "nope.txt"), ListType.md5)
    with pytest.raises(ListImportError, match="unknown list format"):
        read_list_file(str(tmp_path / "nope.txt"), ListType.md5, fmt="xml")


def test_url_import_equals_per_entry_parsing(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "url_cases", Path(__file__).resolve().parents[1] / "test_urls.py"
    )
    assert spec is not None and spec.loader is not None
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    EVASIONS, NEAR_MISSES = cases.EVASIONS, cases.NEAR_MISSES

    good = [u.strip() for u, _ in EVASIONS + NEAR_MISSES] + [
        "http://[::1]:8080/a.jpg",
        "HTTPS://BÜCHER.de/ü.jpg?q=ü",
        "ftp://files.example.org/x",
        "https://e.com/a b.jpg",
    ]
    bad = ["example.com/a.jpg", "https:///a.jpg", "http://[::1/a", "mailto:x@y.org"]
    p = tmp_path / "urls.txt"
    p.write_text("\n".join(good + bad) + "\n")
    arr, rep = read_list_file(str(p), ListType.url, skip_bad=True)
    assert [bytes(r) for r in arr] == [parse_entry(ListType.url, u) for u in good]
    assert [b.line for b in rep.bad] == list(range(len(good) + 1, len(good) + len(bad) + 1))


@pytest.mark.parametrize(
    "name, content, kind, says",
    [
        ("urls.txt.gz", b"https://x.example/a.jpg\n", "url", "cannot be read"),  # not gzip
        ("h.txt", b"1" * 5000 + b"\n", "laion_hash", "out of 64-bit range"),
        ("bank.json", b'{"signal_type": "pdq", "signal_value": ', "pdq", "cannot be read as hma"),
        ("bank.jsonl", b"[" * 3000 + b"]" * 3000 + b"\n", "pdq", "cannot be read as hma"),
        ("empty.txt", b"", "url", "no entries"),
        ("comments.txt", b"# nothing here\n\n", "url", "no entries"),
        (
            "quotes.csv",
            b'url\nhttps://x.example/a.jpg\n"https://x.example/b.jpg\nhttps://x.example/c.jpg\n',
            "url",
            "spans lines",
        ),
    ],
)
def test_bad_list_files_are_one_clear_error(tmp_path: Path, name, content, kind, says) -> None:
    """Issue 11, item 9: each of these was a traceback, a silent merge or an empty v1."""
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(ListImportError, match=says):
        read_list_file(str(p), kind)


def test_a_folder_given_as_the_list_file(tmp_path: Path) -> None:
    (tmp_path / "lists.txt").mkdir()
    with pytest.raises(ListImportError, match="is a folder"):
        read_list_file(str(tmp_path / "lists.txt"), "url")
