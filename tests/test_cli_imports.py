"""`import childguard.cli` stays light: every command's implementation is imported when the
command runs, so `--help` and a scan do not pay for the report, the web service or vision."""

from __future__ import annotations

import json
import subprocess
import sys

import typer
from typer.testing import CliRunner

from childguard.cli import app

# top-level commands and groups that must be there (any command added later is checked too)
COMMANDS = {
    "scan", "rematch", "demo", "release", "verify", "apply", "keygen", "report", "serve",
    "eval", "train", "clip-prompts", "clip-probe", "match", "index", "lists", "users",
}  # fmt: skip

# the command modules themselves are imported (their signatures are the options)
ALLOWED = {
    "childguard.report", "childguard.report.commands",
    "childguard.web", "childguard.web.commands",
    "childguard.vision", "childguard.vision.clip_cli", "childguard.vision.clip_defaults",
    "childguard.vision.probe_cli",
}  # fmt: skip
AREAS = ("childguard.report", "childguard.web", "childguard.vision")


def _modules_after(code: str) -> set[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _in_areas(modules: set[str]) -> set[str]:
    return {m for m in modules if m.startswith(AREAS)} - ALLOWED


def test_importing_the_cli_imports_no_command_implementation() -> None:
    mods = _modules_after("import childguard.cli")
    assert "childguard.cli" in mods
    assert _in_areas(mods) == set()
    # nor the data stack: `childguard --help` needs typer alone
    assert {"numpy", "polars", "pyarrow", "pydantic", "yaml"} & mods == set()


def test_help_lists_every_command() -> None:
    res = CliRunner().invoke(app, ["--help"], terminal_width=120)
    assert res.exit_code == 0, res.output
    listed = set()
    in_commands = False
    for line in res.output.splitlines():
        if line.strip() == "Commands:":
            in_commands = True
        elif in_commands and line.startswith("  ") and line.split():
            listed.add(line.split()[0])
    registered = set(typer.main.get_command(app).commands)
    assert registered >= COMMANDS
    assert listed == registered


def test_report_names_resolve_on_first_use() -> None:
    import childguard.report as report

    assert callable(report.build_report)
    assert issubclass(report.ReportError, Exception)
    assert report.ReportResult.__module__ == "childguard.report.build"
    try:
        report.no_such_name  # noqa: B018
    except AttributeError as e:
        assert "no_such_name" in str(e)
    else:
        raise AssertionError("an unknown name must raise AttributeError")
