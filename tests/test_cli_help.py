"""Every command's --help (issue 12, item 5): no `<bool>` beside a flag, every option and
argument explained, and text in brackets (`[scan]`, `[default: ...]`) printed as written
instead of being taken for renderer markup."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from childguard.cli import app

_BRACKETED = re.compile(r"\[[^\[\]]*\]")


def _walk(cmd: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    # typer vendors its own click: groups are recognised by their commands, not by class
    out = [(path, cmd)]
    if getattr(cmd, "commands", None):
        for name, sub in sorted(cmd.commands.items()):
            out += _walk(sub, (*path, name))
    return out


COMMANDS = _walk(typer.main.get_command(app))


def test_the_walk_finds_every_command() -> None:
    paths = {" ".join(p) for p, _ in COMMANDS}
    assert {"scan", "report", "eval", "lists add", "users add", "users list"} <= paths
    assert len(paths) >= 23


def _squash(text: str) -> str:
    # help is re-wrapped to the terminal (and may break after a hyphen): compare without spaces
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize(
    "path, cmd", COMMANDS, ids=[" ".join(p) or "childguard" for p, _ in COMMANDS]
)
def test_help_is_complete_and_printed_as_written(path: tuple[str, ...], cmd: Any) -> None:
    res = CliRunner().invoke(app, [*path, "--help"], terminal_width=100)
    assert res.exit_code == 0, res.output
    assert "<bool>" not in res.output
    shown = _squash(res.output)
    texts = [cmd.help or ""]
    for param in cmd.params:
        if getattr(param, "hidden", False):
            continue
        name = param.opts[-1] if param.opts else param.name
        help_text = getattr(param, "help", None)
        assert help_text and help_text.strip(), f"{' '.join(path)} {name}: no help text"
        texts.append(help_text)
    for text in texts:
        for bracketed in _BRACKETED.findall(text):
            assert _squash(bracketed) in shown, f"{' '.join(path)}: {bracketed!r} not shown"
