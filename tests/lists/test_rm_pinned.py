"""`lists rm` asks, and keeps the versions an audit pins (the store's audit registry)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from childguard.cli import app

POLICY = """version = "lists-only"
detectors = ["takedown_lists"]
[[rules]]
name = "takedown_list_match"
risk = "blocked"
when = "takedown_lists"
"""


def _cli(home: Path, *args: object) -> tuple[int, str]:
    res = CliRunner().invoke(
        app, [str(a) for a in args], env={"CHILDGUARD_HOME": str(home)}, catch_exceptions=False
    )
    return res.exit_code, res.output


def _setup(tmp_path: Path) -> tuple[Path, list[str]]:
    home = tmp_path / "home"
    data = tmp_path / "data"
    data.mkdir()
    rows = [f"https://example.org/p/{i}.jpg" for i in range(20)]
    (data / "part.jsonl").write_text(
        "".join(json.dumps({"url": u, "text": "a photo"}) + "\n" for u in rows)
    )
    (tmp_path / "policy.toml").write_text(POLICY)
    (tmp_path / "l1.txt").write_text(rows[3] + "\n")
    assert _cli(home, "lists", "add", "hot", tmp_path / "l1.txt")[0] == 0
    return home, rows


def _scan(tmp_path: Path, home: Path, out: Path, *extra: str) -> tuple[int, str]:
    data, policy = tmp_path / "data", tmp_path / "policy.toml"
    return _cli(
        home,
        "scan",
        data,
        "--out",
        out,
        "--policy",
        policy,
        "--workers",
        "1",
        "--no-progress",
        *extra,
    )


def _rm_on_a_terminal(home: Path, answer: str) -> subprocess.CompletedProcess:
    """`lists rm hot` with a real terminal on stdin, answering the prompt."""
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "childguard.cli", "lists", "rm", "hot"],
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "CHILDGUARD_HOME": str(home)},
        )
        os.write(master, answer.encode() + b"\n")
        out, err = proc.communicate(timeout=120)
    finally:
        os.close(master)
        os.close(slave)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_rm_asks_and_keeps_a_pinned_list(tmp_path: Path) -> None:
    home, rows = _setup(tmp_path)
    audit = tmp_path / "audit"
    assert _scan(tmp_path, home, audit)[0] == 0
    # asked on a terminal; "n" deletes nothing
    proc = _rm_on_a_terminal(home, "n")
    assert proc.returncode == 1 and "nothing deleted" in proc.stdout
    assert f"{audit} (hot@1)" in " ".join(proc.stdout.split())
    assert (home / "lists" / "hot" / "list.json").is_file()
    # without a terminal it refuses unless --yes
    code, msg = _cli(home, "lists", "rm", "hot")
    assert code == 2 and "without --yes" in msg
    code, msg = _cli(home, "lists", "rm", "hot", "--yes")
    assert code == 0 and "retired list hot; kept for 1 audit(s)" in msg
    code, msg = _cli(home, "lists", "ls")
    assert "retired" in msg
    # new scans leave it out; the pinned audit still re-runs at hot@1
    code, msg = _scan(tmp_path, home, tmp_path / "other")
    assert code == 0
    run = json.loads((tmp_path / "other" / "run.json").read_text())
    assert run["summary"]["risk_counts"]["blocked"] == 0
    code, msg = _scan(tmp_path, home, audit, "--lists", "hot@1")
    assert code == 0 and "already done" in msg
    # adding entries brings it back into use
    (tmp_path / "l2.txt").write_text(rows[4] + "\n")
    assert _cli(home, "lists", "add", "hot", tmp_path / "l2.txt")[0] == 0
    assert "retired" not in _cli(home, "lists", "ls")[1]


def test_rm_purge_names_the_audits_it_breaks_and_gone_audits_do_not_count(tmp_path: Path) -> None:
    home, _ = _setup(tmp_path)
    a, b = tmp_path / "a", tmp_path / "b"
    assert _scan(tmp_path, home, a)[0] == 0 and _scan(tmp_path, home, b)[0] == 0
    shutil.rmtree(b)  # an audit deleted since: it pins nothing any more
    code, msg = _cli(home, "lists", "rm", "hot", "--purge", "--yes")
    assert code == 0 and "audits broken" in msg and str(a) in msg and str(b) not in msg
    assert not (home / "lists" / "hot").exists()


def test_rm_of_an_unpinned_list_deletes_it(tmp_path: Path) -> None:
    home, _ = _setup(tmp_path)
    code, msg = _cli(home, "lists", "rm", "hot", "--yes")
    assert code == 0 and "removed list hot" in msg
    assert not (home / "lists" / "hot").exists()
