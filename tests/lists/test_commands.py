"""`childguard lists add|ls|show|query|rm` through the real CLI app."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from typer.testing import CliRunner

from childguard.cli import app

from .test_pdq import PDQ_DATA


def _run(home: Path, *args: str, input: str | None = None) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, ["lists", *args, "--home", str(home)], input=input)
    return res.exit_code, res.stdout, res.stderr


def test_add_ls_show_rm(tmp_path: Path) -> None:
    home = tmp_path / "home"
    urls = tmp_path / "urls.txt"
    urls.write_text("# hotline list\nhttps://e.com/a.jpg\nhttps://e.com/b.jpg\n")
    code, out, _ = _run(home, "add", "hot", str(urls), "--type", "url")
    assert code == 0 and "hot@v1 (url): 2 added, 2 entries" in out
    more = tmp_path / "more.txt"
    more.write_text("https://e.com/c.jpg\nhttps://E.com/a.jpg\n")
    code, out, _ = _run(home, "add", "hot", str(more), "--type", "url")
    assert code == 0 and "hot@v2 (url): 1 added, 3 entries" in out
    code, out, _ = _run(home, "ls", "--json")
    assert json.loads(out)[0] | {"updated": None} == {
        "name": "hot",
        "type": "url",
        "version": 2,
        "entries": 3,
        "updated": None,
        "description": "",
        "retired": None,
    }
    code, out, _ = _run(home, "show", "hot")
    assert code == 0 and "v1" in out and "from more.txt sha256:" in out
    assert "e.com" not in out
    code, out, _ = _run(home, "rm", "hot", "--entries", str(more))
    assert code == 0 and "hot@v3: 2 removed, 1 left" in out
    # deleting every version asks (and refuses without a terminal or --yes)
    code, _, err = _run(home, "rm", "hot")
    assert code == 2 and "without --yes" in " ".join(err.split())
    code, out, _ = _run(home, "ls")
    assert "hot" in out
    code, out, _ = _run(home, "rm", "hot", "--yes")
    assert code == 0
    code, out, _ = _run(home, "ls")
    assert "no lists" in out


def test_add_fails_on_bad_entries_unless_skip_bad(tmp_path: Path) -> None:
    home = tmp_path / "home"
    f = tmp_path / "md5.txt"
    f.write_text("0cc175b9c0f1b6a831c399e269772661\nxyz\n")
    code, _, err = _run(home, "add", "h", str(f), "--type", "md5")
    assert code == 2 and f"{f}:2:" in err
    code, out, _ = _run(home, "ls")
    assert "no lists" in out
    code, out, _ = _run(home, "add", "h", str(f), "--type", "md5", "--skip-bad")
    assert code == 0 and "1 malformed skipped" in out
    code, _, err = _run(home, "add", "h", str(f), "--type", "nope")
    assert code == 2 and "unknown list type" in err


def test_query_pdq_reference_vectors(tmp_path: Path) -> None:
    home = tmp_path / "home"
    code, _, _ = _run(home, "add", "hay", str(PDQ_DATA / "haystack.txt"), "--type", "pdq")
    assert code == 0
    code, out, _ = _run(home, "query", "hay", str(PDQ_DATA / "needles.txt"))
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 250
    assert max(int(r["distance"]) for r in rows) <= 24
    code, out, _ = _run(
        home,
        "query",
        "hay",
        str(PDQ_DATA / "needles.txt"),
        "--max-distance",
        "10",
        "--format",
        "json",
    )
    data = json.loads(out)
    assert data["list"] == "hay@v1" and 0 < len(data["matches"]) < 250


def test_query_urls_from_stdin(tmp_path: Path) -> None:
    home = tmp_path / "home"
    f = tmp_path / "u.txt"
    f.write_text("https://e.com/a.jpg\n")
    _run(home, "add", "u", str(f))
    code, out, err = _run(
        home,
        "query",
        "u",
        "-",
        "--format",
        "json",
        input="HTTPS://E.COM:443/a.jpg#x\nhttps://e.com/b.jpg\nnot a url\n",
    )
    assert code == 1  # one query line was malformed
    assert "-:3: skipped" in err
    m = json.loads(out)["matches"]
    assert [x["query"] for x in m] == ["HTTPS://E.COM:443/a.jpg#x"] and m[0]["distance"] == 0
