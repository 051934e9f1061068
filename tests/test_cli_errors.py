"""Tracebacks are never the interface (issue 11, items 4 and 11): a bad --out is refused up
front with one clear line; an unexpected error prints one line (exit 1) unless
CHILDGUARD_DEBUG=1; a folder scanned with its own audit inside never reads the findings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from childguard.cli import app


def _data(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "part.csv").write_text(
        "url,caption\n" + "".join(f"https://x.example/{i}.jpg,lake {i}\n" for i in range(50))
    )
    return root


@pytest.mark.parametrize(
    "out, says",
    [
        ("afile", "is a file; give a folder"),
        ("afile/sub", "is a file, so the folder cannot be created"),
        ("/proc/childguard-audit", "/proc is not a place"),
    ],
)
def test_a_bad_out_is_refused_up_front(tmp_path: Path, out: str, says: str) -> None:
    (tmp_path / "afile").write_text("x")
    target = out if out.startswith("/") else str(tmp_path / out)
    res = CliRunner().invoke(app, ["scan", str(_data(tmp_path / "d")), "--out", target])
    text = " ".join(res.output.split())
    assert res.exit_code == 2 and says in text and "Traceback" not in text


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_out_is_refused(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    res = CliRunner().invoke(app, ["scan", str(_data(tmp_path / "d")), "--out", str(ro / "a")])
    assert res.exit_code == 2 and "not writable" in res.output


def test_an_audit_inside_its_input_folder_is_not_read_as_input(tmp_path: Path) -> None:
    data = _data(tmp_path / "d")
    for _ in range(2):  # the second run finds the first run's findings inside `data`
        res = CliRunner().invoke(
            app, ["scan", str(data), "--out", str(data / "audit"), "--no-progress", "--restart"]
        )
        assert res.exit_code == 0, res.output
        assert "1 shard(s) scanned" in " ".join(res.output.split())


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    code = (
        "import sys; from childguard import cli\n"
        "def boom(): raise RuntimeError('something broke\\nsecond line')\n"
        "cli.app.command('boom')(boom)\n"
        "sys.argv = ['childguard', 'boom']; cli.main()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )


def test_an_unexpected_error_is_one_line_unless_debugging() -> None:
    p = _run({"CHILDGUARD_DEBUG": "0"})
    assert p.returncode == 1
    assert "error: RuntimeError: something broke" in p.stderr
    assert "Traceback" not in p.stderr and "second line" not in p.stderr
    assert "CHILDGUARD_DEBUG=1" in p.stderr
    d = _run({"CHILDGUARD_DEBUG": "1"})
    assert d.returncode != 0 and "Traceback" in d.stderr


def test_an_existing_path_with_brackets_is_not_a_glob(tmp_path: Path) -> None:
    data = _data(tmp_path / "photos[2019]")
    res = CliRunner().invoke(
        app, ["scan", str(data), "--out", str(tmp_path / "a"), "--no-progress"]
    )
    assert res.exit_code == 0, res.output
    assert "1 shard(s) scanned" in " ".join(res.output.split())


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_named_csv_never_blocks_the_scan(tmp_path: Path) -> None:
    data = _data(tmp_path / "d")
    os.mkfifo(data / "pipe.csv")
    res = CliRunner().invoke(app, ["scan", str(data / "pipe.csv"), "--out", str(tmp_path / "a")])
    assert res.exit_code == 2 and "not a regular file" in " ".join(res.output.split())
    # inside a scanned folder it is no shard (and does not block either)
    res = CliRunner().invoke(
        app, ["scan", str(data), "--out", str(tmp_path / "b"), "--no-progress"]
    )
    assert res.exit_code == 0 and "1 shard(s) scanned" in " ".join(res.output.split())


@pytest.mark.skipif(os.geteuid() == 0, reason="root lists any folder")
def test_an_unreadable_subfolder_is_an_error_not_a_skip(tmp_path: Path) -> None:
    data = _data(tmp_path / "d")
    hidden = data / "more"
    _data(hidden)
    hidden.chmod(0o000)
    try:
        res = CliRunner().invoke(app, ["scan", str(data), "--out", str(tmp_path / "a")])
        assert res.exit_code == 2 and "cannot be read" in " ".join(res.output.split())
    finally:
        hidden.chmod(0o755)
