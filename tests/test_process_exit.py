"""Commands leave through `exit_process`: the status is kept, Python's clean-up runs and
buffered output is flushed, though native teardown is skipped (see process_exit.py)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import atexit, sys
from childguard.process_exit import exit_process
atexit.register(lambda: print("atexit ran", flush=True))
sys.stdout.write("buffered, no newline")
exit_process(int(sys.argv[1]) if sys.argv[1].isdigit() else sys.argv[1])
"""


def _run(arg: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, arg], capture_output=True, text=True, timeout=60
    )


def test_status_output_and_atexit_survive() -> None:
    out = _run("3")
    assert out.returncode == 3
    assert out.stdout.startswith("buffered, no newline")
    assert "atexit ran" in out.stdout


def test_a_message_is_printed_and_is_status_1() -> None:
    out = _run("no such audit")
    assert out.returncode == 1
    assert "no such audit" in out.stderr


def test_cli_main_keeps_the_commands_status(tmp_path) -> None:
    code = "import sys; from childguard.cli import main; sys.argv[0] = 'childguard'; main()"
    ok = subprocess.run(
        [sys.executable, "-c", code, "lists", "--help"], capture_output=True, text=True, timeout=120
    )
    assert ok.returncode == 0 and "Usage" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-c", code, "report", str(tmp_path / "missing")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode not in (0, -6) and bad.stderr
